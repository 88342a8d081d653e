//! Layer 1: request fuzzing. Each [`Probe`] is one fuzzed request (plus the few plain requests
//! it needs to get there), judged by what the spec allows for exactly that request. One module
//! per thing probed (manifests, blobs, uploads, tags, referrers, deletes); what is generated is
//! in `generate`, the content probes read in `fixture`.

mod blobs;
mod deletes;
pub mod fixture;
mod generate;
mod manifests;
mod referrers;
mod tags;
mod uploads;

pub use fixture::{Fixture, FIXTURE_TAGS, LAYER_SIZE};
pub use generate::probe;

use serde::{Deserialize, Serialize};

use super::grammar::{self, valid_name};
use super::http::{Answer, Client, Req, Resp};
use super::oracle::{Judge, Verdict};
use super::Features;
use crate::contract::responses::Situation;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Repo {
    Fixture,
    /// A repository that does not exist: `<case prefix>/<suffix>` (suffix may be invalid).
    Fresh(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    FixtureTag(usize),
    FixtureManifest,
    FixtureReferrer,
    FixtureBlob,
    Literal(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PutRef {
    Tag(String),
    /// The digest of the body being pushed.
    BodyDigest,
    Literal(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentType {
    Matching,
    WithParams,
    Missing,
    Other(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Body {
    Valid,
    Mutated {
        pos: usize,
        op: u8,
    },
    /// `None`: the `mediaType` field is removed.
    MediaType(Option<String>),
    Dangling,
    /// A non-distributable layer (with `urls`) whose blob was never pushed.
    NonDistributable,
    Huge(u32),
    Deep(u16),
    InvalidUtf8,
    NotJson(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UploadDigest {
    Correct,
    Sha512,
    Literal(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "kebab-case")]
pub enum Probe {
    GetManifest {
        repo: Repo,
        reference: Target,
        head: bool,
        accept: Option<String>,
        headers: Vec<(String, String)>,
    },
    GetBlob {
        repo: Repo,
        digest: Target,
        head: bool,
        range: Option<String>,
    },
    PutManifest {
        repo: String,
        reference: PutRef,
        content_type: ContentType,
        body: Body,
    },
    Chunks {
        seed: u64,
        first: (u16, String),
        second: Option<(u16, String)>,
    },
    CloseUpload {
        seed: u64,
        size: u16,
        digest: UploadDigest,
        single_post: bool,
    },
    ListTags {
        repo: Repo,
        n: Option<String>,
        last: Option<Target>,
    },
    Referrers {
        repo: Repo,
        digest: Target,
        artifact_type: Option<String>,
    },
    Delete {
        repo: String,
        blob: bool,
        reference: String,
    },
}

impl Probe {
    /// Whether the probe reads the run's fixture repository (reproducers then rebuild it).
    pub fn uses_fixture(&self) -> bool {
        match self {
            Probe::GetManifest { repo, .. }
            | Probe::GetBlob { repo, .. }
            | Probe::ListTags { repo, .. }
            | Probe::Referrers { repo, .. } => {
                matches!(repo, Repo::Fixture)
            }
            _ => false,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::GetManifest { .. } => "get-manifest",
            Probe::GetBlob { .. } => "get-blob",
            Probe::PutManifest { .. } => "put-manifest",
            Probe::Chunks { .. } => "chunks",
            Probe::CloseUpload { .. } => "close-upload",
            Probe::ListTags { .. } => "list-tags",
            Probe::Referrers { .. } => "referrers",
            Probe::Delete { .. } => "delete",
        }
    }
}

pub struct ProbeCtx<'a> {
    pub client: &'a mut Client,
    pub fixture: &'a Fixture,
    pub features: &'a Features,
    /// The spec version answers are judged by.
    pub version: crate::spec::SpecVersion,
    /// Unique per execution: `<run prefix>/c<N>`, so no probe sees another's leftovers.
    pub fresh: String,
}

impl ProbeCtx<'_> {
    fn send(&mut self, judge: &mut Judge, req: Req) -> Answer {
        let a = self.client.send(req);
        judge.exchange = Some(self.client.transcript.len() - 1);
        a
    }
    fn name(&self, repo: &Repo) -> String {
        match repo {
            Repo::Fixture => self.fixture.name.clone(),
            Repo::Fresh(s) => format!("{}/{}", self.fresh, s),
        }
    }
}

/// What a name means for the expected status: `None` if it is a usable repository name.
fn name_class(name: &str) -> Option<&'static str> {
    if !valid_name(name) {
        Some("invalid-name")
    } else {
        None
    }
}

/// Names longer than this are labelled `long-name` (so that a crash on long names is one finding
/// whichever endpoint meets it); they are still held to the normal expectations up to 255.
const LONG_NAME: usize = 200;

/// Names over 255 characters are grammatical, but clients cap host/name at 255 and a
/// registry may too: whatever else is allowed, a 400 is also acceptable.
fn allow_long(name: &str, mut allowed: Vec<u16>) -> Vec<u16> {
    if name.len() > 255 && !allowed.contains(&400) {
        allowed.push(400);
    }
    allowed
}

pub fn execute(p: &Probe, ctx: &mut ProbeCtx) -> Verdict {
    match p {
        Probe::GetManifest {
            repo,
            reference,
            head,
            accept,
            headers,
        } => manifests::get_manifest(ctx, repo, reference, *head, accept.as_deref(), headers),
        Probe::GetBlob {
            repo,
            digest,
            head,
            range,
        } => blobs::get_blob(ctx, repo, digest, *head, range.as_deref()),
        Probe::PutManifest {
            repo,
            reference,
            content_type,
            body,
        } => manifests::put_manifest(ctx, repo, reference, content_type, body),
        Probe::Chunks {
            seed,
            first,
            second,
        } => uploads::chunks(ctx, *seed, first, second.as_ref()),
        Probe::CloseUpload {
            seed,
            size,
            digest,
            single_post,
        } => uploads::close_upload(ctx, *seed, *size, digest, *single_post),
        Probe::ListTags { repo, n, last } => {
            tags::list_tags(ctx, repo, n.as_deref(), last.as_ref())
        }
        Probe::Referrers {
            repo,
            digest,
            artifact_type,
        } => referrers::referrers(ctx, repo, digest, artifact_type.as_deref()),
        Probe::Delete {
            repo,
            blob,
            reference,
        } => deletes::delete(ctx, repo, *blob, reference),
    }?;
    liveness(ctx.client)
}

/// "The registry still answers correctly afterwards": `GET /v2/` is 200.
pub fn liveness(c: &mut Client) -> Verdict {
    let mut j = Judge::new("liveness");
    let a = c.send(Req::new("GET", "/v2/"));
    j.exchange = Some(c.transcript.len() - 1);
    j.check(&a, &[200], &[], &["R-142"]).map(|_| ())
}

fn resolve_target(f: &Fixture, t: &Target) -> String {
    match t {
        Target::FixtureTag(i) => FIXTURE_TAGS[i % FIXTURE_TAGS.len()].to_string(),
        Target::FixtureManifest => f.manifest_digest(),
        Target::FixtureReferrer => f.referrer_digest(),
        Target::FixtureBlob => f.layer_digest(),
        Target::Literal(s) => s.clone(),
    }
}

/// Whether the repository of an absent object exists: the fixture's does, a fresh one (never
/// written to) does not.
fn absent_in(repo: &Repo) -> Situation {
    match repo {
        Repo::Fixture => Situation::Absent,
        Repo::Fresh(_) => Situation::NoRepository,
    }
}

/// Body (GET) or Content-Length (HEAD) and `Docker-Content-Digest` of a 200 answer.
fn check_content(j: &Judge, r: &Resp, bytes: &[u8], head: bool, reqs: &[&'static str]) -> Verdict {
    if let Some(d) = r.header("docker-content-digest") {
        if d != grammar::sha256_digest(bytes) && d != grammar::sha512_digest(bytes) {
            return Err(j.fail(
                "digest-header",
                format!("Docker-Content-Digest {d} is not the digest of the content"),
                &["R-025", "R-031"],
            ));
        }
    }
    if head {
        if let Some(l) = r.header("content-length") {
            if l.trim() != bytes.len().to_string() {
                return Err(j.fail(
                    "content-length",
                    format!("HEAD Content-Length {l}, size is {}", bytes.len()),
                    &["R-032"],
                ));
            }
        }
    } else if r.header("content-encoding").is_none() && r.body != bytes {
        return Err(j.fail(
            "body",
            format!(
                "body ({} bytes) differs from the stored content ({} bytes)",
                r.body.len(),
                bytes.len()
            ),
            reqs,
        ));
    }
    Ok(())
}
