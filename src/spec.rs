//! The test cases, as data: loading and validating `specs/`.
//!
//! Serde does the structural checks (`deny_unknown_fields` everywhere, so a misspelt key is an
//! error, not a silently ignored expectation); [`validate`] does the cross-references serde
//! cannot: requirement ids, fixture names, template syntax, duplicate ids.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid spec file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: case {case}: {message}")]
    Invalid {
        path: PathBuf,
        case: String,
        message: String,
    },
    #[error("{0}: no spec files (*.json) found")]
    Empty(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workflow {
    Pull,
    Push,
    Discovery,
    Management,
}

impl Workflow {
    pub const ALL: [Workflow; 4] = [
        Workflow::Pull,
        Workflow::Push,
        Workflow::Discovery,
        Workflow::Management,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Workflow::Pull => "pull",
            Workflow::Push => "push",
            Workflow::Discovery => "discovery",
            Workflow::Management => "management",
        }
    }
}

impl std::str::FromStr for Workflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pull" => Ok(Workflow::Pull),
            "push" => Ok(Workflow::Push),
            "discovery" | "content-discovery" | "content_discovery" => Ok(Workflow::Discovery),
            "management" | "content-management" | "content_management" => Ok(Workflow::Management),
            other => Err(format!(
                "unknown workflow `{other}` (pull, push, discovery, management)"
            )),
        }
    }
}

/// RFC 2119 level a case holds the registry to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SpecVersion {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.1.1")]
    V1_1_1,
    #[serde(rename = "dev")]
    Dev,
}

impl SpecVersion {
    pub const ALL: [SpecVersion; 4] = [
        SpecVersion::V1_0,
        SpecVersion::V1_1,
        SpecVersion::V1_1_1,
        SpecVersion::Dev,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V1_0 => "1.0",
            SpecVersion::V1_1 => "1.1",
            SpecVersion::V1_1_1 => "1.1.1",
            SpecVersion::Dev => "dev",
        }
    }
}

impl std::str::FromStr for SpecVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // The official V2 suite's OCI_VERSION spellings are accepted too.
        match s.trim().to_ascii_lowercase().as_str() {
            "1.0" | "1.0.0" | "1.0.1" | "v1.0" => Ok(SpecVersion::V1_0),
            "1.1" | "1.1.0" | "v1.1" => Ok(SpecVersion::V1_1),
            "1.1.1" | "v1.1.1" | "stable" => Ok(SpecVersion::V1_1_1),
            "dev" | "main" | "1.1+dev" | "1.1.1+dev" => Ok(SpecVersion::Dev),
            other => Err(format!(
                "unknown spec version `{other}` (1.0, 1.1, 1.1.1, dev)"
            )),
        }
    }
}

fn all_versions() -> Vec<SpecVersion> {
    SpecVersion::ALL.to_vec()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub area: String,
    #[serde(default)]
    pub description: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub workflow: Workflow,
    pub title: String,
    pub requirements: Vec<String>,
    pub level: Level,
    #[serde(default = "all_versions")]
    pub versions: Vec<SpecVersion>,
    #[serde(default)]
    pub features: Vec<Feature>,
    #[serde(default)]
    pub content: BTreeMap<String, Fixture>,
    /// Steps as written may carry a `repeat` (see [`Repeat`]); they are expanded as they load.
    #[serde(deserialize_with = "expand_repeats")]
    pub steps: Vec<Step>,
    /// Free text for readers of the case file; shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A step's `repeat`: the step once per value, in order, each with `${i}` in its strings
/// replaced by the value. Either the numbers `from..=to`, zero-padded to `width` digits, or
/// these `values`. Expanded when the case loads: the engine and reports see plain steps.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Repeat {
    Range {
        from: u64,
        to: u64,
        #[serde(default)]
        width: usize,
    },
    Values {
        values: Vec<String>,
    },
}

