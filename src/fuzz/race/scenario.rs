//! Race scenarios: what each client sends, generated from a seed so a run (and a replay of one
//! scenario) sends the same plan again. Only the interleaving is left to chance.

use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::fuzz::grammar::sha256_digest;
use crate::fuzz::push::{blob_bytes, config_bytes, image_manifest, OCI_CONFIG};
use crate::fuzz::Features;

/// The races the layer stages. Each one aims several clients at the same repository content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The same blob pushed at once, monolithic and chunked, while others read it.
    SameBlob,
    /// Tags of one repository moved by several clients while others read them.
    TagMove,
    /// A blob deleted while it is mounted into and pushed to the same repository.
    DeleteMountPush,
    /// One upload session patched by one client and cancelled by another.
    CancelPatch,
    /// Referrers listed while the subject and its referrers are pushed.
    Referrers,
    /// A manifest deleted by digest while a tag is pushed (to it or to another manifest).
    DeleteTagPush,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::SameBlob,
        Kind::TagMove,
        Kind::DeleteMountPush,
        Kind::CancelPatch,
        Kind::Referrers,
        Kind::DeleteTagPush,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::SameBlob => "same-blob",
            Kind::TagMove => "tag-move",
            Kind::DeleteMountPush => "delete-mount-push",
            Kind::CancelPatch => "cancel-patch",
            Kind::Referrers => "referrers",
            Kind::DeleteTagPush => "delete-tag-push",
        }
    }

    /// Whether the race can be staged without the optional features the registry lacks.
    pub fn enabled(self, f: &Features) -> bool {
        match self {
            Kind::SameBlob | Kind::TagMove => true,
            Kind::DeleteMountPush => f.delete_blobs || f.cross_mount,
            Kind::CancelPatch => f.upload_cancel,
            Kind::Referrers => f.referrers,
            Kind::DeleteTagPush => f.delete_manifests || f.delete_tags,
        }
    }
}

/// How a manifest reference is written in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ref {
    Tag(u8),
    Digest(u8),
}

/// One operation of a client. Indices point into the scenario's repositories (0 and 1), blobs,
/// manifests, tags and upload sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// POST then PUT `?digest=` (chunks 0), or POST, `chunks` PATCHes and a closing PUT.
    PushBlob {
        repo: u8,
        blob: u8,
        chunks: u8,
    },
    GetBlob {
        repo: u8,
        blob: u8,
    },
    HeadBlob {
        repo: u8,
        blob: u8,
    },
    DeleteBlob {
        repo: u8,
        blob: u8,
    },
    /// POST `?mount=&from=`; on a 202 (mount declined, which the spec allows) the data is
    /// uploaded through the session when `finish` is set.
    Mount {
        repo: u8,
        from: u8,
        blob: u8,
        finish: bool,
    },
    /// PUT by tag, or by digest when `tag` is None.
    PushManifest {
        repo: u8,
        manifest: u8,
        tag: Option<u8>,
    },
    GetManifest {
        repo: u8,
        reference: Ref,
    },
    DeleteManifest {
        repo: u8,
        manifest: u8,
    },
    DeleteTag {
        repo: u8,
        tag: u8,
    },
    ListTags {
        repo: u8,
    },
    ListReferrers {
        repo: u8,
        subject: u8,
    },
    /// Opens upload session `session` for `blob`, to be sent in `chunks` PATCHes.
    OpenSession {
        session: u8,
        repo: u8,
        blob: u8,
        chunks: u8,
    },
    /// The next chunk, through the newest Location this client got for the session.
    Patch {
        session: u8,
        chunk: u8,
    },
    /// Closing PUT `?digest=` with an empty body.
    Close {
        session: u8,
    },
    /// DELETE of the session's newest known Location.
    Cancel {
        session: u8,
    },
    /// GET of the session's newest known Location.
    SessionStatus {
        session: u8,
    },
}

