//! The switches behind the permissive and broken profiles: each takes the branch it names.

use crate::common::*;
use oci_reference_server::config::{Defect, ErrorBodies};
use oci_reference_server::Config;
use reqwest::Method;
use serde_json::json;

fn with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::memory();
    f(&mut c);
    c
}

async fn tag_three(t: &T, repo: &str) {
    let (m, _) = t.push_image(repo, "a", json!({})).await;
    for tag in ["b", "c"] {
        let r = t.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), 201);
    }
}

#[tokio::test]
async fn without_page_links_a_full_page_of_n_has_no_link_but_a_capped_page_keeps_it() {
    let t = start_with(with(|c| c.page_links = false)).await;
    tag_three(&t, "r").await;
    let r = t.get("/v2/r/tags/list?n=2").await;
    assert_eq!(header(&r, "link"), None);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], json!(["a", "b"]));
    let t = start_with(with(|c| {
        c.page_links = false;
        c.tag_page_size = Some(1);
    }))
    .await;
    tag_three(&t, "r").await;
    // Cut by the server's cap below the client's n: the client needs the Link, with its own n.
    let r = t.get("/v2/r/tags/list?n=2").await;
    assert_eq!(
        header(&r, "link").as_deref(),
        Some("</v2/r/tags/list?n=2&last=a>; rel=\"next\"")
    );
}

#[tokio::test]
async fn short_pages_defect_drops_an_entry_and_the_link() {
    let t = start_with(with(|c| c.defects = vec![Defect::ShortPages])).await;
    tag_three(&t, "r").await;
    let r = t.get("/v2/r/tags/list?n=2").await;
    assert_eq!(header(&r, "link"), None);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], json!(["a"]));
}

#[tokio::test]
async fn error_bodies_text_and_bare() {
    let missing = format!("/v2/r/blobs/{}", sha256(b"never pushed"));
    let t = start_with(with(|c| c.error_bodies = ErrorBodies::Text)).await;
    t.push_blob("r", b"x").await;
    let r = t.get(&missing).await;
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(r.text().await.unwrap().starts_with("BLOB_UNKNOWN: "));
    let t = start_with(with(|c| c.error_bodies = ErrorBodies::Bare)).await;
    t.push_blob("r", b"x").await;
    let r = t.get(&missing).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"errors": [{"code": "BLOB_UNKNOWN"}]}));
}

#[tokio::test]
async fn no_digest_header_anywhere() {
    let t = start_with(with(|c| c.digest_header = false)).await;
    let d = t.push_blob("r", b"x").await;
    let r = t.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), None);
}

#[tokio::test]
async fn disabled_deletes_answer_400_when_asked() {
    let t = start_with(with(|c| {
        c.delete_blobs = false;
        c.disabled_status_400 = true;
    }))
    .await;
    let d = t.push_blob("r", b"x").await;
    let r = t.req(Method::DELETE, &format!("/v2/r/blobs/{d}")).await;
    expect_error(r, 400, "UNSUPPORTED").await;
}

#[tokio::test]
async fn discovery_can_be_absent() {
    let t = start_with(with(|c| c.discovery = false)).await;
    expect_error(t.get("/v2/_oci/ext/discover").await, 404, "UNSUPPORTED").await;
}

#[tokio::test]
async fn absolute_locations_and_warning() {
    let t = start_with(with(|c| {
        c.absolute_locations = true;
        c.warning = Some("299 - \"hello\"".into());
    }))
    .await;
    let r = t
        .client
        .post(t.u("/v2/r/blobs/uploads/"))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location").unwrap();
    assert!(
        loc.starts_with(&format!("{}/v2/r/blobs/uploads/", t.url)),
        "{loc}"
    );
    assert_eq!(header(&r, "warning").as_deref(), Some("299 - \"hello\""));
}

#[tokio::test]
async fn name_unknown_for_repositories_that_do_not_exist() {
    let t = start_with(with(|c| c.name_unknown = true)).await;
    expect_error(t.get("/v2/nope/manifests/v1").await, 404, "NAME_UNKNOWN").await;
    let d = sha256(b"x");
    expect_error(
        t.get(&format!("/v2/nope/blobs/{d}")).await,
        404,
        "NAME_UNKNOWN",
    )
    .await;
    // An existing repository keeps the specific code.
    t.push_blob("r", b"y").await;
    expect_error(t.get("/v2/r/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn mount_from_anywhere_finds_the_blob_outside_from() {
    let t = start_with(with(|c| c.mount_from_anywhere = true)).await;
    let d = t.push_blob("a", b"shared").await;
    t.push_blob("b", b"other").await;
    let r = t
        .client
        .post(t.u(&format!("/v2/c/blobs/uploads/?mount={d}&from=b")))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn referrers404_defect_still_answers_oci_subject() {
    let t = start_with(with(|c| c.defects = vec![Defect::Referrers404])).await;
    let (_, subject) = t.push_image("r", "s", json!({})).await;
    let cfg = b"{}";
    let c = t.push_blob("r", cfg).await;
    let referrer = image_manifest(
        &c,
        cfg.len(),
        &[],
        json!({"subject": descriptor(OCI_MANIFEST, &subject, 0)}),
    );
    let r = t
        .put_manifest("r", &sha256(&referrer), OCI_MANIFEST, &referrer)
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "oci-subject").as_deref(), Some(subject.as_str()));
    let r = t.get(&format!("/v2/r/referrers/{subject}")).await;
    assert_eq!(r.status(), 404);
}

#[test]
fn profiles_and_their_toml_key() {
    let p = Config::memory().permissive();
    assert!(!p.page_links && !p.single_post && p.chunk_min_length == Some(5 << 20));
    assert_eq!(p.error_bodies, ErrorBodies::Text);
    let q = Config::memory().permissive_pre_main();
    assert!(!q.digest_header && q.name_unknown && q.disabled_status_400);
    let mut c = Config::memory();
    c.apply_toml("profile = \"permissive\"\nsingle_post = true\n")
        .unwrap();
    assert!(!c.page_links && c.single_post);
    assert!(Config::memory()
        .apply_toml("profile = \"lenient\"")
        .is_err());
    let mut c = Config::memory();
    c.apply_toml("defects = [\"ignore-range\"]\nerror_bodies = \"bare\"\n")
        .unwrap();
    assert!(c.has_defect(Defect::IgnoreRange));
    assert_eq!(c.error_bodies, ErrorBodies::Bare);
}

#[tokio::test]
async fn lexical_tags_sort_case_insensitively_and_page_by_that_order() {
    let t = start_with(with(|c| c.lexical_tags = true)).await;
    let (m, _) = t.push_image("r", "b", json!({})).await;
    for tag in ["A", "c", "B"] {
        assert_eq!(
            t.put_manifest("r", tag, OCI_MANIFEST, &m).await.status(),
            201
        );
    }
    let body: serde_json::Value = t.get("/v2/r/tags/list").await.json().await.unwrap();
    assert_eq!(body["tags"], json!(["A", "B", "b", "c"]));
    let r = t.get("/v2/r/tags/list?n=2&last=A").await;
    assert_eq!(
        header(&r, "link").as_deref(),
        Some("</v2/r/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], json!(["B", "b"]));
}

#[tokio::test]
async fn catalog404_defect_lists_the_extension_it_refuses() {
    let t = start_with(with(|c| c.defects = vec![Defect::Catalog404])).await;
    let body = t.get("/v2/_oci/ext/discover").await.text().await.unwrap();
    assert!(body.contains("_catalog"), "{body}");
    assert_eq!(t.get("/v2/_catalog").await.status(), 404);
}
