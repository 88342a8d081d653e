//! Layer 2: stateful, model-based fuzzing. A [`Case`] is a random sequence of operations applied
//! to the registry and to [`Model`], the content the spec says the registry must then hold.
//! Where the spec allows a choice (e.g. rejecting a manifest with missing blobs, or a mount that
//! falls back to an upload session) the registry's answer picks the branch and the model follows.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::coverage::States;
use super::grammar::{encode_query, sha256_digest};
use super::http::{Answer, Client, Req, Resp};
use super::oracle::{link_next, sorted_orders, Judge, Verdict};
use super::push::{blob_bytes, image_manifest, with_query, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use super::Features;
use crate::contract::responses::{Endpoint, Situation};
use crate::spec::SpecVersion;

pub const REPOS: usize = 2;
pub const BLOBS: usize = 5;
/// Mixed case and `_` so that ASCII and case-insensitive orders differ.
pub const TAGS: &[&str] = &["latest", "v1", "V2", "a", "B", "_x", "v1.0", "z-9"];
pub const ARTIFACT_TYPES: &[&str] = &["application/vnd.fuzz.sig", "application/vnd.fuzz.sbom"];

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushMode {
    Monolithic,
    SinglePost,
    Chunked(u8),
    Streamed,
}

/// Operations index small pools (repositories, blobs, tags, what the model holds) so that
/// shrinking simplifies indices, not strings. Most of them aim at content the model says exists
/// (`existing`, `prepare`), because a sequence of requests the registry refuses tests little;
/// the invalid variants (absent targets, missing blobs, a wrong digest) are a minority.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    PushBlob {
        repo: u8,
        blob: u8,
        mode: PushMode,
        /// The closing request names a digest that is not the data's (must be refused).
        #[serde(default)]
        corrupt: bool,
    },
    AbandonUpload {
        repo: u8,
        blob: u8,
        cancel: bool,
    },
    Mount {
        from: u8,
        to: u8,
        blob: u8,
        /// Mount a blob `from` holds (else blob index `blob`, which it may not hold).
        #[serde(default)]
        existing: bool,
    },
    PushManifest {
        repo: u8,
        config: u8,
        layers: Vec<u8>,
        subject: Option<u8>,
        artifact_type: Option<u8>,
        tag: Option<u8>,
        salt: u8,
        /// Push the blobs it names first (else it may name blobs the repository lacks).
        #[serde(default)]
        prepare: bool,
    },
    /// Push again a manifest this repository deleted (with its blobs, if they went too).
    Repush {
        repo: u8,
        which: u8,
        tag: Option<u8>,
    },
    Retag {
        repo: u8,
        from: u8,
        to: u8,
    },
    DeleteTag {
        repo: u8,
        tag: u8,
        #[serde(default)]
        existing: bool,
    },
    DeleteManifest {
        repo: u8,
        which: u8,
    },
    DeleteBlob {
        repo: u8,
        blob: u8,
        #[serde(default)]
        existing: bool,
    },
    ListTags {
        repo: u8,
        n: Option<u8>,
    },
    ListReferrers {
        repo: u8,
        subject: u8,
        filter: Option<u8>,
    },
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::PushBlob { .. } => "push-blob",
            Op::AbandonUpload { .. } => "abandon-upload",
            Op::Mount { .. } => "mount",
            Op::PushManifest { .. } => "push-manifest",
            Op::Repush { .. } => "repush",
            Op::Retag { .. } => "retag",
            Op::DeleteTag { .. } => "delete-tag",
            Op::DeleteManifest { .. } => "delete-manifest",
            Op::DeleteBlob { .. } => "delete-blob",
            Op::ListTags { .. } => "list-tags",
            Op::ListReferrers { .. } => "list-referrers",
        }
    }
    fn repos(&self) -> Vec<usize> {
        match self {
            Op::Mount { from, to, .. } => vec![*from as usize % REPOS, *to as usize % REPOS],
            Op::PushBlob { repo, .. }
            | Op::AbandonUpload { repo, .. }
            | Op::PushManifest { repo, .. }
            | Op::Repush { repo, .. }
            | Op::Retag { repo, .. }
            | Op::DeleteTag { repo, .. }
            | Op::DeleteManifest { repo, .. }
            | Op::DeleteBlob { repo, .. }
            | Op::ListTags { repo, .. }
            | Op::ListReferrers { repo, .. } => vec![*repo as usize % REPOS],
        }
    }
}

/// One generated sequence. `seed` makes the blob contents; ops index into small pools so that
/// shrinking simplifies indices, not strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub seed: u64,
    pub ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0u8..REPOS as u8;
    let b = 0u8..BLOBS as u8;
    let t = 0u8..TAGS.len() as u8;
    let mode = prop_oneof![
        3 => Just(PushMode::Monolithic),
        2 => Just(PushMode::SinglePost),
        2 => (2u8..5).prop_map(PushMode::Chunked),
        1 => Just(PushMode::Streamed),
    ];
    // Mostly valid: the bool is true with this probability.
    let mostly = || prop::bool::weighted(0.85);
    let rarely = || prop::bool::weighted(0.15);
    prop_oneof![
        5 => (r.clone(), b.clone(), mode, rarely()).prop_map(|(repo, blob, mode, corrupt)| Op::PushBlob { repo, blob, mode, corrupt }),
        1 => (r.clone(), b.clone(), any::<bool>()).prop_map(|(repo, blob, cancel)| Op::AbandonUpload { repo, blob, cancel }),
        2 => (r.clone(), r.clone(), b.clone(), mostly()).prop_map(|(from, to, blob, existing)| Op::Mount { from, to, blob, existing }),
        7 => (
            r.clone(),
            b.clone(),
            prop::collection::vec(b.clone(), 0..3),
            prop::option::weighted(0.5, any::<u8>()),
            prop::option::weighted(0.5, 0u8..ARTIFACT_TYPES.len() as u8),
            prop::option::weighted(0.7, t.clone()),
            0u8..4,
            mostly(),
        )
            .prop_map(|(repo, config, layers, subject, artifact_type, tag, salt, prepare)| Op::PushManifest { repo, config, layers, subject, artifact_type, tag, salt, prepare }),
        2 => (r.clone(), any::<u8>(), prop::option::weighted(0.5, t.clone())).prop_map(|(repo, which, tag)| Op::Repush { repo, which, tag }),
        3 => (r.clone(), any::<u8>(), t.clone()).prop_map(|(repo, from, to)| Op::Retag { repo, from, to }),
        2 => (r.clone(), any::<u8>(), mostly()).prop_map(|(repo, tag, existing)| Op::DeleteTag { repo, tag, existing }),
        2 => (r.clone(), any::<u8>()).prop_map(|(repo, which)| Op::DeleteManifest { repo, which }),
        1 => (r.clone(), any::<u8>(), mostly()).prop_map(|(repo, blob, existing)| Op::DeleteBlob { repo, blob, existing }),
        2 => (r.clone(), prop::option::weighted(0.7, 0u8..6)).prop_map(|(repo, n)| Op::ListTags { repo, n }),
        2 => (r, any::<u8>(), prop::option::weighted(0.5, 0u8..ARTIFACT_TYPES.len() as u8))
            .prop_map(|(repo, subject, filter)| Op::ListReferrers { repo, subject, filter }),
    ]
}

