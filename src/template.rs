//! `${...}` templates in case files.
//!
//! Grammar of what sits between `${` and `}`:
//! `repo` | `repo2` | `base` | `random_digest` | `CAPTURED` | `FIXTURE.FIELD` |
//! `last(FIXTURE)` | `range(FIXTURE, START, END)` where START/END are integers or `end` |
//! `chunks(A, B)`: the byte range `A*C-(B*C-1)` of chunks A to B (exclusive), C being the case's
//! chunk size (the registry's advertised `OCI-Chunk-Min-Length`, at least 1024).
//! FIELD is one of digest, encoded, algorithm, size, media_type, artifact_type.

use std::collections::{HashMap, HashSet};

pub const FIXTURE_FIELDS: [&str; 6] = [
    "digest",
    "encoded",
    "algorithm",
    "size",
    "media_type",
    "artifact_type",
];
const BUILTINS: [&str; 4] = ["repo", "repo2", "base", "random_digest"];

/// What a template can see while a case runs.
pub trait Scope {
    fn builtin(&self, name: &str) -> Option<String>;
    fn fixture_field(&self, fixture: &str, field: &str) -> Option<String>;
    fn fixture_size(&self, fixture: &str) -> Option<u64>;
    fn captured(&self) -> &HashMap<String, String>;
    /// The case's chunk size (see `chunks(A, B)`).
    fn chunk_size(&self) -> u64;
}

#[derive(Debug, PartialEq)]
enum Expr<'a> {
    Name(&'a str),
    Field(&'a str, &'a str),
    Last(&'a str),
    Range(&'a str, Bound, Bound),
    Chunks(u64, u64),
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Bound {
    At(u64),
    End,
}

fn parse(expr: &str) -> Result<Expr<'_>, String> {
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix("last(").and_then(|r| r.strip_suffix(')')) {
        return Ok(Expr::Last(inner.trim()));
    }
    if let Some(inner) = e.strip_prefix("chunks(").and_then(|r| r.strip_suffix(')')) {
        let parts: Vec<u64> = inner
            .split(',')
            .map(|p| p.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`${{{e}}}`: chunks takes two integers"))?;
        return match parts[..] {
            [a, b] if a < b => Ok(Expr::Chunks(a, b)),
            _ => Err(format!(
                "`${{{e}}}`: chunks takes (first, end) with first < end"
            )),
        };
    }
    if let Some(inner) = e.strip_prefix("range(").and_then(|r| r.strip_suffix(')')) {
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(format!("`${{{e}}}`: range takes (fixture, start, end)"));
        }
        let bound = |s: &str| -> Result<Bound, String> {
            if s == "end" {
                Ok(Bound::End)
            } else {
                s.parse()
                    .map(Bound::At)
                    .map_err(|_| format!("`${{{e}}}`: `{s}` is not an integer or `end`"))
            }
        };
        return Ok(Expr::Range(parts[0], bound(parts[1])?, bound(parts[2])?));
    }
    if let Some((f, field)) = e.split_once('.') {
        if !FIXTURE_FIELDS.contains(&field) {
            return Err(format!(
                "`${{{e}}}`: unknown field `{field}` (one of {})",
                FIXTURE_FIELDS.join(", ")
            ));
        }
        return Ok(Expr::Field(f, field));
    }
    if e.is_empty()
        || !e
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!("`${{{e}}}` is not a valid template"));
    }
    Ok(Expr::Name(e))
}

