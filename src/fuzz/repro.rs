//! Reproducer files: a failing, shrunk input written as a case file in the `specs/` format
//! (`{"area", "description", "cases": [Case]}`), named after the failure's stable signature so
//! that one bug is one file.
//!
//! The `steps` are the exact exchanges of the minimal failing run (repository names replaced by
//! `${repo}`/`${repo2}`, upload locations by captures), so the file loads with the engine's
//! loader and runs as a spec case once a maintainer moves it into `specs/`. The case's `note`
//! ends with a `fuzz: {…}` line holding the generated input itself; `replay` re-runs that through
//! the fuzz oracle, which is the faithful check.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::http::{Answer, Exchange};
use super::oracle::Violation;
use super::FuzzError;

/// Prefix of the note line that carries the generated input.
pub const NOTE_TAG: &str = "fuzz: ";

pub struct Reproducer<'a> {
    pub layer: &'a str,
    pub signature: &'a str,
    pub seed: u64,
    pub violation: &'a Violation,
    /// The generated input (a probe or an operation sequence), serialised.
    pub input: Value,
    pub transcript: &'a [Exchange],
    /// Base URL of the registry the transcript was recorded against.
    pub base: &'a str,
    /// (actual repository name or prefix, template variable), longest first.
    pub names: Vec<(String, &'static str)>,
}

