//! GET/HEAD/PUT/DELETE `/v2/<name>/manifests/<tag-or-digest>`.
//!
//! Choices (documented for the harness):
//! - A reference containing `:` is a digest: malformed or unsupported -> 400 `DIGEST_INVALID` on
//!   every method. Anything else must be a tag: an invalid tag is 400 `MANIFEST_INVALID` on PUT,
//!   and 404 `MANIFEST_UNKNOWN` on GET/HEAD/DELETE (no such tag can exist; the Ginkgo suite pulls
//!   `.INVALID_MANIFEST_NAME` and demands 404).
//! - GET/HEAD in a repository that does not exist: 404 `MANIFEST_UNKNOWN`; DELETE: 404
//!   `NAME_UNKNOWN`.
//! - Too large: 413 `MANIFEST_INVALID`. Too many `?tag=`: 414 `UNSUPPORTED`.
//! - `?tag=` applies to pushes by digest only (end-7b); on a push by tag it is ignored.
//! - `Accept` is not used to refuse anything: the stored manifest is always served as stored.
//! - `Content-Type` parameters are ignored and media types compare case-insensitively.

use crate::blobs::parse_digest;
use crate::digest::{Algorithm, Digest};
use crate::errors::{Code, ErrorEntry, RegistryError};
use crate::index::ManifestMeta;
use crate::registry::Registry;
use crate::respond;
use crate::routes::{is_valid_tag, query_all};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::{Map, Value};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub enum Reference {
    Tag(String),
    Digest(Digest),
    /// Not a tag, not a digest: only a PUT reports it as an error of its own.
    InvalidTag(String),
}

pub fn parse_reference(r: &str) -> Result<Reference, RegistryError> {
    if r.contains(':') {
        Ok(Reference::Digest(parse_digest(r)?))
    } else if is_valid_tag(r) {
        Ok(Reference::Tag(r.to_string()))
    } else {
        Ok(Reference::InvalidTag(r.to_string()))
    }
}

fn manifest_unknown(reference: &str) -> RegistryError {
    RegistryError::not_found(Code::ManifestUnknown, "manifest unknown to registry")
        .with_detail(serde_json::json!({ "reference": reference }))
}

fn invalid(message: impl Into<String>) -> RegistryError {
    RegistryError::bad_request(Code::ManifestInvalid, message)
}

