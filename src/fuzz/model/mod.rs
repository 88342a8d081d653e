//! Layer 2: stateful, model-based fuzzing. A [`Case`] is a random sequence of operations applied
//! to the registry and to [`Model`], the content the spec says the registry must then hold.
//! Where the spec allows a choice (e.g. rejecting a manifest with missing blobs, or a mount that
//! falls back to an upload session) the registry's answer picks the branch and the model follows.
//!
//! What the spec says the registry holds, and how each accepted write changes it, is [`Model`]
//! (in `state`, no HTTP); the requests of each operation and the judging of their answers are in
//! `blobs`, `manifests`, `tags` and `referrers`; the checks after each step in `invariants`.

mod blobs;
mod invariants;
mod manifests;
mod referrers;
mod state;
mod tags;

pub use state::{ManifestRec, Model, RepoState};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fuzz::http::{Answer, Client, Req, Resp};
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::Features;
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
                invariants::invariants(r, m, ctx, op.kind())?;
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

/// One operation: the requests it sends (in [`blobs`], [`manifests`], [`tags`], [`referrers`])
/// judge the registry's answers and then move the model by what the registry accepted (the
/// transitions are [`Model`]'s own methods).
fn apply(op: &Op, step: usize, m: &mut Model, ctx: &mut ModelCtx) -> Verdict {
    let f = ctx.features.clone();
    if !matches!(op, Op::ListTags { .. } | Op::ListReferrers { .. }) {
        for r in op.repos() {
            m.repos[r].touched = true;
        }
    }
    let repo = |r: &u8| *r as usize % REPOS;
    let blob = |b: &u8| *b as usize % BLOBS;
    let tag = |t: &u8| TAGS[*t as usize % TAGS.len()];
    match op {
        Op::PushBlob {
            repo: r,
            blob: b,
            mode,
            corrupt,
        } => blobs::push(ctx, m, repo(r), blob(b), *mode, *corrupt),
        Op::AbandonUpload {
            repo: r,
            blob: b,
            cancel,
        } => blobs::abandon_upload(ctx, m, repo(r), blob(b), *cancel),
        Op::Mount {
            from,
            to,
            blob: b,
            existing,
        } => blobs::mount(ctx, m, repo(from), repo(to), *b, *existing),
        Op::PushManifest {
            repo: r,
            config,
            layers,
            subject,
            artifact_type,
            tag: t,
            salt,
            prepare,
        } => {
            let r = repo(r);
            let blobs: Vec<usize> = std::iter::once(config)
                .chain(layers.iter())
                .map(blob)
                .collect();
            if *prepare {
                blobs::push_missing(ctx, m, r, &blobs)?;
            }
            let at = artifact_type.map(|a| ARTIFACT_TYPES[a as usize % ARTIFACT_TYPES.len()]);
            let rec = m.manifest(r, blobs, *subject, at, format!("s{step}-{salt}"));
            manifests::put_manifest(ctx, m, r, rec, t.as_ref().map(tag), "push-manifest")
        }
        Op::Repush {
            repo: r,
            which,
            tag: t,
        } => {
            let r = repo(r);
            let Some(rec) = m.deleted_manifest(r, *which) else {
                return Ok(());
            };
            blobs::push_missing(ctx, m, r, &rec.blobs)?;
            manifests::put_manifest(ctx, m, r, rec, t.as_ref().map(tag), "repush")
        }
        Op::Retag { repo: r, from, to } => manifests::retag(ctx, m, repo(r), *from, tag(to), step),
        Op::DeleteTag {
            repo: r,
            tag: t,
            existing,
        } if f.delete_tags => manifests::delete_tag(ctx, m, repo(r), *t, *existing, step),
        Op::DeleteManifest { repo: r, which } if f.delete_manifests => {
            manifests::delete(ctx, m, repo(r), *which, step)
        }
        Op::DeleteBlob {
            repo: r,
            blob: b,
            existing,
        } if f.delete_blobs => blobs::delete(ctx, m, repo(r), *b, *existing),
        Op::ListTags { repo: r, n } => tags::list_tags(ctx, m, repo(r), n.map(|n| n as u64 % 6)),
        Op::ListReferrers {
            repo: r,
            subject,
            filter,
        } if f.referrers => referrers::list_referrers(ctx, m, repo(r), *subject, *filter),
        // An optional operation the registry does not offer.
        Op::DeleteTag { .. }
        | Op::DeleteManifest { .. }
        | Op::DeleteBlob { .. }
        | Op::ListReferrers { .. } => Ok(()),
    }
}
