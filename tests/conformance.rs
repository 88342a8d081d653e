//! Every spec case as its own test, against in-process reference servers (libtest-mimic).
//!
//! Two targets: the default server (everything on) where every case must pass or be
//! unsupported-by-design nowhere, and a minimal server with every optional feature off, where
//! no case may fail: each must pass, be unsupported or be skipped. The second proves that the
//! cases' "feature absent" answers are classified as the spec allows. The engine's own
//! feature cases (tests/data/features) run on both targets too, named `features::…`.

use libtest_mimic::{Arguments, Failed, Trial};
use oci_conformance::engine::{CaseContext, Engine, Outcome};
use oci_conformance::http::Http;
use oci_conformance::spec::{SpecVersion, Suite};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

struct Target {
    name: String,
    engine: Engine,
    /// Outcomes that count as success on this target.
    allowed: &'static [Outcome],
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
    let (full, minimal) = runtime.block_on(async {
        let full = oci_reference_server::spawn(oci_reference_server::Config::memory())
            .await
            .expect("reference server");
        let minimal = oci_reference_server::spawn(minimal_config())
            .await
            .expect("minimal reference server");
        (full, minimal)
    });
    let http =
        |url: String| Http::new(&url, Duration::from_secs(30), 64 << 20, None).expect("client");
    let mut targets = Vec::new();
    for (prefix, suite) in [("", &suite), ("features::", &features)] {
        targets.push(Target {
            name: format!("{prefix}reference"),
            engine: Engine {
                http: http(full.url()),
                ctx: ctx(&format!("{prefix}full").replace("::", "")),
                suite: (*suite).clone(),
            },
            allowed: &[Outcome::Pass],
        });
        targets.push(Target {
            name: format!("{prefix}minimal"),
            engine: Engine {
                http: http(minimal.url()),
                ctx: ctx(&format!("{prefix}minimal").replace("::", "")),
                suite: (*suite).clone(),
            },
            allowed: &[Outcome::Pass, Outcome::Unsupported],
        });
    }
    let targets = Arc::new(targets);
    let mut trials = Vec::new();
    for ti in 0..targets.len() {
        let suite = targets[ti].engine.suite.clone();
        for ci in 0..suite.cases.len() {
            let case = &suite.cases[ci].1;
            let name = format!("{}::{}", targets[ti].name, case.id);
            // The dev version is the superset the reference server implements.
            let ignored = !case.versions.contains(&SpecVersion::Dev);
            let (targets, suite, runtime) = (targets.clone(), suite.clone(), runtime.clone());
            trials.push(
                Trial::test(name, move || {
                    let (file, case) = &suite.cases[ci];
                    let t = &targets[ti];
                    let r = runtime.block_on(t.engine.run_case(file, case));
                    if t.allowed.contains(&r.outcome) {
                        Ok(())
                    } else {
                        Err(Failed::from(format!(
                            "{}: {}",
                            r.outcome.as_str(),
                            r.message.unwrap_or_default()
                        )))
                    }
                })
                .with_ignored_flag(ignored),
            );
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop((full, minimal));
    conclusion.exit();
}