/// A case file is data, not a program: a repeat names at most this many steps.
const MAX_REPEAT: u64 = 1000;

/// The placeholder a repeated step's strings hold for the value.
const REPEAT_VAR: &str = "${i}";

impl Repeat {
    fn values(&self) -> Result<Vec<String>, String> {
        match self {
            Repeat::Range { from, to, width } => {
                if from > to || to - from >= MAX_REPEAT {
                    return Err(format!(
                        "repeat: `from` {from} must not exceed `to` {to}, and at most {MAX_REPEAT} steps"
                    ));
                }
                Ok((*from..=*to).map(|i| format!("{i:0width$}")).collect())
            }
            Repeat::Values { values } => {
                if values.is_empty() || values.len() as u64 > MAX_REPEAT {
                    return Err(format!("repeat: 1 to {MAX_REPEAT} `values`"));
                }
                Ok(values.clone())
            }
        }
    }
}

fn substitute_repeat_var(v: &mut Value, value: &str) {
    match v {
        Value::String(s) if s.contains(REPEAT_VAR) => *s = s.replace(REPEAT_VAR, value),
        Value::Array(a) => a.iter_mut().for_each(|x| substitute_repeat_var(x, value)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute_repeat_var(x, value)),
        _ => {}
    }
}

fn expand_repeats<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Step>, D::Error> {
    use serde::de::Error;
    let written: Vec<Value> = Vec::deserialize(d)?;
    let mut steps = Vec::with_capacity(written.len());
    for (n, mut step) in written.into_iter().enumerate() {
        let at = |e: &dyn std::fmt::Display| D::Error::custom(format!("step {}: {e}", n + 1));
        let repeat = step.as_object_mut().and_then(|o| o.remove("repeat"));
        let Some(repeat) = repeat else {
            steps.push(Step::deserialize(step).map_err(|e| at(&e))?);
            continue;
        };
        let repeat = Repeat::deserialize(repeat)
            .map_err(|_| at(&"repeat: {\"from\", \"to\", \"width\"?} or {\"values\"}"))?;
        for value in repeat.values().map_err(|e| at(&e))? {
            let mut one = step.clone();
            substitute_repeat_var(&mut one, &value);
            steps.push(Step::deserialize(one).map_err(|e| at(&e))?);
        }
    }
    Ok(steps)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fixture {
    Blob(BlobFixture),
    Config(ConfigFixture),
    Image(ImageFixture),
    Index(IndexFixture),
    DockerManifest(DockerFixture),
    Raw(RawFixture),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BlobFixture {
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub text: Option<String>,
    /// Size in chunks of the case's chunk size: the registry's advertised
    /// `OCI-Chunk-Min-Length`, at least 1024 bytes (a client must honour the minimum).
    #[serde(default)]
    pub chunks: Option<u64>,
    #[serde(default)]
    pub algorithm: Option<String>,
    /// Media type used when an image references this blob as a layer.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Never pushed by the `push` macro (a layer the case wants missing or non-distributable).
    #[serde(default)]
    pub skip_push: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFixture {
    #[serde(default)]
    pub media_type: Option<String>,
    /// The `application/vnd.oci.empty.v1+json` blob `{}`.
    #[serde(default)]
    pub empty: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFixture {
    pub config: String,
    #[serde(default)]
    pub layers: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub extra: serde_json::Map<String, Value>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub omit_media_type: bool,
    #[serde(default)]
    pub pad_to: Option<u64>,
    #[serde(default)]
    pub indent: bool,
    #[serde(default)]
    pub layer_media_type: Option<String>,
    /// Embed the config bytes as the descriptor's base64 `data` field.
    #[serde(default)]
    pub data: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IndexFixture {
    #[serde(default)]
    pub manifests: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub omit_media_type: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DockerFixture {
    pub config: String,
    #[serde(default)]
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFixture {
    pub media_type: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub json: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub setup: bool,
    #[serde(default)]
    pub request: Option<RequestSpec>,
    /// Macro: push a fixture (and everything it references).
    #[serde(default)]
    pub push: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub repo: Option<String>,
    /// Macro: follow `Link: <…>; rel="next"` from this request to the end.
    #[serde(default)]
    pub paginate: Option<RequestSpec>,
    #[serde(default)]
    pub collect: Option<String>,
    #[serde(default)]
    pub max_pages: Option<u32>,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default)]
    pub unsupported_if: Option<Unsupported>,
    #[serde(default)]
    pub capture: BTreeMap<String, Capture>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "get")]
    pub method: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<BodySpec>,
    /// Sent over a plain socket exactly as written: no Content-Length is added, so a case can
    /// send a lying one.
    #[serde(default)]
    pub raw: bool,
    /// How the request authenticates (anything but `default` needs the run's credentials, so
    /// the case lists feature `auth`).
    #[serde(default, skip_serializing_if = "AuthSpec::is_default")]
    pub auth: AuthSpec,
}

/// `"default"`: the run's credentials and the token flow; `"anonymous"`: no credentials and no
/// token flow; `"wrong-password"`: the run's user name with a wrong password (through the token
/// flow if the registry challenges with Bearer); `{"token": [SCOPE, ...]}`: a token for exactly
/// these scopes from the token service the registry's challenge names, sent as is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
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
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    #[serde(default)]
    pub fixture: Option<String>,
    /// Inclusive byte range of the fixture.
    #[serde(default)]
    pub range: Option<(u64, u64)>,
    /// Chunks `[first, end)` of the fixture, in the case's chunk size (see `BlobFixture::chunks`).
    #[serde(default)]
    pub chunks: Option<(u64, u64)>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub json: Option<Value>,
    #[serde(default)]
    pub empty: Option<bool>,
    /// `repeat` × `size`: a large body without a large spec file.
    #[serde(default)]
    pub repeat: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub status: Vec<u16>,
    /// `"4xx"`-style class; an answer in `status` or in this class passes.
    #[serde(default)]
    pub status_class: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderCheck>,
    #[serde(default)]
    pub body: Option<BodyCheck>,
    #[serde(default)]
    pub json: Vec<JsonCheck>,
    #[serde(default)]
    pub error_codes: Option<Vec<String>>,
    /// A body that parses as JSON must be a spec error body (any spec code); any other body
    /// passes (R-143: 4xx bodies may be any format, JSON ones must follow the format).
    #[serde(default)]
    pub error_body_if_json: Option<bool>,
    #[serde(default)]
    pub link: Option<LinkCheck>,
    /// `paginate` only: no page holds more entries than this.
    #[serde(default)]
    pub page_size_at_most: Option<usize>,
    /// `paginate` only: a check of the concatenated pages (its `pointer` is ignored).
    #[serde(default)]
    pub collected: Option<JsonCheck>,
    /// On a 401 answer: a well-formed `WWW-Authenticate` challenge (other statuses: not
    /// checked, since a 403 refusal carries none).
    #[serde(default)]
    pub challenge: Option<ChallengeCheck>,
}

/// A `Basic` challenge needs `realm`; a `Bearer` one needs `realm` (an absolute http(s) URL)
/// and `service`, and then these, when given.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderCheck {
    #[serde(default)]
    pub present: Option<bool>,
    #[serde(default)]
    pub absent: Option<bool>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub matches: Option<Pattern>,
    #[serde(default)]
    pub contains: Option<String>,
    /// Like `equals`/`matches`, but an absent header passes (rules that bind only when the
    /// registry chooses to send the header).
    #[serde(default)]
    pub equals_if_present: Option<String>,
    #[serde(default)]
    pub matches_if_present: Option<Pattern>,
    /// Every line of this header together (values, in bytes) stays within this size.
    #[serde(default)]
    pub max_total_bytes: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BodyCheck {
    #[serde(default)]
    pub fixture: Option<String>,
    #[serde(default)]
    pub empty: Option<bool>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub range: Option<(String, u64, u64)>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    #[serde(default)]
    pub pointer: String,
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default)]
    pub length: Option<usize>,
    #[serde(default)]
    pub sorted: Option<bool>,
    #[serde(default)]
    pub contains: Option<Value>,
    #[serde(default)]
    pub not_contains: Option<Value>,
    #[serde(default)]
    pub exists: Option<bool>,
    /// Regex every selected value (a string) must match.
    #[serde(default)]
    pub matches: Option<Pattern>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCheck {
    #[serde(default)]
    pub absent: Option<bool>,
    #[serde(default)]
    pub rel_next: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderCheck>,
    /// The optional feature this answer declares absent. If the registry signalled earlier in
    /// the case that it has the feature (an `OCI-Subject` for referrers, a 201 mount, an
    /// `OCI-Chunk-Min-Length`, a discovery listing), the answer is a failure, not unsupported.
    #[serde(default)]
    pub feature: Option<Feature>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub json: Option<String>,
    /// Applied to the captured text; the first group (or the whole match) is kept.
    #[serde(default)]
    pub regex: Option<Pattern>,
}

/// A regular expression from a case file, compiled once as the case loads: a case with a bad
/// one does not load.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl std::ops::Deref for Pattern {
    type Target = regex::Regex;
    fn deref(&self) -> &regex::Regex {
        &self.0
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let text = String::deserialize(d)?;
        regex::Regex::new(&text)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("bad regex `{text}`: {e}")))
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// One requirement of the catalog (`specs/requirements.json`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Requirement {
    pub id: String,
    pub level: String,
    #[serde(default)]
    pub who: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub statement: String,
    #[serde(default)]
    pub observable: bool,
    #[serde(default, rename = "ref")]
    pub reference: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Catalog {
    pub requirements: Vec<Requirement>,
}