pub async fn get(
    reg: &Registry,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response, RegistryError> {
    let r = parse_reference(reference)?;
    if reg.config.name_unknown && !reg.repo_exists(name).await? {
        return Err(crate::registry::name_unknown(name));
    }
    let d = match r {
        Reference::Digest(d) => Some(d),
        Reference::Tag(t) => reg.tag_target(name, &t).await?,
        Reference::InvalidTag(_) => None,
    };
    let d = d.ok_or_else(|| manifest_unknown(reference))?;
    let meta = reg
        .manifest_meta(name, &d)
        .await?
        .ok_or_else(|| manifest_unknown(reference))?;
    let (media_type, size) = (meta.media_type, meta.size);
    let h = vec![
        ("content-type", media_type),
        ("content-length", size.to_string()),
        ("docker-content-digest", d.to_string()),
        ("etag", format!("\"{d}\"")),
    ];
    if head {
        return Ok(respond(StatusCode::OK, h, Body::empty()));
    }
    let bytes = reg
        .manifest_bytes(&d)
        .await?
        .ok_or_else(|| manifest_unknown(reference))?;
    Ok(respond(StatusCode::OK, h, Body::from(bytes)))
}

/// Reads a manifest body of at most `limit` bytes, within the server's budget for buffered
/// manifests (the permit returned holds the bytes' share until dropped) and its time limit.
async fn read_limited(
    reg: &Registry,
    body: Body,
    limit: u64,
    hint: Option<u64>,
) -> Result<(Bytes, tokio::sync::OwnedSemaphorePermit), RegistryError> {
    let too_large = || {
        RegistryError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ManifestInvalid,
            "manifest too large",
        )
        .with_detail(serde_json::json!({ "limit": limit }))
    };
    let reserve = hint.unwrap_or(0).min(limit);
    let mut held = reg.reserve_manifest_memory(reserve)?;
    let mut buf = BytesMut::with_capacity(reserve as usize);
    let mut s = body.into_data_stream();
    let deadline = reg.config.limits.manifest_body_timeout;
    let read = tokio::time::timeout(deadline, async {
        while let Some(frame) = s.next().await {
            let chunk = frame.map_err(|_| {
                RegistryError::bad_request(Code::SizeInvalid, "request body ended early")
            })?;
            let need = buf.len() as u64 + chunk.len() as u64;
            if need > limit {
                return Err(too_large());
            }
            if need > held.num_permits() as u64 {
                held.merge(reg.reserve_manifest_memory(need - held.num_permits() as u64)?);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    })
    .await;
    match read {
        Ok(Ok(())) => Ok((buf.freeze(), held)),
        Ok(Err(e)) => {
            drop(buf);
            drop(held);
            // Let the client finish sending so it can read the answer.
            crate::drain(Body::from_stream(s)).await;
            Err(e)
        }
        Err(_) => Err(RegistryError::new(
            StatusCode::REQUEST_TIMEOUT,
            Code::SizeInvalid,
            format!("manifest body not received within {} s", deadline.as_secs()),
        )),
    }
}

/// Something a manifest points at that must exist in the repository.
enum Needed {
    Blob(String),
    Manifest(String),
}

/// What validation learnt from a manifest.
struct Parsed {
    media_type: String,
    needed: Vec<Needed>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<Map<String, Value>>,
}

/// A descriptor's digest (as sent, grammar-checked) and media type.
fn descriptor(v: &Value, field: &str) -> Result<(String, String), RegistryError> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid(format!("{field} must be a descriptor object")))?;
    let media_type = match o.get("mediaType") {
        Some(Value::String(s)) => s.clone(),
        None => String::new(),
        Some(_) => return Err(invalid(format!("{field}.mediaType must be a string"))),
    };
    let digest = match o.get("digest") {
        Some(Value::String(s)) if crate::digest::is_grammatical(s) => s.clone(),
        _ => return Err(invalid(format!("{field}.digest must be a valid digest"))),
    };
    match o.get("size") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        _ => {
            return Err(invalid(format!(
                "{field}.size must be a non-negative integer"
            )))
        }
    }
    Ok((digest, media_type))
}

/// Layers that registries need not hold (image-spec non-distributable, Docker foreign layers).
fn non_distributable(media_type: &str) -> bool {
    media_type.contains(".nondistributable.") || media_type.contains(".foreign.")
}

/// RFC 6838 `type/subtype` (restricted names, at most 127 characters each). Stored media types
/// are served back as `Content-Type`, so anything else is refused rather than stored.
pub fn is_media_type(s: &str) -> bool {
    let part = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|&c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'!' | b'#' | b'$' | b'&' | b'^' | b'_' | b'.' | b'+' | b'-'
                    )
            })
    };
    matches!(s.split_once('/'), Some((t, st)) if part(t) && part(st))
}

fn media_type_essence(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_string()
}