/// A client's step: wait `delay_us`, then run `op`. Delays spread the interleavings a run
/// explores; they are part of the plan, so a replay waits the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_us: u32,
    #[serde(flatten)]
    pub op: Op,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSpec {
    pub seed: u64,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSpec {
    /// Blob index of the single layer (blob 0 is always the image config).
    pub layer: u8,
    /// Manifest index of the subject (a lower index), for referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub annotation: String,
}

/// A staged race: setup run by one client, then every client's steps at once, then reads that
/// look at what is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub kind: Kind,
    /// Blob 0 is the image config (its seed labels it); the others are layer bytes.
    pub blobs: Vec<BlobSpec>,
    pub manifests: Vec<ManifestSpec>,
    pub tags: Vec<String>,
    pub setup: Vec<Op>,
    pub clients: Vec<Vec<Step>>,
    pub finally: Vec<Op>,
}

/// The bytes a scenario pushes, computed once.
pub struct Content {
    pub blobs: Vec<Vec<u8>>,
    pub blob_digests: Vec<String>,
    pub manifests: Vec<Vec<u8>>,
    pub manifest_digests: Vec<String>,
}

pub const ARTIFACT_TYPE: &str = "application/vnd.example.race.v1+json";

impl Scenario {
    pub fn content(&self) -> Content {
        let blobs: Vec<Vec<u8>> = self
            .blobs
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if i == 0 {
                    config_bytes(b.seed)
                } else {
                    blob_bytes(b.seed, b.size)
                }
            })
            .collect();
        let blob_digests = blobs.iter().map(|b| sha256_digest(b)).collect();
        let mut manifests: Vec<Vec<u8>> = Vec::new();
        let mut manifest_digests: Vec<String> = Vec::new();
        for m in &self.manifests {
            let subject = m.subject.map(|s| {
                let s = s as usize;
                (manifest_digests[s].clone(), manifests[s].len())
            });
            let bytes = image_manifest(
                &blobs[0],
                OCI_CONFIG,
                &[&blobs[m.layer as usize]],
                subject.as_ref().map(|(d, n)| (d.as_str(), *n)),
                m.artifact_type.as_deref(),
                &m.annotation,
            );
            manifest_digests.push(sha256_digest(&bytes));
            manifests.push(bytes);
        }
        Content {
            blobs,
            blob_digests,
            manifests,
            manifest_digests,
        }
    }

    /// Every operation in the order of the plan (setup, clients, finally).
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.setup
            .iter()
            .chain(self.clients.iter().flatten().map(|s| &s.op))
            .chain(self.finally.iter())
    }
}

fn delay(rng: &mut ChaCha8Rng) -> u32 {
    // Half the steps start at once; the rest spread over about two milliseconds, the time a
    // local registry needs for a few requests.
    if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(1..2_000)
    }
}

fn blob_size(rng: &mut ChaCha8Rng) -> usize {
    match rng.gen_range(0..10) {
        0..=2 => rng.gen_range(1..512),
        3..=7 => rng.gen_range(512..32 << 10),
        _ => rng.gen_range(32 << 10..256 << 10),
    }
}

fn step(rng: &mut ChaCha8Rng, op: Op) -> Step {
    Step {
        delay_us: delay(rng),
        op,
    }
}

/// The scenario number `index` of a run with `seed`: its kind is drawn in turn from the
/// enabled ones, its content and plan from its own random stream.
pub fn generate(seed: u64, index: u64, kinds: &[Kind], clients: usize, f: &Features) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let kind = kinds[(index % kinds.len() as u64) as usize];
    let mut s = Scenario::with_config_and_layer(kind, clients.max(2), &mut rng);
    match kind {
        Kind::SameBlob => same_blob(&mut s, &mut rng),
        Kind::TagMove => tag_move(&mut s, &mut rng),
        Kind::DeleteMountPush => delete_mount_push(&mut s, &mut rng, f),
        Kind::CancelPatch => cancel_patch(&mut s, &mut rng),
        Kind::Referrers => referrers(&mut s, &mut rng),
        Kind::DeleteTagPush => delete_tag_push(&mut s, &mut rng, f),
    }
    s
}

