//! Layer 1: request fuzzing. Each [`Probe`] is one fuzzed request (plus the few plain requests
//! it needs to get there), judged by what the spec allows for exactly that request.

use proptest::prelude::*;
use proptest::sample::Index;
use serde::{Deserialize, Serialize};

use super::grammar::{
    self, classify_digest, classify_reference, encode_path, encode_query, valid_name, valid_tag,
    DigestClass, RefClass,
};
use super::http::{Answer, Client, Req, Resp};
use super::oracle::{link_next, sorted_orders, Judge, Verdict};
use super::push::{
    self, blob_bytes, config_bytes, image_manifest, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
use super::Features;
use crate::contract::responses::{Endpoint, Situation};
use crate::spec::SpecVersion;

pub const REFERRER_TYPE: &str = "application/vnd.oci-conformance.fuzz.referrer";
/// Mixed case and a leading `_` so ASCII order and case-insensitive order differ.
pub const FIXTURE_TAGS: &[&str] = &["A1", "a2", "B", "b0", "latest", "v1.0", "_x"];
pub const LAYER_SIZE: usize = 1024;
/// Manifests up to this size must be accepted (R-085 "at least 4 MB").
const MUST_ACCEPT_MANIFEST: usize = 4_000_000;

/// Content every probe may read: one image with several tags and one referrer, pushed once per run
/// into the run's fixture repository.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
    pub referrer: Vec<u8>,
}

impl Fixture {
    pub fn new(name: String, seed: u64) -> Self {
        let config = config_bytes(seed);
        let layer = blob_bytes(seed, LAYER_SIZE);
        let manifest = image_manifest(&config, OCI_CONFIG, &[&layer], None, None, "fixture");
        let referrer = image_manifest(
            &config,
            OCI_CONFIG,
            &[&layer],
            Some((&grammar::sha256_digest(&manifest), manifest.len())),
            Some(REFERRER_TYPE),
            "referrer",
        );
        Fixture {
            name,
            config,
            layer,
            manifest,
            referrer,
        }
    }
    pub fn layer_digest(&self) -> String {
        grammar::sha256_digest(&self.layer)
    }
    pub fn manifest_digest(&self) -> String {
        grammar::sha256_digest(&self.manifest)
    }
    pub fn referrer_digest(&self) -> String {
        grammar::sha256_digest(&self.referrer)
    }
    /// Pushes the fixture, each answer judged by the response contract.
    pub fn push(&self, c: &mut Client, version: SpecVersion) -> Verdict {
        push::push_blob(c, version, &self.name, &self.config)?;
        push::push_blob(c, version, &self.name, &self.layer)?;
        for t in FIXTURE_TAGS {
            push::push_manifest(c, version, &self.name, t, OCI_MANIFEST, &self.manifest)?;
        }
        push::push_manifest(
            c,
            version,
            &self.name,
            &self.referrer_digest(),
            OCI_MANIFEST,
            &self.referrer,
        )
    }
}

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

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn repo() -> impl Strategy<Value = Repo> {
    prop_oneof![4 => Just(Repo::Fixture), 1 => grammar::name_suffix().prop_map(Repo::Fresh)]
}

fn manifest_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (0..FIXTURE_TAGS.len()).prop_map(Target::FixtureTag),
        2 => Just(Target::FixtureManifest),
        1 => Just(Target::FixtureReferrer),
        3 => grammar::digest().prop_map(Target::Literal),
        3 => grammar::tag().prop_map(Target::Literal),
    ]
}

fn accept() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some(OCI_MANIFEST.to_string())),
        1 => Just(Some(format!("{OCI_MANIFEST}, {OCI_INDEX}"))),
        1 => Just(Some(format!("{OCI_INDEX};q=0.9, {OCI_MANIFEST};q=0.5"))),
        1 => Just(Some("*/*".to_string())),
        1 => Just(Some(push::DOCKER_MANIFEST.to_string())),
        1 => Just(Some("application/json".to_string())),
        1 => Just(Some(OCI_INDEX.to_string())),
    ]
}

fn noise_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    // No `$`: reproducers are case files, where `${` starts a template.
    prop::collection::vec(
        ("X-Fuzz-[a-z]{1,6}", "[!-#%-~]([ -#%-~]{0,18}[!-#%-~])?"),
        0..3,
    )
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        4 => Just(Body::Valid),
        3 => (any::<Index>(), 0u8..4).prop_map(|(i, op)| Body::Mutated { pos: i.index(400), op }),
        1 => Just(Body::MediaType(None)),
        1 => prop_oneof![
            Just(OCI_INDEX.to_string()),
            Just(push::DOCKER_MANIFEST.to_string()),
            "[a-z]{1,8}/[a-z.+]{1,12}",
        ].prop_map(|m| Body::MediaType(Some(m))),
        2 => Just(Body::Dangling),
        1 => Just(Body::NonDistributable),
        1 => prop_oneof![Just(3_900_000u32), Just(4_300_000u32), 1000u32..100_000].prop_map(Body::Huge),
        1 => prop_oneof![1u16..64, Just(2000u16), Just(20000u16)].prop_map(Body::Deep),
        1 => Just(Body::InvalidUtf8),
        1 => "[ -#%-~]{0,40}".prop_map(Body::NotJson),
    ]
}

fn put_ref() -> impl Strategy<Value = PutRef> {
    prop_oneof![
        4 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,12}".prop_map(PutRef::Tag),
        3 => Just(PutRef::BodyDigest),
        1 => grammar::tag().prop_map(PutRef::Tag),
        2 => grammar::digest().prop_map(PutRef::Literal),
    ]
}

fn content_type() -> impl Strategy<Value = ContentType> {
    prop_oneof![
        6 => Just(ContentType::Matching),
        1 => Just(ContentType::WithParams),
        1 => Just(ContentType::Missing),
        1 => prop_oneof![
            Just(push::DOCKER_MANIFEST.to_string()),
            Just(OCI_INDEX.to_string()),
            Just("application/json".to_string()),
            Just("text/plain".to_string()),
        ].prop_map(ContentType::Other),
    ]
}

