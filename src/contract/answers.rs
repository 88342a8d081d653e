//! The response contract ([`super::responses`]) applied to every answer a case receives: the
//! engine hands each answer to a [`Ledger`] as it arrives, and at the end of the case folds
//! what [`Ledger::settle`] says into the result. The fuzz oracle judges its answers by the same rules, so a failed case
//! and a fuzz finding about the same bug cite the same requirement ids.
//!
//! # Which situation an answer is judged in
//!
//! A rule depends on the situation (does the object exist, does the repository, does the
//! digest match the data…). The fuzzer knows it from its model; a case run does not, and a
//! wrong guess would fail a registry for something the spec permits. So the situation is only
//! taken where it is certain:
//!
//! - **A 2xx answer** says the request succeeded: it is judged by the endpoint's success rule
//!   (the contract's `Exists` situation; for a mount, the either-or one, since 201 and 202 are
//!   both success). Its status must be a success status of that endpoint (a closing PUT is a
//!   201, a manifest delete a 202…) and it must carry the headers a success carries (Location,
//!   Range, Docker-Content-Digest and Content-Length where the run's spec version requires
//!   them; correct values where present and checkable).
//! - **A 4xx answer** says the request failed, but not why: which 4xx and which error code is
//!   the case's to say (its `expect` knows whether the repository exists, which the answer does
//!   not). The contract checks what holds for every 4xx: a JSON body is a spec error body whose
//!   codes are the spec's (or the legacy codes clients may see).
//! - **No answer, 3xx, 5xx**: the case's own checks speak (a case may allow a 503 with
//!   `Retry-After`).
//!
//! The case's expectation adds nothing to this: where it expects a success, a 2xx answer is
//! judged as one anyway, and a non-2xx answer already fails the case's status check.
//!
//! Requests are told apart by method and path ([`Endpoint::of`]) below `/v2/`; a path outside
//! it (an opaque upload location elsewhere) is not judged, rather than guessed.
//!
//! # One source of truth
//!
//! A case that failed on an answer has said what is wrong with it; the contract's breaches of
//! that same answer are not reported again, unless they hold the registry to a higher level
//! than the case (a SHOULD case meeting a broken MUST). On every other answer (setup pushes,
//! earlier steps, or a case that passed or found its feature unsupported) a breach fails the
//! case, at the level of the requirements the rule cites, and adds those requirements to the
//! result.

use super::responses::{self, Breach, Endpoint, Situation};
use crate::http::Exchange;
use crate::spec::{Catalog, Level, SpecVersion};

/// Breaches of the contract found during one case run.
#[derive(Debug)]
pub struct Ledger {
    version: SpecVersion,
    /// Answers judged so far: the last one is the answer a failed case stopped on.
    judged: usize,
    noted: Vec<Noted>,
}

#[derive(Debug)]
struct Noted {
    /// 1-based number of the judged answer.
    answer: usize,
    request: String,
    breach: Breach,
}

impl Ledger {
    pub fn new(version: SpecVersion) -> Self {
        Ledger {
            version,
            judged: 0,
            noted: Vec::new(),
        }
    }

    /// The engine's hook: every answer a case receives, as it arrives.
    pub fn judge(&mut self, ex: &Exchange) {
        self.judged += 1;
        if let Some(breach) = judge(ex, self.version) {
            self.noted.push(Noted {
                answer: self.judged,
                request: format!("{} {}", ex.method, path_of(&ex.url)),
                breach,
            });
        }
    }

    /// What the breaches add to a case's result (see the module comment), given how the case
    /// itself ended: `failed` (it failed on its last answer), its level and message. None: the
    /// result stands as it is; else the case fails with this level, message and these
    /// requirements added to its own.
    pub fn settle(
        self,
        failed: bool,
        case_level: Level,
        message: Option<&str>,
        catalog: &Catalog,
    ) -> Option<Settled> {
        let last = self.judged;
        let kept: Vec<(Noted, Level)> = self
            .noted
            .into_iter()
            .map(|n| {
                let level = level_of(&n.breach.requirements, catalog);
                (n, level)
            })
            .filter(|(n, level)| !(failed && n.answer == last && rank(*level) <= rank(case_level)))
            .collect();
        let level = kept.iter().map(|(_, l)| *l).max_by_key(|l| rank(*l))?;
        let said: Vec<String> = kept
            .iter()
            .map(|(n, l)| {
                format!(
                    "{} answered against the response contract ({}, {}): {}",
                    n.request,
                    l.as_str(),
                    n.breach.requirements.join(", "),
                    n.breach.detail
                )
            })
            .collect();
        let said = said.join("; ");
        let message = match message {
            Some(m) if failed => format!("{m}; and {said}"),
            Some(m) if !m.is_empty() => format!("{said} (then: {m})"),
            _ => said,
        };
        let level = if failed && rank(case_level) > rank(level) {
            case_level
        } else {
            level
        };
        let mut requirements: Vec<&'static str> = Vec::new();
        for id in kept.iter().flat_map(|(n, _)| n.breach.requirements.iter()) {
            if !requirements.contains(id) {
                requirements.push(id);
            }
        }
        Some(Settled {
            level,
            message,
            requirements,
        })
    }
}

