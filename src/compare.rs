//! `compare BASE.json NEW.json`: what changed between two runs, for a release gate. Each case id is
//! classified once ([`Change`]); the text, Markdown and JUnit renderings are views of that one list.

use crate::config::exit;
use crate::report::json::{CaseRecord, Results};
use crate::results::Outcome;
use crate::spec::{Level, Workflow};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const EXIT_CODES: &str = "Exit codes: 0 no regression; 1 at least one regression (a case that \
passed in BASE fails or errors in NEW); 2 a report is missing or not a results.json.";

#[derive(Debug, Args, Clone)]
#[command(after_help = EXIT_CODES)]
pub struct CompareArgs {
    /// results.json of the earlier run (the baseline, e.g. the last release)
    pub base: PathBuf,
    /// results.json of the run to judge
    pub new: PathBuf,
    /// What goes to stdout
    #[arg(long, env = "OCI_CONFORMANCE_COMPARE_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the comparison as Markdown (a pull-request comment) to this file
    #[arg(long, env = "OCI_CONFORMANCE_COMPARE_MARKDOWN")]
    pub markdown: Option<PathBuf>,
    /// Also write the comparison as JUnit XML to this file (one testcase per case; regressions
    /// are failures, removed cases skipped)
    #[arg(long, env = "OCI_CONFORMANCE_COMPARE_JUNIT")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Junit,
}

/// How one case moved from BASE to NEW. The order is the order of the report's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Passed in BASE; fails or errors in NEW. The only change that fails `compare`.
    Regression,
    /// Failed or errored in BASE; passes in NEW.
    Fix,
    /// Ran in BASE; NEW answered "not supported" (an optional feature went away).
    NewlyUnsupported,
    /// Unsupported in BASE; runs in NEW (passing or not).
    NewlySupported,
    /// Any other outcome change (e.g. skip → fail, fail → error, pass → skip).
    Other,
    /// Only in NEW (a case added to the case set, or selected only there).
    Added,
    /// Only in BASE.
    Removed,
    Unchanged,
}

impl Change {
    pub const SECTIONS: [Change; 7] = [
        Change::Regression,
        Change::Fix,
        Change::NewlyUnsupported,
        Change::NewlySupported,
        Change::Other,
        Change::Added,
        Change::Removed,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Change::Regression => "Regressions",
            Change::Fix => "Fixes",
            Change::NewlyUnsupported => "Newly unsupported",
            Change::NewlySupported => "Newly supported",
            Change::Other => "Other changes",
            Change::Added => "New cases",
            Change::Removed => "Removed cases",
            Change::Unchanged => "Unchanged",
        }
    }

    /// The noun for the count line, singular and plural.
    fn noun(self) -> (&'static str, &'static str) {
        match self {
            Change::Regression => ("regression", "regressions"),
            Change::Fix => ("fix", "fixes"),
            Change::NewlyUnsupported => ("newly unsupported", "newly unsupported"),
            Change::NewlySupported => ("newly supported", "newly supported"),
            Change::Other => ("other change", "other changes"),
            Change::Added => ("new case", "new cases"),
            Change::Removed => ("removed case", "removed cases"),
            Change::Unchanged => ("unchanged", "unchanged"),
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Change::Regression => "regression",
            Change::Fix => "fix",
            Change::NewlyUnsupported => "newly-unsupported",
            Change::NewlySupported => "newly-supported",
            Change::Other => "other",
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Unchanged => "unchanged",
        }
    }
}

fn passing(o: Outcome) -> bool {
    matches!(o, Outcome::Pass | Outcome::UnexpectedPass)
}

fn failing(o: Outcome) -> bool {
    matches!(o, Outcome::Fail | Outcome::Error | Outcome::ExpectedFailure)
}

