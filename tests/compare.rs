//! `compare` on the example reports and on hand-made ones: every kind of change, each output,
//! the exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/examples")
        .join(name)
        .join("results.json")
}

fn compare(args: &[&Path], extra: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oci-conformance"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OCI_CONFORMANCE_") {
            c.env_remove(k);
        }
    }
    let out = c.arg("compare").args(args).args(extra).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn case(id: &str, outcome: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "title": id, "workflow": "push", "level": "MUST",
        "requirements": [{"id": "R-056", "level": "MUST", "statement": "s"}],
        "outcome": outcome, "message": format!("{id} says | <b>{outcome}</b>\nsecond line"),
        "duration_ms": 1, "file": "specs/x.json", "repositories": [], "transcript": []
    })
}

fn report(dir: &Path, name: &str, digest: &str, cases: &[(&str, &str)]) -> PathBuf {
    let v = serde_json::json!({
        "format_version": 1,
        "tool": {"name": "oci-conformance", "version": "0.1.0"},
        "run": {"target": "http://127.0.0.1:1", "embedded": false, "spec_version": "dev",
                "seed": 1, "run_id": "r", "selected": cases.len(), "total": cases.len(),
                "case_set": {"source": "embedded", "digest": digest, "cases": cases.len()}},
        "summary": {},
        "cases": cases.iter().map(|(id, o)| case(id, o)).collect::<Vec<_>>(),
    });
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn reference_to_distribution_lists_regressions_and_lost_features_and_fails() {
    let base = example("reference-server");
    let new = example("distribution-2.8");
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("pr/comment.md");
    let junit = dir.path().join("compare.xml");
    let (code, out, err) = compare(
        &[&base, &new],
        &[
            "--markdown",
            md.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "regressions fail the comparison: {out}{err}");
    // Facts about distribution 2.8.2 the example reports record.
    let regressions = out.split("\nRegressions (").nth(1).unwrap();
    let regressions = regressions.split("\n\n").next().unwrap();
    assert!(
        regressions.contains("push/chunked/out-of-order-416")
            && regressions.contains("pass → fail"),
        "{out}"
    );
    let unsupported = out.split("\nNewly unsupported (").nth(1).unwrap();
    assert!(
        unsupported.contains("referrers/list/basic [MUST")
            && unsupported.contains("pass → unsupported"),
        "{out}"
    );
    let last = out.trim_end().lines().last().unwrap();
    let re = regex::Regex::new(
        r"^(\d+) regressions, 0 fixes, (\d+) newly unsupported, .* (\d+) unchanged$",
    )
    .unwrap();
    let caps = re.captures(last).unwrap_or_else(|| panic!("{last}"));
    let n_reg: usize = caps[1].parse().unwrap();
    assert!(n_reg > 5);

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.starts_with(&format!("### OCI conformance: **{n_reg} regressions**")),
        "{md}"
    );
    assert!(
        md.contains("<details open><summary><b>Regressions</b>"),
        "{md}"
    );
    assert!(
        md.contains("| `push/chunked/out-of-order-416` | MUST |"),
        "{md}"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    let (cases, failures) = junit_counts(&xml);
    assert_eq!(failures, n_reg, "one failure per regression");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(
        cases,
        v["cases"].as_array().unwrap().len(),
        "one testcase per case"
    );

    // The other way round: the same cases are fixes, and nothing regressed.
    let (code, out, _) = compare(&[&new, &base], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("0 regressions, {n_reg} fixes")),
        "{out}"
    );
    // A report against itself: nothing changed.
    let (code, out, _) = compare(&[&base, &base], &["--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("### OCI conformance: no regressions"),
        "{out}"
    );
    assert!(!out.contains("<details"), "{out}");
}

/// Counts `<testcase>` and `<failure>` elements with a real XML parser.
fn junit_counts(xml: &str) -> (usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures)
}

#[test]
fn every_kind_of_change_lands_in_its_section() {
    let dir = tempfile::tempdir().unwrap();
    let base = report(
        dir.path(),
        "base.json",
        "sha256:aaaa",
        &[
            ("a/regressed", "pass"),
            ("b/fixed", "fail"),
            ("c/lost-feature", "pass"),
            ("d/gained-feature", "unsupported"),
            ("e/still-failing", "fail"),
            ("f/removed", "pass"),
            ("g/now-skipped", "pass"),
        ],
    );
    let new = report(
        dir.path(),
        "new.json",
        "sha256:bbbb",
        &[
            ("a/regressed", "error"),
            ("b/fixed", "pass"),
            ("c/lost-feature", "unsupported"),
            ("d/gained-feature", "fail"),
            ("e/still-failing", "expected-failure"),
            ("g/now-skipped", "skip"),
            ("h/added", "pass"),
        ],
    );
    let (code, out, err) = compare(&[&base, &new], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let section = |title: &str| -> Vec<String> {
        let Some(rest) = out.split(&format!("\n{title} (")).nth(1) else {
            return vec![];
        };
        rest.split("\n\n")
            .next()
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(section("Regressions"), ["a/regressed"]);
    assert_eq!(section("Fixes"), ["b/fixed"]);
    assert_eq!(section("Newly unsupported"), ["c/lost-feature"]);
    assert_eq!(section("Newly supported"), ["d/gained-feature"]);
    assert_eq!(section("Other changes"), ["g/now-skipped"]);
    assert_eq!(section("New cases"), ["h/added"]);
    assert_eq!(section("Removed cases"), ["f/removed"]);
    assert!(
        out.contains("note: the two runs used different case sets"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with(
            "1 regression, 1 fix, 1 newly unsupported, 1 newly supported, 1 other change, \
         1 new case, 1 removed case, 1 unchanged"
        ),
        "{out}"
    );

    // Markdown: the message's pipe and markup cannot break the table.
    let (_, md, _) = compare(&[&base, &new], &["--format", "markdown"]);
    let row = md
        .lines()
        .find(|l| l.starts_with("| `a/regressed`"))
        .unwrap();
    assert_eq!(row.matches(" | ").count(), 5, "six cells: {row}");
    assert!(row.contains("says \\| \\<b\\>error\\</b\\>…"), "{row}");

    // JUnit on stdout: the regression fails, the removed case is skipped.
    let (_, xml, _) = compare(&[&base, &new], &["--format", "junit"]);
    assert_eq!(junit_counts(&xml), (8, 1));
    assert!(
        xml.contains("<skipped") && xml.contains("classname=\"removed\""),
        "{xml}"
    );
}

#[test]
fn a_missing_or_foreign_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = example("reference-server");
    let missing = dir.path().join("nope.json");
    let (code, _, err) = compare(&[&good, &missing], &[]);
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("nope.json"), "{err}");
    let junit = dir.path().join("junit.xml");
    std::fs::write(&junit, "<testsuites/>").unwrap();
    let (code, _, err) = compare(&[&junit, &good], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a results.json"), "{err}");
    let future = dir.path().join("future.json");
    std::fs::write(&future, r#"{"format_version": 2, "cases": []}"#).unwrap();
    let (code, _, err) = compare(&[&good, &future], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("format_version 2"), "{err}");
}