/// A case failed by the contract: at this level, with this message, citing these
/// requirements besides its own.
#[derive(Debug)]
pub struct Settled {
    pub level: Level,
    pub message: String,
    pub requirements: Vec<&'static str>,
}

fn rank(l: Level) -> u8 {
    match l {
        Level::May => 0,
        Level::Should => 1,
        Level::Must => 2,
    }
}

/// MUST when any cited requirement binds the registry with a MUST (the catalog's level may read
/// "MAY / MUST": the MUST is the registry's), else SHOULD: a broken rule is never a MAY.
pub fn level_of(requirements: &[&str], catalog: &Catalog) -> Level {
    let must = requirements
        .iter()
        .any(|id| catalog.get(id).is_none_or(|r| r.level.contains("MUST")));
    if must {
        Level::Must
    } else {
        Level::Should
    }
}

/// The URL's path and query: what [`Endpoint::of`] reads. A redirected answer's URL carries
/// where it went; the request is what was asked.
fn path_of(url: &str) -> &str {
    let asked = url.split(" (redirected to ").next().unwrap_or(url);
    match asked.find("://") {
        Some(i) => asked[i + 3..]
            .find('/')
            .map_or("/", |j| &asked[i + 3 + j..]),
        None => asked,
    }
}

/// The endpoint of a request, by the part of its path from `/v2/` on (a registry may sit
/// under a prefix); None outside `/v2/`.
fn endpoint_of(method: &str, url: &str) -> Option<Endpoint> {
    let pq = path_of(url);
    let path = pq.split('?').next().unwrap_or(pq);
    let from = path
        .find("/v2/")
        .or_else(|| path.ends_with("/v2").then(|| path.len() - 3))?;
    Some(Endpoint::of(method, &pq[from..]))
}

/// Judges one answer by the contract; None when it keeps every rule that applies.
pub fn judge(ex: &Exchange, version: SpecVersion) -> Option<Breach> {
    let status = ex.status?;
    let endpoint = endpoint_of(&ex.method, &ex.url)?;
    match status {
        200..=299 if endpoint != Endpoint::Other => success(endpoint, status, ex, version),
        400..=499 => error_body(ex),
        _ => None,
    }
}

fn success(endpoint: Endpoint, status: u16, ex: &Exchange, v: SpecVersion) -> Option<Breach> {
    let situation = match endpoint {
        Endpoint::Mount => Situation::NotMountable,
        _ => Situation::Exists,
    };
    let rule = responses::rule(endpoint, situation, v);
    // A ranged blob GET may answer 206 with part of the blob (the range cases judge it).
    let ranged = endpoint == Endpoint::GetBlob
        && ex
            .request_headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("range"));
    let mut allowed: Vec<u16> = rule
        .statuses
        .iter()
        .copied()
        .filter(|s| (200..300).contains(s))
        .collect();
    if ranged {
        allowed.push(206);
    }
    if !allowed.contains(&status) {
        let shown: Vec<String> = allowed.iter().map(u16::to_string).collect();
        return Some(Breach {
            kind: format!("status-{status}"),
            detail: format!(
                "{status} for a successful {}, which must be {}",
                endpoint.as_str(),
                shown.join(" or ")
            ),
            requirements: rule.requirements.to_vec(),
        });
    }
    // A redirected answer came from somewhere else (a storage front): its headers are not the
    // registry's.
    if ex.url.contains(" (redirected to ") {
        return None;
    }
    // Digest and size are checked against what the success carries: the body of a full GET,
    // the manifest a PUT sent.
    let full_get =
        matches!(endpoint, Endpoint::GetManifest | Endpoint::GetBlob) && status == 200 && !ranged;
    let content: Option<&[u8]> = match endpoint {
        _ if full_get && ex.body_complete() => Some(&ex.body),
        Endpoint::PutManifest => ex.request_bytes.as_deref(),
        _ => None,
    };
    if let Err(b) = responses::check_headers(&rule, status, |n| ex.header(n), content) {
        return Some(b);
    }
    // A body too large to keep whole is known by its streamed digests.
    let name = "Docker-Content-Digest";
    match (full_get && !ex.body_complete(), ex.header(name)) {
        (true, Some(v)) if v != ex.body_digest("sha256") && v != ex.body_digest("sha512") => {
            Some(Breach {
                kind: "wrong-docker-content-digest".into(),
                detail: format!(
                    "{name}: {v}, the content's digest is {}",
                    ex.body_digest("sha256")
                ),
                requirements: rule
                    .headers
                    .iter()
                    .find(|h| h.name == name)
                    .map(|h| h.requirements.to_vec())
                    .unwrap_or_default(),
            })
        }
        _ => None,
    }
}