pub fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        prop::collection::vec(op(), 1..=max_ops.max(1)),
    )
        .prop_map(|(seed, ops)| Case { seed, ops })
}

#[derive(Debug, Clone)]
pub struct ManifestRec {
    pub digest: String,
    pub bytes: Vec<u8>,
    pub subject: Option<String>,
    /// What a referrers descriptor must carry.
    pub artifact_type: String,
    pub annotation: String,
    /// Indices (into [`Model::blobs`]) of the config and layers it names.
    pub blobs: Vec<usize>,
}

#[derive(Debug, Default, Clone)]
pub struct RepoState {
    pub blobs: BTreeSet<String>,
    pub manifests: BTreeMap<String, ManifestRec>,
    pub tags: BTreeMap<String, String>,
    /// Deleted at some point (and not re-added): with lazy deletes these are not checked.
    pub deleted: BTreeSet<String>,
    /// A write was sent to it (accepted or not): it may exist even when it holds nothing.
    pub touched: bool,
}

/// What the spec says the registry holds.
pub struct Model {
    pub repos: Vec<RepoState>,
    /// Every manifest any repository accepted, in order (subjects and isolation checks use it).
    pub pushed: Vec<ManifestRec>,
    pub blobs: Vec<Vec<u8>>,
    /// What the case got to (for the run's coverage table).
    pub reached: States,
}

impl Model {
    pub fn new(seed: u64) -> Self {
        let blobs = (0..BLOBS)
            .map(|i| blob_bytes(seed.wrapping_add(i as u64), 16 + 97 * i))
            .collect();
        Model {
            repos: vec![RepoState::default(); REPOS],
            pushed: Vec::new(),
            blobs,
            reached: States::default(),
        }
    }

    /// What "not there" means in repository `r`: the repository exists (it holds content), it
    /// certainly does not (nothing was ever written to it), or it may or may not.
    fn absent(&self, r: usize) -> Situation {
        let st = &self.repos[r];
        if !st.blobs.is_empty() || !st.manifests.is_empty() {
            Situation::Absent
        } else if !st.touched {
            Situation::NoRepository
        } else {
            Situation::AbsentAnywhere
        }
    }

    /// Repository `r` now holds blob `d`.
    fn add_blob(&mut self, r: usize, d: String) {
        if self.repos[r].deleted.remove(&d) {
            self.reached.repushed += 1;
        }
        self.repos[r].blobs.insert(d);
    }

    /// Points tag `t` of repository `r` at manifest `d`.
    fn set_tag(&mut self, r: usize, t: &str, d: &str) {
        let st = &mut self.repos[r];
        st.deleted.remove(t);
        if let Some(old) = st.tags.insert(t.to_string(), d.to_string()) {
            if old != d {
                self.reached.tags_moved += 1;
            }
        }
    }

    /// Repository `r` holds every blob of `blobs` (indices into [`Model::blobs`]).
    fn complete(&self, r: usize, blobs: &[usize]) -> bool {
        blobs
            .iter()
            .all(|&b| self.repos[r].blobs.contains(&sha256_digest(&self.blobs[b])))
    }

    /// The model's blob indices repository `r` holds.
    fn held(&self, r: usize) -> Vec<usize> {
        (0..self.blobs.len())
            .filter(|&i| self.repos[r].blobs.contains(&sha256_digest(&self.blobs[i])))
            .collect()
    }

    /// A subject for a push to repository `r`: mostly a manifest that was pushed, now and then
    /// one that never was (which must be accepted too, R-034).
    fn subject(&self, r: usize, s: u8) -> (String, usize) {
        if self.pushed.is_empty() || s % 8 == 7 {
            let ghost = format!("ghost-{s}");
            return (sha256_digest(ghost.as_bytes()), ghost.len());
        }
        // Half the time a subject that already has referrers here, so subjects gather several.
        let referred: Vec<&str> = self.repos[r]
            .manifests
            .values()
            .filter_map(|m| m.subject.as_deref())
            .collect();
        if s % 2 == 0 && !referred.is_empty() {
            let d = referred[s as usize / 2 % referred.len()];
            if let Some(p) = self.pushed.iter().find(|p| p.digest == d) {
                return (p.digest.clone(), p.bytes.len());
            }
        }
        let p = &self.pushed[s as usize % self.pushed.len()];
        (p.digest.clone(), p.bytes.len())
    }

    fn states(&self) -> States {
        let mut s = self.reached;
        for st in &self.repos {
            s.most_tags = s.most_tags.max(st.tags.len());
            let mut per: BTreeMap<&str, usize> = BTreeMap::new();
            for mr in st.manifests.values() {
                if let Some(sub) = &mr.subject {
                    *per.entry(sub.as_str()).or_default() += 1;
                }
            }
            s.most_referrers = s
                .most_referrers
                .max(per.values().copied().max().unwrap_or(0));
        }
        s
    }
}

pub struct ModelCtx<'a> {
    pub client: &'a mut Client,
    pub features: &'a Features,
    /// The spec version answers are judged by.
    pub version: SpecVersion,
    /// The case's repository names (unique per execution).
    pub names: Vec<String>,
}

