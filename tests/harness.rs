//! The harness itself: schema, engine verdicts against a purpose-built misbehaving registry,
//! reporters, and the CLI's exit codes.

use oci_conformance::engine::Engine;
use oci_conformance::http::Http;
use oci_conformance::repository::CaseContext;
use oci_conformance::results::Outcome;
use oci_conformance::spec::Suite;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::bin;

fn specs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs")
}

/// A spec directory with the real catalog and the test cases of tests/data.
fn test_specs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cases.json"),
        dir.path().join("cases.json"),
    )
    .unwrap();
    dir
}

#[test]
fn every_spec_file_validates_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(specs_dir().join("schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut checked = 0;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(specs_dir())
        .unwrap()
        .chain(std::fs::read_dir(root.join("tests/data/features")).unwrap())
        .map(|e| e.unwrap().path())
        .chain([root.join("tests/data/cases.json")]);
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".json") || name == "schema.json" || name == "requirements.json" {
            continue;
        }
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .take(5)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        checked += 1;
    }
    assert!(checked > 0);
    // And the schema is not vacuous: a misspelt key is rejected.
    let bad = serde_json::json!({"area": "x", "cases": [{"id": "a", "workflow": "pull",
        "title": "t", "requirements": ["R-001"], "level": "MUST",
        "steps": [{"request": {"path": "/v2/"}, "expect": {"statuss": [200]}}]}]});
    assert!(!validator.is_valid(&bad));
    // Nor does it admit a step of two kinds (the "exactly one of" the loader enforces).
    let two = serde_json::json!({"area": "x", "cases": [{"id": "a", "workflow": "pull",
        "title": "t", "requirements": ["R-001"], "level": "MUST",
        "steps": [{"request": {"path": "/v2/"}, "push": "img"}]}]});
    assert!(!validator.is_valid(&two));
}

#[test]
fn the_loader_rejects_what_the_schema_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    let write = |body: &str| std::fs::write(dir.path().join("x.json"), body).unwrap();
    let case = |steps: &str, content: &str, reqs: &str| {
        format!(
            r#"{{"area":"x","cases":[{{"id":"x/a","workflow":"pull","title":"t",
            "requirements":[{reqs}],"level":"MUST","content":{{{content}}},"steps":[{steps}]}}]}}"#
        )
    };
    write(&case(r#"{"request":{"path":"/v2/"}}"#, "", r#""R-999""#));
    assert!(Suite::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("R-999"));
    write(&case(
        r#"{"request":{"path":"/v2/${nope.digest}"}}"#,
        "",
        r#""R-001""#,
    ));
    assert!(Suite::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("nope"));
    write(&case(
        r#"{"request":{"path":"/v2/${later}"}},{"request":{"path":"/v2/"},"capture":{"later":{"header":"X"}}}"#,
        "",
        r#""R-001""#,
    ));
    assert!(Suite::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("later"));
    write(&case(
        r#"{"push":"img"}"#,
        r#""img":{"image":{"config":"missing"}}"#,
        r#""R-001""#,
    ));
    assert!(Suite::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("missing"));
    write(&case(
        r#"{"request":{"path":"/v2/"},"expect":{"statuss":[200]}}"#,
        "",
        r#""R-001""#,
    ));
    assert!(Suite::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("statuss"));
}

/// A registry that answers every request with the same canned response, or never answers.
async fn canned_registry(response: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    // One read per request is enough for the small requests these tests send.
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    match response {
                        Some(r) => {
                            if sock.write_all(r.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        None => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn engine(url: &str, timeout: Duration) -> Engine {
    Engine {
        http: Http::new(url, timeout, 1 << 20, None).unwrap(),
        ctx: CaseContext {
            namespace: "t".into(),
            namespace2: "t".into(),
            run_id: "r".into(),
            seed: 1,
            layout: Default::default(),
            spec_version: oci_conformance::spec::SpecVersion::Dev,
        },
        suite: Arc::new(Suite::load(test_specs().path()).unwrap()),
    }
}

fn case<'a>(e: &'a Engine, id: &str) -> &'a (PathBuf, oci_conformance::spec::Case) {
    e.suite
        .cases
        .iter()
        .find(|(_, c)| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

#[tokio::test]
async fn a_registry_that_says_yes_to_everything_fails_the_404_case() {
    let url = canned_registry(Some(
        "HTTP/1.1 201 Created\r\nLocation: /v2/x/blobs/uploads/1\r\nContent-Length: 2\r\n\r\n{}",
    ))
    .await;
    let e = engine(&url, Duration::from_secs(5));
    let (f, c) = case(&e, "pull/manifest/unknown-tag-404");
    let r = e.run_case(f, c).await;
    // Setup "succeeds" (201 everywhere), then the 404 check must fail, naming both statuses.
    assert_eq!(r.outcome, Outcome::Fail, "{:?}", r.message);
    assert!(r.message.unwrap().contains("expected status 404, got 201"));
    assert!(!r.transcript.is_empty());
}

#[tokio::test]
async fn a_hanging_registry_is_a_timeout_failure_not_a_hang() {
    let url = canned_registry(None).await;
    let e = engine(&url, Duration::from_millis(300));
    let (f, c) = case(&e, "pull/manifest/unknown-tag-404");
    let started = std::time::Instant::now();
    let r = e.run_case(f, c).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(r.outcome, Outcome::Error | Outcome::Fail));
    assert!(r.message.unwrap().contains("timed out"));
}

#[tokio::test]
async fn wrong_answers_fail_with_a_message_naming_expected_and_got() {
    // A "registry" whose every answer is 200 with a manifest-ish body: GET of an unknown tag
    // must be 404, so the check itself must fail (not error).
    let url = canned_registry(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("x.json"),
        r#"{"area":"x","cases":[{"id":"x/missing","workflow":"pull","title":"t",
        "requirements":["R-022"],"level":"MUST","steps":[
        {"request":{"path":"/v2/${repo}/manifests/nope"},"expect":{"status":[404],"error_codes":["MANIFEST_UNKNOWN"]}}]}]}"#,
    )
    .unwrap();
    let mut e = engine(&url, Duration::from_secs(5));
    e.suite = Arc::new(Suite::load(dir.path()).unwrap());
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Fail);
    let m = r.message.unwrap();
    assert!(m.contains("expected status 404, got 200"), "{m}");
}

