//! The command line: `run`, `list`, `coverage`, `fuzz`, `replay`, `compare`, `matrix`.

use crate::config::{
    check_namespace, exit, ConfigError, OfficialEnv, RepositoryLayout, RunConfig, TargetArgs,
    TargetDefaults,
};
use crate::engine::{self, Engine};
use crate::expected::ExpectedFailures;
use crate::http::{Credentials, Http};
use crate::report;
use crate::repository::{self, CaseContext};
use crate::results::{CaseResult, Reporter, RunInfo};
use crate::spec::{Case, SpecVersion, Suite, Workflow};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const EXIT_CODES: &str = "Exit codes: 0 every required (MUST) case passed; 1 conformance failures \
(or an expected failure that now passes); 2 setup or configuration error (bad flag, bad URL, \
unreachable registry, invalid spec file); 3 nothing selected. The last line on stdout is \
`N passed, N failed, N skipped`, where skipped also counts unsupported cases and expected \
failures (stderr has the full breakdown).";

#[derive(Debug, Parser)]
#[command(
    name = "oci-conformance",
    version,
    about = "Conformance harness for the OCI Distribution Specification",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cases against a registry (the embedded reference server when no URL is given)
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// List the cases the selection picks, with their requirements
    List(SelectArgs),
    /// Print requirement -> cases, and the registry-observable requirements with no case
    Coverage(SpecsArg),
    /// Property-based fuzzing of a registry (the embedded reference server when no URL is
    /// given); minimal reproducers go to reports/fuzz/
    Fuzz(crate::fuzz::cli::FuzzArgs),
    /// Re-run a reproducer written by `fuzz` and say whether it still fails
    Replay(crate::fuzz::cli::ReplayArgs),
    /// Compare two runs' results.json: regressions, fixes, newly unsupported features, new and
    /// removed cases (text, Markdown, JUnit); exit 1 on a regression
    Compare(crate::compare::CompareArgs),
    /// One self-contained HTML page comparing registries from their results.json files
    /// (registries as columns, requirements and cases as rows)
    Matrix(crate::matrix::MatrixArgs),
}

