//! A case's steps, parsed: what the engine interprets.
//!
//! Each type that has more than one shape is an enum built from its form as written (a private
//! `Written*` struct of optional fields, the JSON format of `specs/`) by `TryFrom`, so a step that
//! deserialized is one the engine can run: exactly one kind, one request target, one body source,
//! one capture source, and no check that checks nothing. The schema (`specs/schema.json`) is
//! generated from the written forms. What needs the whole case (fixture names, templates,
//! captures, the `auth` feature) is checked by `Case` (see `check_case` in the parent module).

use super::{Feature, Pattern};
use crate::errors::SPEC_ERROR_CODES;
use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// The JSON Schema of a parsed type is that of its written form (under the parsed type's name).
macro_rules! schema_as_written {
    ($parsed:ty, $written:ty, $name:literal) => {
        impl JsonSchema for $parsed {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$written>::json_schema(g)
            }
        }
    };
}
pub(crate) use schema_as_written;

/// A map whose values parse one by one, so an error names the entry (`header `Location`: …`).
fn named<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
    what: &str,
) -> Result<BTreeMap<String, T>, D::Error> {
    BTreeMap::<String, Value>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| match T::deserialize(v) {
            Ok(t) => Ok((k, t)),
            Err(e) => Err(D::Error::custom(format!("{what} `{k}`: {e}"))),
        })
        .collect()
}

pub(super) fn headers<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, HeaderCheck>, D::Error> {
    named(d, "header")
}

fn captures<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Capture>, D::Error> {
    named(d, "capture")
}

pub(super) fn fixtures<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, super::Fixture>, D::Error> {
    named(d, "fixture")
}

/// One step of a case: what it does (`action`) and what every kind shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenStep")]
pub struct Step {
    pub name: Option<String>,
    /// A failure is a setup error, not the assertion the case makes.
    pub setup: bool,
    pub unsupported_if: Option<Unsupported>,
    pub action: Action,
}
schema_as_written!(Step, WrittenStep, "Step");

#[derive(Debug, Clone)]
pub enum Action {
    /// One request and the checks of its answer; `capture` names values for later steps.
    Request {
        request: RequestSpec,
        expect: Expect,
        capture: BTreeMap<String, Capture>,
    },
    /// Macro: push a fixture (and everything it references), tagged `tag` on the last PUT, to
    /// `repo` (a template; default `${repo}`).
    Push {
        fixture: String,
        tag: Option<String>,
        repo: Option<String>,
    },
    /// Macro: follow the list from this request to its end (see the engine's `paginate`),
    /// collecting the entries at the `collect` pointer.
    Paginate {
        request: RequestSpec,
        collect: String,
        max_pages: u32,
        expect: PageExpect,
    },
}

/// A step as written: exactly one of `request`, `push`, `paginate`, and the fields of that kind.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Step",
    extend("oneOf" = [{"required": ["request"]}, {"required": ["push"]}, {"required": ["paginate"]}])
)]
pub(super) struct WrittenStep {
    #[serde(default)]
    name: Option<String>,
    /// True: a failure of this step is a setup error, not the assertion.
    #[serde(default)]
    setup: bool,
    #[serde(default)]
    request: Option<RequestSpec>,
    /// Macro: push this fixture (and everything it references).
    #[serde(default)]
    push: Option<String>,
    /// `push` only: tag the pushed manifest.
    #[serde(default)]
    tag: Option<String>,
    /// `push` only: the repository (default `${repo}`).
    #[serde(default)]
    repo: Option<String>,
    /// Macro: follow `Link: <…>; rel="next"` (or `last=`) from this request to the end.
    #[serde(default)]
    paginate: Option<RequestSpec>,
    /// `paginate` only: JSON pointer of each page's entries.
    #[serde(default)]
    collect: Option<String>,
    /// `paginate` only: give up after this many pages (default 100).
    #[serde(default)]
    max_pages: Option<u32>,
    #[serde(default)]
    expect: Option<WrittenExpect>,
    #[serde(default)]
    unsupported_if: Option<Unsupported>,
    /// `request` only: values of the answer for later steps' templates.
    #[serde(default, deserialize_with = "captures")]
    capture: BTreeMap<String, Capture>,
    /// The step once per value, `${i}` in its strings replaced by the value; expanded as the
    /// case loads.
    #[serde(default)]
    repeat: Option<super::Repeat>,
}

