//! Whether what the clients saw can be explained by some order of their operations.
//!
//! Every operation that changes or observes registry state becomes an [`Event`] on one object
//! (a repository's manifests and tags, one blob in one repository, one upload session, one
//! subject's referrers) with the interval in which it was in flight. The history of an object is
//! accepted when its events can be put in one order that respects real time (an operation that
//! ended before another started comes first) and in which every observation matches the state
//! the writes before it leave. That is linearizability, checked per object (Wing & Gong search
//! with memoised states); the spec promises no more than that, so nothing stricter is asked.
//!
//! Freedoms are encoded in the events, not in the search: an operation whose outcome is unknown
//! (5xx, timeout) may or may not have taken effect; with lazy deletes a delete may take effect
//! at any later time or not yet; list answers are checked entry by entry, each at its own point,
//! because no list operation in the spec promises a snapshot.

use std::collections::HashSet;

/// The object an event is about. Indices are the scenario's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    /// Manifests and tags of repository `.0`.
    Manifests(u8),
    /// Blob `.1` in repository `.0`.
    Blob(u8, u8),
    /// Upload session `.0`.
    Session(u8),
    /// Referrers of manifest `.1` in repository `.0`.
    Referrers(u8, u8),
}

/// What an event did or saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Manifest `m` stored, and tagged `tag` when pushed by tag.
    PutManifest {
        m: u8,
        tag: Option<u8>,
    },
    /// DELETE by digest: `found` (202) removes the manifest; 404 says it was not there. The
    /// tags on it go with [`Action::Untag`] events of the same interval: a registry may drop
    /// them one at a time while the delete is in flight (nothing in the spec makes the delete
    /// atomic), but all are gone once it is answered.
    DeleteManifest {
        m: u8,
        found: bool,
    },
    /// Tag `t` dropped if it names manifest `m` (part of a manifest delete).
    Untag {
        t: u8,
        m: u8,
    },
    DeleteTag {
        t: u8,
        found: bool,
    },
    /// GET by tag: the manifest served, or None for 404.
    ReadTag {
        t: u8,
        got: Option<u8>,
    },
    /// GET by digest: 200 or 404.
    ReadManifest {
        m: u8,
        present: bool,
    },
    /// Tag `t` in (or missing from) a tag list.
    TagListed {
        t: u8,
        listed: bool,
    },
    BlobWrite,
    BlobDelete {
        found: bool,
    },
    BlobRead {
        present: bool,
    },
    /// POST that opened the session.
    Open,
    /// PATCH of chunk `chunk`.
    Patch {
        chunk: u8,
        res: PatchResult,
    },
    /// Closing PUT after `chunks` chunks: 201, or refused.
    Close {
        chunks: u8,
        done: bool,
    },
    /// Cancel answered 2xx (`found`) or 404 BLOB_UPLOAD_UNKNOWN.
    Cancel {
        found: bool,
    },
    /// GET of the session: open (204) or unknown (404 BLOB_UPLOAD_UNKNOWN).
    Status {
        open: bool,
    },
    /// Referrer `r` pushed with its subject.
    PutReferrer {
        r: u8,
    },
    /// Referrer `r` in (or missing from) a referrers list.
    RefListed {
        r: u8,
        listed: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchResult {
    Accepted,
    /// 404 BLOB_UPLOAD_UNKNOWN.
    Unknown,
    /// 416: not the next chunk.
    OutOfOrder,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub object: Object,
    /// Microseconds since the scenario started.
    pub start: u64,
    /// None: no answer came (timeout), so the operation may still take effect at any time.
    pub end: Option<u64>,
    /// The outcome is unknown (5xx, no answer, lazy delete): the effect may or may not happen.
    pub maybe: bool,
    pub action: Action,
    /// (client, index of the exchange in that client's transcript) that produced it.
    pub origin: (usize, usize),
}

impl Event {
    /// Observations constrain the state without changing it.
    pub fn is_read(&self) -> bool {
        matches!(
            self.action,
            Action::ReadTag { .. }
                | Action::ReadManifest { .. }
                | Action::TagListed { .. }
                | Action::BlobRead { .. }
                | Action::Status { .. }
                | Action::RefListed { .. }
        )
    }
}

/// The state of one object; one small `Copy` struct for every kind keeps the search generic
/// and its memo cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    /// Manifest index per tag index (NONE: untagged).
    tags: [u8; MAX_TAGS],
    /// Manifests present, blob present (bit 0), or referrers listed.
    present: u128,
    /// Upload session: the next chunk while open, NONE when closed.
    session: u8,
}

