//! GET `/v2/<name>/tags/list[?n=&last=]`.
//!
//! Tags come in ASCII (byte) order, which main allows besides lexical order. `last` need not
//! exist: the list starts strictly after it. `n=0` gives an empty list and no `Link`. A page that
//! stops before the end (because of `n` or the configured page cap) carries
//! `Link: </v2/<name>/tags/list?n=<n>&last=<tag>>; rel="next"`. An `n` that is not a
//! non-negative integer is 400 `UNSUPPORTED` (the spec has no better code).

use crate::errors::{Code, RegistryError};
use crate::registry::{name_unknown, Registry};
use crate::respond;
use crate::routes::query_get;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use std::ops::Bound;

pub fn list(
    reg: &Registry,
    name: &str,
    query: &[(String, String)],
) -> Result<Response, RegistryError> {
    let n = match query_get(query, "n") {
        None | Some("") => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            RegistryError::bad_request(Code::Unsupported, "n must be a non-negative integer")
                .with_detail(serde_json::json!({ "n": v }))
        })?),
    };
    let last = query_get(query, "last").filter(|l| !l.is_empty());
    let limit = match (n, reg.config.tag_page_size) {
        (Some(n), Some(k)) => Some(n.min(k)),
        (Some(n), None) => Some(n),
        (None, k) => k,
    };
    let (tags, more) = reg.with_repo(name, |repo| {
        let repo = repo.ok_or_else(|| name_unknown(name))?;
        let start = match last {
            Some(l) => Bound::Excluded(l.to_string()),
            None => Bound::Unbounded,
        };
        let mut it = repo
            .tags
            .range::<String, _>((start, Bound::Unbounded))
            .map(|(t, _)| t.clone());
        let take = limit.unwrap_or(usize::MAX);
        let tags: Vec<String> = it.by_ref().take(take).collect();
        let more = take > 0 && it.next().is_some();
        Ok::<_, RegistryError>((tags, more))
    })?;
    let mut h = vec![("content-type", "application/json".to_string())];
    if more {
        if let (Some(l), Some(lim)) = (tags.last(), limit) {
            h.push((
                "link",
                format!("</v2/{name}/tags/list?n={lim}&last={l}>; rel=\"next\""),
            ));
        }
    }
    let body = serde_json::json!({ "name": name, "tags": tags }).to_string();
    Ok(respond(StatusCode::OK, h, Body::from(body)))
}