#[derive(Debug, Args, Clone)]
pub struct SpecsArg {
    /// Directory of spec files (requirements.json and one JSON file per area); default: the
    /// case set built into this binary (reports name which one ran)
    #[arg(long, env = "OCI_CONFORMANCE_SPECS")]
    pub specs: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    #[command(flatten)]
    pub specs: SpecsArg,
    /// Workflows to run (comma list: pull, push, discovery, management); default all, or the
    /// official OCI_TEST_PULL/_PUSH/_CONTENT_DISCOVERY/_CONTENT_MANAGEMENT variables
    #[arg(long, env = "OCI_CONFORMANCE_WORKFLOW", value_delimiter = ',')]
    pub workflow: Vec<String>,
    /// Only cases whose id contains one of these substrings, or matches one of these globs
    /// (`*` any run of characters, `?` exactly one; a glob must match the whole id), comma list
    #[arg(long, env = "OCI_CONFORMANCE_FILTER", value_delimiter = ',')]
    pub filter: Vec<String>,
    /// Spec version to test: 1.0, 1.1, 1.1.1 or dev (main branch); falls back to OCI_VERSION
    #[arg(long, env = "OCI_CONFORMANCE_SPEC_VERSION")]
    pub spec_version: Option<String>,
    /// Optional features the registry lacks; their cases are skipped (comma list, e.g.
    /// referrers,delete-blob; `oci-conformance list` shows each case's features). An unknown
    /// name is a configuration error (exit 2), the same list as `fuzz`'s
    #[arg(
        long,
        env = "OCI_CONFORMANCE_DISABLE_FEATURES",
        value_delimiter = ',',
        value_enum
    )]
    pub disable_feature: Vec<crate::spec::Feature>,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Cases run at once
    #[arg(long, env = "OCI_CONFORMANCE_JOBS", default_value_t = 8)]
    pub jobs: usize,
    /// Directory for the reports
    #[arg(long, env = "OCI_CONFORMANCE_REPORT_DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// JUnit XML path (default REPORT_DIR/junit.xml)
    #[arg(long, env = "OCI_CONFORMANCE_JUNIT")]
    pub junit: Option<PathBuf>,
    /// HTML report path (default REPORT_DIR/report.html)
    #[arg(long, env = "OCI_CONFORMANCE_HTML")]
    pub html: Option<PathBuf>,
    /// Results JSON path (default REPORT_DIR/results.json)
    #[arg(long, env = "OCI_CONFORMANCE_JSON")]
    pub json: Option<PathBuf>,
    /// Expected-failure file (JSON: {"expected_failures": [{"case": ID, "requirement": R-…,
    /// "reason": TEXT}]}): listed cases may fail; a listed case that passes fails the run; an
    /// unknown case id, a requirement the case does not check or an empty reason is an error
    #[arg(long, env = "OCI_CONFORMANCE_EXPECTED_FAILURES")]
    pub expected_failures: Option<PathBuf>,
    /// Namespace of the second repositories (mount sources); falls back to
    /// OCI_CROSSMOUNT_NAMESPACE, else --namespace
    #[arg(long, env = "OCI_CONFORMANCE_CROSSMOUNT_NAMESPACE")]
    pub crossmount_namespace: Option<String>,
    /// Where cases put their repositories: nested (`<namespace>/<run id>/<case id>`), flat
    /// (`<namespace's first component>/oc-<run id>-<case>`, for registries that accept only
    /// two-component names) or fixed (exactly --namespace and --crossmount-namespace, one case
    /// at a time; cases that need a fresh repository are skipped, with the reason)
    #[arg(
        long,
        env = "OCI_CONFORMANCE_REPOSITORY_LAYOUT",
        value_enum,
        default_value_t = RepositoryLayout::Nested
    )]
    pub repository_layout: RepositoryLayout,
    /// Longest the whole run may take, in seconds (0: no limit); what is unfinished then is
    /// reported as errors, with the reason
    #[arg(long, env = "OCI_CONFORMANCE_DEADLINE", default_value_t = 1800)]
    pub deadline: u64,
    /// Stop the run once this many requests in a row have timed out (0: never): the registry
    /// is taken as gone and the remaining cases are reported as errors, with the reason
    #[arg(
        long,
        env = "OCI_CONFORMANCE_STOP_AFTER_TIMEOUTS",
        default_value_t = 10
    )]
    pub stop_after_timeouts: u32,
    /// Send at most this many requests per second (0: no cap), for registries that meter
    /// requests; a 429 or 503 with `Retry-After` is waited out either way
    #[arg(long, env = "OCI_CONFORMANCE_RATE", default_value_t = 0.0)]
    pub rate: f64,
    /// Delete the tags, manifests and blobs the run created once it ends (skipping the kinds
    /// whose deletion is disabled by --disable-feature or refused by the registry); the
    /// summary and results.json list what is left
    #[arg(long, env = "OCI_CONFORMANCE_CLEANUP", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub cleanup: bool,
    /// Largest response body read, in bytes
    #[arg(long, env = "OCI_CONFORMANCE_MAX_BODY", default_value_t = 64 * 1024 * 1024)]
    pub max_body: usize,
    /// Also ask for this scope in every token request (space-separated scopes, e.g.
    /// `repository:org/repo:pull,push`), for registries whose challenge scope is unusable
    #[arg(long, env = "OCI_AUTH_SCOPE")]
    pub auth_scope: Option<String>,
    /// Also send the credentials to these origins (scheme://host[:port], comma list), e.g. the
    /// public name a registry writes into its upload Locations; by default they go only to
    /// the registry's own origin and its token realm
    #[arg(long, env = "OCI_CONFORMANCE_TRUST_ORIGIN", value_delimiter = ',')]
    pub trust_origin: Vec<String>,
    /// Fail the run on SHOULD and MAY failures too, not only MUST
    #[arg(long, env = "OCI_CONFORMANCE_STRICT", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true")]
    pub strict: bool,
    /// Never draw a progress bar
    #[arg(long, env = "OCI_CONFORMANCE_NO_PROGRESS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true")]
    pub no_progress: bool,
}

