//! `GET /v2/_catalog`, `_oci/ext/discover` and unknown extensions.

use crate::common::*;
use oci_reference_server::{Config, StorageConfig};
use reqwest::Method;
use serde_json::{json, Value};

async fn catalog(t: &T, q: &str) -> (Vec<String>, Option<String>) {
    let r = t.get(&format!("/v2/_catalog{q}")).await;
    assert_eq!(r.status(), 200, "{q}");
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let link = header(&r, "link");
    let v: Value = r.json().await.unwrap();
    let repos = v["repositories"]
        .as_array()
        .expect("repositories array")
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    (repos, link)
}

#[tokio::test]
async fn empty_registry_lists_no_repositories() {
    let t = start().await;
    let r = t.get("/v2/_catalog").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "link").is_none());
    assert_eq!(r.json().await.unwrap(), json!({ "repositories": [] }));
}

#[tokio::test]
async fn repositories_come_in_lexical_order() {
    let t = start().await;
    for name in ["b", "a/z", "a", "a-b", "a/b/c", "0x", "c.d"] {
        t.push_blob(name, b"x").await;
    }
    let (all, link) = catalog(&t, "").await;
    assert_eq!(all, ["0x", "a", "a-b", "a/b/c", "a/z", "b", "c.d"]);
    assert!(link.is_none());
    // HEAD carries GET's headers and no body.
    let h = t.req(Method::HEAD, "/v2/_catalog").await;
    assert_eq!(h.status(), 200);
    assert!(h.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn link_chain_reaches_the_end() {
    let t = start().await;
    let names: Vec<String> = (0..7).map(|i| format!("r{i:02}/x")).collect();
    for n in &names {
        t.push_image(n, "v1", json!({})).await;
    }
    let (page, link) = catalog(&t, "?n=3").await;
    assert_eq!(page, names[..3]);
    assert_eq!(
        link.as_deref(),
        Some("</v2/_catalog?n=3&last=r02/x>; rel=\"next\"")
    );
    let mut seen = Vec::new();
    let mut next = Some("/v2/_catalog?n=3".to_string());
    let mut pages = 0;
    for _ in 0..10 {
        let Some(path) = next.take() else { break };
        let r = t.get(&path).await;
        assert_eq!(r.status(), 200);
        let link = header(&r, "link");
        let v: Value = r.json().await.unwrap();
        let page = v["repositories"].as_array().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|x| x.as_str().unwrap().to_string()));
        next = link.map(|l| {
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        pages += 1;
    }
    assert_eq!(seen, names);
    assert_eq!(pages, 3);
    // A page that ends exactly at the last repository has no Link.
    let (page, link) = catalog(&t, "?n=7").await;
    assert_eq!(page.len(), 7);
    assert!(link.is_none());
}

#[tokio::test]
async fn last_starts_strictly_after_it_even_if_absent() {
    let t = start().await;
    for name in ["a", "b", "c", "d"] {
        t.push_blob(name, b"x").await;
    }
    assert_eq!(catalog(&t, "?last=b").await.0, ["c", "d"]);
    assert_eq!(catalog(&t, "?last=bb").await.0, ["c", "d"]);
    assert_eq!(catalog(&t, "?n=1&last=a").await.0, ["b"]);
    assert!(catalog(&t, "?last=d").await.0.is_empty());
    assert!(catalog(&t, "?last=d").await.1.is_none());
}

#[tokio::test]
async fn n_zero_is_empty_without_link() {
    let t = start().await;
    t.push_blob("a", b"x").await;
    let (page, link) = catalog(&t, "?n=0").await;
    assert!(page.is_empty());
    assert!(link.is_none());
}

#[tokio::test]
async fn invalid_n_is_400_unsupported() {
    let t = start().await;
    t.push_blob("a", b"x").await;
    for q in ["?n=-1", "?n=abc", "?n=1.5"] {
        expect_error(t.get(&format!("/v2/_catalog{q}")).await, 400, "UNSUPPORTED").await;
    }
}

#[tokio::test]
async fn switched_off_catalog_is_404_unsupported_and_not_discovered() {
    let mut c = Config::memory();
    c.catalog = false;
    let t = start_with(c).await;
    t.push_blob("a", b"x").await;
    expect_error(t.get("/v2/_catalog").await, 404, "UNSUPPORTED").await;
    expect_error(t.get("/v2/_catalog?n=1").await, 404, "UNSUPPORTED").await;
    expect_error(
        t.req(Method::POST, "/v2/_catalog").await,
        404,
        "UNSUPPORTED",
    )
    .await;
    let v = t.get("/v2/_oci/ext/discover").await.json().await.unwrap();
    let names: Vec<&str> = v["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["_oci"]);
}

#[tokio::test]
async fn other_methods_on_the_catalog_are_405() {
    let t = start().await;
    let r = t.req(Method::DELETE, "/v2/_catalog").await;
    assert_eq!(header(&r, "allow").as_deref(), Some("GET, HEAD"));
    expect_error(r, 405, "UNSUPPORTED").await;
}

fn check_extensions(v: &Value) -> Vec<String> {
    let ext = v["extensions"].as_array().expect("extensions array");
    for e in ext {
        assert!(e["name"].as_str().unwrap().starts_with('_'), "{e}");
        assert!(e["url"].as_str().unwrap().starts_with("https://"), "{e}");
        assert!(e["description"].is_string(), "{e}");
        assert!(!e["endpoints"].as_array().unwrap().is_empty(), "{e}");
    }
    ext.iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discover_lists_supported_extensions() {
    let t = start().await;
    t.push_blob("a/b", b"x").await;
    let r = t.get("/v2/_oci/ext/discover").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let v = r.json().await.unwrap();
    assert_eq!(check_extensions(&v), ["_oci", "_catalog"]);
    let cat = &v["extensions"][1];
    assert_eq!(cat["endpoints"], json!(["_catalog"]));
    assert_eq!(
        v["extensions"][0]["endpoints"],
        json!(["_oci/ext/discover"])
    );
    // Repository level: the catalog is registry-wide, so only `_oci`.
    let v = t
        .get("/v2/a/b/_oci/ext/discover")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(check_extensions(&v), ["_oci"]);
}

#[tokio::test]
async fn unknown_extensions_are_404_unsupported() {
    let t = start().await;
    t.push_blob("a", b"x").await;
    for p in [
        "/v2/_foo",
        "/v2/_foo/bar/baz",
        "/v2/a/_foo/bar",
        "/v2/a/_foo/bar/baz",
        "/v2/_catalog/more",
        "/v2/_oci/ext/nope",
        "/v2/a/_catalog",
    ] {
        expect_error(t.get(p).await, 404, "UNSUPPORTED").await;
    }
    // A tag may start with `_`: that is not an extension.
    expect_error(t.get("/v2/a/manifests/_x").await, 404, "MANIFEST_UNKNOWN").await;
}

/// A repository whose last tag, manifest and blob link are deleted is gone: it leaves the
/// catalog, its tags list is 404 `NAME_UNKNOWN`, and pushing again brings it back.
#[tokio::test]
async fn emptied_repository_leaves_the_catalog() {
    let t = start().await;
    t.push_blob("keep", b"k").await;
    let (m, d) = t.push_image("gone", "v1", json!({})).await;
    assert_eq!(catalog(&t, "").await.0, ["gone", "keep"]);
    let manifest: Value = serde_json::from_slice(&m).unwrap();
    // Manifest deleted, blobs still linked: the repository still exists.
    let r = t
        .req(Method::DELETE, &format!("/v2/gone/manifests/{d}"))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(catalog(&t, "").await.0, ["gone", "keep"]);
    let list = t.get("/v2/gone/tags/list").await.json().await.unwrap();
    assert_eq!(list["tags"], json!([]));
    let blobs: Vec<String> = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .map(|b| b["digest"].as_str().unwrap().to_string())
        .collect();
    for b in &blobs {
        let r = t.req(Method::DELETE, &format!("/v2/gone/blobs/{b}")).await;
        assert_eq!(r.status(), 202);
    }
    assert_eq!(catalog(&t, "").await.0, ["keep"]);
    expect_error(t.get("/v2/gone/tags/list").await, 404, "NAME_UNKNOWN").await;
    expect_error(
        t.req(Method::DELETE, &format!("/v2/gone/blobs/{}", blobs[0]))
            .await,
        404,
        "NAME_UNKNOWN",
    )
    .await;
    // Pushing again brings it back.
    t.push_blob("gone", b"again").await;
    assert_eq!(catalog(&t, "").await.0, ["gone", "keep"]);
}

#[tokio::test]
async fn emptied_repository_stays_gone_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::memory();
    c.storage = StorageConfig::Filesystem(dir.path().to_path_buf());
    let t = start_with(c.clone()).await;
    t.push_blob("keep", b"k").await;
    let d = t.push_blob("gone", b"g").await;
    let r = t.req(Method::DELETE, &format!("/v2/gone/blobs/{d}")).await;
    assert_eq!(r.status(), 202);
    t.server.shutdown().await;
    let t = start_with(c).await;
    assert_eq!(catalog(&t, "").await.0, ["keep"]);
}