impl TryFrom<WrittenStep> for Step {
    type Error = String;
    fn try_from(w: WrittenStep) -> Result<Step, String> {
        if w.repeat.is_some() {
            return Err("`repeat` is expanded in a case's `steps` only".into());
        }
        // A field the kind does not use would be silently ignored: refuse it instead.
        let not_for = |kind: &str, given: &[(&str, bool)]| match given.iter().find(|g| g.1) {
            Some((field, _)) => Err(format!("`{field}` does not apply to a {kind} step")),
            None => Ok(()),
        };
        let action = match (w.request, w.push, w.paginate) {
            (Some(request), None, None) => {
                not_for(
                    "request",
                    &[
                        ("tag", w.tag.is_some()),
                        ("repo", w.repo.is_some()),
                        ("collect", w.collect.is_some()),
                        ("max_pages", w.max_pages.is_some()),
                    ],
                )?;
                Action::Request {
                    request,
                    expect: w
                        .expect
                        .map(Expect::try_from)
                        .transpose()?
                        .unwrap_or_default(),
                    capture: w.capture,
                }
            }
            (None, Some(fixture), None) => {
                not_for(
                    "push",
                    &[
                        ("expect", w.expect.is_some()),
                        ("capture", !w.capture.is_empty()),
                        ("collect", w.collect.is_some()),
                        ("max_pages", w.max_pages.is_some()),
                    ],
                )?;
                Action::Push {
                    fixture,
                    tag: w.tag,
                    repo: w.repo,
                }
            }
            (None, None, Some(request)) => {
                not_for(
                    "paginate",
                    &[
                        ("tag", w.tag.is_some()),
                        ("repo", w.repo.is_some()),
                        ("capture", !w.capture.is_empty()),
                    ],
                )?;
                Action::Paginate {
                    request,
                    collect: w.collect.unwrap_or_default(),
                    max_pages: w.max_pages.unwrap_or(100),
                    expect: w
                        .expect
                        .map(PageExpect::try_from)
                        .transpose()?
                        .unwrap_or_default(),
                }
            }
            _ => return Err("needs exactly one of request, push, paginate".into()),
        };
        Ok(Step {
            name: w.name,
            setup: w.setup,
            unsupported_if: w.unsupported_if,
            action,
        })
    }
}

/// The request of a `request` step (not a `paginate` one).
pub fn request_step(step: &Step) -> Option<&RequestSpec> {
    match &step.action {
        Action::Request { request, .. } => Some(request),
        _ => None,
    }
}

