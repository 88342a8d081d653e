//! Where each case's repositories live: the names a run gives them under its namespace, and
//! which cases a shared (`fixed`) or one-component (`flat`) layout cannot run faithfully.

use crate::config::RepositoryLayout;
use crate::spec::{Action, Case, Feature, RequestSpec, SpecVersion, Step};

/// Everything a case needs from the run configuration.
#[derive(Debug, Clone)]
pub struct CaseContext {
    pub namespace: String,
    pub namespace2: String,
    pub run_id: String,
    pub seed: u64,
    pub layout: RepositoryLayout,
    /// The version the response contract judges every answer by.
    pub spec_version: SpecVersion,
}

/// Why a case cannot run in a `fixed` layout's shared repositories.
pub const NEEDS_FRESH_REPOSITORY: &str = "needs a fresh repository";

/// The endpoints below `/v2/<name>/`: anything else after `${repo}/` makes a deeper name.
const NAME_ENDPOINTS: [&str; 5] = ["manifests/", "blobs/", "tags/", "referrers/", "_oci/"];

/// Longest case-id part of a `flat` name, before its hash: keeps names readable and far below
/// the 255 characters many clients allow.
const FLAT_ID_MAX: usize = 48;

impl CaseContext {
    /// The case's main repository and its second one (mount sources, "other repository").
    pub fn repos(&self, case_id: &str) -> (String, String) {
        match self.layout {
            RepositoryLayout::Nested => (
                format!("{}/{}/{}", self.namespace, self.run_id, case_id),
                format!("{}/{}/{}-2", self.namespace2, self.run_id, case_id),
            ),
            RepositoryLayout::Flat => (
                flat_name(&self.namespace, &self.run_id, case_id, ""),
                flat_name(&self.namespace2, &self.run_id, case_id, "-2"),
            ),
            RepositoryLayout::Fixed => (self.namespace.clone(), self.namespace2.clone()),
        }
    }

    /// Why this layout cannot run `case` faithfully, or None when it can.
    pub fn layout_skip(&self, case: &Case) -> Option<String> {
        if self.layout == RepositoryLayout::Nested {
            return None;
        }
        let requests: Vec<&RequestSpec> = case.steps.iter().filter_map(Step::request).collect();
        let paths: Vec<&str> = requests.iter().filter_map(|r| r.path()).collect();
        // Only a valid deeper name counts: an invalid one must be refused at any depth.
        let names = paths
            .iter()
            .copied()
            .chain(case.steps.iter().filter_map(push_repo))
            .chain(
                requests
                    .iter()
                    .flat_map(|r| r.query.iter().map(|q| q.1.as_str())),
            );
        let deeper = names.into_iter().any(|p| {
            ["${repo}/", "${repo2}/"].iter().any(|var| {
                p.match_indices(var).any(|(i, _)| {
                    let rest = &p[i + var.len()..];
                    let end = NAME_ENDPOINTS
                        .iter()
                        .filter_map(|e| rest.find(&format!("/{e}")))
                        .min()
                        .unwrap_or(rest.len());
                    !NAME_ENDPOINTS.iter().any(|e| rest.starts_with(e))
                        && crate::contract::valid_name(&rest[..end])
                })
            })
        });
        if deeper {
            return Some(format!(
                "needs repository names deeper than the {} layout's (it adds path components \
                 to its repository)",
                self.layout.as_str()
            ));
        }
        if self.layout != RepositoryLayout::Fixed {
            return None;
        }
        if case.features.contains(&Feature::Catalog)
            || paths.iter().any(|p| p.contains("/_catalog"))
        {
            return Some(format!(
                "{NEEDS_FRESH_REPOSITORY}: it checks the catalog for repositories the run created"
            ));
        }
        if paths.iter().any(|p| p.starts_with("/v2/${repo}/tags/list")) {
            return Some(format!(
                "{NEEDS_FRESH_REPOSITORY}: it checks the repository's whole tag list"
            ));
        }
        let uses_repo2 = case.steps.iter().any(|s| push_repo(s) == Some("${repo2}"))
            || paths
                .iter()
                .copied()
                .chain(
                    requests
                        .iter()
                        .flat_map(|r| r.query.iter().map(|q| q.1.as_str())),
                )
                .any(|p| p.contains("${repo2}"));
        if uses_repo2 && self.namespace2 == self.namespace {
            return Some(
                "needs a second repository: give --crossmount-namespace (OCI_CROSSMOUNT_NAMESPACE) \
                 another repository"
                    .into(),
            );
        }
        // A case that never writes to its repository yet expects a 404 from it is about a
        // repository that does not exist, which a shared repository cannot be.
        let writes = case.steps.iter().any(|s| match &s.action {
            Action::Push { repo, .. } => repo.as_deref().is_none_or(|r| r == "${repo}"),
            Action::Request { request: r, .. } => {
                r.method != "GET"
                    && r.method != "HEAD"
                    && r.path().is_some_and(|p| p.starts_with("/v2/${repo}/"))
            }
            Action::Paginate { .. } => false,
        });
        let expects_absent = case.steps.iter().any(|s| match &s.action {
            Action::Request {
                request, expect, ..
            } => {
                expect.status.contains(&404)
                    && request
                        .path()
                        .is_some_and(|p| p.starts_with("/v2/${repo}/"))
            }
            _ => false,
        });
        if expects_absent && !writes {
            return Some(format!(
                "{NEEDS_FRESH_REPOSITORY}: it expects 404 from a repository it never writes \
                 to (one that does not exist)"
            ));
        }
        None
    }
}

