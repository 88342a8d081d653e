//! Registries people run that restrict what a client may do: names of two components only,
//! pushes refused, deletes switched off. Each such cause is found once by the preflight probe
//! and said once with its fix; the cases it holds back carry that reason.

mod support;

use oci_reference_server::{AuthMode, Config};
use serde_json::Value;
use std::path::Path;
use support::bin;

struct Run {
    code: Option<i32>,
    stderr: String,
    report: Value,
}

impl Run {
    fn cases(&self) -> &Vec<Value> {
        self.report["cases"].as_array().unwrap()
    }
    fn outcome(&self, id: &str) -> (String, String) {
        let c = self
            .cases()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no case {id}"));
        (
            c["outcome"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap_or_default().to_string(),
        )
    }
    fn lines_with(&self, needle: &str) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.contains(needle)).collect()
    }
}

fn run(url: &str, dir: &Path, args: &[&str]) -> Run {
    let out = bin()
        .args(["run", "--url", url, "--spec-version", "dev", "--report-dir"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    }
}

fn serve(config: Config) -> (tokio::runtime::Runtime, oci_reference_server::RunningServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(oci_reference_server::spawn(config)).unwrap();
    (rt, server)
}

/// A registry that holds only `org/repo` names, tested with the nested layout: one line names
/// the cause and the fix, every case that writes carries it as its reason (an error, as the
/// run tested nothing there), and no case fails on its own account for it.
#[test]
fn names_too_deep_are_said_once_with_the_layout_fix() {
    let mut config = Config::memory();
    config.name_components = Some(2);
    let (rt, server) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&server.url(), dir.path(), &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let said = r.lines_with("--repository-layout flat");
    assert_eq!(said.len(), 1, "{}", r.stderr);
    assert!(said[0].contains("NAME_UNKNOWN"), "{}", said[0]);
    assert!(
        !r.stderr.lines().any(|l| l.starts_with("FAIL ")),
        "no case should fail one by one:\n{}",
        r.stderr
    );
    let held: Vec<&Value> = r
        .cases()
        .iter()
        .filter(|c| c["outcome"] == "error")
        .collect();
    assert!(held.len() > 150, "{} held back", held.len());
    let first = held[0]["message"].as_str().unwrap();
    assert!(first.starts_with("not run: the registry does not accept the repository name"));
    assert!(held.iter().all(|c| c["message"] == first));
    // What needs no write still ran, and passed.
    assert_eq!(r.outcome("names/invalid/uppercase").0, "pass");
    rt.block_on(server.shutdown());
}

/// Every push answered 401 (credentials missing): said once, with "give credentials".
#[test]
fn refused_pushes_are_said_once_with_the_credentials_fix() {
    let (config, _) = support::auth_config(AuthMode::Basic, None);
    let (rt, server) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&server.url(), dir.path(), &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let said = r.lines_with("cases not run");
    assert_eq!(said.len(), 1, "{}", r.stderr);
    assert!(said[0].contains("answered 401"), "{}", said[0]);
    assert!(said[0].contains("--username"), "{}", said[0]);
    rt.block_on(server.shutdown());
}

/// Deletes switched off (405 UNSUPPORTED): one line names the kinds and the
/// `--disable-feature` that skips them; their cases are unsupported with that reason, the run
/// passes, and the cleanup lists what it could not delete.
#[test]
fn refused_deletes_are_said_once_and_their_cases_are_unsupported() {
    let mut config = Config::memory();
    config.delete_manifests = false;
    config.delete_tags = false;
    config.delete_blobs = false;
    let (rt, server) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&server.url(), dir.path(), &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let said = r.lines_with("--disable-feature delete-tag,delete-manifest,delete-blob");
    assert_eq!(said.len(), 1, "{}", r.stderr);
    let (outcome, message) = r.outcome("management/blob/delete-202-then-404");
    assert_eq!(outcome, "unsupported", "{message}");
    assert!(message.contains("does not delete"), "{message}");
    rt.block_on(server.shutdown());
}

/// Every manifest and blob URL the run's cases saw created (201), from their transcripts.
fn created_urls(report: &Value) -> Vec<String> {
    let mut urls = Vec::new();
    for c in report["cases"].as_array().unwrap() {
        for ex in c["transcript"].as_array().unwrap() {
            if ex["status"] != 201 {
                continue;
            }
            let url = ex["url"].as_str().unwrap();
            let path = url.split('?').next().unwrap();
            if ex["method"] == "PUT" && path.rsplit('/').nth(1) == Some("manifests") {
                urls.push(path.to_string());
            } else if let Some(loc) = ex["response_headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("location"))
            {
                let loc = loc[1].as_str().unwrap();
                if loc.contains("/blobs/sha") {
                    urls.push(loc.to_string());
                }
            }
        }
    }
    urls
}

/// After a run against the reference server nothing it created is left: every manifest, tag
/// and blob its cases saw acknowledged answers 404, and every tag list is empty.
#[test]
fn cleanup_leaves_nothing_the_run_created() {
    let (rt, server) = serve(Config::memory());
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let r = run(&url, dir.path(), &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let cleanup = &r.report["summary"]["cleanup"];
    assert!(cleanup["created"].as_u64().unwrap() > 300, "{cleanup}");
    assert_eq!(cleanup["created"], cleanup["deleted"], "{cleanup}");
    assert_eq!(cleanup["left"].as_array().unwrap().len(), 0, "{cleanup}");
    assert_eq!(
        r.lines_with("cleanup: deleted all").len(),
        1,
        "{}",
        r.stderr
    );
    let created = created_urls(&r.report);
    assert!(created.len() > 300, "{} created", created.len());
    rt.block_on(async {
        let client = reqwest::Client::new();
        for u in &created {
            let u = if u.starts_with('/') {
                format!("{url}{u}")
            } else {
                u.clone()
            };
            let status = client.head(&u).send().await.unwrap().status();
            assert_eq!(status, 404, "{u} is still there");
        }
        let catalog = client
            .get(format!("{url}/v2/_catalog"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let catalog: Value = serde_json::from_slice(&catalog).unwrap();
        for repo in catalog["repositories"].as_array().unwrap() {
            let tags = client
                .get(format!("{url}/v2/{}/tags/list", repo.as_str().unwrap()))
                .send()
                .await
                .unwrap();
            if tags.status() == 200 {
                let v: Value = serde_json::from_slice(&tags.bytes().await.unwrap()).unwrap();
                assert!(
                    v["tags"].as_array().is_none_or(|t| t.is_empty()),
                    "{repo}: {v}"
                );
            }
        }
    });
    rt.block_on(server.shutdown());
}

/// With blob deletion disabled, the cleanup deletes tags and manifests and lists every blob it
/// left, with the reason, in results.json and in one line of the summary.
#[test]
fn cleanup_lists_what_it_was_told_not_to_delete() {
    let (rt, server) = serve(Config::memory());
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &server.url(),
        dir.path(),
        &[
            "--filter",
            "push/monolithic",
            "--disable-feature",
            "delete-blob",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let left = r.report["summary"]["cleanup"]["left"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!left.is_empty());
    for l in &left {
        assert_eq!(l["kind"], "blob", "{l}");
        assert_eq!(l["reason"], "--disable-feature delete-blob", "{l}");
        assert!(l["reference"].as_str().unwrap().starts_with("sha"), "{l}");
    }
    let said = r.lines_with("things the run created are left");
    assert_eq!(said.len(), 1, "{}", r.stderr);
    assert!(
        said[0].contains(&format!("{} blobs", left.len())),
        "{}",
        said[0]
    );
    // The same run with --cleanup=false leaves everything, and says so.
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &server.url(),
        dir.path(),
        &["--filter", "push/monolithic", "--cleanup=false"],
    );
    // Only what a case (or the preflight probe) deleted itself is gone.
    let cleanup = &r.report["summary"]["cleanup"];
    let left = cleanup["left"].as_array().unwrap();
    assert!(left.len() > 5, "{cleanup}");
    assert!(left.iter().all(|l| l["reason"] == "--cleanup is off"));
    assert_eq!(
        left.len() as u64 + cleanup["deleted"].as_u64().unwrap(),
        cleanup["created"].as_u64().unwrap()
    );
    rt.block_on(server.shutdown());
}

/// A rate-limited registry (every 25th request a 429, with `Retry-After` as seconds and as an
/// HTTP-date by turns) completes with retries counted, and its 429s pass R-148.
#[test]
fn rate_limited_registry_passes_r148_with_both_retry_after_forms() {
    let mut config = Config::memory();
    config.too_many_requests_every = Some(25);
    let (rt, server) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&server.url(), dir.path(), &["--filter", "push/,pull/"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for c in r.cases() {
        assert!(
            ["pass", "unsupported", "skip"].contains(&c["outcome"].as_str().unwrap()),
            "{}: {}",
            c["id"],
            c["message"]
        );
    }
    assert!(r.report["summary"]["retried_requests"].as_u64().unwrap() >= 4);
    let (outcome, message) = r.outcome(oci_conformance::rate_limit::CASE_ID);
    assert_eq!(outcome, "pass", "{message}");
    rt.block_on(server.shutdown());
}

/// 429s without `Retry-After` (the server's `no-retry-after` defect): still waited out (a
/// back-off), so no case fails on them, but R-148 fails, once, naming what was missing; a
/// SHOULD, so the run fails only with --strict.
#[test]
fn a_429_without_retry_after_fails_r148_only() {
    let mut config = Config::memory();
    config.too_many_requests_every = Some(20);
    config.defects = vec![oci_reference_server::config::Defect::NoRetryAfter];
    let (rt, server) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&server.url(), dir.path(), &["--filter", "push/monolithic"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let (outcome, message) = r.outcome(oci_conformance::rate_limit::CASE_ID);
    assert_eq!(outcome, "fail", "{message}");
    assert!(message.contains("no Retry-After header"), "{message}");
    let r148 = r
        .cases()
        .iter()
        .find(|c| c["id"] == oci_conformance::rate_limit::CASE_ID)
        .unwrap();
    assert_eq!(r148["requirements"][0]["id"], "R-148");
    for c in r.cases() {
        if c["id"] != oci_conformance::rate_limit::CASE_ID {
            assert_ne!(c["outcome"], "fail", "{}: {}", c["id"], c["message"]);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &server.url(),
        dir.path(),
        &["--filter", "push/monolithic", "--strict"],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    rt.block_on(server.shutdown());
}

/// `--rate N` starts no more than N requests a second: the run's requests cannot have taken
/// less than (requests - 1) / N seconds. (A bound that a pacer which does nothing breaks.)
#[test]
fn rate_caps_requests_per_second() {
    let (rt, server) = serve(Config::memory());
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let r = run(
        &server.url(),
        dir.path(),
        &["--filter", "push/monolithic", "--rate", "10"],
    );
    let took = started.elapsed();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let requests: usize = r
        .cases()
        .iter()
        .map(|c| c["transcript"].as_array().unwrap().len())
        .sum();
    assert!(requests > 20, "{requests} requests");
    let least = std::time::Duration::from_secs_f64((requests - 1) as f64 / 10.0);
    assert!(
        took >= least,
        "{requests} requests in {took:?}, at least {least:?} at 10/s"
    );
    let out = bin().args(["run", "--rate", "-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    rt.block_on(server.shutdown());
}

/// In the fixed layout the repositories are the user's: the cleanup deletes what the run made
/// there, but keeps blobs any image may hold (the empty JSON object), and says so.
#[test]
fn fixed_layout_cleanup_keeps_shared_blobs() {
    let mut config = Config::memory();
    config.name_components = Some(2);
    let (rt, server) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &server.url(),
        dir.path(),
        &[
            "--repository-layout",
            "fixed",
            "--namespace",
            "org/app",
            "--crossmount-namespace",
            "org/mount",
            "--filter",
            "manifests/artifact",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let cleanup = &r.report["summary"]["cleanup"];
    let left = cleanup["left"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{cleanup}");
    assert_eq!(
        left[0]["reference"],
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert!(left[0]["reason"].as_str().unwrap().contains("kept"));
    assert!(cleanup["deleted"].as_u64().unwrap() > 3, "{cleanup}");
    rt.block_on(server.shutdown());
}
