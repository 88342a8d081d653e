//! Keeping a store healthy: damaged indexes, `check`, garbage collection, upload expiry.

use crate::common::*;
use oci_reference_server::{spawn, Config, StorageConfig};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fs_config(dir: &Path) -> Config {
    Config {
        storage: StorageConfig::Filesystem(dir.to_path_buf()),
        ..Config::memory()
    }
}

fn index_file(root: &Path) -> PathBuf {
    root.join("index.redb")
}

/// Where an earlier version kept a repository's document (any `.json` name is read).
fn legacy_document(root: &Path, repo: &str) -> PathBuf {
    root.join("repositories")
        .join(format!("{}.json", repo.replace('/', "-")))
}

fn blob_file(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    root.join("blobs/sha256").join(&hex[..2]).join(hex)
}

fn run(root: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Regression: a damaged index was skipped at start-up (the repository vanished) and the next
/// push to that repository overwrote it, losing its tags for good. Now a repository document
/// of an earlier version that cannot be read stops the start, and is left as it was.
#[tokio::test]
async fn damaged_index_refuses_start_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    t.push_image("a/b", "v1", json!({})).await;
    t.server.shutdown().await;
    let file = legacy_document(dir.path(), "a/b");
    let doc = br#"{"name":"a/b","blobs":[],"manifests":{},"tags":{"v0":"sha256:"#;
    std::fs::write(&file, doc).unwrap();
    let err = spawn(fs_config(dir.path()))
        .await
        .err()
        .expect("refuses to start");
    let msg = err.to_string();
    assert!(msg.contains("damaged"), "{msg}");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("check --repair"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), doc);
}

/// The record store itself damaged: the server refuses to start (naming the file, which is
/// left untouched) rather than start empty; `check --repair` moves it aside.
#[tokio::test]
async fn damaged_record_store_refuses_start_until_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    t.push_image("a/b", "v1", json!({})).await;
    t.server.shutdown().await;
    let file = index_file(dir.path());
    let mut data = std::fs::read(&file).unwrap();
    data[..64].fill(0x5A);
    std::fs::write(&file, &data).unwrap();
    let err = spawn(fs_config(dir.path()))
        .await
        .err()
        .expect("refuses to start");
    let msg = err.to_string();
    assert!(msg.contains("damaged"), "{msg}");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("check --repair"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), data);
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unreadable record store"), "{out}");
    let (code, out) = run(dir.path(), &["check", "--repair"]);
    assert_eq!(code, 0, "{out}");
    let aside: Vec<_> = std::fs::read_dir(dir.path().join("damaged"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(&aside[0]).unwrap(),
        data,
        "kept aside as it was"
    );
    let t = start_with(fs_config(dir.path())).await;
    expect_error(t.get("/v2/a/b/tags/list").await, 404, "NAME_UNKNOWN").await;
}

