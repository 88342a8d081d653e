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
    start_logging(args, envs, Stdio::null())
}

/// Like `start`, with stderr (the log) sent to `stderr`.
fn start_logging(args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"));
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
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
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
        "{url:?}"
    );
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
    std::fs::write(
        &cfg,
        "delete_blobs = false\nreferrers = false\ncatalog = false\n",
    )
    .unwrap();
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
    let r = c.get(format!("{url}/v2/_catalog")).send().await.unwrap();
    assert_eq!(r.status(), 404, "catalog off from the file");
    assert!(root.join("blobs").is_dir(), "filesystem root created");
    assert!(terminate(child).success());
}

/// Layers: the environment overrides the file in both directions, not only to switch off.
#[tokio::test]
async fn environment_overrides_the_config_file_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.toml");
    std::fs::write(&cfg, "read_only = true\ncatalog = true\n").unwrap();
    let (child, url) = start(
        &[
            "--memory",
            "--listen",
            "127.0.0.1:0",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[
            ("OCI_SERVER_READ_ONLY", "false"),
            ("OCI_SERVER_NO_CATALOG", "true"),
        ],
    );
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{url}/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        202,
        "read_only = true undone by the environment"
    );
    let r = c.get(format!("{url}/v2/_catalog")).send().await.unwrap();
    assert_eq!(r.status(), 404, "catalog switched off by the environment");
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
        "--no-catalog",
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
        "--auth",
        "--htpasswd",
        "--access",
        "--anonymous-pull",
        "--auth-service",
        "--auth-realm",
        "--token-ttl",
        "--tls-cert",
        "--tls-key",
        "--hash-password",
        "OCI_SERVER_",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

