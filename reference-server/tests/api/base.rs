use crate::common::*;
use reqwest::Method;

#[tokio::test]
async fn base_endpoint_answers_200_with_json_object_and_api_version() {
    let t = start().await;
    let r = t.get("/v2/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );
    assert_eq!(r.text().await.unwrap(), "{}");
    assert_eq!(t.get("/v2").await.status(), 200);
    assert_eq!(t.req(Method::HEAD, "/v2/").await.status(), 200);
}

#[tokio::test]
async fn unknown_paths_are_404_unsupported_json() {
    let t = start().await;
    for p in [
        "/",
        "/v1/",
        "/v2/a/unknown",
        "/v2/a/manifests/",
        "/v2/manifests/x",
    ] {
        expect_error(t.get(p).await, 404, "UNSUPPORTED").await;
    }
}

#[tokio::test]
async fn names_outside_the_grammar_are_400_name_invalid_on_every_endpoint() {
    let t = start().await;
    let long = "a".repeat(256);
    for name in ["Upper", "a..b", "a/-b", "a___b", long.as_str()] {
        for (m, p) in [
            (Method::GET, format!("/v2/{name}/tags/list")),
            (Method::GET, format!("/v2/{name}/manifests/latest")),
            (Method::PUT, format!("/v2/{name}/manifests/latest")),
            (Method::POST, format!("/v2/{name}/blobs/uploads/")),
            (Method::GET, format!("/v2/{name}/referrers/{}", sha256(b""))),
            (Method::DELETE, format!("/v2/{name}/blobs/{}", sha256(b""))),
        ] {
            expect_error(t.req(m, &p).await, 400, "NAME_INVALID").await;
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_unsupported_with_allow() {
    let t = start().await;
    let r = t.req(Method::POST, "/v2/a/tags/list").await;
    assert_eq!(header(&r, "allow").as_deref(), Some("GET, HEAD"));
    expect_error(r, 405, "UNSUPPORTED").await;
    expect_error(
        t.req(Method::GET, "/v2/a/blobs/uploads/").await,
        405,
        "UNSUPPORTED",
    )
    .await;
    expect_error(t.req(Method::POST, "/v2/").await, 405, "UNSUPPORTED").await;
    expect_error(
        t.req(Method::PATCH, &format!("/v2/a/manifests/{}", sha256(b"")))
            .await,
        405,
        "UNSUPPORTED",
    )
    .await;
}

#[tokio::test]
async fn extension_discovery_answers_an_extensions_list() {
    // What it lists is tested in catalog.rs.
    let t = start().await;
    for p in ["/v2/_oci/ext/discover", "/v2/a/b/_oci/ext/discover"] {
        let r = t.get(p).await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["extensions"].is_array());
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let t = start().await;
    let url = t.u("/v2/");
    assert_eq!(t.client.get(&url).send().await.unwrap().status(), 200);
    t.server.shutdown().await;
    let fresh = reqwest::Client::new();
    assert!(fresh.get(&url).send().await.is_err());
}

/// Answers given before the body was needed (errors, mounts) still reach a client that is busy
/// sending a large body: the server reads the rest instead of resetting the connection.
#[tokio::test]
async fn early_answers_reach_clients_sending_large_bodies() {
    let t = start().await;
    let big = vec![b' '; 6 << 20];
    let r = t.put_manifest("a", "huge", OCI_MANIFEST, &big).await;
    expect_error(r, 413, "MANIFEST_INVALID").await;
    let r = t.put_manifest("Bad^Name", "x", OCI_MANIFEST, &big).await;
    expect_error(r, 400, "NAME_INVALID").await;
    let id = uuid::Uuid::new_v4();
    let r = t
        .patch(&format!("/v2/a/blobs/uploads/{id}"), None, &big)
        .await;
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let loc = t.open_upload("a").await;
    let r = t.patch(&loc, Some("5-10"), &big[..6]).await;
    expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    let r = t.patch(&loc, Some("0-9"), &big).await;
    expect_error(r, 400, "SIZE_INVALID").await;
    // A chunked body found too large while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..96).map(|_| Ok(vec![b' '; 64 << 10])).collect();
    let r = t
        .client
        .put(t.u("/v2/a/manifests/chunked"))
        .header("content-type", OCI_MANIFEST)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "MANIFEST_INVALID").await;
    // The same connection pool keeps working afterwards.
    assert_eq!(t.get("/v2/").await.status(), 200);
}