/// `check` names every problem and exits 1; `check --repair` moves the damaged index aside
/// and drops dangling entries, after which the server starts and serves the rest.
#[tokio::test]
async fn check_reports_and_repair_lets_the_server_start() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    let (_, good) = t.push_image("good", "v1", json!({})).await;
    let lost = t
        .push_blob("dangling", b"this blob's file will vanish")
        .await;
    t.push_blob("dangling", b"this one stays").await;
    t.server.shutdown().await;
    let bad = legacy_document(dir.path(), "bad");
    std::fs::write(&bad, b"{\"name\":\"bad\",\"tags\":").unwrap();
    std::fs::remove_file(blob_file(dir.path(), &lost)).unwrap();

    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&bad.display().to_string()) && out.contains("unreadable"),
        "{out}"
    );
    assert!(
        out.contains(&format!("linked blob {lost} is missing")),
        "{out}"
    );
    assert!(out.contains("2 problem(s), 2 left unrepaired"), "{out}");

    let (code, out) = run(dir.path(), &["check", "--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(!bad.exists());
    let aside: Vec<_> = std::fs::read_dir(dir.path().join("damaged"))
        .unwrap()
        .collect();
    assert_eq!(aside.len(), 1, "the damaged index is kept aside");
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!((code, out.trim()), (0, "0 problem(s), 0 left unrepaired"));

    let t = start_with(fs_config(dir.path())).await;
    let r = t.get("/v2/good/manifests/v1").await;
    assert_eq!(
        header(&r, "docker-content-digest").as_deref(),
        Some(good.as_str())
    );
    expect_error(
        t.get(&format!("/v2/dangling/blobs/{lost}")).await,
        404,
        "BLOB_UNKNOWN",
    )
    .await;
}

/// A record that cannot be read is reported with its key; repair sets it aside (under
/// `damaged/`), drops the tags naming it, and the rest of the repository is served.
#[tokio::test]
async fn unreadable_record_is_reported_and_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    let (_, broken) = t.push_image("r", "broken", json!({})).await;
    let (_, fine) = t
        .push_image("r", "fine", json!({"annotations": {"k": "v"}}))
        .await;
    t.server.shutdown().await;
    let key = format!("repositories/r/_manifests/{broken}");
    {
        use oci_reference_server::storage::{RecordOp, Storage};
        let st = oci_reference_server::storage::FsStorage::open(dir.path())
            .await
            .unwrap();
        st.write_records(vec![RecordOp::Put(key.clone(), "{\"media_type\":".into())])
            .await
            .unwrap();
    }
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&key) && out.contains("unreadable record"),
        "{out}"
    );
    assert!(
        out.contains(&format!("tag broken names missing manifest {broken}")),
        "{out}"
    );
    let (code, out) = run(dir.path(), &["check", "--repair"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!((code, out.trim()), (0, "0 problem(s), 0 left unrepaired"));
    let t = start_with(fs_config(dir.path())).await;
    let v: serde_json::Value = t.get("/v2/r/tags/list").await.json().await.unwrap();
    assert_eq!(v["tags"], json!(["fine"]));
    let r = t.get("/v2/r/manifests/fine").await;
    assert_eq!(
        header(&r, "docker-content-digest").as_deref(),
        Some(fine.as_str())
    );
}

/// Repository documents of earlier versions are imported into the index once, at start-up,
/// then moved to `repositories/imported/`.
#[tokio::test]
async fn repository_documents_of_earlier_versions_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    let (m, d) = t.push_image("new", "v1", json!({})).await;
    let extra = t.push_blob("new", b"only linked by the old document").await;
    let manifest: serde_json::Value = serde_json::from_slice(&m).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    t.server.shutdown().await;
    let doc = json!({
        "name": "old/repo",
        "blobs": [config, layer, extra],
        "manifests": { &d: { "media_type": OCI_MANIFEST, "size": m.len() } },
        "tags": { "v1": &d, "latest": &d },
    });
    let file = legacy_document(dir.path(), "old/repo");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let t = start_with(fs_config(dir.path())).await;
    assert!(!file.exists());
    assert!(dir
        .path()
        .join("repositories/imported/old-repo.json")
        .exists());
    let v: serde_json::Value = t.get("/v2/old/repo/tags/list").await.json().await.unwrap();
    assert_eq!(v["tags"], json!(["latest", "v1"]));
    let r = t.get("/v2/old/repo/manifests/latest").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), m);
    assert_eq!(
        t.get(&format!("/v2/old/repo/blobs/{extra}")).await.status(),
        200
    );
    let v: serde_json::Value = t.get("/v2/_catalog").await.json().await.unwrap();
    assert_eq!(v["repositories"], json!(["new", "old/repo"]));
}

/// Regression: deletes only unlinked; the data stayed on disk forever.
#[tokio::test]
async fn gc_frees_unreferenced_blobs_only() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    t.push_image("r", "v1", json!({})).await;
    let unlinked = t.push_blob("r", b"unlinked later").await;
    let shared = t.push_blob("r", b"also in another repository").await;
    t.push_blob("other", b"also in another repository").await;
    let cfg = t.push_blob("r", b"{}").await;
    let doomed = image_manifest(&cfg, 2, &[], json!({"annotations": {"x": "doomed"}}));
    assert_eq!(
        t.put_manifest("r", "doomed", OCI_MANIFEST, &doomed)
            .await
            .status(),
        201
    );
    let doomed_d = sha256(&doomed);
    for path in [
        format!("/v2/r/blobs/{unlinked}"),
        format!("/v2/r/blobs/{shared}"),
        format!("/v2/r/manifests/{doomed_d}"),
    ] {
        assert_eq!(t.req(Method::DELETE, &path).await.status(), 202, "{path}");
    }
    let reg = t.server.registry();
    let dry = reg.collect_garbage(true).await.unwrap();
    let mut would: Vec<String> = dry.blobs.iter().map(|(d, _)| d.to_string()).collect();
    would.sort();
    let mut want = vec![unlinked.clone(), doomed_d.clone()];
    want.sort();
    assert_eq!(would, want);
    assert!(
        blob_file(dir.path(), &unlinked).exists(),
        "a dry run deletes nothing"
    );
    let done = reg.collect_garbage(false).await.unwrap();
    assert_eq!(done.blobs.len(), 2);
    assert_eq!(done.bytes, dry.bytes);
    assert!(!blob_file(dir.path(), &unlinked).exists());
    assert!(!blob_file(dir.path(), &doomed_d).exists());
    assert!(
        blob_file(dir.path(), &shared).exists(),
        "still linked by another repository"
    );
    assert_eq!(t.get("/v2/r/manifests/v1").await.status(), 200);
    assert_eq!(
        t.get(&format!("/v2/other/blobs/{shared}")).await.status(),
        200
    );
}

