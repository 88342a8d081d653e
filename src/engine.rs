//! Runs cases against a registry and emits events; reporters consume them.

use crate::content::{Content, Item, Kind};
use crate::contract::{
    describe_answer, error_codes, is_sorted_ascii_or_lexical, parse_next_link, select,
};
use crate::errors::check_error_body;
use crate::http::{Challenge, Exchange, Http, Request, RequestAuth};
use crate::repository::CaseContext;
use crate::results::{
    CaseResult, Event, Outcome, Reporter, RequirementRef, RunInfo, Summary, NOT_RUN,
};
use crate::spec::{
    Action, AuthSpec, BodyCheck, BodyRule, BodySpec, Capture, CaptureFrom, Case, ChallengeCheck,
    Expect, Feature, HeaderCheck, HeaderRule, JsonCheck, JsonRule, Level, LinkCheck, PageExpect,
    Part, RequestSpec, Step, Suite, Target, Workflow,
};
use crate::template::{self, Scope};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Engine {
    pub http: Http,
    pub ctx: CaseContext,
    pub suite: Arc<Suite>,
}

/// Why a case stopped early.
enum Stop {
    Fail(String),
    Setup(String),
    Unsupported(String),
}

struct CaseRun<'a> {
    engine: &'a Engine,
    content: Content,
    repo: String,
    repo2: String,
    random_digest: String,
    captured: HashMap<String, String>,
    transcript: Vec<Exchange>,
    /// Tokens of `auth.token` steps by their scopes: later steps of the case reuse them.
    tokens: HashMap<Vec<String>, String>,
    /// Optional features the registry showed it has during this case, with the evidence: an
    /// answer declaring one of them absent afterwards is a contradiction, hence a failure.
    signals: HashMap<Feature, String>,
    /// Checks the registry's answers made inapplicable (an error code in a non-JSON 4xx body,
    /// a case that otherwise passed is reported unsupported, naming them.
    not_applicable: Vec<String>,
    /// Chunk size for fixtures and bodies sized in chunks.
    chunk: u64,
    /// Every answer judged by the response contract too (`crate::contract::answers`).
    contract: crate::contract::answers::Ledger,
}

/// The smallest chunk cases use: also what they were written with.
const MIN_CHUNK: u64 = 1024;

impl Scope for CaseRun<'_> {
    fn builtin(&self, name: &str) -> Option<String> {
        match name {
            "repo" => Some(self.repo.clone()),
            "repo2" => Some(self.repo2.clone()),
            "base" => Some(
                self.engine
                    .http
                    .base()
                    .as_str()
                    .trim_end_matches('/')
                    .to_string(),
            ),
            "random_digest" => Some(self.random_digest.clone()),
            _ => None,
        }
    }
    fn fixture_field(&self, fixture: &str, field: &str) -> Option<String> {
        self.content.get(fixture)?.field(field)
    }
    fn fixture_size(&self, fixture: &str) -> Option<u64> {
        self.content.get(fixture).map(|i| i.bytes.len() as u64)
    }
    fn captured(&self) -> &HashMap<String, String> {
        &self.captured
    }
    fn chunk_size(&self) -> u64 {
        self.chunk
    }
}