/// R-143, R-144, R-147: a 4xx body that is JSON is a spec error body.
fn error_body(ex: &Exchange) -> Option<Breach> {
    if !ex.body_complete() {
        return None;
    }
    crate::errors::check_error_answer(&ex.body, ex.header("content-type"), &[])
        .err()
        .map(|detail| Breach {
            kind: "error-body".into(),
            detail: format!("{} answer: {detail}", ex.status.unwrap_or(0)),
            requirements: vec!["R-143", "R-144", "R-147"],
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(method: &str, url: &str, status: u16, headers: &[(&str, &str)]) -> Exchange {
        Exchange {
            method: method.into(),
            url: url.into(),
            status: Some(status),
            response_headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_success_must_be_the_endpoints_success_status() {
        let base = "http://127.0.0.1:1/v2/a/blobs/uploads/u1?digest=sha256:ab";
        let ok = answer("PUT", base, 201, &[("Location", "/v2/a/blobs/sha256:ab")]);
        assert!(judge(&ok, SpecVersion::Dev).is_none());
        let b = judge(
            &answer("PUT", base, 200, &[("Location", "x")]),
            SpecVersion::Dev,
        )
        .expect("200 on a closing PUT");
        assert!(b.requirements.contains(&"R-043"), "{b:?}");
        let b = judge(&answer("PUT", base, 201, &[]), SpecVersion::Dev).expect("no Location");
        assert_eq!(b.kind, "no-location");
    }

    #[test]
    fn either_or_successes_and_ranges_are_allowed() {
        let mount = "/v2/a/blobs/uploads/?mount=sha256:ab&from=b";
        for s in [201, 202] {
            assert!(judge(
                &answer("POST", mount, s, &[("Location", "x")]),
                SpecVersion::Dev
            )
            .is_none());
        }
        let mut ranged = answer(
            "GET",
            "/v2/a/blobs/sha256:ab",
            206,
            &[("Docker-Content-Digest", "sha256:ab")],
        );
        ranged.request_headers = vec![("Range".into(), "bytes=0-1".into())];
        assert!(judge(&ranged, SpecVersion::Dev).is_none());
    }

    #[test]
    fn registries_under_a_prefix_and_paths_outside_v2() {
        // Under a prefix the manifest GET is still one, not an upload location.
        let get = answer(
            "GET",
            "http://h/prefix/v2/a/manifests/v1",
            200,
            &[("Docker-Content-Digest", "sha256:x")],
        );
        assert!(judge(&get, SpecVersion::V1_1_1).is_some(), "wrong digest");
        // An opaque location outside /v2/ is not guessed at.
        assert!(judge(
            &answer("PUT", "http://h/elsewhere/7", 200, &[]),
            SpecVersion::Dev
        )
        .is_none());
    }

    #[test]
    fn json_4xx_bodies_must_be_spec_error_bodies() {
        let mut bad = answer("GET", "/v2/a/manifests/v1", 404, &[]);
        bad.body = bytes::Bytes::from_static(br#"{"errors":[{"code":"NOT_FOUND"}]}"#);
        assert_eq!(judge(&bad, SpecVersion::Dev).unwrap().kind, "error-body");
        let mut text = answer("GET", "/v2/a/manifests/v1", 404, &[]);
        text.body = bytes::Bytes::from_static(b"404 page not found");
        assert!(judge(&text, SpecVersion::Dev).is_none());
    }

    /// The cases and the contract agree on what success looks like: every 2xx a case step
    /// admits is a success the contract admits for that request (else a registry could pass
    /// the case and fail the contract on the same answer, or the other way round).
    #[test]
    fn every_success_a_case_admits_the_contract_admits() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let mut disagree = Vec::new();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for case in doc["cases"].as_array().into_iter().flatten() {
                for step in case["steps"].as_array().into_iter().flatten() {
                    let r = &step["request"];
                    // A `url` is a captured location: what it names is known only at run time.
                    let (Some(method), Some(p)) = (r["method"].as_str(), r["path"].as_str()) else {
                        continue;
                    };
                    let keys: Vec<&str> = r["query"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|kv| kv[0].as_str())
                        .collect();
                    let target = format!("http://h{p}?{}", keys.join("=x&"));
                    let headers: Vec<(String, String)> = r["headers"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect();
                    let statuses = step["expect"]["status"].as_array().cloned();
                    for s in statuses.into_iter().flatten().filter_map(|s| s.as_u64()) {
                        if !(200..300).contains(&s) {
                            continue;
                        }
                        seen += 1;
                        let mut ex = answer(method, &target, s as u16, &[]);
                        ex.request_headers = headers.clone();
                        let b = judge(&ex, SpecVersion::Dev);
                        if b.as_ref().is_some_and(|b| b.kind.starts_with("status-")) {
                            disagree.push(format!("{} {method} {p}: {s}", case["id"]));
                        }
                    }
                }
            }
        }
        assert!(seen > 100, "only {seen} successes found in the cases");
        assert!(disagree.is_empty(), "{disagree:#?}");
    }
}