impl Catalog {
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

impl Case {
    /// Whether the case sizes its fixtures in chunks (and so needs the registry's minimum).
    pub fn uses_chunks(&self) -> bool {
        self.content
            .values()
            .any(|f| matches!(f, Fixture::Blob(b) if b.chunks.is_some()))
    }
}

/// Every case of a spec directory, with the catalog they refer to.
#[derive(Debug, Clone)]
pub struct Suite {
    pub dir: PathBuf,
    pub catalog: Catalog,
    /// (file the case came from, the case)
    pub cases: Vec<(PathBuf, Case)>,
    /// Which case set this is, for reports.
    pub case_set: CaseSet,
}

/// Names the case set a run used: where it came from and a digest of its files, so two reports
/// can be told apart (or matched) even when the tool versions agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSet {
    /// `embedded` (built into the binary) or the `--specs` directory.
    pub source: String,
    /// `sha256:` over every file's name and contents, in name order: the same files give the
    /// same digest whether embedded or read from a directory.
    pub digest: String,
    /// How many cases the set holds.
    pub cases: usize,
}

pub const CATALOG_FILE: &str = "requirements.json";
/// Files in the spec directory that are not case files.
const NOT_CASES: &[&str] = &[CATALOG_FILE, "schema.json"];
/// [`CaseSet::source`] of the set built into the binary.
pub const EMBEDDED_SOURCE: &str = "embedded";