const NONE: u8 = u8::MAX;
/// Tag slots a manifests object tracks (scenarios use at most three tags).
pub const MAX_TAGS: usize = 4;

impl State {
    fn tag(&self, t: u8) -> Option<u8> {
        let v = self.tags[t as usize % MAX_TAGS];
        (v != NONE).then_some(v)
    }
    fn set_tag(&mut self, t: u8, m: Option<u8>) {
        self.tags[t as usize % MAX_TAGS] = m.unwrap_or(NONE);
    }
    fn open(&self) -> Option<u8> {
        (self.session != NONE).then_some(self.session)
    }
}

fn bit(i: u8) -> u128 {
    1u128 << (i.min(127))
}

/// The states `a` may leave `s` in; empty when `a`'s observation is impossible in `s`.
fn step(s: &State, a: &Action) -> Vec<State> {
    let mut n = *s;
    match *a {
        Action::PutManifest { m, tag } => {
            n.present |= bit(m);
            if let Some(t) = tag {
                n.set_tag(t, Some(m));
            }
        }
        // An acknowledged delete asks nothing of the state: two deletes racing may both be
        // answered 202 (DELETE is idempotent in HTTP; neither client is misled). A 404 says
        // the content was absent at some point while the delete was in flight.
        Action::DeleteManifest { m, found } => {
            if !found && s.present & bit(m) != 0 {
                return vec![];
            }
            n.present &= !bit(m);
        }
        Action::Untag { t, m } => {
            if s.tag(t) == Some(m) {
                n.set_tag(t, None);
            }
        }
        Action::DeleteTag { t, found } => {
            if !found && s.tag(t).is_some() {
                return vec![];
            }
            n.set_tag(t, None);
        }
        Action::ReadTag { t, got } => {
            if s.tag(t) != got {
                return vec![];
            }
        }
        Action::ReadManifest { m, present } => {
            if (s.present & bit(m) != 0) != present {
                return vec![];
            }
        }
        Action::TagListed { t, listed } => {
            if s.tag(t).is_some() != listed {
                return vec![];
            }
        }
        Action::BlobWrite => n.present = 1,
        Action::BlobDelete { found } => {
            if !found && s.present != 0 {
                return vec![];
            }
            n.present = 0;
        }
        Action::BlobRead { present } => {
            if (s.present != 0) != present {
                return vec![];
            }
        }
        Action::Open => n.session = 0,
        Action::Patch { chunk, res } => match (s.open(), res) {
            (Some(next), PatchResult::Accepted) if next == chunk => n.session = next + 1,
            (Some(next), PatchResult::OutOfOrder) if next != chunk => {}
            (None, PatchResult::Unknown) => {}
            _ => return vec![],
        },
        Action::Close { chunks, done } => match (s.open(), done) {
            (Some(next), true) if next == chunks => n.session = NONE,
            (Some(next), false) if next != chunks => {
                // A refused close may or may not end the session.
                let mut closed = n;
                closed.session = NONE;
                return vec![n, closed];
            }
            (None, false) => {}
            _ => return vec![],
        },
        Action::Cancel { found } => match (s.open(), found) {
            (Some(_), true) => n.session = NONE,
            // A cancel of a session that is already gone may still be acknowledged.
            (None, _) => {}
            (Some(_), false) => return vec![],
        },
        Action::Status { open } => {
            if s.open().is_some() != open {
                return vec![];
            }
        }
        Action::PutReferrer { r } => n.present |= bit(r),
        Action::RefListed { r, listed } => {
            if (s.present & bit(r) != 0) != listed {
                return vec![];
            }
        }
    }
    vec![n]
}

