//! Requirement → cases, and the registry-observable requirements no case checks.

use crate::spec::Suite;
use std::collections::BTreeMap;

pub struct Coverage {
    pub by_requirement: BTreeMap<String, Vec<String>>,
    pub uncovered: Vec<String>,
}

impl Coverage {
    pub fn of(suite: &Suite) -> Coverage {
        let mut by_requirement: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, c) in &suite.cases {
            for r in &c.requirements {
                by_requirement
                    .entry(r.clone())
                    .or_default()
                    .push(c.id.clone());
            }
        }
        let uncovered = suite
            .catalog
            .requirements
            .iter()
            .filter(|r| r.observable && !by_requirement.contains_key(&r.id))
            .map(|r| r.id.clone())
            .collect();
        Coverage {
            by_requirement,
            uncovered,
        }
    }

    pub fn render(&self, suite: &Suite) -> String {
        let mut s = String::new();
        for r in &suite.catalog.requirements {
            let cases = self.by_requirement.get(&r.id);
            let mark = match (cases, r.observable) {
                (Some(_), _) => "covered",
                (None, true) => "MISSING",
                (None, false) => "client-side",
            };
            s.push_str(&format!(
                "{} [{}] {}: {}\n",
                r.id, r.level, mark, r.statement
            ));
            for c in cases.into_iter().flatten() {
                s.push_str(&format!("    {c}\n"));
            }
        }
        // The spec's own rows (R-) and the auth conventions (AUTH-) are counted apart: the spec
        // figure is the one comparable with other suites.
        for (label, spec_rows) in [("spec requirements", true), ("auth conventions", false)] {
            let rows: Vec<_> = suite
                .catalog
                .requirements
                .iter()
                .filter(|r| r.observable && r.id.starts_with("R-") == spec_rows)
                .collect();
            let covered = rows
                .iter()
                .filter(|r| self.by_requirement.contains_key(&r.id))
                .count();
            s.push_str(&format!(
                "\n{label}: {covered} of {} registry-observable have a case",
                rows.len()
            ));
        }
        s.push_str(&format!("\n{} cases in all\n", suite.cases.len()));
        if !self.uncovered.is_empty() {
            s.push_str(&format!("without a case: {}\n", self.uncovered.join(", ")));
        }
        s
    }
}
