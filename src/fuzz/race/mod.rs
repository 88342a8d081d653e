//! The race layer (`fuzz --concurrency N`): N clients race on the same repositories through
//! seeded scenarios (see [`scenario::Kind`]), and what they saw is checked against what must
//! hold under any interleaving:
//! * no 5xx, no answer missing, and the registry still answers `GET /v2/` afterwards;
//! * no answer carries partial content: a 200 body is as long as its Content-Length and is
//!   exactly the blob or one of the manifests that were pushed (never a torn mix);
//! * the history of every tag, manifest, blob, upload session and referrers list can be put in
//!   one order consistent with real time ([`lin`]): a tag ends on one of the manifests pushed to
//!   it and is never lost while a push was acknowledged and nothing deleted it, an acknowledged
//!   blob reads back, a referrers list holds only what was pushed as a referrer and everything
//!   acknowledged before the list was asked for.
//!
//! Races do not shrink (a smaller plan rarely loses the same race), so a finding is the whole
//! scenario with every client's exchanges and their times, written as a reproducer like the
//! other layers'; `replay --tries N` re-runs it N times and says how often it failed again.

pub mod exec;
pub mod lin;
pub mod scenario;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{Answer, Client, Exchange, Req};
use super::oracle::Violation;
use super::repro::{self, Reproducer, NOTE_TAG};
use super::runner::Finding;
use super::{FuzzConfig, FuzzError};
use exec::{Found, Outcome};
use scenario::{Kind, Scenario};

/// What a race campaign did.
#[derive(Debug, Clone, Default)]
pub struct RaceSummary {
    pub seed: u64,
    pub run_id: String,
    /// Racing clients per scenario.
    pub clients: usize,
    pub scenarios: u64,
    pub per_kind: BTreeMap<Kind, u64>,
    /// Scenarios whose setup the registry refused (not staged), and the first reason.
    pub skipped: u64,
    pub skip_reason: Option<String>,
    /// Scenarios with a history too large to decide.
    pub inconclusive: u64,
    pub requests: u64,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
}

impl RaceSummary {
    pub fn scenarios_per_sec(&self) -> f64 {
        self.scenarios as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for RaceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<String> = self
            .per_kind
            .iter()
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect();
        writeln!(
            f,
            "race seed {} run {}: {} scenarios with {} clients ({}), {} requests in {:.1}s = {:.1} scenarios/s, {:.0} requests/s",
            self.seed,
            self.run_id,
            self.scenarios,
            self.clients,
            kinds.join(", "),
            self.requests,
            self.elapsed.as_secs_f64(),
            self.scenarios_per_sec(),
            self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9),
        )?;
        if self.skipped > 0 {
            writeln!(
                f,
                "{} scenarios not staged (setup refused: {})",
                self.skipped,
                crate::report::printable(self.skip_reason.as_deref().unwrap_or("?"))
            )?;
        }
        if self.inconclusive > 0 {
            writeln!(
                f,
                "{} scenarios with a history too large to decide",
                self.inconclusive
            )?;
        }
        if self.findings.is_empty() {
            writeln!(f, "no race violations found")?;
        }
        for x in &self.findings {
            writeln!(
                f,
                "{}",
                x.summary_line(format_args!("after {} scenarios", x.found_after))
            )?;
        }
        Ok(())
    }
}

/// The racing clients plus client 0 (setup and closing reads).
fn clients(cfg: &FuzzConfig, n: usize) -> Result<Vec<Client>, FuzzError> {
    let mk = || {
        Client::new(
            &cfg.url,
            cfg.timeout,
            cfg.rate,
            cfg.credentials.clone(),
            cfg.tls.clone(),
        )
    };
    let mut v = vec![mk()?];
    match v[0].send(Req::new("GET", "/v2/")) {
        Answer::Response(r) if r.status == 200 => {}
        other => {
            return Err(FuzzError::Unreachable {
                url: cfg.url.clone(),
                detail: format!("GET /v2/ answered {}", other.describe()),
            })
        }
    }
    for _ in 0..n {
        v.push(mk()?);
    }
    Ok(v)
}

fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn repos(prefix: &str, tag: &str) -> Vec<String> {
    vec![format!("{prefix}/{tag}-a"), format!("{prefix}/{tag}-b")]
}