/// What `run` falls back to for the target flags.
const RUN_DEFAULTS: TargetDefaults = TargetDefaults {
    namespace: "oci-conformance",
    timeout: Duration::from_secs(30),
};

/// Longest first namespace component a `flat` layout takes.
const FLAT_NAMESPACE_MAX: usize = 150;

/// Turns flags, environment and official variables into a validated config.
pub fn resolve(args: &RunArgs, official: &OfficialEnv) -> Result<RunConfig, ConfigError> {
    let target = args.target.resolve(official, RUN_DEFAULTS)?;
    let (workflows, spec_version) = selection(&args.select, official)?;
    let namespace = target.namespace.clone();
    let namespace2 = args
        .crossmount_namespace
        .clone()
        .or_else(|| official.crossmount_namespace.clone())
        .unwrap_or_else(|| namespace.clone());
    check_namespace(&namespace2)?;
    let layout = args.repository_layout;
    if layout == RepositoryLayout::Flat {
        for n in [&namespace, &namespace2] {
            let first = n.split('/').next().unwrap_or_default();
            // Room for `/oc-<run id>-<case>-<hash>` within 255 characters.
            if first.len() > FLAT_NAMESPACE_MAX {
                return Err(ConfigError(format!(
                    "--repository-layout flat: the namespace's first component `{first}` is \
                     longer than {FLAT_NAMESPACE_MAX} characters"
                )));
            }
        }
    }
    let trusted_origins = args
        .trust_origin
        .iter()
        .map(|o| match reqwest::Url::parse(o) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
            _ => Err(ConfigError(format!(
                "--trust-origin `{o}` is not an origin like https://host[:port]"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.jobs == 0 {
        return Err(ConfigError("--jobs must be at least 1".into()));
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(ConfigError(
            "--rate must be a number of requests per second, 0 for no cap".into(),
        ));
    }
    let dir = args.report_dir.clone();
    Ok(RunConfig {
        url: target.url,
        namespace,
        namespace2,
        layout,
        workflows,
        filters: args.select.filter.clone(),
        spec_version,
        // Cases share the fixed repositories: together they would see each other's tags.
        jobs: if layout == RepositoryLayout::Fixed {
            1
        } else {
            args.jobs
        },
        junit: args.junit.clone().unwrap_or_else(|| dir.join("junit.xml")),
        html: args.html.clone().unwrap_or_else(|| dir.join("report.html")),
        json: args
            .json
            .clone()
            .unwrap_or_else(|| dir.join("results.json")),
        report_dir: dir,
        expected_failures: args.expected_failures.clone(),
        seed: target.seed.unwrap_or_else(rand::random),
        timeout: target.timeout,
        deadline: (args.deadline > 0).then(|| Duration::from_secs(args.deadline)),
        stop_after_timeouts: args.stop_after_timeouts,
        max_body: args.max_body,
        rate: (args.rate > 0.0).then_some(args.rate),
        cleanup: args.cleanup,
        disabled_features: args.select.disable_feature.clone(),
        specs: args.select.specs.specs.clone(),
        username: target.credentials.as_ref().map(|c| c.username.clone()),
        password: target.credentials.map(|c| c.password),
        auth_scopes: args
            .auth_scope
            .iter()
            .flat_map(|s| s.split_whitespace().map(String::from))
            .collect(),
        tls: target.tls,
        trusted_origins,
        strict: args.strict,
        progress: !args.no_progress,
    })
}

fn selection(
    s: &SelectArgs,
    official: &OfficialEnv,
) -> Result<(Vec<Workflow>, SpecVersion), ConfigError> {
    let workflows = if !s.workflow.is_empty() {
        s.workflow
            .iter()
            .map(|w| w.parse().map_err(ConfigError))
            .collect::<Result<Vec<_>, _>>()?
    } else if let Some(w) = &official.workflows {
        w.clone()
    } else {
        Workflow::ALL.to_vec()
    };
    let version = match s.spec_version.as_ref().or(official.version.as_ref()) {
        Some(v) => v.parse().map_err(ConfigError)?,
        None => SpecVersion::V1_1_1,
    };
    Ok((workflows, version))
}

/// Why a case does not run, or None when it does.
pub fn skip_reason(
    case: &Case,
    workflows: &[Workflow],
    version: SpecVersion,
    disabled: &[crate::spec::Feature],
    credentials: bool,
) -> Option<String> {
    if !workflows.contains(&case.workflow) {
        return Some(format!("workflow {} not selected", case.workflow.as_str()));
    }
    if !case.versions.contains(&version) {
        return Some(format!(
            "does not apply to spec version {}",
            version.as_str()
        ));
    }
    if let Some(f) = case.features.iter().find(|f| disabled.contains(f)) {
        return Some(format!("feature `{f}` disabled by configuration"));
    }
    if !credentials && case.features.contains(&crate::spec::AUTH_FEATURE) {
        return Some("tests authentication: needs --username/--password".into());
    }
    None
}

fn filtered<'a>(suite: &'a Suite, filters: &[String]) -> Vec<&'a (PathBuf, Case)> {
    suite
        .cases
        .iter()
        .filter(|(_, c)| filters.is_empty() || filters.iter().any(|f| id_matches(f, &c.id)))
        .collect()
}

/// A filter with `*` or `?` is a glob over the whole id (`push/*/416*`; `*` any run of
/// characters, `?` exactly one: the server's access-rule globs, [`oci_reference_server::glob`]);
/// otherwise a substring.
pub fn id_matches(filter: &str, id: &str) -> bool {
    if filter.contains(['*', '?']) {
        oci_reference_server::glob::glob_match(filter, id)
    } else {
        id.contains(filter)
    }
}

/// Runs the CLI; returns the process exit code. Errors are printed as one line.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(args) => match run_command(&args) {
            Ok(code) => code,
            Err(e) => {
                // Setup errors quote the registry (a refused ping, a token service's answer).
                eprintln!("oci-conformance: {}", report::printable(&e.to_string()));
                exit::SETUP
            }
        },
        Command::List(args) => list_command(&args),
        Command::Coverage(args) => coverage_command(&args),
        Command::Fuzz(args) => crate::fuzz::cli::fuzz_command(&args),
        Command::Replay(args) => crate::fuzz::cli::replay_command(&args),
        Command::Compare(args) => crate::compare::compare_command(&args),
        Command::Matrix(args) => crate::matrix::matrix_command(&args),
    }
}

