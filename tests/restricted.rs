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
