//! The fuzz loop: seeded proptest batches over both layers, shrinking, reproducers, replay.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde_json::json;

use super::coverage::Coverage;
use super::http::{Answer, Client, Exchange, Req};
use super::model::{self, Case, ModelCtx};
use super::oracle::{Verdict, Violation};
use super::probe::{self, Fixture, Probe, ProbeCtx};
use super::repro::{self, Reproducer};
use super::{FuzzConfig, FuzzError, Layer};

/// One distinct bug (signature) found by a run.
#[derive(Debug, Clone)]
pub struct Finding {
    pub signature: String,
    /// MUST or SHOULD (see `Violation::level`).
    pub level: &'static str,
    pub layer: &'static str,
    pub message: String,
    pub path: PathBuf,
    /// How many generated cases hit it (the first one, then every later one that was skipped).
    pub hits: u32,
    /// Requirement ids it breaks (those a conformance case for the same bug names).
    pub requirements: Vec<&'static str>,
    /// Generated cases (both layers) up to and including the first one that hit it.
    pub found_after: u64,
}

impl Finding {
    /// Its line in a run's summary; `first` says where it was first met (`in case 12`, `after
    /// 3 scenarios`). One format for the sequential and the race runner.
    pub fn summary_line(&self, first: std::fmt::Arguments) -> String {
        format!(
            "FAIL [{}] {} ({} hits, first {first}) -> {}\n     {}",
            self.level,
            crate::report::printable(&self.signature),
            self.hits,
            self.path.display(),
            crate::report::printable(&self.message)
        )
    }

    /// What `--verbose` prints the moment a finding's reproducer is written.
    pub fn announce(level: &str, signature: &str, message: &str, path: &Path) {
        eprintln!(
            "fuzz: FAIL [{level}] {}\n      reproducer: {}",
            crate::report::printable(&format!("{signature}: {message}")),
            path.display()
        );
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub seed: u64,
    pub run_id: String,
    pub request_cases: u64,
    pub model_cases: u64,
    /// Executions spent shrinking (not counted as cases).
    pub shrink_steps: u64,
    pub requests: u64,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
    /// Answers per operation and states reached (generated cases only, not shrinking).
    pub coverage: Coverage,
}

impl RunSummary {
    pub fn cases(&self) -> u64 {
        self.request_cases + self.model_cases
    }
    pub fn cases_per_sec(&self) -> f64 {
        self.cases() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Layers that ran cases yet never had a write accepted: they reached no state worth
    /// judging, whatever their verdict.
    pub fn starved_layers(&self) -> Vec<&'static str> {
        let mut ran = Vec::new();
        if self.request_cases > 0 {
            ran.push("request");
        }
        if self.model_cases > 0 {
            ran.push("model");
        }
        self.coverage.starved_layers(&ran)
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "fuzz seed {} run {}: {} cases ({} request, {} model, {} shrink steps), {} requests in {:.1}s = {:.1} cases/s, {:.0} requests/s",
            self.seed,
            self.run_id,
            self.cases(),
            self.request_cases,
            self.model_cases,
            self.shrink_steps,
            self.requests,
            self.elapsed.as_secs_f64(),
            self.cases_per_sec(),
            self.requests_per_sec()
        )?;
        write!(f, "{}", self.coverage)?;
        for l in self.starved_layers() {
            writeln!(
                f,
                "WARNING: the {l} layer had no write accepted: it never reached the states it is meant to test"
            )?;
        }
        if self.findings.is_empty() {
            writeln!(f, "no spec violations found")?;
        }
        for x in &self.findings {
            writeln!(
                f,
                "{}",
                x.summary_line(format_args!("in case {}", x.found_after))
            )?;
        }
        Ok(())
    }
}