impl ModelCtx<'_> {
    fn send(&mut self, j: &mut Judge, req: Req) -> Answer {
        let a = self.client.send(req);
        j.exchange = Some(self.client.transcript.len() - 1);
        a
    }
}

pub fn execute(case: &Case, ctx: &mut ModelCtx) -> Verdict {
    let mut m = Model::new(case.seed);
    let verdict = run_ops(case, &mut m, ctx);
    ctx.client.coverage.observe(m.states());
    verdict
}

fn run_ops(case: &Case, m: &mut Model, ctx: &mut ModelCtx) -> Verdict {
    for (i, op) in case.ops.iter().enumerate() {
        apply(op, i, m, ctx)?;
        if !matches!(op, Op::ListTags { .. } | Op::ListReferrers { .. }) {
            for r in op.repos() {
                invariants(r, m, ctx, op.kind())?;
            }
        }
    }
    Ok(())
}

fn loc(j: &Judge, r: &Resp, reqs: &[&'static str]) -> Verdict<String> {
    r.header("location").map(str::to_string).ok_or_else(|| {
        j.fail(
            "no-location",
            format!("{} without Location", r.status),
            reqs,
        )
    })
}

fn apply(op: &Op, step: usize, m: &mut Model, ctx: &mut ModelCtx) -> Verdict {
    let f = ctx.features.clone();
    if !matches!(op, Op::ListTags { .. } | Op::ListReferrers { .. }) {
        for r in op.repos() {
            m.repos[r].touched = true;
        }
    }
    match op {
        Op::PushBlob {
            repo,
            blob,
            mode,
            corrupt,
        } => {
            let (r, b) = (*repo as usize % REPOS, *blob as usize % BLOBS);
            if push_blob(ctx, r, &m.blobs[b].clone(), *mode, *corrupt)? {
                m.add_blob(r, sha256_digest(&m.blobs[b]));
            }
        }
        Op::AbandonUpload { repo, blob, cancel } => {
            let (r, b) = (*repo as usize % REPOS, *blob as usize % BLOBS);
            let data = m.blobs[b].clone();
            let name = ctx.names[r].clone();
            let mut j = Judge::new("model.abandon-upload.post");
            let a = ctx.send(
                &mut j,
                Req::new("POST", format!("/v2/{name}/blobs/uploads/"))
                    .header("Content-Length", "0"),
            );
            let resp = j.contract(
                &a,
                Endpoint::StartUpload,
                Situation::Exists,
                ctx.version,
                None,
            )?;
            let l = loc(&j, resp, &["R-038"])?;
            let half = (data.len() / 2).max(1);
            let mut j = Judge::new("model.abandon-upload.patch");
            let url = ctx.client.resolve(&l);
            let a = ctx.send(
                &mut j,
                Req::new("PATCH", url)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("0-{}", half - 1))
                    .body(data[..half].to_vec()),
            );
            let resp = j.contract(
                &a,
                Endpoint::PatchUpload,
                Situation::Exists,
                ctx.version,
                None,
            )?;
            let l = loc(&j, resp, &["R-054"])?;
            if *cancel {
                let mut j = Judge::new("model.cancel-upload");
                let situation = if f.upload_cancel {
                    Situation::Exists
                } else {
                    Situation::Disabled
                };
                let url = ctx.client.resolve(&l);
                let a = ctx.send(
                    &mut j,
                    Req::new("DELETE", url.clone()).header("Content-Length", "0"),
                );
                let resp = j.contract(&a, Endpoint::CancelUpload, situation, ctx.version, None)?;
                if resp.status == 204 {
                    let mut j = Judge::new("model.cancelled-upload-status");
                    let a = ctx.send(&mut j, Req::new("GET", url));
                    j.contract(
                        &a,
                        Endpoint::UploadStatus,
                        Situation::Absent,
                        ctx.version,
                        None,
                    )?;
                }
            }
        }
        Op::Mount {
            from,
            to,
            blob,
            existing,
        } => {
            let fr = *from as usize % REPOS;
            let mut tr = *to as usize % REPOS;
            if fr == tr {
                tr = (fr + 1) % REPOS;
            }
            if *existing && m.held(fr).is_empty() {
                push_missing(ctx, m, fr, &[*blob as usize % BLOBS])?;
            }
            let held = m.held(fr);
            let b = if *existing && !held.is_empty() {
                held[*blob as usize % held.len()]
            } else {
                *blob as usize % BLOBS
            };
            let d = sha256_digest(&m.blobs[b]);
            let in_from = m.repos[fr].blobs.contains(&d);
            let anywhere = m.repos.iter().any(|r| r.blobs.contains(&d));
            let class = if in_from { "present" } else { "absent" };
            let situation = if in_from && f.cross_mount {
                Situation::Mountable
            } else {
                Situation::NotMountable
            };
            let mut j = Judge::new(format!("model.mount.{class}"));
            let path = format!(
                "/v2/{}/blobs/uploads/?mount={}&from={}",
                ctx.names[tr],
                encode_query(&d),
                encode_query(&ctx.names[fr])
            );
            let a = ctx.send(&mut j, Req::new("POST", path).header("Content-Length", "0"));
            let resp = j.contract(&a, Endpoint::Mount, situation, ctx.version, None)?;
            let l = loc(&j, resp, &["R-066", "R-069"])?;
            if resp.status == 201 {
                // A 201 for content that exists nowhere would be a phantom blob.
                if !anywhere {
                    return Err(j.fail(
                        "phantom-mount",
                        format!("201 for {d}, which was never pushed"),
                        &["R-066"],
                    ));
                }
                m.add_blob(tr, d);
            } else {
                // Fallback session: cancel it, ignoring the answer (R-064: clients ignore failures).
                let url = ctx.client.resolve(&l);
                ctx.client
                    .send(Req::new("DELETE", url).header("Content-Length", "0"));
            }
        }
        Op::PushManifest {
            repo,
            config,
            layers,
            subject,
            artifact_type,
            tag,
            salt,
            prepare,
        } => {
            let r = *repo as usize % REPOS;
            let blobs: Vec<usize> = std::iter::once(config)
                .chain(layers.iter())
                .map(|b| *b as usize % BLOBS)
                .collect();
            if *prepare {
                push_missing(ctx, m, r, &blobs)?;
            }
            let cfg = &m.blobs[blobs[0]];
            let layer_refs: Vec<&[u8]> =
                blobs[1..].iter().map(|&b| m.blobs[b].as_slice()).collect();
            let subj: Option<(String, usize)> = subject.map(|s| m.subject(r, s));
            let at = artifact_type.map(|a| ARTIFACT_TYPES[a as usize % ARTIFACT_TYPES.len()]);
            let annotation = format!("s{step}-{salt}");
            let bytes = image_manifest(
                cfg,
                OCI_CONFIG,
                &layer_refs,
                subj.as_ref().map(|(d, s)| (d.as_str(), *s)),
                at,
                &annotation,
            );
            let rec = ManifestRec {
                digest: sha256_digest(&bytes),
                bytes,
                subject: subj.map(|(d, _)| d),
                artifact_type: at.unwrap_or(OCI_CONFIG).to_string(),
                annotation,
                blobs,
            };
            let tag = tag.map(|t| TAGS[t as usize % TAGS.len()]);
            put_manifest(ctx, m, r, rec, tag, "push-manifest")?;
        }
        Op::Repush { repo, which, tag } => {
            let r = *repo as usize % REPOS;
            let st = &m.repos[r];
            let mut gone: Vec<&ManifestRec> = m
                .pushed
                .iter()
                .filter(|p| st.deleted.contains(&p.digest) && !st.manifests.contains_key(&p.digest))
                .collect();
            gone.dedup_by(|a, b| a.digest == b.digest);
            if gone.is_empty() {
                return Ok(());
            }
            let rec = gone[*which as usize % gone.len()].clone();
            push_missing(ctx, m, r, &rec.blobs)?;
            let tag = tag.map(|t| TAGS[t as usize % TAGS.len()]);
            put_manifest(ctx, m, r, rec, tag, "repush")?;
        }
        Op::Retag { repo, from, to } => {
            let r = *repo as usize % REPOS;
            ensure_tagged(ctx, m, r, step)?;
            let tags: Vec<String> = m.repos[r].tags.keys().cloned().collect();
            if tags.is_empty() {
                return Ok(());
            }
            let tf = tags[*from as usize % tags.len()].clone();
            let tt = TAGS[*to as usize % TAGS.len()];
            let d = m.repos[r].tags[&tf].clone();
            let bytes = m.repos[r].manifests[&d].bytes.clone();
            let mut j = Judge::new("model.retag.get");
            let a = ctx.send(
                &mut j,
                Req::new("GET", format!("/v2/{}/manifests/{tf}", ctx.names[r]))
                    .header("Accept", OCI_MANIFEST),
            );
            let resp = j.contract(
                &a,
                Endpoint::GetManifest,
                Situation::Exists,
                ctx.version,
                Some(&bytes),
            )?;
            if resp.body != bytes {
                return Err(j.fail(
                    "body",
                    "tag does not resolve to the model's bytes",
                    &["R-017", "R-075"],
                ));
            }
            let mut j = Judge::new("model.retag.put");
            let a = ctx.send(
                &mut j,
                Req::new("PUT", format!("/v2/{}/manifests/{tt}", ctx.names[r]))
                    .header("Content-Type", OCI_MANIFEST)
                    .body(bytes.clone()),
            );
            // Its blobs may have been deleted since it was accepted: then it may be refused.
            let situation = if m.complete(r, &m.repos[r].manifests[&d].blobs) {
                Situation::Exists
            } else {
                Situation::MissingBlobs
            };
            let resp = j.contract(
                &a,
                Endpoint::PutManifest,
                situation,
                ctx.version,
                Some(&bytes),
            )?;
            if resp.status == 201 {
                m.set_tag(r, tt, &d);
            }
        }
        Op::DeleteTag {
            repo,
            tag,
            existing,
        } => {
            if !f.delete_tags {
                return Ok(());
            }
            let r = *repo as usize % REPOS;
            if *existing {
                ensure_tagged(ctx, m, r, step)?;
            }
            let tags: Vec<String> = m.repos[r].tags.keys().cloned().collect();
            let t = if *existing && !tags.is_empty() {
                tags[*tag as usize % tags.len()].clone()
            } else {
                TAGS[*tag as usize % TAGS.len()].to_string()
            };
            let present = m.repos[r].tags.contains_key(&t);
            let mut j = Judge::new(format!(
                "model.delete-tag.{}",
                if present { "present" } else { "absent" }
            ));
            let a = ctx.send(
                &mut j,
                Req::new("DELETE", format!("/v2/{}/manifests/{t}", ctx.names[r])),
            );
            let situation = if present {
                Situation::Exists
            } else {
                m.absent(r)
            };
            j.contract(&a, Endpoint::DeleteTag, situation, ctx.version, None)?;
            if present {
                m.repos[r].tags.remove(&t);
                m.repos[r].deleted.insert(t);
                m.reached.deleted += 1;
            }
        }
        Op::DeleteManifest { repo, which } => {
            if !f.delete_manifests {
                return Ok(());
            }
            let r = *repo as usize % REPOS;
            if which % 8 != 7 {
                ensure_tagged(ctx, m, r, step)?;
            }
            let own: Vec<String> = m.repos[r].manifests.keys().cloned().collect();
            let d = if !own.is_empty() {
                own[*which as usize % own.len()].clone()
            } else if !m.pushed.is_empty() {
                m.pushed[*which as usize % m.pushed.len()].digest.clone()
            } else {
                return Ok(());
            };
            let present = m.repos[r].manifests.contains_key(&d);
            let mut j = Judge::new(format!(
                "model.delete-manifest.{}",
                if present { "present" } else { "absent" }
            ));
            let a = ctx.send(
                &mut j,
                Req::new("DELETE", format!("/v2/{}/manifests/{d}", ctx.names[r])),
            );
            let situation = if present {
                Situation::Exists
            } else {
                m.absent(r)
            };
            j.contract(&a, Endpoint::DeleteManifest, situation, ctx.version, None)?;
            if present {
                m.reached.deleted += 1;
                let st = &mut m.repos[r];
                st.manifests.remove(&d);
                st.deleted.insert(d.clone());
                // every tag pointing to it goes with it.
                let gone: Vec<String> = st
                    .tags
                    .iter()
                    .filter(|(_, v)| **v == d)
                    .map(|(k, _)| k.clone())
                    .collect();
                for t in gone {
                    st.tags.remove(&t);
                    st.deleted.insert(t);
                }
            }
        }
        Op::DeleteBlob {
            repo,
            blob,
            existing,
        } => {
            if !f.delete_blobs {
                return Ok(());
            }
            let r = *repo as usize % REPOS;
            if *existing && m.held(r).is_empty() {
                let b = *blob as usize % BLOBS;
                push_missing(ctx, m, r, &[b])?;
            }
            let held = m.held(r);
            let b = if *existing && !held.is_empty() {
                held[*blob as usize % held.len()]
            } else {
                *blob as usize % BLOBS
            };
            let d = sha256_digest(&m.blobs[b]);
            let present = m.repos[r].blobs.contains(&d);
            let mut j = Judge::new(format!(
                "model.delete-blob.{}",
                if present { "present" } else { "absent" }
            ));
            let a = ctx.send(
                &mut j,
                Req::new("DELETE", format!("/v2/{}/blobs/{d}", ctx.names[r])),
            );
            let situation = if present {
                Situation::Exists
            } else {
                m.absent(r)
            };
            j.contract(&a, Endpoint::DeleteBlob, situation, ctx.version, None)?;
            if present {
                m.reached.deleted += 1;
                m.repos[r].blobs.remove(&d);
                m.repos[r].deleted.insert(d);
            }
        }
        Op::ListTags { repo, n } => {
            list_tags(ctx, m, *repo as usize % REPOS, n.map(|n| n as u64 % 6))?
        }
        Op::ListReferrers {
            repo,
            subject,
            filter,
        } => {
            if !f.referrers {
                return Ok(());
            }
            list_referrers(ctx, m, *repo as usize % REPOS, *subject, *filter)?
        }
    }
    Ok(())
}