fn validate(obj: &Map<String, Value>, content_type: Option<&str>) -> Result<Parsed, RegistryError> {
    let field_type = match obj.get("mediaType") {
        Some(Value::String(s)) => Some(s.as_str()),
        None => None,
        Some(_) => return Err(invalid("mediaType must be a string")),
    };
    let ct = content_type
        .map(media_type_essence)
        .filter(|c| !c.is_empty());
    if let (Some(f), Some(c)) = (field_type, ct.as_deref()) {
        if !f.eq_ignore_ascii_case(c) {
            return Err(
                invalid("mediaType does not match Content-Type").with_detail(serde_json::json!({
                    "mediaType": f, "contentType": c
                })),
            );
        }
    }
    // Generic types say nothing about the manifest: infer from its shape instead.
    let ct = ct.filter(|c| {
        !c.eq_ignore_ascii_case("application/json")
            && !c.eq_ignore_ascii_case("application/octet-stream")
    });
    let media_type = match (field_type, ct) {
        (Some(f), _) => f.to_string(),
        (None, Some(c)) => c,
        (None, None) if obj.contains_key("manifests") => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    if !is_media_type(&media_type) {
        return Err(invalid("mediaType is not a valid media type"));
    }
    let lower = media_type.to_ascii_lowercase();
    let is_image = lower == OCI_MANIFEST || lower == DOCKER_MANIFEST;
    let is_index = lower == OCI_INDEX || lower == DOCKER_LIST;
    let mut needed = Vec::new();
    let mut config_type = None;
    if is_image || is_index {
        match obj.get("schemaVersion") {
            Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
            _ => return Err(invalid("schemaVersion must be 2")),
        }
    }
    if is_image {
        let config = obj
            .get("config")
            .ok_or_else(|| invalid("config is required"))?;
        let (d, mt) = descriptor(config, "config")?;
        if !is_media_type(&mt) {
            return Err(invalid("config.mediaType must be a media type"));
        }
        config_type = Some(mt);
        needed.push(Needed::Blob(d));
        let layers = obj
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("layers must be an array"))?;
        for (i, l) in layers.iter().enumerate() {
            let (d, mt) = descriptor(l, &format!("layers[{i}]"))?;
            if !non_distributable(&mt) {
                needed.push(Needed::Blob(d));
            }
        }
    }
    if is_index {
        let manifests = obj
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("manifests must be an array"))?;
        for (i, m) in manifests.iter().enumerate() {
            let (d, _) = descriptor(m, &format!("manifests[{i}]"))?;
            needed.push(Needed::Manifest(d));
        }
    }
    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(s) => {
            let (d, _) = descriptor(s, "subject")?;
            // A subject with an algorithm we cannot serve still gets stored; it just cannot
            // be listed by the referrers API (whose digests we must parse).
            Digest::parse(&d).ok()
        }
    };
    let artifact_type = match obj.get("artifactType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_media_type(s) => Some(s.clone()),
        Some(_) => return Err(invalid("artifactType must be a media type")),
    };
    let annotations = match obj.get("annotations") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => Some(a.clone()),
        Some(_) => return Err(invalid("annotations must be an object")),
    };
    // Referrers descriptor rule: the manifest's artifactType, else an image manifest's config
    // media type, else none.
    let artifact_type = artifact_type.or(if is_image { config_type } else { None });
    Ok(Parsed {
        media_type,
        needed,
        subject,
        artifact_type,
        annotations,
    })
}

async fn missing_refs(
    reg: &Registry,
    name: &str,
    needed: &[Needed],
) -> Result<Vec<ErrorEntry>, RegistryError> {
    let mut out = Vec::new();
    for n in needed {
        let (d, is_blob) = match n {
            Needed::Blob(d) => (d, true),
            Needed::Manifest(d) => (d, false),
        };
        let present = match Digest::parse(d) {
            Err(_) => false,
            Ok(pd) if is_blob => reg.blob_linked(name, &pd).await?,
            Ok(pd) => reg
                .storage
                .get_record(&crate::index::keys::manifest(name, &pd))
                .await?
                .is_some(),
        };
        if !present && !out.iter().any(|e: &ErrorEntry| e.detail["digest"] == *d) {
            out.push(ErrorEntry {
                code: Code::ManifestBlobUnknown,
                message: if is_blob {
                    "manifest references a blob unknown to the repository".into()
                } else {
                    "manifest references a manifest unknown to the repository".into()
                },
                detail: serde_json::json!({ "digest": d }),
            });
        }
    }
    Ok(out)
}

fn blob_unknown_error(entries: Vec<ErrorEntry>) -> RegistryError {
    RegistryError {
        status: StatusCode::BAD_REQUEST,
        errors: entries,
        headers: Vec::new(),
    }
}

