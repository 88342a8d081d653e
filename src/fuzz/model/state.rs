//! What the spec says the registry holds after the writes it accepted, and how each accepted
//! write changes it. No HTTP here: the operations judge the answers, then call these.

use std::collections::{BTreeMap, BTreeSet};

use super::{BLOBS, REPOS, TAGS};
use crate::contract::responses::Situation;
use crate::fuzz::coverage::States;
use crate::fuzz::grammar::sha256_digest;
use crate::fuzz::push::{blob_bytes, image_manifest, OCI_CONFIG};

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
    pub(super) fn absent(&self, r: usize) -> Situation {
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
    pub(super) fn add_blob(&mut self, r: usize, d: String) {
        if self.repos[r].deleted.remove(&d) {
            self.reached.repushed += 1;
        }
        self.repos[r].blobs.insert(d);
    }

    /// Points tag `t` of repository `r` at manifest `d`.
    pub(super) fn set_tag(&mut self, r: usize, t: &str, d: &str) {
        let st = &mut self.repos[r];
        st.deleted.remove(t);
        if let Some(old) = st.tags.insert(t.to_string(), d.to_string()) {
            if old != d {
                self.reached.tags_moved += 1;
            }
        }
    }

    /// Repository `r` holds every blob of `blobs` (indices into [`Model::blobs`]).
    pub(super) fn complete(&self, r: usize, blobs: &[usize]) -> bool {
        blobs
            .iter()
            .all(|&b| self.repos[r].blobs.contains(&sha256_digest(&self.blobs[b])))
    }

    /// The model's blob indices repository `r` holds.
    pub(super) fn held(&self, r: usize) -> Vec<usize> {
        (0..self.blobs.len())
            .filter(|&i| self.repos[r].blobs.contains(&sha256_digest(&self.blobs[i])))
            .collect()
    }

    /// A subject for a push to repository `r`: mostly a manifest that was pushed, now and then
    /// one that never was (which must be accepted too, R-034).
    pub(super) fn subject(&self, r: usize, s: u8) -> (String, usize) {
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

    pub(super) fn states(&self) -> States {
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

    /// The manifest a push to repository `r` sends: config `blobs[0]`, layers the rest (indices
    /// into [`Model::blobs`]), a subject picked by `subject` (see [`Model::subject`]).
    pub(super) fn manifest(
        &self,
        r: usize,
        blobs: Vec<usize>,
        subject: Option<u8>,
        artifact_type: Option<&str>,
        annotation: String,
    ) -> ManifestRec {
        let cfg = &self.blobs[blobs[0]];
        let layer_refs: Vec<&[u8]> = blobs[1..]
            .iter()
            .map(|&b| self.blobs[b].as_slice())
            .collect();
        let subj: Option<(String, usize)> = subject.map(|s| self.subject(r, s));
        let bytes = image_manifest(
            cfg,
            OCI_CONFIG,
            &layer_refs,
            subj.as_ref().map(|(d, s)| (d.as_str(), *s)),
            artifact_type,
            &annotation,
        );
        ManifestRec {
            digest: sha256_digest(&bytes),
            bytes,
            subject: subj.map(|(d, _)| d),
            artifact_type: artifact_type.unwrap_or(OCI_CONFIG).to_string(),
            annotation,
            blobs,
        }
    }

    /// A manifest repository `r` deleted and does not hold again, picked by `which`.
    pub(super) fn deleted_manifest(&self, r: usize, which: u8) -> Option<ManifestRec> {
        let st = &self.repos[r];
        let mut gone: Vec<&ManifestRec> = self
            .pushed
            .iter()
            .filter(|p| st.deleted.contains(&p.digest) && !st.manifests.contains_key(&p.digest))
            .collect();
        gone.dedup_by(|a, b| a.digest == b.digest);
        if gone.is_empty() {
            return None;
        }
        Some(gone[which as usize % gone.len()].clone())
    }

    /// A blob index: one repository `r` holds when `existing` and it holds any, else any.
    pub(super) fn pick_blob(&self, r: usize, blob: u8, existing: bool) -> usize {
        let held = self.held(r);
        if existing && !held.is_empty() {
            held[blob as usize % held.len()]
        } else {
            blob as usize % BLOBS
        }
    }

    /// A tag: one repository `r` has when `existing` and it has any, else any of [`TAGS`].
    pub(super) fn pick_tag(&self, r: usize, tag: u8, existing: bool) -> String {
        let tags: Vec<&String> = self.repos[r].tags.keys().collect();
        if existing && !tags.is_empty() {
            tags[tag as usize % tags.len()].clone()
        } else {
            TAGS[tag as usize % TAGS.len()].to_string()
        }
    }

    /// A manifest digest: one repository `r` holds, else one pushed anywhere (None: none yet).
    pub(super) fn pick_manifest(&self, r: usize, which: u8) -> Option<String> {
        let own: Vec<&String> = self.repos[r].manifests.keys().collect();
        if !own.is_empty() {
            Some(own[which as usize % own.len()].clone())
        } else if !self.pushed.is_empty() {
            Some(
                self.pushed[which as usize % self.pushed.len()]
                    .digest
                    .clone(),
            )
        } else {
            None
        }
    }

    /// Repository `r` accepted `rec` (by `tag`, or by digest).
    pub(super) fn accept_manifest(&mut self, r: usize, rec: ManifestRec, tag: Option<&str>) {
        let digest = rec.digest.clone();
        if self.repos[r].deleted.remove(&digest) {
            self.reached.repushed += 1;
        }
        self.repos[r].manifests.insert(digest.clone(), rec.clone());
        if let Some(t) = tag {
            self.set_tag(r, t, &digest);
        }
        self.pushed.push(rec);
    }

    /// Repository `r` deleted tag `t`.
    pub(super) fn delete_tag(&mut self, r: usize, t: String) {
        self.repos[r].tags.remove(&t);
        self.repos[r].deleted.insert(t);
        self.reached.deleted += 1;
    }

    /// Repository `r` deleted manifest `d`, and with it every tag pointing to it.
    pub(super) fn delete_manifest(&mut self, r: usize, d: &str) {
        self.reached.deleted += 1;
        let st = &mut self.repos[r];
        st.manifests.remove(d);
        st.deleted.insert(d.to_string());
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

    /// Repository `r` deleted blob `d`.
    pub(super) fn delete_blob(&mut self, r: usize, d: String) {
        self.reached.deleted += 1;
        self.repos[r].blobs.remove(&d);
        self.repos[r].deleted.insert(d);
    }
}
