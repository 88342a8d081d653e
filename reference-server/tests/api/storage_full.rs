//! Out of space: a clear, retryable answer (507 with `Retry-After`, never 500 `UNSUPPORTED`),
//! the server stays up, and nothing half-written is left behind.

use crate::common::*;
use oci_reference_server::{Config, StorageConfig};
use serde_json::json;
use std::process::Command;

/// A 2 MiB tmpfs mounted on a fresh directory, unmounted on drop. None where mounting is not
/// allowed (not root, no mount namespace rights).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: detaches at once even if a file on it is still open, so no mount outlives the
        // test (the directory is then removed by TempDir).
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn expect_full(r: reqwest::Response) {
    assert_eq!(r.status(), 507);
    assert!(header(&r, "retry-after").is_some());
    expect_error(r, 507, "TOOMANYREQUESTS").await;
}

/// Regression: a full disk answered 500 `UNSUPPORTED` (read by clients as "feature absent").
#[tokio::test]
async fn full_disk_answers_507_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!(
            "SKIPPED full_disk_answers_507_and_loses_nothing: cannot mount a tmpfs here (needs root); \
             file_size_limit_answers_507_and_the_server_stays_up covers the same answer"
        );
        return;
    };
    let root = disk.dir.path().join("data");
    let config = Config {
        storage: StorageConfig::Filesystem(root.clone()),
        ..Config::memory()
    };
    let t = start_with(config.clone()).await;
    let (m, d) = t.push_image("full", "v1", json!({})).await;
    // Larger than the whole disk: refused as out of space.
    let big = vec![1u8; 3 << 20];
    let r = t
        .client
        .post(t.u(&format!("/v2/full/blobs/uploads/?digest={}", sha256(&big))))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    expect_full(r).await;
    // Fill the disk with a file of our own, then a new manifest cannot be persisted. (Moving
    // a tag to a stored manifest may still succeed: the record store reuses the space its file
    // already holds, and what it acknowledges is durable.)
    let filler = disk.dir.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 2 << 20]);
    let mut other: serde_json::Value = serde_json::from_slice(&m).unwrap();
    other["annotations"] = json!({ "new": "manifest" });
    let other = serde_json::to_vec(&other).unwrap();
    let r = t.put_manifest("full", "v2", OCI_MANIFEST, &other).await;
    expect_full(r).await;
    // Still up; the refused tag is not served; the old state is intact.
    assert_eq!(t.get("/v2/").await.status(), 200);
    expect_error(
        t.get("/v2/full/manifests/v2").await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
    std::fs::remove_file(&filler).unwrap();
    let small = t.push_blob("full", b"after the disk was freed").await;
    t.server.shutdown().await;
    let t = start_with(config).await;
    let r = t.get("/v2/full/manifests/v1").await;
    assert_eq!(
        header(&r, "docker-content-digest").as_deref(),
        Some(d.as_str())
    );
    expect_error(
        t.get("/v2/full/manifests/v2").await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
    assert_eq!(
        t.get(&format!("/v2/full/blobs/{small}")).await.status(),
        200
    );
    let leftovers: Vec<_> = std::fs::read_dir(root.join("tmp")).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "half-written files left: {leftovers:?}"
    );
}

/// The same answer without mounting anything: the binary runs with an 8 MiB file size limit
/// (`RLIMIT_FSIZE`; the record store starts at about 1.5 MiB), so writing a larger blob fails
/// in the kernel (EFBIG).
#[cfg(unix)]
#[tokio::test]
async fn file_size_limit_answers_507_and_the_server_stays_up() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--root"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .env_remove("RUST_LOG");
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 8 << 20,
                rlim_max: 8 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Writes past the limit then fail with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    let client = reqwest::Client::new();
    let big = vec![2u8; 12 << 20];
    let r = client
        .post(format!(
            "{url}/v2/fsize/blobs/uploads/?digest={}",
            sha256(&big)
        ))
        .body(big)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = header(&r, "retry-after");
    let body = r.text().await.unwrap();
    let up = client
        .get(format!("{url}/v2/"))
        .send()
        .await
        .map(|r| r.status());
    let small = client
        .post(format!(
            "{url}/v2/fsize/blobs/uploads/?digest={}",
            sha256(b"small")
        ))
        .body(&b"small"[..])
        .send()
        .await
        .map(|r| r.status());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 507, "{body}");
    assert!(retry.is_some());
    assert!(body.contains("TOOMANYREQUESTS"), "{body}");
    assert_eq!(up.unwrap(), 200);
    assert_eq!(small.unwrap(), 201);
}