pub async fn put(
    reg: &Registry,
    name: &str,
    reference: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Response, RegistryError> {
    if reg.config.read_only {
        return Err(RegistryError::unsupported("registry is read-only"));
    }
    let (tag, want) = match parse_reference(reference)? {
        Reference::Tag(t) => (Some(t), None),
        Reference::Digest(d) => (None, Some(d)),
        Reference::InvalidTag(t) => {
            return Err(invalid("reference is neither a valid tag nor a digest")
                .with_detail(serde_json::json!({ "reference": t })))
        }
    };
    let mut extra_tags: Vec<String> = Vec::new();
    if reg.config.tag_param && want.is_some() {
        for t in query_all(query, "tag") {
            if !is_valid_tag(t) {
                return Err(
                    invalid("invalid tag parameter").with_detail(serde_json::json!({ "tag": t }))
                );
            }
            if !extra_tags.iter().any(|x| x == t) {
                extra_tags.push(t.to_string());
            }
        }
        if extra_tags.len() > reg.config.max_tags_per_push {
            return Err(RegistryError::new(
                StatusCode::URI_TOO_LONG,
                Code::Unsupported,
                "too many tags in one request",
            )
            .with_detail(serde_json::json!({ "max": reg.config.max_tags_per_push })));
        }
    }
    let limit = reg.config.max_manifest_size;
    let content_length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(cl) = content_length {
        if cl > limit {
            return Err(RegistryError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ManifestInvalid,
                "manifest too large",
            )
            .with_detail(serde_json::json!({ "limit": limit })));
        }
    }
    let (bytes, _budget) =
        read_limited(reg, body.take().unwrap_or_default(), limit, content_length).await?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("manifest must be a JSON object"))?;
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let parsed = validate(obj, content_type)?;
    let alg = want
        .as_ref()
        .map(|d| d.algorithm())
        .unwrap_or(Algorithm::Sha256);
    let d = alg.digest_of(&bytes);
    if let Some(w) = &want {
        if *w != d {
            return Err(RegistryError::bad_request(
                Code::DigestInvalid,
                "manifest digest does not match the reference",
            )
            .with_detail(
                serde_json::json!({ "expected": w.to_string(), "computed": d.to_string() }),
            ));
        }
    }
    let _reachable = reg.reachability_guard().await;
    let held = reg.repo_lock(name).lock().await;
    // Checked under the repository's lock, so a concurrent delete cannot slip in between.
    if !reg.config.sparse_manifests {
        let missing = missing_refs(reg, name, &parsed.needed).await?;
        if !missing.is_empty() {
            return Err(blob_unknown_error(missing));
        }
    }
    reg.storage.put_small(&d, bytes.clone()).await?;
    let meta = ManifestMeta {
        media_type: parsed.media_type,
        size: bytes.len() as u64,
        subject: parsed.subject.clone(),
        artifact_type: parsed.artifact_type,
    };
    // The referrers API answers from this descriptor, without reading the manifest.
    let referrer = meta
        .subject
        .as_ref()
        .map(|_| crate::index::referrer_descriptor(&d, &meta, parsed.annotations));
    let tags: Vec<String> = tag.into_iter().chain(extra_tags.iter().cloned()).collect();
    reg.index_manifest(name, &d, &meta, referrer, &tags).await?;
    drop(held);
    let mut h = vec![
        ("location", format!("/v2/{name}/manifests/{d}")),
        ("docker-content-digest", d.to_string()),
        ("content-length", "0".into()),
    ];
    if reg.config.referrers {
        if let Some(s) = &parsed.subject {
            h.push(("oci-subject", s.to_string()));
        }
    }
    for t in extra_tags {
        h.push(("oci-tag", t));
    }
    Ok(respond(StatusCode::CREATED, h, Body::empty()))
}