/// Makes sure repository `r` holds a tagged manifest (pushing one, blobs first, if it holds
/// none), so that an operation meant for existing content has some to aim at.
fn ensure_tagged(ctx: &mut ModelCtx, m: &mut Model, r: usize, step: usize) -> Verdict {
    if !m.repos[r].tags.is_empty() {
        return Ok(());
    }
    let blobs = vec![step % BLOBS, (step + 1) % BLOBS];
    push_missing(ctx, m, r, &blobs)?;
    let annotation = format!("s{step}-seed");
    let bytes = image_manifest(
        &m.blobs[blobs[0]],
        OCI_CONFIG,
        &[&m.blobs[blobs[1]]],
        None,
        None,
        &annotation,
    );
    let rec = ManifestRec {
        digest: sha256_digest(&bytes),
        bytes,
        subject: None,
        artifact_type: OCI_CONFIG.to_string(),
        annotation,
        blobs,
    };
    put_manifest(
        ctx,
        m,
        r,
        rec,
        Some(TAGS[step % TAGS.len()]),
        "seed-manifest",
    )
}

/// Pushes (monolithically) the blobs among `blobs` that repository `r` lacks, so that the
/// manifest naming them is complete.
fn push_missing(ctx: &mut ModelCtx, m: &mut Model, r: usize, blobs: &[usize]) -> Verdict {
    for &b in blobs {
        let d = sha256_digest(&m.blobs[b]);
        if !m.repos[r].blobs.contains(&d)
            && push_blob(ctx, r, &m.blobs[b].clone(), PushMode::Monolithic, false)?
        {
            m.add_blob(r, d);
        }
    }
    Ok(())
}