/// Mixes the run seed and a batch number into a batch seed (splitmix64).
fn batch_seed(seed: u64, batch: u64) -> u64 {
    let mut z = seed.wrapping_add(batch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// (actual repository name, template variable) pairs of one execution.
type Names = Vec<(String, &'static str)>;

struct State {
    client: Client,
    prefix: String,
    counter: u64,
    deadline: Option<Instant>,
    /// Signature being shrunk in the current batch: other failures are ignored meanwhile so the
    /// shrinker stays on one bug.
    target: Option<String>,
    last_fail: Option<(Box<Violation>, Vec<Exchange>, Names)>,
    known: BTreeMap<String, usize>,
    findings: Vec<Finding>,
    generated: u64,
    shrink_steps: u64,
}

impl State {
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
    fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

fn exec_probe(
    st: &mut State,
    fixture: &Fixture,
    cfg: &FuzzConfig,
    p: &Probe,
) -> (Verdict, Vec<(String, &'static str)>) {
    let id = st.next_id();
    let fresh = format!("{}/c{id}", st.prefix);
    st.client.transcript.clear();
    let names = vec![(fixture.name.clone(), "repo2"), (fresh.clone(), "repo")];
    let mut ctx = ProbeCtx {
        client: &mut st.client,
        fixture,
        features: &cfg.features,
        version: cfg.version,
        fresh,
    };
    (probe::execute(p, &mut ctx), names)
}

fn exec_model(
    st: &mut State,
    cfg: &FuzzConfig,
    c: &Case,
) -> (Verdict, Vec<(String, &'static str)>) {
    let id = st.next_id();
    let names: Vec<String> = (0..model::REPOS)
        .map(|r| format!("{}/m{id}-{r}", st.prefix))
        .collect();
    st.client.transcript.clear();
    let tmpl = vec![(names[0].clone(), "repo"), (names[1].clone(), "repo2")];
    let mut ctx = ModelCtx {
        client: &mut st.client,
        features: &cfg.features,
        version: cfg.version,
        names,
    };
    (model::execute(c, &mut ctx), tmpl)
}

/// A client for `cfg`'s registry, once it answers `GET /v2/` with 200.
fn connect(cfg: &FuzzConfig) -> Result<Client, FuzzError> {
    let mut client = Client::new(
        &cfg.url,
        cfg.timeout,
        cfg.rate,
        cfg.credentials.clone(),
        cfg.tls.clone(),
    )?;
    match client.send(Req::new("GET", "/v2/")) {
        Answer::Response(r) if r.status == 200 => Ok(client),
        other => Err(FuzzError::Unreachable {
            url: cfg.url.clone(),
            detail: format!("GET /v2/ answered {}", other.describe()),
        }),
    }
}

/// The layer name of findings made while pushing the request layer's fixture.
const SETUP: &str = "setup";

/// Pushes the request layer's fixture (see [`judged_setup`]).
fn push_fixture(st: &mut State, cfg: &FuzzConfig, f: &Fixture) -> Result<Verdict, FuzzError> {
    judged_setup(&mut st.client, |c| f.push(c, cfg.version))
}

/// Runs setup pushes judged by the response contract, on a fresh transcript. Outer Err: the
/// registry refused them (no connection, or 401/403: it will not take our writes), so the run
/// cannot be done; inner Err: it answered against the spec, a finding like any other.
pub(super) fn judged_setup(
    client: &mut Client,
    push: impl FnOnce(&mut Client) -> Verdict,
) -> Result<Verdict, FuzzError> {
    client.transcript.clear();
    let verdict = push(client);
    let Err(v) = &verdict else {
        return Ok(verdict);
    };
    let failed = v.exchange.and_then(|i| client.transcript.get(i));
    let refused = failed
        .is_some_and(|ex| ex.answer.unreachable() || matches!(ex.answer.status(), Some(401 | 403)));
    if refused {
        return Err(FuzzError::Setup(format!(
            "the registry did not take the setup push: {v}"
        )));
    }
    Ok(verdict)
}

/// The finding for a setup push the registry answered against the spec (see [`judged_setup`]),
/// its reproducer written from `client`'s transcript with `repo` as `${repo}`. `replay` re-runs
/// it as the request layer's fixture push.
pub(super) fn setup_finding(
    client: &Client,
    cfg: &FuzzConfig,
    v: &Violation,
    repo: &str,
) -> Result<Finding, FuzzError> {
    let signature = v.signature(SETUP);
    let base = client.base().to_string();
    let path = Reproducer {
        layer: SETUP,
        signature: &signature,
        seed: cfg.seed,
        violation: v,
        input: json!(SETUP),
        transcript: &client.transcript,
        base: &base,
        names: vec![(repo.to_string(), "repo")],
    }
    .write(&cfg.out_dir)?;
    if cfg.verbose {
        Finding::announce(v.level(), &signature, &v.to_string(), &path);
    }
    Ok(Finding {
        signature,
        level: v.level(),
        layer: SETUP,
        message: v.to_string(),
        path,
        hits: 1,
        requirements: v.requirements.clone(),
        found_after: 0,
    })
}

/// Runs a fuzz campaign. Blocking: call it from a plain thread or `spawn_blocking`, not from
/// inside an async task.
pub fn run(cfg: &FuzzConfig) -> Result<RunSummary, FuzzError> {
    on_big_stack(|| run_inner(cfg))
}

/// Deeply nested proptest strategies (and their value trees while shrinking) need more stack
/// than a test harness thread's 2 MiB in debug builds; run on a thread with room to spare.
fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("oci-fuzz".into())
            .stack_size(256 << 20)
            .spawn_scoped(s, f)
            .expect("spawn fuzz thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn run_inner(cfg: &FuzzConfig) -> Result<RunSummary, FuzzError> {
    let start = Instant::now();
    let client = connect(cfg)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let prefix = format!("{}/{run_id}", cfg.namespace.trim_matches('/'));
    if cfg.verbose {
        eprintln!(
            "fuzz: seed {} (re-run with --seed {}), run {run_id}, target {}",
            cfg.seed, cfg.seed, cfg.url
        );
    }
    let st = RefCell::new(State {
        client,
        prefix: prefix.clone(),
        counter: 0,
        deadline: cfg.time.map(|t| start + t),
        target: None,
        last_fail: None,
        known: BTreeMap::new(),
        findings: Vec::new(),
        generated: 0,
        shrink_steps: 0,
    });
    let fixture = if cfg.layer != Layer::Model {
        let f = Fixture::new(format!("{prefix}/fixture"), cfg.seed);
        let mut s = st.borrow_mut();
        match push_fixture(&mut s, cfg, &f)? {
            Ok(()) => Some(f),
            // A finding: the request layer has nothing to probe, the model layer may still run.
            Err(v) => {
                let x = setup_finding(&s.client, cfg, &v, &f.name)?;
                let at = s.findings.len();
                s.known.insert(x.signature.clone(), at);
                s.findings.push(x);
                None
            }
        }
    } else {
        None
    };
    let (mut req_share, model_share) = match cfg.layer {
        Layer::Request => (cfg.cases as u64, 0),
        Layer::Model => (0, cfg.cases as u64),
        // Model cases cost ~20x more requests; a 3:1 split keeps both layers exercised.
        Layer::Both => {
            let m = (cfg.cases as u64 / 4).max(1);
            (cfg.cases as u64 - m, m)
        }
    };
    if fixture.is_none() {
        // The request layer probes the fixture: without one it has nothing to do.
        req_share = 0;
    }
    let (mut req_done, mut model_done) = (0u64, 0u64);
    let mut batch = 0u64;
    while (req_done < req_share || model_done < model_share) && !st.borrow().out_of_time() {
        batch += 1;
        let want_model = match (req_done < req_share, model_done < model_share) {
            (true, true) => req_done * model_share.max(1) > model_done * req_share.max(1),
            (false, true) => true,
            _ => false,
        };
        let bseed = batch_seed(cfg.seed, batch);
        let remaining = st
            .borrow()
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let mk = |cases: u64| Config {
            cases: cases as u32,
            rng_seed: RngSeed::Fixed(bseed),
            failure_persistence: None,
            max_shrink_iters: cfg.max_shrink_iters,
            max_shrink_time: remaining.map_or(120_000, |r| r.as_millis().clamp(1, 120_000) as u32),
            max_global_rejects: 1_000_000,
            max_local_rejects: 1_000_000,
            verbose: 0,
            ..Config::default()
        };
        st.borrow_mut().target = None;
        st.borrow_mut().last_fail = None;
        let before = st.borrow().generated;
        if want_model {
            let n = (cfg.batch as u64 / 4).max(1).min(model_share - model_done);
            let mut runner = TestRunner::new(mk(n));
            let result = runner.run(&model::case(cfg.max_ops), |c| {
                step(&st, "model", |s| exec_model(s, cfg, &c))
            });
            model_done += st.borrow().generated - before;
            if let Err(TestError::Fail(_, minimal)) = result {
                let input = serde_json::to_value(&minimal).unwrap_or_default();
                let mut s = st.borrow_mut();
                let rec = exec_model(&mut s, cfg, &minimal);
                record(&mut s, cfg, "model", input, rec)?;
            }
        } else {
            let f = fixture.as_ref().expect("fixture for the request layer");
            let n = (cfg.batch as u64).min(req_share - req_done);
            let kinds = cfg.probe_kinds.clone();
            let strat = probe::probe().prop_filter("probe kind not selected", move |p| {
                kinds.is_empty() || kinds.iter().any(|k| k == p.kind())
            });
            let mut runner = TestRunner::new(mk(n));
            let result = runner.run(&strat, |p| {
                step(&st, "request", |s| exec_probe(s, f, cfg, &p))
            });
            req_done += st.borrow().generated - before;
            if let Err(TestError::Fail(_, minimal)) = result {
                let input = serde_json::to_value(&minimal).unwrap_or_default();
                let mut s = st.borrow_mut();
                // Re-run the minimal probe against a fresh copy of the fixture so the reproducer's
                // transcript is self-contained (fixture pushes included as setup steps).
                let id = s.next_id();
                let rf = Fixture::new(format!("{}/fixture{id}", s.prefix), cfg.seed);
                s.client.transcript.clear();
                let pushed = if minimal.uses_fixture() {
                    rf.push(&mut s.client, cfg.version)
                } else {
                    Ok(())
                };
                let setup = std::mem::take(&mut s.client.transcript);
                let (v, names) = if pushed.is_ok() {
                    exec_probe(&mut s, &rf, cfg, &minimal)
                } else {
                    (Ok(()), vec![])
                };
                let mut full = setup;
                let offset = full.len();
                full.append(&mut s.client.transcript);
                s.client.transcript = full;
                let v = v.map_err(|mut v| {
                    v.exchange = v.exchange.map(|e| e + offset);
                    v
                });
                let mut names = names;
                names.push((rf.name.clone(), "repo2"));
                record(&mut s, cfg, "request", input, (v, names))?;
            }
        }
        if st.borrow().generated == before {
            break; // out of time before the batch generated anything
        }
        if cfg.stop_at_first_finding && !st.borrow().findings.is_empty() {
            break;
        }
    }
    let mut s = st.into_inner();
    Ok(RunSummary {
        coverage: std::mem::take(&mut s.client.coverage),
        seed: cfg.seed,
        run_id,
        request_cases: req_done,
        model_cases: model_done,
        shrink_steps: s.shrink_steps,
        requests: s.client.requests,
        elapsed: start.elapsed(),
        findings: s.findings,
    })
}

/// One proptest execution: run it, then decide whether proptest should see a failure.
fn step(
    st: &RefCell<State>,
    layer: &'static str,
    exec: impl FnOnce(&mut State) -> (Verdict, Vec<(String, &'static str)>),
) -> Result<(), TestCaseError> {
    let mut s = st.borrow_mut();
    if s.target.is_some() {
        s.shrink_steps += 1;
    } else {
        if s.out_of_time() {
            return Ok(());
        }
        s.generated += 1;
    }
    s.client.coverage.layer = s.target.is_none().then_some(layer);
    let (verdict, names) = exec(&mut s);
    s.client.coverage.layer = None;
    let Err(v) = verdict else { return Ok(()) };
    let sig = v.signature(layer);
    if let Some(&i) = s.known.get(&sig) {
        // Already reported in this run: one bug, one file. Count it and keep looking.
        if s.target.is_none() {
            s.findings[i].hits += 1;
        }
        return Ok(());
    }
    let key = v.shrink_key(layer);
    match &s.target {
        Some(t) if *t != key => return Ok(()),
        _ => {}
    }
    s.target = Some(key);
    let transcript = s.client.transcript.clone();
    let msg = v.to_string();
    s.last_fail = Some((v, transcript, names));
    Err(TestCaseError::fail(msg))
}

fn record(
    s: &mut State,
    cfg: &FuzzConfig,
    layer: &'static str,
    input: serde_json::Value,
    rerun: (Verdict, Vec<(String, &'static str)>),
) -> Result<(), FuzzError> {
    let target = s.target.clone().unwrap_or_default();
    let (v, transcript, mut names) = match rerun {
        (Err(v), names)
            if v.shrink_key(layer) == target && !s.known.contains_key(&v.signature(layer)) =>
        {
            (v, s.client.transcript.clone(), names)
        }
        // The minimal input did not fail the same way again (flaky registry?): keep the last
        // failing execution seen while shrinking.
        _ => match s.last_fail.take() {
            Some(x) => x,
            None => return Ok(()),
        },
    };
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let signature = v.signature(layer);
    let base = s.client.base().to_string();
    let rep = Reproducer {
        layer,
        signature: &signature,
        seed: cfg.seed,
        violation: &v,
        input,
        transcript: &transcript,
        base: &base,
        names,
    };
    let path = rep.write(&cfg.out_dir)?;
    if cfg.verbose {
        Finding::announce(v.level(), &signature, &v.to_string(), &path);
    }
    s.known.insert(signature.clone(), s.findings.len());
    s.findings.push(Finding {
        signature,
        level: v.level(),
        layer,
        message: v.to_string(),
        path,
        hits: 1,
        requirements: v.requirements.clone(),
        found_after: s.generated,
    });
    Ok(())
}

#[derive(Debug, Clone)]
pub enum ReplayOutcome {
    /// The reproducer no longer fails.
    Passes,
    /// It still fails; `same` tells whether with the recorded signature.
    Fails {
        signature: String,
        same: bool,
        message: String,
    },
}

/// Re-runs the input of a reproducer file against `cfg.url` with the fuzz oracle.
pub fn replay(path: &Path, cfg: &FuzzConfig) -> Result<ReplayOutcome, FuzzError> {
    on_big_stack(|| replay_inner(path, cfg))
}

fn replay_inner(path: &Path, cfg: &FuzzConfig) -> Result<ReplayOutcome, FuzzError> {
    let loaded = repro::load(path)?;
    let bad = |e: serde_json::Error| FuzzError::Reproducer {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let client = connect(cfg)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let mut st = State {
        client,
        prefix: format!("{}/{run_id}", cfg.namespace.trim_matches('/')),
        counter: 0,
        deadline: None,
        target: None,
        last_fail: None,
        known: BTreeMap::new(),
        findings: Vec::new(),
        generated: 0,
        shrink_steps: 0,
    };
    let (layer, verdict) = match loaded.layer.as_str() {
        "request" => {
            let p: Probe = serde_json::from_value(loaded.input).map_err(bad)?;
            let f = Fixture::new(format!("{}/fixture", st.prefix), cfg.seed);
            match push_fixture(&mut st, cfg, &f)? {
                Ok(()) => ("request", exec_probe(&mut st, &f, cfg, &p).0),
                Err(v) => (SETUP, Err(v)),
            }
        }
        SETUP => {
            let f = Fixture::new(format!("{}/fixture", st.prefix), cfg.seed);
            (SETUP, push_fixture(&mut st, cfg, &f)?)
        }
        "model" => {
            let c: Case = serde_json::from_value(loaded.input).map_err(bad)?;
            ("model", exec_model(&mut st, cfg, &c).0)
        }
        other => {
            return Err(FuzzError::Reproducer {
                path: path.display().to_string(),
                detail: format!("unknown layer {other:?}"),
            })
        }
    };
    Ok(match verdict {
        Ok(()) => ReplayOutcome::Passes,
        Err(v) => {
            let signature = v.signature(layer);
            ReplayOutcome::Fails {
                same: signature == loaded.signature,
                signature,
                message: v.to_string(),
            }
        }
    })
}