#[test]
fn the_official_suites_variables_drive_a_run() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(oci_reference_server::spawn(
            oci_reference_server::Config::memory(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let specs = test_specs();
    let out = bin()
        .env("OCI_CONFORMANCE_SPECS", specs.path())
        .env("OCI_REGISTRY", server.addr().to_string())
        .env("OCI_TLS", "disabled")
        .env("OCI_NAMESPACE", "myorg/ci")
        .env("OCI_TEST_PULL", "1")
        .env("OCI_TEST_PUSH", "false")
        .env("OCI_VERSION", "1.1")
        .args(["run", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(v["run"]["target"], format!("http://{}", server.addr()));
    assert_eq!(v["run"]["spec_version"], "1.1");
    let cases = v["cases"].as_array().unwrap();
    let ran: Vec<&serde_json::Value> = cases.iter().filter(|c| c["outcome"] != "skip").collect();
    assert!(!ran.is_empty());
    for c in &ran {
        assert_eq!(c["workflow"], "pull", "{}", c["id"]);
        for r in c["repositories"].as_array().unwrap() {
            assert!(r.as_str().unwrap().starts_with("myorg/ci/"), "{r}");
        }
    }

    // Not a boolean: a configuration error, before anything runs.
    let out = bin()
        .env("OCI_CONFORMANCE_SPECS", specs.path())
        .env("OCI_TEST_PUSH", "maybe")
        .args(["run", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OCI_TEST_PUSH"));
    rt.block_on(server.shutdown());
}

fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let specs = test_specs();
    let mut cmd = bin();
    if !args.contains(&"--specs") {
        cmd.env("OCI_CONFORMANCE_SPECS", specs.path());
    }
    let out = cmd
        .args(args)
        .arg("--report-dir")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_registry_that_never_answers_the_ping_is_a_quick_setup_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(canned_registry(None));
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    // A long --timeout must not make the ping wait that long.
    let (code, _, err) = run_in(dir.path(), &["run", "--url", &url, "--timeout", "120"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn exit_codes_bad_url_unreachable_nothing_selected() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_in(dir.path(), &["run", "--url", "ftp://x"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "run",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "2",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unreachable"), "{err}");
    let (code, _, err) = run_in(dir.path(), &["run", "--filter", "no-such-case-anywhere"]);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = run_in(dir.path(), &["run", "--specs", "/nonexistent-dir"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run_in(dir.path(), &["run", "--spec-version", "9.9"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn embedded_run_writes_all_three_reports_and_ends_with_the_count_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "run",
            "--spec-version",
            "dev",
            "--password",
            "s3cret-pw",
            "--username",
            "u",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let last = out.trim().lines().last().unwrap();
    let re = regex::Regex::new(r"^\d+ passed, 0 failed, \d+ skipped$").unwrap();
    assert!(re.is_match(last), "{last}");
    for f in ["junit.xml", "report.html", "results.json"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains("s3cret-pw"), "{f} leaks the password");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert!(results["summary"]["passed"].as_u64().unwrap() > 0);
    assert!(
        results["cases"][0]["requirements"][0]["statement"]
            .as_str()
            .unwrap()
            .len()
            > 5
    );
}

/// Parses the JUnit file with a real XML parser and checks the structure CI servers read.
fn junit_counts(path: &Path) -> (usize, usize, usize) {
    use quick_xml::events::Event;
    let xml = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut skipped) = (0, 0, 0);
    let mut stack: Vec<String> = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let (e, opens) = match &ev {
                    Event::Start(e) => (e, true),
                    Event::Empty(e) => (e, false),
                    _ => unreachable!(),
                };
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match name.as_str() {
                    "testcase" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testsuite"));
                        assert!(e
                            .attributes()
                            .any(|a| a.unwrap().key.as_ref() == b"classname"));
                        cases += 1
                    }
                    "failure" | "error" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testcase"));
                        failures += 1
                    }
                    "skipped" => skipped += 1,
                    "testsuite" => assert_eq!(stack.last().map(String::as_str), Some("testsuites")),
                    _ => {}
                }
                if opens {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures, skipped)
}

#[test]
fn junit_report_against_a_failing_registry_has_real_failure_elements() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(canned_registry(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    )));
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "run",
            "--url",
            &url,
            "--spec-version",
            "dev",
            "--timeout",
            "5",
            "--filter",
            "pull/",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let (cases, failures, _) = junit_counts(&dir.path().join("junit.xml"));
    assert!(cases > 0 && failures > 0, "{cases} {failures}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("curl -sS -i"),
        "failures carry a curl reproducer"
    );
}

#[test]
fn expected_failures_gate_on_regressions_only() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(canned_registry(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    )));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("xfail.json");
    let write = |ids: &[&str]| {
        let entries: Vec<String> = ids
            .iter()
            .map(|i| format!(r#"{{"case":"{i}","requirement":"R-022","reason":"test"}}"#))
            .collect();
        std::fs::write(
            &list,
            format!(r#"{{"expected_failures":[{}]}}"#, entries.join(",")),
        )
        .unwrap();
    };
    let args = |f: &str| -> Vec<String> {
        [
            "run",
            "--url",
            &url,
            "--spec-version",
            "dev",
            "--timeout",
            "5",
            "--filter",
            f,
            "--expected-failures",
            list.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let go = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run_in(dir.path(), &a)
    };
    write(&["pull/manifest/unknown-tag-404"]);
    let (code, out, err) = go(args("pull/manifest/unknown-tag-404"));
    assert_eq!(code, 0, "listed failure is expected: {out}\n{err}");
    write(&["no/such/case"]);
    let (code, _, err) = go(args("pull/manifest/unknown-tag-404"));
    assert_eq!(code, 2, "{err}");
    // An entry naming a requirement its case does not check excuses the wrong thing.
    std::fs::write(
        &list,
        r#"{"expected_failures":[{"case":"pull/manifest/unknown-tag-404","requirement":"R-150","reason":"x"}]}"#,
    )
    .unwrap();
    let (code, _, err) = go(args("pull/manifest/unknown-tag-404"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not check R-150"), "{err}");
    // And a reason is required.
    std::fs::write(
        &list,
        r#"{"expected_failures":[{"case":"pull/manifest/unknown-tag-404","reason":" "}]}"#,
    )
    .unwrap();
    let (code, _, err) = go(args("pull/manifest/unknown-tag-404"));
    assert_eq!(code, 2, "{err}");
    // Against the reference server the listed case passes: the stale entry fails the run.
    write(&["pull/manifest/unknown-tag-404"]);
    let a = [
        "run",
        "--spec-version",
        "dev",
        "--filter",
        "pull/manifest/unknown-tag-404",
        "--expected-failures",
        list.to_str().unwrap(),
    ];
    let (code, out, err) = run_in(dir.path(), &a);
    assert_eq!(code, 1, "{out}\n{err}");
}

#[test]
fn should_failures_fail_the_run_only_with_strict() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Conformant but for ignoring Range: the SHOULD Range check fails, nothing else does (a
    // registry saying 201 to everything would break MUSTs of the response contract too).
    let mut config = oci_reference_server::Config::memory();
    config.defects = vec![oci_reference_server::config::Defect::IgnoreRange];
    let server = rt.block_on(oci_reference_server::spawn(config)).unwrap();
    let url = server.url();
    // The case as written calls an ignored Range unsupported; here it is a plain SHOULD miss.
    let specs = test_specs();
    let file = specs.path().join("cases.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for case in doc["cases"].as_array_mut().unwrap() {
        for step in case["steps"].as_array_mut().unwrap() {
            step.as_object_mut().unwrap().remove("unsupported_if");
        }
    }
    std::fs::write(&file, doc.to_string()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "run",
        "--specs",
        specs.path().to_str().unwrap(),
        "--url",
        &url,
        "--spec-version",
        "dev",
        "--timeout",
        "5",
        "--filter",
        "pull/blob/range-suffix",
    ];
    let (code, out, err) = run_in(dir.path(), &base);
    assert_eq!(
        code, 0,
        "a SHOULD failure alone passes the run: {out}\n{err}"
    );
    assert!(
        err.contains("WARN pull/blob/range-suffix [SHOULD]"),
        "{err}"
    );
    assert_eq!(
        out.trim().lines().last(),
        Some("0 passed, 1 failed, 0 skipped")
    );
    let mut strict = base.to_vec();
    strict.push("--strict");
    let (code, out, err) = run_in(dir.path(), &strict);
    assert_eq!(code, 1, "--strict counts it: {out}\n{err}");
    rt.block_on(server.shutdown());
}

#[tokio::test]
async fn if_present_header_checks_and_error_body_if_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("x.json"),
        r#"{"area":"x","cases":[{"id":"x/if-present","workflow":"pull","title":"t",
        "requirements":["R-143"],"level":"MUST","steps":[
        {"request":{"path":"/v2/${repo}/manifests/nope"},"expect":{"status":[400],
          "error_body_if_json":true,
          "headers":{"Warning":{"matches_if_present":"^299 - \"[^\"]*\"$","max_total_bytes":20},
                     "Docker-Content-Digest":{"equals_if_present":"sha256:abc"}}}}]}]}"#,
    )
    .unwrap();
    let run = |response: &'static str| {
        let dir = dir.path().to_path_buf();
        async move {
            let url = canned_registry(Some(response)).await;
            let mut e = engine(&url, Duration::from_secs(5));
            e.suite = Arc::new(Suite::load(&dir).unwrap());
            let (f, c) = &e.suite.cases[0];
            e.run_case(f, c).await
        }
    };
    // Nothing optional sent, plain-text body: passes.
    let r = run("HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope").await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);
    // A spec error body and well-formed optional headers: passes.
    let r = run(
        "HTTP/1.1 400 Bad Request\r\nWarning: 299 - \"x\"\r\nDocker-Content-Digest: sha256:abc\r\n\
                 Content-Length: 42\r\n\r\n{\"errors\":[{\"code\":\"NAME_INVALID\",\"m\":1}]}",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);
    // JSON that is not the error format; a malformed Warning; another digest; too long.
    let r = run("HTTP/1.1 400 Bad Request\r\nWarning: 199 misc warning text\r\nDocker-Content-Digest: sha256:def\r\n\
                 Content-Length: 10\r\n\r\n{\"oops\":1}")
        .await;
    assert_eq!(r.outcome, Outcome::Fail);
    let m = r.message.unwrap();
    assert!(m.contains("JSON error body must follow"), "{m}");
    assert!(
        m.contains("Warning: `199 misc warning text` does not match"),
        "{m}"
    );
    assert!(m.contains("more than 20"), "{m}");
    assert!(m.contains("expected `sha256:abc` when present"), "{m}");
}

#[tokio::test]
async fn json_matches_fails_on_a_value_that_does_not_match() {
    let url = canned_registry(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"name\":\"x\",\"tags\":[\"a\",1]}",
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("x.json"),
        r#"{"area":"x","cases":[{"id":"x/matches","workflow":"discovery","title":"t",
        "requirements":["R-091"],"level":"MUST","steps":[
        {"request":{"path":"/v2/${repo}/tags/list"},"expect":{"status":[200],
          "json":[{"pointer":"/tags/*","matches":"^[a-z]$"},{"pointer":"/name","matches":"^y$"}]}}]}]}"#,
    )
    .unwrap();
    let mut e = engine(&url, Duration::from_secs(5));
    e.suite = Arc::new(Suite::load(dir.path()).unwrap());
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Fail);
    let m = r.message.unwrap();
    assert!(m.contains("/tags/*: 1 does not match"), "{m}");
    assert!(m.contains("/name: \"x\" does not match ^y$"), "{m}");
}

#[tokio::test]
async fn status_class_admits_its_class_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("x.json"),
        r#"{"area":"x","cases":[{"id":"x/class","workflow":"pull","title":"t",
        "requirements":["R-008"],"level":"MUST","steps":[
        {"request":{"path":"/v2/${repo}/manifests/v1"},"expect":{"status_class":"4xx"}}]}]}"#,
    )
    .unwrap();
    for (response, want) in [
        (
            "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n",
            Outcome::Pass,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Outcome::Fail,
        ),
    ] {
        let url = canned_registry(Some(response)).await;
        let mut e = engine(&url, Duration::from_secs(5));
        e.suite = Arc::new(Suite::load(dir.path()).unwrap());
        let (f, c) = &e.suite.cases[0];
        let r = e.run_case(f, c).await;
        assert_eq!(r.outcome, want, "{response}: {:?}", r.message);
    }
}

