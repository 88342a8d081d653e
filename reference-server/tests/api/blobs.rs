use crate::common::*;
use oci_reference_server::Config;
use reqwest::Method;

#[tokio::test]
async fn blob_get_and_head_return_bytes_digest_and_length() {
    let t = start().await;
    let d = t.push_blob("a/b", b"hello world").await;
    let r = t.get(&format!("/v2/a/b/blobs/{d}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-content-digest").as_deref(),
        Some(d.as_str())
    );
    assert_eq!(header(&r, "content-length").as_deref(), Some("11"));
    assert_eq!(header(&r, "accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(r.bytes().await.unwrap(), &b"hello world"[..]);
    let r = t.req(Method::HEAD, &format!("/v2/a/b/blobs/{d}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("11"));
    assert_eq!(
        header(&r, "docker-content-digest").as_deref(),
        Some(d.as_str())
    );
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn empty_blob_round_trips() {
    let t = start().await;
    let d = t.push_blob("a", b"").await;
    let r = t.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("0"));
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_blob_is_404_blob_unknown_for_get_and_head() {
    let t = start().await;
    t.push_blob("a", b"x").await;
    let d = sha256(b"missing");
    expect_error(
        t.get(&format!("/v2/a/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
    expect_error(
        t.get(&format!("/v2/nope/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
    let r = t.req(Method::HEAD, &format!("/v2/a/blobs/{d}")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn blobs_are_only_visible_in_repositories_that_link_them() {
    let t = start().await;
    let d = t.push_blob("one", b"private").await;
    t.push_blob("two", b"other").await;
    expect_error(
        t.get(&format!("/v2/two/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn malformed_or_unsupported_blob_digests_are_400_digest_invalid() {
    let t = start().await;
    for d in [
        "sha256:abc",
        "sha256:BADDIGEST",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "nocolon",
    ] {
        expect_error(
            t.get(&format!("/v2/a/blobs/{d}")).await,
            400,
            "DIGEST_INVALID",
        )
        .await;
    }
}

async fn range(t: &T, d: &str, r: &str) -> reqwest::Response {
    t.client
        .get(t.u(&format!("/v2/a/blobs/{d}")))
        .header("range", r)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn range_requests_return_206_with_content_range() {
    let t = start().await;
    let data: Vec<u8> = (0..100u8).collect();
    let d = t.push_blob("a", &data).await;
    for (h, s, e) in [
        ("bytes=0-9", 0, 9),
        ("bytes=90-", 90, 99),
        ("bytes=-5", 95, 99),
        ("bytes=50-500", 50, 99),
    ] {
        let r = range(&t, &d, h).await;
        assert_eq!(r.status(), 206, "{h}");
        assert_eq!(
            header(&r, "content-range").unwrap(),
            format!("bytes {s}-{e}/100")
        );
        assert_eq!(
            header(&r, "content-length").unwrap(),
            (e - s + 1).to_string()
        );
        assert_eq!(r.bytes().await.unwrap(), &data[s..=e]);
    }
}

#[tokio::test]
async fn unsatisfiable_range_is_416_with_content_range_star() {
    let t = start().await;
    let d = t.push_blob("a", b"0123456789").await;
    for h in [
        "bytes=10-",
        "bytes=20-30",
        "bytes=-0",
        "bytes=5-2",
        "bytes=500-0",
    ] {
        let r = range(&t, &d, h).await;
        assert_eq!(header(&r, "content-range").as_deref(), Some("bytes */10"));
        expect_error(r, 416, "SIZE_INVALID").await;
    }
}

#[tokio::test]
async fn ignore_unsatisfiable_range_switch_sends_the_whole_blob() {
    let mut c = Config::memory();
    c.ignore_unsatisfiable_range = true;
    let t = start_with(c).await;
    let d = t.push_blob("a", b"0123456789").await;
    for h in ["bytes=10-", "bytes=500-0"] {
        let r = range(&t, &d, h).await;
        assert_eq!(r.status(), 200, "{h}");
        assert_eq!(r.bytes().await.unwrap(), &b"0123456789"[..]);
    }
    let r = range(&t, &d, "bytes=2-3").await;
    assert_eq!(r.status(), 206);
}

#[tokio::test]
async fn ignore_range_defect_ignores_every_range() {
    let mut c = Config::memory();
    c.defects = vec![oci_reference_server::config::Defect::IgnoreRange];
    let t = start_with(c).await;
    let d = t.push_blob("a", b"0123456789").await;
    let r = range(&t, &d, "bytes=2-3").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), &b"0123456789"[..]);
}

#[tokio::test]
async fn multiple_or_malformed_ranges_get_the_whole_blob() {
    let t = start().await;
    let d = t.push_blob("a", b"0123456789").await;
    for h in ["bytes=0-1,3-4", "bytes=x-2", "lines=1-2"] {
        let r = range(&t, &d, h).await;
        assert_eq!(r.status(), 200, "{h}");
        assert_eq!(r.bytes().await.unwrap(), &b"0123456789"[..]);
    }
}

#[tokio::test]
async fn delete_blob_unlinks_it_then_404() {
    let t = start().await;
    // Another blob keeps repository `a` alive (an emptied repository is gone: NAME_UNKNOWN).
    t.push_blob("a", b"stay").await;
    let d = t.push_blob("a", b"bye").await;
    let r = t.req(Method::DELETE, &format!("/v2/a/blobs/{d}")).await;
    assert_eq!(r.status(), 202);
    expect_error(
        t.get(&format!("/v2/a/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
    expect_error(
        t.req(Method::DELETE, &format!("/v2/a/blobs/{d}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
    expect_error(
        t.req(Method::DELETE, &format!("/v2/zzz/blobs/{d}")).await,
        404,
        "NAME_UNKNOWN",
    )
    .await;
    expect_error(
        t.req(Method::DELETE, "/v2/a/blobs/sha256:xyz").await,
        400,
        "DIGEST_INVALID",
    )
    .await;
}
