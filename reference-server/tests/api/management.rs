use crate::common::*;
use oci_reference_server::Config;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn delete_tag_removes_only_the_tag() {
    let t = start().await;
    let (_, d) = t.push_image("a", "v1", json!({})).await;
    let r = t.req(Method::DELETE, "/v2/a/manifests/v1").await;
    assert_eq!(r.status(), 202);
    expect_error(t.get("/v2/a/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    assert_eq!(t.get(&format!("/v2/a/manifests/{d}")).await.status(), 200);
    expect_error(
        t.req(Method::DELETE, "/v2/a/manifests/v1").await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn delete_manifest_by_digest_removes_every_tag_on_it() {
    let t = start().await;
    let (m, d) = t.push_image("a", "v1", json!({})).await;
    assert_eq!(
        t.put_manifest("a", "v2", OCI_MANIFEST, &m).await.status(),
        201
    );
    let (_, other) = t
        .push_image("a", "keep", json!({"annotations": {"x": "y"}}))
        .await;
    let r = t.req(Method::DELETE, &format!("/v2/a/manifests/{d}")).await;
    assert_eq!(r.status(), 202);
    for reference in ["v1", "v2", d.as_str()] {
        expect_error(
            t.get(&format!("/v2/a/manifests/{reference}")).await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
        let h = t
            .req(Method::HEAD, &format!("/v2/a/manifests/{reference}"))
            .await;
        assert_eq!(h.status(), 404);
    }
    let list: serde_json::Value = t.get("/v2/a/tags/list").await.json().await.unwrap();
    assert_eq!(list["tags"], json!(["keep"]));
    assert_eq!(
        t.get(&format!("/v2/a/manifests/{other}")).await.status(),
        200
    );
    expect_error(
        t.req(Method::DELETE, &format!("/v2/a/manifests/{d}")).await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn deletes_in_unknown_repositories_are_404_name_unknown() {
    let t = start().await;
    for p in [
        "/v2/nope/manifests/v1".to_string(),
        format!("/v2/nope/manifests/{}", sha256(b"x")),
        format!("/v2/nope/blobs/{}", sha256(b"x")),
    ] {
        expect_error(t.req(Method::DELETE, &p).await, 404, "NAME_UNKNOWN").await;
    }
}

#[tokio::test]
async fn delete_with_malformed_digest_is_400() {
    let t = start().await;
    t.push_image("a", "v", json!({})).await;
    expect_error(
        t.req(Method::DELETE, "/v2/a/manifests/sha256:nothex").await,
        400,
        "DIGEST_INVALID",
    )
    .await;
}

#[tokio::test]
async fn disabled_deletes_are_405_unsupported() {
    let mut c = Config::memory();
    c.delete_manifests = false;
    c.delete_tags = false;
    c.delete_blobs = false;
    let t = start_with(c).await;
    let (_, d) = t.push_image("a", "v", json!({})).await;
    let b = t.push_blob("a", b"blob").await;
    for p in [
        "/v2/a/manifests/v".to_string(),
        format!("/v2/a/manifests/{d}"),
        format!("/v2/a/blobs/{b}"),
    ] {
        expect_error(t.req(Method::DELETE, &p).await, 405, "UNSUPPORTED").await;
    }
    assert_eq!(t.get("/v2/a/manifests/v").await.status(), 200);
    assert_eq!(t.get(&format!("/v2/a/blobs/{b}")).await.status(), 200);
}

#[tokio::test]
async fn each_delete_switch_is_independent() {
    let mut c = Config::memory();
    c.delete_tags = false;
    let t = start_with(c).await;
    let (_, d) = t.push_image("a", "v", json!({})).await;
    expect_error(
        t.req(Method::DELETE, "/v2/a/manifests/v").await,
        405,
        "UNSUPPORTED",
    )
    .await;
    assert_eq!(
        t.req(Method::DELETE, &format!("/v2/a/manifests/{d}"))
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn read_only_refuses_every_write_but_serves_reads() {
    let mut c = Config::memory();
    c.read_only = true;
    let t = start_with(c).await;
    let d = sha256(b"x");
    expect_error(
        t.req(Method::POST, "/v2/a/blobs/uploads/").await,
        405,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        t.client
            .post(t.u(&format!("/v2/a/blobs/uploads/?digest={d}")))
            .body("x")
            .send()
            .await
            .unwrap(),
        405,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        t.put_manifest("a", "v", OCI_MANIFEST, b"{}").await,
        405,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        t.req(Method::DELETE, "/v2/a/manifests/v").await,
        405,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        t.req(Method::DELETE, &format!("/v2/a/blobs/{d}")).await,
        405,
        "UNSUPPORTED",
    )
    .await;
    let id = uuid::Uuid::new_v4();
    expect_error(
        t.patch(&format!("/v2/a/blobs/uploads/{id}"), None, b"x")
            .await,
        405,
        "UNSUPPORTED",
    )
    .await;
    assert_eq!(t.get("/v2/").await.status(), 200);
    expect_error(t.get("/v2/a/tags/list").await, 404, "NAME_UNKNOWN").await;
}