fn chunk(at: u64) -> impl Strategy<Value = (u16, String)> {
    (1u16..512).prop_flat_map(move |l| (Just(l), grammar::content_range(at, l as u64)))
}

pub fn probe() -> impl Strategy<Value = Probe> {
    prop_oneof![
        4 => (repo(), manifest_target(), any::<bool>(), accept(), noise_headers()).prop_map(
            |(repo, reference, head, accept, headers)| Probe::GetManifest { repo, reference, head, accept, headers }),
        3 => (
            repo(),
            prop_oneof![3 => Just(Target::FixtureBlob), 2 => grammar::digest().prop_map(Target::Literal)],
            prop::bool::weighted(0.2),
            prop::option::weighted(0.7, grammar::range_header(LAYER_SIZE as u64)),
        ).prop_map(|(repo, digest, head, range)| Probe::GetBlob { repo, digest, head, range: if head { None } else { range } }),
        3 => (prop_oneof![6 => "[a-z0-9]{1,8}", 1 => grammar::name_suffix()], put_ref(), content_type(), body()).prop_map(
            |(repo, reference, content_type, body)| Probe::PutManifest { repo, reference, content_type, body }),
        3 => (any::<u64>(), chunk(0)).prop_flat_map(|(seed, first)| {
            let at = first.0 as u64;
            (Just(seed), Just(first), prop::option::of(chunk(at)))
        }).prop_map(|(seed, first, second)| Probe::Chunks { seed, first, second }),
        2 => (
            any::<u64>(),
            0u16..2048,
            prop_oneof![4 => Just(UploadDigest::Correct), 1 => Just(UploadDigest::Sha512), 3 => grammar::digest().prop_map(UploadDigest::Literal)],
            any::<bool>(),
        ).prop_map(|(seed, size, digest, single_post)| Probe::CloseUpload { seed, size, digest, single_post }),
        3 => (
            prop_oneof![5 => Just(Repo::Fixture), 1 => grammar::name_suffix().prop_map(Repo::Fresh)],
            prop::option::weighted(0.8, grammar::n_param()),
            prop::option::weighted(0.5, prop_oneof![
                3 => (0..FIXTURE_TAGS.len()).prop_map(Target::FixtureTag),
                1 => grammar::tag().prop_map(Target::Literal),
            ]),
        ).prop_map(|(repo, n, last)| Probe::ListTags { repo, n, last }),
        2 => (
            prop_oneof![5 => Just(Repo::Fixture), 1 => grammar::name_suffix().prop_map(Repo::Fresh)],
            prop_oneof![2 => Just(Target::FixtureManifest), 3 => grammar::digest().prop_map(Target::Literal)],
            prop::option::weighted(0.4, grammar::artifact_type()),
        ).prop_map(|(repo, digest, artifact_type)| Probe::Referrers { repo, digest, artifact_type }),
        1 => (
            "[a-z0-9]{1,8}",
            any::<bool>(),
            prop_oneof![grammar::digest(), grammar::tag()],
        ).prop_map(|(repo, blob, reference)| Probe::Delete { repo, blob, reference }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Execution and oracle
// ---------------------------------------------------------------------------------------------

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
        } => get_manifest(ctx, repo, reference, *head, accept.as_deref(), headers),
        Probe::GetBlob {
            repo,
            digest,
            head,
            range,
        } => get_blob(ctx, repo, digest, *head, range.as_deref()),
        Probe::PutManifest {
            repo,
            reference,
            content_type,
            body,
        } => put_manifest(ctx, repo, reference, content_type, body),
        Probe::Chunks {
            seed,
            first,
            second,
        } => chunks(ctx, *seed, first, second.as_ref()),
        Probe::CloseUpload {
            seed,
            size,
            digest,
            single_post,
        } => close_upload(ctx, *seed, *size, digest, *single_post),
        Probe::ListTags { repo, n, last } => list_tags(ctx, repo, n.as_deref(), last.as_ref()),
        Probe::Referrers {
            repo,
            digest,
            artifact_type,
        } => referrers(ctx, repo, digest, artifact_type.as_deref()),
        Probe::Delete {
            repo,
            blob,
            reference,
        } => delete(ctx, repo, *blob, reference),
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

fn get_manifest(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    target: &Target,
    head: bool,
    accept: Option<&str>,
    headers: &[(String, String)],
) -> Verdict {
    let name = ctx.name(repo);
    let reference = resolve_target(ctx.fixture, target);
    let f = ctx.fixture;
    let known: Option<&[u8]> = match repo {
        Repo::Fresh(_) => None,
        Repo::Fixture
            if FIXTURE_TAGS.contains(&reference.as_str()) || reference == f.manifest_digest() =>
        {
            Some(&f.manifest)
        }
        Repo::Fixture if reference == f.referrer_digest() => Some(&f.referrer),
        Repo::Fixture => None,
    };
    let accept_ok = accept.is_none_or(|a| a.contains(OCI_MANIFEST) || a.contains("*/*"));
    let rc = classify_reference(&reference);
    let (class, allowed): (String, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc.into(), vec![400, 404])
    } else {
        match (rc, known) {
            (RefClass::Tag | RefClass::Digest(DigestClass::Sha256), Some(_)) if accept_ok => {
                ("existing".into(), vec![200])
            }
            // The registry may ignore Accept or refuse with 406; "not found" is wrong.
            (RefClass::Tag | RefClass::Digest(DigestClass::Sha256), Some(_)) => {
                ("accept-excludes-type".into(), vec![200, 406])
            }
            (RefClass::Tag | RefClass::Digest(DigestClass::Sha256), None) => {
                (format!("absent-{}", rc.label()), vec![404])
            }
            _ => (rc.label().into(), vec![400, 404]),
        }
    };
    let allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    let method = if head { "HEAD" } else { "GET" };
    let mut j = Judge::new(format!("{}-manifest.{class}", method.to_lowercase()));
    let mut req = Req::new(
        method,
        format!(
            "/v2/{}/manifests/{}",
            encode_path(&name),
            encode_path(&reference)
        ),
    );
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    for (k, v) in headers {
        req = req.header(k, v.clone());
    }
    let a = ctx.send(&mut j, req);
    let r = j.check(&a, &allowed, &[], &["R-017", "R-022", "R-007"])?;
    let endpoint = if head {
        Endpoint::HeadManifest
    } else {
        Endpoint::GetManifest
    };
    if r.status == 200 {
        if let Some(bytes) = known {
            check_content(&j, r, bytes, head, &["R-017", "R-075"])?;
            j.contract(&a, endpoint, Situation::Exists, ctx.version, Some(bytes))?;
        }
    } else if r.status == 404 && class.starts_with("absent-") {
        j.contract(&a, endpoint, absent_in(repo), ctx.version, None)?;
    }
    Ok(())
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

enum RangeClass {
    /// Resolved inclusive byte ranges (only the satisfiable ones).
    Satisfiable(Vec<(u64, u64)>),
    Unsatisfiable,
    Invalid,
    OtherUnit,
}

/// RFC 9110 §14.1 for a representation of `size` bytes.
fn classify_range(v: &str, size: u64) -> RangeClass {
    let Some((unit, set)) = v.split_once('=') else {
        return RangeClass::Invalid;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return if unit.chars().all(|c| c.is_ascii_alphanumeric()) && !unit.is_empty() {
            RangeClass::OtherUnit
        } else {
            RangeClass::Invalid
        };
    }
    let mut sat = Vec::new();
    let mut any = false;
    for spec in set.split(',') {
        let spec = spec.trim();
        let Some((a, b)) = spec.split_once('-') else {
            return RangeClass::Invalid;
        };
        let num = |s: &str| {
            if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse::<u64>().ok()
            } else {
                None
            }
        };
        any = true;
        match (a.is_empty(), b.is_empty()) {
            (true, false) => {
                let Some(n) = num(b) else {
                    return RangeClass::Invalid;
                };
                if n > 0 && size > 0 {
                    sat.push((size - n.min(size), size - 1));
                }
            }
            (false, _) => {
                let Some(first) = num(a) else {
                    return RangeClass::Invalid;
                };
                let last = if b.is_empty() {
                    u64::MAX
                } else {
                    match num(b) {
                        Some(l) if l >= first => l,
                        _ => return RangeClass::Invalid,
                    }
                };
                if first < size {
                    sat.push((first, last.min(size - 1)));
                }
            }
            (true, true) => return RangeClass::Invalid,
        }
    }
    if !any {
        RangeClass::Invalid
    } else if sat.is_empty() {
        RangeClass::Unsatisfiable
    } else {
        RangeClass::Satisfiable(sat)
    }
}

fn get_blob(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    target: &Target,
    head: bool,
    range: Option<&str>,
) -> Verdict {
    let name = ctx.name(repo);
    let digest = resolve_target(ctx.fixture, target);
    let layer = ctx.fixture.layer.clone();
    let known = matches!(repo, Repo::Fixture) && digest == ctx.fixture.layer_digest();
    let dc = classify_digest(&digest);
    let rc = range.map(|r| classify_range(r, layer.len() as u64));
    let (class, allowed): (String, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc.into(), vec![400, 404])
    } else if dc != DigestClass::Sha256 {
        (dc.label().into(), vec![400, 404])
    } else if !known {
        ("absent".into(), vec![404])
    } else {
        match &rc {
            None => ("existing".into(), vec![200]),
            Some(RangeClass::Satisfiable(v)) if v.len() == 1 => ("range".into(), vec![200, 206]),
            Some(RangeClass::Satisfiable(_)) => ("multi-range".into(), vec![200, 206]),
            Some(RangeClass::Unsatisfiable) => ("range-unsatisfiable".into(), vec![200, 416]),
            Some(RangeClass::Invalid) => ("range-invalid".into(), vec![200, 206, 416]),
            // RFC 9110 §14.2: an unknown range unit MUST be ignored.
            Some(RangeClass::OtherUnit) => ("range-other-unit".into(), vec![200]),
        }
    };
    let allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    let method = if head { "HEAD" } else { "GET" };
    let mut j = Judge::new(format!("{}-blob.{class}", method.to_lowercase()));
    let mut req = Req::new(
        method,
        format!("/v2/{}/blobs/{}", encode_path(&name), encode_path(&digest)),
    );
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let a = ctx.send(&mut j, req);
    let reqs: &[&'static str] = if range.is_some() {
        &["R-029"]
    } else {
        &["R-023", "R-028"]
    };
    let r = j.check(&a, &allowed, &[], reqs)?;
    let endpoint = if head {
        Endpoint::HeadBlob
    } else {
        Endpoint::GetBlob
    };
    match (r.status, &rc) {
        (200, _) => {
            check_content(&j, r, &layer, head, &["R-023"])?;
            if rc.is_none() {
                j.contract(&a, endpoint, Situation::Exists, ctx.version, Some(&layer))?;
            }
        }
        (404, _) if class == "absent" => {
            j.contract(&a, endpoint, absent_in(repo), ctx.version, None)?;
        }
        (206, Some(RangeClass::Satisfiable(v))) if v.len() == 1 => {
            let (a0, b0) = v[0];
            let want_cr = format!("bytes {a0}-{b0}/{}", layer.len());
            let got_cr = r.header("content-range").unwrap_or("");
            if got_cr != want_cr {
                return Err(j.fail(
                    "content-range",
                    format!("206 Content-Range {got_cr:?}, expected {want_cr:?}"),
                    &["R-029"],
                ));
            }
            if r.body != layer[a0 as usize..=b0 as usize] {
                return Err(j.fail(
                    "range-body",
                    format!("206 body of {} bytes is not bytes {a0}-{b0}", r.body.len()),
                    &["R-029"],
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn build_body(b: &Body, config: &[u8], layer: &[u8], seed: u64) -> Vec<u8> {
    let valid = image_manifest(config, OCI_CONFIG, &[layer], None, None, "put");
    match b {
        Body::Valid => valid,
        Body::Mutated { pos, op } => {
            let mut v = valid;
            let p = pos % v.len();
            match op % 4 {
                0 => {
                    v.remove(p);
                }
                1 => v[p] = b'{',
                2 => v.insert(p, b'"'),
                _ => v.truncate(p),
            }
            v
        }
        Body::MediaType(mt) => {
            let mut j: serde_json::Value = serde_json::from_slice(&valid).expect("own manifest");
            match mt {
                Some(m) => j["mediaType"] = serde_json::json!(m),
                None => {
                    j.as_object_mut().expect("object").remove("mediaType");
                }
            }
            serde_json::to_vec(&j).expect("serialise")
        }
        Body::Dangling => {
            let missing = blob_bytes(seed ^ 0xdead, 64);
            image_manifest(
                config,
                OCI_CONFIG,
                &[layer, &missing],
                None,
                None,
                "dangling",
            )
        }
        Body::NonDistributable => {
            let foreign = blob_bytes(seed ^ 0xf00d, 64);
            let mut j: serde_json::Value = serde_json::from_slice(&valid).expect("own manifest");
            let mut d = push::descriptor(
                "application/vnd.oci.image.layer.nondistributable.v1.tar",
                &foreign,
            );
            d["urls"] = serde_json::json!(["https://example.com/layer.tar"]);
            j["layers"].as_array_mut().expect("layers").push(d);
            serde_json::to_vec(&j).expect("serialise")
        }
        Body::Huge(n) => {
            let mut j: serde_json::Value = serde_json::from_slice(&valid).expect("own manifest");
            j["annotations"]["org.example.pad"] = serde_json::json!("p".repeat(*n as usize));
            serde_json::to_vec(&j).expect("serialise")
        }
        Body::Deep(d) => {
            // An unknown field (which consumers must ignore) holding d nested arrays.
            let d = *d as usize;
            let mut v = format!("{{\"x-nested\":{}{},", "[".repeat(d), "]".repeat(d)).into_bytes();
            v.extend_from_slice(&valid[1..]);
            v
        }
        Body::InvalidUtf8 => {
            let s = String::from_utf8(valid).expect("utf8");
            s.replacen("\"put\"", "\"p\u{0}ut\"", 1)
                .replace('\u{0}', "\u{1}")
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect()
        }
        Body::NotJson(s) => s.clone().into_bytes(),
    }
}

fn put_manifest(
    ctx: &mut ProbeCtx,
    suffix: &str,
    reference: &PutRef,
    ct: &ContentType,
    body: &Body,
) -> Verdict {
    let name = format!("{}/{}", ctx.fresh, suffix);
    let seed = suffix.len() as u64;
    let config = config_bytes(seed);
    let layer = blob_bytes(seed, 300);
    let bytes = build_body(body, &config, &layer, seed);
    let body_digest = grammar::sha256_digest(&bytes);
    let reference_s = match reference {
        PutRef::Tag(t) => t.clone(),
        PutRef::BodyDigest => body_digest.clone(),
        PutRef::Literal(d) => d.clone(),
    };
    let nc = name_class(&name);
    // Over-long names may legitimately be refused, so they get no setup pushes.
    if nc.is_none() && name.len() <= 255 {
        for b in [&config, &layer] {
            push::push_blob(ctx.client, ctx.version, &name, b)?;
        }
    }
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let ct_ok = matches!(ct, ContentType::Matching);
    let lenient_ct = |mut v: Vec<u16>| {
        if !ct_ok && v.contains(&201) {
            v.extend([400, 415]);
        }
        v
    };
    // The reference decides first (a literal may be a tag, a digest, or neither), then the body.
    let literal = match reference {
        PutRef::Literal(d) => Some(classify_reference(d)),
        PutRef::Tag(t) if !valid_tag(t) => Some(RefClass::Invalid),
        _ => None,
    };
    type Expect = (
        String,
        Vec<u16>,
        &'static [&'static str],
        &'static [&'static str],
    );
    let (class, allowed, codes, reqs): Expect = if let Some(nc) = nc {
        (nc.into(), vec![400, 404], &[], &["R-008"])
    } else if literal == Some(RefClass::Digest(DigestClass::Sha256)) && reference_s != body_digest {
        (
            "digest-mismatch".into(),
            vec![400],
            &["DIGEST_INVALID", "MANIFEST_INVALID"],
            &["R-077", "R-037"],
        )
    } else if let Some(rc @ (RefClass::Invalid | RefClass::Digest(_))) =
        literal.filter(|l| *l != RefClass::Digest(DigestClass::Sha256))
    {
        (rc.label().into(), vec![400, 404], &[], &["R-007", "R-037"])
    } else {
        match body {
            // Always valid JSON, even past serde_json's own nesting limit (so `parsed` is no
            // guide): accepting it is right, a parser limit's 400 is acceptable, a crash is not.
            Body::Deep(_) => (
                "deep-nesting".into(),
                lenient_ct(vec![201, 400]),
                &[],
                &["R-140"],
            ),
            _ if parsed.is_none() => {
                // JSON must be UTF-8 (RFC 8259 §8.1), but a registry storing bytes verbatim
                // may not look: refusing is expected at SHOULD level; garbage is a MUST.
                match body {
                    Body::InvalidUtf8 => (
                        "invalid-utf8".into(),
                        vec![400],
                        &["MANIFEST_INVALID"],
                        &["R-140"],
                    ),
                    _ => (
                        "not-json".into(),
                        vec![400],
                        &["MANIFEST_INVALID"],
                        &["end-7"],
                    ),
                }
            }
            Body::Valid => (
                "valid".into(),
                lenient_ct(vec![201]),
                &[],
                &["R-075", "R-076"],
            ),
            Body::Huge(_) if bytes.len() <= MUST_ACCEPT_MANIFEST => {
                ("large".into(), lenient_ct(vec![201]), &[], &["R-085"])
            }
            Body::Huge(_) => ("huge".into(), lenient_ct(vec![201, 413]), &[], &["R-084"]),
            // a rejection for missing blobs names MANIFEST_BLOB_UNKNOWN; with a wrong
            // Content-Type the rejection may be about the type instead.
            // Registries may accept it without the blob (R-035 MAY) or refuse like any dangling one.
            Body::NonDistributable => (
                "non-distributable".into(),
                lenient_ct(vec![201, 400]),
                if ct_ok {
                    &["MANIFEST_BLOB_UNKNOWN"]
                } else {
                    &[]
                },
                &["R-035", "R-036"],
            ),
            Body::Dangling if ct_ok => (
                "dangling".into(),
                vec![201, 400],
                &["MANIFEST_BLOB_UNKNOWN"],
                &["R-035", "R-036"],
            ),
            Body::Dangling => (
                "dangling".into(),
                lenient_ct(vec![201, 400]),
                &[],
                &["R-035"],
            ),
            Body::MediaType(_) => ("media-type".into(), vec![201, 400, 415], &[], &["R-072"]),
            _ => (
                "mutated-json".into(),
                lenient_ct(vec![201, 400]),
                &[],
                &["R-140"],
            ),
        }
    };
    let mut allowed = allow_long(&name, allowed);
    let mut codes = codes;
    if name.len() > 255 {
        codes = &[]; // a refusal may be about the name instead
    }
    // Over the size limit: a 413 may come before any other check, and a crash is about
    // the size, whatever else is wrong with the request.
    let huge = bytes.len() > 4 << 20;
    if huge && !allowed.contains(&413) {
        allowed.push(413);
        codes = &[];
    }
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else if huge {
        "huge".into()
    } else {
        class.to_string()
    };
    let mut j = Judge::new(format!("put-manifest.{class}"));
    let mut req = Req::new(
        "PUT",
        format!(
            "/v2/{}/manifests/{}",
            encode_path(&name),
            encode_path(&reference_s)
        ),
    )
    .body(bytes.clone());
    match ct {
        ContentType::Matching => req = req.header("Content-Type", OCI_MANIFEST),
        ContentType::WithParams => {
            req = req.header("Content-Type", format!("{OCI_MANIFEST}; charset=utf-8"))
        }
        ContentType::Missing => {}
        ContentType::Other(o) => req = req.header("Content-Type", o.clone()),
    }
    let a = ctx.send(&mut j, req);
    let r = j.check(&a, &allowed, codes, reqs)?;
    if r.status != 201 {
        return Ok(());
    }
    if r.header("location").is_none() {
        return Err(j.fail("no-location", "201 without Location", &["R-076"]));
    }
    if let Some(d) = r.header("docker-content-digest") {
        if d != body_digest {
            return Err(j.fail(
                "digest-header",
                format!("Docker-Content-Digest {d}, body digest {body_digest}"),
                &["R-077"],
            ));
        }
    }
    let mut j2 = Judge::new(format!("put-manifest.{class}.read-back"));
    let accept = format!(
        "{OCI_MANIFEST}, {OCI_INDEX}, {}, */*",
        push::DOCKER_MANIFEST
    );
    let a = ctx.send(
        &mut j2,
        Req::new(
            "GET",
            format!(
                "/v2/{}/manifests/{}",
                encode_path(&name),
                encode_path(&reference_s)
            ),
        )
        .header("Accept", accept),
    );
    let r = j2.check(&a, &[200], &[], &["R-017", "R-075"])?;
    check_content(&j2, r, &bytes, false, &["R-075"])
}

fn upload_location(j: &Judge, r: &Resp, reqs: &[&'static str]) -> Verdict<String> {
    r.header("location").map(str::to_string).ok_or_else(|| {
        j.fail(
            "no-location",
            format!("{} without Location", r.status),
            reqs,
        )
    })
}

/// Expected outcome of a PATCH with `range` for a chunk of `len` bytes after `received` bytes.
fn chunk_expectation(
    range: &str,
    received: u64,
    len: u64,
    min_chunk: Option<u64>,
) -> (&'static str, Vec<u16>, bool) {
    let mut res = match grammar::parse_chunk_range(range) {
        Some((s, e)) if s == received && e >= s && e - s + 1 == len => {
            ("in-order", vec![202], true)
        }
        Some((s, _)) if s != received => ("out-of-order", vec![416], false),
        Some(_) => ("length-mismatch", vec![400, 416], false),
        // Off-grammar values: rejecting is right, tolerating a harmless variant is not a breach.
        None => ("malformed-range", vec![202, 400, 416], false),
    };
    if res.2 && min_chunk.is_some_and(|m| len < m) {
        res.1.extend([400, 416]);
    }
    res
}

fn chunks(
    ctx: &mut ProbeCtx,
    seed: u64,
    first: &(u16, String),
    second: Option<&(u16, String)>,
) -> Verdict {
    let name = format!("{}/up", ctx.fresh);
    let mut j = Judge::new("chunks.post");
    let a = ctx.send(
        &mut j,
        Req::new("POST", format!("/v2/{name}/blobs/uploads/")).header("Content-Length", "0"),
    );
    let r = j.check(&a, &[202], &[], &["R-038"])?;
    let mut loc = upload_location(&j, r, &["R-038"])?;
    let min_chunk = r
        .header("oci-chunk-min-length")
        .and_then(|v| v.trim().parse().ok());
    let total = first.0 as u64 + second.map_or(0, |s| s.0 as u64);
    let data = blob_bytes(seed, total as usize);
    let mut received = 0u64;
    for (i, (len, range)) in std::iter::once(first).chain(second).enumerate() {
        let len = *len as u64;
        let (class, allowed, valid) = chunk_expectation(range, received, len, min_chunk);
        let mut j = Judge::new(format!(
            "chunks.patch-{}.{class}",
            if i == 0 { "first" } else { "next" }
        ));
        let url = ctx.client.resolve(&loc);
        let a = ctx.send(
            &mut j,
            Req::new("PATCH", url)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", range.clone())
                .body(data[received as usize..(received + len) as usize].to_vec()),
        );
        let r = j.check(&a, &allowed, &[], &["R-054", "R-056"])?;
        if r.status != 202 {
            break;
        }
        if !valid {
            // A tolerated off-grammar range: the session state is now unknowable; stop here.
            return Ok(());
        }
        received += len;
        loc = upload_location(&j, r, &["R-054"])?;
        let want = format!("0-{}", received - 1);
        if r.header("range") != Some(want.as_str()) {
            return Err(j.fail(
                "range-header",
                format!("202 Range {:?}, expected {want:?}", r.header("range")),
                &["R-054"],
            ));
        }
    }
    if received > 0 {
        let mut j = Judge::new("chunks.status");
        let url = ctx.client.resolve(&loc);
        let a = ctx.send(&mut j, Req::new("GET", url));
        let r = j.check(&a, &[204], &[], &["R-061"])?;
        let want = format!("0-{}", received - 1);
        if r.header("range") != Some(want.as_str()) {
            return Err(j.fail(
                "range-header",
                format!("204 Range {:?}, expected {want:?}", r.header("range")),
                &["R-061"],
            ));
        }
    }
    Ok(())
}

fn close_upload(
    ctx: &mut ProbeCtx,
    seed: u64,
    size: u16,
    digest: &UploadDigest,
    single_post: bool,
) -> Verdict {
    let name = format!("{}/up", ctx.fresh);
    let data = blob_bytes(seed, size as usize);
    let correct = grammar::sha256_digest(&data);
    let d = match digest {
        UploadDigest::Correct => correct.clone(),
        UploadDigest::Sha512 => grammar::sha512_digest(&data),
        UploadDigest::Literal(s) => s.clone(),
    };
    let (class, allowed, codes): (String, Vec<u16>, &[&str]) = match (digest, classify_digest(&d)) {
        (UploadDigest::Correct, _) => ("correct".into(), vec![201], &[]),
        (UploadDigest::Sha512, _) => ("sha512".into(), vec![201, 400], &[]),
        (_, DigestClass::Sha256) if d != correct => {
            ("digest-mismatch".into(), vec![400], &["DIGEST_INVALID"])
        }
        (_, DigestClass::Sha256) => ("correct".into(), vec![201], &[]),
        // an invalid or unsupported digest on a blob push is a 400.
        (_, c) => (c.label().into(), vec![400], &[]),
    };
    let mode = if single_post { "single-post" } else { "put" };
    let mut j = Judge::new(format!("close-upload.{mode}.{class}"));
    let mut loc = None;
    if single_post {
        let mut allowed_post = allowed.clone();
        allowed_post.push(202); // no single-POST support means a 202 session instead
        let a = ctx.send(
            &mut j,
            Req::new(
                "POST",
                push::with_query(&format!("/v2/{name}/blobs/uploads/"), "digest", &d),
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.clone()),
        );
        let r = if class == "digest-mismatch" {
            j.contract(
                &a,
                Endpoint::SinglePost,
                Situation::DigestMismatch,
                ctx.version,
                None,
            )?
        } else {
            j.check(&a, &allowed_post, codes, &["R-044", "R-046", "R-037"])?
        };
        if r.status == 202 {
            loc = Some(upload_location(&j, r, &["R-046"])?);
        } else {
            return after_close(ctx, &j, &a, Endpoint::SinglePost, &name, &d, &data);
        }
    }
    let loc = match loc {
        Some(l) => l,
        None => {
            let mut jp = Judge::new("close-upload.post");
            let a = ctx.send(
                &mut jp,
                Req::new("POST", format!("/v2/{name}/blobs/uploads/"))
                    .header("Content-Length", "0"),
            );
            let r = jp.check(&a, &[202], &[], &["R-038"])?;
            upload_location(&jp, r, &["R-038"])?
        }
    };
    let url = push::with_query(&ctx.client.resolve(&loc), "digest", &d);
    let a = ctx.send(
        &mut j,
        Req::new("PUT", url)
            .header("Content-Type", "application/octet-stream")
            .body(data.clone()),
    );
    if class == "digest-mismatch" {
        j.contract(
            &a,
            Endpoint::CloseUpload,
            Situation::DigestMismatch,
            ctx.version,
            None,
        )?;
    } else {
        j.check(&a, &allowed, codes, &["R-043", "R-037", "R-058"])?;
    }
    after_close(ctx, &j, &a, Endpoint::CloseUpload, &name, &d, &data)
}

/// After a 201 blob push: the headers the response contract asks of `endpoint`'s success
/// (Location), and the blob reads back by its digest.
fn after_close(
    ctx: &mut ProbeCtx,
    j: &Judge,
    a: &Answer,
    endpoint: Endpoint,
    name: &str,
    d: &str,
    data: &[u8],
) -> Verdict {
    let Answer::Response(r) = a else {
        return Ok(());
    };
    if r.status != 201 {
        return Ok(());
    }
    let rule = crate::contract::responses::rule(endpoint, Situation::Exists, ctx.version);
    crate::contract::responses::check_headers(&rule, r.status, |n| r.header(n), None)
        .map_err(|b| j.fail(&b.kind, b.detail, &b.requirements))?;
    let mut j2 = Judge::new(format!("{}.read-back", j.what));
    let a = ctx.send(&mut j2, Req::new("GET", format!("/v2/{name}/blobs/{d}")));
    let r = j2.check(&a, &[200], &[], &["R-023", "R-043"])?;
    check_content(&j2, r, data, false, &["R-023"])
}

fn list_tags(ctx: &mut ProbeCtx, repo: &Repo, n: Option<&str>, last: Option<&Target>) -> Verdict {
    let name = ctx.name(repo);
    let last = last.map(|t| resolve_target(ctx.fixture, t));
    let mut q = Vec::new();
    if let Some(n) = n {
        q.push(format!("n={}", encode_query(n)));
    }
    if let Some(l) = &last {
        q.push(format!("last={}", encode_query(l)));
    }
    let path = format!(
        "/v2/{}/tags/list{}{}",
        encode_path(&name),
        if q.is_empty() { "" } else { "?" },
        q.join("&")
    );
    let n_val: Option<Result<u64, ()>> = n.map(|s| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().map_err(|_| ())
        } else {
            Err(())
        }
    });
    let last_ok = last.as_deref().is_none_or(valid_tag);
    let fixture = matches!(repo, Repo::Fixture);
    let (class, allowed): (&str, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc, vec![400, 404])
    } else if !fixture && (matches!(n_val, Some(Err(_))) || !last_ok) {
        ("unknown-repo-bad-query", vec![400, 404])
    } else if !fixture {
        ("unknown-repo", vec![404])
    } else if matches!(n_val, Some(Err(_))) {
        ("bad-n", vec![200, 400])
    } else if !last_ok {
        ("bad-last", vec![200, 400])
    } else if n.is_some() && last.is_some() {
        ("n-last", vec![200])
    } else if n.is_some() {
        ("n", vec![200])
    } else if last.is_some() {
        ("last", vec![200])
    } else {
        ("all", vec![200])
    };
    let allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    let mut j = Judge::new(format!("list-tags.{class}"));
    let a = ctx.send(&mut j, Req::new("GET", path));
    let r = j.check(&a, &allowed, &[], &["R-088", "R-082", "R-091", "R-092"])?;
    if class == "unknown-repo" {
        j.contract(
            &a,
            Endpoint::ListTags,
            Situation::NoRepository,
            ctx.version,
            None,
        )?;
    }
    if r.status != 200 {
        return Ok(());
    }
    let body = r
        .json()
        .ok_or_else(|| j.fail("tags-body", "200 body is not JSON", &["R-091"]))?;
    let tags: Vec<String> = match body.get("tags") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| j.fail("tags-body", "`tags` holds non-strings", &["R-091"]))?,
        other => {
            return Err(j.fail(
                "tags-body",
                format!("`tags` is {other:?}, not a list"),
                &["R-091"],
            ))
        }
    };
    if body.get("name").and_then(|v| v.as_str()) != Some(name.as_str()) {
        return Err(j.fail(
            "tags-name",
            format!("`name` is {:?}, expected {name:?}", body.get("name")),
            &["R-091"],
        ));
    }
    let link = link_next(r).map_err(|e| j.fail("link", e, &["R-093"]))?;
    if !fixture {
        return if tags.is_empty() {
            Ok(())
        } else {
            Err(j.fail(
                "unknown-repo-tags",
                format!("tags {tags:?} in a repository never pushed to"),
                &["R-082"],
            ))
        };
    }
    let all: Vec<String> = FIXTURE_TAGS.iter().map(|s| s.to_string()).collect();
    if let Some(extra) = tags.iter().find(|t| !all.contains(t)) {
        return Err(j.fail(
            "tags-extra",
            format!("tag {extra:?} was never pushed"),
            &["R-091"],
        ));
    }
    let n = match n_val {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Ok(()),
        None => None,
    };
    if n == Some(0) {
        if !tags.is_empty() || link.is_some() {
            return Err(j
                .fail("n-zero", format!("n=0 answered {tags:?}, Link {link:?}"), &["R-094"])
                .with_expect(serde_json::json!({"json": [{"pointer": "/tags", "length": 0}], "link": {"absent": true}})));
        }
        return Ok(());
    }
    if let Some(n) = n {
        if tags.len() as u64 > n {
            // The fixture has more than n tags, so a conforming page holds exactly n.
            return Err(j
                .fail(
                    "more-than-n",
                    format!("{} tags returned for n={n}", tags.len()),
                    &["R-092"],
                )
                .with_expect(serde_json::json!({"json": [{"pointer": "/tags", "length": n}]})));
        }
    }
    if let (true, Some(l)) = (last_ok, &last) {
        // Everything returned must come strictly after `last` in at least one accepted order.
        let l_low = l.to_lowercase();
        if let Some(t) = tags.iter().find(|t| {
            t.as_str() <= l.as_str()
                && (t.to_lowercase(), t.as_str()) <= (l_low.clone(), l.as_str())
        }) {
            return Err(j
                .fail(
                    "last-ignored",
                    format!("tag {t:?} returned with last={l:?}: {tags:?}"),
                    &["R-096"],
                )
                .with_expect(
                    serde_json::json!({"json": [{"pointer": "/tags", "not_contains": t}]}),
                ));
        }
    }
    let (ascii, lexical) = sorted_orders(&tags);
    if tags != ascii && tags != lexical {
        return Err(j
            .fail(
                "tags-order",
                format!("tags {tags:?} are neither in ASCII nor in lexical order"),
                &["R-090"],
            )
            .with_expect(serde_json::json!({"json": [{"pointer": "/tags", "sorted": true}]})));
    }
    if !last_ok {
        return Ok(());
    }
    // The expected page in each accepted order; the answer must match one of them, except that
    // a shorter page is fine when a Link to the rest is given.
    let (sa, sl) = sorted_orders(&all);
    let page = |order: &[String], lexi: bool| -> Vec<String> {
        let after: Vec<String> = match &last {
            Some(l) => order
                .iter()
                .filter(|t| {
                    if lexi {
                        (t.to_lowercase(), t.as_str()) > (l.to_lowercase(), l.as_str())
                    } else {
                        t.as_str() > l.as_str()
                    }
                })
                .cloned()
                .collect(),
            None => order.to_vec(),
        };
        after
            .into_iter()
            .take(n.unwrap_or(u64::MAX).min(usize::MAX as u64) as usize)
            .collect()
    };
    let (pa, pl) = (page(&sa, false), page(&sl, true));
    let ok = |p: &Vec<String>| {
        tags == *p || (link.is_some() && p.starts_with(&tags) && !tags.is_empty())
    };
    if !ok(&pa) && !ok(&pl) {
        let kind = if last.is_some() && tags.iter().any(|t| !pa.contains(t) && !pl.contains(t)) {
            "last-ignored"
        } else {
            "page"
        };
        return Err(j.fail(kind, format!("got {tags:?}, expected {pa:?} (ASCII) or {pl:?} (lexical) for n={n:?} last={last:?}"), &["R-092", "R-096"]));
    }
    Ok(())
}

