//! Reporters: independent consumers of the engine's event stream.

pub mod html;
pub mod json;
pub mod junit;
pub mod terminal;

use crate::results::{CaseResult, Event, RunInfo, Summary};
use std::borrow::Cow;

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
            Event::CaseFinished(r) => self.results.push((**r).clone()),
            Event::RunFinished(s) => {
                self.summary = Some(s.clone());
                // Reports list cases in a stable order whatever order they finished in.
                self.results.sort_by(|a, b| a.id.cmp(&b.id));
            }
        }
    }
}

/// One line naming what produced a report: tool version, case set, target and spec version.
pub(crate) fn provenance(i: &RunInfo) -> String {
    format!(
        "oci-conformance {} · case set {} ({}, {} cases) · target {}{} · spec version {}",
        env!("CARGO_PKG_VERSION"),
        i.case_set.source,
        i.case_set.digest,
        i.case_set.cases,
        i.target,
        if i.embedded {
            " (embedded reference server)"
        } else {
            ""
        },
        i.spec_version
    )
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

/// At most `max` characters of `s`, with `…` where it was cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// `s` made safe to print on a terminal or a CI log: what a registry sends (error codes and
/// messages, header values, bodies) may hold control bytes and escape sequences that would clear
/// the screen, rewrite earlier lines, or retitle the window. C0 and C1 controls, DEL and the
/// bidirectional overrides (which reorder how a line reads) are shown as `\xNN` / `\u{NNNN}`,
/// line breaks and tabs as `\n`, `\r`, `\t`: one message stays one line.
pub fn printable(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A shell script reproducing a transcript: upload sessions live at server-chosen URLs, so
/// every `Location` an exchange received is caught in `$LOC_n` and later requests to that URL
/// use the variable instead of the stale session URL.
pub fn curl_script(transcript: &[crate::http::Exchange]) -> String {
    let mut out = String::new();
    // (resolved absolute Location, variable name), longest first when matching.
    let mut known: Vec<(String, String)> = Vec::new();
    for (i, ex) in transcript.iter().enumerate() {
        let url = ex.url.split(" (redirected").next().unwrap_or(&ex.url);
        let target = known
            .iter()
            .filter(|(loc, _)| url.starts_with(loc.as_str()))
            .max_by_key(|(loc, _)| loc.len())
            .map(|(loc, var)| format!("\"${{{var}}}\"{}", shell_quote(&url[loc.len()..])))
            .unwrap_or_else(|| shell_quote(url));
        let location = ex
            .response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .and_then(|(_, v)| reqwest::Url::parse(url).ok()?.join(v).ok())
            .filter(|loc| {
                transcript[i + 1..]
                    .iter()
                    .any(|later| later.url.starts_with(loc.as_str()))
            });
        let line = curl_command(ex, &target);
        // A token answer (shown with `$OCI_TOKEN` in place of the token): the script fetches a
        // token the same way and later lines send it.
        if ex
            .response_body
            .as_deref()
            .is_some_and(|b| b.contains("\"$OCI_TOKEN\""))
        {
            out.push_str(&format!(
                "OCI_TOKEN=$({} | sed -E 's/.*\"(access_)?token\" *: *\"([^\"]+)\".*/\\2/')\n",
                line.replacen("curl -sS -i", "curl -sS", 1)
            ));
            continue;
        }
        match location {
            Some(loc) => {
                let var = format!("LOC_{}", i + 1);
                let origin = loc.origin().ascii_serialization();
                // -D - keeps the headers for the eye and for sed; a relative Location is made
                // absolute against the request's origin, as the harness did.
                out.push_str(&format!(
                    "{var}=$({} -D - -o /dev/null | tee /dev/stderr | tr -d '\\r' | sed -n 's/^[Ll]ocation: *//p')\n\
                     case \"${var}\" in /*) {var}={}\"${var}\";; esac\n",
                    line.replacen("curl -sS -i", "curl -sS", 1),
                    shell_quote(&origin),
                ));
                known.push((loc.to_string(), var));
            }
            None => {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    out
}

/// A shell-quoted `curl` line reproducing one exchange; credentials are placeholders.
pub fn curl_line(ex: &crate::http::Exchange) -> String {
    let url = ex.url.split(" (redirected").next().unwrap_or(&ex.url);
    curl_command(ex, &shell_quote(url))
}

fn curl_command(ex: &crate::http::Exchange, target: &str) -> String {
    let q = |s: &str| shell_quote(s);
    let mut parts = vec!["curl -sS -i".to_string()];
    if ex.method == "HEAD" {
        parts.push("-I".into());
    } else {
        parts.push(format!("-X {}", ex.method));
    }
    for (k, v) in &ex.request_headers {
        if k.eq_ignore_ascii_case("authorization") && v.starts_with("Bearer") {
            // The token came from the registry's token service; fetch one the same way.
            parts.push("-H \"Authorization: Bearer $OCI_TOKEN\"".into());
        } else if k.eq_ignore_ascii_case("authorization")
            && v == crate::http::auth::BASIC_WRONG_PLACEHOLDER
        {
            // The harness's wrong password is the right one with `not-` in front.
            parts.push("-u \"$OCI_USERNAME:not-$OCI_PASSWORD\"".into());
        } else if k.eq_ignore_ascii_case("authorization") {
            parts.push("-u \"$OCI_USERNAME:$OCI_PASSWORD\"".into());
        } else {
            parts.push(format!("-H {}", q(&format!("{k}: {v}"))));
        }
    }
    let inline = ex.request_bytes.as_ref().and_then(|b| {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| b.len() <= crate::http::CURL_INLINE_BYTES && !s.contains('\0'))
    });
    let size = ex
        .request_size
        .or_else(|| ex.request_bytes.as_ref().map(|b| b.len() as u64));
    match (inline, size) {
        (Some(s), _) => parts.push(format!("--data-binary {}", q(s))),
        // Generated content: rerun with the same --seed and --filter for the same bytes.
        (None, Some(n)) => parts.push(format!("--data-binary @body-{n}-bytes.bin")),
        (None, None) => {}
    }
    parts.push(target.to_string());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_shows_controls_escapes_and_bidi_overrides() {
        assert_eq!(printable("plain ✓ text"), "plain ✓ text");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("\u{1b}[2J\u{7}"), "\\x1b[2J\\x07");
        assert_eq!(printable("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(printable("\u{9b}31m\u{7f}"), "\\x9b31m\\x7f");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
    }
}
