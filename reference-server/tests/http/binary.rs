//! The binary: flags, env fallbacks, the URL line on stdout, graceful exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"));
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = Child(cmd.spawn().expect("binary starts"));
    let stdout = child.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("URL line");
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    (child, url)
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = libc::pid_t::try_from(child.0.id()).unwrap();
    // SAFETY: signalling a child we spawned and have not reaped (so the pid is still ours).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    for _ in 0..100 {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not exit within 5 s of SIGTERM");
}

#[tokio::test]
async fn binary_serves_and_exits_cleanly_on_sigterm() {
    let (child, url) = start(&["--memory", "--listen", "127.0.0.1:0"], &[]);
    let r = reqwest::get(format!("{url}/v2/")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(terminate(child).success());
}

#[tokio::test]
async fn flags_env_and_config_file_switch_features_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.toml");
    std::fs::write(&cfg, "delete_blobs = false\nreferrers = false\n").unwrap();
    let root = dir.path().join("data");
    let (child, url) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--root",
            root.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[("OCI_SERVER_READ_ONLY", "true")],
    );
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{url}/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "read-only from the environment");
    let d = format!("sha256:{}", "0".repeat(64));
    let r = c
        .get(format!("{url}/v2/a/referrers/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "referrers off from the file");
    assert!(root.join("blobs").is_dir(), "filesystem root created");
    assert!(terminate(child).success());
}

#[test]
fn help_lists_every_switch() {
    let out = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--root",
        "--memory",
        "--config",
        "--no-delete-manifests",
        "--no-delete-tags",
        "--no-delete-blobs",
        "--no-referrers",
        "--no-auto-mount",
        "--no-cross-mount",
        "--no-single-post",
        "--chunk-min-length",
        "--max-manifest-size",
        "--read-only",
        "--sparse-manifests",
        "--no-tag-param",
        "--max-tags-per-push",
        "--tag-page-size",
        "--referrers-page-size",
        "OCI_SERVER_",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}