/// PUTs `rec` into repository `r` by `tag`, or by digest, and records what the registry
/// accepted. A manifest naming blobs the repository lacks may be refused; one it has all
/// blobs for must be accepted.
fn put_manifest(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    rec: ManifestRec,
    tag: Option<&str>,
    op: &str,
) -> Verdict {
    let f = ctx.features.clone();
    let digest = rec.digest.clone();
    let complete = m.complete(r, &rec.blobs);
    let reference = tag.map_or_else(|| digest.clone(), str::to_string);
    let (class, situation) = if complete {
        ("complete", Situation::Exists)
    } else {
        ("missing-blobs", Situation::MissingBlobs)
    };
    let by = if tag.is_some() { "tag" } else { "digest" };
    let mut j = Judge::new(format!("model.{op}.{by}.{class}"));
    let a = ctx.send(
        &mut j,
        Req::new("PUT", format!("/v2/{}/manifests/{reference}", ctx.names[r]))
            .header("Content-Type", OCI_MANIFEST)
            .body(rec.bytes.clone()),
    );
    let resp = j.contract(
        &a,
        Endpoint::PutManifest,
        situation,
        ctx.version,
        Some(&rec.bytes),
    )?;
    if resp.status != 201 {
        return Ok(());
    }
    loc(&j, resp, &["R-076"])?;
    if let Some(d) = resp.header("docker-content-digest") {
        if d != digest {
            return Err(j.fail(
                "digest-header",
                format!("Docker-Content-Digest {d}, manifest digest {digest}"),
                &["R-077"],
            ));
        }
    }
    if let (Some(sd), true) = (&rec.subject, f.referrers) {
        if resp.header("oci-subject") != Some(sd.as_str()) {
            return Err(j
                .fail(
                    "no-oci-subject",
                    format!(
                        "OCI-Subject {:?}, expected {sd}",
                        resp.header("oci-subject")
                    ),
                    &["R-086"],
                )
                .with_expect(serde_json::json!({"headers": {"OCI-Subject": {"equals": sd}}})));
        }
    }
    if m.repos[r].deleted.remove(&digest) {
        m.reached.repushed += 1;
    }
    m.repos[r].manifests.insert(digest.clone(), rec.clone());
    if let Some(t) = tag {
        m.set_tag(r, t, &digest);
    }
    m.pushed.push(rec);
    Ok(())
}

/// The digest a corrupt push claims for `data`: never the digest of anything pushed.
fn wrong_digest(data: &[u8]) -> String {
    let mut other = data.to_vec();
    other.extend_from_slice(b"/not-this");
    sha256_digest(&other)
}

