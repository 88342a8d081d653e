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
    // Descriptors are stored whole when a manifest with a subject is pushed (`index.rs`).
    let (entries, more) = reg
        .referrers_page(
            name,
            &subject,
            last.as_ref(),
            reg.config.referrers_page_size,
            |e| {
                filters.is_empty()
                    || e["artifactType"]
                        .as_str()
                        .is_some_and(|a| filters.contains(&a))
            },
        )
        .await?;
    let mut h = vec![("content-type", OCI_INDEX.to_string())];
    if !filters.is_empty() {
        h.push(("oci-filters-applied", "artifactType".to_string()));
    }
    if more {
        if let Some((d, _)) = entries.last() {
            let mut link = format!("/v2/{name}/referrers/{subject}?last={d}");
            for f in &filters {
                link.push_str("&artifactType=");
                link.extend(form_urlencoded::byte_serialize(f.as_bytes()));
            }
            h.push(("link", format!("<{link}>; rel=\"next\"")));
        }
    }
    let manifests: Vec<Value> = entries.into_iter().map(|(_, e)| e).collect();
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    })
    .to_string();
    Ok(respond(StatusCode::OK, h, Body::from(body)))
}
