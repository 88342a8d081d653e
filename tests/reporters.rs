//! Each reporter on its own, fed one synthetic event stream: every outcome, a transcript with
//! credentials and hostile bytes in it.

use bytes::Bytes;
use oci_conformance::http::Exchange;
use oci_conformance::report::{html::HtmlReport, json::JsonReport, junit::JunitReport};
use oci_conformance::results::{
    CaseResult, Event, Outcome, Reporter, RequirementRef, RunInfo, Summary,
};
use oci_conformance::spec::{Level, Workflow};
use std::path::{Path, PathBuf};

const SECRET: &str = "hunter2-token";

fn exchange() -> Exchange {
    Exchange {
        method: "PUT".into(),
        url: "http://127.0.0.1:1/v2/ns/r/manifests/v1".into(),
        request_headers: vec![
            (
                "Content-Type".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            ),
            // What the HTTP layer records for credentials: already a placeholder.
            ("Authorization".into(), "Basic $OCI_CREDENTIALS".into()),
        ],
        request_body: Some("{\"schemaVersion\":2}".into()),
        request_bytes: Some(Bytes::from_static(b"{\"schemaVersion\":2}")),
        status: Some(200),
        response_headers: vec![("Content-Type".into(), "text/html".into())],
        // A hostile body: markup, a CDATA terminator and a control character.
        response_body: Some("<script>alert(1)</script> ]]> \u{1} end".into()),
        body: Bytes::new(),
        error: None,
        elapsed_ms: 3,
        ..Exchange::default()
    }
}

fn result(id: &str, workflow: Workflow, outcome: Outcome, message: Option<&str>) -> CaseResult {
    CaseResult {
        id: id.into(),
        title: format!("title of {id}"),
        workflow,
        level: Level::Must,
        requirements: vec![RequirementRef {
            id: "R-076".into(),
            level: "MUST".into(),
            statement: "Success → 201 + Location (pullable manifest URL).".into(),
        }],
        outcome,
        message: message.map(String::from),
        duration_ms: 5,
        file: PathBuf::from("specs/x.json"),
        repositories: vec!["ns/r".into()],
        transcript: if outcome == Outcome::Fail {
            vec![exchange()]
        } else {
            vec![]
        },
    }
}

fn events() -> Vec<Event> {
    let results = vec![
        result(
            "push/manifest/put-201",
            Workflow::Push,
            Outcome::Fail,
            Some("step 1: expected status 201, got 200"),
        ),
        result("pull/manifest/get", Workflow::Pull, Outcome::Pass, None),
        result(
            "discovery/referrers/list",
            Workflow::Discovery,
            Outcome::Unsupported,
            Some("referrers API answered 404"),
        ),
        result(
            "management/delete/tag",
            Workflow::Management,
            Outcome::Skip,
            Some("feature delete-tag disabled"),
        ),
        result(
            "pull/blob/range",
            Workflow::Pull,
            Outcome::ExpectedFailure,
            Some("known"),
        ),
    ];
    let mut ev = vec![Event::RunStarted(RunInfo {
        target: "http://127.0.0.1:1".into(),
        embedded: false,
        spec_version: "1.1".into(),
        seed: 7,
        run_id: "run1".into(),
        selected: results.len(),
        total: results.len(),
        case_set: oci_conformance::spec::CaseSet {
            source: "embedded".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            cases: results.len(),
        },
    })];
    for r in results {
        ev.push(Event::CaseFinished(Box::new(r)));
    }
    ev.push(Event::RunFinished(Summary {
        passed: 1,
        failed: 1,
        skipped: 1,
        unsupported: 1,
        expected_failures: 1,
        duration_ms: 42,
        ..Summary::default()
    }));
    ev
}

fn feed(r: &mut dyn Reporter) {
    for e in events() {
        r.event(&e);
    }
    r.finish().unwrap();
}

fn read(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    assert!(!text.contains(SECRET));
    text
}

#[test]
fn junit_is_well_formed_with_one_testcase_per_case_and_real_children() {
    use quick_xml::events::Event as X;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/junit.xml");
    feed(&mut JunitReport::new(path.clone()));
    let xml = read(&path);

    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut stack: Vec<String> = vec![];
    let (mut cases, mut failures, mut skipped) = (0, 0, 0);
    let mut classnames = vec![];
    let mut failure_text = String::new();
    let mut suite_counts = vec![];
    for _ in 0..100_000 {
        let ev = reader.read_event().expect("well-formed XML");
        match ev {
            X::Start(ref e) | X::Empty(ref e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attr = |k: &str| {
                    e.attributes()
                        .map(|a| a.unwrap())
                        .find(|a| a.key.as_ref() == k.as_bytes())
                        .map(|a| a.unescape_value().unwrap().into_owned())
                };
                match name.as_str() {
                    "testsuites" => assert!(stack.is_empty()),
                    "testsuite" => {
                        assert_eq!(stack.last().unwrap(), "testsuites");
                        // `skipped` is optional in the JUnit XSDs CI servers use; counted
                        // from the children below instead.
                        suite_counts.push((
                            attr("tests").unwrap().parse::<usize>().unwrap(),
                            attr("failures").unwrap().parse::<usize>().unwrap(),
                            attr("errors").unwrap().parse::<usize>().unwrap(),
                        ));
                    }
                    "testcase" => {
                        assert_eq!(stack.last().unwrap(), "testsuite");
                        classnames.push(attr("classname").unwrap());
                        cases += 1;
                    }
                    "failure" => {
                        assert_eq!(stack.last().unwrap(), "testcase");
                        assert!(attr("message").unwrap().contains("expected status 201"));
                        failures += 1;
                    }
                    "skipped" => {
                        assert_eq!(stack.last().unwrap(), "testcase");
                        assert!(
                            !attr("message").unwrap_or_default().is_empty(),
                            "skip reason"
                        );
                        skipped += 1;
                    }
                    _ => {}
                }
                if matches!(ev, X::Start(_)) {
                    stack.push(name);
                }
            }
            X::CData(t) if stack.last().map(String::as_str) == Some("failure") => {
                failure_text.push_str(&String::from_utf8_lossy(&t));
            }
            X::End(_) => {
                stack.pop();
            }
            X::Eof => break,
            _ => {}
        }
    }
    assert_eq!((cases, failures, skipped), (5, 1, 2));
    let tests: usize = suite_counts.iter().map(|c| c.0).sum();
    let failed: usize = suite_counts.iter().map(|c| c.1).sum();
    let errors: usize = suite_counts.iter().map(|c| c.2).sum();
    assert_eq!(
        (tests, failed, errors),
        (5, 1, 0),
        "suite attributes agree with children"
    );
    for c in ["pull", "push", "discovery", "management"] {
        assert!(classnames.iter().any(|n| n == c), "classname {c}");
    }
    assert!(failure_text.contains("> PUT http://127.0.0.1:1/v2/ns/r/manifests/v1"));
    assert!(failure_text.contains("curl -sS -i"));
    assert!(failure_text.contains("$OCI_PASSWORD"));
    assert!(
        xml.contains("R-076 MUST: Success"),
        "requirements in system-out"
    );
    let provenance = format!(
        "oci-conformance {} · case set embedded (sha256:abab",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        xml.contains(&provenance),
        "each suite names the tool and case set"
    );
}

