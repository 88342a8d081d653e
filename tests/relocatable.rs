//! The binary carries its case set: copied alone into an empty directory, it runs every case
//! against a registry URL, and its reports name the tool version and the case set.

use oci_conformance::spec::Suite;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")
}

/// The built binary, copied alone into `dir`.
fn copy_binary(dir: &Path) -> PathBuf {
    let to = dir.join("oci-conformance");
    std::fs::copy(env!("CARGO_BIN_EXE_oci-conformance"), &to).unwrap();
    to
}

/// Runs the copy with `cwd` as working directory and none of the caller's OCI_* variables.
fn run(bin: &Path, cwd: &Path, args: &[&str]) -> (i32, String) {
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("OCI_") {
            c.env_remove(k);
        }
    }
    let out = c
        .current_dir(cwd)
        .env("OCI_CONFORMANCE_NO_PROGRESS", "1")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn results(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn a_binary_copied_alone_runs_every_embedded_case_against_a_url() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(oci_reference_server::spawn(
            oci_reference_server::Config::memory(),
        ))
        .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let bin = copy_binary(empty.path());
    let (code, err) = run(
        &bin,
        empty.path(),
        &[
            "run",
            "--url",
            &server.url(),
            "--spec-version",
            "dev",
            "--report-dir",
            "out",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v = results(&empty.path().join("out"));
    let suite = Suite::load(&repo_specs()).unwrap();
    assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["run"]["case_set"]["source"], "embedded");
    assert_eq!(
        v["run"]["case_set"]["digest"], suite.case_set.digest,
        "the embedded set is the repository's specs/, byte for byte"
    );
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), suite.cases.len(), "every case is reported");
    assert_eq!(v["run"]["total"], suite.cases.len());
    // Without credentials only the auth cases sit out (and cases of older spec versions);
    // everything else ran and passed.
    for c in cases {
        let outcome = c["outcome"].as_str().unwrap();
        let message = c["message"].as_str().unwrap_or("");
        if c["id"].as_str().unwrap().starts_with("auth/")
            || message.starts_with("does not apply to spec version")
        {
            continue;
        }
        assert!(
            matches!(outcome, "pass" | "unsupported"),
            "{} {outcome}: {}",
            c["id"],
            c["message"]
        );
    }
    assert!(v["summary"]["passed"].as_u64().unwrap() > 100);
    rt.block_on(server.shutdown());
}

#[test]
fn specs_flag_and_env_switch_the_case_set_and_reports_say_which() {
    let empty = tempfile::tempdir().unwrap();
    let bin = copy_binary(empty.path());
    // A case set of one file: the catalog and the pull cases.
    let specs = tempfile::tempdir().unwrap();
    for f in ["requirements.json", "pull.json"] {
        std::fs::copy(repo_specs().join(f), specs.path().join(f)).unwrap();
    }
    let want = Suite::load(specs.path()).unwrap().case_set;
    let dir = specs.path().to_str().unwrap();
    let (code, err) = run(
        &bin,
        empty.path(),
        &["run", "--specs", dir, "--report-dir", "flag"],
    );
    assert_eq!(code, 0, "{err}");
    let v = results(&empty.path().join("flag"));
    assert_eq!(v["run"]["case_set"]["source"], dir);
    assert_eq!(v["run"]["case_set"]["digest"], want.digest);
    assert_eq!(v["cases"].as_array().unwrap().len(), want.cases);
    assert_ne!(
        want.digest,
        Suite::embedded().unwrap().case_set.digest,
        "a different set has a different digest"
    );

    let out = Command::new(&bin)
        .current_dir(empty.path())
        .env("OCI_CONFORMANCE_SPECS", dir)
        .arg("list")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        want.cases,
        "the environment variable selects the set too"
    );
    // A broken set is one clear line and exit 2, never a silent fall-back to the embedded one.
    std::fs::write(specs.path().join("pull.json"), "{").unwrap();
    let (code, err) = run(&bin, empty.path(), &["list", "--specs", dir]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pull.json"), "{err}");
}

#[test]
fn the_embedded_set_matches_the_repository_specs() {
    let embedded = Suite::embedded().unwrap();
    let dir = Suite::load(&repo_specs()).unwrap();
    assert_eq!(embedded.case_set.source, "embedded");
    assert_eq!(embedded.case_set.digest, dir.case_set.digest);
    let ids = |s: &Suite| {
        s.cases
            .iter()
            .map(|(_, c)| c.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&embedded), ids(&dir));
    assert_eq!(embedded.cases[0].0, Path::new("specs").join("auth.json"));
}