/// The `--specs` directory's cases, or the set built into the binary.
fn load_suite(dir: Option<&Path>) -> Result<Suite, ConfigError> {
    match dir {
        Some(d) => Suite::load(d),
        None => Suite::embedded(),
    }
    .map_err(|e| ConfigError(e.to_string()))
}

fn list_command(args: &SelectArgs) -> i32 {
    let official = match OfficialEnv::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("oci-conformance: {e}");
            return exit::SETUP;
        }
    };
    let run = || -> Result<i32, ConfigError> {
        let suite = load_suite(args.specs.specs.as_deref())?;
        let (workflows, version) = selection(args, &official)?;
        let cases = filtered(&suite, &args.filter);
        if cases.is_empty() {
            eprintln!("oci-conformance: no case matches the filter");
            return Ok(exit::NOTHING_SELECTED);
        }
        for (_, c) in cases {
            let credentials = std::env::var_os("OCI_USERNAME").is_some();
            let skip = skip_reason(c, &workflows, version, &args.disable_feature, credentials);
            println!(
                "{:<60} {:<10} {:<6} {:<20} {}{}",
                c.id,
                c.workflow.as_str(),
                c.level.as_str(),
                c.requirements.join(","),
                c.features
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                skip.map(|s| format!("  [skip: {s}]")).unwrap_or_default()
            );
        }
        Ok(exit::OK)
    };
    run().unwrap_or_else(|e| {
        eprintln!("oci-conformance: {e}");
        exit::SETUP
    })
}

fn coverage_command(args: &SpecsArg) -> i32 {
    match load_suite(args.specs.as_deref()) {
        Ok(suite) => {
            let cov = crate::coverage::Coverage::of(&suite);
            print!("{}", cov.render(&suite));
            exit::OK
        }
        Err(e) => {
            eprintln!("oci-conformance: {e}");
            exit::SETUP
        }
    }
}