/// Search nodes per history before the check gives up (and the scenario counts as
/// inconclusive rather than failed).
const BUDGET: usize = 400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    Violated,
    /// The search budget ran out.
    Unknown,
}

struct Search<'a> {
    evs: &'a [Event],
    seen: HashSet<(u128, State)>,
    nodes: usize,
}

impl Search<'_> {
    /// Earliest end among pending events: nothing that starts after it may come next.
    fn min_end(&self, done: u128) -> u64 {
        (0..self.evs.len())
            .filter(|&i| done & (1u128 << i) == 0)
            .filter_map(|i| self.evs[i].end)
            .min()
            .unwrap_or(u64::MAX)
    }

    fn dfs(&mut self, mut done: u128, s: State) -> Option<bool> {
        // An observation that may come next and matches the state can be placed now without
        // loss (it changes nothing, and anything that must precede it already does): doing so
        // greedily keeps the search to the orders of the writes.
        loop {
            let min_end = self.min_end(done);
            let ready = (0..self.evs.len()).find(|&i| {
                let e = &self.evs[i];
                done & (1u128 << i) == 0
                    && e.is_read()
                    && e.start <= min_end
                    && !step(&s, &e.action).is_empty()
            });
            match ready {
                Some(i) => done |= 1u128 << i,
                None => break,
            }
        }
        if done.count_ones() as usize == self.evs.len() {
            return Some(true);
        }
        if !self.seen.insert((done, s)) {
            return Some(false);
        }
        self.nodes += 1;
        if self.nodes > BUDGET {
            return None;
        }
        let min_end = self.min_end(done);
        for i in 0..self.evs.len() {
            let e = &self.evs[i];
            // Whatever ended before `e` started must be placed before it.
            if done & (1u128 << i) != 0 || e.start > min_end || e.is_read() {
                continue;
            }
            let mut next = step(&s, &e.action);
            if e.maybe && !next.contains(&s) {
                next.push(s);
            }
            for n in next {
                if self.dfs(done | (1u128 << i), n)? {
                    return Some(true);
                }
            }
        }
        Some(false)
    }
}

/// Checks one object's history.
pub fn check(evs: &[Event]) -> Verdict {
    if evs.len() > 128 {
        return Verdict::Unknown;
    }
    let init = State {
        tags: [NONE; MAX_TAGS],
        present: 0,
        session: NONE,
    };
    let mut search = Search {
        evs,
        seen: HashSet::new(),
        nodes: 0,
    };
    match search.dfs(0, init) {
        Some(true) => Verdict::Linearizable,
        Some(false) => Verdict::Violated,
        None => Verdict::Unknown,
    }
}

