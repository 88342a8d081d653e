//! JUnit XML (junit-report): one testsuite per workflow, one testcase per case, classname =
//! workflow, real `<failure>`/`<error>`/`<skipped>` elements, requirements in system-out.

use super::Collected;
use crate::results::{CaseResult, Event, Outcome, Reporter};
use junit_report::Duration;
use junit_report::{ReportBuilder, TestCase, TestResult, TestSuiteBuilder};
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

/// XML 1.0 cannot carry most control characters even in CDATA, and `]]>` would end a CDATA
/// section early; transcripts hold whatever a (possibly hostile) registry sent.
pub(crate) fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            // C1 controls and DEL are legal XML but still terminal escapes when a CI log
            // prints the message.
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect::<String>()
        .replace("]]>", "]]\u{200B}>")
}

/// Requirement ids and statements: junit-report has no per-testcase properties, so they go
/// first in system-out, one `R-… LEVEL: statement` line each (CI servers show system-out).
fn system_out(r: &CaseResult) -> String {
    let mut s = format!("{} [{}]\n", r.title, r.level.as_str());
    for q in &r.requirements {
        s.push_str(&format!("{} {}: {}\n", q.id, q.level, q.statement));
    }
    if let Some(m) = &r.message {
        s.push_str(&format!("\n{}: {m}\n", r.outcome.as_str()));
    }
    xml_safe(&s)
}

/// The body of a `<failure>`/`<error>`: the message, the transcript and a curl reproducer.
fn trace(r: &CaseResult) -> String {
    let mut s = String::new();
    if let Some(m) = &r.message {
        s.push_str(m);
        s.push_str("\n\n");
    }
    s.push_str("Transcript:\n");
    for ex in &r.transcript {
        s.push_str(&format!("> {} {}\n", ex.method, ex.url));
        for (k, v) in &ex.request_headers {
            s.push_str(&format!("> {k}: {v}\n"));
        }
        match (ex.status, &ex.error) {
            (Some(c), _) => s.push_str(&format!("< {c}\n")),
            (None, Some(e)) => s.push_str(&format!("< (no response: {e})\n")),
            (None, None) => s.push_str("< (no response)\n"),
        }
        for (k, v) in &ex.response_headers {
            s.push_str(&format!("< {k}: {v}\n"));
        }
        if let Some(b) = &ex.response_body {
            s.push_str(&format!("<\n{b}\n"));
        }
        for n in &ex.notes {
            s.push_str(&format!("* {n}\n"));
        }
    }
    s.push_str("\nReproduce:\n");
    s.push_str(&super::curl_script(&r.transcript));
    xml_safe(&s)
}

fn testcase(r: &CaseResult) -> TestCase {
    let d = Duration::milliseconds(r.duration_ms as i64);
    let msg = xml_safe(&r.message.clone().unwrap_or_default());
    let mut tc = match r.outcome {
        Outcome::Pass | Outcome::ExpectedFailure => TestCase::success(&r.id, d),
        Outcome::Fail => TestCase::failure(&r.id, d, r.level.as_str(), &msg),
        Outcome::UnexpectedPass => TestCase::failure(&r.id, d, "unexpected-pass", &msg),
        Outcome::Error => TestCase::error(&r.id, d, "setup", &msg),
        Outcome::Skip | Outcome::Unsupported => {
            let why = if msg.is_empty() {
                r.outcome.as_str().to_string()
            } else {
                msg.clone()
            };
            TestCase::skipped_with_cause(&r.id, r.outcome.as_str(), &why)
        }
    };
    match &mut tc.result {
        TestResult::Failure { cause, .. } | TestResult::Error { cause, .. } => {
            *cause = Some(trace(r))
        }
        _ => {}
    }
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
            let mut suite = TestSuiteBuilder::new(&format!("oci-conformance.{}", w.as_str()));
            suite.add_testcases(cases);
            if let Some(i) = &self.data.info {
                // junit-report has no suite properties: what ran goes in the suite's system-out.
                suite.set_system_out(&xml_safe(&super::provenance(i)));
            }
            let suite = suite.build();
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
