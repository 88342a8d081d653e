//! What a run produces: each case's result, the run's summary and the event stream reporters
//! consume, and the verdict the exit code follows.

use crate::http::Exchange;
use crate::spec::{Level, Workflow};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// A setup step failed: the case could not check what it is about.
    Error,
    Skip,
    Unsupported,
    /// Listed in the expected-failure file, and failed.
    ExpectedFailure,
    /// Listed in the expected-failure file, but passed: the list is stale.
    UnexpectedPass,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
            Outcome::Skip => "skip",
            Outcome::Unsupported => "unsupported",
            Outcome::ExpectedFailure => "expected-failure",
            Outcome::UnexpectedPass => "unexpected-pass",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequirementRef {
    pub id: String,
    pub level: String,
    pub statement: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub workflow: Workflow,
    pub level: Level,
    pub requirements: Vec<RequirementRef>,
    pub outcome: Outcome,
    pub message: Option<String>,
    pub duration_ms: u64,
    pub file: PathBuf,
    pub repositories: Vec<String>,
    pub transcript: Vec<Exchange>,
}

impl CaseResult {
    /// Does this result make the run fail?
    pub fn is_failure(&self, strict: bool) -> bool {
        match self.outcome {
            Outcome::UnexpectedPass => true,
            Outcome::Fail | Outcome::Error => self.level == Level::Must || strict,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub target: String,
    pub embedded: bool,
    pub spec_version: String,
    pub seed: u64,
    pub run_id: String,
    pub selected: usize,
    pub total: usize,
    /// The case set the run used (embedded or a `--specs` directory, and its digest).
    pub case_set: crate::spec::CaseSet,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub unsupported: usize,
    pub expected_failures: usize,
    pub unexpected_passes: usize,
    /// Failures of SHOULD/MAY cases (counted in `failed`, fatal only with --strict).
    pub soft_failures: usize,
    /// Requests sent again after the registry answered 429, or 503 with `Retry-After`.
    pub retried_requests: u32,
    pub duration_ms: u64,
    /// Causes the preflight probe found behind many cases, each said once with its fix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<String>,
    /// What `--cleanup` deleted of what the run created, and what it left.
    pub cleanup: crate::cleanup::CleanupReport,
}

impl Summary {
    pub fn add(&mut self, r: &CaseResult) {
        match r.outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Skip => self.skipped += 1,
            Outcome::Unsupported => self.unsupported += 1,
            Outcome::ExpectedFailure => self.expected_failures += 1,
            Outcome::UnexpectedPass => self.unexpected_passes += 1,
        }
        if matches!(r.outcome, Outcome::Fail | Outcome::Error) && r.level != Level::Must {
            self.soft_failures += 1;
        }
    }
    /// Whether the run fails (exit code 1): a failed or erroring MUST case, an expected
    /// failure that now passes, or, with `strict`, any failed SHOULD/MAY case.
    pub fn is_failure(&self, strict: bool) -> bool {
        self.unexpected_passes > 0
            || self.failed + self.errors > self.soft_failures
            || (strict && self.soft_failures > 0)
    }
    /// The closing line: unsupported and expected failures count as skipped, errors and
    /// unexpected passes as failed.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed + self.errors + self.unexpected_passes,
            self.skipped + self.unsupported + self.expected_failures
        )
    }
}

/// The engine's event stream; every reporter is an independent consumer of it.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted(RunInfo),
    CaseFinished(Box<CaseResult>),
    RunFinished(Summary),
}

pub trait Reporter: Send {
    fn event(&mut self, event: &Event);
    /// Called once after `RunFinished`; writes files.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts the message of a case that was not run because the run stopped early.
pub const NOT_RUN: &str = "not run";
