//! Running one scenario: setup on one client, the racing steps on one thread per client
//! (released together by a barrier), the closing reads, then the checks.
//!
//! Every exchange is timed against the scenario's start. Each answer is judged on its own
//! (no 5xx, no answer cut short, no body that is not exactly what was asked for) and turned into
//! events for the history check of [`super::lin`].

use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use super::lin::{self, Action, Event, Object, PatchResult};
use super::scenario::{Content, Op, Ref, Scenario};
use crate::fuzz::grammar::sha256_digest;
use crate::fuzz::http::{Answer, Client, Exchange, Req, Resp};
use crate::fuzz::push::{with_query, OCI_INDEX, OCI_MANIFEST};
use crate::fuzz::Features;

/// A broken promise seen in a scenario.
#[derive(Debug, Clone)]
pub struct Found {
    /// Endpoint or object (`get-blob`, `tag`, `upload`…): with `kind`, the stable signature.
    pub what: String,
    pub kind: String,
    pub detail: String,
    pub requirements: Vec<&'static str>,
    /// Statuses the failing exchange should have had (empty: not a status problem).
    pub allowed: Vec<u16>,
    /// (client, exchange index in its transcript).
    pub origin: Option<(usize, usize)>,
}

/// What one client did: its exchanges with their times, the events and what it found.
#[derive(Default)]
pub struct Track {
    pub transcript: Vec<Exchange>,
    /// (start, end) in microseconds since the scenario start, one per exchange; end None: no
    /// answer.
    pub times: Vec<(u64, Option<u64>)>,
    pub events: Vec<Event>,
    pub found: Vec<Found>,
}

/// Everything a run of one scenario produced.
pub struct Outcome {
    /// Client 0 runs setup and the closing reads; clients 1..=n race.
    pub tracks: Vec<Track>,
    /// Setup failed: the race was not staged (reason).
    pub skipped: Option<String>,
    /// What broke: answer-level findings in the order they were seen (one per endpoint and
    /// kind), then one per object whose history cannot be explained.
    pub found: Vec<Found>,
    /// Some history was too large to decide.
    pub inconclusive: bool,
}

/// An upload session shared by the clients: the newest Location any of them got.
struct Session {
    location: String,
    /// Chunk byte ranges, fixed at open time (they depend on the registry's minimum).
    bounds: Vec<(usize, usize)>,
    repo: u8,
    blob: u8,
}

struct Actor<'a> {
    id: usize,
    client: &'a mut Client,
    content: &'a Content,
    repos: &'a [String],
    tags: &'a [String],
    sessions: &'a [Mutex<Option<Session>>],
    features: &'a Features,
    /// The manifest index each referrer names as subject (None: not a referrer).
    subjects: Vec<Option<u8>>,
    t0: Instant,
    track: Track,
}

#[derive(PartialEq)]
enum Ack {
    Yes,
    Refused,
    Unknown,
}

fn ack(a: &Answer, ok: &[u16]) -> Ack {
    match a {
        Answer::Response(r) if ok.contains(&r.status) => Ack::Yes,
        Answer::Response(r) if r.status < 500 => Ack::Refused,
        _ => Ack::Unknown,
    }
}

fn error_code(r: &Resp) -> Option<String> {
    r.json()?
        .get("errors")?
        .get(0)?
        .get("code")?
        .as_str()
        .map(str::to_string)
}

fn chunk_bounds(len: usize, chunks: u8, min: Option<usize>) -> Vec<(usize, usize)> {
    let size = len
        .div_ceil(chunks.max(1) as usize)
        .max(min.unwrap_or(1))
        .max(1);
    (0..len)
        .step_by(size)
        .map(|a| (a, (a + size).min(len)))
        .collect()
}