/// Classifies one case. An expected failure is still a failure (the registry's behaviour is
/// what is compared, not the gate's list), and pass ↔ unexpected-pass or fail ↔ expected-failure
/// is no change of behaviour.
pub fn classify(base: Option<Outcome>, new: Option<Outcome>) -> Change {
    let (b, n) = match (base, new) {
        (None, None) => return Change::Unchanged,
        (None, Some(_)) => return Change::Added,
        (Some(_), None) => return Change::Removed,
        (Some(b), Some(n)) => (b, n),
    };
    let ran = |o| passing(o) || failing(o);
    let failed = |o| matches!(o, Outcome::Fail | Outcome::ExpectedFailure);
    if b == n || (passing(b) && passing(n)) || (failed(b) && failed(n)) {
        Change::Unchanged
    } else if passing(b) && failing(n) {
        Change::Regression
    } else if failing(b) && passing(n) {
        Change::Fix
    } else if ran(b) && n == Outcome::Unsupported {
        Change::NewlyUnsupported
    } else if b == Outcome::Unsupported && ran(n) {
        Change::NewlySupported
    } else {
        Change::Other
    }
}

/// One case of the union of both reports.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub workflow: Workflow,
    pub level: Level,
    pub requirements: Vec<String>,
    pub base: Option<Outcome>,
    pub new: Option<Outcome>,
    /// NEW's message (BASE's for a removed case).
    pub message: Option<String>,
    pub change: Change,
}

/// Where a report came from, for the header.
#[derive(Debug, Clone)]
pub struct Side {
    pub path: PathBuf,
    pub version: String,
    pub case_set: String,
    pub target: String,
}

impl Side {
    fn of(path: &Path, r: &Results) -> Side {
        Side {
            path: path.to_path_buf(),
            version: r.tool.version.clone(),
            case_set: r
                .run
                .case_set
                .as_ref()
                .map(|c| format!("{} {}", c.source, short(&c.digest)))
                .unwrap_or_else(|| "unrecorded".into()),
            target: r.run.target.clone(),
        }
    }

    fn line(&self) -> String {
        format!(
            "{} (oci-conformance {}, case set {}, target {})",
            self.path.display(),
            if self.version.is_empty() {
                "?"
            } else {
                &self.version
            },
            self.case_set,
            self.target
        )
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub base: Side,
    pub new: Side,
    /// Sorted by id.
    pub entries: Vec<Entry>,
    /// The two reports ran different case sets (digests differ).
    pub different_case_sets: bool,
}

impl Comparison {
    pub fn of(base_path: &Path, base: &Results, new_path: &Path, new: &Results) -> Comparison {
        let mut by_id: BTreeMap<&str, (Option<&CaseRecord>, Option<&CaseRecord>)> = BTreeMap::new();
        for c in &base.cases {
            by_id.entry(&c.id).or_default().0 = Some(c);
        }
        for c in &new.cases {
            by_id.entry(&c.id).or_default().1 = Some(c);
        }
        let entries = by_id
            .into_iter()
            .map(|(id, (b, n))| {
                let shown = n.or(b).expect("one side has the case");
                Entry {
                    id: id.to_string(),
                    workflow: shown.workflow,
                    level: shown.level,
                    requirements: shown.requirements.iter().map(|r| r.id.clone()).collect(),
                    base: b.map(|c| c.outcome),
                    new: n.map(|c| c.outcome),
                    message: shown.message.clone(),
                    change: classify(b.map(|c| c.outcome), n.map(|c| c.outcome)),
                }
            })
            .collect();
        let digest = |r: &Results| r.run.case_set.as_ref().map(|c| c.digest.clone());
        Comparison {
            base: Side::of(base_path, base),
            new: Side::of(new_path, new),
            entries,
            different_case_sets: digest(base) != digest(new),
        }
    }

    pub fn count(&self, change: Change) -> usize {
        self.entries.iter().filter(|e| e.change == change).count()
    }

    pub fn regressions(&self) -> usize {
        self.count(Change::Regression)
    }

