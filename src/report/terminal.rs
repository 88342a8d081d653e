//! Terminal: a progress bar on a TTY, each failure as it happens, a summary, and last the
//! plain line `N passed, N failed, N skipped`.

use super::printable;
use crate::results::{CaseResult, Event, Outcome, Reporter};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Terminal {
    bar: Option<ProgressBar>,
    want_bar: bool,
    strict: bool,
    failures: Vec<CaseResult>,
    /// Cases not run (the run stopped early, or a cause the preflight found): how many, for
    /// each reason (one line per reason).
    not_run: Vec<(usize, String)>,
}

impl Terminal {
    pub fn new(progress: bool, strict: bool) -> Self {
        Terminal {
            bar: None,
            want_bar: progress && std::io::stderr().is_terminal(),
            strict,
            failures: Vec::new(),
            not_run: Vec::new(),
        }
    }

    /// Prints one line; everything in it is made [`printable`] first, as failure messages quote
    /// what the registry sent.
    fn say(&self, line: String) {
        let line = printable(&line);
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Reporter for Terminal {
    fn event(&mut self, ev: &Event) {
        match ev {
            Event::RunStarted(info) => {
                eprintln!(
                    "oci-conformance: {} of {} cases against {} (spec {}, seed {}, run {})",
                    info.selected,
                    info.total,
                    printable(&info.target),
                    info.spec_version,
                    info.seed,
                    info.run_id
                );
                if self.want_bar {
                    let bar = ProgressBar::new(info.selected as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                            .expect("static template"),
                    );
                    self.bar = Some(bar);
                }
            }
            Event::CaseFinished(r) => {
                if r.outcome == Outcome::Skip {
                    return;
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                let not_run = r
                    .message
                    .as_deref()
                    .and_then(|m| m.strip_prefix(crate::results::NOT_RUN))
                    .and_then(|m| m.strip_prefix(": "));
                if let (Outcome::Error, Some(why)) = (r.outcome, not_run) {
                    match self.not_run.iter_mut().find(|(_, w)| w == why) {
                        Some((n, _)) => *n += 1,
                        None => self.not_run.push((1, why.to_string())),
                    }
                    return;
                }
                if matches!(
                    r.outcome,
                    Outcome::Fail | Outcome::Error | Outcome::UnexpectedPass
                ) {
                    let fatal = r.is_failure(self.strict);
                    self.say(format!(
                        "{} {} [{}] {}: {}",
                        if fatal { "FAIL" } else { "WARN" },
                        r.id,
                        r.level.as_str(),
                        r.requirements
                            .iter()
                            .map(|q| q.id.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        r.message.as_deref().unwrap_or("")
                    ));
                    self.failures.push((**r).clone());
                }
            }
            Event::RunFinished(s) => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                for (n, why) in &self.not_run {
                    eprintln!(
                        "oci-conformance: {n} cases not run (reported as errors): {}",
                        printable(why)
                    );
                }
                eprintln!(
                    "oci-conformance: {} passed, {} failed ({} of them SHOULD/MAY), {} setup errors, \
                     {} unsupported, {} skipped, {} expected failures, {} unexpected passes in {:.2}s",
                    s.passed,
                    s.failed,
                    s.soft_failures,
                    s.errors,
                    s.unsupported,
                    s.skipped,
                    s.expected_failures,
                    s.unexpected_passes,
                    s.duration_ms as f64 / 1000.0
                );
                if s.retried_requests > 0 {
                    eprintln!(
                        "oci-conformance: the registry rate-limited the run: {} requests were sent \
                         again after 429, or 503 with Retry-After",
                        s.retried_requests
                    );
                }
                if s.cleanup.created > 0 {
                    eprintln!("oci-conformance: {}", printable(&s.cleanup.line()));
                }
                // The closing line, alone, on stdout: CI log readers key on it.
                println!("{}", s.line());
            }
        }
    }
}