impl Scenario {
    /// A scenario of `clients` empty plans over two blobs: the image config (blob 0) and one
    /// layer (blob 1). The draws happen in this order so a seed names the same content.
    fn with_config_and_layer(kind: Kind, clients: usize, rng: &mut ChaCha8Rng) -> Scenario {
        let config = BlobSpec {
            seed: rng.gen(),
            size: 0,
        };
        let layer = BlobSpec {
            seed: rng.gen(),
            size: blob_size(rng),
        };
        Scenario {
            kind,
            blobs: vec![config, layer],
            manifests: Vec::new(),
            tags: Vec::new(),
            setup: Vec::new(),
            clients: vec![Vec::new(); clients],
            finally: Vec::new(),
        }
    }

    /// Setup pushes both blobs to repository 0, so the races are about manifests only.
    fn push_config_and_layer(&mut self) {
        self.setup.push(Op::PushBlob {
            repo: 0,
            blob: 0,
            chunks: 0,
        });
        self.setup.push(Op::PushBlob {
            repo: 0,
            blob: 1,
            chunks: 0,
        });
    }
}

/// A manifest over the layer; the random annotation gives each one its own digest.
fn manifest(rng: &mut ChaCha8Rng, i: usize, subject: Option<u8>) -> ManifestSpec {
    ManifestSpec {
        layer: 1,
        subject,
        artifact_type: subject.map(|_| ARTIFACT_TYPE.into()),
        annotation: format!("race-{i}-{:08x}", rng.gen::<u32>()),
    }
}

/// The same blob pushed at once, monolithic and chunked, while the other clients read it.
fn same_blob(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    let writers = rng.gen_range(2..=s.clients.len());
    for (c, steps) in s.clients.iter_mut().enumerate() {
        if c < writers {
            let op = Op::PushBlob {
                repo: 0,
                blob: 1,
                chunks: rng.gen_range(0..=3),
            };
            steps.push(step(rng, op));
        }
        for _ in 0..rng.gen_range(if c < writers { 0..=1 } else { 2..=4 }) {
            let op = if rng.gen_bool(0.7) {
                Op::GetBlob { repo: 0, blob: 1 }
            } else {
                Op::HeadBlob { repo: 0, blob: 1 }
            };
            steps.push(step(rng, op));
        }
    }
    s.finally = vec![
        Op::GetBlob { repo: 0, blob: 1 },
        Op::HeadBlob { repo: 0, blob: 1 },
    ];
}

/// One to three tags moved between several manifests by several clients while others read them.
fn tag_move(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    s.push_config_and_layer();
    let k = rng.gen_range(2..=s.clients.len() + 1);
    for i in 0..k {
        let m = manifest(rng, i, None);
        s.manifests.push(m);
    }
    let tags = rng.gen_range(1..=3u8);
    s.tags = (0..tags).map(|t| format!("t{t}")).collect();
    for (c, steps) in s.clients.iter_mut().enumerate() {
        let writer = c < 2 || rng.gen_bool(0.75);
        for _ in 0..rng.gen_range(1..=3) {
            let tag = rng.gen_range(0..tags);
            let op = if writer && rng.gen_bool(0.75) {
                Op::PushManifest {
                    repo: 0,
                    manifest: rng.gen_range(0..k) as u8,
                    tag: Some(tag),
                }
            } else if rng.gen_bool(0.8) {
                Op::GetManifest {
                    repo: 0,
                    reference: Ref::Tag(tag),
                }
            } else {
                Op::ListTags { repo: 0 }
            };
            steps.push(step(rng, op));
        }
    }
    s.finally = (0..tags)
        .map(|t| Op::GetManifest {
            repo: 0,
            reference: Ref::Tag(t),
        })
        .chain([Op::ListTags { repo: 0 }])
        .collect();
}