/// Pushes a blob the way `mode` says. Ok(true): the blob is now in the repository. `corrupt`:
/// the closing request names another digest, which the registry must refuse (400) without
/// storing anything under it.
fn push_blob(
    ctx: &mut ModelCtx,
    r: usize,
    data: &[u8],
    mode: PushMode,
    corrupt: bool,
) -> Verdict<bool> {
    let name = ctx.names[r].clone();
    let digest = if corrupt {
        wrong_digest(data)
    } else {
        sha256_digest(data)
    };
    let mode_s = match mode {
        PushMode::Monolithic => "monolithic",
        PushMode::SinglePost => "single-post",
        PushMode::Chunked(_) => "chunked",
        PushMode::Streamed => "streamed",
    };
    let what = |step: &str| {
        if corrupt {
            format!("model.push-blob-mismatch.{mode_s}.{step}")
        } else {
            format!("model.push-blob.{mode_s}.{step}")
        }
    };
    let post_path = format!("/v2/{name}/blobs/uploads/");
    let mut j = Judge::new(what("post"));
    let a = if let PushMode::SinglePost = mode {
        ctx.send(
            &mut j,
            Req::new("POST", with_query(&post_path, "digest", &digest))
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec()),
        )
    } else {
        ctx.send(
            &mut j,
            Req::new("POST", post_path).header("Content-Length", "0"),
        )
    };
    let (endpoint, situation) = match (mode, corrupt) {
        (PushMode::SinglePost, false) => (Endpoint::SinglePost, Situation::Exists),
        (PushMode::SinglePost, true) => (Endpoint::SinglePost, Situation::DigestMismatch),
        _ => (Endpoint::StartUpload, Situation::Exists),
    };
    let resp = j.contract(&a, endpoint, situation, ctx.version, Some(data))?;
    if resp.status == 400 {
        return corrupt_left_nothing(ctx, &name, &digest);
    }
    let mut l = loc(&j, resp, &["R-038", "R-047"])?;
    if resp.status == 201 {
        return Ok(true);
    }
    let min_chunk: Option<usize> = resp
        .header("oci-chunk-min-length")
        .and_then(|v| v.trim().parse().ok());
    let mut sent = 0usize;
    match mode {
        PushMode::Chunked(k) => {
            let k = (k as usize).clamp(1, data.len().max(1));
            let mut size = data.len().div_ceil(k).max(1);
            if let Some(mc) = min_chunk {
                size = size.max(mc);
            }
            // The last chunk goes with the closing PUT (R-057 allows both ways).
            while data.len() - sent > size {
                let end = sent + size;
                let mut j = Judge::new(what("patch"));
                let url = ctx.client.resolve(&l);
                let a = ctx.send(
                    &mut j,
                    Req::new("PATCH", url)
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", format!("{sent}-{}", end - 1))
                        .body(data[sent..end].to_vec()),
                );
                let resp = j.contract(
                    &a,
                    Endpoint::PatchUpload,
                    Situation::Exists,
                    ctx.version,
                    None,
                )?;
                l = loc(&j, resp, &["R-054"])?;
                let want = format!("0-{}", end - 1);
                if resp.header("range") != Some(want.as_str()) {
                    return Err(j.fail(
                        "range-header",
                        format!("Range {:?}, expected {want:?}", resp.header("range")),
                        &["R-054"],
                    ));
                }
                sent = end;
                let mut j = Judge::new(what("status"));
                let url = ctx.client.resolve(&l);
                let a = ctx.send(&mut j, Req::new("GET", url));
                let resp = j.contract(
                    &a,
                    Endpoint::UploadStatus,
                    Situation::Exists,
                    ctx.version,
                    None,
                )?;
                if resp.header("range") != Some(want.as_str()) {
                    return Err(j.fail(
                        "range-header",
                        format!("status Range {:?}, expected {want:?}", resp.header("range")),
                        &["R-061"],
                    ));
                }
                l = loc(&j, resp, &["R-061"])?;
            }
        }
        PushMode::Streamed => {
            // Not in the spec (distribution-spec#303): a refusal is allowed, a crash is not.
            let mut j = Judge::new(what("patch"));
            let url = ctx.client.resolve(&l);
            let a = ctx.send(
                &mut j,
                Req::new("PATCH", url)
                    .header("Content-Type", "application/octet-stream")
                    .body(data.to_vec()),
            );
            let resp = j.check(&a, &[202, 400, 416], &[], &["R-140"])?;
            if resp.status != 202 {
                return Ok(false);
            }
            l = loc(&j, resp, &["R-054"])?;
            sent = data.len();
        }
        _ => {}
    }
    let mut j = Judge::new(what("put"));
    let url = with_query(&ctx.client.resolve(&l), "digest", &digest);
    let mut req = Req::new("PUT", url).header("Content-Type", "application/octet-stream");
    if sent < data.len() {
        if sent > 0 {
            req = req.header("Content-Range", format!("{sent}-{}", data.len() - 1));
        }
        req = req.body(data[sent..].to_vec());
    }
    let a = ctx.send(&mut j, req);
    if corrupt {
        j.contract(
            &a,
            Endpoint::CloseUpload,
            Situation::DigestMismatch,
            ctx.version,
            None,
        )?;
        return corrupt_left_nothing(ctx, &name, &digest);
    }
    let resp = j.contract(
        &a,
        Endpoint::CloseUpload,
        Situation::Exists,
        ctx.version,
        None,
    )?;
    loc(&j, resp, &["R-043", "R-059"])?;
    Ok(true)
}

/// After a refused corrupt push, nothing answers under the digest it claimed.
fn corrupt_left_nothing(ctx: &mut ModelCtx, name: &str, claimed: &str) -> Verdict<bool> {
    let mut j = Judge::new("model.push-blob-mismatch.after");
    let a = ctx.send(
        &mut j,
        Req::new("HEAD", format!("/v2/{name}/blobs/{claimed}")),
    );
    j.check(&a, &[404], &[], &["R-059", "R-028"])?;
    Ok(false)
}

