//! Judging answers against what the spec allows.

use super::http::{Answer, Failure, Resp};
use crate::contract::responses::{self, Endpoint, Situation};
use crate::spec::SpecVersion;

pub use crate::errors::LEGACY_CODES;
/// The 14 error codes of the spec (§1.3): one list, the spec loader's.
pub use crate::errors::SPEC_ERROR_CODES as SPEC_CODES;

/// A broken expectation. `kind` and `what` form the stable signature (no random data in them);
/// `detail` carries the specifics of this occurrence.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The operation / endpoint class, e.g. `get-manifest.malformed-digest`.
    pub what: String,
    /// The class of breach, e.g. `5xx`, `status-202`, `error-body`, `tags-order`.
    pub kind: String,
    pub detail: String,
    /// Requirement ids (requirements.md §1.4) the breach is about.
    pub requirements: Vec<&'static str>,
    /// Statuses the spec allows for the failing request (for the reproducer's expectation).
    pub allowed: Vec<u16>,
    /// Index, in the case transcript, of the exchange that failed (None: a derived check).
    pub exchange: Option<usize>,
    /// Extra expectations (case-format `expect` members: `json`, `headers`, `link`) that make
    /// the reproducer's failing step check what the oracle checked, not only the status.
    pub expect: Option<serde_json::Value>,
}

impl Violation {
    pub fn with_expect(mut self: Box<Self>, expect: serde_json::Value) -> Box<Self> {
        self.expect = Some(expect);
        self
    }
}

impl Violation {
    /// Stable grouping key: one bug, one reproducer file. Crashes (5xx, broken connection,
    /// timeout) keep the input class, because what triggers them is the bug; every other breach
    /// is grouped by endpoint and kind, so that e.g. "tags unsorted" found through `n`, `last`
    /// or neither is one finding, not four.
    pub fn signature(&self, layer: &str) -> String {
        let what = self.what.strip_prefix("model.").unwrap_or(&self.what);
        // GET and HEAD share a handler in every registry we know: one bug, one file.
        let what = what.replacen("head-", "get-", 1);
        let segs: Vec<&str> = what
            .split('.')
            .filter(|s| !s.starts_with("after-"))
            .collect();
        let crash = matches!(self.kind.as_str(), "5xx" | "connection-broken" | "timeout");
        if crash && segs.contains(&"long-name") {
            // A crash on an over-long name is about the name, whichever endpoint saw it.
            return format!("{layer}-long-name-{}", self.kind);
        }
        let keep = if crash {
            segs.len()
        } else if segs.first() == Some(&"invariant") {
            2
        } else {
            1
        };
        let raw = format!(
            "{layer}-{}-{}",
            segs[..keep.min(segs.len())].join("-"),
            self.kind
        );
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }
}

/// Requirements whose keyword is SHOULD (requirements.md §1.4); a breach citing only these is
/// reported at SHOULD level. R-140 stands for "RFC 9110 where the spec is silent".
const SHOULD_LEVEL: &[&str] = &[
    "R-013", "R-015", "R-029", "R-037", "R-046", "R-050", "R-063", "R-071", "R-079", "R-083",
    "R-084", "R-085", "R-110", "R-140", "R-148",
];

impl Violation {
    /// MUST unless every cited requirement is a SHOULD. Crashes (5xx, no answer) are always MUST:
    /// the oracle never allows them whatever the request.
    pub fn level(&self) -> &'static str {
        let crash = matches!(self.kind.as_str(), "5xx" | "connection-broken" | "timeout");
        if !crash
            && !self.requirements.is_empty()
            && self.requirements.iter().all(|r| SHOULD_LEVEL.contains(r))
        {
            "SHOULD"
        } else {
            "MUST"
        }
    }
}

impl Violation {
    /// What the shrinker holds constant: endpoint and kind only. The input class is free to
    /// change while shrinking (a 500 first met with an odd reference may really be about the
    /// body), and the final signature is taken from the minimal input.
    pub fn shrink_key(&self, layer: &str) -> String {
        let what = self
            .what
            .strip_prefix("model.")
            .unwrap_or(&self.what)
            .replacen("head-", "get-", 1);
        let endpoint = what.split('.').next().unwrap_or("");
        format!("{layer}-{endpoint}-{}", self.kind)
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]: {}", self.what, self.kind, self.detail)?;
        if !self.requirements.is_empty() {
            write!(f, " ({})", self.requirements.join(", "))?;
        }
        Ok(())
    }
}

/// Boxed: a violation is large and rare, results are many.
pub type Verdict<T = ()> = Result<T, Box<Violation>>;

/// Builds violations for one request class.
#[derive(Clone)]
pub struct Judge {
    pub what: String,
    pub exchange: Option<usize>,
}

impl Judge {
    pub fn new(what: impl Into<String>) -> Self {
        Judge {
            what: what.into(),
            exchange: None,
        }
    }