fn referrers(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    target: &Target,
    artifact_type: Option<&str>,
) -> Verdict {
    let name = ctx.name(repo);
    let digest = resolve_target(ctx.fixture, target);
    let dc = classify_digest(&digest);
    let fixture = matches!(repo, Repo::Fixture);
    let (class, mut allowed): (String, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc.into(), vec![400, 404])
    } else {
        match dc {
            DigestClass::Sha256 if fixture => ("valid".into(), vec![200]),
            DigestClass::Sha256 => ("unknown-repo".into(), vec![200, 404]),
            DigestClass::Sha512 | DigestClass::Unsupported => (dc.label().into(), vec![200, 400]),
            DigestClass::Malformed => (dc.label().into(), vec![400]),
        }
    };
    allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    if !ctx.features.referrers {
        allowed.push(404);
    }
    let mut path = format!(
        "/v2/{}/referrers/{}",
        encode_path(&name),
        encode_path(&digest)
    );
    if let Some(at) = artifact_type {
        path = format!("{path}?artifactType={}", encode_query(at));
    }
    let mut j = Judge::new(format!("referrers.{class}"));
    let a = ctx.send(&mut j, Req::new("GET", path));
    let r = j.check(&a, &allowed, &[], &["R-098", "R-099", "R-100"])?;
    if r.status != 200 {
        return Ok(());
    }
    let ct = r.header("content-type").unwrap_or("");
    if ct.split(';').next().unwrap_or("").trim() != OCI_INDEX {
        return Err(j.fail("content-type", format!("Content-Type {ct:?}"), &["R-102"]));
    }
    let body = r
        .json()
        .ok_or_else(|| j.fail("index-body", "body is not JSON", &["R-101"]))?;
    let Some(list) = body.get("manifests").and_then(|m| m.as_array()) else {
        return Err(j.fail("index-body", "no `manifests` array", &["R-101"]));
    };
    let filtered = r
        .header_list("oci-filters-applied")
        .iter()
        .any(|f| f == "artifactType");
    let expect_referrer = fixture
        && digest == ctx.fixture.manifest_digest()
        && (!filtered || artifact_type == Some(REFERRER_TYPE));
    let got: Vec<&str> = list
        .iter()
        .filter_map(|d| d.get("digest").and_then(|v| v.as_str()))
        .collect();
    let want = if expect_referrer {
        vec![ctx.fixture.referrer_digest()]
    } else {
        vec![]
    };
    if got != want.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(j.fail(
            "referrers-set",
            format!("referrers {got:?}, expected {want:?} (filter applied: {filtered})"),
            &["R-103", "R-108", "R-111"],
        ));
    }
    if expect_referrer {
        let d = &list[0];
        if d.get("artifactType").and_then(|v| v.as_str()) != Some(REFERRER_TYPE) {
            return Err(j.fail(
                "referrer-artifact-type",
                format!("descriptor {d}"),
                &["R-104"],
            ));
        }
        if d.pointer("/annotations/org.example.fuzz")
            .and_then(|v| v.as_str())
            != Some("referrer")
        {
            return Err(j.fail(
                "referrer-annotations",
                format!("descriptor {d}"),
                &["R-107"],
            ));
        }
    }
    Ok(())
}