/// The layer, present in both repositories, deleted from repository 1 while it is mounted into
/// it from repository 0 and pushed to it again.
fn delete_mount_push(s: &mut Scenario, rng: &mut ChaCha8Rng, f: &Features) {
    s.setup = vec![
        Op::PushBlob {
            repo: 0,
            blob: 1,
            chunks: 0,
        },
        Op::PushBlob {
            repo: 1,
            blob: 1,
            chunks: 0,
        },
    ];
    // Roles: 0 deletes, 1 mounts, 2 pushes, 3 reads; only those the registry supports.
    let mut roles: Vec<u8> = Vec::new();
    if f.delete_blobs {
        roles.push(0);
    }
    if f.cross_mount {
        roles.push(1);
    }
    roles.push(2);
    for (c, steps) in s.clients.iter_mut().enumerate() {
        // The first clients take each role once, so every race is staged.
        let role = if c < roles.len() {
            roles[c]
        } else {
            *[roles.as_slice(), &[3]].concat().choose(rng).unwrap()
        };
        for _ in 0..rng.gen_range(1..=2) {
            let op = delete_mount_push_op(rng, role);
            steps.push(step(rng, op));
        }
    }
    s.finally = vec![
        Op::GetBlob { repo: 1, blob: 1 },
        Op::HeadBlob { repo: 1, blob: 1 },
        // The source of the mounts was never deleted: it must be whole.
        Op::GetBlob { repo: 0, blob: 1 },
    ];
}

fn delete_mount_push_op(rng: &mut ChaCha8Rng, role: u8) -> Op {
    match role {
        0 => Op::DeleteBlob { repo: 1, blob: 1 },
        1 => Op::Mount {
            repo: 1,
            from: 0,
            blob: 1,
            finish: rng.gen_bool(0.5),
        },
        2 => Op::PushBlob {
            repo: 1,
            blob: 1,
            chunks: rng.gen_range(0..=2),
        },
        _ if rng.gen_bool(0.6) => Op::GetBlob { repo: 1, blob: 1 },
        _ => Op::HeadBlob { repo: 1, blob: 1 },
    }
}

/// One upload session patched chunk by chunk by client 0 and cancelled by client 1, while the
/// others cancel it too, ask for its status or read the blob.
fn cancel_patch(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    s.blobs[1].size = s.blobs[1].size.max(64);
    let chunks = rng.gen_range(2..=4u8);
    s.setup = vec![Op::OpenSession {
        session: 0,
        repo: 0,
        blob: 1,
        chunks,
    }];
    for c in 0..chunks {
        let op = Op::Patch {
            session: 0,
            chunk: c,
        };
        s.clients[0].push(step(rng, op));
    }
    s.clients[0].push(step(rng, Op::Close { session: 0 }));
    // The canceller waits long enough to land anywhere in the patcher's sequence.
    s.clients[1].push(Step {
        delay_us: rng.gen_range(0..4_000),
        op: Op::Cancel { session: 0 },
    });
    for steps in s.clients.iter_mut().skip(2) {
        for _ in 0..rng.gen_range(1..=2) {
            let op = match rng.gen_range(0..3) {
                0 => Op::Cancel { session: 0 },
                1 => Op::SessionStatus { session: 0 },
                _ => Op::GetBlob { repo: 0, blob: 1 },
            };
            steps.push(step(rng, op));
        }
    }
    s.finally = vec![
        Op::SessionStatus { session: 0 },
        Op::GetBlob { repo: 0, blob: 1 },
    ];
}

/// Referrers listed by every client while the subject and its referrers are pushed.
fn referrers(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    let n = s.clients.len();
    s.push_config_and_layer();
    let subject = manifest(rng, 0, None);
    s.manifests.push(subject);
    let k = rng.gen_range(1..=n);
    for i in 1..=k {
        let m = manifest(rng, i, Some(0));
        s.manifests.push(m);
    }
    s.tags = vec!["subject".into()];
    // Referrers go to clients in turn; the subject to a random one; everyone lists.
    let mut pushes: Vec<Op> = (1..=k)
        .map(|m| Op::PushManifest {
            repo: 0,
            manifest: m as u8,
            tag: None,
        })
        .collect();
    pushes.push(Op::PushManifest {
        repo: 0,
        manifest: 0,
        tag: rng.gen_bool(0.5).then_some(0),
    });
    pushes.shuffle(rng);
    for (i, op) in pushes.into_iter().enumerate() {
        let st = step(rng, op);
        s.clients[i % n].push(st);
    }
    let list = Op::ListReferrers {
        repo: 0,
        subject: 0,
    };
    for steps in s.clients.iter_mut() {
        for _ in 0..rng.gen_range(1..=2) {
            let at = rng.gen_range(0..=steps.len());
            let st = step(rng, list.clone());
            steps.insert(at, st);
        }
    }
    s.finally = vec![list];
}

