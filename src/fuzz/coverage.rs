//! What a run reached: per operation, how often each answer came back, and the registry states
//! the model layer got to. A fuzz run that never gets a manifest accepted tests little beyond
//! "400 for missing blobs", so the table is printed after every run and a layer whose writes
//! were never accepted is called out.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::contract::responses::Endpoint;

/// The most interesting states one model case reached.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct States {
    /// Most tags any repository held at the end of a case.
    pub most_tags: usize,
    /// Most referrers one subject had in one repository.
    pub most_referrers: usize,
    /// Manifests and blobs accepted again after they had been deleted.
    pub repushed: usize,
    /// Tags moved from one manifest to another.
    pub tags_moved: usize,
    /// Deletes the registry acknowledged.
    pub deleted: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    /// Endpoint → answer (`201`, `timeout`, `broken`) → count.
    pub answers: BTreeMap<Endpoint, BTreeMap<String, u64>>,
    /// Layer → number of writes answered 2xx.
    pub accepted_writes: BTreeMap<&'static str, u64>,
    /// Layer → number of writes sent.
    pub writes: BTreeMap<&'static str, u64>,
    /// Maxima over the run's model cases.
    pub states: States,
    /// Model cases in which at least one deleted item was pushed again.
    pub cases_with_repush: u64,
    /// The layer being counted; None while shrinking or setting up (not counted).
    #[serde(skip)]
    pub layer: Option<&'static str>,
}

impl Coverage {
    /// Counts one answer: its `status`, or without one whether it `timed_out` or broke. (Plain
    /// values rather than the client's answer type: the client records, this only counts.)
    pub fn record(&mut self, method: &str, target: &str, status: Option<u16>, timed_out: bool) {
        let Some(layer) = self.layer else { return };
        let op = Endpoint::of(method, target);
        let key = match status {
            Some(s) => s.to_string(),
            None if timed_out => "timeout".into(),
            None => "broken".into(),
        };
        *self.answers.entry(op).or_default().entry(key).or_default() += 1;
        if op.is_write() {
            *self.writes.entry(layer).or_default() += 1;
            if status.is_some_and(|s| (200..300).contains(&s)) {
                *self.accepted_writes.entry(layer).or_default() += 1;
            }
        }
    }

    /// Folds in the states one model case reached.
    pub fn observe(&mut self, s: States) {
        if self.layer.is_none() {
            return;
        }
        let t = &mut self.states;
        t.most_tags = t.most_tags.max(s.most_tags);
        t.most_referrers = t.most_referrers.max(s.most_referrers);
        t.repushed += s.repushed;
        t.tags_moved += s.tags_moved;
        t.deleted += s.deleted;
        if s.repushed > 0 {
            self.cases_with_repush += 1;
        }
    }

    /// Share of manifest pushes answered 201.
    pub fn accepted_share(&self, op: Endpoint) -> Option<f64> {
        let a = self.answers.get(&op)?;
        let total: u64 = a.values().sum();
        let ok: u64 = a
            .iter()
            .filter(|(k, _)| k.starts_with('2'))
            .map(|(_, v)| v)
            .sum();
        (total > 0).then(|| ok as f64 / total as f64)
    }

    /// Layers that sent writes (or were run) yet never had one accepted.
    pub fn starved_layers(&self, layers: &[&'static str]) -> Vec<&'static str> {
        layers
            .iter()
            .copied()
            .filter(|l| self.accepted_writes.get(l).copied().unwrap_or(0) == 0)
            .collect()
    }
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "coverage (answers per operation):")?;
        for (op, answers) in &self.answers {
            let mut v: Vec<(&String, &u64)> = answers.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let cells: Vec<String> = v.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            writeln!(
                f,
                "  {:<16} {}",
                format!("{}:", op.as_str()),
                cells.join(", ")
            )?;
        }
        for (layer, n) in &self.writes {
            writeln!(
                f,
                "  {layer} layer: {} of {n} writes accepted",
                self.accepted_writes.get(layer).copied().unwrap_or(0)
            )?;
        }
        let s = &self.states;
        writeln!(
            f,
            "states reached: most tags in a repository {}, most referrers per subject {}, \
             deleted-then-repushed {} (in {} cases), tags moved {}, deletes acknowledged {}",
            s.most_tags,
            s.most_referrers,
            s.repushed,
            self.cases_with_repush,
            s.tags_moved,
            s.deleted
        )
    }
}
