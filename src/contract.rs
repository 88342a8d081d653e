//! The response contract: what the spec says an answer looks like (error bodies: [`crate::errors`];
//! `Link` headers, tag order, the name and tag grammars), shared by the engine and the fuzzer's
//! oracle. [`responses`] holds the per-endpoint rules: statuses, error codes and headers by
//! situation and spec version; [`answers`] applies them to every answer a case receives.

pub mod answers;
pub mod responses;

use crate::http::Exchange;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
        .expect("name regex")
});
static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("tag regex"));

/// A repository name in the spec's grammar (`<name>` of `/v2/<name>/…`).
pub fn valid_name(s: &str) -> bool {
    NAME_RE.is_match(s)
}

/// A tag in the spec's grammar.
pub fn valid_tag(s: &str) -> bool {
    TAG_RE.is_match(s)
}

/// The `code` of every entry of a JSON error body; empty for any other body.
pub fn error_codes(ex: &Exchange) -> Vec<String> {
    ex.json()
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("code").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// "404 (MANIFEST_UNKNOWN)" or "connection broken…".
pub fn describe_answer(ex: &Exchange) -> String {
    match ex.status {
        None => format!("no answer ({})", ex.error.as_deref().unwrap_or("?")),
        Some(s) => {
            let codes = error_codes(ex);
            if codes.is_empty() {
                s.to_string()
            } else {
                format!("{s} ({})", codes.join(", "))
            }
        }
    }
}

/// Parses an RFC 8288 `Link: <target>; rel="next"` value and returns the target.
pub fn parse_next_link(v: &str) -> Result<String, String> {
    // A header may carry several comma-separated link-values; commas inside `<…>` belong to
    // the target. The first value with rel="next" wins; every value must be well formed.
    let mut next = None;
    let mut rest = v.trim();
    while !rest.is_empty() {
        let after = rest.strip_prefix('<').ok_or("does not start with `<`")?;
        let (target, tail) = after.split_once('>').ok_or("no closing `>`")?;
        let (params, remaining) = tail.split_once(',').unwrap_or((tail, ""));
        let mut rel_next = false;
        for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, val) = p
                .split_once('=')
                .ok_or_else(|| format!("parameter `{p}` has no value"))?;
            if k.trim().eq_ignore_ascii_case("rel") {
                let val = val.trim().trim_matches('"');
                rel_next = val
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"));
            }
        }
        if rel_next && next.is_none() {
            if target.is_empty() {
                return Err("empty target".into());
            }
            next = Some(target.to_string());
        }
        rest = remaining.trim();
    }
    next.ok_or_else(|| "no rel=\"next\"".into())
}

/// JSON pointer with `*` matching every element of an array (or value of an object).
pub fn select(doc: &Value, pointer: &str) -> Vec<Value> {
    if pointer.is_empty() {
        return vec![doc.clone()];
    }
    let mut cur = vec![doc.clone()];
    for seg in pointer.trim_start_matches('/').split('/') {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for v in cur {
            if seg == "*" {
                match v {
                    Value::Array(a) => next.extend(a),
                    Value::Object(o) => next.extend(o.into_iter().map(|x| x.1)),
                    _ => {}
                }
            } else {
                let child = match &v {
                    Value::Object(o) => o.get(&seg).cloned(),
                    Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i).cloned()),
                    _ => None,
                };
                next.extend(child);
            }
        }
        cur = next;
    }
    cur
}

/// The spec allows case-insensitive lexical order (1.1) or ASCII order (main).
pub fn is_sorted_ascii_or_lexical(v: &[&str]) -> bool {
    let ascii = v.windows(2).all(|w| w[0] <= w[1]);
    let lexical = v
        .windows(2)
        .all(|w| w[0].to_lowercase() <= w[1].to_lowercase());
    ascii || lexical
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_headers() {
        assert_eq!(
            parse_next_link("</v2/a/tags/list?n=2&last=b>; rel=\"next\"").unwrap(),
            "/v2/a/tags/list?n=2&last=b"
        );
        assert!(parse_next_link("</x>; rel=\"prev\"").is_err());
        assert!(parse_next_link("/x; rel=next").is_err());
        assert_eq!(
            parse_next_link("</p>; rel=\"prev\", </n?a,b>; rel=next").unwrap(),
            "/n?a,b"
        );
    }

    #[test]
    fn pointers_with_wildcards() {
        let d = json!({"manifests": [{"digest": "a"}, {"digest": "b"}]});
        assert_eq!(
            select(&d, "/manifests/*/digest"),
            vec![json!("a"), json!("b")]
        );
        assert_eq!(select(&d, "/manifests/1/digest"), vec![json!("b")]);
        assert!(select(&d, "/nope").is_empty());
    }

    #[test]
    fn sort_orders() {
        assert!(is_sorted_ascii_or_lexical(&["A", "B", "a", "b"]));
        assert!(is_sorted_ascii_or_lexical(&["a", "B", "c"]));
        assert!(!is_sorted_ascii_or_lexical(&["b", "a"]));
    }
}
