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
async fn extension_discovery_lists_no_extensions() {
    let t = start().await;
    for p in ["/v2/_oci/ext/discover", "/v2/a/b/_oci/ext/discover"] {
        let r = t.get(p).await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["extensions"], serde_json::json!([]));
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
