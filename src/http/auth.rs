//! Credentials and the token flow: which answers start it, which scopes a request needs, who
//! may receive the run's secrets, and how transcripts redact them.

use super::{new_exchange, Exchange, Http, Request};
use bytes::Bytes;

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

impl Http {
    /// Sends `req` and returns every exchange it took, the answer last. On a `401` with a
    /// `Bearer` challenge (the token flow both official suites implement) the refused attempt
    /// and the token request come first, then the retry with the token.
    pub async fn send_traced(&self, req: Request) -> Vec<Exchange> {
        let credentials = match &req.auth {
            RequestAuth::Default => self.credentials.clone(),
            RequestAuth::WrongPassword => self.credentials.as_ref().map(|c| Credentials {
                username: c.username.clone(),
                password: wrong_password(&c.password),
            }),
            RequestAuth::Anonymous | RequestAuth::Bearer(_) => None,
        };
        let bearer = match &req.auth {
            RequestAuth::Bearer(t) => Some(t.clone()),
            RequestAuth::Default => self.cached_token(&req),
            _ => None,
        };
        let first = self
            .exchange(&req, credentials.as_ref(), bearer.as_deref(), None)
            .await;
        // Only the registry's own challenges: a realm named by another host would get the
        // credentials.
        let follows_challenges =
            matches!(req.auth, RequestAuth::Default | RequestAuth::WrongPassword)
                && first
                    .answered_by
                    .as_ref()
                    .is_some_and(|u| self.may_receive_secrets(u, None));
        if !follows_challenges || first.status != Some(401) {
            return vec![first];
        }
        let Some(challenge) = first
            .headers("www-authenticate")
            .filter_map(Challenge::parse)
            .find(|c| c.is_bearer())
        else {
            return vec![first];
        };
        let mut trail = vec![first];
        // The challenge names what the registry checks first; a mount also needs pull on its
        // source, which not every registry's challenge mentions (clients add it themselves).
        let mut scopes = challenge.scopes();
        scopes.extend(self.forced_scopes.iter().cloned());
        for (resource, action) in needed_scopes(&req.method, &req.url) {
            if !scopes_cover(&scopes, &resource, &action) {
                scopes.push(format!("{resource}:{action}"));
            }
        }
        let (mut token_ex, token) = self.token(&challenge, &scopes, credentials.as_ref()).await;
        let Some(token) = token else {
            if req.auth == RequestAuth::Default {
                // The run's own credentials were refused: say so rather than leave a bare
                // status from another URL as the answer.
                let why = token_ex
                    .error
                    .take()
                    .or_else(|| {
                        token_ex
                            .status
                            .map(|s| format!("{} answered {s}", token_ex.url))
                    })
                    .unwrap_or_default();
                token_ex.error = Some(format!(
                    "got 401 with a Bearer challenge, but the token request failed: {why}"
                ));
            }
            trail.push(token_ex);
            return trail;
        };
        trail.push(token_ex);
        if req.auth == RequestAuth::Default {
            let mut cache = self.tokens.lock().expect("token cache");
            for s in &scopes {
                for key in scope_keys(s) {
                    cache.insert(key, token.clone());
                }
            }
        }
        trail.push(self.exchange(&req, None, Some(&token), None).await);
        trail
    }

    /// One cached token that covers every scope `req` needs, if there is one.
    fn cached_token(&self, req: &Request) -> Option<String> {
        let cache = self.tokens.lock().expect("token cache");
        // Registries without tokens never fill the cache: spare every request the URL parsing.
        if cache.is_empty() {
            return None;
        }
        let needed = needed_scopes(&req.method, &req.url);
        let lookup = |(resource, action): &(String, String)| {
            cache
                .get(&(resource.clone(), action.clone()))
                .or_else(|| cache.get(&(resource.clone(), "*".to_string())))
        };
        let first = lookup(needed.first()?)?;
        needed
            .iter()
            .all(|k| lookup(k) == Some(first))
            .then(|| first.clone())
    }

    /// A token for exactly `scopes` with the run's credentials (see [`Http::token`]).
    pub async fn run_token(&self, ch: &Challenge, scopes: &[String]) -> (Exchange, Option<String>) {
        self.token(ch, scopes, self.credentials.as_ref()).await
    }