mod embedded {
    // Written by src/build.rs: `FILES`, every `specs/*.json` as (name, contents).
    include!(concat!(env!("OUT_DIR"), "/embedded_specs.rs"));
}

impl Suite {
    /// The case set built into this binary (`specs/*.json` at build time).
    pub fn embedded() -> Result<Suite, SpecError> {
        let files = embedded::FILES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        Suite::from_files(Path::new("specs"), EMBEDDED_SOURCE.into(), files)
    }

    /// Loads `dir/requirements.json` and every other `dir/*.json` as a case file.
    pub fn load(dir: &Path) -> Result<Suite, SpecError> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|source| SpecError::Io {
            path: dir.to_path_buf(),
            source,
        })? {
            let Some(path) = entry.ok().map(|e| e.path()) else {
                continue;
            };
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).map_err(|source| SpecError::Io {
                    path: path.clone(),
                    source,
                })?;
                files.push((name.to_string(), text));
            }
        }
        Suite::from_files(dir, dir.display().to_string(), files)
    }

    /// Parses and validates a case set given as (file name, contents); `dir` prefixes the names
    /// in errors and in each case's `file`.
    fn from_files(
        dir: &Path,
        source: String,
        mut files: Vec<(String, String)>,
    ) -> Result<Suite, SpecError> {
        files.sort();
        let catalog_text = files
            .iter()
            .find(|(n, _)| n == CATALOG_FILE)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| SpecError::Io {
                path: dir.join(CATALOG_FILE),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })?;
        let catalog: Catalog = parse_json(&dir.join(CATALOG_FILE), catalog_text)?;
        let mut cases = Vec::new();
        let mut any = false;
        for (name, text) in files
            .iter()
            .filter(|(n, _)| !NOT_CASES.contains(&n.as_str()))
        {
            any = true;
            let path = dir.join(name);
            let file: SpecFile = parse_json(&path, text)?;
            for c in file.cases {
                cases.push((path.clone(), c));
            }
        }
        if !any {
            return Err(SpecError::Empty(dir.to_path_buf()));
        }
        let case_set = CaseSet {
            source,
            digest: files_digest(&files),
            cases: cases.len(),
        };
        let suite = Suite {
            dir: dir.to_path_buf(),
            catalog,
            cases,
            case_set,
        };
        suite.validate()?;
        Ok(suite)
    }

    /// Loads a single case file (a fuzz reproducer, say) against a catalog.
    pub fn load_file(path: &Path, catalog: Catalog) -> Result<Suite, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: SpecFile = parse_json(path, &text)?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let case_set = CaseSet {
            source: path.display().to_string(),
            digest: files_digest(&[(name.to_string(), text.clone())]),
            cases: file.cases.len(),
        };
        let suite = Suite {
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            catalog,
            cases: file
                .cases
                .into_iter()
                .map(|c| (path.to_path_buf(), c))
                .collect(),
            case_set,
        };
        suite.validate()?;
        Ok(suite)
    }

    fn validate(&self) -> Result<(), SpecError> {
        let known: HashSet<&str> = self
            .catalog
            .requirements
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        let mut seen = HashSet::new();
        for (path, case) in &self.cases {
            let bad = |message: String| SpecError::Invalid {
                path: path.clone(),
                case: case.id.clone(),
                message,
            };
            if !seen.insert(case.id.as_str()) {
                return Err(bad("duplicate case id".into()));
            }
            validate_case(case, &known).map_err(bad)?;
        }
        Ok(())
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, SpecError> {
    serde_json::from_str(text).map_err(|e| SpecError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `sha256:` of every (name, contents) in order, each field length-prefixed so no two different
/// sets hash alike.
fn files_digest(files: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, text) in files {
        for part in [name.as_bytes(), text.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn valid_case_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !seg.starts_with('-')
                && !seg.ends_with('-')
        })
}

/// An optional registry capability. Cases list the ones they need; `run` and `fuzz` take the
/// same names in `--disable-feature` (an unknown name is a configuration error).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Feature {
    /// Tests authentication: runs only with credentials (an open registry has nothing to refuse).
    Auth,
    AutoMount,
    Catalog,
    ChunkedUpload,
    DeleteBlob,
    DeleteManifest,
    DeleteTag,
    Extensions,
    /// Mounting a blob `from` another repository.
    #[serde(alias = "cross-mount")]
    #[value(alias = "cross-mount")]
    Mount,
    PullRequiresAuth,
    Range,
    Referrers,
    Sha512,
    SinglePost,
    TagParam,
    UploadCancel,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Auth => "auth",
            Feature::AutoMount => "auto-mount",
            Feature::Catalog => "catalog",
            Feature::ChunkedUpload => "chunked-upload",
            Feature::DeleteBlob => "delete-blob",
            Feature::DeleteManifest => "delete-manifest",
            Feature::DeleteTag => "delete-tag",
            Feature::Extensions => "extensions",
            Feature::Mount => "mount",
            Feature::PullRequiresAuth => "pull-requires-auth",
            Feature::Range => "range",
            Feature::Referrers => "referrers",
            Feature::Sha512 => "sha512",
            Feature::SinglePost => "single-post",
            Feature::TagParam => "tag-param",
            Feature::UploadCancel => "upload-cancel",
        }
    }
    /// Every name, for messages.
    pub fn names() -> Vec<&'static str> {
        use clap::ValueEnum;
        Feature::value_variants()
            .iter()
            .map(|f| f.as_str())
            .collect()
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cases with this feature test the registry's authentication: they run only when the run has
/// credentials (a registry without auth has nothing to refuse).
pub const AUTH_FEATURE: Feature = Feature::Auth;

