//! The one place that turns (path, query) into a typed request.
//!
//! Repository names contain slashes, so paths are matched from the right: the last one to three
//! segments name the endpoint and everything before them is the repository name. Choices made
//! here (documented for the harness):
//! - an unknown path under or outside `/v2/` is 404 `UNSUPPORTED` (not `NAME_UNKNOWN`: there is
//!   no repository to be unknown);
//! - a name outside the 1.1 grammar, or longer than 255 bytes (the spec's implementer note), is
//!   400 `NAME_INVALID`;
//! - upload session ids are UUIDs; anything else is an unknown session (404 `BLOB_UPLOAD_UNKNOWN`);
//! - a path segment starting with `_` names an extension (names cannot contain one): `_catalog`
//!   and `_oci/ext/discover` are known, any other is 404 `UNSUPPORTED` (see `catalog.rs`).

use crate::errors::{Code, RegistryError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/_oci/ext/discover` (name None) and `/v2/<name>/_oci/ext/discover`.
    Discover {
        name: Option<String>,
    },
    Manifest {
        name: String,
        reference: String,
    },
    Blob {
        name: String,
        digest: String,
    },
    /// `/v2/<name>/blobs/uploads/` (trailing slash optional).
    UploadStart {
        name: String,
    },
    Upload {
        name: String,
        id: String,
    },
    Tags {
        name: String,
    },
    Referrers {
        name: String,
        digest: String,
    },
}

impl Route {
    /// Methods each endpoint answers; anything else is 405 `UNSUPPORTED`.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Route::Base
            | Route::Catalog
            | Route::Discover { .. }
            | Route::Tags { .. }
            | Route::Referrers { .. } => "GET, HEAD",
            Route::Manifest { .. } => "GET, HEAD, PUT, DELETE",
            Route::Blob { .. } => "GET, HEAD, DELETE",
            Route::UploadStart { .. } => "POST",
            Route::Upload { .. } => "GET, PATCH, PUT, DELETE",
        }
    }

    /// The repository the request is about, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog | Route::Discover { name: None } => None,
            Route::Discover { name: Some(name) }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => Some(name),
        }
    }
}

pub const MAX_NAME_LEN: usize = 255;

fn unknown_extension(path: &str, ext: &str) -> RegistryError {
    RegistryError::not_found(Code::Unsupported, "unknown extension")
        .with_detail(serde_json::json!({ "path": path, "extension": ext }))
}

fn unknown_route(path: &str) -> RegistryError {
    RegistryError::not_found(Code::Unsupported, "no such endpoint")
        .with_detail(serde_json::json!({ "path": path }))
}

pub fn parse_path(path: &str) -> Result<Route, RegistryError> {
    let rest = match path.strip_prefix("/v2") {
        Some("") | Some("/") => return Ok(Route::Base),
        Some(r) => match r.strip_prefix('/') {
            Some(r) => r,
            None => return Err(unknown_route(path)),
        },
        None => return Err(unknown_route(path)),
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    // (number of trailing segments that name the endpoint, route builder)
    let tail = |k: usize| -> Option<String> {
        if n > k {
            Some(segs[..n - k].join("/"))
        } else {
            None
        }
    };
    let route = if n >= 3 && segs[n - 3..] == ["_oci", "ext", "discover"] {
        if n == 3 {
            return Ok(Route::Discover { name: None });
        }
        tail(3).map(|name| Route::Discover { name: Some(name) })
    } else if segs == ["_catalog"] {
        return Ok(Route::Catalog);
    } else if n >= 3 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let id = segs[n - 1];
        tail(3).map(|name| {
            if id.is_empty() {
                Route::UploadStart { name }
            } else {
                Route::Upload {
                    name,
                    id: id.to_string(),
                }
            }
        })
    } else if n >= 2 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        tail(2).map(|name| Route::UploadStart { name })
    } else if n >= 2 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        tail(2).map(|name| Route::Tags { name })
    } else if n >= 2 && !segs[n - 1].is_empty() {
        // Clients that percent-encode the `:` of a digest mean the same digest (Go's net/http,
        // hence distribution, decodes paths before routing). Names are never decoded.
        let last = percent_decode(segs[n - 1]);
        match segs[n - 2] {
            "manifests" => tail(2).map(|name| Route::Manifest {
                name,
                reference: last,
            }),
            "blobs" => tail(2).map(|name| Route::Blob { name, digest: last }),
            "referrers" => tail(2).map(|name| Route::Referrers { name, digest: last }),
            _ => None,
        }
    } else {
        None
    };
    // Nothing matched: a `_` segment (never part of a name; the last segment may be a tag such
    // as `_x`, so it only counts on its own) names an extension we do not have.
    let route = route.ok_or_else(|| {
        match segs[..n.saturating_sub(1).max(1)]
            .iter()
            .find(|s| s.starts_with('_'))
        {
            Some(ext) => unknown_extension(path, ext),
            None => unknown_route(path),
        }
    })?;
    let Some(name) = route.name() else {
        return Ok(route);
    };
    if !is_valid_name(name) {
        return Err(
            RegistryError::bad_request(Code::NameInvalid, "invalid repository name")
                .with_detail(serde_json::json!({ "name": name })),
        );
    }
    Ok(route)
}

/// Decodes `%XX` escapes; the input is returned unchanged if the result is not UTF-8.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_or_else(|_| s.to_string(), |d| d.into_owned())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(is_valid_component)
}

fn is_valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

/// Decoded query pairs, in order (`?tag=a&tag=b` keeps both).
pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    match query {
        Some(q) => form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        None => Vec::new(),
    }
}

pub fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub fn query_all<'a>(q: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> {
    q.iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Query keys whose values are logged as sent: the ones that say what a client asked for
/// (mounts, digests, paging, tags, token scopes). Every other value is replaced by `***`: the
/// token endpoint takes `password` (and clients send `refresh_token`) as query parameters, and an
/// unknown key may carry anything.
const LOGGED_QUERY_KEYS: &[&str] = &[
    "digest",
    "mount",
    "from",
    "n",
    "last",
    "tag",
    "artifactType",
    "scope",
    "service",
    "account",
    "client_id",
    "grant_type",
    "offline_token",
];

/// Longest query the request log shows (the rest is cut, marked with `…`).
const LOGGED_QUERY_MAX: usize = 1024;

/// The query string for the request log: re-encoded (so a value cannot forge a log line),
/// secrets and unknown values replaced by `***`, cut to a bounded length.
pub fn loggable_query(query: Option<&str>) -> Option<String> {
    let q = query.filter(|q| !q.is_empty())?;
    let mut out = String::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if !out.is_empty() {
            out.push('&');
        }
        let key: String = form_urlencoded::byte_serialize(k.as_bytes()).collect();
        out.push_str(&key);
        out.push('=');
        if LOGGED_QUERY_KEYS.contains(&k.as_ref()) {
            out.extend(form_urlencoded::byte_serialize(v.as_bytes()));
        } else {
            out.push_str("***");
        }
        if out.len() > LOGGED_QUERY_MAX {
            let mut end = LOGGED_QUERY_MAX;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push('…');
            break;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_query_keeps_what_a_client_asked_and_hides_secrets() {
        assert_eq!(loggable_query(None), None);
        assert_eq!(loggable_query(Some("")), None);
        assert_eq!(
            loggable_query(Some("mount=sha256%3Aab&from=a%2Fb")).unwrap(),
            "mount=sha256%3Aab&from=a%2Fb"
        );
        assert_eq!(
            loggable_query(Some("n=2&last=v1&digest=sha256:00")).unwrap(),
            "n=2&last=v1&digest=sha256%3A00"
        );
        let token = loggable_query(Some(
            "grant_type=password&account=alice&username=alice&password=hunter2&refresh_token=r.t.x&scope=repository:a:pull",
        ))
        .unwrap();
        assert_eq!(
            token,
            "grant_type=password&account=alice&username=***&password=***&refresh_token=***&scope=repository%3Aa%3Apull"
        );
    }

    #[test]
    fn logged_query_cannot_forge_a_log_line_and_is_bounded() {
        let q = loggable_query(Some("digest=x%0Afake%20line&tag=a%0D")).unwrap();
        assert!(!q.contains(['\n', '\r', ' ']), "{q}");
        let long = format!("last={}", "a".repeat(10_000));
        let q = loggable_query(Some(&long)).unwrap();
        assert!(q.len() <= LOGGED_QUERY_MAX + '…'.len_utf8() && q.ends_with('…'));
    }

    #[test]
    fn name_grammar_accepts_spec_separators() {
        for ok in [
            "a",
            "library/ubuntu",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a0/b1/c2.d_e__f-g",
            "x/blobs",
        ] {
            assert!(is_valid_name(ok), "{ok}");
        }
    }

    #[test]
    fn name_grammar_rejects_everything_else() {
        for bad in [
            "", "A", "a/", "/a", "a//b", "a..b", "a___b", "a._b", "a-_b", "-a", "a-", "a.", "_a",
            "a b", "a%2fb", "ü",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(!is_valid_name(&"a".repeat(256)));
        assert!(is_valid_name(&"a".repeat(255)));
    }

    #[test]
    fn tag_grammar() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_x"));
        assert!(is_valid_tag("V1.0-rc_1"));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(".INVALID_MANIFEST_NAME"));
        assert!(!is_valid_tag("-a"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag("a:b"));
    }

    #[test]
    fn paths_are_parsed_from_the_right() {
        assert_eq!(parse_path("/v2/").unwrap(), Route::Base);
        assert_eq!(parse_path("/v2").unwrap(), Route::Base);
        assert_eq!(
            parse_path("/v2/a/manifests/b/manifests/latest").unwrap(),
            Route::Manifest {
                name: "a/manifests/b".into(),
                reference: "latest".into()
            }
        );
        assert_eq!(
            parse_path("/v2/a/b/blobs/uploads/").unwrap(),
            Route::UploadStart { name: "a/b".into() }
        );
        assert_eq!(
            parse_path("/v2/a/b/blobs/uploads").unwrap(),
            Route::UploadStart { name: "a/b".into() }
        );
        assert_eq!(
            parse_path("/v2/a/blobs/uploads/xyz").unwrap(),
            Route::Upload {
                name: "a".into(),
                id: "xyz".into()
            }
        );
        assert_eq!(
            parse_path("/v2/a/tags/list").unwrap(),
            Route::Tags { name: "a".into() }
        );
        assert_eq!(
            parse_path("/v2/a/referrers/sha256:x").unwrap(),
            Route::Referrers {
                name: "a".into(),
                digest: "sha256:x".into()
            }
        );
        assert_eq!(
            parse_path("/v2/a/blobs/sha256:x").unwrap(),
            Route::Blob {
                name: "a".into(),
                digest: "sha256:x".into()
            }
        );
        assert_eq!(
            parse_path("/v2/_oci/ext/discover").unwrap(),
            Route::Discover { name: None }
        );
        assert_eq!(parse_path("/v2/_catalog").unwrap(), Route::Catalog);
    }

    #[test]
    fn unknown_extensions_are_404_unsupported() {
        for p in [
            "/v2/_foo",
            "/v2/_foo/bar/baz",
            "/v2/a/_foo/bar",
            "/v2/_catalog/x",
            "/v2/a/_catalog",
            "/v2/_oci/ext/other",
        ] {
            let e = parse_path(p).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code()),
                (404, Code::Unsupported),
                "{p}"
            );
        }
        assert_eq!(
            parse_path("/v2/a/manifests/_x").unwrap(),
            Route::Manifest {
                name: "a".into(),
                reference: "_x".into()
            }
        );
    }

    #[test]
    fn bad_names_and_unknown_paths_are_distinguished() {
        let e = parse_path("/v2/UPPER/tags/list").unwrap_err();
        assert_eq!(e.code(), Code::NameInvalid);
        assert_eq!(e.status, 400);
        let e = parse_path("/v2/a/unknown").unwrap_err();
        assert_eq!(e.status, 404);
        assert_eq!(parse_path("/other").unwrap_err().status, 404);
        assert_eq!(parse_path("/v2/manifests/x").unwrap_err().status, 404);
        assert_eq!(parse_path("/v2x").unwrap_err().status, 404);
        assert_eq!(parse_path("/v2/a/manifests/").unwrap_err().status, 404);
    }

    #[test]
    fn final_segment_is_percent_decoded_names_are_not() {
        assert_eq!(
            parse_path("/v2/a/manifests/sha256%3Aab").unwrap(),
            Route::Manifest {
                name: "a".into(),
                reference: "sha256:ab".into()
            }
        );
        assert_eq!(parse_path("/v2/a%2Fb/tags/list").unwrap_err().status, 400);
        assert_eq!(percent_decode("x%"), "x%");
        assert_eq!(percent_decode("x%4"), "x%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "%ff");
    }

    #[test]
    fn query_keeps_repeated_keys_and_decodes() {
        let q = parse_query(Some("tag=a&tag=b&last=x%2By&n=2"));
        assert_eq!(query_all(&q, "tag").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(query_get(&q, "last"), Some("x+y"));
    }
}
