//! Listing the tags of a repository, page by page, against the model's tags.

use super::{Model, ModelCtx};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::encode_query;
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{link_next, sorted_orders, Judge, Verdict};

pub(super) fn list_tags(ctx: &mut ModelCtx, m: &Model, r: usize, n: Option<u64>) -> Verdict {
    let name = ctx.names[r].clone();
    let want: Vec<String> = m.repos[r].tags.keys().cloned().collect();
    let class = if n.is_some() { "paginated" } else { "all" };
    let mut target = match n {
        Some(n) => format!("/v2/{name}/tags/list?n={n}"),
        None => format!("/v2/{name}/tags/list"),
    };
    let mut got = Vec::new();
    for page in 0..30 {
        let mut j = Judge::new(format!("model.list-tags.{class}"));
        let a = ctx.send(&mut j, Req::new("GET", target.clone()));
        // A repository without tags may be unknown to the registry (R-088 only covers existing
        // ones); one nothing was ever written to must be.
        let situation = if want.is_empty() && page == 0 {
            m.absent(r)
        } else {
            Situation::Exists
        };
        let resp = j.contract(&a, Endpoint::ListTags, situation, ctx.version, None)?;
        if resp.status == 404 {
            return Ok(());
        }
        let body = resp
            .json()
            .ok_or_else(|| j.fail("tags-body", "body is not JSON", &["R-091"]))?;
        let tags: Vec<String> = match body.get("tags") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            other => {
                return Err(j.fail(
                    "tags-body",
                    format!("`tags` is {other:?}, not a list"),
                    &["R-091"],
                ))
            }
        };
        if let Some(n) = n {
            if tags.len() as u64 > n {
                let v = j.fail(
                    "more-than-n",
                    format!("{} tags on a page for n={n}", tags.len()),
                    &["R-092"],
                );
                // Only n=0 has a page size every conforming registry must match.
                return Err(if n == 0 {
                    v.with_expect(serde_json::json!({"json": [{"pointer": "/tags", "length": 0}]}))
                } else {
                    v
                });
            }
            if n == 0 && resp.header("link").is_some() {
                return Err(j
                    .fail("n-zero-link", "Link header for n=0", &["R-094"])
                    .with_expect(serde_json::json!({"link": {"absent": true}})));
            }
        }
        let full = n.is_some_and(|n| n > 0 && tags.len() as u64 == n);
        let last = tags.last().cloned();
        got.extend(tags);
        match link_next(resp).map_err(|e| j.fail("link", e, &["R-093"]))? {
            Some(next) if n != Some(0) => target = ctx.client.resolve(&next),
            // A full page without `Link` may still have more after it: the spec lets a
            // registry leave it to the client to go on with `last`.
            None if full => {
                target = format!(
                    "/v2/{name}/tags/list?n={}&last={}",
                    n.unwrap_or(0),
                    encode_query(last.as_deref().unwrap_or(""))
                )
            }
            _ => break,
        }
    }
    if n == Some(0) {
        return if got.is_empty() {
            Ok(())
        } else {
            Err(Judge::new("model.list-tags.paginated").fail(
                "n-zero",
                format!("n=0 answered {got:?}"),
                &["R-094"],
            ))
        };
    }
    let (ascii, lexical) = sorted_orders(&want);
    if got != ascii && got != lexical {
        let mut j = Judge::new(format!("model.list-tags.{class}"));
        j.exchange = Some(ctx.client.transcript.len() - 1);
        let mut sorted_got = got.clone();
        sorted_got.sort();
        let kind = if sorted_got == ascii {
            "tags-order"
        } else {
            "tags-content"
        };
        return Err(j.fail(
            kind,
            format!("tag list (all pages) {got:?}, model says {ascii:?} (or {lexical:?})"),
            &["R-090", "R-092"],
        ));
    }
    Ok(())
}
