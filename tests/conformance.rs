//! Every spec case as its own test, against in-process reference servers (libtest-mimic).
//!
//! Three reference-server variants. `reference` (default configuration): every case passes,
//! except the short, commented DECLINED_BY_DEFAULT list, which must be unsupported there and
//! pass on `sparse` (default + sparse manifests). `minimal` (every optional feature off): a case
//! may pass or be unsupported (a spec-valid "not supported" answer the case names), never fail,
//! which proves the cases classify "feature absent" answers as the spec allows. The engine's own
//! feature cases (tests/data/features) run on both targets too, named `features::…`.

use libtest_mimic::{Arguments, Failed, Trial};
use oci_conformance::engine::{CaseContext, Engine, Outcome};
use oci_conformance::http::Http;
use oci_conformance::spec::{SpecVersion, Suite, AUTH_FEATURE};
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

/// What counts as success: on the default server every case passes (bar the list above); on
/// the minimal server optional features are off, so a case may also be unsupported, never fail.
fn allowed(server: &str, case_id: &str) -> &'static [Outcome] {
    let declined = DECLINED_BY_DEFAULT.contains(&case_id);
    match (server, declined) {
        ("reference", false) | ("sparse", true) => &[Outcome::Pass],
        ("reference", true) => &[Outcome::Unsupported],
        _ => &[Outcome::Pass, Outcome::Unsupported],
    }
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
    let ctx = |ns: &str| CaseContext {
        namespace: ns.into(),
        namespace2: ns.into(),
        run_id: "t".into(),
        seed: 42,
    };
    let mut sparse_config = oci_reference_server::Config::memory();
    sparse_config.sparse_manifests = true;
    let configs = [
        ("reference", oci_reference_server::Config::memory()),
        ("minimal", minimal_config()),
        ("sparse", sparse_config),
    ];
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
    let http =
        |url: String| Http::new(&url, Duration::from_secs(30), 64 << 20, None).expect("client");
    let mut targets = Vec::new();
    for (prefix, suite) in [("", &suite), ("features::", &features)] {
        for (name, server) in &servers {
            targets.push(Target {
                name: format!("{prefix}{name}"),
                engine: Engine {
                    http: http(server.url()),
                    ctx: ctx(&format!("{}{name}", prefix.replace("::", "-"))),
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
            // The dev version is the superset the reference server implements.
            // Auth cases need credentials, which only the auth targets have.
            let ignored = !case.versions.contains(&SpecVersion::Dev)
                || (case.features.iter().any(|f| f == AUTH_FEATURE)
                    && !targets[ti].engine.http.has_credentials());
            let (targets, suite, runtime) = (targets.clone(), suite.clone(), runtime.clone());
            trials.push(
                Trial::test(name, move || {
                    let (file, case) = &suite.cases[ci];
                    let t = &targets[ti];
                    let r = runtime.block_on(t.engine.run_case(file, case));
                    let ok = allowed(t.server, &case.id);
                    if ok.contains(&r.outcome) {
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
