use crate::common::*;
use oci_reference_server::Config;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn manifest_by_tag_and_digest_returns_exact_bytes_and_headers() {
    let t = start().await;
    let (m, d) = t
        .push_image("a/b", "v1", json!({"zzUnknownField": {"kept": [1, 2]}}))
        .await;
    for reference in ["v1", d.as_str()] {
        let r = t.get(&format!("/v2/a/b/manifests/{reference}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(
            header(&r, "docker-content-digest").as_deref(),
            Some(d.as_str())
        );
        assert_eq!(header(&r, "content-length").unwrap(), m.len().to_string());
        assert_eq!(r.bytes().await.unwrap(), m);
        let h = t
            .req(Method::HEAD, &format!("/v2/a/b/manifests/{reference}"))
            .await;
        assert_eq!(h.status(), 200);
        assert_eq!(header(&h, "content-length").unwrap(), m.len().to_string());
        assert_eq!(
            header(&h, "docker-content-digest").as_deref(),
            Some(d.as_str())
        );
        assert!(h.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn put_answers_201_with_location_and_digest() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let d = sha256(&m);
    let r = t.put_manifest("a", "latest", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        header(&r, "location").unwrap(),
        format!("/v2/a/manifests/{d}")
    );
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d);
    assert!(header(&r, "oci-subject").is_none());
    let r = t.put_manifest("a", &d, OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn put_by_digest_must_match_the_body() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let wrong = sha256(b"other");
    expect_error(
        t.put_manifest("a", &wrong, OCI_MANIFEST, &m).await,
        400,
        "DIGEST_INVALID",
    )
    .await;
    expect_error(
        t.put_manifest("a", "sha256:baddigeststring", OCI_MANIFEST, &m)
            .await,
        400,
        "DIGEST_INVALID",
    )
    .await;
    expect_error(
        t.get(&format!("/v2/a/manifests/{wrong}")).await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn sha512_manifest_digest_is_honoured() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let d = sha512(&m);
    let r = t.put_manifest("a", &d, OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d);
    let r = t.get(&format!("/v2/a/manifests/{d}")).await;
    assert_eq!(r.bytes().await.unwrap(), m);
}

#[tokio::test]
async fn media_type_must_equal_content_type_parameters_ignored() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    expect_error(
        t.put_manifest("a", "x", OCI_INDEX, &m).await,
        400,
        "MANIFEST_INVALID",
    )
    .await;
    let r = t
        .put_manifest("a", "x", &format!("{OCI_MANIFEST}; charset=utf-8"), &m)
        .await;
    assert_eq!(r.status(), 201);
    let r = t.get("/v2/a/manifests/x").await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
}

#[tokio::test]
async fn manifest_without_media_type_is_served_with_the_pushed_content_type() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": descriptor(OCI_CONFIG, &c, 2),
        "layers": []
    }))
    .unwrap();
    assert_eq!(
        t.put_manifest("a", "umoci", OCI_MANIFEST, &m)
            .await
            .status(),
        201
    );
    let r = t.get("/v2/a/manifests/umoci").await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
}

#[tokio::test]
async fn garbage_manifests_are_400_manifest_invalid() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    for body in [
        b"not json".to_vec(),
        b"[1,2]".to_vec(),
        b"".to_vec(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}))
            .unwrap(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "bogus", "size": 2}, "layers": []}))
        .unwrap(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &c, 2), "layers": "nope"}))
        .unwrap(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": 5})).unwrap(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &c, 2), "layers": [], "artifactType": "not a type"}))
        .unwrap(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor("no-slash", &c, 2), "layers": []}))
        .unwrap(),
    ] {
        let r = t.put_manifest("a", "bad", OCI_MANIFEST, &body).await;
        expect_error(r, 400, "MANIFEST_INVALID").await;
    }
}

#[tokio::test]
async fn missing_blobs_give_one_manifest_blob_unknown_per_digest() {
    let t = start().await;
    let c = sha256(b"config never pushed");
    let l1 = sha256(b"layer1");
    let l2 = t.push_blob("a", b"layer2").await;
    let m = image_manifest(&c, 3, &[(l1.clone(), 6), (l2, 6)], json!({}));
    let body = expect_error(
        t.put_manifest("a", "v", OCI_MANIFEST, &m).await,
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )
    .await;
    let errs = body["errors"].as_array().unwrap();
    assert_eq!(errs.len(), 2);
    let digests: Vec<&str> = errs
        .iter()
        .map(|e| e["detail"]["digest"].as_str().unwrap())
        .collect();
    assert!(digests.contains(&c.as_str()) && digests.contains(&l1.as_str()));
    expect_error(t.get("/v2/a/manifests/v").await, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn blobs_of_another_repository_do_not_count() {
    let t = start().await;
    let c = t.push_blob("other", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    expect_error(
        t.put_manifest("a", "v", OCI_MANIFEST, &m).await,
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn sparse_manifests_switch_accepts_missing_blobs() {
    let mut c = Config::memory();
    c.sparse_manifests = true;
    let t = start_with(c).await;
    let m = image_manifest(&sha256(b"cfg"), 3, &[(sha256(b"l"), 1)], json!({}));
    assert_eq!(
        t.put_manifest("a", "v", OCI_MANIFEST, &m).await.status(),
        201
    );
}

#[tokio::test]
async fn non_distributable_layers_need_not_exist() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &c, 2),
        "layers": [
            descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", &sha256(b"foreign"), 7),
            descriptor("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", &sha256(b"win"), 3),
        ]
    }))
    .unwrap();
    assert_eq!(
        t.put_manifest("a", "v", OCI_MANIFEST, &m).await.status(),
        201
    );
}