fn workflow(what: &str) -> &'static str {
    let w = what
        .trim_start_matches("model.")
        .trim_start_matches("invariant.");
    if w.starts_with("delete") {
        "management"
    } else if w.starts_with("list-tags")
        || w.starts_with("referrers")
        || w.starts_with("list-referrers")
    {
        "discovery"
    } else if w.starts_with("get-")
        || w.starts_with("head-")
        || w.starts_with("liveness")
        || w.starts_with("invariant")
    {
        "pull"
    } else {
        "push"
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Reproducer<'_> {
    fn templated(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (n, var) in &self.names {
            s = s.replace(n.as_str(), &format!("${{{var}}}"));
        }
        s
    }

    fn templated_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.templated(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.templated_value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.templated_value(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Splits an absolute URL into (path-or-capture, query pairs).
    fn target(&self, url: &str, captures: &[(String, String)]) -> (Value, Vec<Value>) {
        let (head, query) = match url.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (url, None),
        };
        let mut pairs: Vec<Value> = Vec::new();
        let mut base_key = None;
        // Longest matching captured location wins; its own query (e.g. a state token) is part of
        // the captured value, so only the parameters added after it become `query`.
        for (var, loc) in captures.iter().rev() {
            if url.starts_with(loc.as_str()) {
                base_key = Some((
                    var.clone(),
                    url[loc.len()..].trim_start_matches(['?', '&']).to_string(),
                ));
                break;
            }
        }
        let (key, q) = match base_key {
            Some((var, rest)) => (
                json!({"url": format!("${{{var}}}")}),
                if rest.is_empty() { None } else { Some(rest) },
            ),
            None => {
                let path = head
                    .strip_prefix(self.base.trim_end_matches('/'))
                    .unwrap_or(head);
                (
                    json!({"path": self.templated(path)}),
                    query.map(str::to_string),
                )
            }
        };
        if let Some(q) = q {
            for kv in q.split('&').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                pairs.push(json!([pct_decode(k), self.templated(&pct_decode(v))]));
            }
        }
        (key, pairs)
    }

    pub fn to_json(&self) -> Value {
        let failing = self
            .violation
            .exchange
            .unwrap_or(self.transcript.len().saturating_sub(1));
        let mut steps = Vec::new();
        let mut captures: Vec<(String, String)> = Vec::new();
        let mut lossy = false;
        for (i, ex) in self.transcript.iter().enumerate().take(failing + 1) {
            let (target, query) = self.target(&ex.url, &captures);
            let mut request = json!({"method": ex.req.method});
            for (k, v) in target.as_object().expect("object") {
                request[k] = v.clone();
            }
            if !query.is_empty() {
                request["query"] = Value::Array(query);
            }
            // Content-Length is the engine's to set (always the real body length).
            let headers: Vec<&(String, String)> = ex
                .req
                .headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
                .collect();
            if !headers.is_empty() {
                let mut h = serde_json::Map::new();
                for (k, v) in headers {
                    h.insert(k.clone(), json!(v));
                }
                request["headers"] = Value::Object(h);
            }
            if !ex.req.body.is_empty() {
                request["body"] = match std::str::from_utf8(&ex.req.body) {
                    Ok(s) => json!({"text": s}),
                    // The case format has no binary bodies: the step carries a lossy copy and
                    // the note says so; `replay` rebuilds the exact bytes from the input.
                    Err(_) => {
                        lossy = true;
                        json!({"text": String::from_utf8_lossy(&ex.req.body)})
                    }
                };
            }
            let mut step = json!({"name": format!("{} {}", ex.req.method, request.get("path").or(request.get("url")).and_then(|v| v.as_str()).unwrap_or("")), "request": request});
            if i < failing {
                step["setup"] = json!(true);
                if let Answer::Response(r) = &ex.answer {
                    step["expect"] = json!({"status": [r.status]});
                    // Only upload sessions (202) are captured: later requests build on them. A
                    // 201's Location is a plain content URL and reads better as a path.
                    if let (202, Some(l)) = (r.status, r.header("location")) {
                        let var = format!("loc{}", captures.len() + 1);
                        let abs = if l.starts_with("http") {
                            l.to_string()
                        } else {
                            format!("{}{}", self.base.trim_end_matches('/'), l)
                        };
                        captures.push((var.clone(), abs));
                        step["capture"] = json!({ var: {"header": "Location"} });
                    }
                }
            } else {
                step["name"] = json!(format!(
                    "{}: {}",
                    self.violation.kind,
                    step["name"].as_str().unwrap_or("")
                ));
                let allowed = if self.violation.allowed.is_empty() {
                    match &ex.answer {
                        Answer::Response(r) => vec![r.status],
                        _ => vec![],
                    }
                } else {
                    self.violation.allowed.clone()
                };
                step["expect"] = json!({"status": allowed});
                if let Some(Value::Object(extra)) = &self.violation.expect {
                    for (k, v) in extra {
                        step["expect"][k] = self.templated_value(v);
                    }
                }
            }
            steps.push(step);
        }
        let observed = self
            .transcript
            .get(failing)
            .map(|e| e.answer.describe())
            .unwrap_or_default();
        let reqs: Vec<&str> = if self.violation.requirements.is_empty() {
            vec!["R-140"]
        } else {
            self.violation.requirements.clone()
        };
        let meta = json!({"layer": self.layer, "signature": self.signature, "seed": self.seed, "input": self.input});
        let mut note = format!(
            "Found by `oci-conformance fuzz` (seed {}). {}: {}. Observed: {observed}. Re-run with `oci-conformance replay <this file>`.",
            self.seed, self.violation.kind, self.violation.detail
        );
        if lossy {
            note.push_str(" A request body was not UTF-8: the step shows a lossy copy; replay sends the exact bytes.");
        }
        note.push_str(&format!("\n{NOTE_TAG}{meta}"));
        json!({
            "area": "fuzz",
            "description": format!("Minimal reproducer written by `oci-conformance fuzz` (seed {}).", self.seed),
            "cases": [{
                "id": format!("fuzz/{}", self.signature),
                "workflow": workflow(&self.violation.what),
                "title": self.violation.to_string().chars().take(300).collect::<String>(),
                "requirements": reqs,
                "level": self.violation.level(),
                "steps": steps,
                "note": note,
            }]
        })
    }

    pub fn write(&self, dir: &Path) -> Result<PathBuf, FuzzError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.json", self.signature));
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| FuzzError::Io(e.to_string()))?;
        std::fs::write(&path, text + "\n")?;
        Ok(path)
    }
}

/// The `fuzz` member of a reproducer file.
pub struct Loaded {
    pub layer: String,
    pub signature: String,
    pub input: Value,
}

pub fn load(path: &Path) -> Result<Loaded, FuzzError> {
    let err = |d: String| FuzzError::Reproducer {
        path: path.display().to_string(),
        detail: d,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let note = v
        .pointer("/cases/0/note")
        .and_then(|n| n.as_str())
        .unwrap_or("");
    let line = note
        .lines()
        .find_map(|l| l.strip_prefix(NOTE_TAG))
        .ok_or_else(|| {
            err(format!(
                "no `{NOTE_TAG}…` line in cases[0].note: not a fuzz reproducer"
            ))
        })?;
    let f: Value =
        serde_json::from_str(line).map_err(|e| err(format!("bad `{NOTE_TAG}` line: {e}")))?;
    let s = |k: &str| {
        f.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| err(format!("fuzz.{k} missing")))
    };
    Ok(Loaded {
        layer: s("layer")?,
        signature: s("signature")?,
        input: f
            .get("input")
            .cloned()
            .ok_or_else(|| err("fuzz.input missing".into()))?,
    })
}
