//! Reporters: independent consumers of the engine's event stream.

pub mod html;
pub mod json;
pub mod junit;
pub mod terminal;

use crate::engine::{CaseResult, Event, RunInfo, Summary};

/// What the file reporters keep from the stream: they write once, at the end.
#[derive(Default)]
pub(crate) struct Collected {
    pub info: Option<RunInfo>,
    pub results: Vec<CaseResult>,
    pub summary: Option<Summary>,
}

impl Collected {
    pub fn take(&mut self, ev: &Event) {
        match ev {
            Event::RunStarted(i) => self.info = Some(i.clone()),
            Event::CaseStarted { .. } => {}
            Event::CaseFinished(r) => self.results.push((**r).clone()),
            Event::RunFinished(s) => {
                self.summary = Some(s.clone());
                // Reports list cases in a stable order whatever order they finished in.
                self.results.sort_by(|a, b| a.id.cmp(&b.id));
            }
        }
    }
}

pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename: a reader never sees half a report.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A shell-quoted `curl` line reproducing one exchange; credentials are placeholders.
pub fn curl_line(ex: &crate::http::Exchange) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let url = ex.url.split(" (redirected").next().unwrap_or(&ex.url);
    let mut parts = vec!["curl -sS -i".to_string()];
    if ex.method == "HEAD" {
        parts.push("-I".into());
    } else {
        parts.push(format!("-X {}", ex.method));
    }
    for (k, v) in &ex.request_headers {
        if k.eq_ignore_ascii_case("authorization") {
            parts.push("-u \"$OCI_USERNAME:$OCI_PASSWORD\"".into());
        } else {
            parts.push(format!("-H {}", q(&format!("{k}: {v}"))));
        }
    }
    if let Some(b) = &ex.request_bytes {
        match std::str::from_utf8(b) {
            Ok(s) if b.len() <= 4096 && !s.contains('\0') => {
                parts.push(format!("--data-binary {}", q(s)))
            }
            _ => parts.push(format!("--data-binary @body-{}-bytes.bin", b.len())),
        }
    }
    parts.push(q(url));
    parts.join(" ")
}
