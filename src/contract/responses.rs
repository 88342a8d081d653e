//! What an answer must look like, per endpoint and situation, per spec version: the statuses
//! allowed, the error codes a 4xx must carry, and the headers a success must (or, if present,
//! must correctly) carry — each rule naming the requirement ids a conformance case for it names,
//! so a fuzz finding and a failed case point at the same rule.
//!
//! Every MAY and "either X or Y" of the spec is a set here, never one side of it: a 404 for a
//! repository that may or may not exist allows both codes; a mount that cannot be served may be
//! a 201 or a 202 session; a header the version only recommends is checked when present.

use crate::spec::SpecVersion;
use sha2::Digest as _;

/// The registry operation a request performs, told from its method, path and query alone
/// (upload locations are opaque, so what cannot be placed by path is placed by method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    Base,
    GetManifest,
    HeadManifest,
    PutManifest,
    DeleteManifest,
    DeleteTag,
    GetBlob,
    HeadBlob,
    DeleteBlob,
    StartUpload,
    SinglePost,
    Mount,
    PatchUpload,
    CloseUpload,
    UploadStatus,
    CancelUpload,
    ListTags,
    ListReferrers,
    Other,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Base => "base",
            Endpoint::GetManifest => "get-manifest",
            Endpoint::HeadManifest => "head-manifest",
            Endpoint::PutManifest => "put-manifest",
            Endpoint::DeleteManifest => "delete-manifest",
            Endpoint::DeleteTag => "delete-tag",
            Endpoint::GetBlob => "get-blob",
            Endpoint::HeadBlob => "head-blob",
            Endpoint::DeleteBlob => "delete-blob",
            Endpoint::StartUpload => "start-upload",
            Endpoint::SinglePost => "single-post",
            Endpoint::Mount => "mount",
            Endpoint::PatchUpload => "patch-upload",
            Endpoint::CloseUpload => "close-upload",
            Endpoint::UploadStatus => "upload-status",
            Endpoint::CancelUpload => "cancel-upload",
            Endpoint::ListTags => "list-tags",
            Endpoint::ListReferrers => "list-referrers",
            Endpoint::Other => "other",
        }
    }

    /// Changes what the registry holds when it succeeds.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Endpoint::PutManifest
                | Endpoint::DeleteManifest
                | Endpoint::DeleteTag
                | Endpoint::DeleteBlob
                | Endpoint::SinglePost
                | Endpoint::Mount
                | Endpoint::CloseUpload
        )
    }

    /// Classifies a request; `target` is a path (with query) or an absolute URL.
    pub fn of(method: &str, target: &str) -> Endpoint {
        let path_query = match target.find("://") {
            Some(i) => target[i + 3..]
                .find('/')
                .map_or("/", |j| &target[i + 3 + j..]),
            None => target,
        };
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let has = |k: &str| query.split('&').any(|kv| kv.split('=').next() == Some(k));
        let in_v2 = path.starts_with("/v2/");
        if path == "/v2/" || path == "/v2" {
            return Endpoint::Base;
        }
        // Read from the end: a repository name may hold components such as `manifests`,
        // `blobs` or `referrers` (a case id as a name), the endpoint is its last segments.
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        let kind = parent.rsplit('/').next().unwrap_or("");
        if in_v2 && path.ends_with("/tags/list") {
            return Endpoint::ListTags;
        }
        if in_v2 && path.ends_with("/blobs/uploads/") && method == "POST" {
            return if has("mount") {
                Endpoint::Mount
            } else if has("digest") {
                Endpoint::SinglePost
            } else {
                Endpoint::StartUpload
            };
        }
        let session = parent.ends_with("/blobs/uploads") || path.ends_with("/blobs/uploads/");
        if in_v2 && !session && !last.is_empty() {
            match kind {
                "referrers" => return Endpoint::ListReferrers,
                "manifests" => {
                    let by_digest = last.contains(':') || last.contains("%3A");
                    return match method {
                        "GET" => Endpoint::GetManifest,
                        "HEAD" => Endpoint::HeadManifest,
                        "PUT" => Endpoint::PutManifest,
                        "DELETE" if by_digest => Endpoint::DeleteManifest,
                        "DELETE" => Endpoint::DeleteTag,
                        _ => Endpoint::Other,
                    };
                }
                "blobs" => {
                    return match method {
                        "GET" => Endpoint::GetBlob,
                        "HEAD" => Endpoint::HeadBlob,
                        "DELETE" => Endpoint::DeleteBlob,
                        _ => Endpoint::Other,
                    }
                }
                _ => {}
            }
        }
        if in_v2 && !session {
            return Endpoint::Other;
        }
        // An upload location: by its path when it is ours, by method when it is opaque.
        match method {
            "PATCH" => Endpoint::PatchUpload,
            "PUT" => Endpoint::CloseUpload,
            "GET" => Endpoint::UploadStatus,
            "DELETE" => Endpoint::CancelUpload,
            _ => Endpoint::Other,
        }
    }
}

