//! The test cases, as data: loading `specs/`.
//!
//! Parse, don't validate: a case deserializes only when it is valid (`deny_unknown_fields`
//! everywhere, so a misspelt key is an error, not a silently ignored expectation; enums for
//! every field that has several shapes, see [`step`]; fixture names, templates and captures
//! checked as the case parses). What a case cannot know is checked as the suite loads:
//! requirement ids against the catalog, and ids unique across files.
//! `specs/schema.json` is generated from these types ([`schema_json`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

mod step;
use step::schema_as_written;
pub use step::{
    request_step, Action, AuthSpec, BodyCheck, BodyRule, BodySpec, Capture, CaptureFrom,
    ChallengeCheck, Expect, HeaderCheck, HeaderRule, JsonCheck, JsonRule, LinkCheck, PageExpect,
    Part, RequestSpec, StatusClass, Step, Target, Unsupported,
};

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

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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

/// One case file as written (`specs/<area>.json`); the root of `specs/schema.json`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "oci-conformance case file",
    description = "One area of test cases; see specs/README.md. Generated from the case types \
                   (src/spec.rs): do not edit by hand."
)]
pub struct SpecFile {
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    #[schemars(length(min = 1))]
    pub area: String,
    #[serde(default)]
    pub description: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenCase")]
pub struct Case {
    pub id: String,
    pub workflow: Workflow,
    pub title: String,
    pub requirements: Vec<String>,
    pub level: Level,
    pub versions: Vec<SpecVersion>,
    pub features: Vec<Feature>,
    pub content: BTreeMap<String, Fixture>,
    /// Repeats expanded: one entry per step that runs.
    pub steps: Vec<Step>,
    /// Free text for readers of the case file; shown in reports.
    pub note: Option<String>,
}
schema_as_written!(Case, WrittenCase, "Case");

/// A case as written. Its steps stay JSON until the case parses them (repeats expanded), so
/// that an error names the case and the step.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WrittenCase {
    /// Stable and unique: lowercase segments of `[a-z0-9-]` joined by `/`.
    #[schemars(regex(pattern = r"^[a-z0-9]+(-+[a-z0-9]+)*(/[a-z0-9]+(-+[a-z0-9]+)*)*$"))]
    id: String,
    workflow: Workflow,
    #[schemars(length(min = 1))]
    title: String,
    /// Ids of `requirements.json`.
    #[schemars(length(min = 1))]
    requirements: Vec<String>,
    /// What the case holds the registry to.
    level: Level,
    /// Spec versions the case applies to (default: all).
    #[serde(default = "all_versions")]
    #[schemars(length(min = 1))]
    versions: Vec<SpecVersion>,
    /// Optional features the case needs (`--disable-feature` skips it).
    #[serde(default)]
    features: Vec<Feature>,
    /// Fixtures, by name.
    #[serde(default, deserialize_with = "step::fixtures")]
    content: BTreeMap<String, Fixture>,
    #[schemars(with = "Vec<step::WrittenStep>", length(min = 1))]
    steps: Vec<Value>,
    /// Free text for readers of the case file; shown in reports.
    #[serde(default)]
    note: Option<String>,
}

impl TryFrom<WrittenCase> for Case {
    type Error = String;
    fn try_from(w: WrittenCase) -> Result<Case, String> {
        let id = w.id;
        let in_case = |m: String| format!("case {id}: {m}");
        let steps = expand_steps(w.steps).map_err(in_case)?;
        let case = Case {
            id: id.clone(),
            workflow: w.workflow,
            title: w.title,
            requirements: w.requirements,
            level: w.level,
            versions: w.versions,
            features: w.features,
            content: w.content,
            steps,
            note: w.note,
        };
        check_case(&case).map_err(in_case)?;
        Ok(case)
    }
}

/// A step's `repeat`: the step once per value, in order, each with `${i}` in its strings
/// replaced by the value. Either the numbers `from..=to`, zero-padded to `width` digits, or
/// these `values`. Expanded when the case loads: the engine and reports see plain steps.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