impl Step {
    /// The request a `request` or `paginate` step sends first.
    pub fn request(&self) -> Option<&RequestSpec> {
        match &self.action {
            Action::Request { request, .. } | Action::Paginate { request, .. } => Some(request),
            Action::Push { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenRequest")]
pub struct RequestSpec {
    pub method: String,
    pub target: Target,
    /// Appended URL-encoded, in order, repeats allowed.
    pub query: Vec<(String, String)>,
    pub headers: BTreeMap<String, String>,
    pub body: Option<BodySpec>,
    /// Sent over a plain socket exactly as written: no Content-Length is added, so a case can
    /// send a lying one.
    pub raw: bool,
    pub auth: AuthSpec,
}
schema_as_written!(RequestSpec, WrittenRequest, "Request");

/// Where a request goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// Relative to the registry's base URL (which may carry a path prefix).
    Path(String),
    /// An absolute or relative URL (a captured `Location`), resolved against the base.
    Url(String),
}

impl RequestSpec {
    pub fn path(&self) -> Option<&str> {
        match &self.target {
            Target::Path(p) => Some(p),
            Target::Url(_) => None,
        }
    }
}

/// A request as written: exactly one of `path`, `url`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["path"]}, {"required": ["url"]}]))]
struct WrittenRequest {
    #[serde(default = "get")]
    method: String,
    /// Relative to the base URL.
    #[serde(default)]
    path: Option<String>,
    /// A captured absolute or relative URL, resolved against the base.
    #[serde(default)]
    url: Option<String>,
    /// `[name, value]` pairs, appended URL-encoded in order.
    #[serde(default)]
    query: Vec<(String, String)>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<BodySpec>,
    /// Sent over a plain socket exactly as written: no Content-Length is added, so a case can
    /// send a lying one.
    #[serde(default)]
    raw: bool,
    /// How the request authenticates (anything but `default` needs the run's credentials, so
    /// the case lists feature `auth`).
    #[serde(default)]
    auth: AuthSpec,
}

fn get() -> String {
    "GET".into()
}

impl TryFrom<WrittenRequest> for RequestSpec {
    type Error = String;
    fn try_from(w: WrittenRequest) -> Result<RequestSpec, String> {
        let target = match (w.path, w.url) {
            (Some(p), None) => Target::Path(p),
            (None, Some(u)) => Target::Url(u),
            _ => return Err("request needs exactly one of path, url".into()),
        };
        if matches!(&w.auth, AuthSpec::Token(scopes) if scopes.is_empty()) {
            return Err("`auth.token` names no scope".into());
        }
        if w.raw && !w.auth.is_default() {
            return Err("raw requests use the run's credentials only".into());
        }
        Ok(RequestSpec {
            method: w.method,
            target,
            query: w.query,
            headers: w.headers,
            body: w.body,
            raw: w.raw,
            auth: w.auth,
        })
    }
}

/// `"default"`: the run's credentials and the token flow; `"anonymous"`: no credentials and no
/// token flow; `"wrong-password"`: the run's user name with a wrong password (through the token
/// flow if the registry challenges with Bearer); `{"token": [SCOPE, ...]}`: a token for exactly
/// these scopes from the token service the registry's challenge names, sent as is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthSpec {
    #[default]
    Default,
    Anonymous,
    WrongPassword,
    Token(Vec<String>),
}

impl AuthSpec {
    pub fn is_default(&self) -> bool {
        *self == AuthSpec::Default
    }
    /// Whether the request needs the run's credentials (so the case lists feature `auth`).
    pub fn needs_credentials(&self) -> bool {
        matches!(self, AuthSpec::WrongPassword | AuthSpec::Token(_))
    }
}

/// A request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenBody")]
pub enum BodySpec {
    /// A fixture's bytes, or a part of them.
    Fixture {
        name: String,
        part: Part,
    },
    /// Templates expanded.
    Text(String),
    /// Templates expanded in its strings.
    Json(Value),
    Empty,
    /// `unit` repeated to `size` bytes: a large body without a large spec file.
    Repeat {
        unit: String,
        size: u64,
    },
}
schema_as_written!(BodySpec, WrittenBody, "Body");

/// Which bytes of a fixture a body sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    Whole,
    /// Inclusive byte range.
    Range(u64, u64),
    /// Chunks `[first, end)` in the case's chunk size (see `BlobFixture::chunks`).
    Chunks(u64, u64),
}

/// A body as written: exactly one of `fixture`, `text`, `json`, `empty`, `repeat`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["fixture"]},
    {"required": ["text"]},
    {"required": ["json"]},
    {"required": ["empty"]},
    {"required": ["repeat", "size"]}
]))]
struct WrittenBody {
    #[serde(default)]
    fixture: Option<String>,
    /// `fixture` only: inclusive byte range of the fixture.
    #[serde(default)]
    range: Option<(u64, u64)>,
    /// `fixture` only: chunks `[first, end)` of the fixture, in the case's chunk size.
    #[serde(default)]
    chunks: Option<(u64, u64)>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    json: Option<Value>,
    #[serde(default)]
    empty: Option<bool>,
    /// This text repeated to `size` bytes.
    #[serde(default)]
    repeat: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

impl TryFrom<WrittenBody> for BodySpec {
    type Error = String;
    fn try_from(w: WrittenBody) -> Result<BodySpec, String> {
        let sources = [
            w.fixture.is_some(),
            w.text.is_some(),
            w.json.is_some(),
            w.empty.is_some(),
            w.repeat.is_some(),
        ];
        if sources.iter().filter(|x| **x).count() != 1 {
            return Err("body needs exactly one of fixture, text, json, empty, repeat".into());
        }
        if w.repeat.is_some() != w.size.is_some() {
            return Err("body `repeat` needs `size` (and only then)".into());
        }
        let part = match (w.range, w.chunks) {
            (Some(_), Some(_)) => return Err("body takes range or chunks, not both".into()),
            (Some((a, z)), None) => Part::Range(a, z),
            (None, Some((a, z))) if a >= z => {
                return Err("body chunks [first, end) needs first < end".into())
            }
            (None, Some((a, z))) => Part::Chunks(a, z),
            (None, None) => Part::Whole,
        };
        if part != Part::Whole && w.fixture.is_none() {
            return Err("body `range` and `chunks` are parts of a `fixture`".into());
        }
        Ok(match (w.fixture, w.text, w.json, w.repeat, w.size) {
            (Some(name), ..) => BodySpec::Fixture { name, part },
            (_, Some(t), ..) => BodySpec::Text(t),
            (_, _, Some(j), ..) => BodySpec::Json(j),
            (_, _, _, Some(unit), Some(size)) => BodySpec::Repeat { unit, size },
            // `empty` (its value aside: `false` never meant anything else).
            _ => BodySpec::Empty,
        })
    }
}

/// The checks of a request step's answer; each given one must hold.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// An answer in `status` or in `status_class` passes; both empty: any status.
    pub status: Vec<u16>,
    pub status_class: Option<StatusClass>,
    pub headers: BTreeMap<String, HeaderCheck>,
    pub body: Option<BodyCheck>,
    pub json: Vec<JsonCheck>,
    /// The body must be a spec error body with one of these codes (each one of the spec's).
    pub error_codes: Option<Vec<String>>,
    /// A body that parses as JSON must be a spec error body (any spec code); any other body
    /// passes (R-143: 4xx bodies may be any format, JSON ones must follow the format).
    pub error_body_if_json: bool,
    pub link: Option<LinkCheck>,
    /// On a 401 answer: a well-formed `WWW-Authenticate` challenge (other statuses: not
    /// checked, since a 403 refusal carries none).
    pub challenge: Option<ChallengeCheck>,
}

