//! Every spec case as its own test, against in-process reference servers (libtest-mimic).
//!
//! Three reference-server variants. `reference` (default configuration): every case passes,
//! except the short, commented DECLINED_BY_DEFAULT list, which must be unsupported there and
//! pass on `sparse` (default + sparse manifests). `minimal` (every optional feature off): a case
//! may pass or be unsupported (a spec-valid "not supported" answer the case names), never fail,
//! which proves the cases classify "feature absent" answers as the spec allows. The engine's own
//! feature cases (tests/data/features) run on both targets too, named `features::…`.
//!
//! Three more run the whole suite, auth cases included, with credentials: `basic` (htpasswd
//! Basic auth; the cases that need bearer tokens must be unsupported there), `token` (the
//! bearer-token flow) and `token-tls` (tokens over HTTPS, trusting a CA made for the run).
//!
//! Verdict truth, both ways. `permissive` (the server's permissive profile: the other branch of
//! every MAY and "either X or Y" on the spec's main branch) runs every dev case, and
//! `permissive-pre-main` (the remaining alternatives, and what only older versions allow) every
//! case of 1.0, 1.1 and 1.1.1: pass or unsupported, never fail, except the SHOULD cases that
//! profile misses on purpose (SHOULD_MISSED), which must fail at SHOULD level. Each `broken-*`
//! server carries one deliberate defect and runs the cases that must catch it (BROKEN): they
//! must fail, at the level listed.

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use oci_conformance::engine::Engine;
use oci_conformance::http::{Credentials, Http, TlsOptions};
use oci_conformance::repository::CaseContext;
use oci_conformance::results::Outcome;
use oci_conformance::spec::{
    request_step, AuthSpec, Case, Level, SpecVersion, Suite, AUTH_FEATURE,
};
use oci_reference_server::config::Defect;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

struct Target {
    name: String,
    engine: Engine,
    /// Which server variant: decides the outcomes that count as success (see `allowed`).
    server: &'static str,
}

/// Cases whose behaviour the reference server declines in its default configuration (it
/// answers with the case's spec-valid "not supported" response) and supports on the `sparse`
/// variant (`sparse_manifests = true`): manifests naming blobs or manifests that were never
/// pushed. Unsupported on `reference`, and they must pass on `sparse`; a listed case that
/// passes on `reference` fails (the list is stale).
const DECLINED_BY_DEFAULT: &[&str] = &[
    "manifests/dangling-config",
    "manifests/dangling-layer",
    "manifests/index-dangling-manifest",
];

/// SHOULD cases the `permissive-pre-main` profile misses on purpose: without
/// `Docker-Content-Digest` (a SHOULD before main) they must fail, as SHOULD failures.
const SHOULD_MISSED: &[&str] = &[
    "pull/manifest/get-digest-header-should",
    "pull/manifest/head-digest-header-should",
    "pull/blob/get-digest-header-should",
    "pull/blob/head-digest-header-should",
];

/// Error-code cases whose code is not applicable on the permissive profile's plain-text bodies
/// unsupported there, naming R-143, never a failure and never a pass.
const NOT_APPLICABLE_ON_TEXT: &[&str] = &[
    "errors/blob-unknown",
    "errors/manifest-unknown",
    "errors/name-unknown-tags",
];

/// The deliberately broken servers: (name, defect, cases that must fail, at this level).
const BROKEN: &[(&str, Defect, &[&str], Level)] = &[
    (
        "broken-range",
        Defect::IgnoreRange,
        &[
            "pull/blob/range-first-bytes",
            "pull/blob/range-middle",
            "pull/blob/range-suffix",
            "pull/blob/range-open-ended",
            "pull/blob/range-end-beyond-size",
        ],
        Level::Should,
    ),
    (
        "broken-referrers",
        Defect::Referrers404,
        &[
            "referrers/list/basic",
            "referrers/list/paginate",
            "referrers/list/descriptor-fields",
            "referrers/list/other-subject-not-listed",
        ],
        Level::Must,
    ),
    (
        "broken-pages",
        Defect::ShortPages,
        &[
            "tags/list/n-first-page",
            "tags/list/last-with-n",
            "tags/list/paginate-to-end",
            "tags/list/paginate-mixed-case-sorted",
        ],
        Level::Must,
    ),
    (
        // The catalog is an extension (MAY), but one listed by discovery and then refused is
        // a contradiction: a failure at the case's level, not "unsupported".
        "broken-catalog",
        Defect::Catalog404,
        &["catalog/lists-pushed-repository"],
        Level::May,
    ),
];