/// `run`, `fuzz` and `replay` share one target configuration: the same official fallbacks and
/// the same checks, each a configuration error (exit 2) before anything is sent.
#[test]
fn run_fuzz_and_replay_resolve_and_check_the_target_alike() {
    let dir = tempfile::tempdir().unwrap();
    let repro = dir.path().join("repro.json");
    std::fs::write(&repro, "{}").unwrap();
    let repro = repro.to_str().unwrap().to_string();
    let commands: [Vec<&str>; 3] = [
        vec!["run"],
        vec!["fuzz", "--cases", "1"],
        vec!["replay", &repro],
    ];
    // (flags, environment, what the one line says)
    type Bad<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let bad: [Bad; 5] = [
        (
            &["--namespace", "Upper/Case"],
            &[],
            "not a valid repository name",
        ),
        (
            &[],
            &[("OCI_NAMESPACE", "a//b")],
            "not a valid repository name",
        ),
        (
            &[],
            &[("OCI_ROOT_URL", "ftp://registry.invalid")],
            "invalid URL",
        ),
        (
            &["--timeout", "0"],
            &[],
            "--timeout must be at least 1 second",
        ),
        (
            &["--username", "alice"],
            &[],
            "give both --username and --password",
        ),
    ];
    for cmd in &commands {
        for (args, env, want) in bad {
            let out = bin()
                .args(cmd)
                .args(args)
                .envs(env.iter().copied())
                .current_dir(dir.path())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{cmd:?} {args:?} {env:?}: {err}"
            );
            assert!(err.contains(want), "{cmd:?} {args:?} {env:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        }
    }
}

#[test]
fn a_misspelt_disabled_feature_is_a_configuration_error_for_run_and_fuzz() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["run", "fuzz"] {
        let out = bin()
            .args([cmd, "--disable-feature", "delete-blobs"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("invalid value 'delete-blobs'"), "{cmd}: {err}");
        // The message lists the names both commands know.
        for known in [
            "delete-blob",
            "referrers",
            "upload-cancel",
            "chunked-upload",
        ] {
            assert!(err.contains(known), "{cmd}: {err}");
        }
    }
    // The environment fallback is checked the same way.
    let out = bin()
        .args(["run", "--report-dir"])
        .arg(dir.path())
        .env("OCI_CONFORMANCE_DISABLE_FEATURES", "referrers,nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A registry that holds only `org/repo` names (the reference server's `name_components = 2`,
/// like registries that accept nothing deeper): the nested layout cannot test it (every push is
/// NAME_UNKNOWN), while flat and fixed run every case without a failure or an error of our own
/// making: each passes, is unsupported, or is skipped with the reason.
#[test]
fn two_component_registry_passes_in_flat_and_fixed_layouts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = oci_reference_server::Config::memory();
    config.name_components = Some(2);
    let server = rt.block_on(oci_reference_server::spawn(config)).unwrap();
    let url = server.url();
    let run = |layout: &str, extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = bin()
            .args(["run", "--url", &url, "--spec-version", "dev"])
            .args([
                "--namespace",
                "org/app",
                "--crossmount-namespace",
                "org/mount",
            ])
            .args(["--repository-layout", layout])
            .args(extra)
            .arg("--report-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("results.json")).unwrap(),
        )
        .unwrap();
        (out.status.code(), v["cases"].as_array().unwrap().clone())
    };

    let (code, cases) = run("nested", &["--filter", "push/monolithic/post-then-put"]);
    assert_eq!(code, Some(1));
    // Said once by the preflight probe, with the fix, instead of as the case's own failure.
    assert_eq!(cases[0]["outcome"], "error", "{}", cases[0]);
    let message = cases[0]["message"].as_str().unwrap();
    assert!(message.contains("NAME_UNKNOWN"), "{message}");
    assert!(message.contains("--repository-layout flat"), "{message}");

    for layout in ["flat", "fixed"] {
        let (code, cases) = run(layout, &[]);
        let mut passed = 0;
        for c in &cases {
            let (id, message) = (&c["id"], c["message"].as_str().unwrap_or(""));
            match c["outcome"].as_str().unwrap() {
                "pass" => passed += 1,
                "unsupported" => {}
                "skip" => assert!(
                    message.starts_with("tests authentication")
                        || message.starts_with("does not apply to spec version")
                        || message.starts_with("needs repository names deeper")
                        || (layout == "fixed"
                            && message
                                .starts_with(oci_conformance::repository::NEEDS_FRESH_REPOSITORY)),
                    "{layout}: {id} skipped: {message}"
                ),
                o => panic!("{layout}: {id}: {o}: {message}"),
            }
            for r in c["repositories"].as_array().unwrap() {
                let r = r.as_str().unwrap();
                match layout {
                    "flat" => assert!(r.starts_with("org/oc-") && r.matches('/').count() == 1),
                    _ => assert!(r == "org/app" || r == "org/mount", "{r}"),
                }
            }
        }
        assert_eq!(code, Some(0), "{layout}");
        let outcome = |id: &str| {
            let c = cases.iter().find(|c| c["id"] == id).unwrap();
            (
                c["outcome"].as_str().unwrap().to_string(),
                c["message"].clone(),
            )
        };
        // Deep names are the one thing neither layout can test on such a registry.
        assert_eq!(outcome("names/valid/deep-path").0, "skip");
        // An invalid name must be refused whatever its depth: it still runs.
        assert_eq!(outcome("names/invalid/uppercase").0, "pass");
        if layout == "flat" {
            assert_eq!(outcome("tags/list/basic").0, "pass");
            assert_eq!(outcome("catalog/lists-pushed-repository").0, "pass");
            assert!(passed > 200, "{layout}: {passed} passed");
        } else {
            for id in [
                "tags/list/basic",
                "catalog/lists-pushed-repository",
                "tags/list/unknown-repo-404",
            ] {
                let (o, m) = outcome(id);
                assert_eq!(o, "skip", "{id}");
                assert!(
                    m.as_str().unwrap().contains("needs a fresh repository"),
                    "{m}"
                );
            }
            assert_eq!(outcome("mount/from-other-repo-201").0, "pass");
            assert!(passed > 150, "{layout}: {passed} passed");
        }
    }
    rt.block_on(server.shutdown());
}

/// A one-case suite (with the real catalog) in a temporary directory.
fn one_case_engine(url: &str, case: serde_json::Value) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        specs_dir().join("requirements.json"),
        dir.path().join("requirements.json"),
    )
    .unwrap();
    let file = serde_json::json!({"area": "t", "cases": [case]});
    std::fs::write(dir.path().join("t.json"), file.to_string()).unwrap();
    let mut e = engine(url, Duration::from_secs(5));
    e.suite = Arc::new(Suite::load(dir.path()).unwrap());
    (dir, e)
}