#[test]
fn html_is_self_contained_summary_first_and_escapes_what_the_registry_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    feed(&mut HtmlReport::new(path.clone()));
    let html = read(&path);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<style>"));
    assert!(
        !html.contains("<script"),
        "no script, and the registry's markup is escaped"
    );
    assert!(!html.contains("src=\"http"), "no external resources");
    assert!(html.contains("&lt;script&gt;alert(1)"));
    let table = html.find("<table>").unwrap();
    let first_case = html.find("<details").unwrap();
    assert!(table < first_case, "summary first");
    assert!(
        html.contains("Success → 201 + Location"),
        "requirement statements"
    );
    assert!(
        html.contains("-u &quot;$OCI_USERNAME:$OCI_PASSWORD&quot;"),
        "curl with placeholders"
    );
    assert!(html.contains("1 passed, 1 failed"), "the count line");
    assert!(
        html.contains(&format!(
            "oci-conformance {} · case set <code>embedded</code> (5 cases, <code>sha256:abab",
            env!("CARGO_PKG_VERSION")
        )),
        "names the tool and case set"
    );
}

#[test]
fn results_json_has_the_documented_stable_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    feed(&mut JsonReport::new(path.clone()));
    let v: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["tool"]["name"], "oci-conformance");
    assert_eq!(v["run"]["seed"], 7);
    assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["run"]["case_set"]["source"], "embedded");
    assert_eq!(v["run"]["case_set"]["cases"], 5);
    assert!(v["run"]["case_set"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(v["summary"]["passed"], 1);
    assert_eq!(v["summary"]["failed"], 1);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    let ids: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "stable order");
    let fail = cases.iter().find(|c| c["outcome"] == "fail").unwrap();
    assert_eq!(fail["workflow"], "push");
    assert_eq!(fail["level"], "MUST");
    assert_eq!(fail["requirements"][0]["id"], "R-076");
    assert_eq!(fail["transcript"][0]["status"], 200);
    assert_eq!(
        fail["transcript"][0]["request_headers"][1][1],
        "Basic $OCI_CREDENTIALS"
    );
    assert!(cases.iter().any(|c| c["outcome"] == "expected-failure"));
    assert!(cases.iter().any(|c| c["outcome"] == "unsupported"));
}

#[test]
fn curl_script_threads_upload_locations_through_variables() {
    let mut post = exchange();
    post.method = "POST".into();
    post.url = "http://127.0.0.1:1/v2/ns/r/blobs/uploads/".into();
    post.request_headers = vec![("Content-Length".into(), "0".into())];
    post.request_bytes = None;
    post.status = Some(202);
    post.response_headers = vec![(
        "Location".into(),
        "/v2/ns/r/blobs/uploads/abc?_state=s1".into(),
    )];
    let mut put = exchange();
    put.url = "http://127.0.0.1:1/v2/ns/r/blobs/uploads/abc?_state=s1&digest=sha256%3A00".into();
    put.request_headers = vec![];
    put.request_bytes = Some(Bytes::from_static(b"it's"));
    let script = oci_conformance::report::curl_script(&[post, put]);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines.len(), 3, "{script}");
    assert!(lines[0].starts_with("LOC_1=$(curl -sS -X POST"), "{script}");
    assert!(
        lines[0].contains("sed -n 's/^[Ll]ocation: *//p'"),
        "{script}"
    );
    assert_eq!(
        lines[1],
        r#"case "$LOC_1" in /*) LOC_1='http://127.0.0.1:1'"$LOC_1";; esac"#
    );
    assert!(
        lines[2].ends_with(r#""${LOC_1}"'&digest=sha256%3A00'"#),
        "{script}"
    );
    assert!(
        lines[2].contains(r#"--data-binary 'it'\''s'"#),
        "quotes are shell-escaped: {script}"
    );
    // The script really is shell: `sh -n` parses it.
    let ok = std::process::Command::new("sh")
        .args(["-n", "-c", &script])
        .status()
        .map(|s| s.success())
        .unwrap_or(true);
    assert!(ok, "{script}");
}