fn run_command(args: &RunArgs) -> Result<i32, ConfigError> {
    let official = OfficialEnv::from_env()?;
    let cfg = resolve(args, &official)?;
    let suite = load_suite(cfg.specs.as_deref())?;
    let ids: Vec<(&str, &[String])> = suite
        .cases
        .iter()
        .map(|(_, c)| (c.id.as_str(), c.requirements.as_slice()))
        .collect();
    let expected = match &cfg.expected_failures {
        Some(p) => ExpectedFailures::load(p, &ids).map_err(ConfigError)?,
        None => ExpectedFailures::default(),
    };
    let candidates = filtered(&suite, &cfg.filters);
    let ctx = CaseContext {
        namespace: cfg.namespace.clone(),
        namespace2: cfg.namespace2.clone(),
        run_id: repository::new_run_id(),
        seed: cfg.seed,
        layout: cfg.layout,
        spec_version: cfg.spec_version,
    };
    let mut selected = Vec::new();
    let mut skipped_cases = Vec::new();
    for (file, case) in candidates {
        match skip_reason(
            case,
            &cfg.workflows,
            cfg.spec_version,
            &cfg.disabled_features,
            cfg.username.is_some(),
        )
        .or_else(|| ctx.layout_skip(case))
        {
            None => selected.push((file.clone(), case.clone())),
            Some(r) => skipped_cases.push((file.clone(), case.clone(), r)),
        }
    }
    if selected.is_empty() {
        eprintln!("oci-conformance: nothing selected (check --filter, --workflow, --spec-version)");
        return Ok(exit::NOTHING_SELECTED);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ConfigError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let (url, embedded) = match &cfg.url {
            Some(u) => (u.clone(), None),
            None => {
                let server = oci_reference_server::spawn(oci_reference_server::Config::memory())
                    .await
                    .map_err(|e| {
                        ConfigError(format!("cannot start the embedded reference server: {e}"))
                    })?;
                eprintln!(
                    "oci-conformance: no --url given: testing the embedded reference server at {}",
                    server.url()
                );
                (server.url(), Some(server))
            }
        };
        let credentials = cfg.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: cfg.password.clone().unwrap_or_default(),
        });
        let http = Http::with_tls(
            &url,
            cfg.timeout,
            cfg.max_body,
            credentials,
            cfg.tls.clone(),
        )
        .map_err(|e| ConfigError(e.to_string()))?
        .with_forced_scopes(cfg.auth_scopes.clone())
        .with_trusted_origins(cfg.trusted_origins.clone())
        .with_run_limits(cfg.deadline, cfg.stop_after_timeouts)
        .with_rate(cfg.rate);
        ping(&http, &url).await?;
        let preflight = crate::preflight::probe(
            &http,
            &ctx.repos("preflight").0,
            cfg.layout,
            &ctx.run_id,
            &cfg.disabled_features,
        )
        .await;
        for line in preflight.lines() {
            eprintln!("oci-conformance: {line}");
        }
        let preflight_lines: Vec<String> = preflight
            .writes_refused
            .iter()
            .cloned()
            .chain(preflight.lines())
            .collect();
        let mut held = Vec::new();
        selected.retain(|(file, case)| match preflight.verdict(case) {
            Some((outcome, why)) => {
                held.push((file.clone(), case.clone(), outcome, why));
                false
            }
            None => true,
        });
        let suite = Arc::new(suite);
        let engine = Engine {
            http,
            ctx,
            suite: suite.clone(),
        };
        let info = RunInfo {
            target: url.clone(),
            embedded: embedded.is_some(),
            spec_version: cfg.spec_version.as_str().into(),
            seed: cfg.seed,
            run_id: engine.ctx.run_id.clone(),
            selected: selected.len(),
            total: suite.cases.len(),
            case_set: suite.case_set.clone(),
        };
        let mut skipped: Vec<_> = skipped_cases
            .iter()
            .map(|(f, c, r)| engine.skipped(f, c, r.clone()))
            .collect();
        skipped.extend(held.into_iter().map(|(f, c, outcome, why)| CaseResult {
            outcome,
            ..engine.skipped(&f, &c, why)
        }));
        let mut reporters: Vec<Box<dyn Reporter>> = vec![
            Box::new(report::terminal::Terminal::new(cfg.progress, cfg.strict)),
            Box::new(report::json::JsonReport::new(cfg.json.clone())),
            Box::new(report::junit::JunitReport::new(cfg.junit.clone())),
            Box::new(report::html::HtmlReport::new(cfg.html.clone())),
        ];
        let summary = engine::run(
            &engine,
            info,
            selected,
            skipped,
            &expected,
            &engine::RunOptions {
                jobs: cfg.jobs,
                cleanup: cfg.cleanup,
                cleanup_disabled: cfg.disabled_features.clone(),
                preflight: preflight_lines,
            },
            &mut reporters,
        )
        .await;
        for r in reporters.iter_mut() {
            r.finish()
                .map_err(|e| ConfigError(format!("cannot write a report: {e}")))?;
        }
        if let Some(s) = embedded {
            s.shutdown().await;
        }
        Ok(if summary.is_failure(cfg.strict) {
            exit::FAILURES
        } else {
            exit::OK
        })
    })
}