/// What the client knows about the target of a request when it sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    /// A valid request for an object (or session) that exists / an operation that can succeed.
    Exists,
    /// The repository exists (it holds content), the object named does not.
    Absent,
    /// Nothing was ever written to the repository: it does not exist.
    NoRepository,
    /// The object does not exist; whether its repository does is not known.
    AbsentAnywhere,
    /// A closing upload request whose digest does not match the data sent.
    DigestMismatch,
    /// A manifest naming blobs (or manifests) the repository lacks.
    MissingBlobs,
    /// A mount whose `from` holds the blob, on a registry that mounts.
    Mountable,
    /// A mount that cannot be served as one (blob not in `from`, or mounting off).
    NotMountable,
    /// An optional operation the registry has switched off.
    Disabled,
}

/// What a header of a success answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Present,
    /// The digest of the content (sha256 or sha512: R-019 lets the algorithm differ).
    Digest,
    /// The size of the content in bytes.
    Size,
}

#[derive(Debug, Clone)]
pub struct HeaderRule {
    pub name: &'static str,
    pub need: Need,
    /// Absence is a breach (else the value is only checked when present).
    pub required: bool,
    pub requirements: &'static [&'static str],
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub statuses: &'static [u16],
    /// Cited when the status is not allowed.
    pub requirements: &'static [&'static str],
    /// A JSON error body of a 4xx must carry one of these (empty: any spec code).
    pub codes: &'static [&'static str],
    /// Checked on 2xx answers.
    pub headers: Vec<HeaderRule>,
}

/// A broken rule: `kind` is stable (for grouping), `detail` the specifics.
#[derive(Debug, Clone)]
pub struct Breach {
    pub kind: String,
    pub detail: String,
    pub requirements: Vec<&'static str>,
}

fn header(
    name: &'static str,
    need: Need,
    required: bool,
    requirements: &'static [&'static str],
) -> HeaderRule {
    HeaderRule {
        name,
        need,
        required,
        requirements,
    }
}

