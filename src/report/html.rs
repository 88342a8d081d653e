//! One self-contained HTML file: summary first, then every case with its requirement
//! statements; failures carry the full transcript and a curl sequence that reproduces them.

use super::Collected;
use crate::results::{CaseResult, Event, Outcome, Reporter};
use crate::spec::Workflow;
use std::fmt::Write;
use std::path::PathBuf;

pub struct HtmlReport {
    path: PathBuf,
    data: Collected,
}

impl HtmlReport {
    pub fn new(path: PathBuf) -> Self {
        HtmlReport {
            path,
            data: Collected::default(),
        }
    }
}

/// HTML text, with control characters escaped as [`super::printable`] shows them.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Transcripts are preformatted text: keep their line breaks and tabs.
            '\n' | '\t' => o.push(c),
            // Control bytes from the registry: shown, never passed on (`cat report.html`
            // in a CI log must not reach the terminal either).
            c if c.is_control() => o.push_str(&super::printable(c.encode_utf8(&mut [0; 4]))),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
.pass{color:#176f2c}.fail,.error,.unexpected-pass{color:#b00020;font-weight:bold}
.skip,.unsupported,.expected-failure{color:#7a6400}
details{border:1px solid #ddd;margin:.3em 0;padding:.3em .6em;border-radius:4px}
details.fail,details.error,details.unexpected-pass{border-color:#b00020}
summary{cursor:pointer}pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap;font-size:.85em}
.req{font-size:.9em;color:#444}code{font-size:.9em}";

fn outcomes() -> [Outcome; 7] {
    [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Error,
        Outcome::Unsupported,
        Outcome::Skip,
        Outcome::ExpectedFailure,
        Outcome::UnexpectedPass,
    ]
}

fn case_html(out: &mut String, r: &CaseResult) {
    let cls = r.outcome.as_str();
    let open = matches!(
        r.outcome,
        Outcome::Fail | Outcome::Error | Outcome::UnexpectedPass
    );
    let _ = write!(
        out,
        "<details class=\"{cls}\" id=\"{id}\"{open}><summary><span class=\"{cls}\">{cls}</span> \
         <code>{id}</code> [{lvl}] {title}</summary>",
        id = esc(&r.id),
        open = if open { " open" } else { "" },
        lvl = r.level.as_str(),
        title = esc(&r.title)
    );
    out.push_str("<ul class=\"req\">");
    for q in &r.requirements {
        let _ = write!(
            out,
            "<li><b>{}</b> {}: {}</li>",
            esc(&q.id),
            esc(&q.level),
            esc(&q.statement)
        );
    }
    out.push_str("</ul>");
    if let Some(m) = &r.message {
        let _ = write!(out, "<p>{}</p>", esc(m));
    }
    let _ = write!(
        out,
        "<p class=\"req\">{} ms · {} · repositories: {}</p>",
        r.duration_ms,
        esc(&r.file.display().to_string()),
        esc(&r.repositories.join(", "))
    );
    if open && !r.transcript.is_empty() {
        out.push_str("<h4>Transcript</h4><pre>");
        for ex in &r.transcript {
            let mut t = format!("> {} {}\n", ex.method, ex.url);
            for (k, v) in &ex.request_headers {
                t.push_str(&format!("> {k}: {v}\n"));
            }
            if let Some(b) = &ex.request_body {
                t.push_str(&format!(">\n> {b}\n"));
            }
            match ex.status {
                Some(s) => t.push_str(&format!("< {s}\n")),
                None => t.push_str(&format!(
                    "< (no answer: {})\n",
                    ex.error.as_deref().unwrap_or("?")
                )),
            }
            for (k, v) in &ex.response_headers {
                t.push_str(&format!("< {k}: {v}\n"));
            }
            if let Some(b) = &ex.response_body {
                t.push_str(&format!("<\n< {b}\n"));
            }
            if let (Some(_), Some(e)) = (ex.status, &ex.error) {
                t.push_str(&format!("! {e}\n"));
            }
            for n in &ex.notes {
                t.push_str(&format!("* {n}\n"));
            }
            t.push('\n');
            out.push_str(&esc(&t));
        }
        out.push_str("</pre><h4>Reproduce</h4><pre>");
        out.push_str(&esc(&super::curl_script(&r.transcript)));
        out.push_str("</pre>");
    }
    out.push_str("</details>\n");
}

impl Reporter for HtmlReport {
    fn event(&mut self, ev: &Event) {
        self.data.take(ev);
    }
    fn finish(&mut self) -> std::io::Result<()> {
        let mut o = String::new();
        let _ = write!(
            o,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>OCI Distribution conformance report</title><style>{STYLE}</style></head><body>\
             <h1>OCI Distribution conformance report</h1>"
        );
        if let Some(i) = &self.data.info {
            let _ = write!(
                o,
                "<p>Target <code>{}</code>{} · spec version {} · seed {} · run {}</p>\
                 <p>oci-conformance {} · case set <code>{}</code> ({} cases, <code>{}</code>)</p>",
                esc(&i.target),
                if i.embedded {
                    " (embedded reference server)"
                } else {
                    ""
                },
                esc(&i.spec_version),
                i.seed,
                esc(&i.run_id),
                env!("CARGO_PKG_VERSION"),
                esc(&i.case_set.source),
                i.case_set.cases,
                esc(&i.case_set.digest),
            );
        }
        if let Some(s) = &self.data.summary {
            let _ = write!(
                o,
                "<p><b>{}</b> in {:.2}s</p>",
                esc(&s.line()),
                s.duration_ms as f64 / 1000.0
            );
        }
        o.push_str("<table><tr><th>workflow</th>");
        for oc in outcomes() {
            let _ = write!(o, "<th class=\"{0}\">{0}</th>", oc.as_str());
        }
        o.push_str("</tr>");
        for w in Workflow::ALL {
            let _ = write!(o, "<tr><td>{}</td>", w.as_str());
            for oc in outcomes() {
                let n = self
                    .data
                    .results
                    .iter()
                    .filter(|r| r.workflow == w && r.outcome == oc)
                    .count();
                let _ = write!(o, "<td>{n}</td>");
            }
            o.push_str("</tr>");
        }
        o.push_str("</table>");
        let bad: Vec<&CaseResult> = self
            .data
            .results
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    Outcome::Fail | Outcome::Error | Outcome::UnexpectedPass
                )
            })
            .collect();
        if !bad.is_empty() {
            o.push_str("<h2>Failures</h2><ul>");
            for r in &bad {
                let _ = write!(
                    o,
                    "<li><a href=\"#{0}\"><code>{0}</code></a> [{1}] {2}</li>",
                    esc(&r.id),
                    r.level.as_str(),
                    esc(r.message.as_deref().unwrap_or(""))
                );
            }
            o.push_str("</ul>");
        }
        for w in Workflow::ALL {
            let cases: Vec<&CaseResult> = self
                .data
                .results
                .iter()
                .filter(|r| r.workflow == w)
                .collect();
            if cases.is_empty() {
                continue;
            }
            let _ = write!(o, "<h2>{}</h2>", w.as_str());
            for r in cases {
                case_html(&mut o, r);
            }
        }
        o.push_str("</body></html>\n");
        super::write_file(&self.path, o.as_bytes())
    }
}