pub async fn delete(
    reg: &Registry,
    name: &str,
    reference: &str,
) -> Result<Response, RegistryError> {
    if reg.config.read_only {
        return Err(RegistryError::unsupported("registry is read-only"));
    }
    match parse_reference(reference) {
        Ok(Reference::Digest(d)) => {
            if !reg.config.delete_manifests {
                return Err(RegistryError::disabled(
                    reg.config.disabled_status_400,
                    "manifest deletion is disabled",
                ));
            }
            reg.delete_manifest(name, &d, || manifest_unknown(reference))
                .await?;
        }
        Ok(r @ (Reference::Tag(_) | Reference::InvalidTag(_))) => {
            if !reg.config.delete_tags {
                return Err(RegistryError::disabled(
                    reg.config.disabled_status_400,
                    "tag deletion is disabled",
                ));
            }
            match r {
                Reference::Tag(t) => {
                    reg.delete_tag(name, &t, || manifest_unknown(reference))
                        .await?
                }
                // No such tag can exist; its text never becomes a record key.
                _ if !reg.repo_exists(name).await? => {
                    return Err(crate::registry::name_unknown(name))
                }
                _ => return Err(manifest_unknown(reference)),
            }
        }
        Err(e) => {
            if !reg.config.delete_manifests {
                return Err(RegistryError::disabled(
                    reg.config.disabled_status_400,
                    "manifest deletion is disabled",
                ));
            }
            return Err(e);
        }
    }
    Ok(respond(
        StatusCode::ACCEPTED,
        vec![("content-length", "0".into())],
        Body::empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn image_manifest_needs_config_and_layers_but_not_foreign_layers() {
        let m = obj(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 2},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": D, "size": 2},
                {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar", "digest": "sha256:00", "size": 2}
            ]
        }));
        let p = validate(&m, Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.needed.len(), 2);
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn media_type_must_match_content_type_ignoring_parameters() {
        let m =
            obj(serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}));
        assert!(validate(
            &m,
            Some("application/vnd.oci.image.index.v1+json; charset=utf-8")
        )
        .is_ok());
        assert!(validate(&m, Some(OCI_MANIFEST)).is_err());
    }

    #[test]
    fn missing_media_type_falls_back_to_content_type_then_shape() {
        let m = obj(serde_json::json!({"schemaVersion": 2, "manifests": []}));
        assert_eq!(validate(&m, None).unwrap().media_type, OCI_INDEX);
        assert_eq!(
            validate(&m, Some(DOCKER_LIST)).unwrap().media_type,
            DOCKER_LIST
        );
    }

    #[test]
    fn media_types_follow_rfc6838_restricted_names() {
        for ok in [
            OCI_MANIFEST,
            DOCKER_LIST,
            "application/vnd.example+json",
            "a/b",
        ] {
            assert!(is_media_type(ok), "{ok}");
        }
        for bad in [
            "",
            "application",
            "/json",
            "application/",
            "a/b/c",
            "a b/c",
            "a/b;x=y",
            "a/\u{7f}",
        ] {
            assert!(!is_media_type(bad), "{bad}");
        }
        assert!(!is_media_type(&format!("a/{}", "x".repeat(128))));
    }

    #[test]
    fn bad_descriptors_are_manifest_invalid() {
        for bad in [
            serde_json::json!({"schemaVersion": 2, "config": {"mediaType": "x", "digest": "nope", "size": 1}, "layers": []}),
            serde_json::json!({"schemaVersion": 2, "config": {"mediaType": "x", "digest": D, "size": -1}, "layers": []}),
            serde_json::json!({"schemaVersion": 2, "config": {"mediaType": "x", "digest": D, "size": 1}}),
            serde_json::json!({"schemaVersion": 1, "config": {"mediaType": "x", "digest": D, "size": 1}, "layers": []}),
            serde_json::json!({"schemaVersion": 2, "manifests": {}}),
        ] {
            let e = validate(&obj(bad.clone()), None)
                .err()
                .unwrap_or_else(|| panic!("{bad}"));
            assert_eq!(e.code(), Code::ManifestInvalid);
        }
    }
}