impl Actor<'_> {
    fn now(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn found(&mut self, what: &str, kind: &str, detail: String, reqs: &[&'static str], at: usize) {
        self.track.found.push(Found {
            what: what.into(),
            kind: kind.into(),
            detail,
            requirements: reqs.to_vec(),
            allowed: vec![],
            origin: Some((self.id, at)),
        });
    }

    /// Sends, times, and reports crashes (5xx, no answer) at once: they are findings whatever
    /// the interleaving.
    fn send(&mut self, what: &str, req: Req) -> (Answer, usize) {
        let start = self.now();
        let a = self.client.send(req);
        let end = self.now();
        let at = self.client.transcript.len() - 1;
        let end = (!a.timed_out()).then_some(end);
        self.track.times.push((start, end));
        let crash = match &a {
            Answer::Response(r) if r.status >= 500 => Some("5xx"),
            Answer::Response(_) => None,
            a if a.timed_out() => Some("timeout"),
            Answer::Failed(..) => Some("connection-broken"),
        };
        if let Some(kind) = crash {
            let said = match &a {
                Answer::Response(r) => error_text(r),
                _ => String::new(),
            };
            let detail = format!("{what} answered {} while racing{said}", a.describe());
            self.found(what, kind, detail, &["R-140"], at);
            if let Some(f) = self.track.found.last_mut() {
                f.allowed = allowed(what).to_vec();
            }
        }
        (a, at)
    }

    fn event(&mut self, object: Object, at: usize, action: Action, maybe: bool) {
        let (start, end) = self.track.times[at];
        self.track.events.push(Event {
            object,
            start,
            end,
            maybe,
            action,
            origin: (self.id, at),
        });
    }

    /// A delete that was acknowledged: certain, unless deletes may take effect later.
    fn delete_event(&mut self, object: Object, at: usize, action: Action, ack: &Ack) {
        if self.features.lazy_deletes || *ack == Ack::Unknown {
            let (start, _) = self.track.times[at];
            self.track.events.push(Event {
                object,
                start,
                end: None,
                maybe: true,
                action,
                origin: (self.id, at),
            });
        } else {
            self.event(object, at, action, false);
        }
    }

    /// Body checks for a 200 GET: the body is whole (as long as Content-Length says) and is the
    /// content asked for. Returns the digest of the body when it passed.
    fn whole(&mut self, what: &str, r: &Resp, at: usize, reqs: &[&'static str]) -> bool {
        if let Some(cl) = r
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            if cl != r.body.len() {
                let detail = format!(
                    "{what}: Content-Length {cl} but {} bytes of body",
                    r.body.len()
                );
                self.found(what, "partial-content", detail, reqs, at);
                return false;
            }
        }
        true
    }

    fn run(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::PushBlob { repo, blob, chunks } => self.push_blob(repo, blob, chunks),
            Op::GetBlob { repo, blob } => {
                self.get_blob(repo, blob, "GET");
                Ok(())
            }
            Op::HeadBlob { repo, blob } => {
                self.get_blob(repo, blob, "HEAD");
                Ok(())
            }
            Op::DeleteBlob { repo, blob } => {
                self.delete_blob(repo, blob);
                Ok(())
            }
            Op::Mount {
                repo,
                from,
                blob,
                finish,
            } => {
                self.mount(repo, from, blob, finish);
                Ok(())
            }
            Op::PushManifest {
                repo,
                manifest,
                tag,
            } => self.push_manifest(repo, manifest, tag),
            Op::GetManifest { repo, reference } => {
                self.get_manifest(repo, reference);
                Ok(())
            }
            Op::DeleteManifest { repo, manifest } => {
                self.delete_manifest(repo, manifest);
                Ok(())
            }
            Op::DeleteTag { repo, tag } => {
                self.delete_tag(repo, tag);
                Ok(())
            }
            Op::ListTags { repo } => {
                self.list_tags(repo);
                Ok(())
            }
            Op::ListReferrers { repo, subject } => {
                self.list_referrers(repo, subject);
                Ok(())
            }
            Op::OpenSession {
                session,
                repo,
                blob,
                chunks,
            } => self.open_session(session, repo, blob, chunks),
            Op::Patch { session, chunk } => {
                self.patch_session(session, chunk);
                Ok(())
            }
            Op::Close { session } => {
                self.close_session(session);
                Ok(())
            }
            Op::Cancel { session } => {
                self.cancel_session(session);
                Ok(())
            }
            Op::SessionStatus { session } => {
                self.session_status(session);
                Ok(())
            }
        }
    }

    fn delete_blob(&mut self, repo: u8, blob: u8) {
        let d = &self.content.blob_digests[blob as usize];
        let path = format!("/v2/{}/blobs/{d}", self.repos[repo as usize]);
        let (a, at) = self.send("delete-blob", Req::new("DELETE", path));
        let k = ack(&a, &[202]);
        let o = Object::Blob(repo, blob);
        match (a.status(), &k) {
            (Some(202), _) | (_, Ack::Unknown) => {
                self.delete_event(o, at, Action::BlobDelete { found: true }, &k)
            }
            (Some(404), _) if !self.features.lazy_deletes => {
                self.event(o, at, Action::BlobDelete { found: false }, false)
            }
            _ => {}
        }
    }

    fn mount(&mut self, repo: u8, from: u8, blob: u8, finish: bool) {
        let d = self.content.blob_digests[blob as usize].clone();
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={d}&from={}",
            self.repos[repo as usize], self.repos[from as usize]
        );
        let (a, at) = self.send(
            "mount",
            Req::new("POST", path).header("Content-Length", "0"),
        );
        let o = Object::Blob(repo, blob);
        match (ack(&a, &[201]), &a) {
            (Ack::Yes, _) => self.event(o, at, Action::BlobWrite, false),
            (Ack::Unknown, _) => self.event(o, at, Action::BlobWrite, true),
            (Ack::Refused, Answer::Response(r)) if r.status == 202 && finish => {
                if let Some(l) = r.header("location") {
                    let url = with_query(&self.client.resolve(l), "digest", &d);
                    let body = self.content.blobs[blob as usize].clone();
                    let _ = self.close_upload_with(repo, blob, url, body);
                }
            }
            _ => {}
        }
    }

    fn delete_manifest(&mut self, repo: u8, manifest: u8) {
        let d = &self.content.manifest_digests[manifest as usize];
        let path = format!("/v2/{}/manifests/{d}", self.repos[repo as usize]);
        let (a, at) = self.send("delete-manifest", Req::new("DELETE", path));
        let k = ack(&a, &[202]);
        let o = Object::Manifests(repo);
        match (a.status(), &k) {
            (Some(202), _) | (_, Ack::Unknown) => {
                let found = true;
                let m = manifest;
                self.delete_event(o, at, Action::DeleteManifest { m, found }, &k);
                for t in 0..self.tags.len() as u8 {
                    self.delete_event(o, at, Action::Untag { t, m }, &k);
                }
            }
            (Some(404), _) if !self.features.lazy_deletes => self.event(
                o,
                at,
                Action::DeleteManifest {
                    m: manifest,
                    found: false,
                },
                false,
            ),
            _ => {}
        }
    }

    fn delete_tag(&mut self, repo: u8, tag: u8) {
        let path = format!(
            "/v2/{}/manifests/{}",
            self.repos[repo as usize], self.tags[tag as usize]
        );
        let (a, at) = self.send("delete-tag", Req::new("DELETE", path));
        let k = ack(&a, &[202]);
        let o = Object::Manifests(repo);
        match (a.status(), &k) {
            (Some(202), _) | (_, Ack::Unknown) => self.delete_event(
                o,
                at,
                Action::DeleteTag {
                    t: tag,
                    found: true,
                },
                &k,
            ),
            (Some(404), _) if !self.features.lazy_deletes => self.event(
                o,
                at,
                Action::DeleteTag {
                    t: tag,
                    found: false,
                },
                false,
            ),
            _ => {}
        }
    }

    fn open_session(&mut self, session: u8, repo: u8, blob: u8, chunks: u8) -> Result<(), String> {
        let path = format!("/v2/{}/blobs/uploads/", self.repos[repo as usize]);
        let (a, at) = self.send(
            "post-upload",
            Req::new("POST", path).header("Content-Length", "0"),
        );
        let Answer::Response(r) = &a else {
            return Err(format!("POST upload: {}", a.describe()));
        };
        let (202, Some(l)) = (r.status, r.header("location")) else {
            return Err(format!("POST upload: {} (no session)", r.status));
        };
        let min = r
            .header("oci-chunk-min-length")
            .and_then(|v| v.trim().parse().ok());
        let len = self.content.blobs[blob as usize].len();
        let s = Session {
            location: self.client.resolve(l),
            bounds: chunk_bounds(len, chunks, min),
            repo,
            blob,
        };
        *self.sessions[session as usize]
            .lock()
            .expect("session lock") = Some(s);
        self.event(Object::Session(session), at, Action::Open, false);
        Ok(())
    }

    fn patch_session(&mut self, session: u8, chunk: u8) {
        let Some((loc, range, blob)) = self.session(session, |s| {
            s.bounds
                .get(chunk as usize)
                .map(|&b| (s.location.clone(), b, s.blob))
        }) else {
            return; // the registry's minimum chunk made fewer chunks
        };
        let body = self.content.blobs[blob as usize][range.0..range.1].to_vec();
        let (a, at) = self.send(
            "patch-upload",
            Req::new("PATCH", loc)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{}-{}", range.0, range.1 - 1))
                .body(body),
        );
        let o = Object::Session(session);
        match &a {
            Answer::Response(r) if r.status == 202 => {
                if let Some(l) = r.header("location") {
                    let l = self.client.resolve(l);
                    self.session(session, |s| {
                        s.location = l;
                        Some(())
                    });
                }
                let res = PatchResult::Accepted;
                self.event(o, at, Action::Patch { chunk, res }, false);
            }
            Answer::Response(r) if r.status == 416 => {
                let res = PatchResult::OutOfOrder;
                self.event(o, at, Action::Patch { chunk, res }, false);
            }
            Answer::Response(r) if unknown_upload(r) => {
                let res = PatchResult::Unknown;
                self.event(o, at, Action::Patch { chunk, res }, false);
            }
            Answer::Response(r) if r.status < 500 => {}
            _ => {
                let res = PatchResult::Accepted;
                self.event(o, at, Action::Patch { chunk, res }, true);
            }
        }
    }

    fn close_session(&mut self, session: u8) {
        let Some((loc, chunks, repo, blob)) = self.session(session, |s| {
            Some((s.location.clone(), s.bounds.len() as u8, s.repo, s.blob))
        }) else {
            return;
        };
        let d = self.content.blob_digests[blob as usize].clone();
        let url = with_query(&loc, "digest", &d);
        let (a, at) = self.send(
            "put-upload",
            Req::new("PUT", url).header("Content-Type", "application/octet-stream"),
        );
        let o = Object::Session(session);
        match ack(&a, &[201]) {
            Ack::Yes => {
                self.event(o, at, Action::Close { chunks, done: true }, false);
                self.event(Object::Blob(repo, blob), at, Action::BlobWrite, false);
            }
            Ack::Unknown => {
                self.event(o, at, Action::Close { chunks, done: true }, true);
                self.event(Object::Blob(repo, blob), at, Action::BlobWrite, true);
            }
            Ack::Refused => {
                let done = false;
                self.event(o, at, Action::Close { chunks, done }, false);
            }
        }
    }

    fn cancel_session(&mut self, session: u8) {
        let Some(loc) = self.session(session, |s| Some(s.location.clone())) else {
            return;
        };
        let (a, at) = self.send(
            "cancel-upload",
            Req::new("DELETE", loc).header("Content-Length", "0"),
        );
        let o = Object::Session(session);
        match &a {
            Answer::Response(r) if (200..300).contains(&r.status) => {
                self.event(o, at, Action::Cancel { found: true }, false)
            }
            Answer::Response(r) if unknown_upload(r) => {
                self.event(o, at, Action::Cancel { found: false }, false)
            }
            Answer::Response(r) if r.status < 500 => {}
            _ => self.event(o, at, Action::Cancel { found: true }, true),
        }
    }

    fn session_status(&mut self, session: u8) {
        let Some(loc) = self.session(session, |s| Some(s.location.clone())) else {
            return;
        };
        let (a, at) = self.send("get-upload", Req::new("GET", loc));
        let o = Object::Session(session);
        match &a {
            Answer::Response(r) if r.status == 204 => {
                self.event(o, at, Action::Status { open: true }, false)
            }
            Answer::Response(r) if unknown_upload(r) => {
                self.event(o, at, Action::Status { open: false }, false)
            }
            _ => {}
        }
    }

    fn session<T>(&self, i: u8, f: impl FnOnce(&mut Session) -> Option<T>) -> Option<T> {
        let mut g = self.sessions[i as usize].lock().expect("session lock");
        g.as_mut().and_then(f)
    }

    fn push_blob(&mut self, repo: u8, blob: u8, chunks: u8) -> Result<(), String> {
        let name = &self.repos[repo as usize];
        let (a, _) = self.send(
            "post-upload",
            Req::new("POST", format!("/v2/{name}/blobs/uploads/")).header("Content-Length", "0"),
        );
        let r = match &a {
            Answer::Response(r) if r.status == 202 => r,
            other => return Err(format!("POST upload: {}", other.describe())),
        };
        let Some(l) = r.header("location") else {
            return Err("POST upload: 202 without Location".into());
        };
        let min = r
            .header("oci-chunk-min-length")
            .and_then(|v| v.trim().parse().ok());
        let mut loc = self.client.resolve(l);
        let bytes = &self.content.blobs[blob as usize];
        let mut sent = 0;
        if chunks > 0 {
            for (lo, hi) in chunk_bounds(bytes.len(), chunks, min) {
                let (a, _) = self.send(
                    "patch-upload",
                    Req::new("PATCH", loc.clone())
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", format!("{lo}-{}", hi - 1))
                        .body(bytes[lo..hi].to_vec()),
                );
                match &a {
                    Answer::Response(r) if r.status == 202 => match r.header("location") {
                        Some(l) => loc = self.client.resolve(l),
                        None => return Err("PATCH: 202 without Location".into()),
                    },
                    other => return Err(format!("PATCH: {}", other.describe())),
                }
                sent = hi;
            }
        }
        let url = with_query(&loc, "digest", &self.content.blob_digests[blob as usize]);
        self.close_upload_with(repo, blob, url, bytes[sent..].to_vec())
    }

    fn close_upload_with(
        &mut self,
        repo: u8,
        blob: u8,
        url: String,
        body: Vec<u8>,
    ) -> Result<(), String> {
        let (a, at) = self.send(
            "put-upload",
            Req::new("PUT", url)
                .header("Content-Type", "application/octet-stream")
                .body(body),
        );
        let o = Object::Blob(repo, blob);
        match ack(&a, &[201]) {
            Ack::Yes => self.event(o, at, Action::BlobWrite, false),
            Ack::Unknown => self.event(o, at, Action::BlobWrite, true),
            Ack::Refused => return Err(format!("PUT upload: {}", a.describe())),
        }
        Ok(())
    }

    fn get_blob(&mut self, repo: u8, blob: u8, method: &str) {
        let d = self.content.blob_digests[blob as usize].clone();
        let path = format!("/v2/{}/blobs/{d}", self.repos[repo as usize]);
        let what = if method == "HEAD" {
            "head-blob"
        } else {
            "get-blob"
        };
        let (a, at) = self.send(what, Req::new(method, path));
        let Answer::Response(r) = &a else { return };
        let o = Object::Blob(repo, blob);
        let reqs: &[&'static str] = &["R-023", "R-025"];
        match r.status {
            200 => {
                let size = self.content.blobs[blob as usize].len();
                if method == "HEAD" {
                    let cl = r
                        .header("content-length")
                        .and_then(|v| v.trim().parse().ok());
                    if cl.is_some_and(|n: usize| n != size) {
                        let detail =
                            format!("HEAD blob: Content-Length {cl:?}, the blob has {size} bytes");
                        self.found(what, "partial-content", detail, &["R-032"], at);
                        return;
                    }
                } else {
                    if !self.whole(what, r, at, reqs) {
                        return;
                    }
                    let got = sha256_digest(&r.body);
                    if got != d {
                        let detail = format!(
                            "GET blob {d} answered 200 with {} bytes whose digest is {got} (the blob has {size} bytes): partial or foreign content",
                            r.body.len()
                        );
                        self.found(what, "partial-content", detail, reqs, at);
                        return;
                    }
                }
                if let Some(h) = r.header("docker-content-digest") {
                    if h != d {
                        let detail = format!("{method} blob {d}: Docker-Content-Digest {h}");
                        self.found(what, "digest-header", detail, &["R-025"], at);
                        return;
                    }
                }
                self.event(o, at, Action::BlobRead { present: true }, false);
            }
            404 => self.event(o, at, Action::BlobRead { present: false }, false),
            _ => {}
        }
    }

    fn push_manifest(&mut self, repo: u8, m: u8, tag: Option<u8>) -> Result<(), String> {
        let reference = match tag {
            Some(t) => self.tags[t as usize].clone(),
            None => self.content.manifest_digests[m as usize].clone(),
        };
        let path = format!("/v2/{}/manifests/{reference}", self.repos[repo as usize]);
        let (a, at) = self.send(
            "put-manifest",
            Req::new("PUT", path)
                .header("Content-Type", OCI_MANIFEST)
                .body(self.content.manifests[m as usize].clone()),
        );
        let k = ack(&a, &[201]);
        if k == Ack::Refused {
            return Err(format!("PUT manifest {reference}: {}", a.describe()));
        }
        let maybe = k == Ack::Unknown;
        let object = Object::Manifests(repo);
        self.event(object, at, Action::PutManifest { m, tag }, maybe);
        if let Some(s) = self.subjects[m as usize] {
            // Without OCI-Subject the registry did not promise to index the referrer:
            // the client keeps the fallback tag instead, and the list may omit it.
            let indexed = matches!(&a, Answer::Response(r) if r.header("oci-subject").is_some());
            let o = Object::Referrers(repo, s);
            self.event(o, at, Action::PutReferrer { r: m }, maybe || !indexed);
        }
        Ok(())
    }

    fn get_manifest(&mut self, repo: u8, reference: Ref) {
        let r_str = match reference {
            Ref::Tag(t) => self.tags[t as usize].clone(),
            Ref::Digest(m) => self.content.manifest_digests[m as usize].clone(),
        };
        let path = format!("/v2/{}/manifests/{r_str}", self.repos[repo as usize]);
        let what = "get-manifest";
        let (a, at) = self.send(
            what,
            Req::new("GET", path).header("Accept", format!("{OCI_MANIFEST}, {OCI_INDEX}")),
        );
        let Answer::Response(r) = &a else { return };
        let o = Object::Manifests(repo);
        let reqs: &[&'static str] = &["R-017", "R-075"];
        match r.status {
            200 => {
                if !self.whole(what, r, at, reqs) {
                    return;
                }
                let got = sha256_digest(&r.body);
                let Some(m) = self.content.manifest_digests.iter().position(|d| *d == got) else {
                    let detail = format!(
                        "GET manifest {r_str} answered 200 with {} bytes (digest {got}) that are none of the manifests pushed: a torn or partial manifest",
                        r.body.len()
                    );
                    self.found(what, "partial-content", detail, reqs, at);
                    return;
                };
                if let Some(h) = r.header("docker-content-digest") {
                    if h != got {
                        let detail = format!(
                            "GET manifest {r_str}: Docker-Content-Digest {h} but the body's digest is {got} (header and body of different manifests)"
                        );
                        self.found(what, "digest-header", detail, &["R-018", "R-025"], at);
                        return;
                    }
                }
                let action = match reference {
                    Ref::Tag(t) => Action::ReadTag {
                        t,
                        got: Some(m as u8),
                    },
                    Ref::Digest(want) => {
                        if m as u8 != want {
                            let detail =
                                format!("GET manifest {r_str} answered another manifest ({got})");
                            self.found(what, "partial-content", detail, reqs, at);
                            return;
                        }
                        Action::ReadManifest {
                            m: want,
                            present: true,
                        }
                    }
                };
                self.event(o, at, action, false);
            }
            404 => {
                let action = match reference {
                    Ref::Tag(t) => Action::ReadTag { t, got: None },
                    Ref::Digest(m) => Action::ReadManifest { m, present: false },
                };
                self.event(o, at, action, false);
            }
            _ => {}
        }
    }

    fn list_tags(&mut self, repo: u8) {
        let path = format!("/v2/{}/tags/list", self.repos[repo as usize]);
        let (a, at) = self.send("list-tags", Req::new("GET", path));
        let Answer::Response(r) = &a else { return };
        let listed: Vec<String> = match r.status {
            200 => {
                let Some(v) = r.json() else {
                    let detail = "tag list answered 200 with a body that is not JSON".into();
                    self.found("list-tags", "partial-content", detail, &["R-091"], at);
                    return;
                };
                v.get("tags")
                    .and_then(|t| t.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            // An empty repository may be unknown to the tag list; the history decides whether
            // it was empty.
            404 => Vec::new(),
            _ => return,
        };
        if let Some(x) = listed.iter().find(|x| !self.tags.contains(x)) {
            let detail = format!("tag list names {x:?}, which no client pushed");
            self.found("list-tags", "foreign-tag", detail, &["R-091"], at);
            return;
        }
        for (t, name) in self.tags.iter().enumerate() {
            let action = Action::TagListed {
                t: t as u8,
                listed: listed.contains(name),
            };
            self.event(Object::Manifests(repo), at, action, false);
        }
    }

    fn list_referrers(&mut self, repo: u8, subject: u8) {
        let d = &self.content.manifest_digests[subject as usize];
        let path = format!("/v2/{}/referrers/{d}", self.repos[repo as usize]);
        let what = "list-referrers";
        let (a, at) = self.send(what, Req::new("GET", path));
        let Answer::Response(r) = &a else { return };
        if r.status != 200 {
            // A 404 means no referrers API (the sequential layers judge that); nothing to check.
            return;
        }
        if !self.whole(what, r, at, &["R-101"]) {
            return;
        }
        let Some(v) = r.json() else {
            let detail = "referrers answered 200 with a body that is not JSON".into();
            self.found(what, "partial-content", detail, &["R-101"], at);
            return;
        };
        let entries = v
            .get("manifests")
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default();
        let mut listed = Vec::new();
        for e in &entries {
            let ed = e.get("digest").and_then(|x| x.as_str()).unwrap_or("");
            let pos = self
                .content
                .manifest_digests
                .iter()
                .position(|x| x == ed)
                .filter(|&i| self.subjects[i] == Some(subject));
            let Some(i) = pos else {
                let detail = format!(
                    "referrers of {d} list {ed:?}, which no client pushed as a referrer of it"
                );
                self.found("referrers", "foreign", detail, &["R-103"], at);
                return;
            };
            let size = e.get("size").and_then(|x| x.as_u64());
            if size != Some(self.content.manifests[i].len() as u64) {
                let detail = format!(
                    "referrers entry {ed} has size {size:?}, the manifest has {} bytes",
                    self.content.manifests[i].len()
                );
                self.found("referrers", "wrong-descriptor", detail, &["R-103"], at);
                return;
            }
            listed.push(i);
        }
        for (i, s) in self.subjects.clone().iter().enumerate() {
            if *s == Some(subject) {
                let action = Action::RefListed {
                    r: i as u8,
                    listed: listed.contains(&i),
                };
                self.event(Object::Referrers(repo, subject), at, action, false);
            }
        }
    }
}

/// What the registry said about its error, for the finding (` (CODE: message: detail)`, cut).
fn error_text(r: &Resp) -> String {
    let Some(e) = r.json().and_then(|v| v.get("errors")?.get(0).cloned()) else {
        return String::new();
    };
    let part = |k: &str| match e.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    };
    let t = ["code", "message", "detail"]
        .into_iter()
        .filter_map(part)
        .collect::<Vec<_>>()
        .join(": ");
    if t.is_empty() {
        t
    } else {
        format!(" ({})", t.chars().take(240).collect::<String>())
    }
}

/// Statuses the spec allows each request of the race layer, whatever the interleaving (the
/// failing step of a crash's reproducer expects one of them).
fn allowed(what: &str) -> &'static [u16] {
    match what {
        "post-upload" => &[202],
        "patch-upload" => &[202, 404, 416],
        "put-upload" => &[201, 400, 404, 416],
        "cancel-upload" | "get-upload" => &[204, 404],
        "get-blob" | "head-blob" | "get-manifest" | "list-tags" | "list-referrers" => &[200, 404],
        "delete-blob" | "delete-manifest" | "delete-tag" => &[202, 400, 404, 405],
        "mount" => &[201, 202],
        "put-manifest" => &[201],
        _ => &[200],
    }
}

/// 404 with BLOB_UPLOAD_UNKNOWN: the session is gone. Other refusals (a stale Location's
/// BLOB_UPLOAD_INVALID, say) say nothing about the session, so they constrain nothing.
fn unknown_upload(r: &Resp) -> bool {
    r.status == 404 && error_code(r).is_none_or(|c| c == "BLOB_UPLOAD_UNKNOWN")
}

fn pause(us: u32) {
    if us > 0 {
        std::thread::sleep(Duration::from_micros(us as u64));
    }
}

/// Runs `sc` with `clients[0]` for setup and closing reads and `clients[1..]` racing.
pub fn execute(
    sc: &Scenario,
    clients: &mut [Client],
    repos: &[String],
    features: &Features,
) -> Outcome {
    let content = sc.content();
    let sessions: Vec<Mutex<Option<Session>>> = (0..4).map(|_| Mutex::new(None)).collect();
    let subjects: Vec<Option<u8>> = sc.manifests.iter().map(|m| m.subject).collect();
    for c in clients.iter_mut() {
        c.transcript.clear();
    }
    let t0 = Instant::now();
    let (first, racers) = clients.split_first_mut().expect("at least one client");
    let mut coord = Actor {
        id: 0,
        client: first,
        content: &content,
        repos,
        tags: &sc.tags,
        sessions: &sessions,
        features,
        subjects: subjects.clone(),
        t0,
        track: Track::default(),
    };
    for op in &sc.setup {
        if let Err(reason) = coord.run(op) {
            let mut track = std::mem::take(&mut coord.track);
            track.transcript = std::mem::take(&mut coord.client.transcript);
            let found = track.found.clone();
            return Outcome {
                tracks: vec![track],
                skipped: Some(reason),
                found,
                inconclusive: false,
            };
        }
    }
    let n = sc.clients.len().min(racers.len());
    let barrier = Barrier::new(n);
    let mut tracks: Vec<Track> = std::thread::scope(|s| {
        let handles: Vec<_> = racers
            .iter_mut()
            .zip(&sc.clients)
            .enumerate()
            .map(|(i, (client, steps))| {
                let (content, sessions, subjects, barrier) =
                    (&content, &sessions, subjects.clone(), &barrier);
                s.spawn(move || {
                    let mut a = Actor {
                        id: i + 1,
                        client,
                        content,
                        repos,
                        tags: &sc.tags,
                        sessions,
                        features,
                        subjects,
                        t0,
                        track: Track::default(),
                    };
                    barrier.wait();
                    for st in steps {
                        pause(st.delay_us);
                        // A refused step ends nothing: the others still race.
                        let _ = a.run(&st.op);
                    }
                    let mut t = a.track;
                    t.transcript = std::mem::take(&mut a.client.transcript);
                    t
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for op in &sc.finally {
        let _ = coord.run(op);
    }
    // The registry must still be up.
    let (a, at) = coord.send("liveness", Req::new("GET", "/v2/"));
    if !matches!(a.status(), Some(200)) {
        let detail = format!("GET /v2/ answered {} after the race", a.describe());
        coord.found("liveness", "down", detail, &["R-142"], at);
    }
    let mut ctrack = std::mem::take(&mut coord.track);
    ctrack.transcript = std::mem::take(&mut coord.client.transcript);
    tracks.insert(0, ctrack);
    let (found, inconclusive) = judge(&tracks);
    Outcome {
        tracks,
        skipped: None,
        found,
        inconclusive,
    }
}

/// Every answer-level finding (one per endpoint and kind, earliest first), then every object
/// whose history cannot be explained. A crash does not stop the history check: the write that
/// crashed is an event of unknown outcome, and what the others saw must still add up.
fn judge(tracks: &[Track]) -> (Vec<Found>, bool) {
    let mut direct: Vec<&Found> = tracks.iter().flat_map(|t| &t.found).collect();
    direct.sort_by_key(|f| {
        let (c, i) = f.origin.unwrap_or((0, 0));
        tracks[c].times.get(i).map(|t| t.0).unwrap_or(0)
    });
    let mut found: Vec<Found> = Vec::new();
    for f in direct {
        if !found.iter().any(|g| g.what == f.what && g.kind == f.kind) {
            found.push(f.clone());
        }
    }
    let mut objects: Vec<Object> = tracks
        .iter()
        .flat_map(|t| t.events.iter().map(|e| e.object))
        .collect();
    objects.sort();
    objects.dedup();
    let mut inconclusive = false;
    for o in objects {
        let evs: Vec<Event> = tracks
            .iter()
            .flat_map(|t| t.events.iter().filter(|e| e.object == o).cloned())
            .collect();
        match lin::check(&evs) {
            lin::Verdict::Linearizable => {}
            lin::Verdict::Unknown => inconclusive = true,
            lin::Verdict::Violated => found.push(explain(o, &evs, lin::culprit(&evs))),
        }
    }
    (found, inconclusive)
}

fn fmt_interval(e: &Event) -> String {
    let end = e
        .end
        .map(|x| format!("{:.3}", x as f64 / 1000.0))
        .unwrap_or_else(|| "?".into());
    format!(
        "client {} +{:.3}..{end} ms",
        e.origin.0,
        e.start as f64 / 1000.0
    )
}

fn describe(a: &Action) -> String {
    match a {
        Action::PutManifest { m, tag: Some(t) } => format!("push manifest {m} as tag {t}"),
        Action::PutManifest { m, tag: None } => format!("push manifest {m} by digest"),
        Action::DeleteManifest { m, found } => {
            format!("delete manifest {m} → {}", if *found { 202 } else { 404 })
        }
        Action::DeleteTag { t, found } => {
            format!("delete tag {t} → {}", if *found { 202 } else { 404 })
        }
        Action::Untag { t, m } => format!("(that delete drops tag {t} if on manifest {m})"),
        Action::ReadTag { t, got: Some(m) } => format!("GET tag {t} → manifest {m}"),
        Action::ReadTag { t, got: None } => format!("GET tag {t} → 404"),
        Action::ReadManifest { m, present } => {
            format!("GET manifest {m} → {}", if *present { 200 } else { 404 })
        }
        Action::TagListed { t, listed } => {
            format!("tag list {} tag {t}", if *listed { "has" } else { "lacks" })
        }
        Action::BlobWrite => "blob stored (201)".into(),
        Action::BlobDelete { found } => {
            format!("delete blob → {}", if *found { 202 } else { 404 })
        }
        Action::BlobRead { present } => {
            format!("read blob → {}", if *present { 200 } else { 404 })
        }
        Action::Open => "open upload (202)".into(),
        Action::Patch { chunk, res } => format!("PATCH chunk {chunk} → {res:?}"),
        Action::Close { chunks, done } => format!(
            "close after {chunks} chunks → {}",
            if *done { "201" } else { "refused" }
        ),
        Action::Cancel { found } => {
            format!("cancel → {}", if *found { "2xx" } else { "404" })
        }
        Action::Status { open } => {
            format!("upload status → {}", if *open { "204" } else { "404" })
        }
        Action::PutReferrer { r } => format!("push referrer {r}"),
        Action::RefListed { r, listed } => {
            format!(
                "referrers list {} {r}",
                if *listed { "has" } else { "lacks" }
            )
        }
    }
}

/// A finding for an unexplained history, named after what the culprit saw.
fn explain(o: Object, evs: &[Event], c: usize) -> Found {
    let e = &evs[c];
    let cancelled = evs
        .iter()
        .any(|x| matches!(x.action, Action::Cancel { found: true }));
    let (what, kind, reqs): (&str, &str, &[&'static str]) = match e.action {
        Action::ReadTag { got: None, .. } => ("tag", "lost", &["R-017"]),
        Action::ReadTag { got: Some(_), .. } => ("tag", "wrong-manifest", &["R-017", "R-116"]),
        Action::ReadManifest { present: false, .. } => ("manifest", "lost", &["R-017"]),
        Action::ReadManifest { present: true, .. } => ("manifest", "not-deleted", &["R-120"]),
        // The tag list is one more view of the same tags: one bug, one signature.
        Action::TagListed { listed: false, .. } => ("tag", "lost", &["R-088", "R-017"]),
        Action::TagListed { listed: true, .. } => ("tag", "not-deleted", &["R-116"]),
        Action::BlobRead { present: false } => ("blob", "lost", &["R-023"]),
        Action::BlobRead { present: true } => ("blob", "not-deleted", &["R-028"]),
        Action::RefListed { listed: false, .. } => ("referrers", "missing", &["R-139"]),
        Action::RefListed { listed: true, .. } => ("referrers", "premature", &["R-103"]),
        Action::Patch {
            res: PatchResult::Accepted,
            ..
        } => ("upload", "chunk-after-cancel", &["R-063"]),
        Action::Close { done: true, .. } => ("upload", "completed-after-cancel", &["R-063"]),
        // An upload still there after its cancel was acknowledged: the cancel is a SHOULD.
        Action::Status { open: true } if cancelled => ("upload", "outlives-cancel", &["R-063"]),
        Action::Status { open: false } | Action::Cancel { .. } => {
            ("upload", "status", &["R-061", "R-063"])
        }
        _ => match o {
            Object::Manifests(_) => ("manifests", "not-linearizable", &["R-017"]),
            Object::Blob(..) => ("blob", "not-linearizable", &["R-023"]),
            Object::Session(_) => ("upload", "not-linearizable", &["R-054"]),
            Object::Referrers(..) => ("referrers", "not-linearizable", &["R-139"]),
        },
    };
    let mut ordered: Vec<&Event> = evs.iter().collect();
    ordered.sort_by_key(|e| e.start);
    let history: Vec<String> = ordered
        .iter()
        // Writes, and what was seen before the culprit was answered: what it contradicts.
        .filter(|x| !x.is_read() || x.start <= e.end.unwrap_or(u64::MAX))
        .filter(|x| !matches!(x.action, Action::Untag { .. }))
        .map(|x| {
            let unsure = if x.maybe { " (outcome unknown)" } else { "" };
            format!("{} [{}]{unsure}", describe(&x.action), fmt_interval(x))
        })
        .collect();
    let detail = format!(
        "{} [{}] is explained by no order of the operations on {o:?}: {}",
        describe(&e.action),
        fmt_interval(e),
        history.join("; ")
    );
    let allowed = match e.action {
        Action::ReadTag { got: None, .. }
        | Action::ReadManifest { present: false, .. }
        | Action::BlobRead { present: false } => vec![200],
        Action::ReadManifest { present: true, .. } | Action::BlobRead { present: true } => {
            vec![404]
        }
        _ => vec![],
    };
    Found {
        what: what.into(),
        kind: kind.into(),
        detail,
        requirements: reqs.to_vec(),
        allowed,
        origin: Some(e.origin),
    }
}
