//! Tag listing probes: `n` and `last` pagination over the fixture's tags, in repositories that
//! exist and that do not.

use super::{
    allow_long, name_class, resolve_target, ProbeCtx, Repo, Target, FIXTURE_TAGS, LONG_NAME,
};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::{encode_path, encode_query, valid_tag};
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{link_next, sorted_orders, Judge, Verdict};

pub(super) fn list_tags(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    n: Option<&str>,
    last: Option<&Target>,
) -> Verdict {
    let name = ctx.name(repo);
    let last = last.map(|t| resolve_target(ctx.fixture, t));
    let mut q = Vec::new();
    if let Some(n) = n {
        q.push(format!("n={}", encode_query(n)));
    }
    if let Some(l) = &last {
        q.push(format!("last={}", encode_query(l)));
    }
    let path = format!(
        "/v2/{}/tags/list{}{}",
        encode_path(&name),
        if q.is_empty() { "" } else { "?" },
        q.join("&")
    );
    let n_val: Option<Result<u64, ()>> = n.map(|s| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().map_err(|_| ())
        } else {
            Err(())
        }
    });
    let last_ok = last.as_deref().is_none_or(valid_tag);
    let fixture = matches!(repo, Repo::Fixture);
    let (class, allowed): (&str, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc, vec![400, 404])
    } else if !fixture && (matches!(n_val, Some(Err(_))) || !last_ok) {
        ("unknown-repo-bad-query", vec![400, 404])
    } else if !fixture {
        ("unknown-repo", vec![404])
    } else if matches!(n_val, Some(Err(_))) {
        ("bad-n", vec![200, 400])
    } else if !last_ok {
        ("bad-last", vec![200, 400])
    } else if n.is_some() && last.is_some() {
        ("n-last", vec![200])
    } else if n.is_some() {
        ("n", vec![200])
    } else if last.is_some() {
        ("last", vec![200])
    } else {
        ("all", vec![200])
    };
    let allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    let mut j = Judge::new(format!("list-tags.{class}"));
    let a = ctx.send(&mut j, Req::new("GET", path));
    let r = j.check(&a, &allowed, &[], &["R-088", "R-082", "R-091", "R-092"])?;
    if class == "unknown-repo" {
        j.contract(
            &a,
            Endpoint::ListTags,
            Situation::NoRepository,
            ctx.version,
            None,
        )?;
    }
    if r.status != 200 {
        return Ok(());
    }
    let body = r
        .json()
        .ok_or_else(|| j.fail("tags-body", "200 body is not JSON", &["R-091"]))?;
    let tags: Vec<String> = match body.get("tags") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| j.fail("tags-body", "`tags` holds non-strings", &["R-091"]))?,
        other => {
            return Err(j.fail(
                "tags-body",
                format!("`tags` is {other:?}, not a list"),
                &["R-091"],
            ))
        }
    };
    if body.get("name").and_then(|v| v.as_str()) != Some(name.as_str()) {
        return Err(j.fail(
            "tags-name",
            format!("`name` is {:?}, expected {name:?}", body.get("name")),
            &["R-091"],
        ));
    }
    let link = link_next(r).map_err(|e| j.fail("link", e, &["R-093"]))?;
    if !fixture {
        return if tags.is_empty() {
            Ok(())
        } else {
            Err(j.fail(
                "unknown-repo-tags",
                format!("tags {tags:?} in a repository never pushed to"),
                &["R-082"],
            ))
        };
    }
    let all: Vec<String> = FIXTURE_TAGS.iter().map(|s| s.to_string()).collect();
    if let Some(extra) = tags.iter().find(|t| !all.contains(t)) {
        return Err(j.fail(
            "tags-extra",
            format!("tag {extra:?} was never pushed"),
            &["R-091"],
        ));
    }
    let n = match n_val {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Ok(()),
        None => None,
    };
    if n == Some(0) {
        if !tags.is_empty() || link.is_some() {
            return Err(j
                .fail("n-zero", format!("n=0 answered {tags:?}, Link {link:?}"), &["R-094"])
                .with_expect(serde_json::json!({"json": [{"pointer": "/tags", "length": 0}], "link": {"absent": true}})));
        }
        return Ok(());
    }
    if let Some(n) = n {
        if tags.len() as u64 > n {
            // The fixture has more than n tags, so a conforming page holds exactly n.
            return Err(j
                .fail(
                    "more-than-n",
                    format!("{} tags returned for n={n}", tags.len()),
                    &["R-092"],
                )
                .with_expect(serde_json::json!({"json": [{"pointer": "/tags", "length": n}]})));
        }
    }
    if let (true, Some(l)) = (last_ok, &last) {
        // Everything returned must come strictly after `last` in at least one accepted order.
        let l_low = l.to_lowercase();
        if let Some(t) = tags.iter().find(|t| {
            t.as_str() <= l.as_str()
                && (t.to_lowercase(), t.as_str()) <= (l_low.clone(), l.as_str())
        }) {
            return Err(j
                .fail(
                    "last-ignored",
                    format!("tag {t:?} returned with last={l:?}: {tags:?}"),
                    &["R-096"],
                )
                .with_expect(
                    serde_json::json!({"json": [{"pointer": "/tags", "not_contains": t}]}),
                ));
        }
    }
    let (ascii, lexical) = sorted_orders(&tags);
    if tags != ascii && tags != lexical {
        return Err(j
            .fail(
                "tags-order",
                format!("tags {tags:?} are neither in ASCII nor in lexical order"),
                &["R-090"],
            )
            .with_expect(serde_json::json!({"json": [{"pointer": "/tags", "sorted": true}]})));
    }
    if !last_ok {
        return Ok(());
    }
    // The expected page in each accepted order; the answer must match one of them, except that
    // a shorter page is fine when a Link to the rest is given.
    let (sa, sl) = sorted_orders(&all);
    let page = |order: &[String], lexi: bool| -> Vec<String> {
        let after: Vec<String> = match &last {
            Some(l) => order
                .iter()
                .filter(|t| {
                    if lexi {
                        (t.to_lowercase(), t.as_str()) > (l.to_lowercase(), l.as_str())
                    } else {
                        t.as_str() > l.as_str()
                    }
                })
                .cloned()
                .collect(),
            None => order.to_vec(),
        };
        after
            .into_iter()
            .take(n.unwrap_or(u64::MAX).min(usize::MAX as u64) as usize)
            .collect()
    };
    let (pa, pl) = (page(&sa, false), page(&sl, true));
    let ok = |p: &Vec<String>| {
        tags == *p || (link.is_some() && p.starts_with(&tags) && !tags.is_empty())
    };
    if !ok(&pa) && !ok(&pl) {
        let kind = if last.is_some() && tags.iter().any(|t| !pa.contains(t) && !pl.contains(t)) {
            "last-ignored"
        } else {
            "page"
        };
        return Err(j.fail(kind, format!("got {tags:?}, expected {pa:?} (ASCII) or {pl:?} (lexical) for n={n:?} last={last:?}"), &["R-092", "R-096"]));
    }
    Ok(())
}