/// Runs a race campaign: `cfg.cases` scenarios at most, within `cfg.time`, each with
/// `cfg.concurrency` racing clients. Blocking (threads of its own, one runtime per client).
pub fn run(cfg: &FuzzConfig) -> Result<RaceSummary, FuzzError> {
    let start = Instant::now();
    let n = cfg.concurrency.max(2);
    let mut pool = clients(cfg, n)?;
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| k.enabled(&cfg.features))
        .collect();
    let run_id = run_id();
    let prefix = format!("{}/{run_id}", cfg.namespace.trim_matches('/'));
    if cfg.verbose {
        eprintln!(
            "fuzz: races with {n} clients, seed {} (re-run with --seed {}), run {run_id}, target {}",
            cfg.seed, cfg.seed, cfg.url
        );
    }
    let deadline = cfg.time.map(|t| start + t);
    let mut s = RaceSummary {
        seed: cfg.seed,
        run_id,
        clients: n,
        ..Default::default()
    };
    // Every race is staged by plain pushes: a registry that answers one against the spec would
    // only leave every scenario "not staged", so a first push is judged by the contract, and a
    // breach is the campaign's finding (as for the sequential layers' fixture).
    let repo = format!("{prefix}/setup");
    let blob = super::push::blob_bytes(cfg.seed, 64);
    let pushed = super::runner::judged_setup(&mut pool[0], |c| {
        super::push::push_blob(c, cfg.version, &repo, &blob)
    })?;
    if let Err(v) = pushed {
        s.findings
            .push(super::runner::setup_finding(&pool[0], cfg, &v, &repo)?);
        s.requests = pool[0].requests;
        s.elapsed = start.elapsed();
        return Ok(s);
    }
    let mut known: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..cfg.cases as u64 {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let sc = scenario::generate(cfg.seed, i, &kinds, n, &cfg.features);
        let names = repos(&prefix, &format!("s{i}"));
        let out = exec::execute(&sc, &mut pool, &names, &cfg.features);
        s.scenarios += 1;
        *s.per_kind.entry(sc.kind).or_default() += 1;
        if let Some(r) = &out.skipped {
            s.skipped += 1;
            s.skip_reason.get_or_insert_with(|| r.clone());
        }
        s.inconclusive += out.inconclusive as u64;
        let mut seen: Vec<String> = Vec::new();
        for found in &out.found {
            let v = violation(&out, found);
            let signature = v.0.signature("race");
            if seen.contains(&signature) {
                continue; // one scenario, one hit per signature
            }
            seen.push(signature.clone());
            if let Some(&k) = known.get(&signature) {
                s.findings[k].hits += 1;
                continue;
            }
            let path = write(cfg, &sc, &out, &v, &signature, &names)?;
            if cfg.verbose {
                Finding::announce(v.0.level(), &signature, &v.0.to_string(), &path);
            }
            known.insert(signature.clone(), s.findings.len());
            s.findings.push(Finding {
                signature,
                level: v.0.level(),
                layer: "race",
                message: v.0.to_string(),
                path,
                hits: 1,
                requirements: v.0.requirements.clone(),
                found_after: i + 1,
            });
        }
    }
    s.requests = pool.iter().map(|c| c.requests).sum();
    s.elapsed = start.elapsed();
    Ok(s)
}

/// Every exchange of a scenario in the order it was sent: (client, index in its transcript).
fn merged(out: &Outcome) -> Vec<(usize, usize)> {
    let mut all: Vec<(u64, usize, usize)> = out
        .tracks
        .iter()
        .enumerate()
        .flat_map(|(c, t)| t.times.iter().enumerate().map(move |(i, x)| (x.0, c, i)))
        .collect();
    all.sort();
    all.into_iter().map(|(_, c, i)| (c, i)).collect()
}

/// The oracle's violation for a finding, with the merged transcript it indexes into.
fn violation(out: &Outcome, f: &Found) -> (Box<Violation>, Vec<Exchange>) {
    let order = merged(out);
    let transcript: Vec<Exchange> = order
        .iter()
        .filter_map(|&(c, i)| out.tracks[c].transcript.get(i).cloned())
        .collect();
    let exchange = f.origin.and_then(|o| order.iter().position(|&x| x == o));
    let v = Violation {
        what: f.what.clone(),
        kind: f.kind.clone(),
        detail: f.detail.clone(),
        requirements: f.requirements.clone(),
        allowed: f.allowed.clone(),
        exchange,
        expect: None,
    };
    (Box::new(v), transcript)
}

/// Each client's exchanges with their times, relative to the scenario's start.
fn timeline(out: &Outcome, templated: impl Fn(&str) -> String) -> (Vec<Value>, String) {
    let mut rows = Vec::new();
    let mut text = String::new();
    for (c, t) in out.tracks.iter().enumerate() {
        let who = if c == 0 {
            "client 0 (setup, final reads)".to_string()
        } else {
            format!("client {c}")
        };
        let mut parts = Vec::new();
        for (i, ex) in t.transcript.iter().enumerate() {
            let (start, end) = t.times.get(i).copied().unwrap_or((0, None));
            let url = templated(&ex.url);
            let answer = ex.answer.describe();
            let ms = |u: u64| (u as f64 / 1000.0 * 1000.0).round() / 1000.0;
            rows.push(json!({
                "client": c, "method": ex.req.method, "url": url, "answer": answer,
                "start_ms": ms(start), "end_ms": end.map(ms),
            }));
            parts.push(format!(
                "+{:.3}..{} ms {} {} → {answer}",
                start as f64 / 1000.0,
                end.map(|e| format!("{:.3}", e as f64 / 1000.0))
                    .unwrap_or_else(|| "(no answer)".into()),
                ex.req.method,
                url
            ));
        }
        text.push_str(&format!("{who}: {}\n", parts.join("; ")));
    }
    (rows, text)
}

