//! JUnit XML (junit-report): one testsuite per workflow, one testcase per case, classname =
//! workflow, real `<failure>`/`<error>`/`<skipped>` elements, requirements in system-out.

use super::Collected;
use crate::engine::{CaseResult, Event, Outcome, Reporter};
use junit_report::Duration;
use junit_report::{ReportBuilder, TestCase, TestSuiteBuilder};
use std::path::PathBuf;

pub struct JunitReport {
    path: PathBuf,
    data: Collected,
}

impl JunitReport {
    pub fn new(path: PathBuf) -> Self {
        JunitReport {
            path,
            data: Collected::default(),
        }
    }
}

fn system_out(r: &CaseResult) -> String {
    let mut s = format!("{} [{}]\n", r.title, r.level.as_str());
    for q in &r.requirements {
        s.push_str(&format!("{} {}: {}\n", q.id, q.level, q.statement));
    }
    if let Some(m) = &r.message {
        s.push_str(&format!("\n{}: {m}\n", r.outcome.as_str()));
    }
    if matches!(
        r.outcome,
        Outcome::Fail | Outcome::Error | Outcome::UnexpectedPass
    ) {
        s.push_str("\nTranscript:\n");
        for ex in &r.transcript {
            s.push_str(&format!(
                "> {} {}\n< {}\n",
                ex.method,
                ex.url,
                ex.status
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| ex.error.clone().unwrap_or_default())
            ));
        }
        s.push_str("\nReproduce:\n");
        for ex in &r.transcript {
            s.push_str(&super::curl_line(ex));
            s.push('\n');
        }
    }
    s
}

fn testcase(r: &CaseResult) -> TestCase {
    let d = Duration::milliseconds(r.duration_ms as i64);
    let msg = r.message.clone().unwrap_or_default();
    let mut tc = match r.outcome {
        Outcome::Pass | Outcome::ExpectedFailure => TestCase::success(&r.id, d),
        Outcome::Fail => TestCase::failure(&r.id, d, r.level.as_str(), &msg),
        Outcome::UnexpectedPass => TestCase::failure(&r.id, d, "unexpected-pass", &msg),
        Outcome::Error => TestCase::error(&r.id, d, "setup", &msg),
        Outcome::Skip | Outcome::Unsupported => TestCase::skipped(&r.id),
    };
    tc.set_classname(r.workflow.as_str());
    tc.set_filepath(&r.file.display().to_string());
    tc.set_system_out(&system_out(r));
    tc
}

impl Reporter for JunitReport {
    fn event(&mut self, ev: &Event) {
        self.data.take(ev);
    }
    fn finish(&mut self) -> std::io::Result<()> {
        let mut report = ReportBuilder::new();
        for w in crate::spec::Workflow::ALL {
            let cases: Vec<TestCase> = self
                .data
                .results
                .iter()
                .filter(|r| r.workflow == w)
                .map(testcase)
                .collect();
            if cases.is_empty() {
                continue;
            }
            let suite = TestSuiteBuilder::new(&format!("oci-conformance.{}", w.as_str()))
                .add_testcases(cases)
                .build();
            report.add_testsuite(suite);
        }
        let mut out = Vec::new();
        report
            .build()
            .write_xml(&mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        super::write_file(&self.path, &out)
    }
}