    /// `N regressions, N fixes, …, N unchanged`: the last line of the text output.
    pub fn summary_line(&self) -> String {
        Change::SECTIONS
            .iter()
            .chain([Change::Unchanged].iter())
            .map(|&c| {
                let n = self.count(c);
                let (one, many) = c.noun();
                format!("{n} {}", if n == 1 { one } else { many })
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "base: {}", self.base.line());
        let _ = writeln!(o, "new:  {}", self.new.line());
        if self.different_case_sets {
            o.push_str("note: the two runs used different case sets\n");
        }
        for c in Change::SECTIONS {
            let rows: Vec<&Entry> = self.entries.iter().filter(|e| e.change == c).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(o, "\n{} ({}):", c.title(), rows.len());
            for e in rows {
                let _ = write!(
                    o,
                    "  {} [{} {}] {} → {}",
                    e.id,
                    e.level.as_str(),
                    e.requirements.join(","),
                    outcome_str(e.base),
                    outcome_str(e.new)
                );
                if let Some(m) = e.message.as_deref().filter(|_| c != Change::Fix) {
                    let _ = write!(o, ": {}", one_line(m, 200));
                }
                o.push('\n');
            }
        }
        let _ = writeln!(o, "\n{}", self.summary_line());
        o
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let verdict = match self.regressions() {
            0 => "no regressions".to_string(),
            1 => "**1 regression**".to_string(),
            n => format!("**{n} regressions**"),
        };
        let _ = writeln!(o, "### OCI conformance: {verdict}\n");
        let _ = writeln!(o, "{}\n", md_escape(&self.summary_line()));
        let _ = writeln!(o, "| | report | tool | case set | target |");
        let _ = writeln!(o, "|---|---|---|---|---|");
        for (name, s) in [("base", &self.base), ("new", &self.new)] {
            let _ = writeln!(
                o,
                "| {name} | `{}` | {} | `{}` | `{}` |",
                md_code(&s.path.display().to_string()),
                md_escape(&s.version),
                md_code(&s.case_set),
                md_code(&s.target)
            );
        }
        if self.different_case_sets {
            o.push_str("\nThe two runs used different case sets.\n");
        }
        for c in Change::SECTIONS {
            let rows: Vec<&Entry> = self.entries.iter().filter(|e| e.change == c).collect();
            if rows.is_empty() {
                continue;
            }
            // Regressions stay open; the rest fold away so the comment stays short.
            let open = if c == Change::Regression { " open" } else { "" };
            let _ = writeln!(
                o,
                "\n<details{open}><summary><b>{}</b> ({})</summary>\n",
                c.title(),
                rows.len()
            );
            let _ = writeln!(o, "| case | level | requirements | base | new | message |");
            let _ = writeln!(o, "|---|---|---|---|---|---|");
            for e in rows {
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    md_code(&e.id),
                    e.level.as_str(),
                    md_escape(&e.requirements.join(", ")),
                    outcome_str(e.base),
                    outcome_str(e.new),
                    md_escape(&one_line(e.message.as_deref().unwrap_or(""), 300))
                );
            }
            o.push_str("\n</details>\n");
        }
        o
    }

    pub fn junit(&self) -> String {
        use crate::report::junit::xml_safe;
        use junit_report::{Duration, ReportBuilder, TestCase, TestSuiteBuilder};
        let cases: Vec<TestCase> = self
            .entries
            .iter()
            .map(|e| {
                let d = Duration::ZERO;
                let what = format!("{} → {}", outcome_str(e.base), outcome_str(e.new));
                let message = match &e.message {
                    Some(m) => format!("{what}: {}", one_line(m, 500)),
                    None => what.clone(),
                };
                let mut tc = match e.change {
                    Change::Regression => {
                        TestCase::failure(&e.id, d, "regression", &xml_safe(&message))
                    }
                    Change::Removed => {
                        TestCase::skipped_with_cause(&e.id, "removed", "only in BASE")
                    }
                    _ => TestCase::success(&e.id, d),
                };
                tc.set_classname(e.change.slug());
                tc.set_system_out(&xml_safe(&format!(
                    "{} [{} {}] {what}\n",
                    e.change.title(),
                    e.level.as_str(),
                    e.requirements.join(",")
                )));
                tc
            })
            .collect();
        let mut suite = TestSuiteBuilder::new("oci-conformance.compare");
        suite.add_testcases(cases);
        suite.set_system_out(&xml_safe(&format!(
            "base: {}\nnew: {}\n{}\n",
            self.base.line(),
            self.new.line(),
            self.summary_line()
        )));
        let mut out = Vec::new();
        ReportBuilder::new()
            .add_testsuite(suite.build())
            .build()
            .write_xml(&mut out)
            .expect("writing XML to memory");
        String::from_utf8(out).expect("junit-report writes UTF-8")
    }
}

fn outcome_str(o: Option<Outcome>) -> &'static str {
    o.map(Outcome::as_str).unwrap_or("absent")
}

