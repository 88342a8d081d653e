//! Credentials and the token flow: which answers start it, which scopes a request needs, who
//! may receive the run's secrets, and how transcripts redact them.

use super::Request;

/// Starts the error of a token request the harness refused to make.
pub const CLEAR_TEXT_REALM: &str =
    "refusing to send the credentials in clear text to the token realm";

/// How one request authenticates.
#[derive(Clone, Default, PartialEq)]
pub enum RequestAuth {
    /// The run's credentials: Basic, or the token flow when the registry answers with a Bearer
    /// challenge (tokens cached per repository and action).
    #[default]
    Default,
    /// No credentials and no token flow: the registry's first answer is the answer.
    Anonymous,
    /// The run's user name with a wrong password, through the same flow as `Default` (no cache);
    /// a refusal from the token service is then the answer.
    WrongPassword,
    /// This bearer token as is; no other token is fetched.
    Bearer(String),
}

impl std::fmt::Debug for RequestAuth {
    // Hand-written so a token can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestAuth::Default => f.write_str("Default"),
            RequestAuth::Anonymous => f.write_str("Anonymous"),
            RequestAuth::WrongPassword => f.write_str("WrongPassword"),
            RequestAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// What a transcript shows for Basic credentials (the report's curl lines turn it into
/// `-u "$OCI_USERNAME:$OCI_PASSWORD"`).
pub(super) fn basic_placeholder(req: &Request) -> String {
    if req.auth == RequestAuth::WrongPassword {
        BASIC_WRONG_PLACEHOLDER.into()
    } else {
        "Basic $OCI_CREDENTIALS".into()
    }
}

pub const BASIC_WRONG_PLACEHOLDER: &str = "Basic $OCI_CREDENTIALS (wrong password)";

/// A password that is certainly not the right one, derived so reruns send the same bytes.
pub(super) fn wrong_password(password: &str) -> String {
    format!("not-{password}")
}

/// `/v2/<name>/(blobs|manifests|tags|referrers)/…` (a URL's path) → `<name>`: the unit
/// registries scope tokens to.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    for marker in ["/blobs/", "/manifests/", "/tags/", "/referrers/"] {
        if let Some(i) = rest.find(marker) {
            return Some(rest[..i].to_string()).filter(|n| !n.is_empty());
        }
    }
    None
}

/// The (resource, action) pairs a request needs, in the token scope's terms: reads `pull`,
/// deletes `delete`, every other write `push`, plus `pull` on a mount's `from` repository; the
/// catalog is `registry:catalog`.
pub(super) fn needed_scopes(method: &str, url: &str) -> Vec<(String, String)> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return vec![];
    };
    if parsed.path().ends_with("/v2/_catalog") {
        return vec![("registry:catalog".into(), "*".into())];
    }
    let Some(repo) = repository_of(parsed.path()) else {
        return vec![];
    };
    let action = match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => "pull",
        "DELETE" => "delete",
        _ => "push",
    };
    let mut needed = vec![(format!("repository:{repo}"), action.to_string())];
    let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if query.iter().any(|(k, _)| k == "mount") {
        if let Some((_, from)) = query.iter().find(|(k, _)| k == "from") {
            needed.push((format!("repository:{from}"), "pull".into()));
        }
    }
    needed
}

/// Whether one of `scopes` (`repository:a/b:pull,push`, …) grants `action` on `resource`
/// (`repository:a/b`); `*` grants every action.
pub fn scopes_cover(scopes: &[String], resource: &str, action: &str) -> bool {
    scopes
        .iter()
        .flat_map(|s| scope_keys(s))
        .any(|(r, a)| r == resource && (a == action || a == "*"))
}

/// `repository:a/b:pull,push` → the cache keys it grants.
pub(super) fn scope_keys(scope: &str) -> Vec<(String, String)> {
    match scope.rsplit_once(':') {
        Some((resource, actions)) => actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| (resource.to_string(), a.to_string()))
            .collect(),
        None => vec![],
    }
}

