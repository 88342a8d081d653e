//! Expected-failure files: gate a registry's release on regressions only.
//!
//! ```json
//! {"registry": "distribution 2.8.2",
//!  "expected_failures": [
//!    {"case": "push/chunked/out-of-order-416", "requirement": "R-056",
//!     "reason": "answers 202 to an out-of-order chunk"}]}
//! ```
//! A listed case that fails is an expected failure; one that passes fails the run (the list is
//! stale); an id that names no case is a configuration error.

use crate::results::{CaseResult, Outcome};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub case: String,
    #[serde(default)]
    pub requirement: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    #[allow(dead_code)]
    registry: Option<String>,
    expected_failures: Vec<Entry>,
}

#[derive(Debug, Clone, Default)]
pub struct ExpectedFailures {
    by_case: HashMap<String, Entry>,
}

impl ExpectedFailures {
    /// `known_cases`: every case id with the requirement ids it checks.
    pub fn load(
        path: &Path,
        known_cases: &[(&str, &[String])],
    ) -> Result<ExpectedFailures, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("expected-failure file {}: {e}", path.display()))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| format!("expected-failure file {}: {e}", path.display()))?;
        let mut by_case = HashMap::new();
        for e in file.expected_failures {
            let Some((_, reqs)) = known_cases.iter().find(|(id, _)| *id == e.case) else {
                return Err(format!(
                    "expected-failure file {}: `{}` is not a known case id",
                    path.display(),
                    e.case
                ));
            };
            // A requirement the case does not check means the entry was written for another
            // case (or the case changed): the list would excuse the wrong thing.
            if let Some(r) = &e.requirement {
                if !reqs.iter().any(|x| x == r) {
                    return Err(format!(
                        "expected-failure file {}: `{}` does not check {r} (it checks {})",
                        path.display(),
                        e.case,
                        reqs.join(", ")
                    ));
                }
            }
            if e.reason.trim().is_empty() {
                return Err(format!(
                    "expected-failure file {}: `{}` has no reason",
                    path.display(),
                    e.case
                ));
            }
            if by_case.insert(e.case.clone(), e.clone()).is_some() {
                return Err(format!(
                    "expected-failure file {}: `{}` is listed twice",
                    path.display(),
                    e.case
                ));
            }
        }
        Ok(ExpectedFailures { by_case })
    }

    pub fn is_empty(&self) -> bool {
        self.by_case.is_empty()
    }

    pub fn apply(&self, r: &mut CaseResult) {
        let Some(entry) = self.by_case.get(&r.id) else {
            return;
        };
        match r.outcome {
            Outcome::Fail | Outcome::Error => {
                r.outcome = Outcome::ExpectedFailure;
                r.message = Some(format!(
                    "expected failure ({}): {}",
                    entry.reason,
                    r.message.as_deref().unwrap_or("")
                ));
            }
            Outcome::Pass => {
                r.outcome = Outcome::UnexpectedPass;
                r.message = Some(format!(
                    "listed as an expected failure ({}) but passed: remove it from the list",
                    entry.reason
                ));
            }
            _ => {}
        }
    }
}