/// The rule for `endpoint` in `situation` under spec version `v`.
pub fn rule(endpoint: Endpoint, situation: Situation, v: SpecVersion) -> Rule {
    use Endpoint as E;
    use Situation as S;
    // main made the digest header of pulls a MUST and HEAD's
    // Content-Length too; earlier versions only recommend them.
    let main = v == SpecVersion::Dev;
    let location = |reqs: &'static [&'static str]| header("Location", Need::Present, true, reqs);
    let r = |statuses: &'static [u16],
             requirements: &'static [&'static str],
             codes: &'static [&'static str],
             headers: Vec<HeaderRule>| Rule {
        statuses,
        requirements,
        codes,
        headers,
    };
    match (endpoint, situation) {
        (E::GetManifest, S::Exists) => r(
            &[200],
            &["R-017"],
            &[],
            vec![header(
                "Docker-Content-Digest",
                Need::Digest,
                main,
                &["R-018", "R-019"],
            )],
        ),
        (E::HeadManifest, S::Exists) => r(
            &[200],
            &["R-030"],
            &[],
            vec![
                header(
                    "Docker-Content-Digest",
                    Need::Digest,
                    main,
                    &["R-031", "R-019"],
                ),
                header("Content-Length", Need::Size, main, &["R-032"]),
            ],
        ),
        (E::GetBlob, S::Exists) => r(
            &[200],
            &["R-023"],
            &[],
            vec![header(
                "Docker-Content-Digest",
                Need::Digest,
                main,
                &["R-024", "R-025"],
            )],
        ),
        (E::HeadBlob, S::Exists) => r(
            &[200],
            &["R-030"],
            &[],
            vec![
                header(
                    "Docker-Content-Digest",
                    Need::Digest,
                    main,
                    &["R-031", "R-025"],
                ),
                header("Content-Length", Need::Size, main, &["R-032"]),
            ],
        ),
        (E::GetManifest | E::HeadManifest, S::Absent) => r(
            &[404],
            &["R-022", "R-033", "R-147"],
            &["MANIFEST_UNKNOWN"],
            vec![],
        ),
        (E::GetBlob | E::HeadBlob, S::Absent) => r(
            &[404],
            &["R-028", "R-033", "R-147"],
            &["BLOB_UNKNOWN"],
            vec![],
        ),
        // The error table allows either code for a repository that does not exist.
        (E::GetManifest | E::HeadManifest, S::NoRepository) => r(
            &[404],
            &["R-082", "R-022"],
            &["NAME_UNKNOWN", "MANIFEST_UNKNOWN"],
            vec![],
        ),
        (E::GetBlob | E::HeadBlob, S::NoRepository) => r(
            &[404],
            &["R-082", "R-028"],
            &["NAME_UNKNOWN", "BLOB_UNKNOWN"],
            vec![],
        ),
        (E::GetManifest | E::HeadManifest, _) => r(&[404], &["R-022", "R-033"], &[], vec![]),
        (E::GetBlob | E::HeadBlob, _) => r(&[404], &["R-028", "R-033"], &[], vec![]),
        (E::PutManifest, S::MissingBlobs) => r(
            &[201, 400],
            &["R-035", "R-036"],
            &["MANIFEST_BLOB_UNKNOWN"],
            vec![location(&["R-076"])],
        ),
        (E::PutManifest, _) => r(
            &[201],
            &["R-076", "R-034"],
            &[],
            vec![
                location(&["R-076"]),
                header("Docker-Content-Digest", Need::Digest, false, &["R-077"]),
            ],
        ),
        (E::DeleteManifest, S::Exists) => r(&[202], &["R-117"], &[], vec![]),
        (E::DeleteTag, S::Exists) => r(&[202], &["R-114"], &[], vec![]),
        (E::DeleteBlob, S::Exists) => r(&[202], &["R-122"], &[], vec![]),
        (E::DeleteManifest, S::Absent) => {
            r(&[404], &["R-117", "R-147"], &["MANIFEST_UNKNOWN"], vec![])
        }
        (E::DeleteTag, S::Absent) => r(&[404], &["R-114", "R-116"], &[], vec![]),
        (E::DeleteBlob, S::Absent) => r(&[404], &["R-123", "R-147"], &["BLOB_UNKNOWN"], vec![]),
        (E::DeleteManifest, S::Disabled) => r(&[400, 405], &["R-119"], &[], vec![]),
        (E::DeleteTag, S::Disabled) => r(&[400, 405], &["R-115"], &[], vec![]),
        (E::DeleteBlob, S::Disabled) => r(&[400, 405], &["R-124"], &[], vec![]),
        (E::DeleteManifest | E::DeleteTag, _) => r(&[404], &["R-117", "R-118"], &[], vec![]),
        (E::DeleteBlob, _) => r(&[404], &["R-123"], &[], vec![]),
        (E::StartUpload, _) => r(&[202], &["R-038"], &[], vec![location(&["R-038"])]),
        // Without single-POST support the body is ignored and a session opened.
        (E::SinglePost, S::DigestMismatch) => r(
            &[400, 202],
            &["R-059", "R-046"],
            &["DIGEST_INVALID"],
            vec![location(&["R-046"])],
        ),
        (E::SinglePost, _) => r(
            &[201, 202],
            &["R-044", "R-046"],
            &[],
            vec![location(&["R-047", "R-046"])],
        ),
        (E::Mount, S::Mountable) => r(&[201], &["R-066"], &[], vec![location(&["R-066"])]),
        (E::Mount, _) => r(
            &[201, 202],
            &["R-066", "R-069"],
            &[],
            vec![location(&["R-066", "R-069"])],
        ),
        (E::PatchUpload, _) => r(
            &[202],
            &["R-054"],
            &[],
            vec![
                location(&["R-054"]),
                header("Range", Need::Present, true, &["R-054"]),
            ],
        ),
        (E::CloseUpload, S::DigestMismatch) => {
            r(&[400], &["R-059", "R-028"], &["DIGEST_INVALID"], vec![])
        }
        (E::CloseUpload, _) => r(
            &[201],
            &["R-043", "R-059"],
            &[],
            vec![location(&["R-043", "R-059"])],
        ),
        (E::UploadStatus, S::Exists) => r(
            &[204],
            &["R-061"],
            &[],
            vec![
                location(&["R-061"]),
                header("Range", Need::Present, true, &["R-061"]),
            ],
        ),
        (E::UploadStatus, _) => r(
            &[404],
            &["R-061", "R-063"],
            &["BLOB_UPLOAD_UNKNOWN"],
            vec![],
        ),
        (E::CancelUpload, S::Disabled) => r(&[204, 400, 404, 405], &["R-063"], &[], vec![]),
        (E::CancelUpload, _) => r(&[204], &["R-063"], &[], vec![]),
        (E::ListTags, S::Exists) => r(&[200], &["R-088"], &[], vec![]),
        (E::ListTags, S::NoRepository) => r(&[404], &["R-082", "R-147"], &["NAME_UNKNOWN"], vec![]),
        // A repository whose content was all deleted may or may not still exist.
        (E::ListTags, _) => r(&[200, 404], &["R-088", "R-082"], &[], vec![]),
        (E::ListReferrers, _) => r(&[200], &["R-098", "R-099"], &[], vec![]),
        (E::Base, _) => r(&[200], &["R-142"], &[], vec![]),
        (E::Other, _) => r(&[], &["R-140"], &[], vec![]),
    }
}