#[tokio::test]
async fn pagination_without_link_continues_with_last_and_catches_an_ignored_last() {
    // Full pages of n=2 and no Link: the engine must ask again with last=b, and a registry that
    // ignores `last` (the same page again) fails at once, not after max_pages.
    let url = canned_registry(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"name\":\"x\",\"tags\":[\"a\",\"b\"]}",
    ))
    .await;
    let (_dir, e) = one_case_engine(
        &url,
        serde_json::json!({
            "id": "t/paginate", "workflow": "discovery", "title": "t", "requirements": ["R-092"],
            "level": "MUST",
            "steps": [{"paginate": {"path": "/v2/x/tags/list", "query": [["n", "2"]]},
                       "collect": "/tags",
                       "expect": {"collected": {"equals": ["a", "b", "c"]}}}]
        }),
    );
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Fail, "{:?}", r.message);
    let msg = r.message.unwrap();
    assert!(msg.contains("page 2 repeats \"a\""), "{msg}");
    assert!(msg.contains("was `last` ignored?"), "{msg}");
    assert_eq!(r.transcript.len(), 2);
    assert!(
        r.transcript[1].url.contains("last=b"),
        "{}",
        r.transcript[1].url
    );
}

#[tokio::test]
async fn an_error_code_on_a_plain_text_404_is_not_applicable() {
    let url = canned_registry(Some(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n",
    ))
    .await;
    let case = serde_json::json!({
        "id": "t/code", "workflow": "pull", "title": "t", "requirements": ["R-143"],
        "level": "SHOULD",
        "steps": [{"request": {"path": "/v2/x/manifests/nope"},
                   "expect": {"status": [404], "error_codes": ["MANIFEST_UNKNOWN"]}}]
    });
    let (_dir, e) = one_case_engine(&url, case.clone());
    let (f, c) = &e.suite.cases[0];
    let r = e.run_case(f, c).await;
    assert_eq!(r.outcome, Outcome::Unsupported, "{:?}", r.message);
    assert!(r.message.unwrap().contains("R-143"));
    // The status is still checked: a 200 fails.
    let url = canned_registry(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
    ))
    .await;
    let (_dir2, e) = one_case_engine(&url, case);
    let (f, c) = &e.suite.cases[0];
    assert_eq!(e.run_case(f, c).await.outcome, Outcome::Fail);
}

/// A rate-limited registry (every 40th request answers 429 with `Retry-After: 1`): the run
/// waits each one out and sends the request again, so every case still passes (or is
/// unsupported/skipped as on the plain server), and the retries are counted in the summary.
#[test]
fn rate_limited_registry_completes_with_retries_counted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = oci_reference_server::Config::memory();
    config.too_many_requests_every = Some(40);
    let server = rt.block_on(oci_reference_server::spawn(config)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--url", &server.url(), "--spec-version", "dev"])
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    for c in v["cases"].as_array().unwrap() {
        assert!(
            ["pass", "unsupported", "skip"].contains(&c["outcome"].as_str().unwrap()),
            "{}: {}: {}",
            c["id"],
            c["outcome"],
            c["message"]
        );
    }
    assert_eq!(out.status.code(), Some(0), "{err}");
    let retried = v["summary"]["retried_requests"].as_u64().unwrap();
    assert!(retried >= 10, "{retried} retries");
    assert!(
        err.contains(&format!("{retried} requests were sent again")),
        "{err}"
    );
    rt.block_on(server.shutdown());
}