fn delete(ctx: &mut ProbeCtx, suffix: &str, blob: bool, reference: &str) -> Verdict {
    let name = format!("{}/{}", ctx.fresh, suffix);
    let f = ctx.features;
    let (what, class, mut allowed) = if blob {
        match classify_digest(reference) {
            DigestClass::Sha256 => ("delete-blob", "absent", vec![404]),
            c => ("delete-blob", c.label(), vec![400, 404]),
        }
    } else {
        match classify_reference(reference) {
            RefClass::Tag => ("delete-tag", "absent", vec![404]),
            RefClass::Digest(DigestClass::Sha256) => ("delete-manifest", "absent", vec![404]),
            rc => ("delete-manifest", rc.label(), vec![400, 404]),
        }
    };
    let disabled = match (what, class) {
        ("delete-blob", _) => !f.delete_blobs,
        ("delete-tag", _) => !f.delete_tags,
        ("delete-manifest", "absent") => !f.delete_manifests,
        // A reference that is neither a tag nor a digest may be refused as either kind of
        // delete, so either switch being off allows the "disabled" answer.
        _ => !f.delete_manifests || !f.delete_tags,
    };
    if disabled {
        allowed.extend([400, 405]);
    }
    let kind = if blob { "blobs" } else { "manifests" };
    let mut j = Judge::new(format!("{what}.{class}"));
    let a = ctx.send(
        &mut j,
        Req::new(
            "DELETE",
            format!(
                "/v2/{}/{kind}/{}",
                encode_path(&name),
                encode_path(reference)
            ),
        ),
    );
    j.check(&a, &allowed, &[], &["R-118", "R-123", "R-115"])
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(
            matches!(classify_range("bytes=0-9", 100), RangeClass::Satisfiable(v) if v == [(0, 9)])
        );
        assert!(
            matches!(classify_range("bytes=-10", 100), RangeClass::Satisfiable(v) if v == [(90, 99)])
        );
        assert!(matches!(
            classify_range("bytes=100-", 100),
            RangeClass::Unsatisfiable
        ));
        assert!(matches!(
            classify_range("bytes=-0", 100),
            RangeClass::Unsatisfiable
        ));
        assert!(matches!(
            classify_range("bytes=9-3", 100),
            RangeClass::Invalid
        ));
        assert!(matches!(
            classify_range("items=0-", 100),
            RangeClass::OtherUnit
        ));
        assert!(matches!(
            classify_range("bytes 0-", 100),
            RangeClass::Invalid
        ));
    }

    #[test]
    fn chunk_classes() {
        assert_eq!(chunk_expectation("0-9", 0, 10, None).1, vec![202]);
        assert_eq!(chunk_expectation("5-14", 0, 10, None).1, vec![416]);
        assert_eq!(chunk_expectation("10-19", 10, 10, None).1, vec![202]);
        assert_eq!(chunk_expectation("0-9", 10, 10, None).1, vec![416]);
    }
}
