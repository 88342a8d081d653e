use crate::common::*;
use oci_reference_server::{Config, StorageConfig};
use reqwest::Method;
use serde_json::json;

fn fs_config(dir: &std::path::Path) -> Config {
    Config {
        storage: StorageConfig::Filesystem(dir.to_path_buf()),
        ..Config::memory()
    }
}

#[tokio::test]
async fn filesystem_backend_keeps_everything_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (m, d, b) = {
        let t = start_with(fs_config(dir.path())).await;
        let (m, d) = t.push_image("a/b", "v1", json!({})).await;
        let b = t.push_blob("a/b", b"kept").await;
        assert_eq!(
            t.req(Method::DELETE, "/v2/a/b/manifests/v1").await.status(),
            202
        );
        assert_eq!(
            t.put_manifest("a/b", "v2", OCI_MANIFEST, &m).await.status(),
            201
        );
        t.server.shutdown().await;
        (m, d, b)
    };
    let t = start_with(fs_config(dir.path())).await;
    let r = t.get("/v2/a/b/manifests/v2").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d);
    assert_eq!(r.bytes().await.unwrap(), m);
    expect_error(t.get("/v2/a/b/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    let r = t.get(&format!("/v2/a/b/blobs/{b}")).await;
    assert_eq!(r.bytes().await.unwrap(), &b"kept"[..]);
}

#[tokio::test]
async fn upload_session_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let loc = {
        let t = start_with(fs_config(dir.path())).await;
        let loc = t.open_upload("a").await;
        assert_eq!(t.patch(&loc, Some("0-4"), b"hello").await.status(), 202);
        t.server.shutdown().await;
        loc
    };
    let t = start_with(fs_config(dir.path())).await;
    let s = t.get(&loc).await;
    assert_eq!(s.status(), 204);
    assert_eq!(header(&s, "range").as_deref(), Some("0-4"));
    expect_error(
        t.patch(&loc, Some("0-4"), b"hello").await,
        416,
        "BLOB_UPLOAD_INVALID",
    )
    .await;
    assert_eq!(t.patch(&loc, Some("5-10"), b" world").await.status(), 202);
    let d = sha256(b"hello world");
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        t.get(&format!("/v2/a/blobs/{d}"))
            .await
            .bytes()
            .await
            .unwrap(),
        &b"hello world"[..]
    );
}

#[tokio::test]
async fn filesystem_backend_serves_the_whole_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let d = t.push_blob("big", &data).await;
    let r = t
        .client
        .get(t.u(&format!("/v2/big/blobs/{d}")))
        .header("range", "bytes=1000000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == data[1_000_000..]);
    let r = t
        .client
        .post(t.u(&format!("/v2/other/blobs/uploads/?mount={d}&from=big")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, md) = t.push_image("big", "v", json!({})).await;
    assert_eq!(
        t.req(Method::DELETE, &format!("/v2/big/manifests/{md}"))
            .await
            .status(),
        202
    );
    let loc = t.open_upload("big").await;
    assert_eq!(t.req(Method::DELETE, &loc).await.status(), 204);
    expect_error(t.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn concurrent_pushes_to_one_repository_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let t = std::sync::Arc::new(start_with(fs_config(dir.path())).await);
    let cfg = t.push_blob("c", b"{}").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let t = t.clone();
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let m = image_manifest(&cfg, 2, &[], json!({"annotations": {"i": i.to_string()}}));
            let r = t
                .put_manifest("c", &format!("t{i:02}"), OCI_MANIFEST, &m)
                .await;
            assert_eq!(r.status(), 201);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let v: serde_json::Value = t.get("/v2/c/tags/list").await.json().await.unwrap();
    assert_eq!(v["tags"].as_array().unwrap().len(), 16);
}

/// Regression: a blob over 8 MiB got its 201 while its fsync still ran on a detached thread
/// (under a `pending/` marker), so a power cut right after the answer lost an acknowledged
/// blob. Now the commit is synchronous: no background sync, so no marker directory at all.
#[tokio::test]
async fn large_blob_is_durable_when_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    let data: Vec<u8> = (0..(24u32 << 20)).map(|i| (i % 251) as u8).collect();
    let loc = t.open_upload("big").await;
    let d = sha256(&data);
    let r = t
        .client
        .put(t.u(&format!("{loc}?digest={d}")))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        !dir.path().join("pending").exists(),
        "blobs are still synced in the background, after their acknowledgement"
    );
    let r = t.get(&format!("/v2/big/blobs/{d}")).await;
    assert!(r.bytes().await.unwrap() == data);
}

/// The server binary on `root`, its URL read from its first line of output.
fn start_binary(root: &std::path::Path) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
        .args(["--listen", "127.0.0.1:0", "--root"])
        .arg(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .env_remove("RUST_LOG")
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}

/// Every write acknowledged before a `kill -9` (no shutdown, no flush) is there after a
/// restart: blob links, manifests, tags moved and deleted, a deleted manifest stays deleted.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start_binary(dir.path());
    // `T`'s request helpers use only `client` and `url`: they talk to the binary here, and the
    // in-process server the struct carries stays idle.
    let t = T {
        server: oci_reference_server::spawn(Config::memory()).await.unwrap(),
        client: reqwest::Client::new(),
        url,
    };
    let cfg = t.push_blob("k/r", b"{}").await;
    let mut tagged = Vec::new();
    for i in 0..20 {
        let m = image_manifest(&cfg, 2, &[], json!({"annotations": {"i": i.to_string()}}));
        assert_eq!(
            t.put_manifest("k/r", &format!("t{i:02}"), OCI_MANIFEST, &m)
                .await
                .status(),
            201
        );
        tagged.push(sha256(&m));
    }
    assert_eq!(
        t.req(Method::DELETE, "/v2/k/r/manifests/t03")
            .await
            .status(),
        202
    );
    let gone = tagged[5].clone();
    assert_eq!(
        t.req(Method::DELETE, &format!("/v2/k/r/manifests/{gone}"))
            .await
            .status(),
        202
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (mut child, url) = start_binary(dir.path());
    let t = T { url, ..t };
    let v: serde_json::Value = t.get("/v2/k/r/tags/list").await.json().await.unwrap();
    let want: Vec<String> = (0..20)
        .filter(|i| *i != 3 && *i != 5)
        .map(|i| format!("t{i:02}"))
        .collect();
    assert_eq!(v["tags"], json!(want));
    for i in [0, 19] {
        let r = t.get(&format!("/v2/k/r/manifests/t{i:02}")).await;
        assert_eq!(header(&r, "docker-content-digest"), Some(tagged[i].clone()));
    }
    expect_error(
        t.get(&format!("/v2/k/r/manifests/{gone}")).await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
    assert_eq!(t.get(&format!("/v2/k/r/blobs/{cfg}")).await.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