/// The repository a `push` step names (none: the case's own).
fn push_repo(s: &Step) -> Option<&str> {
    match &s.action {
        Action::Push { repo, .. } => repo.as_deref(),
        _ => None,
    }
}

/// `<first namespace component>/oc-<run id>-<case id, [a-z0-9-] only, cut>-<hash of the id>`:
/// one component under the namespace's first, valid in the name grammar, unique per case
/// (the hash is of the whole id, so cutting or folding `/` into `-` cannot merge two cases).
pub fn flat_name(namespace: &str, run_id: &str, case_id: &str, suffix: &str) -> String {
    let first = namespace.split('/').next().unwrap_or(namespace);
    let mut short = String::new();
    for c in case_id.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            short.push(c);
        } else if !short.ends_with('-') && !short.is_empty() {
            short.push('-');
        }
        if short.len() >= FLAT_ID_MAX {
            break;
        }
    }
    let short = short.trim_end_matches('-');
    let hash = crate::content::digest_of("sha256", case_id.as_bytes());
    let hash = &hash["sha256:".len().."sha256:".len() + 8];
    let id = if short.is_empty() {
        hash.to_string()
    } else {
        format!("{short}-{hash}")
    };
    format!("{first}/oc-{run_id}-{id}{suffix}")
}

/// A short random run id: lowercase letters and digits, valid in every repository grammar.
pub fn new_run_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("r{}", &u[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_are_valid_short_and_unique_per_case() {
        let suite = crate::spec::Suite::embedded().unwrap();
        let mut seen = std::collections::HashSet::new();
        let first = "a".repeat(150);
        for (_, c) in &suite.cases {
            for ns in ["oci-conformance/deep/ns", first.as_str()] {
                let n = flat_name(ns, "r0123abcd", &c.id, "-2");
                assert!(crate::contract::valid_name(&n), "{n}");
                assert!(n.len() <= 255, "{n}");
                assert_eq!(n.matches('/').count(), 1, "{n}");
            }
            assert!(seen.insert(flat_name("org", "r1", &c.id, "")), "{}", c.id);
        }
        assert_eq!(
            flat_name("org/x", "r1", "push/chunked/three-chunks", ""),
            format!(
                "org/oc-r1-push-chunked-three-chunks-{}",
                &crate::content::digest_of("sha256", b"push/chunked/three-chunks")[7..15]
            )
        );
        // Ids that fold to the same text still get different names.
        assert_ne!(
            flat_name("o", "r", "a/b-c", ""),
            flat_name("o", "r", "a-b/c", "")
        );
        let long = "x".repeat(300);
        assert!(flat_name("o", "r", &long, "").len() < 80);
    }
}