impl Engine {
    pub fn requirement_refs(&self, case: &Case) -> Vec<RequirementRef> {
        case.requirements
            .iter()
            .map(|id| {
                let r = self.suite.catalog.get(id);
                RequirementRef {
                    id: id.clone(),
                    level: r.map(|r| r.level.clone()).unwrap_or_default(),
                    statement: r.map(|r| r.statement.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Opens an upload session in `repo` to read `OCI-Chunk-Min-Length`, then cancels
    /// it. The exchanges go into the case's transcript.
    async fn chunk_min_length(&self, repo: &str) -> (Option<u64>, Vec<Exchange>) {
        let base = self.http.base().as_str().trim_end_matches('/').to_string();
        let mut trail = self
            .http
            .send_traced(Request {
                method: "POST".into(),
                url: format!("{base}/v2/{repo}/blobs/uploads/"),
                headers: vec![("Content-Length".into(), "0".into())],
                ..Default::default()
            })
            .await;
        let Some(post) = trail.last() else {
            return (None, trail);
        };
        let min = post
            .header("OCI-Chunk-Min-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let location = post
            .header("Location")
            .and_then(|l| self.http.resolve(l).ok());
        if let Some(url) = location {
            let cancel = self
                .http
                .send_traced(Request {
                    method: "DELETE".into(),
                    url: url.to_string(),
                    headers: vec![("Content-Length".into(), "0".into())],
                    ..Default::default()
                })
                .await;
            trail.extend(cancel);
        }
        (min, trail)
    }

    pub fn skipped(&self, file: &std::path::Path, case: &Case, reason: String) -> CaseResult {
        CaseResult {
            id: case.id.clone(),
            title: case.title.clone(),
            workflow: case.workflow,
            level: case.level,
            requirements: self.requirement_refs(case),
            outcome: Outcome::Skip,
            message: Some(reason),
            duration_ms: 0,
            file: file.to_path_buf(),
            repositories: vec![],
            transcript: vec![],
        }
    }

    /// A case the run had no time left for: an error, with the reason after [`NOT_RUN`].
    pub fn not_run(&self, file: &std::path::Path, case: &Case, why: &str) -> CaseResult {
        CaseResult {
            outcome: Outcome::Error,
            message: Some(format!("{NOT_RUN}: {}: {why}", crate::http::RUN_STOPPED)),
            ..self.skipped(file, case, String::new())
        }
    }

    pub async fn run_case(&self, file: &std::path::Path, case: &Case) -> CaseResult {
        let started = Instant::now();
        let (repo, repo2) = self.ctx.repos(&case.id);
        let mut result = CaseResult {
            id: case.id.clone(),
            title: case.title.clone(),
            workflow: case.workflow,
            level: case.level,
            requirements: self.requirement_refs(case),
            outcome: Outcome::Pass,
            message: None,
            duration_ms: 0,
            file: file.to_path_buf(),
            repositories: vec![repo.clone(), repo2.clone()],
            transcript: vec![],
        };
        // A case sized in chunks first asks the registry for its minimum chunk size.
        let mut probe = Vec::new();
        let chunk = if case.uses_chunks() {
            let (min, exchanges) = self.chunk_min_length(&repo).await;
            probe = exchanges;
            min.unwrap_or(0).max(MIN_CHUNK)
        } else {
            MIN_CHUNK
        };
        let content = match Content::generate(self.ctx.seed, &case.id, &case.content, chunk) {
            Ok(c) => c,
            Err(e) => {
                result.outcome = Outcome::Error;
                result.message = Some(format!("fixtures: {e}"));
                return result;
            }
        };
        let mut run = CaseRun {
            engine: self,
            content,
            random_digest: crate::content::digest_of(
                "sha256",
                format!("nothing pushed: {}/{}", self.ctx.run_id, case.id).as_bytes(),
            ),
            repo,
            repo2,
            captured: HashMap::new(),
            transcript: Vec::new(),
            tokens: HashMap::new(),
            signals: HashMap::new(),
            not_applicable: Vec::new(),
            chunk,
            contract: crate::contract::answers::Ledger::new(self.ctx.spec_version),
        };
        for ex in probe {
            run.observe(&ex);
            run.transcript.push(ex.slimmed());
        }
        for (i, step) in case.steps.iter().enumerate() {
            let label = step_label(i, step);
            if let Err(stop) = run.step(step).await {
                let (outcome, msg) = match stop {
                    Stop::Fail(m) if step.setup => (Outcome::Error, format!("setup: {m}")),
                    Stop::Fail(m) => (Outcome::Fail, m),
                    Stop::Setup(m) => (Outcome::Error, format!("setup: {m}")),
                    Stop::Unsupported(m) => (Outcome::Unsupported, m),
                };
                result.outcome = outcome;
                result.message = Some(format!("{label}: {msg}"));
                break;
            }
        }
        if result.outcome == Outcome::Pass && !run.not_applicable.is_empty() {
            result.outcome = Outcome::Unsupported;
            result.message = Some(run.not_applicable.join("; "));
        }
        let failed = result.outcome == Outcome::Fail;
        let message = result.message.as_deref();
        if let Some(s) = run
            .contract
            .settle(failed, result.level, message, &self.suite.catalog)
        {
            result.outcome = Outcome::Fail;
            result.level = s.level;
            result.message = Some(s.message);
            for id in s.requirements {
                if !result.requirements.iter().any(|r| r.id == id) {
                    let r = self.suite.catalog.get(id);
                    result.requirements.push(RequirementRef {
                        id: id.to_string(),
                        level: r.map(|r| r.level.clone()).unwrap_or_default(),
                        statement: r.map(|r| r.statement.clone()).unwrap_or_default(),
                    });
                }
            }
        }
        result.transcript = run.transcript;
        result.duration_ms = started.elapsed().as_millis() as u64;
        result
    }
}

fn step_label(i: usize, step: &Step) -> String {
    match (&step.name, &step.action) {
        (Some(n), _) => format!("step {} ({n})", i + 1),
        (None, Action::Push { fixture, .. }) => format!("step {} (push {fixture})", i + 1),
        _ => format!("step {}", i + 1),
    }
}

impl CaseRun<'_> {
    /// The step's `unsupported_if`: status (and error codes) via the free function, then every
    /// header condition must hold too (e.g. a 201 without `OCI-Tag`: `?tag=` was ignored).
    fn unsupported(&self, step: &Step, ex: &Exchange) -> Result<Option<String>, Stop> {
        let Some(reason) = unsupported(step, ex) else {
            return Ok(None);
        };
        let u = step.unsupported_if.as_ref().expect("matched above");
        for (name, check) in &u.headers {
            if !self.header_check(name, check, ex)?.is_empty() {
                return Ok(None);
            }
        }
        if let Some(evidence) = u.feature.and_then(|f| self.signals.get(&f).map(|e| (f, e))) {
            let (feature, evidence) = evidence;
            return Err(Stop::Fail(format!(
                "{reason}; yet the registry showed it supports {feature} earlier in this case \
                 ({evidence}), so this answer is a failure, not a missing feature"
            )));
        }
        Ok(Some(reason))
    }

    /// Records what an answer shows the registry supports (see `signals`).
    fn observe(&mut self, ex: &Exchange) {
        let path = reqwest::Url::parse(&ex.url).ok();
        let query = |k: &str| {
            path.as_ref().and_then(|u| {
                u.query_pairs()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.into_owned())
            })
        };
        let at = format!("{} {}", ex.method, ex.url);
        let mut seen = Vec::new();
        if let Some(s) = ex.header("OCI-Subject") {
            seen.push((
                Feature::Referrers,
                format!("{at} answered OCI-Subject: {s}"),
            ));
        }
        if let Some(m) = ex.header("OCI-Chunk-Min-Length") {
            seen.push((
                Feature::ChunkedUpload,
                format!("{at} answered OCI-Chunk-Min-Length: {m}"),
            ));
        }
        if ex.method == "POST" && ex.status == Some(201) && query("mount").is_some() {
            let f = if query("from").is_some() {
                Feature::Mount
            } else {
                Feature::AutoMount
            };
            seen.push((f, format!("{at} answered 201")));
        }
        let in_path = |seg: &str| path.as_ref().is_some_and(|u| u.path().contains(seg));
        if ex.method == "POST" && ex.status == Some(201) && query("digest").is_some() {
            seen.push((Feature::SinglePost, format!("{at} answered 201")));
        }
        if let Some(t) = ex.header("OCI-Tag") {
            seen.push((Feature::TagParam, format!("{at} answered OCI-Tag: {t}")));
        }
        if ex.method == "DELETE" && ex.status == Some(202) {
            let reference = path
                .as_ref()
                .and_then(|u| u.path().rsplit('/').next().map(String::from))
                .unwrap_or_default();
            let blob = in_path("/blobs/") && !in_path("/blobs/uploads/");
            let f = if blob {
                Feature::DeleteBlob
            } else if reference.contains(':') {
                Feature::DeleteManifest
            } else {
                Feature::DeleteTag
            };
            if blob || in_path("/manifests/") {
                seen.push((f, format!("{at} answered 202")));
            }
        }
        if ex.status == Some(200) && ex.url.contains("/_oci/ext/discover") {
            let names = ex
                .json()
                .map(|j| select(&j, "/extensions/*/name"))
                .unwrap_or_default();
            if names.iter().any(|n| n == "_catalog") {
                seen.push((
                    Feature::Catalog,
                    format!("{at} listed the _catalog extension"),
                ));
            }
        }
        for (f, evidence) in seen {
            self.signals.entry(f).or_insert(evidence);
        }
    }

    fn expand(&self, s: &str) -> Result<String, Stop> {
        template::expand(s, self).map_err(Stop::Setup)
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        let (req, expect, capture) = match &step.action {
            Action::Push { fixture, tag, repo } => {
                let repo = match repo {
                    Some(r) => self.expand(r)?,
                    None => self.repo.clone(),
                };
                let tag = tag.as_deref().map(|t| self.expand(t)).transpose()?;
                return self.push(fixture, &repo, tag.as_deref(), step).await;
            }
            Action::Paginate {
                request,
                collect,
                max_pages,
                expect,
            } => {
                return self
                    .paginate(request, collect, *max_pages, expect, step)
                    .await
            }
            Action::Request {
                request,
                expect,
                capture,
            } => (request, expect, capture),
        };
        let mut request = self.build(req)?;
        request.auth = self.auth(&req.auth).await?;
        let ex = self.send(request).await;
        if let Some(reason) = self.unsupported(step, &ex)? {
            return Err(Stop::Unsupported(reason));
        }
        let failures = self.check(expect, &ex)?;
        if !failures.is_empty() {
            return Err(Stop::Fail(failures.join("; ")));
        }
        if let (Some(codes), None) = (&expect.error_codes, ex.json()) {
            self.not_applicable.push(format!(
                "{} {}: error code {} not applicable: the {} answer's body is not JSON, which \
                 R-143 allows (a 4xx body may take any format)",
                ex.method,
                ex.url,
                codes.join(" or "),
                describe_answer(&ex)
            ));
        }
        self.capture(capture, &ex)
    }

    /// Sends and records every exchange it took (token requests included); returns the answer.
    async fn send(&mut self, req: Request) -> Exchange {
        let mut trail = self.engine.http.send_traced(req).await;
        let ex = trail.pop().expect("at least one exchange");
        self.observe(&ex);
        self.contract.judge(&ex);
        self.transcript
            .extend(trail.into_iter().map(Exchange::slimmed));
        self.transcript.push(ex.clone().slimmed());
        ex
    }

    async fn auth(&mut self, spec: &AuthSpec) -> Result<RequestAuth, Stop> {
        let needs_credentials = || {
            if self.engine.http.has_credentials() {
                Ok(())
            } else {
                Err(Stop::Setup(
                    "this step needs the run's credentials (--username/--password); \
                     the case should list feature `auth`"
                        .into(),
                ))
            }
        };
        Ok(match spec {
            AuthSpec::Default => RequestAuth::Default,
            AuthSpec::Anonymous => RequestAuth::Anonymous,
            AuthSpec::WrongPassword => {
                needs_credentials()?;
                RequestAuth::WrongPassword
            }
            AuthSpec::Token(scopes) => {
                needs_credentials()?;
                let scopes = scopes
                    .iter()
                    .map(|s| self.expand(s))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(t) = self.tokens.get(&scopes) {
                    return Ok(RequestAuth::Bearer(t.clone()));
                }
                let (probe, challenge) = self.engine.http.probe_challenge().await;
                let status = probe.status;
                self.transcript.push(probe.slimmed());
                let challenge = challenge.filter(Challenge::is_bearer).ok_or_else(|| {
                    Stop::Unsupported(format!(
                        "the registry does not use bearer tokens (GET /v2/ without credentials \
                         answered {} without a Bearer challenge)",
                        status.map_or("nothing".into(), |s| s.to_string())
                    ))
                })?;
                let (ex, token) = self.engine.http.run_token(&challenge, &scopes).await;
                let answer = describe_answer(&ex);
                self.transcript.push(ex.slimmed());
                let token = token.ok_or_else(|| {
                    Stop::Setup(format!(
                        "the token service gave no token for {}: {answer}",
                        scopes.join(" ")
                    ))
                })?;
                self.tokens.insert(scopes, token.clone());
                RequestAuth::Bearer(token)
            }
        })
    }

    fn url(&self, req: &RequestSpec) -> Result<String, Stop> {
        let base = self.engine.http.base();
        let target = match &req.target {
            // Paths are relative to the registry root, which may sit under a prefix.
            Target::Path(p) => {
                format!("{}{}", base.as_str().trim_end_matches('/'), self.expand(p)?)
            }
            Target::Url(u) => self
                .engine
                .http
                .resolve(&self.expand(u)?)
                .map_err(Stop::Setup)?
                .to_string(),
        };
        let mut url = reqwest::Url::parse(&target)
            .map_err(|e| Stop::Setup(format!("bad URL `{target}`: {e}")))?;
        if !req.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &req.query {
                pairs.append_pair(&self.expand(k)?, &self.expand(v)?);
            }
        }
        Ok(url.to_string())
    }

    fn build(&self, req: &RequestSpec) -> Result<Request, Stop> {
        let url = self.url(req)?;
        let mut headers = Vec::new();
        for (k, v) in &req.headers {
            headers.push((k.clone(), self.expand(v)?));
        }
        let body = match &req.body {
            None => None,
            Some(BodySpec::Fixture { name, part }) => {
                let item = self.item(name)?;
                Some(match *part {
                    Part::Whole => item.bytes.clone(),
                    Part::Range(a, z) => slice(&item.bytes, a, z).map_err(Stop::Setup)?,
                    Part::Chunks(a, z) => slice(&item.bytes, a * self.chunk, z * self.chunk - 1)
                        .map_err(Stop::Setup)?,
                })
            }
            Some(BodySpec::Text(t)) => Some(Bytes::from(self.expand(t)?)),
            Some(BodySpec::Json(j)) => {
                let v = template::expand_json(j, self).map_err(Stop::Setup)?;
                Some(Bytes::from(serde_json::to_vec(&v).expect("json")))
            }
            Some(BodySpec::Repeat { unit, size }) => Some(Bytes::from(
                unit.bytes()
                    .cycle()
                    .take(*size as usize)
                    .collect::<Vec<u8>>(),
            )),
            Some(BodySpec::Empty) => Some(Bytes::new()),
        };
        Ok(Request {
            method: req.method.to_ascii_uppercase(),
            url,
            headers,
            body,
            raw: req.raw,
            auth: Default::default(),
        })
    }

    fn item(&self, name: &str) -> Result<&Item, Stop> {
        self.content
            .get(name)
            .ok_or_else(|| Stop::Setup(format!("unknown fixture `{name}`")))
    }

    /// The `push` macro: blobs first (recursively), then manifests, the named one last.
    async fn push(
        &mut self,
        name: &str,
        repo: &str,
        tag: Option<&str>,
        step: &Step,
    ) -> Result<(), Stop> {
        let mut order = Vec::new();
        self.push_order(name, &mut order, 0)?;
        for (i, n) in order.iter().enumerate() {
            let item = self.item(n)?.clone();
            if item.skip_push {
                continue;
            }
            let is_last = i + 1 == order.len();
            let ex = match item.kind {
                Kind::Blob => self.push_blob(&item, repo).await,
                Kind::Manifest => {
                    let reference = match (is_last, tag) {
                        (true, Some(t)) => t.to_string(),
                        _ => item.digest.clone(),
                    };
                    let url = format!(
                        "{}/v2/{repo}/manifests/{reference}",
                        self.engine.http.base().as_str().trim_end_matches('/')
                    );
                    let ex = self
                        .send(Request {
                            method: "PUT".into(),
                            url,
                            headers: vec![("Content-Type".into(), item.media_type.clone())],
                            body: Some(item.bytes.clone()),
                            raw: false,
                            auth: Default::default(),
                        })
                        .await;
                    Ok(ex)
                }
            };
            let ex = ex?;
            if ex.status != Some(201) {
                if let Some(reason) = self.unsupported(step, &ex)? {
                    return Err(Stop::Unsupported(reason));
                }
                return Err(Stop::Setup(format!(
                    "pushing {n} ({}) to {repo}: {}",
                    item.digest,
                    describe_answer(&ex)
                )));
            }
        }
        Ok(())
    }

    fn push_order(&self, name: &str, out: &mut Vec<String>, depth: usize) -> Result<(), Stop> {
        if depth > 16 {
            return Err(Stop::Setup("fixtures nest deeper than 16".into()));
        }
        let item = self.item(name)?;
        for c in item.children.clone() {
            self.push_order(&c, out, depth + 1)?;
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        Ok(())
    }

    async fn push_blob(&mut self, item: &Item, repo: &str) -> Result<Exchange, Stop> {
        let base = self
            .engine
            .http
            .base()
            .as_str()
            .trim_end_matches('/')
            .to_string();
        let mut post = format!("{base}/v2/{repo}/blobs/uploads/");
        if item.algorithm != "sha256" {
            post.push_str(&format!("?digest-algorithm={}", item.algorithm));
        }
        let post_url = post.clone();
        let ex = self
            .send(Request {
                method: "POST".into(),
                url: post,
                headers: vec![("Content-Length".into(), "0".into())],
                body: None,
                raw: false,
                auth: Default::default(),
            })
            .await;
        if ex.status != Some(202) {
            return Ok(ex);
        }
        let Some(loc) = ex.header("Location") else {
            return Err(Stop::Setup(
                "upload POST answered 202 without Location".into(),
            ));
        };
        let mut url = self.engine.http.resolve(loc).map_err(Stop::Setup)?;
        url.query_pairs_mut().append_pair("digest", &item.digest);
        let monolithic = self
            .send(Request {
                method: "PUT".into(),
                url: url.to_string(),
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body: Some(item.bytes.clone()),
                raw: false,
                auth: Default::default(),
            })
            .await;
        // A registry that cannot take the blob on the closing PUT (the push/monolithic cases
        // judge that) may still take it the way podman and docker send it: one PATCH, then an
        // empty PUT. Setup is not what this case checks, so it goes that way. A refusal of the
        // name or the credentials would refuse that too, and stays the answer.
        if monolithic.status == Some(201)
            || matches!(monolithic.status, Some(401 | 403 | 404))
            || item.bytes.is_empty()
        {
            return Ok(monolithic);
        }
        match self.push_blob_in_one_chunk(item, &post_url).await? {
            Some(ex) if ex.status == Some(201) => Ok(ex),
            _ => Ok(monolithic),
        }
    }

    /// POST, PATCH the whole blob (`Content-Range: 0-<size-1>`), PUT with the digest and no
    /// body; the closing answer, or None when the session did not get that far.
    async fn push_blob_in_one_chunk(
        &mut self,
        item: &Item,
        post_url: &str,
    ) -> Result<Option<Exchange>, Stop> {
        let step = |ex: &Exchange, status: u16| -> Result<Option<reqwest::Url>, Stop> {
            if ex.status != Some(status) {
                return Ok(None);
            }
            match ex.header("Location") {
                Some(loc) => self.engine.http.resolve(loc).map(Some).map_err(Stop::Setup),
                None => Ok(None),
            }
        };
        let post = self
            .send(Request {
                method: "POST".into(),
                url: post_url.to_string(),
                headers: vec![("Content-Length".into(), "0".into())],
                body: None,
                raw: false,
                auth: Default::default(),
            })
            .await;
        let Some(patch_url) = step(&post, 202)? else {
            return Ok(None);
        };
        let patch = self
            .send(Request {
                method: "PATCH".into(),
                url: patch_url.to_string(),
                headers: vec![
                    ("Content-Type".into(), "application/octet-stream".into()),
                    (
                        "Content-Range".into(),
                        format!("0-{}", item.bytes.len() - 1),
                    ),
                ],
                body: Some(item.bytes.clone()),
                raw: false,
                auth: Default::default(),
            })
            .await;
        let Some(mut put_url) = step(&patch, 202)? else {
            return Ok(None);
        };
        put_url
            .query_pairs_mut()
            .append_pair("digest", &item.digest);
        Ok(Some(
            self.send(Request {
                method: "PUT".into(),
                url: put_url.to_string(),
                headers: vec![("Content-Length".into(), "0".into())],
                body: None,
                raw: false,
                auth: Default::default(),
            })
            .await,
        ))
    }

    /// Collects a list through its pages. A `Link: <…>; rel="next"` is followed when there is
    /// one; without it, a page holding exactly the request's `n` entries may still not be the
    /// last (`Link` is a MAY for tags and the catalog), so the next request repeats the first
    /// with `last=<the page's last entry>`; a shorter page ends the list. Losses, repeats or
    /// disorder then show in the `collected` check and the repeat check below.
    async fn paginate(
        &mut self,
        req: &RequestSpec,
        pointer: &str,
        max_pages: u32,
        expect: &PageExpect,
        step: &Step,
    ) -> Result<(), Stop> {
        let mut request = self.build(req)?;
        let mut collected: Vec<Value> = Vec::new();
        let mut pages = 0;
        let mut links_seen = false;
        loop {
            pages += 1;
            if pages > max_pages {
                return Err(Stop::Fail(format!(
                    "the list has not ended after {max_pages} pages"
                )));
            }
            let ex = self.send(request.clone()).await;
            if let Some(reason) = self.unsupported(step, &ex)? {
                return Err(Stop::Unsupported(reason));
            }
            let statuses = &expect.status;
            if !ex.status.is_some_and(|s| statuses.contains(&s)) {
                return Err(Stop::Fail(format!(
                    "page {pages}: expected status {statuses:?}, got {}",
                    describe_answer(&ex)
                )));
            }
            let items = page_entries(&ex, pointer, pages)?;
            check_page(&items, &collected, expect, pages, links_seen)?;
            let page_len = items.len();
            let page_last = items.last().and_then(Value::as_str).map(String::from);
            collected.extend(items);
            let links: Vec<&str> = ex.headers("Link").collect();
            links_seen |= !links.is_empty();
            let next = next_link(&links, pages)?;
            match next_page_url(&request.url, next, page_len, page_last, pages)? {
                Some(url) => {
                    request.url = url.to_string();
                    request.body = None;
                }
                None => break,
            }
        }
        if let Some(check) = &expect.collected {
            let v = Value::Array(collected);
            let failures = self.json_check(check, vec![v], "collected entries")?;
            if !failures.is_empty() {
                return Err(Stop::Fail(failures.join("; ")));
            }
        }
        Ok(())
    }

    fn capture(
        &mut self,
        captures: &std::collections::BTreeMap<String, Capture>,
        ex: &Exchange,
    ) -> Result<(), Stop> {
        for (name, c) in captures {
            let raw = match &c.from {
                CaptureFrom::Header(h) => {
                    let v = ex.header(h).ok_or_else(|| {
                        Stop::Fail(format!("cannot capture `{name}`: no {h} header"))
                    })?;
                    if h.eq_ignore_ascii_case("location") {
                        // Later steps use it as a URL; resolve relative Locations now.
                        self.engine.http.resolve(v).map_err(Stop::Fail)?.to_string()
                    } else {
                        v.to_string()
                    }
                }
                CaptureFrom::Json(p) => {
                    let json = ex.json().ok_or_else(|| {
                        Stop::Fail(format!("cannot capture `{name}`: body is not JSON"))
                    })?;
                    match json.pointer(p) {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => {
                            return Err(Stop::Fail(format!(
                                "cannot capture `{name}`: nothing at {p}"
                            )))
                        }
                    }
                }
            };
            let value = match &c.regex {
                Some(re) => {
                    let caps = re.captures(&raw).ok_or_else(|| {
                        Stop::Fail(format!(
                            "cannot capture `{name}`: `{raw}` does not match {re}"
                        ))
                    })?;
                    caps.get(1)
                        .or_else(|| caps.get(0))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_default()
                }
                None => raw,
            };
            self.captured.insert(name.clone(), value);
        }
        Ok(())
    }

    fn check(&self, expect: &Expect, ex: &Exchange) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let Some(status) = ex.status else {
            return Ok(vec![format!(
                "no answer: {}",
                ex.error.as_deref().unwrap_or("unknown error")
            )]);
        };
        if let Some(e) = &ex.error {
            f.push(e.clone());
        }
        // `status` and `status_class` together: either may admit the answer.
        let in_list = expect.status.contains(&status);
        let in_class = expect
            .status_class
            .as_ref()
            .is_some_and(|c| c.admits(status));
        let constrained = !expect.status.is_empty() || expect.status_class.is_some();
        if constrained && !in_list && !in_class {
            let mut wanted: Vec<String> = expect.status.iter().map(u16::to_string).collect();
            wanted.extend(expect.status_class.as_ref().map(|c| c.to_string()));
            f.push(format!(
                "expected status {}, got {}",
                wanted.join(" or "),
                describe_answer(ex)
            ));
            // Everything else was written for the expected status; more noise would not help.
            return Ok(f);
        }
        for (name, check) in &expect.headers {
            f.extend(self.header_check(name, check, ex)?);
        }
        if let Some(b) = &expect.body {
            f.extend(self.body_check(b, ex)?);
        }
        if !expect.json.is_empty() {
            match ex.json() {
                None => f.push("body is not JSON".into()),
                Some(doc) => {
                    for c in &expect.json {
                        let vals = select(&doc, &c.pointer);
                        f.extend(self.json_check(c, vals, &c.pointer)?);
                    }
                }
            }
        }
        // A body that is not JSON leaves the codes unchecked; the caller reports that.
        if let (Some(codes), Some(_)) = (&expect.error_codes, ex.json()) {
            if let Err(e) = check_error_body(&ex.body, codes) {
                f.push(e);
            }
        }
        if expect.error_body_if_json && serde_json::from_slice::<Value>(&ex.body).is_ok() {
            if let Err(e) = check_error_body(&ex.body, &[]) {
                f.push(format!(
                    "a JSON error body must follow the spec format: {e}"
                ));
            }
        }
        if let (Some(c), 401) = (&expect.challenge, status) {
            f.extend(self.challenge_check(c, ex)?);
        }
        match (expect.link, ex.header("Link")) {
            (Some(LinkCheck::Absent), Some(v)) => {
                f.push(format!("expected no Link header, got `{v}`"));
            }
            (Some(LinkCheck::RelNext), None) => {
                f.push("expected a Link header with rel=\"next\"".into());
            }
            (Some(LinkCheck::RelNext), Some(v)) => {
                if let Err(e) = parse_next_link(v) {
                    f.push(format!("malformed Link header `{v}`: {e}"));
                }
            }
            _ => {}
        }
        Ok(f)
    }

    fn challenge_check(&self, c: &ChallengeCheck, ex: &Exchange) -> Result<Vec<String>, Stop> {
        let headers: Vec<&str> = ex.headers("www-authenticate").collect();
        let Some(ch) = headers.iter().find_map(|h| Challenge::parse(h)) else {
            return Ok(vec![if headers.is_empty() {
                "a 401 answer needs a WWW-Authenticate challenge (RFC 9110 §11.6.1); none came"
                    .to_string()
            } else {
                format!("malformed WWW-Authenticate `{}`", headers.join(", "))
            }]);
        };
        let mut f = Vec::new();
        let shown = headers.join(", ");
        if ch.param("realm").is_none() {
            f.push(format!("the challenge names no realm: `{shown}`"));
        }
        if !ch.scheme.eq_ignore_ascii_case("bearer") {
            return Ok(f);
        }
        match ch.param("realm").map(reqwest::Url::parse) {
            Some(Ok(u)) if u.scheme() == "http" || u.scheme() == "https" => {}
            Some(_) => f.push(format!(
                "a Bearer realm must be an absolute http(s) URL: `{shown}`"
            )),
            None => {}
        }
        if ch.param("service").is_none() {
            f.push(format!("the Bearer challenge names no service: `{shown}`"));
        }
        if let Some(want) = &c.scope {
            let want = self.expand(want)?;
            let (resource, actions) = want.rsplit_once(':').unwrap_or((want.as_str(), ""));
            let scopes = ch.scopes();
            let covered = actions
                .split(',')
                .filter(|a| !a.is_empty())
                .all(|a| crate::http::auth::scopes_cover(&scopes, resource, a));
            if !covered {
                f.push(format!(
                    "the Bearer challenge's scope should cover `{want}`: `{shown}`"
                ));
            }
        }
        if let Some(want) = &c.error {
            if ch.param("error") != Some(want.as_str()) {
                f.push(format!(
                    "the Bearer challenge should carry error=\"{want}\": `{shown}`"
                ));
            }
        }
        Ok(f)
    }

    fn header_check(
        &self,
        name: &str,
        c: &HeaderCheck,
        ex: &Exchange,
    ) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let value = ex.header(name);
        for rule in &c.0 {
            match (rule, value) {
                (HeaderRule::Present, None) => f.push(format!("missing {name} header")),
                (HeaderRule::Absent, Some(v)) => {
                    f.push(format!("expected no {name} header, got `{v}`"))
                }
                (HeaderRule::Equals(want), _) => {
                    let want = self.expand(want)?;
                    match value {
                        Some(v) if v == want => {}
                        Some(v) => f.push(format!("{name}: expected `{want}`, got `{v}`")),
                        None => f.push(format!("{name}: expected `{want}`, header missing")),
                    }
                }
                (HeaderRule::Matches(re), Some(v)) if !re.is_match(v) => {
                    f.push(format!("{name}: `{v}` does not match {re}"))
                }
                (HeaderRule::Matches(re), None) => f.push(format!(
                    "{name}: expected a value matching {re}, header missing"
                )),
                (HeaderRule::EqualsIfPresent(want), Some(v)) => {
                    let want = self.expand(want)?;
                    if v != want {
                        f.push(format!("{name}: expected `{want}` when present, got `{v}`"));
                    }
                }
                (HeaderRule::MatchesIfPresent(re), Some(v)) if !re.is_match(v) => {
                    f.push(format!("{name}: `{v}` does not match {re}"))
                }
                (HeaderRule::MaxTotalBytes(max), _) => {
                    let total: usize = ex.headers(name).map(str::len).sum();
                    if total > *max {
                        f.push(format!("{name}: {total} bytes in all, more than {max}"));
                    }
                }
                (HeaderRule::Contains(want), _) => {
                    let want = self.expand(want)?;
                    let items = ex.header_list(name);
                    if !items.iter().any(|i| i == &want) {
                        f.push(format!("{name}: expected an entry `{want}`, got {items:?}"));
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Body checks see the whole body by its size and digests even when it was too large to
    /// keep (see [`crate::http::KEPT_BODY_BYTES`]).
    fn body_check(&self, c: &BodyCheck, ex: &Exchange) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let size = ex.body_size();
        for rule in &c.0 {
            match rule {
                BodyRule::Fixture(name) => {
                    let item = self.item(name)?;
                    if !ex.body_is(&item.bytes) {
                        f.push(format!(
                            "body differs from {name}: got {size} bytes ({}), want {} bytes ({})",
                            ex.body_digest(item.algorithm),
                            item.bytes.len(),
                            item.digest
                        ));
                    }
                }
                BodyRule::Empty if size > 0 => {
                    f.push(format!("expected an empty body, got {size} bytes"))
                }
                BodyRule::Empty => {}
                BodyRule::Digest(d) => {
                    let d = self.expand(d)?;
                    let alg = d.split(':').next().unwrap_or("sha256");
                    let got = ex.body_digest(alg);
                    if got != d {
                        f.push(format!("body digest is {got}, want {d}"));
                    }
                }
                BodyRule::Range(name, a, z) => {
                    let want = slice(&self.item(name)?.bytes, *a, *z).map_err(Stop::Setup)?;
                    if !ex.body_is(&want) {
                        f.push(format!(
                            "body is not bytes {a}-{z} of {name}: got {size} bytes, want {}",
                            want.len()
                        ));
                    }
                }
                BodyRule::Text(t) => {
                    let t = self.expand(t)?;
                    if !ex.body_is(t.as_bytes()) {
                        let body = &ex.body;
                        f.push(format!(
                            "body is `{}`, want `{t}`",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ));
                    }
                }
            }
        }
        Ok(f)
    }

    /// `vals`: what the pointer selected (several with a `*` wildcard).
    fn json_check(&self, c: &JsonCheck, vals: Vec<Value>, what: &str) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let wildcard = c.pointer.contains('*');
        // With a wildcard the selection itself is the list; otherwise the single value is.
        let subject: Option<Value> = if wildcard {
            Some(Value::Array(vals.clone()))
        } else {
            vals.first().cloned()
        };
        let as_list = |v: &Option<Value>| -> Option<Vec<Value>> {
            match v {
                Some(Value::Array(a)) => Some(a.clone()),
                _ => None,
            }
        };
        for rule in &c.rules {
            match rule {
                JsonRule::Exists(true) if subject.is_none() => f.push(format!("{what}: missing")),
                JsonRule::Exists(false) if subject.is_some() && !(wildcard && vals.is_empty()) => f
                    .push(format!(
                        "{what}: expected absent, got {}",
                        short(subject.as_ref())
                    )),
                JsonRule::Exists(_) => {}
                JsonRule::Matches(re) => {
                    // Every selected value must be a string matching (with a wildcard: each).
                    let values: Vec<Value> = if wildcard {
                        vals.clone()
                    } else {
                        subject.iter().cloned().collect()
                    };
                    if values.is_empty() {
                        f.push(format!(
                            "{what}: expected a string matching {re}, got nothing"
                        ));
                    }
                    for v in values {
                        match v.as_str() {
                            Some(t) if re.is_match(t) => {}
                            _ => f.push(format!("{what}: {v} does not match {re}")),
                        }
                    }
                }
                JsonRule::Equals(want) => {
                    let want = template::expand_json(want, self).map_err(Stop::Setup)?;
                    if subject.as_ref() != Some(&want) {
                        f.push(format!(
                            "{what}: expected {want}, got {}",
                            short(subject.as_ref())
                        ));
                    }
                }
                JsonRule::Length(n) => match as_list(&subject) {
                    Some(a) if a.len() == *n => {}
                    Some(a) => f.push(format!("{what}: expected {n} entries, got {}", a.len())),
                    None => f.push(format!(
                        "{what}: expected a list of {n}, got {}",
                        short(subject.as_ref())
                    )),
                },
                JsonRule::Sorted => match as_list(&subject) {
                    Some(a) => {
                        let strs: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                        if !is_sorted_ascii_or_lexical(&strs) {
                            f.push(format!("{what}: not in lexical or ASCII order: {strs:?}"));
                        }
                    }
                    None => f.push(format!(
                        "{what}: expected a list, got {}",
                        short(subject.as_ref())
                    )),
                },
                JsonRule::Contains(want) | JsonRule::NotContains(want) => {
                    let negate = matches!(rule, JsonRule::NotContains(_));
                    let want = template::expand_json(want, self).map_err(Stop::Setup)?;
                    let list = as_list(&subject).unwrap_or_default();
                    // `contains` of a list checks every element of it.
                    let wanted: Vec<Value> = match &want {
                        Value::Array(a) => a.clone(),
                        v => vec![v.clone()],
                    };
                    for w in wanted {
                        let has = list.contains(&w);
                        if has == negate {
                            f.push(format!(
                                "{what}: expected {}to contain {w}, got {}",
                                if negate { "not " } else { "" },
                                short(subject.as_ref())
                            ));
                        }
                    }
                }
            }
        }
        Ok(f)
    }
}

/// The entries of page number `page`: what `pointer` selects in its JSON body.
fn page_entries(ex: &Exchange, pointer: &str, page: u32) -> Result<Vec<Value>, Stop> {
    let json = ex
        .json()
        .ok_or_else(|| Stop::Fail(format!("page {page}: body is not JSON")))?;
    Ok(match json.pointer(pointer) {
        // `/manifests/*/digest`: the wildcard's selection is the page's entries.
        _ if pointer.contains('*') => select(&json, pointer),
        Some(Value::Array(a)) => a.clone(),
        // A registry may answer `null` for an empty list; that is its own case's concern.
        Some(Value::Null) | None => vec![],
        Some(other) => {
            return Err(Stop::Fail(format!(
                "page {page}: {pointer} is not an array: {other}"
            )))
        }
    })
}

/// A page holds at most the `n` asked for and nothing an earlier page held. Checked page by
/// page: a registry that ignores `last` would otherwise send the same full page until
/// `max_pages`.
fn check_page(
    items: &[Value],
    collected: &[Value],
    expect: &PageExpect,
    page: u32,
    links_seen: bool,
) -> Result<(), Stop> {
    if let Some(max) = expect.page_size_at_most {
        if items.len() > max {
            return Err(Stop::Fail(format!(
                "page {page} holds {} entries, more than n={max}",
                items.len()
            )));
        }
    }
    if let Some(dup) = items.iter().find(|v| collected.contains(v)) {
        return Err(Stop::Fail(format!(
            "page {page} repeats {dup}, already on an earlier page (the pages overlap{})",
            if links_seen {
                ""
            } else {
                ": was `last` ignored?"
            }
        )));
    }
    Ok(())
}

/// The target of the page's `Link: <…>; rel="next"`, if it has one; more than one is an error.
fn next_link(links: &[&str], page: u32) -> Result<Option<String>, Stop> {
    match links {
        [] => Ok(None),
        [one] => Ok(Some(parse_next_link(one).map_err(|e| {
            Stop::Fail(format!("page {page}: malformed Link header `{one}`: {e}"))
        })?)),
        many => Err(Stop::Fail(format!(
            "page {page}: {} Link headers",
            many.len()
        ))),
    }
}

/// The URL of the page after the one `url` asked for: the `Link` target, resolved; else, when
/// the page was full (as many entries as its request's `n`), `url` with `last=<its last
/// entry>`. None: the list has ended.
fn next_page_url(
    url: &str,
    next: Option<String>,
    page_len: usize,
    page_last: Option<String>,
    page: u32,
) -> Result<Option<reqwest::Url>, Stop> {
    let current =
        reqwest::Url::parse(url).map_err(|e| Stop::Setup(format!("bad URL `{url}`: {e}")))?;
    // The `n` of this page's request (a Link may carry another than the first's).
    let n: Option<usize> = current
        .query_pairs()
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| v.parse().ok());
    Ok(match (next, n, page_last) {
        (Some(next), ..) => Some(
            current
                .join(&next)
                .map_err(|e| Stop::Fail(format!("page {page}: Link target `{next}`: {e}")))?,
        ),
        (None, Some(n), Some(last)) if n > 0 && page_len == n => {
            let mut u = current.clone();
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "last")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("last", &last);
            Some(u)
        }
        _ => None,
    })
}

fn short(v: Option<&Value>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 300 {
                format!(
                    "{}…",
                    &s[..s.char_indices().nth(300).map(|x| x.0).unwrap_or(s.len())]
                )
            } else {
                s
            }
        }
    }
}

fn unsupported(step: &Step, ex: &Exchange) -> Option<String> {
    let u = step.unsupported_if.as_ref()?;
    let status = ex.status?;
    if !u.status.contains(&status) {
        return None;
    }
    if let Some(codes) = &u.error_codes {
        let body_codes = error_codes(ex);
        if !body_codes.is_empty() && !body_codes.iter().any(|c| codes.contains(c)) {
            return None;
        }
    }
    Some(format!(
        "registry answered {}{}",
        describe_answer(ex),
        u.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ))
}

fn slice(b: &Bytes, a: u64, z: u64) -> Result<Bytes, String> {
    if a > z || z as usize >= b.len() {
        return Err(format!(
            "range {a}-{z} is outside a {}-byte fixture",
            b.len()
        ));
    }
    Ok(b.slice(a as usize..=z as usize))
}

/// Runs the selected cases concurrently and feeds every reporter the same events.
pub async fn run(
    engine: &Engine,
    info: RunInfo,
    selected: Vec<(PathBuf, Case)>,
    skipped: Vec<CaseResult>,
    expected: &crate::expected::ExpectedFailures,
    options: &RunOptions,
    reporters: &mut [Box<dyn Reporter>],
) -> Summary {
    use futures_util::StreamExt;
    let started = Instant::now();
    let emit = |reporters: &mut [Box<dyn Reporter>], ev: Event| {
        for r in reporters.iter_mut() {
            r.event(&ev);
        }
    };
    emit(reporters, Event::RunStarted(info));
    let mut summary = Summary::default();
    for s in skipped {
        summary.add(&s);
        emit(reporters, Event::CaseFinished(Box::new(s)));
    }
    // The flag: the run stopped early, so the case's verdict is unknown (an error whatever the
    // expected-failure list says).
    let mut stream = futures_util::stream::iter(selected.iter())
        .map(|(file, case)| async move {
            if let Some(why) = engine.http.stopped() {
                return (engine.not_run(file, case, why), true);
            }
            let mut r = engine.run_case(file, case).await;
            let cut = r
                .transcript
                .iter()
                .any(|ex| ex.failure == Some(crate::http::Failure::Stopped));
            if !cut || r.outcome == Outcome::Pass {
                return (r, false);
            }
            r.outcome = Outcome::Error;
            r.message = Some(format!(
                "{}: {}; {}",
                crate::http::RUN_STOPPED,
                engine.http.stopped().unwrap_or_default(),
                r.message.as_deref().unwrap_or_default()
            ));
            (r, true)
        })
        .buffer_unordered(options.jobs.max(1));
    while let Some((mut result, stopped)) = stream.next().await {
        if !stopped {
            expected.apply(&mut result);
        }
        summary.add(&result);
        emit(reporters, Event::CaseFinished(Box::new(result)));
    }
    if let Some(r) = engine.too_many_requests_verdict() {
        summary.add(&r);
        emit(reporters, Event::CaseFinished(Box::new(r)));
    }
    summary.cleanup = crate::cleanup::clean(
        &engine.http,
        engine.http.created(),
        &options.cleanup_disabled,
        !options.cleanup,
        engine.ctx.layout == crate::config::RepositoryLayout::Fixed,
    )
    .await;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    summary.retried_requests = engine.http.retried();
    summary.preflight = options.preflight.clone();
    emit(reporters, Event::RunFinished(summary.clone()));
    summary
}

/// How the cases run, what the run does once they are done, and what it reports beside them.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Cases run at once.
    pub jobs: usize,
    /// `--cleanup`: delete what the run created.
    pub cleanup: bool,
    /// Deletions not to try (`--disable-feature delete-*`).
    pub cleanup_disabled: Vec<Feature>,
    /// The preflight probe's lines, for the summary.
    pub preflight: Vec<String>,
}