/// Manifest 0, tagged t0 and t1, deleted by digest while tags are pushed (to it or to another
/// manifest), deleted, and read.
fn delete_tag_push(s: &mut Scenario, rng: &mut ChaCha8Rng, f: &Features) {
    s.push_config_and_layer();
    for i in 0..3 {
        let m = manifest(rng, i, None);
        s.manifests.push(m);
    }
    s.tags = vec!["t0".into(), "t1".into()];
    for tag in 0..2 {
        s.setup.push(Op::PushManifest {
            repo: 0,
            manifest: 0,
            tag: Some(tag),
        });
    }
    // Roles: 0 deletes the manifest, 1 pushes a tag, 2 deletes tag t1, 3 reads; a delete the
    // registry does not support becomes a push.
    let mut roles: Vec<u8> = Vec::new();
    if f.delete_manifests {
        roles.push(0);
    }
    roles.push(1);
    if f.delete_tags {
        roles.push(2);
    }
    for (c, steps) in s.clients.iter_mut().enumerate() {
        let role = if c < roles.len() {
            roles[c]
        } else {
            rng.gen_range(0..4u8)
        };
        let op = delete_tag_push_op(rng, role, f);
        steps.push(step(rng, op));
        if rng.gen_bool(0.5) {
            let r = Op::GetManifest {
                repo: 0,
                reference: Ref::Tag(rng.gen_range(0..2)),
            };
            steps.push(step(rng, r));
        }
    }
    s.finally = vec![
        Op::GetManifest {
            repo: 0,
            reference: Ref::Tag(0),
        },
        Op::GetManifest {
            repo: 0,
            reference: Ref::Tag(1),
        },
        Op::GetManifest {
            repo: 0,
            reference: Ref::Digest(0),
        },
        Op::ListTags { repo: 0 },
    ];
}

fn delete_tag_push_op(rng: &mut ChaCha8Rng, role: u8, f: &Features) -> Op {
    match role {
        0 if f.delete_manifests => Op::DeleteManifest {
            repo: 0,
            manifest: 0,
        },
        2 if f.delete_tags => Op::DeleteTag { repo: 0, tag: 1 },
        0..=2 => Op::PushManifest {
            repo: 0,
            manifest: rng.gen_range(0..3),
            tag: Some(rng.gen_range(0..2)),
        },
        _ => Op::GetManifest {
            repo: 0,
            reference: if rng.gen_bool(0.5) {
                Ref::Tag(rng.gen_range(0..2))
            } else {
                Ref::Digest(0)
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replay rebuilds the plan from the reproducer: generation is a function of the seed and
    /// the index, and the plan survives its JSON form.
    #[test]
    fn scenarios_are_seeded_and_round_trip_through_json() {
        let f = Features::default();
        for i in 0..24 {
            let a = generate(5, i, &Kind::ALL, 8, &f);
            assert_eq!(a, generate(5, i, &Kind::ALL, 8, &f));
            assert_eq!(a.kind, Kind::ALL[i as usize % Kind::ALL.len()]);
            assert_eq!(a.clients.len(), 8);
            let back: Scenario = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
            assert_eq!(a, back);
            assert_eq!(
                a.content().manifest_digests,
                back.content().manifest_digests
            );
        }
        assert_ne!(
            generate(5, 0, &Kind::ALL, 8, &f),
            generate(6, 0, &Kind::ALL, 8, &f)
        );
    }

    #[test]
    fn features_declared_absent_take_their_races_out() {
        let f = Features {
            delete_blobs: false,
            delete_manifests: false,
            delete_tags: false,
            ..Features::default()
        };
        let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.enabled(&f)).collect();
        assert!(!kinds.contains(&Kind::DeleteTagPush));
        for i in 0..40 {
            let s = generate(9, i, &kinds, 6, &f);
            assert!(!s.ops().any(|o| matches!(
                o,
                Op::DeleteBlob { .. } | Op::DeleteManifest { .. } | Op::DeleteTag { .. }
            )));
        }
    }
}