    pub fn fail(
        &self,
        kind: &str,
        detail: impl Into<String>,
        reqs: &[&'static str],
    ) -> Box<Violation> {
        Box::new(Violation {
            what: self.what.clone(),
            kind: kind.to_string(),
            detail: detail.into(),
            requirements: reqs.to_vec(),
            allowed: Vec::new(),
            exchange: self.exchange,
            expect: None,
        })
    }

    /// The common oracle: an answer came (no timeout, no broken connection), it is not a 5xx,
    /// its status is allowed, and a JSON error body is well formed with spec codes (and, when
    /// `codes` is non-empty, one of those).
    pub fn check<'a>(
        &self,
        answer: &'a Answer,
        allowed: &[u16],
        codes: &[&str],
        reqs: &[&'static str],
    ) -> Verdict<&'a Resp> {
        let with_allowed = |mut v: Box<Violation>| {
            v.allowed = allowed.to_vec();
            v
        };
        let resp = match answer {
            Answer::Response(r) => r,
            Answer::Failed(Failure::Timeout, _) => {
                return Err(with_allowed(self.fail(
                    "timeout",
                    "no answer within the timeout",
                    reqs,
                )))
            }
            Answer::Failed(_, e) => {
                return Err(with_allowed(self.fail(
                    "connection-broken",
                    format!("no HTTP answer: {e}"),
                    reqs,
                )))
            }
        };
        if resp.status >= 500 {
            return Err(with_allowed(self.fail(
                "5xx",
                format!(
                    "answered {} (allowed {:?}); body: {}",
                    resp.status,
                    allowed,
                    snippet(&resp.body)
                ),
                reqs,
            )));
        }
        if !allowed.contains(&resp.status) {
            return Err(with_allowed(self.fail(
                &format!("status-{}", resp.status),
                format!(
                    "answered {} where the spec allows {:?}; body: {}",
                    resp.status,
                    allowed,
                    snippet(&resp.body)
                ),
                reqs,
            )));
        }
        if resp.status >= 400 {
            check_error_body(resp, codes).map_err(|d| {
                // A wrong code breaks the rule that names the code, not only the format's.
                let mut cited = vec!["R-143", "R-144", "R-147"];
                if !codes.is_empty() {
                    for r in reqs {
                        if !cited.contains(r) {
                            cited.push(r);
                        }
                    }
                }
                let mut v = self.fail("error-body", d, &cited);
                v.allowed = allowed.to_vec();
                v
            })?;
        }
        Ok(resp)
    }

    /// Judges an answer by the response contract (`crate::contract::responses`): the statuses,
    /// error codes and success headers the spec version allows for `endpoint` in `situation`.
    /// `content` is what a success carries, for its digest and size headers.
    pub fn contract<'a>(
        &self,
        answer: &'a Answer,
        endpoint: Endpoint,
        situation: Situation,
        version: SpecVersion,
        content: Option<&[u8]>,
    ) -> Verdict<&'a Resp> {
        let rule = responses::rule(endpoint, situation, version);
        let resp = self.check(answer, rule.statuses, rule.codes, rule.requirements)?;
        responses::check_headers(&rule, resp.status, |n| resp.header(n), content).map_err(|b| {
            let mut v = self.fail(&b.kind, b.detail, &b.requirements);
            v.allowed = rule.statuses.to_vec();
            v
        })?;
        Ok(resp)
    }
}

pub fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(200)]).replace('\n', " ");
    if b.len() > 200 {
        format!("{s}…")
    } else {
        s
    }
}

/// by the response contract's rule for every 4xx body.
pub fn check_error_body(resp: &Resp, expected_codes: &[&str]) -> Result<(), String> {
    crate::errors::check_error_answer(&resp.body, resp.header("content-type"), expected_codes)
}

/// The `rel="next"` target of an RFC 5988 `Link` header, if the answer has one (the engine's
/// parser: one way to read a Link).
pub fn link_next(resp: &Resp) -> Result<Option<String>, String> {
    let Some(raw) = resp.header("link") else {
        return Ok(None);
    };
    crate::contract::parse_next_link(raw)
        .map(Some)
        .map_err(|e| format!("Link header is not RFC 5988 ({e}): {raw}"))
}

/// Tag order accepted by R-090: ASCII (byte) order or case-insensitive lexical order.
pub fn sorted_orders(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let mut ascii = tags.to_vec();
    ascii.sort();
    let mut lexical = tags.to_vec();
    lexical.sort_by(|a, b| a.to_lowercase().cmp(&b.to_lowercase()).then(a.cmp(b)));
    (ascii, lexical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(what: &str, kind: &str) -> Violation {
        Violation {
            what: what.into(),
            kind: kind.into(),
            detail: "x".into(),
            requirements: vec!["R-090"],
            allowed: vec![],
            exchange: None,
            expect: None,
        }
    }

    #[test]
    fn signatures_group_one_bug_into_one_file() {
        // Content breaches group by endpoint, whatever the input class.
        assert_eq!(
            v("list-tags.n", "tags-order").signature("request"),
            v("list-tags.last", "tags-order").signature("request")
        );
        // Crashes keep the class; GET and HEAD are one handler.
        assert_eq!(
            v("head-manifest.malformed-digest", "5xx").signature("request"),
            "request-get-manifest-malformed-digest-5xx"
        );
        assert_ne!(
            v("get-blob.range-invalid", "5xx").signature("request"),
            v("get-blob.range", "5xx").signature("request")
        );
        assert_eq!(
            v("list-tags.long-name", "5xx").signature("request"),
            v("get-blob.long-name", "5xx").signature("request")
        );
        // Model invariants keep their check name but not the operation they followed.
        assert_eq!(
            v(
                "model.invariant.deleted-tag.after-delete-manifest",
                "status-200"
            )
            .signature("model"),
            "model-invariant-deleted-tag-status-200"
        );
    }
}