/// Parses the steps as written, each `repeat` expanded in place.
fn expand_steps(written: Vec<Value>) -> Result<Vec<Step>, String> {
    let mut steps = Vec::with_capacity(written.len());
    for (n, mut step) in written.into_iter().enumerate() {
        let at = |e: &dyn std::fmt::Display| format!("step {}: {e}", n + 1);
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

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fixture {
    Blob(BlobFixture),
    Config(ConfigFixture),
    Image(ImageFixture),
    Index(IndexFixture),
    DockerManifest(DockerFixture),
    Raw(RawFixture),
}

impl Fixture {
    /// The fixtures this one refers to by name.
    fn refs(&self) -> Vec<&String> {
        match self {
            Fixture::Image(i) => std::iter::once(&i.config)
                .chain(i.layers.iter())
                .chain(i.subject.iter())
                .collect(),
            Fixture::Index(i) => i.manifests.iter().chain(i.subject.iter()).collect(),
            Fixture::DockerManifest(d) => {
                std::iter::once(&d.config).chain(d.layers.iter()).collect()
            }
            Fixture::Blob(_) | Fixture::Raw(_) | Fixture::Config(_) => vec![],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenBlob")]
pub struct BlobFixture {
    pub data: BlobData,
    pub algorithm: DigestAlgorithm,
    /// Media type used when an image references this blob as a layer.
    pub media_type: Option<String>,
    /// Never pushed by the `push` macro (a layer the case wants missing or non-distributable).
    pub skip_push: bool,
}
schema_as_written!(BlobFixture, WrittenBlob, "BlobFixture");

#[derive(Debug, Clone)]
pub enum BlobData {
    /// This many random bytes.
    Size(u64),
    Text(String),
    /// Size in chunks of the case's chunk size: the registry's advertised
    /// `OCI-Chunk-Min-Length`, at least 1024 bytes (a client must honour the minimum).
    Chunks(u64),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DigestAlgorithm {
    #[default]
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }
}

/// A blob as written: exactly one of `size`, `text`, `chunks`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["size"]}, {"required": ["text"]}, {"required": ["chunks"]}]))]
struct WrittenBlob {
    /// This many random bytes.
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    text: Option<String>,
    /// Size in chunks of the case's chunk size (the registry's `OCI-Chunk-Min-Length`, at
    /// least 1024 bytes).
    #[serde(default)]
    #[schemars(range(min = 1))]
    chunks: Option<u64>,
    #[serde(default)]
    algorithm: DigestAlgorithm,
    /// Media type used when an image references this blob as a layer.
    #[serde(default)]
    media_type: Option<String>,
    /// Never pushed by the `push` macro (a layer the case wants missing or non-distributable).
    #[serde(default)]
    skip_push: bool,
}

impl TryFrom<WrittenBlob> for BlobFixture {
    type Error = String;
    fn try_from(w: WrittenBlob) -> Result<BlobFixture, String> {
        let data = match (w.size, w.text, w.chunks) {
            (Some(n), None, None) => BlobData::Size(n),
            (None, Some(t), None) => BlobData::Text(t),
            (None, None, Some(n)) => BlobData::Chunks(n),
            _ => return Err("a blob needs exactly one of size, text, chunks".into()),
        };
        Ok(BlobFixture {
            data,
            algorithm: w.algorithm,
            media_type: w.media_type,
            skip_push: w.skip_push,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFixture {
    #[serde(default)]
    pub media_type: Option<String>,
    /// The `application/vnd.oci.empty.v1+json` blob `{}`.
    #[serde(default)]
    pub empty: bool,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
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
    /// Unknown top-level fields, kept byte for byte.
    #[serde(default)]
    pub extra: serde_json::Map<String, Value>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub omit_media_type: bool,
    /// Grow the manifest (an annotation) to about this many bytes.
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

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerFixture {
    pub config: String,
    #[serde(default)]
    pub layers: Vec<String>,
}

/// A hand-made manifest: these bytes with this media type.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "WrittenRaw")]
pub struct RawFixture {
    pub media_type: String,
    pub body: RawBody,
}
schema_as_written!(RawFixture, WrittenRaw, "RawFixture");

#[derive(Debug, Clone)]
pub enum RawBody {
    Text(String),
    Json(Value),
}

/// A raw fixture as written: exactly one of `text`, `json`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["text"]}, {"required": ["json"]}]))]
struct WrittenRaw {
    media_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    json: Option<Value>,
}

impl TryFrom<WrittenRaw> for RawFixture {
    type Error = String;
    fn try_from(w: WrittenRaw) -> Result<RawFixture, String> {
        let body = match (w.text, w.json) {
            (Some(t), None) => RawBody::Text(t),
            (None, Some(j)) => RawBody::Json(j),
            _ => return Err("a raw fixture needs exactly one of text, json".into()),
        };
        Ok(RawFixture {
            media_type: w.media_type,
            body,
        })
    }
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

impl JsonSchema for Pattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Pattern".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "regex"})
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
            .any(|f| matches!(f, Fixture::Blob(b) if matches!(b.data, BlobData::Chunks(_))))
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

    /// What no case can check by itself: its requirement ids are in the catalog (a separate
    /// file), and no other case has its id (other files).
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
            if let Some(r) = case
                .requirements
                .iter()
                .find(|r| !known.contains(r.as_str()))
            {
                return Err(bad(format!("unknown requirement `{r}`")));
            }
        }
        Ok(())
    }
}

/// `specs/schema.json`: the JSON Schema of a case file, generated from the types above (the
/// form they take as written). A test fails when the file differs; it says how to regenerate.
pub fn schema_json() -> String {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<SpecFile>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
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
    JsonSchema,
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

/// The checks that need the whole case: a step's fields cannot know the case's fixtures, its
/// features, or what earlier steps captured.
fn check_case(case: &Case) -> Result<(), String> {
    if !valid_case_id(&case.id) {
        return Err("id must be lowercase segments of [a-z0-9-] joined by `/`".into());
    }
    // Serde cannot say "at least one" of a list; the schema does (minItems).
    if case.requirements.is_empty() {
        return Err("names no requirement".into());
    }
    if case.versions.is_empty() {
        return Err("`versions` is empty".into());
    }
    if case.steps.is_empty() {
        return Err("has no steps".into());
    }
    let fixtures: HashSet<&str> = case.content.keys().map(String::as_str).collect();
    for (name, f) in &case.content {
        if let Some(r) = f
            .refs()
            .into_iter()
            .find(|r| !fixtures.contains(r.as_str()))
        {
            return Err(format!("fixture `{name}` refers to unknown fixture `{r}`"));
        }
    }
    let mut captured: HashSet<String> = HashSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        let at = |m: String| format!("step {}: {m}", i + 1);
        check_step(case, step, &fixtures).map_err(at)?;
        // Templates may only name things that exist by the time the step runs.
        let mut strings = Vec::new();
        collect_step_strings(step, &mut strings);
        for s in strings {
            crate::template::check(&s, &fixtures, &captured).map_err(at)?;
        }
        if let Action::Request { capture, .. } = &step.action {
            captured.extend(capture.keys().cloned());
        }
    }
    Ok(())
}

/// A step's fixture names exist in the case, and a request that needs the run's credentials
/// is in a case that says so (feature `auth`).
fn check_step(case: &Case, step: &Step, fixtures: &HashSet<&str>) -> Result<(), String> {
    let known = |what: &str, f: &str| {
        if fixtures.contains(f) {
            Ok(())
        } else {
            Err(format!("{what} of unknown fixture `{f}`"))
        }
    };
    if let Action::Push { fixture, .. } = &step.action {
        known("push", fixture)?;
    }
    if let Some(req) = step.request() {
        if req.auth.needs_credentials() && !case.features.contains(&AUTH_FEATURE) {
            return Err(format!(
                "`auth` {:?} needs the run's credentials: list feature `{AUTH_FEATURE}`",
                req.auth
            ));
        }
        if let Some(BodySpec::Fixture { name, .. }) = &req.body {
            known("body", name)?;
        }
    }
    if let Action::Request { expect, .. } = &step.action {
        for rule in expect.body.iter().flat_map(|b| &b.0) {
            if let BodyRule::Fixture(f) | BodyRule::Range(f, ..) = rule {
                known("body check", f)?;
            }
        }
    }
    Ok(())
}

/// Every string of a step that templates expand.
fn collect_step_strings(step: &Step, out: &mut Vec<String>) {
    if let Some(req) = step.request() {
        match &req.target {
            Target::Path(p) | Target::Url(p) => out.push(p.clone()),
        }
        for (k, v) in &req.query {
            out.push(k.clone());
            out.push(v.clone());
        }
        out.extend(req.headers.values().cloned());
        match &req.body {
            Some(BodySpec::Text(t)) => out.push(t.clone()),
            Some(BodySpec::Json(j)) => collect_json_strings(j, out),
            _ => {}
        }
    }
    let unsupported_headers = step.unsupported_if.iter().flat_map(|u| u.headers.values());
    let mut json_checks: Vec<&JsonCheck> = Vec::new();
    let mut header_checks: Vec<&HeaderCheck> = unsupported_headers.collect();
    match &step.action {
        Action::Push { tag, repo, .. } => {
            out.extend(tag.clone());
            out.extend(repo.clone());
        }
        Action::Request { expect, .. } => {
            header_checks.extend(expect.headers.values());
            for rule in expect.body.iter().flat_map(|b| &b.0) {
                if let BodyRule::Digest(t) | BodyRule::Text(t) = rule {
                    out.push(t.clone());
                }
            }
            json_checks.extend(&expect.json);
        }
        Action::Paginate { expect, .. } => json_checks.extend(&expect.collected),
    }
    for rule in header_checks.iter().flat_map(|h| &h.0) {
        if let HeaderRule::Equals(t) | HeaderRule::Contains(t) | HeaderRule::EqualsIfPresent(t) =
            rule
        {
            out.push(t.clone());
        }
    }
    for rule in json_checks.iter().flat_map(|j| &j.rules) {
        if let JsonRule::Equals(v) | JsonRule::Contains(v) | JsonRule::NotContains(v) = rule {
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

    /// The steps of a case, parsed without the case's checks (fixture names, templates).
    fn steps_of(steps: &str) -> Result<Vec<Step>, String> {
        expand_steps(serde_json::from_str(steps).unwrap())
    }

    fn pushed(s: &Step) -> Option<&str> {
        match &s.action {
            Action::Push { fixture, .. } => Some(fixture),
            _ => None,
        }
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
                s.request()
                    .and_then(RequestSpec::path)
                    .or(pushed(s))
                    .unwrap_or_default()
                    .to_string()
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
        assert_eq!(pushed(&plain[0]), Some("r9"));
        assert_eq!(pushed(&plain[1]), Some("r10"));
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
        let Action::Request { expect, .. } = &ok[0].action else {
            panic!("a request step")
        };
        let [HeaderRule::Matches(re)] = expect.headers["X"].0.as_slice() else {
            panic!("one `matches` rule")
        };
        assert!(re.is_match("aaa") && !re.is_match("ab"));
        assert_eq!(re.to_string(), "^a+$");
    }

    #[test]
    fn a_step_of_the_wrong_shape_does_not_parse_and_the_error_says_why() {
        for (bad, why) in [
            (
                r#"{"push":"a","request":{"path":"/v2/"}}"#,
                "exactly one of request, push",
            ),
            (
                r#"{"request":{"path":"/v2/","url":"x"}}"#,
                "exactly one of path, url",
            ),
            (
                r#"{"request":{"path":"/v2/","body":{"text":"a","json":1}}}"#,
                "exactly one of fixture",
            ),
            (
                r#"{"request":{"path":"/v2/","body":{"text":"a","range":[0,1]}}}"#,
                "parts of a `fixture`",
            ),
            (
                r#"{"request":{"path":"/v2/","body":{"fixture":"f","chunks":[2,2]}}}"#,
                "first < end",
            ),
            (
                r#"{"request":{"path":"/v2/","body":{"repeat":"a"}}}"#,
                "needs `size`",
            ),
            (
                r#"{"request":{"path":"/v2/"},"capture":{"loc":{}}}"#,
                "capture `loc`",
            ),
            (
                r#"{"request":{"path":"/v2/"},"expect":{"headers":{"X":{}}}}"#,
                "header `X`: checks nothing",
            ),
            (
                r#"{"request":{"path":"/v2/"},"expect":{"json":[{"pointer":"/a"}]}}"#,
                "`/a` checks nothing",
            ),
            (
                r#"{"request":{"path":"/v2/"},"expect":{"error_codes":["NOPE"]}}"#,
                "`NOPE` is not",
            ),
            (
                r#"{"request":{"path":"/v2/"},"expect":{"status_class":"44x"}}"#,
                "status_class",
            ),
            (
                r#"{"request":{"path":"/v2/"},"expect":{"collected":{"length":1}}}"#,
                "paginate",
            ),
            (
                r#"{"paginate":{"path":"/v2/"},"expect":{"json":[{"pointer":"","length":1}]}}"#,
                "`expect.json`",
            ),
            (
                r#"{"push":"a","capture":{"x":{"header":"X"}}}"#,
                "`capture` does not apply",
            ),
            (
                r#"{"request":{"path":"/v2/","raw":true,"auth":"anonymous"}}"#,
                "raw requests",
            ),
        ] {
            let e = steps_of(&format!("[{bad}]")).unwrap_err();
            assert!(e.contains(why) && e.starts_with("step 1: "), "{bad}: {e}");
        }
    }

    #[test]
    fn a_case_error_names_the_case_and_the_step() {
        let file = |steps: &str, content: &str| {
            let text = format!(
                r#"{{"area":"a","cases":[{{"id":"a/b","workflow":"pull","title":"t",
                "requirements":["R-001"],"level":"MUST","content":{{{content}}},"steps":{steps}}}]}}"#
            );
            serde_json::from_str::<SpecFile>(&text).map_err(|e| e.to_string())
        };
        for (steps, content, why) in [
            (
                r#"[{"push":"img"}]"#,
                "",
                "case a/b: step 1: push of unknown fixture `img`",
            ),
            (
                r#"[{"push":"b"}]"#,
                r#""b":{"blob":{"size":1,"text":"x"}}"#,
                "fixture `b`: a blob needs",
            ),
            (
                r#"[{"request":{"path":"/v2/","auth":"wrong-password"}}]"#,
                "",
                "list feature `auth`",
            ),
            (
                r#"[{"request":{"path":"/${x}"}},{"request":{"path":"/"},"capture":{"x":{"header":"X"}}}]"#,
                "",
                "case a/b: step 1: `${x}`",
            ),
            ("[]", "", "case a/b: has no steps"),
        ] {
            let e = file(steps, content).unwrap_err();
            assert!(e.contains(why), "{steps}: {e}");
        }
        let ok = file(
            r#"[{"request":{"path":"/v2/"},"capture":{"x":{"json":"/a"}}},{"request":{"url":"${x}"}}]"#,
            "",
        )
        .unwrap();
        assert_eq!(ok.cases[0].steps.len(), 2);
    }

    /// Regenerate with `UPDATE_SCHEMA=1 cargo test --lib schema_json`.
    #[test]
    fn schema_json_is_generated_from_the_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/schema.json");
        let generated = schema_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "specs/schema.json differs from the schema of the case types: regenerate it with \
             `UPDATE_SCHEMA=1 cargo test --lib schema_json` and commit it"
        );
    }
}