fn list_tags(ctx: &mut ModelCtx, m: &Model, r: usize, n: Option<u64>) -> Verdict {
    let name = ctx.names[r].clone();
    let want: Vec<String> = m.repos[r].tags.keys().cloned().collect();
    let class = if n.is_some() { "paginated" } else { "all" };
    let mut target = match n {
        Some(n) => format!("/v2/{name}/tags/list?n={n}"),
        None => format!("/v2/{name}/tags/list"),
    };
    let mut got = Vec::new();
    for page in 0..30 {
        let mut j = Judge::new(format!("model.list-tags.{class}"));
        let a = ctx.send(&mut j, Req::new("GET", target.clone()));
        // A repository without tags may be unknown to the registry (R-088 only covers existing
        // ones); one nothing was ever written to must be.
        let situation = if want.is_empty() && page == 0 {
            m.absent(r)
        } else {
            Situation::Exists
        };
        let resp = j.contract(&a, Endpoint::ListTags, situation, ctx.version, None)?;
        if resp.status == 404 {
            return Ok(());
        }
        let body = resp
            .json()
            .ok_or_else(|| j.fail("tags-body", "body is not JSON", &["R-091"]))?;
        let tags: Vec<String> = match body.get("tags") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            other => {
                return Err(j.fail(
                    "tags-body",
                    format!("`tags` is {other:?}, not a list"),
                    &["R-091"],
                ))
            }
        };
        if let Some(n) = n {
            if tags.len() as u64 > n {
                let v = j.fail(
                    "more-than-n",
                    format!("{} tags on a page for n={n}", tags.len()),
                    &["R-092"],
                );
                // Only n=0 has a page size every conforming registry must match.
                return Err(if n == 0 {
                    v.with_expect(serde_json::json!({"json": [{"pointer": "/tags", "length": 0}]}))
                } else {
                    v
                });
            }
            if n == 0 && resp.header("link").is_some() {
                return Err(j
                    .fail("n-zero-link", "Link header for n=0", &["R-094"])
                    .with_expect(serde_json::json!({"link": {"absent": true}})));
            }
        }
        let full = n.is_some_and(|n| n > 0 && tags.len() as u64 == n);
        let last = tags.last().cloned();
        got.extend(tags);
        match link_next(resp).map_err(|e| j.fail("link", e, &["R-093"]))? {
            Some(next) if n != Some(0) => target = ctx.client.resolve(&next),
            // A full page without `Link` may still have more after it: the spec lets a
            // registry leave it to the client to go on with `last`.
            None if full => {
                target = format!(
                    "/v2/{name}/tags/list?n={}&last={}",
                    n.unwrap_or(0),
                    encode_query(last.as_deref().unwrap_or(""))
                )
            }
            _ => break,
        }
    }
    if n == Some(0) {
        return if got.is_empty() {
            Ok(())
        } else {
            Err(Judge::new("model.list-tags.paginated").fail(
                "n-zero",
                format!("n=0 answered {got:?}"),
                &["R-094"],
            ))
        };
    }
    let (ascii, lexical) = sorted_orders(&want);
    if got != ascii && got != lexical {
        let mut j = Judge::new(format!("model.list-tags.{class}"));
        j.exchange = Some(ctx.client.transcript.len() - 1);
        let mut sorted_got = got.clone();
        sorted_got.sort();
        let kind = if sorted_got == ascii {
            "tags-order"
        } else {
            "tags-content"
        };
        return Err(j.fail(
            kind,
            format!("tag list (all pages) {got:?}, model says {ascii:?} (or {lexical:?})"),
            &["R-090", "R-092"],
        ));
    }
    Ok(())
}

fn list_referrers(
    ctx: &mut ModelCtx,
    m: &Model,
    r: usize,
    subject: u8,
    filter: Option<u8>,
) -> Verdict {
    // Mostly a subject that has referrers here, else any subject the model knows.
    let with_referrers: Vec<&str> = m.repos[r]
        .manifests
        .values()
        .filter_map(|mr| mr.subject.as_deref())
        .collect();
    let d = if subject % 2 == 0 && subject % 8 != 6 && !with_referrers.is_empty() {
        with_referrers[(subject / 2) as usize % with_referrers.len()].to_string()
    } else {
        m.subject(r, subject).0
    };
    let at = filter.map(|f| ARTIFACT_TYPES[f as usize % ARTIFACT_TYPES.len()]);
    let mut target = format!("/v2/{}/referrers/{d}", ctx.names[r]);
    if let Some(at) = at {
        target = format!("{target}?artifactType={}", encode_query(at));
    }
    let class = if at.is_some() { "filtered" } else { "all" };
    let mut got: Vec<serde_json::Value> = Vec::new();
    let mut filtered = false;
    for _ in 0..20 {
        let mut j = Judge::new(format!("model.list-referrers.{class}"));
        let a = ctx.send(&mut j, Req::new("GET", target.clone()));
        let resp = j.check(&a, &[200], &[], &["R-098", "R-099"])?;
        let ct = resp.header("content-type").unwrap_or("");
        if ct.split(';').next().unwrap_or("").trim() != OCI_INDEX {
            return Err(j.fail("content-type", format!("Content-Type {ct:?}"), &["R-102"]));
        }
        filtered |= resp
            .header_list("oci-filters-applied")
            .iter()
            .any(|f| f == "artifactType");
        let body = resp
            .json()
            .ok_or_else(|| j.fail("index-body", "body is not JSON", &["R-101"]))?;
        let list = body
            .get("manifests")
            .and_then(|v| v.as_array())
            .ok_or_else(|| j.fail("index-body", "no `manifests` array", &["R-101"]))?;
        got.extend(list.iter().cloned());
        match link_next(resp).map_err(|e| j.fail("link", e, &["R-109"]))? {
            Some(next) => target = ctx.client.resolve(&next),
            None => break,
        }
    }
    let st = &m.repos[r];
    let want: BTreeMap<&str, &ManifestRec> = st
        .manifests
        .values()
        .filter(|mr| mr.subject.as_deref() == Some(d.as_str()))
        .filter(|mr| !filtered || Some(mr.artifact_type.as_str()) == at)
        .map(|mr| (mr.digest.as_str(), mr))
        .collect();
    let mut j = Judge::new(format!("model.list-referrers.{class}"));
    j.exchange = Some(ctx.client.transcript.len() - 1);
    let lazy = ctx.features.lazy_deletes;
    let got_digests: BTreeSet<&str> = got
        .iter()
        .filter_map(|g| g.get("digest").and_then(|v| v.as_str()))
        .collect();
    let missing: Vec<&&str> = want.keys().filter(|k| !got_digests.contains(**k)).collect();
    let extra: Vec<&&str> = got_digests
        .iter()
        .filter(|k| !(want.contains_key(**k) || lazy && st.deleted.contains(**k)))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(j.fail(
            "referrers-set",
            format!(
                "missing {missing:?}, unexpected {extra:?} (filter {at:?}, applied: {filtered})"
            ),
            &["R-103", "R-108", "R-111", "R-139"],
        ));
    }
    for g in &got {
        let Some(mr) = g
            .get("digest")
            .and_then(|v| v.as_str())
            .and_then(|k| want.get(k))
        else {
            continue;
        };
        if g.get("artifactType").and_then(|v| v.as_str()) != Some(mr.artifact_type.as_str()) {
            return Err(j.fail(
                "referrer-artifact-type",
                format!("descriptor {g}, expected artifactType {}", mr.artifact_type),
                &["R-104", "R-105"],
            ));
        }
        if g.pointer("/annotations/org.example.fuzz")
            .and_then(|v| v.as_str())
            != Some(mr.annotation.as_str())
        {
            return Err(j.fail(
                "referrer-annotations",
                format!("descriptor {g}"),
                &["R-107"],
            ));
        }
    }
    Ok(())
}

