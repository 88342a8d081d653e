//! What a run reached: per operation, how often each answer came back, and the registry states
//! the model layer got to. A fuzz run that never gets a manifest accepted tests little beyond
//! "400 for missing blobs", so the table is printed after every run and a layer whose writes
//! were never accepted is called out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::http::Answer;

/// The registry operation a request performs, told from its method, path and query alone
/// (upload locations are opaque, so what cannot be placed by path is placed by method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Base,
    GetManifest,
    HeadManifest,
    PutManifest,
    DeleteManifest,
    DeleteTag,
    GetBlob,
    HeadBlob,
    DeleteBlob,
    StartUpload,
    SinglePost,
    Mount,
    PatchUpload,
    CloseUpload,
    UploadStatus,
    CancelUpload,
    ListTags,
    ListReferrers,
    Other,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Base => "base",
            Operation::GetManifest => "get-manifest",
            Operation::HeadManifest => "head-manifest",
            Operation::PutManifest => "put-manifest",
            Operation::DeleteManifest => "delete-manifest",
            Operation::DeleteTag => "delete-tag",
            Operation::GetBlob => "get-blob",
            Operation::HeadBlob => "head-blob",
            Operation::DeleteBlob => "delete-blob",
            Operation::StartUpload => "start-upload",
            Operation::SinglePost => "single-post",
            Operation::Mount => "mount",
            Operation::PatchUpload => "patch-upload",
            Operation::CloseUpload => "close-upload",
            Operation::UploadStatus => "upload-status",
            Operation::CancelUpload => "cancel-upload",
            Operation::ListTags => "list-tags",
            Operation::ListReferrers => "list-referrers",
            Operation::Other => "other",
        }
    }

    /// Changes what the registry holds when it succeeds.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::PutManifest
                | Operation::DeleteManifest
                | Operation::DeleteTag
                | Operation::DeleteBlob
                | Operation::SinglePost
                | Operation::Mount
                | Operation::CloseUpload
        )
    }

    /// Classifies a request; `target` is a path (with query) or an absolute URL.
    pub fn of(method: &str, target: &str) -> Operation {
        let path_query = match target.find("://") {
            Some(i) => target[i + 3..]
                .find('/')
                .map_or("/", |j| &target[i + 3 + j..]),
            None => target,
        };
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let has = |k: &str| query.split('&').any(|kv| kv.split('=').next() == Some(k));
        let in_v2 = path.starts_with("/v2/");
        if path == "/v2/" || path == "/v2" {
            return Operation::Base;
        }
        if in_v2 && path.ends_with("/tags/list") {
            return Operation::ListTags;
        }
        if in_v2 && path.contains("/referrers/") {
            return Operation::ListReferrers;
        }
        if in_v2 && path.ends_with("/blobs/uploads/") && method == "POST" {
            return if has("mount") {
                Operation::Mount
            } else if has("digest") {
                Operation::SinglePost
            } else {
                Operation::StartUpload
            };
        }
        if in_v2 && !path.contains("/blobs/uploads/") {
            if let Some((_, reference)) = path.rsplit_once("/manifests/") {
                let by_digest = reference.contains(':') || reference.contains("%3A");
                return match method {
                    "GET" => Operation::GetManifest,
                    "HEAD" => Operation::HeadManifest,
                    "PUT" => Operation::PutManifest,
                    "DELETE" if by_digest => Operation::DeleteManifest,
                    "DELETE" => Operation::DeleteTag,
                    _ => Operation::Other,
                };
            }
            if path.contains("/blobs/") {
                return match method {
                    "GET" => Operation::GetBlob,
                    "HEAD" => Operation::HeadBlob,
                    "DELETE" => Operation::DeleteBlob,
                    _ => Operation::Other,
                };
            }
            return Operation::Other;
        }
        // An upload location: by its path when it is ours, by method when it is opaque.
        match method {
            "PATCH" => Operation::PatchUpload,
            "PUT" => Operation::CloseUpload,
            "GET" => Operation::UploadStatus,
            "DELETE" => Operation::CancelUpload,
            _ => Operation::Other,
        }
    }
}

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
    /// Operation → answer (`201`, `timeout`, `broken`) → count.
    pub answers: BTreeMap<Operation, BTreeMap<String, u64>>,
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
    pub fn record(&mut self, method: &str, target: &str, answer: &Answer) {
        let Some(layer) = self.layer else { return };
        let op = Operation::of(method, target);
        let key = match answer {
            Answer::Response(r) => r.status.to_string(),
            Answer::Timeout => "timeout".into(),
            Answer::Broken(_) => "broken".into(),
        };
        *self.answers.entry(op).or_default().entry(key).or_default() += 1;
        if op.is_write() {
            *self.writes.entry(layer).or_default() += 1;
            if answer.status().is_some_and(|s| (200..300).contains(&s)) {
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
    pub fn accepted_share(&self, op: Operation) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::Operation as O;

    #[test]
    fn requests_are_told_apart_by_method_path_and_query() {
        assert_eq!(O::of("GET", "/v2/"), O::Base);
        assert_eq!(O::of("PUT", "/v2/a/b/manifests/latest"), O::PutManifest);
        assert_eq!(
            O::of("DELETE", "/v2/a/manifests/sha256:ab"),
            O::DeleteManifest
        );
        assert_eq!(O::of("DELETE", "/v2/a/manifests/v1"), O::DeleteTag);
        assert_eq!(O::of("HEAD", "/v2/a/blobs/sha256:ab"), O::HeadBlob);
        assert_eq!(O::of("POST", "/v2/a/blobs/uploads/"), O::StartUpload);
        assert_eq!(
            O::of("POST", "/v2/a/blobs/uploads/?mount=sha256:ab&from=b"),
            O::Mount
        );
        assert_eq!(
            O::of("POST", "/v2/a/blobs/uploads/?digest=sha256:ab"),
            O::SinglePost
        );
        assert_eq!(
            O::of("PUT", "http://h:1/v2/a/blobs/uploads/u1?digest=sha256:ab"),
            O::CloseUpload
        );
        assert_eq!(O::of("PATCH", "https://elsewhere/upload/7"), O::PatchUpload);
        assert_eq!(O::of("GET", "/v2/a/blobs/uploads/u1"), O::UploadStatus);
        assert_eq!(O::of("GET", "/v2/a/tags/list?n=2"), O::ListTags);
        assert_eq!(O::of("GET", "/v2/a/referrers/sha256:ab"), O::ListReferrers);
    }
}