#[tokio::test]
async fn index_needs_its_child_manifests() {
    let t = start().await;
    let (m1, d1) = t.push_image("a", "amd64", json!({})).await;
    let idx = index(&[(d1.clone(), m1.len())], json!({}));
    let r = t.put_manifest("a", "multi", OCI_INDEX, &idx).await;
    assert_eq!(r.status(), 201);
    let r = t.get("/v2/a/manifests/multi").await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_INDEX));
    // Nested index.
    let outer = index(&[(sha256(&idx), idx.len())], json!({}));
    assert_eq!(
        t.put_manifest("a", "nested", OCI_INDEX, &outer)
            .await
            .status(),
        201
    );
    // Missing child.
    let bad = index(&[(sha256(b"nope"), 4)], json!({}));
    expect_error(
        t.put_manifest("a", "bad", OCI_INDEX, &bad).await,
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )
    .await;
    // Empty index.
    let empty = index(&[], json!({}));
    assert_eq!(
        t.put_manifest("a", "empty", OCI_INDEX, &empty)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn docker_manifest_types_are_accepted_and_served_whatever_the_accept() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let l = t.push_blob("a", b"layer").await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": descriptor("application/vnd.docker.container.image.v1+json", &c, 2),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", &l, 5)]
    }))
    .unwrap();
    let dt = "application/vnd.docker.distribution.manifest.v2+json";
    assert_eq!(t.put_manifest("a", "docker", dt, &m).await.status(), 201);
    let (_, _) = t.push_image("a", "oci", json!({})).await;
    let r = t
        .client
        .get(t.u("/v2/a/manifests/oci"))
        .header("accept", dt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
    let r = t.get("/v2/a/manifests/docker").await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(dt));
}

#[tokio::test]
async fn subject_may_be_missing_and_is_echoed_in_oci_subject() {
    let t = start().await;
    let subject = sha256(b"subject never pushed");
    let (_, _) = t
        .push_image(
            "a",
            "sig",
            json!({"subject": descriptor(OCI_MANIFEST, &subject, 10)}),
        )
        .await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(
        &c,
        2,
        &[],
        json!({"subject": descriptor(OCI_MANIFEST, &subject, 10)}),
    );
    let r = t.put_manifest("a", "sig2", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "oci-subject").unwrap(), subject);
}

#[tokio::test]
async fn referrers_switch_off_drops_oci_subject() {
    let mut c = Config::memory();
    c.referrers = false;
    let t = start_with(c).await;
    let cfg = t.push_blob("a", b"{}").await;
    let subject = sha256(b"s");
    let m = image_manifest(
        &cfg,
        2,
        &[],
        json!({"subject": descriptor(OCI_MANIFEST, &subject, 1)}),
    );
    let r = t.put_manifest("a", "sig", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
    assert!(header(&r, "oci-subject").is_none());
}

#[tokio::test]
async fn oversized_manifest_is_413_and_4mb_is_accepted_by_default() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let big = "x".repeat(3_900_000);
    let m = image_manifest(&c, 2, &[], json!({"annotations": {"pad": big}}));
    assert!(m.len() < 4 * 1024 * 1024);
    let r = t.put_manifest("a", "big", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
    assert_eq!(t.get("/v2/a/manifests/big").await.bytes().await.unwrap(), m);
    let huge = image_manifest(
        &c,
        2,
        &[],
        json!({"annotations": {"pad": "y".repeat(4_300_000)}}),
    );
    expect_error(
        t.put_manifest("a", "huge", OCI_MANIFEST, &huge).await,
        413,
        "MANIFEST_INVALID",
    )
    .await;
}

#[tokio::test]
async fn max_manifest_size_is_enforced_on_chunked_bodies_too() {
    let mut cfg = Config::memory();
    cfg.max_manifest_size = 100;
    let t = start_with(cfg).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 50])).collect();
    let r = t
        .client
        .put(t.u("/v2/a/manifests/x"))
        .header("content-type", OCI_MANIFEST)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "MANIFEST_INVALID").await;
}

