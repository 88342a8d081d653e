//! Results JSON for machines. The shape is stable: fields may be added, none renamed or removed
//! without bumping `format_version`.
//!
//! ```text
//! {
//!   "format_version": 1,
//!   "tool":    {"name": "oci-conformance", "version": "0.1.0"},
//!   "run":     {"target": URL, "embedded": bool, "spec_version": "1.0"|"1.1"|"1.1.1"|"dev",
//!               "seed": u64, "run_id": str, "selected": n, "total": n,
//!               "case_set": {"source": "embedded"|DIR, "digest": "sha256:…", "cases": n}},
//!   "summary": {"passed", "failed", "errors", "skipped", "unsupported", "expected_failures",
//!               "unexpected_passes", "soft_failures": n, "retried_requests": n (sent again
//!               after 429, or 503 with Retry-After), "duration_ms": n,
//!               "preflight": [str] (only when the probe found a cause behind many cases),
//!               "cleanup": {"created": n, "deleted": n, "left": [{"repository", "kind":
//!                           "tag"|"manifest"|"blob", "reference", "reason"}]}},
//!   "cases": [ // sorted by id
//!     {"id", "title", "workflow": "pull"|"push"|"discovery"|"management",
//!      "level": "MUST"|"SHOULD"|"MAY",
//!      "requirements": [{"id": "R-017", "level": "MUST", "statement": str}],
//!      "outcome": "pass"|"fail"|"error"|"skip"|"unsupported"|"expected-failure"|"unexpected-pass",
//!      "message": str|null, "duration_ms": n, "file": path, "repositories": [str],
//!      "transcript": [{"method", "url", "request_headers": [[name, value]],
//!                      "request_body": str|null, "request_size": n|null, "status": n|null,
//!                      "response_headers": [[name, value]], "response_body": str|null,
//!                      "response_size": n|null, "response_digest": "sha256:…"|null,
//!                      "error": str|null, "elapsed_ms": n,
//!                      "notes": [str] (only when there are some: redirects followed,
//!                                      credentials withheld from another origin)}]}]
//! }
//! ```
//! Bodies in transcripts are previews (binary bodies described, long ones truncated, with the
//! whole body's size and digest alongside);
//! credentials are placeholders (`Basic $OCI_CREDENTIALS`, `Bearer $OCI_TOKEN`).

use super::Collected;
use crate::results::{Event, Reporter};
use serde_json::json;
use std::path::PathBuf;

pub struct JsonReport {
    path: PathBuf,
    data: Collected,
}

impl JsonReport {
    pub fn new(path: PathBuf) -> Self {
        JsonReport {
            path,
            data: Collected::default(),
        }
    }
}

impl Reporter for JsonReport {
    fn event(&mut self, ev: &Event) {
        self.data.take(ev);
    }
    fn finish(&mut self) -> std::io::Result<()> {
        let doc = json!({
            "format_version": 1,
            "tool": {"name": "oci-conformance", "version": env!("CARGO_PKG_VERSION")},
            "run": self.data.info,
            "summary": self.data.summary,
            "cases": self.data.results,
        });
        super::write_file(&self.path, &serde_json::to_vec_pretty(&doc).expect("json"))
    }
}

/// A `results.json` read back (by `compare` and `matrix`). Fields a report lacks (one written by
/// an older version) take their defaults; fields this version does not know are ignored.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Results {
    pub format_version: u32,
    #[serde(default)]
    pub tool: ToolRecord,
    #[serde(default)]
    pub run: RunRecord,
    pub cases: Vec<CaseRecord>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ToolRecord {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub embedded: bool,
    #[serde(default)]
    pub spec_version: String,
    #[serde(default)]
    pub case_set: Option<crate::spec::CaseSet>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct CaseRecord {
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub workflow: crate::spec::Workflow,
    pub level: crate::spec::Level,
    #[serde(default)]
    pub requirements: Vec<crate::results::RequirementRef>,
    pub outcome: crate::results::Outcome,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a results.json report: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: results format_version {found}; this version reads format_version 1")]
    Version { path: PathBuf, found: u32 },
}

impl Results {
    pub fn load(path: &std::path::Path) -> Result<Results, ReadError> {
        let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let r: Results = serde_json::from_slice(&bytes).map_err(|e| ReadError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if r.format_version != 1 {
            return Err(ReadError::Version {
                path: path.to_path_buf(),
                found: r.format_version,
            });
        }
        Ok(r)
    }
}