    /// `GET /v2/` without credentials: the registry's challenge, if it sends one.
    pub async fn probe_challenge(&self) -> (Exchange, Option<Challenge>) {
        let url = format!("{}v2/", self.base);
        let req = Request {
            method: "GET".into(),
            url,
            ..Request::default()
        };
        let ex = self.exchange(&req, None, None, None).await;
        let ch = ex.headers("www-authenticate").find_map(Challenge::parse);
        (ex, ch)
    }

    /// Asks the challenge's realm for a token for exactly `scopes`, with `credentials` (or
    /// anonymously). The exchange is recorded with the token replaced by a placeholder.
    pub async fn token(
        &self,
        ch: &Challenge,
        scopes: &[String],
        credentials: Option<&Credentials>,
    ) -> (Exchange, Option<String>) {
        let realm = ch.param("realm").unwrap_or_default();
        let mut url = match reqwest::Url::parse(realm) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            _ => {
                let mut ex = new_exchange(&Request {
                    method: "GET".into(),
                    url: realm.to_string(),
                    ..Request::default()
                });
                ex.error = Some(format!(
                    "the challenge's realm `{realm}` is not an http(s) URL"
                ));
                return (ex, None);
            }
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = ch.param("service") {
                q.append_pair("service", s);
            }
            for scope in scopes {
                q.append_pair("scope", scope);
            }
        }
        let req = Request {
            method: "GET".into(),
            url: url.to_string(),
            ..Request::default()
        };
        if credentials.is_some()
            && url.scheme() == "http"
            && self.base.scheme() == "https"
            && !self.allow_http_realm
        {
            let mut ex = new_exchange(&req);
            ex.error = Some(format!(
                "{CLEAR_TEXT_REALM} `{realm}`: the registry uses HTTPS but its realm plain HTTP \
                 (--insecure allows it)"
            ));
            return (ex, None);
        }
        let mut ex = self.exchange(&req, credentials, None, Some(&url)).await;
        let mut answer = serde_json::from_slice::<serde_json::Value>(&ex.body).ok();
        let token = if ex.status.is_some_and(|s| (200..300).contains(&s)) {
            let token = answer
                .as_ref()
                .and_then(|v| v.get("token").or_else(|| v.get("access_token")))
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .map(String::from);
            if token.is_none() {
                ex.error = Some("token answer has no `token` or `access_token`".into());
            }
            token
        } else {
            None
        };
        // The answer holds the token itself: keep its shape, never its secrets.
        if let Some(o) = answer.as_mut().and_then(|v| v.as_object_mut()) {
            for k in ["token", "access_token", "refresh_token"] {
                if o.contains_key(k) {
                    o.insert(k.into(), "$OCI_TOKEN".into());
                }
            }
        }
        if let Some(v) = answer {
            ex.response_body = Some(v.to_string());
        }
        ex.body = Bytes::new();
        ex.response_digest = None;
        (ex, token)
    }

    /// Whether the run's secrets may go to `url`: only to the registry's own origin (scheme,
    /// host and port), to `realm`'s for a token request, and to origins the run was told to
    /// trust. Storage front-ends, redirect targets and other hosts get none.
    pub(super) fn may_receive_secrets(
        &self,
        url: &reqwest::Url,
        realm: Option<&reqwest::Url>,
    ) -> bool {
        let origin = url.origin();
        origin == self.base.origin()
            || realm.is_some_and(|r| r.origin() == origin)
            || self.trusted_origins.iter().any(|t| t.origin() == origin)
    }

    /// The transcript's note for a request that went out without the run's credentials.
    pub(super) fn withheld(&self, url: &reqwest::Url) -> String {
        format!(
            "credentials withheld: {} is neither the registry's origin ({}) nor its token realm \
             (--trust-origin adds one)",
            url.origin().ascii_serialization(),
            self.base.origin().ascii_serialization()
        )
    }
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
fn wrong_password(password: &str) -> String {
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
fn needed_scopes(method: &str, url: &str) -> Vec<(String, String)> {
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
fn scope_keys(scope: &str) -> Vec<(String, String)> {
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
/// realm="…"`. Quoted values may hold commas.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    /// Parameter names lowercased, in header order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        let mut params = Vec::new();
        // Each round consumes at least one character, so this ends with the header.
        while !rest.trim().is_empty() {
            rest = rest.trim_start_matches([' ', ',']);
            let (key, after) = rest.split_once('=')?;
            let (value, next) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            params.push((key.trim().to_ascii_lowercase(), value.to_string()));
            rest = next;
        }
        Some(Challenge {
            scheme: scheme.to_string(),
            params,
        })
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