/// A blob pushed or mounted while collections run back to back is never collected, even when
/// its only other link is deleted at the same moment.
#[tokio::test]
async fn gc_during_pushes_and_mounts_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = std::sync::Arc::new(start_with(fs_config(dir.path())).await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (t, stop) = (t.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && runs < 5000 {
                t.server.registry().collect_garbage(false).await.unwrap();
                runs += 1;
                tokio::task::yield_now().await;
            }
            runs
        })
    };
    let mut mounted = Vec::new();
    for i in 0..40 {
        let data = format!("blob number {i}").into_bytes();
        let d = t.push_blob("src", &data).await;
        let mount = t
            .client
            .post(t.u(&format!("/v2/dst/blobs/uploads/?mount={d}&from=src")))
            .send();
        let unlink = t.client.delete(t.u(&format!("/v2/src/blobs/{d}"))).send();
        let (m, u) = tokio::join!(mount, unlink);
        assert_eq!(u.unwrap().status(), 202);
        if m.unwrap().status() == 201 {
            mounted.push((d, data));
        }
        let chunked = format!("chunked number {i}").into_bytes();
        let loc = t.open_upload("src").await;
        let cd = sha256(&chunked);
        let r = t
            .client
            .put(t.u(&format!("{loc}?digest={cd}")))
            .body(chunked.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        mounted.push((cd, chunked));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = collector.await.unwrap();
    assert!(runs > 0);
    assert!(mounted.len() >= 40);
    for (d, data) in mounted {
        let repo = if data.starts_with(b"chunked") {
            "src"
        } else {
            "dst"
        };
        let r = t.get(&format!("/v2/{repo}/blobs/{d}")).await;
        assert_eq!(r.status(), 200, "{repo} {d} lost after {runs} collections");
        assert_eq!(r.bytes().await.unwrap(), data);
    }
}

/// `gc --dry-run` reports what would be freed and frees nothing; `gc` frees it.
#[tokio::test]
async fn gc_command_dry_run_reports_what_would_be_freed() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    t.push_image("r", "v1", json!({})).await;
    let d = t.push_blob("r", b"to be freed").await;
    assert_eq!(
        t.req(Method::DELETE, &format!("/v2/r/blobs/{d}"))
            .await
            .status(),
        202
    );
    t.server.shutdown().await;
    let (code, out) = run(dir.path(), &["gc", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{d} 11")), "{out}");
    assert!(out.contains("would free 1 blob(s), 11 bytes"), "{out}");
    assert!(blob_file(dir.path(), &d).exists());
    let (code, out) = run(dir.path(), &["gc"]);
    assert_eq!(code, 0);
    assert!(out.contains("freed 1 blob(s), 11 bytes"), "{out}");
    assert!(!blob_file(dir.path(), &d).exists());
}

fn set_old(path: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let f = std::fs::File::open(path).unwrap();
    f.set_modified(old).unwrap();
}

/// Regression: sessions expired by creation time (a busy upload was purged), and sessions with
/// a missing or unreadable state file were skipped forever.
#[tokio::test]
async fn uploads_expire_by_idle_time_and_broken_sessions_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_with(fs_config(dir.path())).await;
    let busy = t.open_upload("u").await;
    let idle = t.open_upload("u").await;
    let broken = t.open_upload("u").await;
    let fresh_broken = t.open_upload("u").await;
    let session_dir = |loc: &str| {
        dir.path()
            .join("uploads")
            .join(loc.rsplit('/').next().unwrap())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Created two hours ago, written to just now.
    assert_eq!(t.patch(&busy, Some("0-4"), b"hello").await.status(), 202);
    let state = session_dir(&busy).join("state.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    meta["created"] = json!(now - 7200);
    std::fs::write(&state, meta.to_string()).unwrap();
    // Created two hours ago, never used since.
    let state = session_dir(&idle).join("state.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    meta["created"] = json!(now - 7200);
    std::fs::write(&state, meta.to_string()).unwrap();
    // State lost two hours ago; and one whose state just went missing.
    for loc in [&broken, &fresh_broken] {
        std::fs::remove_file(session_dir(loc).join("state.json")).unwrap();
    }
    set_old(&session_dir(&broken).join("data"));
    set_old(&session_dir(&broken));
    // Restart, so no session is cached in memory.
    t.server.shutdown().await;
    let t = start_with(fs_config(dir.path())).await;
    // The server's own purger also runs once at start-up and may take `broken` first, so the
    // count returned here is not the measure: what is left afterwards is.
    t.server.registry().purge_stale_uploads(3600).await.unwrap();
    assert_eq!(t.get(&busy).await.status(), 204);
    expect_error(t.get(&idle).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert!(!session_dir(&broken).exists());
    assert!(
        session_dir(&fresh_broken).exists(),
        "within its grace period"
    );
}