/// The registry holds exactly what the model says for repository `r`: every tag resolves to the
/// model's bytes, every blob and manifest it holds is there, and everything else (deleted, never
/// pushed, or pushed only to the other repository) answers 404.
fn invariants(r: usize, m: &Model, ctx: &mut ModelCtx, after: &str) -> Verdict {
    let name = ctx.names[r].clone();
    let st = &m.repos[r];
    let lazy = ctx.features.lazy_deletes;
    let what = |k: &str| format!("model.invariant.{k}.after-{after}");
    for t in TAGS {
        let mut j = Judge::new(what("tag"));
        let a = ctx.send(
            &mut j,
            Req::new("GET", format!("/v2/{name}/manifests/{t}")).header("Accept", OCI_MANIFEST),
        );
        match st.tags.get(*t) {
            Some(d) => {
                let want = &st.manifests[d];
                let resp = j.check(&a, &[200], &[], &["R-017"])?;
                if resp.body != want.bytes {
                    return Err(j.fail(
                        "tag-content",
                        format!("tag {t} does not resolve to the model's manifest {d}"),
                        &["R-017", "R-075"],
                    ));
                }
                j.contract(
                    &a,
                    Endpoint::GetManifest,
                    Situation::Exists,
                    ctx.version,
                    Some(&want.bytes),
                )?;
            }
            None if lazy && st.deleted.contains(*t) => {}
            None => {
                let k = if st.deleted.contains(*t) {
                    "deleted-tag"
                } else {
                    "absent-tag"
                };
                j.what = what(k);
                let deleted: &[&'static str] = if st.deleted.contains(*t) {
                    &["R-116", "R-120"]
                } else {
                    &[]
                };
                gone(
                    &j,
                    &a,
                    Endpoint::GetManifest,
                    m.absent(r),
                    ctx.version,
                    deleted,
                )?;
            }
        }
    }
    let mut digests: BTreeSet<&str> = m.pushed.iter().map(|p| p.digest.as_str()).collect();
    digests.extend(
        st.deleted
            .iter()
            .filter(|d| d.starts_with("sha256:"))
            .map(String::as_str),
    );
    for d in digests {
        if st.blobs.contains(d) {
            continue; // a manifest digest can only collide with a blob digest if bytes are equal
        }
        let present = st.manifests.contains_key(d);
        if !present && lazy && st.deleted.contains(d) {
            continue;
        }
        let k = if present {
            "manifest"
        } else if st.deleted.contains(d) {
            "deleted-manifest"
        } else {
            "foreign-manifest"
        };
        let mut j = Judge::new(what(k));
        let a = ctx.send(
            &mut j,
            Req::new("HEAD", format!("/v2/{name}/manifests/{d}")).header("Accept", OCI_MANIFEST),
        );
        if present {
            let bytes = &st.manifests[d].bytes;
            j.contract(
                &a,
                Endpoint::HeadManifest,
                Situation::Exists,
                ctx.version,
                Some(bytes),
            )?;
        } else {
            let deleted: &[&'static str] = if st.deleted.contains(d) {
                &["R-120"]
            } else {
                &[]
            };
            gone(
                &j,
                &a,
                Endpoint::HeadManifest,
                m.absent(r),
                ctx.version,
                deleted,
            )?;
        }
    }
    for b in &m.blobs {
        let d = sha256_digest(b);
        let present = st.blobs.contains(&d);
        if !present && lazy && st.deleted.contains(&d) {
            continue;
        }
        let k = if present {
            "blob"
        } else if st.deleted.contains(&d) {
            "deleted-blob"
        } else {
            "foreign-blob"
        };
        let mut j = Judge::new(what(k));
        let a = ctx.send(&mut j, Req::new("HEAD", format!("/v2/{name}/blobs/{d}")));
        if present {
            j.contract(
                &a,
                Endpoint::HeadBlob,
                Situation::Exists,
                ctx.version,
                Some(b),
            )?;
        } else {
            gone(&j, &a, Endpoint::HeadBlob, m.absent(r), ctx.version, &[])?;
        }
    }
    Ok(())
}

/// Judges the answer for something absent (`situation` says whether its repository exists);
/// a breach also cites `extra`, the rules that made it absent (e.g. a delete's R-120).
fn gone(
    j: &Judge,
    a: &Answer,
    endpoint: Endpoint,
    situation: Situation,
    version: SpecVersion,
    extra: &[&'static str],
) -> Verdict {
    j.contract(a, endpoint, situation, version, None)
        .map(|_| ())
        .map_err(|mut v| {
            for r in extra {
                if !v.requirements.contains(r) {
                    v.requirements.push(r);
                }
            }
            v
        })
}