/// `--hash-password` reads stdin and prints an htpasswd line.
fn hash_password(user: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
        .args(["--hash-password", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn hashed_passwords_rules_and_auth_flags_from_the_environment() {
    let line = hash_password("alice", "s3cret pw");
    assert!(line.starts_with("alice:$2b$10$"), "{line}");
    assert!(line.ends_with('\n') && !line.contains("s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("# made by --hash-password\n{line}")).unwrap();
    let log = dir.path().join("log");
    let (child, url) = start_logging(
        &["--memory", "--listen", "127.0.0.1:0"],
        &[
            ("OCI_SERVER_AUTH", "token"),
            ("OCI_SERVER_HTPASSWD", htpasswd.to_str().unwrap()),
            ("OCI_SERVER_ACCESS", "alice:a:pull;alice,bob:b/*:pull,push"),
            ("OCI_SERVER_TOKEN_TTL", "77"),
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let c = reqwest::Client::new();
    let r = c.get(format!("{url}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{url}/token"))
        .query(&[
            ("scope", "repository:a:pull,push"),
            ("scope", "repository:b/x:push"),
        ])
        .basic_auth("alice", Some("s3cret pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["expires_in"], 77);
    let payload = v["token"].as_str().unwrap().split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["access"],
        serde_json::json!([
            {"type": "repository", "name": "a", "actions": ["pull"]},
            {"type": "repository", "name": "b/x", "actions": ["push"]},
        ])
    );
    assert!(terminate(child).success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("alice"),
        "the startup log names the users: {log}"
    );
    assert!(!log.contains("$2b$"), "the startup log shows a hash: {log}");
}

#[test]
fn auth_and_tls_flags_are_checked() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
            .args(["--memory", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(run(&["--auth", "basic"]).contains("--htpasswd"));
    assert!(run(&["--auth", "kerberos"]).contains("kerberos"));
    assert!(run(&["--htpasswd", "/nonexistent"]).contains("--auth"));
    let e = run(&["--auth", "basic", "--htpasswd", "/nonexistent/htpasswd"]);
    assert!(e.contains("/nonexistent/htpasswd"), "{e}");
    assert!(run(&["--tls-cert", "c.pem"]).contains("--tls-key"));
    let e = run(&["--tls-cert", "/nonexistent/c.pem", "--tls-key", "k.pem"]);
    assert!(e.contains("/nonexistent/c.pem"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("htpasswd");
    std::fs::write(&h, "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n").unwrap();
    let e = run(&["--auth", "basic", "--htpasswd", h.to_str().unwrap()]);
    assert!(e.contains("line 1") && !e.contains("W6ph5"), "{e}");
    let e = run(&[
        "--auth",
        "basic",
        "--htpasswd",
        h.to_str().unwrap(),
        "--access",
        "alice:x:pull,fly",
    ]);
    assert!(e.contains("line 1") || e.contains("fly"), "{e}");
}

#[tokio::test]
async fn tls_flags_serve_https() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let (child, url) = start(
        &[
            "--memory",
            "--listen",
            "127.0.0.1:0",
            "--tls-key",
            k.to_str().unwrap(),
        ],
        &[("OCI_SERVER_TLS_CERT", c.to_str().unwrap())],
    );
    assert!(url.starts_with("https://"), "{url}");
    // HTTP/1.1: graceful h2 shutdown waits for the client to answer a PING, which this test's
    // runtime cannot do while `terminate` blocks it (h2 is covered in tls.rs).
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("{url}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(terminate(child).success());
}

/// The request log shows the query (mount sources, digests, paging) so a misbehaving client can
/// be read from it, and never a password or token, even one sent in the query.
#[tokio::test]
async fn request_log_shows_queries_but_no_secrets() {
    let password = "pw-in-the-query-7f3a";
    let line = hash_password("alice", password);
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, line).unwrap();
    let log = dir.path().join("log");
    let (child, url) = start_logging(
        &["--memory", "--listen", "127.0.0.1:0"],
        &[
            ("OCI_SERVER_AUTH", "token"),
            ("OCI_SERVER_HTPASSWD", htpasswd.to_str().unwrap()),
            ("RUST_LOG", "oci_reference_server=debug"),
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let c = reqwest::Client::new();
    // The OAuth2 password grant, sent the careless way: the password in the URL.
    let r = c
        .get(format!("{url}/token"))
        .query(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("scope", "repository:a/b:pull,push"),
            ("scope", "repository:c/d:pull"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    let digest = format!("sha256:{}", "0".repeat(64));
    let r = c
        .post(format!(
            "{url}/v2/a/b/blobs/uploads/?mount={digest}&from=c/d"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "an unknown blob opens a session instead");
    let r = c
        .get(format!("{url}/v2/a/b/tags/list?n=2&last=v1"))
        .query(&[("access_token", token.as_str())])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(terminate(child).success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("mount=sha256%3A0000") && log.contains("&from=c%2Fd"),
        "{log}"
    );
    assert!(log.contains("n=2&last=v1&access_token=***"), "{log}");
    assert!(
        log.contains("grant_type=password&username=***&password=***&scope=repository%3Aa%2Fb"),
        "{log}"
    );
    assert!(!log.contains(password), "the password is in the log: {log}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "the token is in the log: {log}");
}

/// `--storage s3://…` with an endpoint that does not answer: start-up fails with one clear
/// error naming the bucket (not later, on the first push), and the credentials taken from the
/// environment appear nowhere in the output.
#[test]
fn s3_storage_that_does_not_answer_fails_start_up_and_never_shows_credentials() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
        .args([
            "--storage",
            "s3://oci-test/prefix",
            "--s3-endpoint",
            &endpoint,
        ])
        .args(["--s3-allow-http", "--listen", "127.0.0.1:0"])
        .env("AWS_ACCESS_KEY_ID", "GKexampleaccesskeyid")
        .env("AWS_SECRET_ACCESS_KEY", "do-not-print-this-secret")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("s3://oci-test/prefix"), "{all}");
    assert!(!all.contains("do-not-print-this-secret"), "{all}");
    let bad = Command::new(env!("CARGO_BIN_EXE_oci-reference-server"))
        .args(["--storage", "s3://", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected s3://bucket[/prefix]"));
}