pub const SPEC_ERROR_CODES: [&str; 14] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

fn validate_case(case: &Case, known_reqs: &HashSet<&str>) -> Result<(), String> {
    if !valid_case_id(&case.id) {
        return Err("id must be lowercase segments of [a-z0-9-] joined by `/`".into());
    }
    if case.requirements.is_empty() {
        return Err("names no requirement".into());
    }
    for r in &case.requirements {
        if !known_reqs.contains(r.as_str()) {
            return Err(format!("unknown requirement `{r}`"));
        }
    }
    if case.versions.is_empty() {
        return Err("`versions` is empty".into());
    }
    if case.steps.is_empty() {
        return Err("has no steps".into());
    }
    let fixtures: HashSet<&str> = case.content.keys().map(String::as_str).collect();
    for (name, f) in &case.content {
        let refs: Vec<&String> = match f {
            Fixture::Image(i) => std::iter::once(&i.config)
                .chain(i.layers.iter())
                .chain(i.subject.iter())
                .collect(),
            Fixture::Index(i) => i.manifests.iter().chain(i.subject.iter()).collect(),
            Fixture::DockerManifest(d) => {
                std::iter::once(&d.config).chain(d.layers.iter()).collect()
            }
            Fixture::Blob(b) => {
                if [b.size.is_some(), b.text.is_some(), b.chunks.is_some()]
                    .iter()
                    .filter(|x| **x)
                    .count()
                    != 1
                {
                    return Err(format!(
                        "blob `{name}` needs exactly one of size, text, chunks"
                    ));
                }
                if let Some(a) = &b.algorithm {
                    if a != "sha256" && a != "sha512" {
                        return Err(format!("blob `{name}`: algorithm must be sha256 or sha512"));
                    }
                }
                vec![]
            }
            Fixture::Raw(r) => {
                if r.text.is_some() == r.json.is_some() {
                    return Err(format!("raw `{name}` needs exactly one of text, json"));
                }
                vec![]
            }
            Fixture::Config(_) => vec![],
        };
        for r in refs {
            if !fixtures.contains(r.as_str()) {
                return Err(format!("fixture `{name}` refers to unknown fixture `{r}`"));
            }
        }
    }
    let mut captured: HashSet<String> = HashSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        let at = |m: String| format!("step {}: {m}", i + 1);
        let kinds = [
            step.request.is_some(),
            step.push.is_some(),
            step.paginate.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if kinds != 1 {
            return Err(at("needs exactly one of request, push, paginate".into()));
        }
        if let Some(p) = &step.push {
            if !fixtures.contains(p.as_str()) {
                return Err(at(format!("push of unknown fixture `{p}`")));
            }
        }
        for req in step.request.iter().chain(step.paginate.iter()) {
            if req.path.is_some() == req.url.is_some() {
                return Err(at("request needs exactly one of path, url".into()));
            }
            let needs_credentials =
                matches!(req.auth, AuthSpec::WrongPassword | AuthSpec::Token(_));
            if needs_credentials && !case.features.contains(&AUTH_FEATURE) {
                return Err(at(format!(
                    "`auth` {:?} needs the run's credentials: list feature `{AUTH_FEATURE}`",
                    req.auth
                )));
            }
            if let AuthSpec::Token(scopes) = &req.auth {
                if scopes.is_empty() {
                    return Err(at("`auth.token` names no scope".into()));
                }
            }
            if req.raw && !req.auth.is_default() {
                return Err(at("raw requests use the run's credentials only".into()));
            }
            if let Some(b) = &req.body {
                let n = [
                    b.fixture.is_some(),
                    b.text.is_some(),
                    b.json.is_some(),
                    b.empty.is_some(),
                    b.repeat.is_some(),
                ]
                .iter()
                .filter(|x| **x)
                .count();
                if n != 1 {
                    return Err(at(
                        "body needs exactly one of fixture, text, json, empty, repeat".into(),
                    ));
                }
                if let Some(f) = &b.fixture {
                    if !fixtures.contains(f.as_str()) {
                        return Err(at(format!("body of unknown fixture `{f}`")));
                    }
                }
                if b.range.is_some() && b.chunks.is_some() {
                    return Err(at("body takes range or chunks, not both".into()));
                }
                if b.chunks.is_some_and(|(a, z)| a >= z) {
                    return Err(at("body chunks [first, end) needs first < end".into()));
                }
                if b.repeat.is_some() != b.size.is_some() {
                    return Err(at("body `repeat` needs `size` (and only then)".into()));
                }
            }
        }
        if let Some(codes) = &step.expect.error_codes {
            for c in codes {
                if !SPEC_ERROR_CODES.contains(&c.as_str()) {
                    return Err(at(format!("`{c}` is not an error code of the spec")));
                }
            }
        }
        if let Some(bc) = &step.expect.body {
            if let Some(f) = bc.fixture.as_ref().or(bc.range.as_ref().map(|r| &r.0)) {
                if !fixtures.contains(f.as_str()) {
                    return Err(at(format!("body check of unknown fixture `{f}`")));
                }
            }
        }
        for (name, c) in &step.capture {
            if c.header.is_some() == c.json.is_some() {
                return Err(at(format!(
                    "capture `{name}` needs exactly one of header, json"
                )));
            }
        }
        // Templates may only name things that exist by the time the step runs.
        let mut strings = Vec::new();
        collect_step_strings(step, &mut strings);
        for s in strings {
            crate::template::check(&s, &fixtures, &captured).map_err(at)?;
        }
        captured.extend(step.capture.keys().cloned());
    }
    Ok(())
}