/// Checks the headers `rule` asks of a 2xx answer whose content is `content` (when known).
/// `get` reads a header by case-insensitive name.
pub fn check_headers<'a>(
    rule: &Rule,
    status: u16,
    get: impl Fn(&str) -> Option<&'a str>,
    content: Option<&[u8]>,
) -> Result<(), Breach> {
    if !(200..300).contains(&status) {
        return Ok(());
    }
    for h in &rule.headers {
        let breach = |kind: &str, detail: String| Breach {
            kind: kind.to_string(),
            detail,
            requirements: h.requirements.to_vec(),
        };
        let slug = h.name.to_ascii_lowercase();
        let Some(value) = get(h.name) else {
            if h.required {
                return Err(breach(
                    &format!("no-{slug}"),
                    format!("{status} without {}", h.name),
                ));
            }
            continue;
        };
        match (h.need, content) {
            (Need::Digest, Some(c)) => {
                let sha256 = format!("sha256:{}", hex::encode(sha2::Sha256::digest(c)));
                let sha512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(c)));
                if value != sha256 && value != sha512 {
                    return Err(breach(
                        &format!("wrong-{slug}"),
                        format!("{}: {value}, the content's digest is {sha256}", h.name),
                    ));
                }
            }
            (Need::Size, Some(c)) if value.trim() != c.len().to_string() => {
                return Err(breach(
                    &format!("wrong-{slug}"),
                    format!("{}: {value}, the content has {} bytes", h.name, c.len()),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Endpoint as E;

    #[test]
    fn requests_are_told_apart_by_method_path_and_query() {
        assert_eq!(E::of("GET", "/v2/"), E::Base);
        assert_eq!(E::of("PUT", "/v2/a/b/manifests/latest"), E::PutManifest);
        assert_eq!(
            E::of("DELETE", "/v2/a/manifests/sha256:ab"),
            E::DeleteManifest
        );
        assert_eq!(E::of("DELETE", "/v2/a/manifests/v1"), E::DeleteTag);
        assert_eq!(E::of("HEAD", "/v2/a/blobs/sha256:ab"), E::HeadBlob);
        assert_eq!(E::of("POST", "/v2/a/blobs/uploads/"), E::StartUpload);
        assert_eq!(
            E::of("POST", "/v2/a/blobs/uploads/?mount=sha256:ab&from=b"),
            E::Mount
        );
        assert_eq!(
            E::of("POST", "/v2/a/blobs/uploads/?digest=sha256:ab"),
            E::SinglePost
        );
        assert_eq!(
            E::of("PUT", "http://h:1/v2/a/blobs/uploads/u1?digest=sha256:ab"),
            E::CloseUpload
        );
        assert_eq!(E::of("PATCH", "https://elsewhere/upload/7"), E::PatchUpload);
        assert_eq!(E::of("GET", "/v2/a/blobs/uploads/u1"), E::UploadStatus);
        assert_eq!(E::of("GET", "/v2/a/tags/list?n=2"), E::ListTags);
        assert_eq!(E::of("GET", "/v2/a/referrers/sha256:ab"), E::ListReferrers);
        // Names whose components are endpoint words (a case id used as a name).
        let odd = "/v2/ns/referrers/list/manifests/x";
        assert_eq!(
            E::of("POST", &format!("{odd}/blobs/uploads/")),
            E::StartUpload
        );
        assert_eq!(E::of("GET", &format!("{odd}/blobs/sha256:ab")), E::GetBlob);
        assert_eq!(E::of("PUT", &format!("{odd}/manifests/v1")), E::PutManifest);
        assert_eq!(
            E::of("GET", &format!("{odd}/referrers/sha256:ab")),
            E::ListReferrers
        );
        assert_eq!(E::of("GET", &format!("{odd}/tags/list")), E::ListTags);
        assert_eq!(
            E::of("PATCH", &format!("{odd}/blobs/uploads/u1")),
            E::PatchUpload
        );
        assert_eq!(E::of("GET", "/v2/_catalog"), E::Other);
    }

    #[test]
    fn the_digest_header_of_pulls_is_required_on_main_only() {
        let content = b"{}";
        let none = |_: &str| None;
        let dev = rule(E::GetManifest, Situation::Exists, SpecVersion::Dev);
        let err = check_headers(&dev, 200, none, Some(content)).unwrap_err();
        assert_eq!(err.kind, "no-docker-content-digest");
        assert!(err.requirements.contains(&"R-018"));
        let stable = rule(E::GetManifest, Situation::Exists, SpecVersion::V1_1_1);
        assert!(check_headers(&stable, 200, none, Some(content)).is_ok());
        // When present it must be right, whatever the version.
        let wrong = |_: &str| Some("sha256:0000");
        assert!(check_headers(&stable, 200, wrong, Some(content)).is_err());
    }

    /// Endpoints whose requests a case file cannot always tell apart (an upload location is a
    /// template) are judged together.
    fn family(e: Endpoint) -> &'static str {
        match e {
            E::GetManifest | E::HeadManifest => "manifest-pull",
            E::GetBlob | E::HeadBlob => "blob-pull",
            E::DeleteManifest | E::DeleteTag => "manifest-delete",
            E::StartUpload
            | E::SinglePost
            | E::PatchUpload
            | E::CloseUpload
            | E::UploadStatus
            | E::CancelUpload => "upload",
            other => other.as_str(),
        }
    }

    /// A fuzz finding names the requirement ids a conformance case would: every id a rule
    /// cites is cited by some case that sends a request to the same endpoint.
    #[test]
    fn rules_cite_what_the_cases_for_their_endpoint_cite() {
        use std::collections::{BTreeMap, BTreeSet};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let mut cited: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for case in doc["cases"].as_array().into_iter().flatten() {
                let reqs: Vec<String> = case["requirements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect();
                for step in case["steps"].as_array().into_iter().flatten() {
                    let r = &step["request"];
                    let Some(method) = r["method"].as_str() else {
                        continue;
                    };
                    let mut target = r["path"]
                        .as_str()
                        .or(r["url"].as_str())
                        .unwrap_or("")
                        .to_string();
                    let keys: Vec<&str> = r["query"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|kv| kv[0].as_str())
                        .collect();
                    if !keys.is_empty() {
                        target = format!("{target}?{}", keys.join("=x&"));
                    }
                    cited
                        .entry(family(E::of(method, &target)))
                        .or_default()
                        .extend(reqs.iter().cloned());
                }
            }
        }
        let endpoints = [
            E::GetManifest,
            E::HeadManifest,
            E::PutManifest,
            E::DeleteManifest,
            E::DeleteTag,
            E::GetBlob,
            E::HeadBlob,
            E::DeleteBlob,
            E::StartUpload,
            E::SinglePost,
            E::Mount,
            E::PatchUpload,
            E::CloseUpload,
            E::UploadStatus,
            E::CancelUpload,
            E::ListTags,
            E::ListReferrers,
            E::Base,
        ];
        let situations = [
            Situation::Exists,
            Situation::Absent,
            Situation::NoRepository,
            Situation::AbsentAnywhere,
            Situation::DigestMismatch,
            Situation::MissingBlobs,
            Situation::Mountable,
            Situation::NotMountable,
            Situation::Disabled,
        ];
        let mut stray = Vec::new();
        for e in endpoints {
            for s in situations {
                for v in [SpecVersion::V1_1_1, SpecVersion::Dev] {
                    let rule = rule(e, s, v);
                    let ids = rule
                        .requirements
                        .iter()
                        .chain(rule.headers.iter().flat_map(|h| h.requirements.iter()));
                    for id in ids {
                        let known = cited.get(family(e));
                        if !known.is_some_and(|k| k.contains(*id)) {
                            stray.push(format!("{e:?}/{s:?}: {id}"));
                        }
                    }
                }
            }
        }
        stray.sort();
        stray.dedup();
        assert!(
            stray.is_empty(),
            "cited by no case on the endpoint: {stray:?}"
        );
    }

    #[test]
    fn either_or_answers_stay_either_or() {
        let v = SpecVersion::Dev;
        assert_eq!(
            rule(E::Mount, Situation::NotMountable, v).statuses,
            &[201, 202]
        );
        assert_eq!(
            rule(E::GetManifest, Situation::NoRepository, v).codes,
            &["NAME_UNKNOWN", "MANIFEST_UNKNOWN"]
        );
        assert_eq!(
            rule(E::DeleteTag, Situation::Disabled, v).statuses,
            &[400, 405]
        );
        // What the issue found the old oracle let through.
        assert_eq!(rule(E::StartUpload, Situation::Exists, v).statuses, &[202]);
        assert_eq!(
            rule(E::DeleteManifest, Situation::Exists, v).statuses,
            &[202]
        );
        assert_eq!(
            rule(E::ListTags, Situation::NoRepository, v).statuses,
            &[404]
        );
        assert_eq!(
            rule(E::GetManifest, Situation::Absent, v).codes,
            &["MANIFEST_UNKNOWN"]
        );
    }
}