impl Engine {
    /// The verdict on every 429 the run met (R-148: it SHOULD carry `Retry-After`; its JSON body,
    /// if any, in the error format), as one result; None when the registry never answered 429.
    fn too_many_requests_verdict(&self) -> Option<CaseResult> {
        use crate::rate_limit::{CASE_ID, REQUIREMENT};
        let (answers, problems) = self.http.too_many_requests();
        if answers == 0 {
            return None;
        }
        let r = self.suite.catalog.get(REQUIREMENT);
        let (outcome, message) = if problems.is_empty() {
            (
                Outcome::Pass,
                format!("{answers} answers of 429, each with a valid Retry-After"),
            )
        } else {
            (
                Outcome::Fail,
                format!(
                    "{answers} answers of 429 (waited out and sent again, so no case failed on \
                     them), but: {}",
                    problems.join("; ")
                ),
            )
        };
        Some(CaseResult {
            id: CASE_ID.into(),
            title: "A 429 Too Many Requests carries Retry-After (every 429 the run met)".into(),
            workflow: Workflow::Pull,
            level: Level::Should,
            requirements: vec![RequirementRef {
                id: REQUIREMENT.into(),
                level: r.map(|r| r.level.clone()).unwrap_or_default(),
                statement: r.map(|r| r.statement.clone()).unwrap_or_default(),
            }],
            outcome,
            message: Some(message),
            duration_ms: 0,
            file: PathBuf::new(),
            repositories: vec![],
            transcript: vec![],
        })
    }
}

pub fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