/// One `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` or `Basic
/// realm="…"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    /// Parameter names lowercased, in header order; quoted values unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Every challenge of one header line (RFC 9110 §11.6.1: a line may carry several, and a
    /// quoted value may hold commas and `\"` escapes, as our own server writes them); none
    /// for a malformed line.
    pub fn parse_all(header: &str) -> Vec<Challenge> {
        let Ok(challenges) = http_auth::parse_challenges(header.trim()) else {
            return Vec::new();
        };
        challenges
            .into_iter()
            .map(|c| Challenge {
                scheme: c.scheme.to_string(),
                params: c
                    .params
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_unescaped()))
                    .collect(),
            })
            .collect()
    }

    /// The first challenge of a header line; None for a malformed line.
    pub fn parse(header: &str) -> Option<Challenge> {
        Self::parse_all(header).into_iter().next()
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer") && self.param("realm").is_some()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `scope` parameter, space-separated scopes.
    pub fn scopes(&self) -> Vec<String> {
        self.param("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn redact_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" || n == "proxy-authorization" || n == "cookie" || n == "set-cookie" {
        let scheme = value.split_whitespace().next().unwrap_or("");
        format!("{scheme} <redacted>")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_and_token_scopes() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert!(c.is_bearer());
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("reg"));
        assert_eq!(c.scopes(), vec!["repository:a/b:pull,push"]);
        let basic = Challenge::parse(r#"Basic realm="x""#).unwrap();
        assert!(!basic.is_bearer());
        assert_eq!(basic.param("realm"), Some("x"));
        assert!(!Challenge::parse(r#"Bearer service="no-realm""#)
            .unwrap()
            .is_bearer());
        assert!(Challenge::parse(r#"Bearer realm="unterminated"#).is_none());
        // Escaped quotes (our own server writes them) and several challenges on one line.
        let both = Challenge::parse_all(
            r#"Bearer realm="https://a.example/token",service="reg \"one\", two",scope="repository:a:pull", Basic realm="x""#,
        );
        assert_eq!(both.len(), 2, "{both:?}");
        assert_eq!(both[0].param("service"), Some(r#"reg "one", two"#));
        assert_eq!(both[0].scopes(), vec!["repository:a:pull"]);
        assert_eq!(
            (both[1].scheme.as_str(), both[1].param("realm")),
            ("Basic", Some("x"))
        );
        assert_eq!(
            Challenge::parse(r#"Bearer REALM="r""#)
                .unwrap()
                .param("realm"),
            Some("r")
        );
        assert_eq!(
            repository_of("/v2/a/b/blobs/uploads/x").as_deref(),
            Some("a/b")
        );
        assert_eq!(repository_of("/v2/").as_deref(), None);
        assert_eq!(
            needed_scopes("PATCH", "http://h/v2/a/b/blobs/uploads/x"),
            vec![("repository:a/b".to_string(), "push".to_string())]
        );
        assert_eq!(
            needed_scopes("HEAD", "http://h/v2/a/manifests/x"),
            vec![("repository:a".to_string(), "pull".to_string())]
        );
        assert_eq!(
            needed_scopes(
                "POST",
                "http://h/v2/a/blobs/uploads/?mount=sha256:x&from=b/c"
            ),
            vec![
                ("repository:a".to_string(), "push".to_string()),
                ("repository:b/c".to_string(), "pull".to_string())
            ]
        );
        assert!(needed_scopes("GET", "http://h/v2/").is_empty());
        assert_eq!(
            scope_keys("repository:a/b:pull,push"),
            vec![
                ("repository:a/b".to_string(), "pull".to_string()),
                ("repository:a/b".to_string(), "push".to_string())
            ]
        );
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_header("Authorization", "Bearer abc.def"),
            "Bearer <redacted>"
        );
        assert_eq!(redact_header("Location", "/v2/x"), "/v2/x");
    }
}
