//! GET `/v2/<name>/tags/list[?n=&last=]`, and the pagination rules every listing shares.
//!
//! Tags come in ASCII (byte) order, which main allows besides lexical order. `last` need not
//! exist: the list starts strictly after it. `n=0` gives an empty list and no `Link`. A page that
//! stops before the end (because of `n` or the configured page cap) carries
//! `Link: </v2/<name>/tags/list?n=<n>&last=<tag>>; rel="next"`. An `n` that is not a
//! non-negative integer is 400 `UNSUPPORTED` (the spec has no better code). The repository
//! catalog (`catalog.rs`) pages with the same [`Page`].

use crate::config::Defect;
use crate::errors::{Code, RegistryError};
use crate::registry::{name_unknown, Registry};
use crate::respond;
use crate::routes::query_get;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

/// `n` and `last` of a listing request, with the server's page cap applied.
pub struct Page<'q> {
    /// Most entries in this answer (None: all).
    pub limit: Option<usize>,
    /// Entries start strictly after this one.
    pub last: Option<&'q str>,
    /// The client's `n`.
    pub n: Option<usize>,
}

impl<'q> Page<'q> {
    pub fn parse(query: &'q [(String, String)], cap: Option<usize>) -> Result<Self, RegistryError> {
        let n = match query_get(query, "n") {
            None | Some("") => None,
            Some(v) => Some(v.parse::<usize>().map_err(|_| {
                RegistryError::bad_request(Code::Unsupported, "n must be a non-negative integer")
                    .with_detail(serde_json::json!({ "n": v }))
            })?),
        };
        let limit = match (n, cap) {
            (Some(n), Some(k)) => Some(n.min(k)),
            (Some(n), None) => Some(n),
            (None, k) => k,
        };
        let last = query_get(query, "last").filter(|l| !l.is_empty());
        Ok(Page { limit, last, n })
    }

    /// The JSON answer, with `Link: <path?n=..&last=..>; rel="next"` when more entries follow.
    /// Without `links`, a page holding exactly the client's `n` goes without `Link` (the spec's
    /// MAY: the client continues with `last`); a page cut shorter by the server's cap keeps it,
    /// since the client could not tell it from the end.
    pub fn respond(
        &self,
        path: &str,
        page: &[String],
        more: bool,
        body: String,
        links: bool,
    ) -> Response {
        let mut h = vec![("content-type", "application/json".to_string())];
        let cut_by_n = self.n.is_some() && self.limit == self.n;
        if more && (links || !cut_by_n) {
            // The client's own `n` travels on, so the next page is sized as it asked.
            if let (Some(l), Some(n)) = (page.last(), self.n.or(self.limit)) {
                h.push(("link", format!("<{path}?n={n}&last={l}>; rel=\"next\"")));
            }
        }
        respond(StatusCode::OK, h, Body::from(body))
    }
}

pub async fn list(
    reg: &Registry,
    name: &str,
    query: &[(String, String)],
) -> Result<Response, RegistryError> {
    let page = Page::parse(query, reg.config.tag_page_size)?;
    if !reg.repo_exists(name).await? {
        return Err(name_unknown(name));
    }
    let (mut tags, mut more) = if reg.config.lexical_tags {
        reg.tags_page_lexical(name, page.last, page.limit).await?
    } else {
        reg.tags_page(name, page.last, page.limit).await?
    };
    if more && reg.config.has_defect(Defect::ShortPages) {
        tags.pop();
        more = false;
    }
    let body = serde_json::json!({ "name": name, "tags": tags }).to_string();
    Ok(page.respond(
        &format!("/v2/{name}/tags/list"),
        &tags,
        more,
        body,
        reg.config.page_links,
    ))
}
