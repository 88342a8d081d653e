//! The response contract judges every answer a case receives, not only what the case's own
//! `expect` names: a registry that breaks a rule no case step checks (a closing upload PUT
//! answered 201 without `Location`, or 200 instead of 201) fails the cases that went through
//! it, citing the rule's requirement ids, the same ids the fuzzer's finding for that bug cites.
//! The registry is the reference server behind a proxy that injects one bug.

use oci_conformance::engine::Engine;
use oci_conformance::fuzz::{self, FuzzConfig, Layer};
use oci_conformance::http::Http;
use oci_conformance::repository::CaseContext;
use oci_conformance::results::{CaseResult, Outcome};
use oci_conformance::spec::{Level, SpecVersion, Suite};
use std::sync::Arc;
use std::time::Duration;
use support::FaultyProxy;

mod support;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// A closing upload PUT answers 201 without `Location`.
    CloseWithoutLocation,
    /// A closing upload PUT answers 200 where the spec requires 201.
    CloseOk,
}

async fn front(
    axum::extract::State(p): axum::extract::State<Arc<FaultyProxy<Bug>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, pq, body) = support::received(req).await;
    let (mut status, mut headers, out) = p.forward(&parts.method, &pq, &parts.headers, body).await;
    let closing = parts.method == axum::http::Method::PUT
        && parts.uri.path().contains("/blobs/uploads/")
        && status == 201;
    match p.bug {
        Bug::CloseWithoutLocation if closing => {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("location"))
        }
        Bug::CloseOk if closing => status = 200,
        _ => {}
    }
    support::respond(&parts.method, (status, headers, out))
}

/// The reference server behind a proxy with `bug`; `f` gets the runtime and the proxy's URL.
fn with_buggy_registry<T>(bug: Bug, f: impl FnOnce(&tokio::runtime::Runtime, &str) -> T) -> T {
    support::with_faulty_proxy(bug, front, f)
}

fn run_cases(rt: &tokio::runtime::Runtime, url: &str, ids: &[&str]) -> Vec<CaseResult> {
    let suite = Arc::new(
        Suite::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs"))
            .expect("specs"),
    );
    let engine = Engine {
        http: Http::new(url, Duration::from_secs(30), 64 << 20, None).expect("client"),
        ctx: CaseContext {
            namespace: "contract".into(),
            namespace2: "contract".into(),
            run_id: oci_conformance::repository::new_run_id(),
            seed: 7,
            layout: Default::default(),
            spec_version: SpecVersion::Dev,
        },
        suite: suite.clone(),
    };
    ids.iter()
        .map(|id| {
            let (file, case) = suite
                .cases
                .iter()
                .find(|(_, c)| c.id == *id)
                .unwrap_or_else(|| panic!("no case {id}"));
            rt.block_on(engine.run_case(file, case))
        })
        .collect()
}

/// The first fuzz finding against the same registry (the campaign stops at it).
fn fuzz_finding(url: &str) -> fuzz::runner::Finding {
    let out = tempfile::tempdir().expect("tempdir");
    let mut c = FuzzConfig::new(url);
    c.seed = 7;
    c.cases = 300;
    c.time = Some(Duration::from_secs(120));
    c.layer = Layer::Both;
    c.out_dir = out.path().to_path_buf();
    c.max_shrink_iters = 64;
    c.batch = 16;
    c.stop_at_first_finding = true;
    let summary = fuzz::run(&c).expect("fuzz run");
    summary
        .findings
        .into_iter()
        .next()
        .expect("the fuzzer finds the bug")
}

fn cited(r: &CaseResult) -> Vec<&str> {
    r.requirements.iter().map(|q| q.id.as_str()).collect()
}

/// Neither case checks the closing PUT's answer (the push macro wants a 201 and nothing
/// more): before the contract both passed against this registry.
const CASES: [&str; 2] = [
    "pull/manifest/get-by-tag",
    "pull/blob/get-digest-header-should",
];

#[test]
fn a_closing_put_without_location_fails_cases_that_never_check_it_with_the_fuzzers_ids() {
    let (results, finding) = with_buggy_registry(Bug::CloseWithoutLocation, |rt, url| {
        (run_cases(rt, url, &CASES), fuzz_finding(url))
    });
    assert!(
        !finding.requirements.is_empty(),
        "the finding names requirements: {}",
        finding.message
    );
    for r in &results {
        assert_eq!(r.outcome, Outcome::Fail, "{}: {:?}", r.id, r.message);
        let msg = r.message.as_deref().unwrap_or("");
        assert!(msg.contains("response contract"), "{}: {msg}", r.id);
        assert!(msg.contains("without Location"), "{}: {msg}", r.id);
        for id in &finding.requirements {
            assert!(
                cited(r).contains(id) && msg.contains(id),
                "{} does not cite {id}, which the fuzz finding `{}` cites: {msg}",
                r.id,
                finding.message
            );
        }
        // A broken MUST fails at MUST, even in a SHOULD case.
        assert_eq!(r.level, Level::Must, "{}", r.id);
    }
    assert!(
        finding.requirements.contains(&"R-043"),
        "{}",
        finding.message
    );
}

#[test]
fn a_closing_put_answered_200_is_a_contract_failure_not_a_setup_error() {
    let results = with_buggy_registry(Bug::CloseOk, |rt, url| run_cases(rt, url, &CASES[..1]));
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Fail, "{:?}", r.message);
    let msg = r.message.as_deref().unwrap_or("");
    assert!(msg.contains("200 for a successful close-upload"), "{msg}");
    assert!(cited(r).contains(&"R-043"), "{:?}", cited(r));
}

#[test]
fn the_same_cases_pass_against_the_reference_server_itself() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(oci_reference_server::spawn(
            oci_reference_server::Config::memory(),
        ))
        .expect("reference server");
    for r in run_cases(&rt, &server.url(), &CASES) {
        assert_eq!(r.outcome, Outcome::Pass, "{}: {:?}", r.id, r.message);
    }
    rt.block_on(server.shutdown());
}