fn write(
    cfg: &FuzzConfig,
    sc: &Scenario,
    out: &Outcome,
    v: &(Box<Violation>, Vec<Exchange>),
    signature: &str,
    names: &[String],
) -> Result<PathBuf, FuzzError> {
    let mut pairs = vec![(names[0].clone(), "repo"), (names[1].clone(), "repo2")];
    pairs.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let base = cfg.url.trim_end_matches('/').to_string();
    let templated = |s: &str| {
        let mut s = s.strip_prefix(base.as_str()).unwrap_or(s).to_string();
        for (n, var) in &pairs {
            s = s.replace(n.as_str(), &format!("${{{var}}}"));
        }
        s
    };
    let (rows, text) = timeline(out, templated);
    let input = json!({"scenario": sc, "timeline": rows});
    let rep = Reproducer {
        layer: "race",
        signature,
        seed: cfg.seed,
        violation: &v.0,
        input,
        transcript: &v.1,
        base: &base,
        names: pairs.clone(),
    };
    let mut doc = rep.to_json();
    // The steps are the exchanges in the order they were sent, run one after the other: a
    // readable record, not a reproduction. Say so, and give each client's own sequence.
    if let Some(Value::String(note)) = doc.pointer_mut("/cases/0/note") {
        let (head, meta) = note
            .split_once(&format!("\n{NOTE_TAG}"))
            .unwrap_or((note, ""));
        *note = format!(
            "{head} The {} clients ran at once (kind {}); the steps below are their exchanges in the order they were sent, so running them one by one shows the sequence but does not race; `replay --tries N` re-runs the race.\n{text}{NOTE_TAG}{meta}",
            sc.clients.len(),
            sc.kind.name(),
        );
    }
    std::fs::create_dir_all(&cfg.out_dir)?;
    let path = cfg.out_dir.join(format!("{signature}.json"));
    let body = serde_json::to_string_pretty(&doc).map_err(|e| FuzzError::Io(e.to_string()))?;
    std::fs::write(&path, body + "\n")?;
    Ok(path)
}

/// How a race reproducer fared when re-run.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub tries: u32,
    /// Tries that found any violation.
    pub reproduced: u32,
    /// Tries that found the recorded one (among whatever else they found).
    pub same: u32,
    /// The first violation met, when any.
    pub first: Option<(String, String)>,
    /// How many tries met each signature (a try may meet several).
    pub signatures: BTreeMap<String, u32>,
    pub skipped: u32,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reproduced in {} of {} tries ({} with the recorded signature",
            self.reproduced, self.tries, self.same
        )?;
        if self.skipped > 0 {
            write!(f, "; {} not staged: setup refused", self.skipped)?;
        }
        write!(f, ")")?;
        let by: Vec<String> = self
            .signatures
            .iter()
            .map(|(s, n)| format!("{s} ×{n}"))
            .collect();
        if !by.is_empty() {
            write!(f, "; {}", by.join(", "))?;
        }
        if let Some((sig, msg)) = &self.first {
            write!(f, "; first: {sig}: {msg}")?;
        }
        Ok(())
    }
}

/// Whether `path` holds a race reproducer (so `replay` knows which layer re-runs it).
pub fn is_race_reproducer(path: &Path) -> bool {
    repro::load(path).is_ok_and(|l| l.layer == "race")
}

/// Re-runs a race reproducer `tries` times on fresh repositories.
pub fn replay(path: &Path, cfg: &FuzzConfig, tries: u32) -> Result<ReplayReport, FuzzError> {
    let loaded = repro::load(path)?;
    let bad = |d: String| FuzzError::Reproducer {
        path: path.display().to_string(),
        detail: d,
    };
    if loaded.layer != "race" {
        return Err(bad(format!("layer {:?}, not race", loaded.layer)));
    }
    let sc: Scenario = serde_json::from_value(loaded.input["scenario"].clone())
        .map_err(|e| bad(format!("scenario: {e}")))?;
    if sc.clients.len() < 2 {
        return Err(bad("a race needs two clients or more".into()));
    }
    let mut pool = clients(cfg, sc.clients.len())?;
    let prefix = format!("{}/{}", cfg.namespace.trim_matches('/'), run_id());
    let mut r = ReplayReport {
        tries,
        reproduced: 0,
        same: 0,
        first: None,
        signatures: BTreeMap::new(),
        skipped: 0,
    };
    for t in 0..tries {
        let names = repos(&prefix, &format!("r{t}"));
        let out = exec::execute(&sc, &mut pool, &names, &cfg.features);
        r.skipped += out.skipped.is_some() as u32;
        let mut sigs: Vec<String> = Vec::new();
        for f in &out.found {
            let v = violation(&out, f);
            let sig = v.0.signature("race");
            if !sigs.contains(&sig) {
                r.first
                    .get_or_insert_with(|| (sig.clone(), v.0.to_string()));
                *r.signatures.entry(sig.clone()).or_default() += 1;
                sigs.push(sig);
            }
        }
        r.reproduced += !sigs.is_empty() as u32;
        r.same += sigs.contains(&loaded.signature) as u32;
    }
    Ok(r)
}