fn collect_step_strings(step: &Step, out: &mut Vec<String>) {
    for req in step.request.iter().chain(step.paginate.iter()) {
        out.extend(req.path.clone());
        out.extend(req.url.clone());
        for (k, v) in &req.query {
            out.push(k.clone());
            out.push(v.clone());
        }
        out.extend(req.headers.values().cloned());
        if let Some(b) = &req.body {
            out.extend(b.text.clone());
            if let Some(j) = &b.json {
                collect_json_strings(j, out);
            }
        }
    }
    out.extend(step.tag.clone());
    out.extend(step.repo.clone());
    let unsupported_headers = step.unsupported_if.iter().flat_map(|u| u.headers.values());
    for h in step.expect.headers.values().chain(unsupported_headers) {
        out.extend(h.equals.clone());
        out.extend(h.contains.clone());
        out.extend(h.equals_if_present.clone());
    }
    if let Some(b) = &step.expect.body {
        out.extend(b.digest.clone());
        out.extend(b.text.clone());
    }
    for j in step.expect.json.iter().chain(step.expect.collected.iter()) {
        for v in [&j.equals, &j.contains, &j.not_contains]
            .into_iter()
            .flatten()
        {
            collect_json_strings(v, out);
        }
    }
}

fn collect_json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_json_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_json_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps_of(steps: &str) -> Result<Vec<Step>, String> {
        let text = format!(
            r#"{{"area":"a","cases":[{{"id":"a/b","workflow":"pull","title":"t",
            "requirements":["R-001"],"level":"MUST","steps":{steps}}}]}}"#
        );
        serde_json::from_str::<SpecFile>(&text)
            .map(|mut f| f.cases.remove(0).steps)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn repeated_steps_expand_in_place_with_the_value_substituted() {
        let steps = steps_of(
            r#"[{"push":"img","tag":"t00"},
                {"repeat":{"from":1,"to":3,"width":2},"name":"tag t${i}",
                 "request":{"method":"PUT","path":"/v2/${repo}/manifests/t${i}"}},
                {"repeat":{"values":["A","b"]},"push":"${i}"},
                {"request":{"path":"/v2/${repo}/tags/list"}}]"#,
        )
        .unwrap();
        let names: Vec<String> = steps
            .iter()
            .map(|s| {
                s.request
                    .as_ref()
                    .and_then(|r| r.path.clone())
                    .or(s.push.clone())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            names,
            [
                "img",
                "/v2/${repo}/manifests/t01",
                "/v2/${repo}/manifests/t02",
                "/v2/${repo}/manifests/t03",
                "A",
                "b",
                "/v2/${repo}/tags/list"
            ]
        );
        assert_eq!(steps[2].name.as_deref(), Some("tag t02"));
        // Without `width`, numbers are written as they are.
        let plain = steps_of(r#"[{"repeat":{"from":9,"to":10},"push":"r${i}"}]"#).unwrap();
        assert_eq!(plain[0].push.as_deref(), Some("r9"));
        assert_eq!(plain[1].push.as_deref(), Some("r10"));
    }

    #[test]
    fn a_bad_repeat_is_an_error_naming_the_step() {
        for bad in [
            r#"[{"repeat":{"from":3,"to":1},"push":"x"}]"#,
            r#"[{"repeat":{"from":0,"to":5000},"push":"x"}]"#,
            r#"[{"repeat":{"values":[]},"push":"x"}]"#,
            r#"[{"repeat":{"form":1,"to":2},"push":"x"}]"#,
            r#"[{"repeat":{"from":1,"to":2},"pushh":"x"}]"#,
        ] {
            let e = steps_of(bad).unwrap_err();
            assert!(e.contains("step 1"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bad_regex_fails_the_load_not_the_run() {
        for bad in [
            r#"{"request":{"path":"/v2/"},"expect":{"headers":{"X":{"matches":"("}}}}"#,
            r#"{"request":{"path":"/v2/"},"expect":{"json":[{"pointer":"/a","matches":"[a"}]}}"#,
            r#"{"request":{"path":"/v2/"},"capture":{"c":{"header":"X","regex":"(?<"}}}"#,
        ] {
            let e = steps_of(&format!("[{bad}]")).unwrap_err();
            assert!(e.contains("bad regex"), "{bad}: {e}");
        }
        let ok = steps_of(
            r#"[{"request":{"path":"/v2/"},"expect":{"headers":{"X":{"matches":"^a+$"}}}}]"#,
        )
        .unwrap();
        let re = ok[0].expect.headers["X"].matches.as_ref().unwrap();
        assert!(re.is_match("aaa") && !re.is_match("ab"));
        assert_eq!(re.to_string(), "^a+$");
    }
}