/// What counts as success: on the default server every case passes (bar the list above); on
/// the minimal server optional features are off, so a case may also be unsupported, never fail.
fn allowed(server: &str, case: &Case) -> &'static [Outcome] {
    let declined = DECLINED_BY_DEFAULT.contains(&case.id.as_str());
    if server.starts_with("broken-") {
        return &[Outcome::Fail];
    }
    if server == "permissive-pre-main" && SHOULD_MISSED.contains(&case.id.as_str()) {
        return &[Outcome::Fail];
    }
    if server == "permissive" && NOT_APPLICABLE_ON_TEXT.contains(&case.id.as_str()) {
        return &[Outcome::Unsupported];
    }
    match (server, declined) {
        // A Basic-only registry has no token service to ask.
        ("basic", false) if uses_tokens(case) => &[Outcome::Unsupported],
        ("reference" | "basic" | "token" | "token-tls", false) | ("sparse", true) => {
            &[Outcome::Pass]
        }
        ("reference" | "basic" | "token" | "token-tls", true) => &[Outcome::Unsupported],
        _ => &[Outcome::Pass, Outcome::Unsupported],
    }
}

fn uses_tokens(case: &Case) -> bool {
    case.steps
        .iter()
        .any(|s| request_step(s).is_some_and(|r| matches!(r.auth, AuthSpec::Token(_))))
}

fn minimal_config() -> oci_reference_server::Config {
    let mut c = oci_reference_server::Config::memory();
    c.referrers = false;
    c.delete_manifests = false;
    c.delete_tags = false;
    c.delete_blobs = false;
    c.auto_mount = false;
    c.cross_mount = false;
    c.single_post = false;
    c.tag_param = false;
    c
}

