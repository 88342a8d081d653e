//! GET `/v2/<name>/referrers/<digest>[?artifactType=]`.
//!
//! Entries are the repository's manifests whose `subject` is the digest, ordered by digest (so
//! pages are stable). An unknown repository or subject gives an empty index, never 404 (unless
//! the API is switched off, then every request is 404 `UNSUPPORTED`). Several `artifactType`
//! parameters select the union. With a page size configured, a page that is not the last carries
//! `Link: </v2/<name>/referrers/<digest>?last=<digest>[&artifactType=…]>; rel="next"`.

use crate::blobs::parse_digest;
use crate::errors::{Code, RegistryError};
use crate::manifests::OCI_INDEX;
use crate::registry::Registry;
use crate::respond;
use crate::routes::{query_all, query_get};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// The `annotations` of a stored manifest, read back from its bytes (the index does not keep
/// them: they can be large).
async fn annotations_of(
    reg: &Registry,
    d: &crate::digest::Digest,
) -> Result<Option<serde_json::Map<String, Value>>, RegistryError> {
    #[derive(serde::Deserialize)]
    struct Annotated {
        annotations: Option<serde_json::Map<String, Value>>,
    }
    let Some(bytes) = reg.manifest_bytes(d).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Annotated>(&bytes)
        .ok()
        .and_then(|a| a.annotations))
}

pub async fn list(
    reg: &Registry,
    name: &str,
    digest: &str,
    query: &[(String, String)],
) -> Result<Response, RegistryError> {
    if !reg.config.referrers || reg.config.has_defect(crate::config::Defect::Referrers404) {
        return Err(RegistryError::not_found(
            Code::Unsupported,
            "the referrers API is disabled",
        ));
    }
    let subject = parse_digest(digest)?;
    let filters: Vec<&str> = query_all(query, "artifactType")
        .filter(|f| !f.is_empty())
        .collect();
    let last = query_get(query, "last").and_then(|l| crate::digest::Digest::parse(l).ok());
    let page = reg.config.referrers_page_size.unwrap_or(usize::MAX);
    let (entries, more) = reg.with_repo(name, |repo| {
        let Some(repo) = repo else {
            return (Vec::new(), false);
        };
        let mut it = repo
            .manifests
            .iter()
            .filter(|(d, _)| last.as_ref().is_none_or(|l| *d > l))
            .filter(|(_, m)| m.subject.as_ref() == Some(&subject))
            .filter(|(_, m)| {
                filters.is_empty()
                    || m.artifact_type
                        .as_deref()
                        .is_some_and(|a| filters.contains(&a))
            });
        let out: Vec<_> = it
            .by_ref()
            .take(page)
            .map(|(d, m)| {
                (
                    d.clone(),
                    m.media_type.clone(),
                    m.size,
                    m.artifact_type.clone(),
                )
            })
            .collect();
        let more = it.next().is_some();
        (out, more)
    });
    let mut h = vec![("content-type", OCI_INDEX.to_string())];
    if !filters.is_empty() {
        h.push(("oci-filters-applied", "artifactType".to_string()));
    }
    if more {
        if let Some((d, ..)) = entries.last() {
            let mut link = format!("/v2/{name}/referrers/{subject}?last={d}");
            for f in &filters {
                link.push_str("&artifactType=");
                link.extend(form_urlencoded::byte_serialize(f.as_bytes()));
            }
            h.push(("link", format!("<{link}>; rel=\"next\"")));
        }
    }
    let mut manifests = Vec::with_capacity(entries.len());
    for (d, media_type, size, artifact_type) in &entries {
        let mut e = serde_json::Map::new();
        e.insert("mediaType".into(), media_type.clone().into());
        e.insert("digest".into(), d.to_string().into());
        e.insert("size".into(), (*size).into());
        if let Some(a) = artifact_type {
            e.insert("artifactType".into(), a.clone().into());
        }
        if let Some(a) = annotations_of(reg, d).await? {
            e.insert("annotations".into(), Value::Object(a));
        }
        manifests.push(Value::Object(e));
    }
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    })
    .to_string();
    Ok(respond(StatusCode::OK, h, Body::from(body)))
}
