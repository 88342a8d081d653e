//! Registry extensions: `GET /v2/_catalog` (repository listing) and `_oci/ext/discover`.
//!
//! - `/v2/_catalog[?n=&last=]` answers `{"repositories":[...]}` in ASCII (byte) order, paged
//!   exactly like the tags list ([`Page`]: `n`, `last`, `Link: </v2/_catalog?n=N&last=R>;
//!   rel="next"`, `n=0` empty without `Link`, a bad `n` 400 `UNSUPPORTED`). It lists the
//!   repositories that exist: a repository exists while it has a tag, a manifest or a blob link
//!   (its `catalog/<name>` record goes with its last manifest or blob link, see `index.rs`).
//! - With the `catalog` switch off, `/v2/_catalog` is 404 `UNSUPPORTED` (any method): the
//!   extension is not there at all, as on a registry that never had it. 404 rather than 405
//!   because the resource, not a method on it, is missing; both are "unsupported" to clients.
//! - `_oci/ext/discover` lists the extensions this server offers, in the shape of the spec's
//!   extensions/_oci.md: registry level `_oci` and (when on) `_catalog`; repository level `_oci`
//!   only (the catalog is not a repository-scoped extension).
//! - Unknown extensions (`/v2/_foo/...`, `/v2/<name>/_foo/...`) are 404 `UNSUPPORTED`, the code
//!   _oci.md names; `EXTENSION_UNKNOWN` is outside the 14 codes of the spec's table, which is all
//!   this server ever sends (see `routes.rs`).

use crate::errors::RegistryError;
use crate::registry::Registry;
use crate::tags::Page;
use axum::response::Response;

const OCI_EXT_URL: &str =
    "https://github.com/opencontainers/distribution-spec/blob/main/extensions/_oci.md";
const CATALOG_URL: &str = "https://distribution.github.io/distribution/spec/api/#catalog";

pub fn disabled() -> RegistryError {
    RegistryError::not_found(
        crate::errors::Code::Unsupported,
        "the _catalog extension is disabled on this registry",
    )
}

/// `may_pull` filters the listing to what the caller may pull (always true without auth).
pub async fn list(
    reg: &Registry,
    query: &[(String, String)],
    may_pull: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Response, RegistryError> {
    if !reg.config.catalog {
        return Err(disabled());
    }
    let page = Page::parse(query, None)?;
    // Filtered before paging, so pages and `Link` stay consistent for that caller.
    let (names, more) = reg.catalog_page(page.last, page.limit, may_pull).await?;
    let body = serde_json::json!({ "repositories": names }).to_string();
    Ok(page.respond("/v2/_catalog", &names, more, body, reg.config.page_links))
}

/// The `_oci/ext/discover` body for the registry (`repository` None) or one repository.
pub fn discover(reg: &Registry, repository: Option<&str>) -> String {
    let mut ext = vec![serde_json::json!({
        "name": "_oci",
        "url": OCI_EXT_URL,
        "description": "Extension discovery",
        "endpoints": ["_oci/ext/discover"],
    })];
    if repository.is_none() && reg.config.catalog {
        ext.push(serde_json::json!({
            "name": "_catalog",
            "url": CATALOG_URL,
            "description": "Lists the registry's repositories (paginated with n and last)",
            "endpoints": ["_catalog"],
        }));
    }
    serde_json::json!({ "extensions": ext }).to_string()
}