/// First line of a message, cut at `max` characters.
fn one_line(m: &str, max: usize) -> String {
    let line: String = m
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut s = crate::report::shorten(&line, max);
    if m.lines().nth(1).is_some() && !s.ends_with('…') {
        s.push('…');
    }
    s
}

/// Text that Markdown (and the HTML GitHub allows in it) shows as-is inside a table cell.
fn md_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '~' => {
                o.push('\\');
                o.push(c)
            }
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Text inside a `code` span in a table cell: backticks and pipes cannot be escaped there.
fn md_code(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

pub fn compare_command(args: &CompareArgs) -> i32 {
    let load = |p: &Path| Results::load(p).map_err(|e| e.to_string());
    let (base, new) = match (load(&args.base), load(&args.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("oci-conformance: {e}");
            return exit::SETUP;
        }
    };
    let cmp = Comparison::of(&args.base, &base, &args.new, &new);
    for (path, text) in [(&args.markdown, cmp.markdown()), (&args.junit, cmp.junit())]
        .into_iter()
        .filter_map(|(p, t)| p.as_ref().map(|p| (p, t)))
    {
        if let Err(e) = crate::report::write_file(path, text.as_bytes()) {
            eprintln!("oci-conformance: cannot write {}: {e}", path.display());
            return exit::SETUP;
        }
    }
    print!(
        "{}",
        match args.format {
            Format::Text => cmp.text(),
            Format::Markdown => cmp.markdown(),
            Format::Junit => cmp.junit(),
        }
    );
    if cmp.regressions() > 0 {
        exit::FAILURES
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    #[test]
    fn classification_covers_both_sides_of_every_move() {
        let c = |b, n| classify(Some(b), Some(n));
        assert_eq!(c(Pass, Fail), Change::Regression);
        assert_eq!(c(Pass, Error), Change::Regression);
        assert_eq!(c(Pass, ExpectedFailure), Change::Regression);
        assert_eq!(c(UnexpectedPass, Fail), Change::Regression);
        assert_eq!(c(Fail, Pass), Change::Fix);
        assert_eq!(c(Error, Pass), Change::Fix);
        assert_eq!(c(ExpectedFailure, UnexpectedPass), Change::Fix);
        assert_eq!(c(Pass, Unsupported), Change::NewlyUnsupported);
        assert_eq!(c(Fail, Unsupported), Change::NewlyUnsupported);
        assert_eq!(c(Unsupported, Pass), Change::NewlySupported);
        assert_eq!(c(Unsupported, Fail), Change::NewlySupported);
        assert_eq!(c(Skip, Fail), Change::Other);
        assert_eq!(c(Pass, Skip), Change::Other);
        assert_eq!(c(Fail, Error), Change::Other);
        assert_eq!(c(Pass, Pass), Change::Unchanged);
        assert_eq!(c(Pass, UnexpectedPass), Change::Unchanged);
        assert_eq!(c(Fail, ExpectedFailure), Change::Unchanged);
        assert_eq!(c(Unsupported, Unsupported), Change::Unchanged);
        assert_eq!(classify(None, Some(Fail)), Change::Added);
        assert_eq!(classify(Some(Pass), None), Change::Removed);
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md_escape("a|b<script>"), "a\\|b\\<script\\>");
        assert_eq!(md_code("x`|y"), "x'¦y");
        assert_eq!(one_line("first\nsecond", 100), "first…");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