/// Splits `s` into literal text and `${...}` expressions.
fn pieces(s: &str) -> Result<Vec<Result<&str, &str>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push(Ok(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{s}`"))?;
        out.push(Err(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push(Ok(rest));
    Ok(out)
}

/// Validation-time check: syntax, and every name exists when the step runs.
pub fn check(s: &str, fixtures: &HashSet<&str>, captured: &HashSet<String>) -> Result<(), String> {
    for p in pieces(s)? {
        let Err(expr) = p else { continue };
        let fixture_known = |f: &str| {
            if fixtures.contains(f) {
                Ok(())
            } else {
                Err(format!("`${{{expr}}}` names unknown fixture `{f}`"))
            }
        };
        match parse(expr)? {
            Expr::Name(n) => {
                if !BUILTINS.contains(&n) && !captured.contains(n) {
                    return Err(format!(
                        "`${{{expr}}}`: `{n}` is neither a built-in ({}) nor captured by an earlier step",
                        BUILTINS.join(", ")
                    ));
                }
            }
            Expr::Field(f, _) | Expr::Last(f) | Expr::Range(f, _, _) => fixture_known(f)?,
            Expr::Chunks(..) => {}
        }
    }
    Ok(())
}

/// Expands every `${...}` in `s`.
pub fn expand(s: &str, scope: &dyn Scope) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for p in pieces(s)? {
        match p {
            Ok(lit) => out.push_str(lit),
            Err(expr) => out.push_str(&eval(expr, scope)?),
        }
    }
    Ok(out)
}

fn eval(expr: &str, scope: &dyn Scope) -> Result<String, String> {
    let size = |f: &str| {
        scope
            .fixture_size(f)
            .ok_or_else(|| format!("unknown fixture `{f}`"))
    };
    match parse(expr)? {
        Expr::Name(n) => scope
            .builtin(n)
            .or_else(|| scope.captured().get(n).cloned())
            .ok_or_else(|| format!("`${{{n}}}` has no value (was it captured?)")),
        Expr::Field(f, field) => scope
            .fixture_field(f, field)
            .ok_or_else(|| format!("`${{{expr}}}`: fixture `{f}` has no {field}")),
        Expr::Last(f) => Ok(size(f)?.saturating_sub(1).to_string()),
        Expr::Range(f, a, b) => {
            let last = size(f)?.saturating_sub(1);
            let v = |x: Bound| match x {
                Bound::At(n) => n,
                Bound::End => last,
            };
            Ok(format!("{}-{}", v(a), v(b)))
        }
        Expr::Chunks(a, b) => {
            let c = scope.chunk_size();
            Ok(format!("{}-{}", a * c, b * c - 1))
        }
    }
}

/// Expands templates in every string of a JSON value.
fn is_numeric_expression(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return false;
    };
    if inner.contains(['$', '{', '}']) {
        return false;
    }
    let inner = inner.trim();
    inner.ends_with(".size") || (inner.starts_with("last(") && inner.ends_with(')'))
}

pub fn expand_json(v: &serde_json::Value, scope: &dyn Scope) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        // A string that is exactly one numeric expression (`${x.size}`, `${last(x)}`) becomes a
        // JSON number: descriptors and documents hold sizes as numbers, not strings.
        Value::String(s) if is_numeric_expression(s) => {
            let text = expand(s, scope)?;
            match text.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => Value::String(text),
            }
        }
        Value::String(s) => Value::String(expand(s, scope)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| expand_json(x, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), expand_json(x, scope)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_expressions_are_whole_size_or_last_templates() {
        assert!(is_numeric_expression("${blob.size}"));
        assert!(is_numeric_expression("${last(blob)}"));
        assert!(!is_numeric_expression("${blob.digest}"));
        assert!(!is_numeric_expression("size ${blob.size}"));
        assert!(!is_numeric_expression("${a.size}-${b.size}"));
    }

    struct S(HashMap<String, String>);
    impl Scope for S {
        fn builtin(&self, name: &str) -> Option<String> {
            (name == "repo").then(|| "ns/r".to_string())
        }
        fn fixture_field(&self, f: &str, field: &str) -> Option<String> {
            (f == "blob" && field == "digest").then(|| "sha256:ab".to_string())
        }
        fn fixture_size(&self, f: &str) -> Option<u64> {
            (f == "blob").then_some(100)
        }
        fn captured(&self) -> &HashMap<String, String> {
            &self.0
        }
        fn chunk_size(&self) -> u64 {
            1024
        }
    }

    #[test]
    fn expands_builtins_fields_functions_and_captures() {
        let s = S(HashMap::from([("loc".to_string(), "/up/1".to_string())]));
        assert_eq!(
            expand("/v2/${repo}/blobs/${blob.digest}", &s).unwrap(),
            "/v2/ns/r/blobs/sha256:ab"
        );
        assert_eq!(expand("${range(blob, 10, end)}", &s).unwrap(), "10-99");
        assert_eq!(expand("${last(blob)}", &s).unwrap(), "99");
        assert_eq!(expand("0-${chunks(1, 3)}", &s).unwrap(), "0-1024-3071");
        assert!(expand("${chunks(3, 1)}", &s).is_err());
        assert_eq!(expand("${loc}?x", &s).unwrap(), "/up/1?x");
        assert!(expand("${nope}", &s).is_err());
        assert!(expand("${repo", &s).is_err());
    }

    #[test]
    fn check_rejects_unknown_names_and_fields() {
        let fx = HashSet::from(["blob"]);
        let cap = HashSet::from(["loc".to_string()]);
        assert!(check("${blob.digest}${loc}${repo2}", &fx, &cap).is_ok());
        assert!(check("${img.digest}", &fx, &cap).is_err());
        assert!(check("${blob.colour}", &fx, &cap).is_err());
        assert!(check("${later}", &fx, &cap).is_err());
        assert!(check("${range(blob, x, 2)}", &fx, &cap).is_err());
    }
}