fn main() {
    let args = Arguments::from_args();
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite = Arc::new(Suite::load(&root.join("specs")).unwrap_or_else(|e| panic!("{e}")));
    // A renamed case must not silently drop out of the lists that pin verdicts.
    let named = SHOULD_MISSED
        .iter()
        .chain(NOT_APPLICABLE_ON_TEXT)
        .chain(BROKEN.iter().flat_map(|b| b.2.iter()))
        .chain(DECLINED_BY_DEFAULT);
    for id in named {
        assert!(
            suite.cases.iter().any(|(_, c)| c.id == *id),
            "tests/conformance.rs names `{id}`, which is not a case"
        );
    }
    // The engine's own feature cases (tests/data/features) run through the same two servers,
    // so every engine feature is exercised end to end even while specs/ is small.
    let features_dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root.join("specs/requirements.json"),
        features_dir.path().join("requirements.json"),
    )
    .expect("catalog");
    for entry in std::fs::read_dir(root.join("tests/data/features")).expect("features") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, features_dir.path().join(path.file_name().unwrap())).expect("copy");
    }
    let features = Arc::new(Suite::load(features_dir.path()).unwrap_or_else(|e| panic!("{e}")));
    // The pre-main profile is judged by the contract of the version before main.
    let ctx = |ns: &str, server: &str| CaseContext {
        namespace: ns.into(),
        namespace2: ns.into(),
        run_id: "t".into(),
        seed: 42,
        layout: Default::default(),
        spec_version: if server == "permissive-pre-main" {
            SpecVersion::V1_1_1
        } else {
            SpecVersion::Dev
        },
    };
    let mut sparse_config = oci_reference_server::Config::memory();
    sparse_config.sparse_manifests = true;
    let tls_dir = tempfile::tempdir().expect("tempdir");
    let (basic, _) = support::auth_config(oci_reference_server::AuthMode::Basic, None);
    let (token, _) = support::auth_config(oci_reference_server::AuthMode::Token, None);
    let (token_tls, ca) =
        support::auth_config(oci_reference_server::AuthMode::Token, Some(tls_dir.path()));
    let mut configs = vec![
        ("reference", oci_reference_server::Config::memory()),
        ("minimal", minimal_config()),
        ("sparse", sparse_config),
        ("basic", basic),
        ("token", token),
        ("token-tls", token_tls),
        (
            "permissive",
            oci_reference_server::Config::memory().permissive(),
        ),
        (
            "permissive-pre-main",
            oci_reference_server::Config::memory().permissive_pre_main(),
        ),
    ];
    for (name, defect, _, _) in BROKEN {
        let mut c = oci_reference_server::Config::memory();
        c.defects = vec![*defect];
        configs.push((*name, c));
    }
    let servers: Vec<(&'static str, oci_reference_server::RunningServer)> =
        runtime.block_on(async {
            let mut v = Vec::new();
            for (name, config) in configs {
                v.push((
                    name,
                    oci_reference_server::spawn(config).await.expect("server"),
                ));
            }
            v
        });
    let http = |url: String, server: &str| {
        let auth = ["basic", "token", "token-tls"].contains(&server);
        let credentials = auth.then(|| Credentials {
            username: support::USER.into(),
            password: support::PASSWORD.into(),
        });
        let tls = TlsOptions {
            insecure: false,
            ca_cert: (server == "token-tls").then(|| ca.clone().expect("CA")),
        };
        Http::with_tls(&url, Duration::from_secs(30), 64 << 20, credentials, tls).expect("client")
    };
    let mut targets = Vec::new();
    for (prefix, suite) in [("", &suite), ("features::", &features)] {
        for (name, server) in &servers {
            // The engine's feature cases do not depend on auth: the plain servers suffice.
            if !prefix.is_empty()
                && (["basic", "token", "token-tls"].contains(name) || name.starts_with("broken-"))
            {
                continue;
            }
            targets.push(Target {
                name: format!("{prefix}{name}"),
                engine: Engine {
                    http: http(server.url(), name),
                    ctx: ctx(&format!("{}{name}", prefix.replace("::", "-")), name),
                    suite: (*suite).clone(),
                },
                server: name,
            });
        }
    }
    let targets = Arc::new(targets);
    let mut trials = Vec::new();
    for ti in 0..targets.len() {
        let suite = targets[ti].engine.suite.clone();
        for ci in 0..suite.cases.len() {
            let case = &suite.cases[ci].1;
            let name = format!("{}::{}", targets[ti].name, case.id);
            // The dev version is the superset the reference server implements; the
            // pre-main permissive profile runs the older versions' cases. A broken server runs
            // the cases that must catch its defect. Auth cases need credentials, which only
            // the auth targets have.
            let server = targets[ti].server;
            let version_applies = if server == "permissive-pre-main" {
                case.versions.iter().any(|v| *v != SpecVersion::Dev)
            } else {
                case.versions.contains(&SpecVersion::Dev)
            };
            let broken_applies = BROKEN
                .iter()
                .find(|b| b.0 == server)
                .is_none_or(|b| b.2.contains(&case.id.as_str()));
            let ignored = !version_applies
                || !broken_applies
                || (case.features.contains(&AUTH_FEATURE)
                    && !targets[ti].engine.http.has_credentials());
            let (targets, suite, runtime) = (targets.clone(), suite.clone(), runtime.clone());
            trials.push(
                Trial::test(name, move || {
                    let (file, case) = &suite.cases[ci];
                    let t = &targets[ti];
                    let r = runtime.block_on(t.engine.run_case(file, case));
                    let ok = allowed(t.server, case);
                    // A failure must be reported at the level the rule has.
                    let level = BROKEN
                        .iter()
                        .find(|b| b.0 == t.server)
                        .map(|b| b.3)
                        .or((t.server == "permissive-pre-main").then_some(Level::Should));
                    let wrong_level =
                        r.outcome == Outcome::Fail && level.is_some_and(|l| l != r.level);
                    let unnamed = r.outcome == Outcome::Unsupported
                        && NOT_APPLICABLE_ON_TEXT.contains(&case.id.as_str())
                        && t.server == "permissive"
                        && !r.message.as_deref().unwrap_or("").contains("R-143");
                    if ok.contains(&r.outcome) && !wrong_level && !unnamed {
                        Ok(())
                    } else {
                        Err(Failed::from(format!(
                            "{} (wanted {}): {}",
                            r.outcome.as_str(),
                            ok.iter()
                                .map(|o| o.as_str())
                                .collect::<Vec<_>>()
                                .join(" or "),
                            r.message.unwrap_or_default()
                        )))
                    }
                })
                .with_ignored_flag(ignored),
            );
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop(servers);
    conclusion.exit();
}