/// `GET /v2/` before anything else: an unreachable registry is one clear line, not a wall of
/// identical failures.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

async fn ping(http: &Http, url: &str) -> Result<(), ConfigError> {
    let target = format!("{}/v2/", http.base().as_str().trim_end_matches('/'));
    // Short, whatever --timeout says: a wrong URL should cost seconds, not a full timeout.
    let ex = tokio::time::timeout(
        PING_TIMEOUT,
        http.send(crate::http::Request {
            method: "GET".into(),
            url: target,
            headers: vec![],
            body: None,
            raw: false,
            auth: Default::default(),
        }),
    )
    .await
    .map_err(|_| {
        ConfigError(format!(
            "registry at {url} is unreachable: GET /v2/ got no answer within {} s",
            PING_TIMEOUT.as_secs()
        ))
    })?;
    match ex.status {
        None => Err(ConfigError(format!(
            "registry at {url} is unreachable: {}",
            ex.error.unwrap_or_default()
        ))),
        Some(200) => Ok(()),
        // With credentials, a 401 after the whole flow (Basic, or a token) means they were
        // refused: one line now instead of every case failing on it.
        Some(401) if http.has_credentials() => Err(ConfigError(match ex.error {
            // Not the registry's refusal: the harness's own (a plain-HTTP realm).
            Some(e) if e.contains(crate::http::auth::CLEAR_TEXT_REALM) => {
                format!("registry at {url}: {e}")
            }
            e => format!(
                "registry at {url} refused the credentials: GET /v2/ answered 401{}",
                e.map(|e| format!(" ({e})")).unwrap_or_default()
            ),
        })),
        Some(401) => {
            eprintln!(
                "oci-conformance: warning: GET /v2/ answered 401: the registry wants credentials \
                 (--username, OCI_PASSWORD); continuing without"
            );
            Ok(())
        }
        Some(s) => {
            eprintln!("oci-conformance: warning: GET /v2/ answered {s}; continuing");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::id_matches;

    #[test]
    fn filters_are_substrings_or_whole_id_globs() {
        assert!(id_matches("chunked", "push/chunked/out-of-order-416"));
        assert!(id_matches(
            "push/*/out-of-order-41?",
            "push/chunked/out-of-order-416"
        ));
        assert!(id_matches("*416", "push/chunked/out-of-order-416"));
        assert!(!id_matches("push/*", "pull/manifest/get"));
        assert!(
            !id_matches("*chunked", "push/chunked/out-of-order-416"),
            "globs are anchored"
        );
        assert!(id_matches("*", ""));
        assert!(!id_matches("a*a*a*a*a*a*a*b", &"a".repeat(200)));
    }

    /// `?` is one character, as in the server's access rules (which read it as a literal).
    #[test]
    fn filter_question_mark_is_exactly_one_character() {
        assert!(id_matches(
            "push/?hunked/*",
            "push/chunked/out-of-order-416"
        ));
        assert!(!id_matches(
            "push/?chunked/*",
            "push/chunked/out-of-order-416"
        ));
    }
}
