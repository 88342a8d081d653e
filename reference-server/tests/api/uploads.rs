use crate::common::*;
use oci_reference_server::Config;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn post_opens_a_session_with_uuid_location_and_no_range() {
    let t = start().await;
    let r = t
        .client
        .post(t.u("/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location").unwrap();
    let id = loc.rsplit('/').next().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{loc}");
    assert_eq!(header(&r, "docker-upload-uuid").as_deref(), Some(id));
    assert!(header(&r, "range").is_none());
    assert!(header(&r, "oci-chunk-min-length").is_none());
}

#[tokio::test]
async fn post_then_put_monolithic_creates_the_blob() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    let d = sha256(b"monolithic");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .header("content-type", "application/octet-stream")
        .body(&b"monolithic"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location").unwrap(), format!("/v2/a/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d);
    let got = t.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(got.bytes().await.unwrap(), &b"monolithic"[..]);
    // The session is finished.
    expect_error(t.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn single_post_with_wrong_digest_is_400_and_stores_nothing() {
    let t = start().await;
    let wrong = sha256(b"something else");
    let r = t
        .client
        .post(t.u(&format!("/v2/a/blobs/uploads/?digest={wrong}")))
        .body(&b"data"[..])
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    expect_error(
        t.get(&format!("/v2/a/blobs/{wrong}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn single_post_with_malformed_digest_is_400() {
    let t = start().await;
    let r = t
        .client
        .post(t.u("/v2/a/blobs/uploads/?digest=sha256:nothex"))
        .body(&b"data"[..])
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn chunked_upload_reports_range_after_each_chunk() {
    let t = start().await;
    let loc = t.open_upload("a/b").await;
    let r = t.patch(&loc, Some("0-4"), b"hello").await;
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range").as_deref(), Some("0-4"));
    let loc2 = header(&r, "location").unwrap();
    let r = t.patch(&loc2, Some("5-10"), b" world").await;
    assert_eq!(header(&r, "range").as_deref(), Some("0-10"));
    let s = t.get(&loc2).await;
    assert_eq!(s.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&s, "range").as_deref(), Some("0-10"));
    assert_eq!(header(&s, "location").as_deref(), Some(loc2.as_str()));
    let d = sha256(b"hello world");
    let r = t
        .client
        .put(t.u(&format!("{loc2}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = t.get(&format!("/v2/a/b/blobs/{d}")).await;
    assert_eq!(got.bytes().await.unwrap(), &b"hello world"[..]);
}

#[tokio::test]
async fn final_chunk_on_the_put_is_accepted() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    t.patch(&loc, Some("0-2"), b"abc").await;
    let d = sha256(b"abcdef");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .header("content-range", "3-5")
        .body(&b"def"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn out_of_order_chunks_are_416_with_current_range() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    // Skipping ahead on the first chunk.
    let r = t.patch(&loc, Some("5-9"), b"01234").await;
    assert_eq!(header(&r, "range").as_deref(), Some("0-0"));
    assert!(header(&r, "location").is_some());
    expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    assert_eq!(t.patch(&loc, Some("0-4"), b"01234").await.status(), 202);
    // Resending the same chunk.
    let r = t.patch(&loc, Some("0-4"), b"01234").await;
    assert_eq!(header(&r, "range").as_deref(), Some("0-4"));
    expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    // The session is intact.
    let s = t.get(&loc).await;
    assert_eq!(header(&s, "range").as_deref(), Some("0-4"));
    // Out-of-order final chunk on the PUT.
    let d = sha256(b"0123456789");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .header("content-range", "6-10")
        .body(&b"56789"[..])
        .send()
        .await
        .unwrap();
    expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
}

#[tokio::test]
async fn malformed_content_range_is_416() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    for cr in [
        "bytes 0-4",
        "0-4/5",
        "4-0",
        "x-y",
        "0-",
        "0-18446744073709551615",
        "0-99999999999999999999999",
    ] {
        let r = t.patch(&loc, Some(cr), b"01234").await;
        expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    }
}

#[tokio::test]
async fn chunk_length_differing_from_content_range_is_400_size_invalid() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    let r = t.patch(&loc, Some("0-9"), b"01234").await;
    expect_error(r, 400, "SIZE_INVALID").await;
    let s = t.get(&loc).await;
    assert_eq!(header(&s, "range").as_deref(), Some("0-0"));
    // Nothing was kept: the next correct chunk starts at 0.
    assert_eq!(t.patch(&loc, Some("0-4"), b"01234").await.status(), 202);
}

#[tokio::test]
async fn lying_content_length_is_400_size_invalid() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = start().await;
    let d = sha256(b"0123456789");
    let mut s = tokio::net::TcpStream::connect(t.server.addr())
        .await
        .unwrap();
    let req = format!(
        "POST /v2/a/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("SIZE_INVALID"), "{text}");
    expect_error(
        t.get(&format!("/v2/a/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn streamed_patch_without_content_range_appends() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"stre".to_vec()), Ok(b"amed".to_vec())];
    let r = t
        .client
        .patch(t.u(&loc))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range").as_deref(), Some("0-7"));
    let r = t.patch(&loc, None, b"!").await;
    assert_eq!(header(&r, "range").as_deref(), Some("0-8"));
    let d = sha256(b"streamed!");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn digest_mismatch_on_put_is_400_and_ends_the_session() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    t.patch(&loc, Some("0-2"), b"abc").await;
    let wrong = sha256(b"xyz");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={wrong}")))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    expect_error(t.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(
        t.get(&format!("/v2/a/blobs/{wrong}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn put_without_or_with_malformed_digest_is_400_and_keeps_the_session() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    let r = t.client.put(t.u(&loc)).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest=sha256:zz")))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    assert_eq!(t.get(&loc).await.status(), 204);
}

#[tokio::test]
async fn cancel_upload_is_204_then_404() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    t.patch(&loc, Some("0-2"), b"abc").await;
    let r = t.req(Method::DELETE, &loc).await;
    assert_eq!(r.status(), 204);
    expect_error(t.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(
        t.req(Method::DELETE, &loc).await,
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    expect_error(t.patch(&loc, None, b"x").await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn unknown_or_foreign_sessions_are_404_blob_upload_unknown() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    let id = loc.rsplit('/').next().unwrap();
    expect_error(
        t.get(&format!("/v2/other/blobs/uploads/{id}")).await,
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        expect_error(
            t.get(&format!("/v2/a/blobs/uploads/{bad}")).await,
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
        expect_error(
            t.patch(&format!("/v2/a/blobs/uploads/{bad}"), None, b"x")
                .await,
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
    }
}

#[tokio::test]
async fn sha512_upload_via_digest_algorithm() {
    let t = start().await;
    let r = t
        .client
        .post(t.u("/v2/a/blobs/uploads/?digest-algorithm=sha512"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location").unwrap();
    t.patch(&loc, Some("0-4"), b"sha51").await;
    let d = sha512(b"sha512");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .header("content-range", "5-5")
        .body(&b"2"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d);
    let got = t.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(header(&got, "docker-content-digest").unwrap(), d);
    assert_eq!(got.bytes().await.unwrap(), &b"sha512"[..]);
}

#[tokio::test]
async fn sha512_single_post_and_closing_digest_of_another_algorithm() {
    let t = start().await;
    let d = sha512(b"x");
    let r = t
        .client
        .post(t.u(&format!("/v2/a/blobs/uploads/?digest={d}")))
        .body(&b"x"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A sha256 session closed with a sha512 digest is re-hashed, not refused.
    let loc = t.open_upload("a").await;
    t.patch(&loc, Some("0-1"), b"yz").await;
    let d = sha512(b"yz");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn unsupported_digest_algorithm_is_400() {
    let t = start().await;
    let r = t
        .client
        .post(t.u("/v2/a/blobs/uploads/?digest-algorithm=md5"))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn mount_from_a_repository_holding_the_blob_is_201() {
    let t = start().await;
    let d = t.push_blob("src", b"shared").await;
    let r = t
        .client
        .post(t.u(&format!("/v2/dst/blobs/uploads/?mount={d}&from=src")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        header(&r, "location").unwrap(),
        format!("/v2/dst/blobs/{d}")
    );
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d);
    assert_eq!(t.get(&format!("/v2/dst/blobs/{d}")).await.status(), 200);
}

#[tokio::test]
async fn mount_that_cannot_happen_opens_a_session() {
    let t = start().await;
    let d = t.push_blob("src", b"shared").await;
    let missing = sha256(b"never pushed");
    for q in [
        format!("mount={missing}&from=src"),
        format!("mount={d}&from=empty"),
        format!("mount={missing}"),
        format!("mount={d}&from=Bad_Name"),
    ] {
        let r = t
            .client
            .post(t.u(&format!("/v2/dst/blobs/uploads/?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{q}");
        let loc = header(&r, "location").unwrap();
        // The session is usable for a normal upload.
        let put = t
            .client
            .put(t.u(&format!("{loc}?digest={}", sha256(b"z"))))
            .body(&b"z"[..])
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
    }
    expect_error(
        t.get(&format!("/v2/dst/blobs/{missing}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn automatic_mount_without_from_finds_the_blob() {
    let t = start().await;
    let d = t.push_blob("src", b"anywhere").await;
    let r = t
        .client
        .post(t.u(&format!("/v2/dst/blobs/uploads/?mount={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(t.get(&format!("/v2/dst/blobs/{d}")).await.status(), 200);
}

#[tokio::test]
async fn mount_switches_off_give_202() {
    let mut c = Config::memory();
    c.auto_mount = false;
    c.cross_mount = false;
    let t = start_with(c).await;
    let d = t.push_blob("src", b"shared").await;
    for q in [format!("mount={d}"), format!("mount={d}&from=src")] {
        let r = t
            .client
            .post(t.u(&format!("/v2/dst/blobs/uploads/?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{q}");
    }
    expect_error(
        t.get(&format!("/v2/dst/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn single_post_switch_off_gives_a_session() {
    let mut c = Config::memory();
    c.single_post = false;
    let t = start_with(c).await;
    let d = sha256(b"data");
    let r = t
        .client
        .post(t.u(&format!("/v2/a/blobs/uploads/?digest={d}")))
        .body(&b"data"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    expect_error(
        t.get(&format!("/v2/a/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn chunk_min_length_is_advertised_and_short_non_final_chunks_refused() {
    let mut c = Config::memory();
    c.chunk_min_length = Some(4);
    let t = start_with(c).await;
    let r = t
        .client
        .post(t.u("/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "oci-chunk-min-length").as_deref(), Some("4"));
    let loc = header(&r, "location").unwrap();
    assert_eq!(t.patch(&loc, Some("0-3"), b"abcd").await.status(), 202);
    assert_eq!(t.patch(&loc, Some("4-5"), b"ef").await.status(), 202);
    // A chunk after the short one proves the short one was not final.
    expect_error(
        t.patch(&loc, Some("6-9"), b"ghij").await,
        416,
        "BLOB_UPLOAD_INVALID",
    )
    .await;
    // Closing without more data is fine: the short chunk was the last.
    let d = sha256(b"abcdef");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn large_upload_in_many_chunks_hashes_correctly() {
    let t = start().await;
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let loc = t.open_upload("big").await;
    let chunk = 1_300_000;
    let mut off = 0;
    while off < data.len() {
        let end = (off + chunk).min(data.len());
        let r = t
            .patch(&loc, Some(&format!("{}-{}", off, end - 1)), &data[off..end])
            .await;
        assert_eq!(r.status(), 202);
        off = end;
    }
    let d = sha256(&data);
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = t
        .get(&format!("/v2/big/blobs/{d}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
}

#[tokio::test]
async fn racing_chunks_on_one_session_accept_exactly_one() {
    let t = std::sync::Arc::new(start().await);
    let loc = t.open_upload("a").await;
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let t = t.clone();
        let loc = loc.clone();
        tasks.push(tokio::spawn(async move {
            t.patch(&loc, Some("0-3"), &[i; 4]).await.status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|&&c| c == 202).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 202 || c == 416), "{codes:?}");
    let s = t.get(&loc).await;
    assert_eq!(header(&s, "range").as_deref(), Some("0-3"));
}

#[tokio::test]
async fn stale_upload_sessions_are_purged() {
    let t = start().await;
    let loc = t.open_upload("a").await;
    t.patch(&loc, Some("0-2"), b"abc").await;
    // Nothing is older than a day yet.
    assert_eq!(
        t.server
            .registry()
            .purge_stale_uploads(86_400)
            .await
            .unwrap(),
        0
    );
    assert_eq!(t.get(&loc).await.status(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(t.server.registry().purge_stale_uploads(0).await.unwrap(), 1);
    expect_error(t.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}
