//! GET/HEAD/DELETE `/v2/<name>/blobs/<digest>`.
//!
//! Range requests follow RFC 9110 §14 for a single range (`a-b`, `a-`, `-n`). Several ranges in
//! one header are answered with the whole blob (200): a server may ignore `Range`, and multipart
//! bodies buy clients nothing here. A malformed `Range` is ignored the same way. An unsatisfiable
//! or reversed (`bytes=500-0`) range is 416 with `Content-Range: bytes */<size>` and a `SIZE_INVALID` JSON body.

use crate::config::Defect;
use crate::digest::Digest;
use crate::errors::{Code, RegistryError};
use crate::registry::Registry;
use crate::respond;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    Full,
    /// Inclusive bounds, already clamped to the blob.
    Partial(u64, u64),
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(h) = header else {
        return RangeRequest::Full;
    };
    let h = h.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| h[6..].trim())
    else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial(size - n.min(size), size - 1),
        },
        (start, "") => match num(start) {
            None => RangeRequest::Full,
            Some(s) if s >= size => RangeRequest::Unsatisfiable,
            Some(s) => RangeRequest::Partial(s, size - 1),
        },
        (start, end) => match (num(start), num(end)) {
            (Some(s), Some(e)) if s <= e => {
                if s >= size {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Partial(s, e.min(size - 1))
                }
            }
            // `bytes=500-0` is well formed but selects nothing: 416, as the official suite
            // expects (a server may also ignore it: `ignore_unsatisfiable_range`).
            (Some(_), Some(_)) => RangeRequest::Unsatisfiable,
            _ => RangeRequest::Full,
        },
    }
}

pub(crate) fn parse_digest(s: &str) -> Result<Digest, RegistryError> {
    Digest::parse(s).map_err(|e| {
        RegistryError::bad_request(Code::DigestInvalid, e.to_string())
            .with_detail(serde_json::json!({ "digest": s }))
    })
}

fn blob_unknown(d: &Digest) -> RegistryError {
    RegistryError::not_found(Code::BlobUnknown, "blob unknown to registry")
        .with_detail(serde_json::json!({ "digest": d.to_string() }))
}

pub async fn get(
    reg: &Registry,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, RegistryError> {
    let d = parse_digest(digest)?;
    if reg.config.name_unknown && !reg.repo_exists(name).await? {
        return Err(crate::registry::name_unknown(name));
    }
    if !reg.blob_linked(name, &d).await? {
        return Err(blob_unknown(&d));
    }
    let size = reg
        .storage
        .blob_len(&d)
        .await?
        .ok_or_else(|| blob_unknown(&d))?;
    let range = headers
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| !reg.config.has_defect(Defect::IgnoreRange));
    let range = match parse_range(range, size) {
        RangeRequest::Unsatisfiable if reg.config.ignore_unsatisfiable_range => RangeRequest::Full,
        r => r,
    };
    let (status, start, len, content_range) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, size, None),
        RangeRequest::Partial(s, e) => (
            StatusCode::PARTIAL_CONTENT,
            s,
            e - s + 1,
            Some(format!("bytes {s}-{e}/{size}")),
        ),
        RangeRequest::Unsatisfiable => {
            return Err(RegistryError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Code::SizeInvalid,
                "requested range not satisfiable",
            )
            .with_detail(serde_json::json!({ "size": size }))
            .with_header("content-range", format!("bytes */{size}"))
            .with_header("docker-content-digest", d.to_string()));
        }
    };
    let mut h = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("content-length", len.to_string()),
        ("docker-content-digest", d.to_string()),
        ("accept-ranges", "bytes".to_string()),
        ("etag", format!("\"{d}\"")),
    ];
    if let Some(cr) = content_range {
        h.push(("content-range", cr));
    }
    let body = if head || len == 0 {
        Body::empty()
    } else {
        let stream = reg
            .storage
            .read_blob(&d, start, len)
            .await?
            .ok_or_else(|| blob_unknown(&d))?;
        Body::from_stream(stream)
    };
    Ok(respond(status, h, body))
}

pub async fn delete(reg: &Registry, name: &str, digest: &str) -> Result<Response, RegistryError> {
    if reg.config.read_only || !reg.config.delete_blobs {
        return Err(RegistryError::disabled(
            reg.config.disabled_status_400 && !reg.config.read_only,
            "blob deletion is disabled",
        ));
    }
    let d = parse_digest(digest)?;
    reg.unlink_blob(name, &d, || blob_unknown(&d)).await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        vec![("content-length", "0".into())],
        Body::empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn single_ranges_follow_rfc9110() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 100), Partial(10, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Partial(90, 99));
        assert_eq!(parse_range(Some("bytes=-1000"), 100), Partial(0, 99));
        assert_eq!(parse_range(Some("bytes=50-1000"), 100), Partial(50, 99));
        assert_eq!(parse_range(Some("BYTES=1-1"), 100), Partial(1, 1));
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=100-200"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-5"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=500-0"), 1000), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=9-1"), 100), Unsatisfiable);
    }

    #[test]
    fn malformed_or_multiple_ranges_are_ignored() {
        for h in [
            "items=0-1",
            "bytes=a-b",
            "bytes=0-1,5-6",
            "bytes=",
            "bytes=+1-2",
            "0-1",
        ] {
            assert_eq!(parse_range(Some(h), 100), Full, "{h}");
        }
        assert_eq!(parse_range(None, 100), Full);
    }
}