/// The checks of a `paginate` step: every page's status and size, and the entries collected.
#[derive(Debug, Clone)]
pub struct PageExpect {
    /// Every page's status is one of these (default 200).
    pub status: Vec<u16>,
    pub page_size_at_most: Option<usize>,
    /// A check of the concatenated pages (its `pointer` is ignored).
    pub collected: Option<JsonCheck>,
}

impl Default for PageExpect {
    fn default() -> Self {
        PageExpect {
            status: vec![200],
            page_size_at_most: None,
            collected: None,
        }
    }
}

/// `expect` as written; `page_size_at_most` and `collected` are for `paginate` steps, which take
/// `status` and nothing else.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Expect")]
pub(super) struct WrittenExpect {
    #[serde(default)]
    status: Vec<u16>,
    /// `"4xx"`-style class; an answer in `status` or in this class passes.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[1-5][xX][xX]$"))]
    status_class: Option<String>,
    #[serde(default, deserialize_with = "headers")]
    headers: BTreeMap<String, HeaderCheck>,
    #[serde(default)]
    body: Option<BodyCheck>,
    #[serde(default)]
    json: Vec<JsonCheck>,
    /// The body must be a spec error body with at least one of these codes.
    #[serde(default)]
    error_codes: Option<Vec<String>>,
    /// A body that parses as JSON must be a spec error body (any code); any other body passes.
    #[serde(default)]
    error_body_if_json: Option<bool>,
    #[serde(default)]
    link: Option<LinkCheck>,
    /// `paginate` only: no page holds more entries than this.
    #[serde(default)]
    page_size_at_most: Option<usize>,
    /// `paginate` only: a check of the concatenated pages (its `pointer` is ignored).
    #[serde(default)]
    collected: Option<JsonCheck>,
    /// On a 401 only: a well-formed `WWW-Authenticate` challenge.
    #[serde(default)]
    challenge: Option<ChallengeCheck>,
}