#[tokio::test]
async fn tag_parameters_tag_the_manifest_and_are_echoed() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let d = sha256(&m);
    let q: Vec<String> = (0..12).map(|i| format!("tag=t{i}")).collect();
    let r = t
        .client
        .put(t.u(&format!("/v2/a/manifests/{d}?{}", q.join("&"))))
        .header("content-type", OCI_MANIFEST)
        .body(m.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let tags = headers_all(&r, "oci-tag");
    assert_eq!(tags.len(), 12);
    assert!(tags.contains(&"t11".to_string()));
    let list: serde_json::Value = t.get("/v2/a/tags/list").await.json().await.unwrap();
    assert_eq!(list["tags"].as_array().unwrap().len(), 12);
    assert_eq!(t.get("/v2/a/manifests/t7").await.bytes().await.unwrap(), m);
}

#[tokio::test]
async fn too_many_or_invalid_tag_parameters_are_refused() {
    let mut cfg = Config::memory();
    cfg.max_tags_per_push = 3;
    let t = start_with(cfg).await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let d = sha256(&m);
    let put = |q: String| {
        t.client
            .put(t.u(&format!("/v2/a/manifests/{d}?{q}")))
            .header("content-type", OCI_MANIFEST)
            .body(m.clone())
            .send()
    };
    expect_error(
        put("tag=a&tag=b&tag=c&tag=d".into()).await.unwrap(),
        414,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        put("tag=.bad".into()).await.unwrap(),
        400,
        "MANIFEST_INVALID",
    )
    .await;
}

#[tokio::test]
async fn tag_param_switch_off_ignores_tags() {
    let mut cfg = Config::memory();
    cfg.tag_param = false;
    let t = start_with(cfg).await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let d = sha256(&m);
    let r = t
        .client
        .put(t.u(&format!("/v2/a/manifests/{d}?tag=x")))
        .header("content-type", OCI_MANIFEST)
        .body(m)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(header(&r, "oci-tag").is_none());
    expect_error(t.get("/v2/a/manifests/x").await, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn invalid_references() {
    let t = start().await;
    let c = t.push_blob("a", b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    let long = "a".repeat(129);
    for bad in [".INVALID_MANIFEST_NAME", "-x", long.as_str()] {
        expect_error(
            t.put_manifest("a", bad, OCI_MANIFEST, &m).await,
            400,
            "MANIFEST_INVALID",
        )
        .await;
        expect_error(
            t.get(&format!("/v2/a/manifests/{bad}")).await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
    }
    expect_error(
        t.get("/v2/a/manifests/sha256:baddigeststring").await,
        400,
        "DIGEST_INVALID",
    )
    .await;
    assert_eq!(
        t.put_manifest("a", &"a".repeat(128), OCI_MANIFEST, &m)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn unknown_manifests_and_repositories_are_404_manifest_unknown() {
    let t = start().await;
    t.push_image("a", "v", json!({})).await;
    expect_error(t.get("/v2/a/manifests/nope").await, 404, "MANIFEST_UNKNOWN").await;
    expect_error(t.get("/v2/nope/manifests/v").await, 404, "MANIFEST_UNKNOWN").await;
    expect_error(
        t.get(&format!("/v2/a/manifests/{}", sha256(b"x"))).await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
    let r = t.req(Method::HEAD, "/v2/a/manifests/nope").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn retagging_moves_the_tag() {
    let t = start().await;
    let (_, d1) = t.push_image("a", "v", json!({})).await;
    let (_, d2) = t
        .push_image("a", "v", json!({"annotations": {"n": "2"}}))
        .await;
    assert_ne!(d1, d2);
    let r = t.get("/v2/a/manifests/v").await;
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d2);
    assert_eq!(t.get(&format!("/v2/a/manifests/{d1}")).await.status(), 200);
}

/// A DELETE of a reference that is neither a tag nor a digest is 404 without its text ever
/// becoming a storage key (`MANIFEST_UNKNOWN` in a repository that exists, `NAME_UNKNOWN`
/// otherwise).
#[tokio::test]
async fn deleting_an_invalid_tag_is_unknown() {
    let t = start().await;
    t.push_image("r", "v1", json!({})).await;
    let bad = format!("-{}", "x".repeat(200));
    expect_error(
        t.req(Method::DELETE, &format!("/v2/r/manifests/{bad}"))
            .await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
    expect_error(
        t.req(Method::DELETE, &format!("/v2/none/manifests/{bad}"))
            .await,
        404,
        "NAME_UNKNOWN",
    )
    .await;
    assert_eq!(t.get("/v2/r/manifests/v1").await.status(), 200);
}