/// The observation to blame for a violated history: with every write kept, the earliest-starting
/// observation without which the history would still be explained fails to be explained. Falls
/// back to the last event when the writes alone already contradict each other.
pub fn culprit(evs: &[Event]) -> usize {
    let mut reads: Vec<usize> = (0..evs.len()).filter(|&i| evs[i].is_read()).collect();
    reads.sort_by_key(|&i| (evs[i].start, evs[i].end));
    let writes: Vec<Event> = evs.iter().filter(|e| !e.is_read()).cloned().collect();
    if check(&writes) == Verdict::Violated {
        return (0..evs.len())
            .filter(|&i| !evs[i].is_read())
            .max_by_key(|&i| evs[i].end.unwrap_or(u64::MAX))
            .unwrap_or(evs.len() - 1);
    }
    let mut kept = writes;
    for &r in &reads {
        kept.push(evs[r].clone());
        if check(&kept) == Verdict::Violated {
            return r;
        }
    }
    evs.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(start: u64, end: u64, action: Action) -> Event {
        Event {
            object: Object::Manifests(0),
            start,
            end: Some(end),
            maybe: false,
            action,
            origin: (0, 0),
        }
    }

    #[test]
    fn overlapping_pushes_may_land_in_either_order() {
        let h = [
            ev(0, 10, Action::PutManifest { m: 0, tag: Some(0) }),
            ev(1, 9, Action::PutManifest { m: 1, tag: Some(0) }),
            ev(20, 21, Action::ReadTag { t: 0, got: Some(0) }),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        let h2 = [
            h[0].clone(),
            h[1].clone(),
            ev(20, 21, Action::ReadTag { t: 0, got: Some(1) }),
        ];
        assert_eq!(check(&h2), Verdict::Linearizable);
    }

    #[test]
    fn a_tag_read_after_an_acknowledged_push_cannot_be_missing() {
        let h = [
            ev(0, 10, Action::PutManifest { m: 0, tag: Some(0) }),
            ev(2, 12, Action::PutManifest { m: 1, tag: Some(1) }),
            ev(20, 21, Action::ReadTag { t: 0, got: Some(0) }),
            ev(
                20,
                22,
                Action::TagListed {
                    t: 1,
                    listed: false,
                },
            ),
        ];
        assert_eq!(check(&h), Verdict::Violated);
        assert_eq!(culprit(&h), 3);
    }

    #[test]
    fn a_push_that_ended_before_another_started_cannot_win() {
        let h = [
            ev(0, 5, Action::PutManifest { m: 0, tag: Some(0) }),
            ev(6, 9, Action::PutManifest { m: 1, tag: Some(0) }),
            ev(20, 21, Action::ReadTag { t: 0, got: Some(0) }),
        ];
        assert_eq!(check(&h), Verdict::Violated);
        // Unless the later push's outcome is unknown.
        let mut h2 = h.clone();
        h2[1].maybe = true;
        assert_eq!(check(&h2), Verdict::Linearizable);
    }

    #[test]
    fn a_manifest_delete_removes_the_tags_on_it_only() {
        let h = [
            ev(0, 1, Action::PutManifest { m: 0, tag: Some(0) }),
            ev(2, 10, Action::DeleteManifest { m: 0, found: true }),
            ev(2, 10, Action::Untag { t: 0, m: 0 }),
            ev(3, 9, Action::PutManifest { m: 1, tag: Some(0) }),
            ev(20, 21, Action::ReadTag { t: 0, got: None }),
        ];
        // Whichever order the delete and the push took, the tag ends on manifest 1.
        assert_eq!(check(&h), Verdict::Violated);
        let mut h2 = h.clone();
        h2[4] = ev(20, 21, Action::ReadTag { t: 0, got: Some(1) });
        assert_eq!(check(&h2), Verdict::Linearizable);
        // Once the delete is answered, a tag on the deleted manifest is gone.
        let mut h3 = h.clone();
        h3[3] = ev(0, 1, Action::PutManifest { m: 0, tag: Some(1) });
        h3[2] = ev(2, 10, Action::Untag { t: 1, m: 0 });
        h3[4] = ev(20, 21, Action::ReadTag { t: 1, got: Some(0) });
        assert_eq!(check(&h3), Verdict::Violated);
    }

    #[test]
    fn racing_deletes_may_both_be_acknowledged() {
        let mut h = vec![
            ev(0, 1, Action::BlobWrite),
            ev(2, 10, Action::BlobDelete { found: true }),
            ev(3, 9, Action::BlobDelete { found: true }),
            ev(20, 21, Action::BlobRead { present: false }),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        // A 404 while the blob was there all along is not.
        h[1] = ev(12, 13, Action::BlobDelete { found: true });
        h[2] = ev(3, 9, Action::BlobDelete { found: false });
        assert_eq!(check(&h), Verdict::Violated);
    }

    #[test]
    fn a_cancelled_session_accepts_no_chunk_afterwards() {
        let mut h = vec![
            ev(0, 1, Action::Open),
            ev(2, 3, Action::Cancel { found: true }),
            ev(
                4,
                5,
                Action::Patch {
                    chunk: 0,
                    res: PatchResult::Accepted,
                },
            ),
        ];
        for e in &mut h {
            e.object = Object::Session(0);
        }
        assert_eq!(check(&h), Verdict::Violated);
        h[2].start = 2;
        assert_eq!(check(&h), Verdict::Linearizable);
    }
}