impl TryFrom<WrittenExpect> for Expect {
    type Error = String;
    fn try_from(w: WrittenExpect) -> Result<Expect, String> {
        if w.page_size_at_most.is_some() || w.collected.is_some() {
            return Err(
                "`expect.page_size_at_most` and `expect.collected` are for paginate steps".into(),
            );
        }
        for c in w.error_codes.iter().flatten() {
            if !SPEC_ERROR_CODES.contains(&c.as_str()) {
                return Err(format!("`{c}` is not an error code of the spec"));
            }
        }
        Ok(Expect {
            status: w.status,
            status_class: w.status_class.map(StatusClass::parse).transpose()?,
            headers: w.headers,
            body: w.body,
            json: w.json,
            error_codes: w.error_codes,
            error_body_if_json: w.error_body_if_json == Some(true),
            link: w.link,
            challenge: w.challenge,
        })
    }
}

impl TryFrom<WrittenExpect> for PageExpect {
    type Error = String;
    fn try_from(w: WrittenExpect) -> Result<PageExpect, String> {
        let others = [
            ("status_class", w.status_class.is_some()),
            ("headers", !w.headers.is_empty()),
            ("body", w.body.is_some()),
            ("json", !w.json.is_empty()),
            ("error_codes", w.error_codes.is_some()),
            ("error_body_if_json", w.error_body_if_json.is_some()),
            ("link", w.link.is_some()),
            ("challenge", w.challenge.is_some()),
        ];
        if let Some((field, _)) = others.iter().find(|o| o.1) {
            return Err(format!(
                "`expect.{field}` does not apply to a paginate step (status, page_size_at_most, \
                 collected)"
            ));
        }
        Ok(PageExpect {
            status: if w.status.is_empty() {
                vec![200]
            } else {
                w.status
            },
            page_size_at_most: w.page_size_at_most,
            collected: w.collected,
        })
    }
}

/// `"4xx"`: every status of that hundred.
#[derive(Debug, Clone)]
pub struct StatusClass {
    hundreds: u16,
    written: String,
}

impl StatusClass {
    fn parse(s: String) -> Result<StatusClass, String> {
        match s.as_bytes() {
            [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => Ok(StatusClass {
                hundreds: u16::from(d - b'0'),
                written: s,
            }),
            _ => Err(format!("status_class `{s}`: expected 1xx to 5xx")),
        }
    }
    pub fn admits(&self, status: u16) -> bool {
        status / 100 == self.hundreds
    }
}

impl std::fmt::Display for StatusClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

/// A `Basic` challenge needs `realm`; a `Bearer` one needs `realm` (an absolute http(s) URL)
/// and `service`, and then these, when given.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeCheck {
    /// Bearer: the `scope` parameter must name this resource with at least these actions,
    /// e.g. `repository:${repo}:push` (the resource is everything before the last `:`).
    #[serde(default)]
    pub scope: Option<String>,
    /// Bearer: the `error` parameter must be this (`insufficient_scope`, `invalid_token`).
    #[serde(default)]
    pub error: Option<String>,
}

/// The checks of one header, in the order they are reported; at least one.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenHeaderCheck")]
pub struct HeaderCheck(pub Vec<HeaderRule>);
schema_as_written!(HeaderCheck, WrittenHeaderCheck, "HeaderCheck");

#[derive(Debug, Clone)]
pub enum HeaderRule {
    Present,
    Absent,
    Equals(String),
    Matches(Pattern),
    /// Like `Equals`/`Matches`, but an absent header passes (rules that bind only when the
    /// registry chooses to send the header).
    EqualsIfPresent(String),
    MatchesIfPresent(Pattern),
    /// Every line of this header together (values, in bytes) stays within this size.
    MaxTotalBytes(usize),
    /// List semantics: one comma-separated entry over all the header's lines is this.
    Contains(String),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WrittenHeaderCheck {
    /// `false`: the same as `absent: true`.
    #[serde(default)]
    present: Option<bool>,
    #[serde(default)]
    absent: Option<bool>,
    #[serde(default)]
    equals: Option<String>,
    #[serde(default)]
    matches: Option<Pattern>,
    /// List semantics: comma-split over all header lines.
    #[serde(default)]
    contains: Option<String>,
    /// Like `equals`, but an absent header passes.
    #[serde(default)]
    equals_if_present: Option<String>,
    /// Like `matches`, but an absent header passes.
    #[serde(default)]
    matches_if_present: Option<Pattern>,
    /// Every line of this header together (values, in bytes) stays within this size.
    #[serde(default)]
    max_total_bytes: Option<usize>,
}

impl TryFrom<WrittenHeaderCheck> for HeaderCheck {
    type Error = String;
    fn try_from(w: WrittenHeaderCheck) -> Result<HeaderCheck, String> {
        let present = w.present == Some(true);
        let absent = w.absent == Some(true) || w.present == Some(false);
        if present && absent {
            return Err("present and absent at once".into());
        }
        let rules: Vec<HeaderRule> = [
            present.then_some(HeaderRule::Present),
            absent.then_some(HeaderRule::Absent),
            w.equals.map(HeaderRule::Equals),
            w.matches.map(HeaderRule::Matches),
            w.equals_if_present.map(HeaderRule::EqualsIfPresent),
            w.matches_if_present.map(HeaderRule::MatchesIfPresent),
            w.max_total_bytes.map(HeaderRule::MaxTotalBytes),
            w.contains.map(HeaderRule::Contains),
        ]
        .into_iter()
        .flatten()
        .collect();
        if rules.is_empty() {
            return Err("checks nothing".into());
        }
        Ok(HeaderCheck(rules))
    }
}

/// The checks of a body, in the order they are reported; at least one.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenBodyCheck")]
pub struct BodyCheck(pub Vec<BodyRule>);
schema_as_written!(BodyCheck, WrittenBodyCheck, "BodyCheck");

#[derive(Debug, Clone)]
pub enum BodyRule {
    /// The fixture's bytes.
    Fixture(String),
    Empty,
    /// Digest of the body (a template), in its algorithm.
    Digest(String),
    /// Inclusive bytes of a fixture.
    Range(String, u64, u64),
    /// Exactly this text (a template).
    Text(String),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WrittenBodyCheck {
    #[serde(default)]
    fixture: Option<String>,
    #[serde(default)]
    empty: Option<bool>,
    #[serde(default)]
    digest: Option<String>,
    /// `[fixture, first, last]`: inclusive bytes of a fixture.
    #[serde(default)]
    range: Option<(String, u64, u64)>,
    #[serde(default)]
    text: Option<String>,
}

impl TryFrom<WrittenBodyCheck> for BodyCheck {
    type Error = String;
    fn try_from(w: WrittenBodyCheck) -> Result<BodyCheck, String> {
        let rules: Vec<BodyRule> = [
            w.fixture.map(BodyRule::Fixture),
            (w.empty == Some(true)).then_some(BodyRule::Empty),
            w.digest.map(BodyRule::Digest),
            w.range.map(|(f, a, z)| BodyRule::Range(f, a, z)),
            w.text.map(BodyRule::Text),
        ]
        .into_iter()
        .flatten()
        .collect();
        if rules.is_empty() {
            return Err("the body check checks nothing".into());
        }
        Ok(BodyCheck(rules))
    }
}

/// The checks of what a JSON pointer selects, in the order they are reported; at least one.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenJsonCheck")]
pub struct JsonCheck {
    /// A JSON pointer; a `*` segment selects every element (the selection is then the list).
    pub pointer: String,
    pub rules: Vec<JsonRule>,
}
schema_as_written!(JsonCheck, WrittenJsonCheck, "JsonCheck");

#[derive(Debug, Clone)]
pub enum JsonRule {
    Exists(bool),
    /// Every selected value is a string matching.
    Matches(Pattern),
    Equals(Value),
    Length(usize),
    /// ASCII or case-insensitive lexical order.
    Sorted,
    /// Holds this value (or every element of this list).
    Contains(Value),
    NotContains(Value),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WrittenJsonCheck {
    #[serde(default)]
    pointer: String,
    #[serde(default)]
    equals: Option<Value>,
    #[serde(default)]
    length: Option<usize>,
    /// ASCII or case-insensitive lexical order.
    #[serde(default)]
    sorted: Option<bool>,
    #[serde(default)]
    contains: Option<Value>,
    #[serde(default)]
    not_contains: Option<Value>,
    #[serde(default)]
    exists: Option<bool>,
    /// Regex every selected value (a string) must match.
    #[serde(default)]
    matches: Option<Pattern>,
}

impl TryFrom<WrittenJsonCheck> for JsonCheck {
    type Error = String;
    fn try_from(w: WrittenJsonCheck) -> Result<JsonCheck, String> {
        let rules: Vec<JsonRule> = [
            w.exists.map(JsonRule::Exists),
            w.matches.map(JsonRule::Matches),
            w.equals.map(JsonRule::Equals),
            w.length.map(JsonRule::Length),
            (w.sorted == Some(true)).then_some(JsonRule::Sorted),
            w.contains.map(JsonRule::Contains),
            w.not_contains.map(JsonRule::NotContains),
        ]
        .into_iter()
        .flatten()
        .collect();
        if rules.is_empty() {
            return Err(format!("the json check of `{}` checks nothing", w.pointer));
        }
        Ok(JsonCheck {
            pointer: w.pointer,
            rules,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "WrittenLinkCheck")]
pub enum LinkCheck {
    /// No `Link` header.
    Absent,
    /// An RFC 5988 `Link` with `rel="next"`.
    RelNext,
}
schema_as_written!(LinkCheck, WrittenLinkCheck, "LinkCheck");

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WrittenLinkCheck {
    #[serde(default)]
    absent: Option<bool>,
    #[serde(default)]
    rel_next: Option<bool>,
}

impl TryFrom<WrittenLinkCheck> for LinkCheck {
    type Error = String;
    fn try_from(w: WrittenLinkCheck) -> Result<LinkCheck, String> {
        match (w.absent == Some(true), w.rel_next == Some(true)) {
            (true, false) => Ok(LinkCheck::Absent),
            (false, true) => Ok(LinkCheck::RelNext),
            _ => Err("link check needs one of `absent: true`, `rel_next: true`".into()),
        }
    }
}

/// When an answer means "the registry lacks this optional feature" (the case is unsupported).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unsupported {
    #[serde(default)]
    pub status: Vec<u16>,
    /// If given, the status must match AND (when the body is a JSON error) a code must be listed.
    #[serde(default)]
    pub error_codes: Option<Vec<String>>,
    /// Why this answer means "not supported", for the report.
    #[serde(default)]
    pub reason: Option<String>,
    /// Header conditions that must all hold as well (same checks as `expect.headers`).
    #[serde(default, deserialize_with = "headers")]
    pub headers: BTreeMap<String, HeaderCheck>,
    /// The optional feature this answer declares absent. If the registry signalled earlier in
    /// the case that it has the feature (an `OCI-Subject` for referrers, a 201 mount, an
    /// `OCI-Chunk-Min-Length`, a discovery listing), the answer is a failure, not unsupported.
    #[serde(default)]
    pub feature: Option<Feature>,
}

/// A value of an answer kept for later steps' templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenCapture")]
pub struct Capture {
    pub from: CaptureFrom,
    /// Applied to the captured text; the first group (or the whole match) is kept.
    pub regex: Option<Pattern>,
}
schema_as_written!(Capture, WrittenCapture, "Capture");

#[derive(Debug, Clone)]
pub enum CaptureFrom {
    /// A header's value (`Location` resolved against the base URL).
    Header(String),
    /// What a JSON pointer selects in the body.
    Json(String),
}

/// A capture as written: exactly one of `header`, `json`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["header"]}, {"required": ["json"]}]))]
struct WrittenCapture {
    #[serde(default)]
    header: Option<String>,
    /// A JSON pointer into the body.
    #[serde(default)]
    json: Option<String>,
    /// Applied to the captured text; the first group (or the whole match) is kept.
    #[serde(default)]
    regex: Option<Pattern>,
}

impl TryFrom<WrittenCapture> for Capture {
    type Error = String;
    fn try_from(w: WrittenCapture) -> Result<Capture, String> {
        let from = match (w.header, w.json) {
            (Some(h), None) => CaptureFrom::Header(h),
            (None, Some(p)) => CaptureFrom::Json(p),
            _ => return Err("needs exactly one of header, json".into()),
        };
        Ok(Capture {
            from,
            regex: w.regex,
        })
    }
}
