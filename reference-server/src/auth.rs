//! Authentication (htpasswd users over Basic, or bearer tokens from our own `/token` endpoint)
//! and per-repository authorization by access rules.
//!
//! Choices (documented for the harness; see the README's "Authentication and TLS"):
//! - missing or bad credentials are 401 `UNAUTHORIZED` with a challenge; a known caller the
//!   rules refuse is 403 `DENIED`; a token that lacks a scope its subject could obtain is 401
//!   `insufficient_scope` (so the client fetches a broader token), otherwise 403;
//! - a malformed `scope` at the token endpoint is 400 `UNSUPPORTED`; a well-formed scope the
//!   rules refuse is simply left out of the token, as distribution does;
//! - nothing about the Authorization header can cause a 500: every parse failure is "bad
//!   credentials".

use crate::errors::{Code, Error, RegistryError};
use crate::glob::glob_match;
use crate::routes::{self, Route};
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// How long a successful bcrypt verification is remembered (bcrypt costs 50-250 ms a check,
/// and clients authenticate every request in Basic mode).
const VERIFY_CACHE_TTL: Duration = Duration::from_secs(60);
/// Password variants remembered per user (bounds memory against a client cycling passwords
/// that happen to be right, e.g. after a change of the htpasswd file's hash for that user).
const VERIFY_CACHE_PER_USER: usize = 8;
/// Authorization headers longer than this are refused unparsed.
const MAX_AUTH_HEADER: usize = 16 * 1024;
/// Largest form body accepted by `POST /token`.
const MAX_TOKEN_FORM: usize = 64 * 1024;

/// Spelled `basic` / `token` in flags, environment and the TOML file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every request carries `Authorization: Basic` checked against the htpasswd users.
    Basic,
    /// Clients get a JWT from `/token` (with Basic credentials) and send it as `Bearer`.
    Token,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// One access rule: `users` may do `actions` on repositories matching `repository`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRule {
    /// A glob ([`crate::glob`]): `*` matches any run of characters, `?` exactly one, `/`
    /// included in both.
    pub repository: String,
    /// User names; `*` is any authenticated user, `anonymous` a caller without credentials.
    pub users: Vec<String>,
    pub actions: Vec<Action>,
}

impl AccessRule {
    /// `user` None is the anonymous caller.
    pub fn allows(&self, user: Option<&str>, repository: &str, action: Action) -> bool {
        let who = self.users.iter().any(|u| match user {
            None => u == "anonymous",
            Some(name) => u == "*" || u == name,
        });
        who && self.actions.contains(&action) && glob_match(&self.repository, repository)
    }
}

impl FromStr for AccessRule {
    type Err = String;

    /// `USERS:PATTERN:ACTIONS`, e.g. `alice,bob:team/*:pull,push` or `*:*:pull`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [users, pattern, actions] = parts[..] else {
            return Err(format!(
                "access rule {s:?}: expected USERS:REPOSITORY-PATTERN:ACTIONS, e.g. \"alice,bob:team/*:pull,push\""
            ));
        };
        let users: Vec<String> = users.split(',').map(|u| u.trim().to_string()).collect();
        if users.iter().any(|u| u.is_empty()) {
            return Err(format!("access rule {s:?}: empty user name"));
        }
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(format!("access rule {s:?}: empty repository pattern"));
        }
        let mut acts = Vec::new();
        for a in actions.split(',').map(str::trim) {
            if a == "*" {
                acts.extend(Action::ALL);
            } else if let Some(a) = Action::parse(a) {
                acts.push(a);
            } else {
                return Err(format!(
                    "access rule {s:?}: unknown action {a:?} (pull, push, delete or *)"
                ));
            }
        }
        acts.sort();
        acts.dedup();
        Ok(AccessRule {
            repository: pattern.to_string(),
            users,
            actions: acts,
        })
    }
}

/// Users and their bcrypt hashes. `Debug` shows user names only.
#[derive(Clone, Default)]
pub struct Htpasswd {
    users: BTreeMap<String, String>,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htpasswd")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Htpasswd {
    /// `user:$2y$...` lines (also `$2b$`, `$2a$`); blank and `#` lines are ignored. Errors name
    /// the line number, never its hash.
    pub fn parse(text: &str) -> Result<Htpasswd, Error> {
        let mut users = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(Error::Config(format!(
                    "htpasswd line {n}: expected USER:BCRYPT-HASH"
                )));
            };
            if user.is_empty() {
                return Err(Error::Config(format!("htpasswd line {n}: empty user name")));
            }
            let bcrypt_prefix = ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p));
            if !bcrypt_prefix || hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(Error::Config(format!(
                    "htpasswd line {n} (user {user:?}): unsupported or malformed hash; only bcrypt ($2y$, $2b$, $2a$) is accepted (make one with --hash-password or htpasswd -B)"
                )));
            }
            if users.insert(user.to_string(), hash.to_string()).is_some() {
                return Err(Error::Config(format!(
                    "htpasswd line {n}: user {user:?} appears twice"
                )));
            }
        }
        Ok(Htpasswd { users })
    }

    pub fn load(path: &Path) -> Result<Htpasswd, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("htpasswd file {}: {e}", path.display())))?;
        Htpasswd::parse(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Hashes with bcrypt cost 4: fast, for tests.
    pub fn from_plain(users: &[(&str, &str)]) -> Htpasswd {
        Htpasswd {
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), Htpasswd::hash(p, 4)))
                .collect(),
        }
    }

    /// A bcrypt hash (`$2b$`) for an htpasswd line; `cost` is clamped to bcrypt's 4..=31.
    pub fn hash(password: &str, cost: u32) -> String {
        bcrypt::hash(password, cost.clamp(4, 31)).expect("bcrypt accepts costs 4..=31")
    }

    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn hash_of(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub users: Htpasswd,
    /// Empty: every authenticated user may pull, push and delete everything.
    pub rules: Vec<AccessRule>,
    /// Callers without credentials may pull every repository (in addition to the rules).
    pub anonymous_pull: bool,
    pub service: String,
    /// Token endpoint URL for the challenge; None: `{http|https}://{Host}/token` per request.
    pub realm: Option<String>,
    pub token_ttl: Duration,
}

impl AuthConfig {
    pub fn new(mode: AuthMode, users: Htpasswd) -> Self {
        AuthConfig {
            mode,
            users,
            rules: Vec::new(),
            anonymous_pull: false,
            service: "oci-reference-server".into(),
            realm: None,
            token_ttl: Duration::from_secs(300),
        }
    }

    /// What the rules (and `anonymous_pull`) let `user` (None: anonymous) do.
    pub fn permits(&self, user: Option<&str>, repository: &str, action: Action) -> bool {
        match user {
            None if action == Action::Pull && self.anonymous_pull => true,
            Some(_) if self.rules.is_empty() => true,
            _ => self
                .rules
                .iter()
                .any(|r| r.allows(user, repository, action)),
        }
    }

    /// Whether a caller without credentials can do anything at all.
    fn anonymous_enabled(&self) -> bool {
        self.anonymous_pull
            || self
                .rules
                .iter()
                .any(|r| r.users.iter().any(|u| u == "anonymous"))
    }
}

/// What a request needs, derived from its route and method.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Need<'a> {
    /// `/v2/` and registry-level discovery: any authenticated caller.
    Login,
    Catalog,
    Repo(&'a str, Action),
}

pub(crate) fn need<'a>(route: &'a Route, method: &Method) -> Need<'a> {
    match route {
        Route::Base | Route::Discover { name: None } => Need::Login,
        Route::Catalog => Need::Catalog,
        Route::UploadStart { name } | Route::Upload { name, .. } => Need::Repo(name, Action::Push),
        Route::Manifest { name, .. } | Route::Blob { name, .. } if method == Method::DELETE => {
            Need::Repo(name, Action::Delete)
        }
        Route::Manifest { name, .. } if method == Method::PUT => Need::Repo(name, Action::Push),
        Route::Discover { name: Some(name) }
        | Route::Manifest { name, .. }
        | Route::Blob { name, .. }
        | Route::Tags { name }
        | Route::Referrers { name, .. } => Need::Repo(name, Action::Pull),
    }
}

/// One `access` entry of a token (the shape distribution and its clients use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Grant>,
}

/// An authenticated (or accepted anonymous) caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// None: anonymous.
    pub user: Option<String>,
    /// Token mode: what the token grants. None in Basic mode (the rules decide).
    grants: Option<Vec<Grant>>,
}

enum Credentials {
    None,
    /// Unparseable, wrong scheme, unknown user or wrong password.
    Bad,
    User(String),
    Token(Claims),
    BadToken,
    /// Too many failed logins (from this address, or for this user from an address it never
    /// logged in from): refused without checking, retry after the duration.
    Throttled(Duration),
}

/// An HMAC of a password that verified, and when.
type CachedVerification = ([u8; 32], Instant);

/// Runtime state: the configuration plus the signing key and the verification cache.
pub(crate) struct AuthState {
    pub config: AuthConfig,
    tls: bool,
    /// Signs tokens and keys the verification cache; random per process, so a restart
    /// invalidates every token (clients simply fetch a new one).
    key: [u8; 32],
    cache: Mutex<HashMap<String, Vec<CachedVerification>>>,
    /// Checked for unknown users, at the cost of the real hashes, so response time does not
    /// tell which user names exist.
    decoy: String,
    /// How long checking the costliest hash takes (measured, then tracked): every refusal
    /// takes at least this long, so a user whose hash is cheaper is not told apart by time.
    refusal_floor: Mutex<Duration>,
    throttle: Mutex<Throttle>,
    limits: crate::limits::Limits,
}

/// How long a successful login makes its (user, address) pair trusted: that address keeps
/// working for that user while someone else's guesses lock the user name.
const TRUSTED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Entries kept per throttle table; beyond, expired entries are dropped (then everything, so
/// memory stays bounded whatever names and addresses a flood uses).
const THROTTLE_ENTRIES: usize = 100_000;

/// Failed logins in the current window.
#[derive(Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

#[derive(Default)]
struct Throttle {
    by_address: HashMap<IpAddr, Failures>,
    by_user: HashMap<String, Failures>,
    trusted: HashMap<(String, IpAddr), Instant>,
}

impl Throttle {
    /// Time left before `f` allows another attempt, if it reached `max` within `window`.
    fn blocked(f: Option<&Failures>, max: u32, window: Duration, now: Instant) -> Option<Duration> {
        let f = f?;
        let end = f.since + window;
        (f.count >= max && end > now).then(|| end - now)
    }

    fn bump<K: std::hash::Hash + Eq>(
        map: &mut HashMap<K, Failures>,
        key: K,
        window: Duration,
        now: Instant,
    ) {
        if map.len() >= THROTTLE_ENTRIES {
            map.retain(|_, f| f.since + window > now);
            if map.len() >= THROTTLE_ENTRIES {
                map.clear();
            }
        }
        let f = map.entry(key).or_insert(Failures {
            since: now,
            count: 0,
        });
        if f.since + window <= now {
            *f = Failures {
                since: now,
                count: 0,
            };
        }
        f.count += 1;
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `?mount=…&from=NAME` on an upload start: the repository the blob would come from.
fn mount_source(uri: &Uri) -> Option<String> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query()?.as_bytes())
        .into_owned()
        .collect();
    pairs.iter().any(|(k, _)| k == "mount").then_some(())?;
    pairs
        .into_iter()
        .find(|(k, v)| k == "from" && crate::routes::is_valid_name(v))
        .map(|(_, v)| v)
}

/// The client's address, as the accept loop recorded it.
pub(crate) fn peer_of(parts: &axum::http::request::Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Too many failed logins: 429 with the spec's code and when to come back.
fn throttled(wait: Duration) -> RegistryError {
    RegistryError::new(
        StatusCode::TOO_MANY_REQUESTS,
        Code::TooManyRequests,
        "too many failed logins; retry later",
    )
    .with_header("retry-after", wait.as_secs().max(1).to_string())
}

/// A value inside a quoted challenge parameter.
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl AuthState {
    pub fn new(config: AuthConfig, tls: bool, limits: crate::limits::Limits) -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        let cost = config
            .users
            .users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(4);
        // Hashing costs what checking costs: this is the first measure of the refusal floor.
        let started = Instant::now();
        let decoy = Htpasswd::hash(&hex::encode(key), cost);
        let floor = started.elapsed();
        AuthState {
            config,
            tls,
            key,
            cache: Mutex::new(HashMap::new()),
            decoy,
            refusal_floor: Mutex::new(floor),
            throttle: Mutex::new(Throttle::default()),
            limits,
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// Refuses at once (with the time to wait) when `peer` or `user` has failed too often:
    /// per address always; per user only from addresses that never logged in as that user, so
    /// someone else's guesses do not lock a user out of the places they use.
    fn throttled(&self, user: &str, peer: Option<IpAddr>) -> Option<Duration> {
        let t = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let window = self.limits.auth_failure_window;
        if let Some(ip) = peer {
            let max = self.limits.auth_failures_per_address;
            if let Some(wait) = Throttle::blocked(t.by_address.get(&ip), max, window, now) {
                return Some(wait);
            }
        }
        let max = self.limits.auth_failures_per_user;
        let wait = Throttle::blocked(t.by_user.get(user), max, window, now)?;
        let trusted = peer.is_some_and(|ip| {
            t.trusted
                .get(&(user.to_string(), ip))
                .is_some_and(|at| now.duration_since(*at) < TRUSTED_FOR)
        });
        (!trusted).then_some(wait)
    }

    fn record(&self, user: &str, peer: Option<IpAddr>, ok: bool) {
        let mut t = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let window = self.limits.auth_failure_window;
        match (ok, peer) {
            (true, Some(ip)) => {
                if t.trusted.len() >= THROTTLE_ENTRIES {
                    t.trusted
                        .retain(|_, at| now.duration_since(*at) < TRUSTED_FOR);
                    if t.trusted.len() >= THROTTLE_ENTRIES {
                        t.trusted.clear();
                    }
                }
                t.trusted.insert((user.to_string(), ip), now);
            }
            (true, None) => {}
            (false, _) => {
                if let Some(ip) = peer {
                    Throttle::bump(&mut t.by_address, ip, window, now);
                }
                Throttle::bump(&mut t.by_user, user.to_string(), window, now);
            }
        }
    }

    /// Checks a password: `Ok(true)` accepted, `Ok(false)` refused, `Err(wait)` throttled.
    /// Every refusal takes as long as checking the costliest hash in the file.
    async fn verify(
        &self,
        user: &str,
        password: &[u8],
        peer: Option<IpAddr>,
    ) -> Result<bool, Duration> {
        if let Some(wait) = self.throttled(user, peer) {
            return Err(wait);
        }
        let started = Instant::now();
        let ok = self.check_password(user, password).await;
        self.record(user, peer, ok);
        if !ok {
            let elapsed = started.elapsed();
            let floor = {
                let mut f = self.refusal_floor.lock().unwrap_or_else(|e| e.into_inner());
                if self.costliest(user) {
                    // Follow the machine's speed (load, frequency) with a slow average.
                    *f = (*f * 7 + elapsed) / 8;
                }
                *f
            };
            if let Some(rest) = floor.checked_sub(elapsed) {
                tokio::time::sleep(rest).await;
            }
        }
        Ok(ok)
    }

    /// True when checking `user` costs as much as the costliest hash (the decoy included).
    fn costliest(&self, user: &str) -> bool {
        let cost_of = |h: &str| h.parse::<bcrypt::HashParts>().ok().map(|p| p.get_cost());
        match self.config.users.hash_of(user) {
            None => true,
            Some(h) => cost_of(h) >= cost_of(&self.decoy),
        }
    }

    /// Checks a password, remembering successes for a minute. The cache holds an HMAC of the
    /// password under the process key, never the password, and compares in constant time.
    async fn check_password(&self, user: &str, password: &[u8]) -> bool {
        let (hash, known) = match self.config.users.hash_of(user) {
            Some(h) => (h, true),
            None => (self.decoy.as_str(), false),
        };
        let now = Instant::now();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entries) = cache.get_mut(user) {
                entries.retain(|(_, t)| now.duration_since(*t) < VERIFY_CACHE_TTL);
                let hit = entries.iter().any(|(tag, _)| {
                    let mut m = self.mac();
                    m.update(password);
                    m.verify_slice(tag).is_ok()
                });
                if hit {
                    return true;
                }
            }
        }
        let (pw, h) = (password.to_vec(), hash.to_string());
        // bcrypt is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &h).unwrap_or(false))
            .await
            .unwrap_or(false)
            && known;
        if ok {
            let mut m = self.mac();
            m.update(password);
            let tag: [u8; 32] = m.finalize().into_bytes().into();
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let entries = cache.entry(user.to_string()).or_default();
            if entries.len() >= VERIFY_CACHE_PER_USER {
                entries.remove(0);
            }
            entries.push((tag, now));
        }
        ok
    }

    /// `Basic base64(user:password)` → verified user name.
    /// `Err` carries the time to wait when throttled.
    async fn basic(&self, value: &[u8], peer: Option<IpAddr>) -> Result<Option<String>, Duration> {
        let Some((user, password)) = STANDARD.decode(value.trim_ascii()).ok().and_then(|raw| {
            let colon = raw.iter().position(|&b| b == b':')?;
            let user = std::str::from_utf8(&raw[..colon]).ok()?.to_string();
            Some((user, raw[colon + 1..].to_vec()))
        }) else {
            return Ok(None);
        };
        Ok(self.verify(&user, &password, peer).await?.then_some(user))
    }

    async fn credentials(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Credentials {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Credentials::None;
        };
        let bytes = value.as_bytes();
        if bytes.len() > MAX_AUTH_HEADER {
            return match self.config.mode {
                AuthMode::Basic => Credentials::Bad,
                AuthMode::Token => Credentials::BadToken,
            };
        }
        let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (bytes, &b""[..]),
        };
        match self.config.mode {
            AuthMode::Basic if scheme.eq_ignore_ascii_case(b"basic") => {
                match self.basic(rest, peer).await {
                    Ok(Some(u)) => Credentials::User(u),
                    Ok(None) => Credentials::Bad,
                    Err(wait) => Credentials::Throttled(wait),
                }
            }
            AuthMode::Basic => Credentials::Bad,
            AuthMode::Token if scheme.eq_ignore_ascii_case(b"bearer") => {
                match std::str::from_utf8(rest)
                    .ok()
                    .and_then(|t| self.validate(t.trim()))
                {
                    Some(c) => Credentials::Token(c),
                    None => Credentials::BadToken,
                }
            }
            // Registry endpoints only take tokens; a Basic header here is not a token, so
            // the client is told where to get one.
            AuthMode::Token => Credentials::None,
        }
    }

    fn realm(&self, headers: &HeaderMap, uri: &Uri) -> String {
        if let Some(r) = &self.config.realm {
            return r.clone();
        }
        let scheme = if self.tls { "https" } else { "http" };
        let safe = |h: &str| {
            !h.is_empty()
                && h.len() <= 300
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        };
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| safe(h))
            .or_else(|| uri.authority().map(|a| a.as_str()).filter(|h| safe(h)))
            .unwrap_or("localhost");
        format!("{scheme}://{host}/token")
    }

    fn basic_challenge(&self) -> String {
        format!("Basic realm=\"{}\"", quoted(&self.config.service))
    }

    fn unauthorized(&self, challenge: String, message: &str) -> RegistryError {
        RegistryError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
            .with_header("www-authenticate", challenge)
    }

    fn scope_of(need: Need<'_>) -> Option<String> {
        match need {
            Need::Login => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo(name, a) => Some(format!("repository:{name}:{}", a.as_str())),
        }
    }

    fn challenge(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        need: Need<'_>,
        error: Option<&str>,
    ) -> String {
        match self.config.mode {
            AuthMode::Basic => self.basic_challenge(),
            AuthMode::Token => {
                let mut c = format!(
                    "Bearer realm=\"{}\",service=\"{}\"",
                    quoted(&self.realm(headers, uri)),
                    quoted(&self.config.service)
                );
                if let Some(mut s) = Self::scope_of(need) {
                    // A mount also needs pull on its source: name it, as distribution does, so
                    // one token request covers both and the mount is not silently downgraded.
                    if let Some(from) = mount_source(uri) {
                        s.push_str(&format!(" repository:{from}:pull"));
                    }
                    c.push_str(&format!(",scope=\"{}\"", quoted(&s)));
                }
                if let Some(e) = error {
                    c.push_str(&format!(",error=\"{e}\""));
                }
                c
            }
        }
    }

    fn denied(need: Need<'_>) -> RegistryError {
        let detail = match need {
            Need::Repo(name, a) => {
                serde_json::json!({ "repository": name, "action": a.as_str() })
            }
            Need::Catalog => serde_json::json!({ "scope": "registry:catalog:*" }),
            Need::Login => serde_json::Value::Null,
        };
        RegistryError::new(
            StatusCode::FORBIDDEN,
            Code::Denied,
            "requested access to the resource is denied",
        )
        .with_detail(detail)
    }

    /// What the rules let `user` do for `need` (before looking at any token).
    fn rules_allow(&self, user: Option<&str>, need: Need<'_>) -> bool {
        match need {
            Need::Login => user.is_some() || self.config.anonymous_enabled(),
            Need::Catalog => user.is_some(),
            Need::Repo(name, a) => self.config.permits(user, name, a),
        }
    }

    fn token_allows(grants: &[Grant], need: Need<'_>) -> bool {
        let has = |kind: &str, name: &str, action: &str| {
            grants
                .iter()
                .any(|g| g.kind == kind && g.name == name && g.actions.iter().any(|a| a == action))
        };
        match need {
            Need::Login => true,
            Need::Catalog => has("registry", "catalog", "*"),
            Need::Repo(name, a) => has("repository", name, a.as_str()),
        }
    }

    /// Authenticates and authorizes one registry request.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        need: Need<'_>,
        peer: Option<IpAddr>,
    ) -> Result<Caller, RegistryError> {
        let creds = self.credentials(headers, peer).await;
        let challenge = |error| self.challenge(headers, uri, need, error);
        match creds {
            Credentials::None if self.config.mode == AuthMode::Basic => {
                if self.rules_allow(None, need) {
                    Ok(Caller {
                        user: None,
                        grants: None,
                    })
                } else {
                    Err(self.unauthorized(challenge(None), "authentication required"))
                }
            }
            Credentials::None => Err(self.unauthorized(challenge(None), "authentication required")),
            Credentials::Bad => Err(self.unauthorized(challenge(None), "invalid credentials")),
            Credentials::Throttled(wait) => Err(throttled(wait)),
            Credentials::BadToken => {
                Err(self.unauthorized(challenge(Some("invalid_token")), "invalid or expired token"))
            }
            Credentials::User(user) => {
                if self.rules_allow(Some(&user), need) {
                    Ok(Caller {
                        user: Some(user),
                        grants: None,
                    })
                } else {
                    Err(Self::denied(need))
                }
            }
            Credentials::Token(claims) => {
                let user = (!claims.sub.is_empty()).then_some(claims.sub);
                if Self::token_allows(&claims.access, need) {
                    Ok(Caller {
                        user,
                        grants: Some(claims.access),
                    })
                } else if self.rules_allow(user.as_deref(), need) {
                    Err(self.unauthorized(
                        challenge(Some("insufficient_scope")),
                        "token lacks the scope this request needs",
                    ))
                } else {
                    Err(Self::denied(need))
                }
            }
        }
    }

    /// Repositories listed in the catalog and searched by auto-mount: what the caller's
    /// identity may pull under the rules (in token mode it could get a token for them anyway).
    pub fn may_see(&self, caller: &Caller, repository: &str) -> bool {
        self.config
            .permits(caller.user.as_deref(), repository, Action::Pull)
    }

    /// Mount with `from`: the caller must be able to pull the source right now (in token mode,
    /// the token must carry that pull, as distribution requires).
    pub fn may_mount_from(&self, caller: &Caller, repository: &str) -> bool {
        match &caller.grants {
            Some(g) => Self::token_allows(g, Need::Repo(repository, Action::Pull)),
            None => self.may_see(caller, repository),
        }
    }

    fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut m = self.mac();
        m.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    fn validate(&self, token: &str) -> Option<Claims> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        // Only our own algorithm: `none` or a public-key algorithm must never be trusted.
        if header.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let mut m = self.mac();
        m.update(h.as_bytes());
        m.update(b".");
        m.update(p.as_bytes());
        m.verify_slice(&sig).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let now = now_secs();
        (claims.aud == self.config.service
            && claims.iss == self.config.service
            && claims.nbf <= now
            && now < claims.exp)
            .then_some(claims)
    }

    /// `GET /token` (Basic credentials or anonymous) and `POST /token` (OAuth2 password grant).
    pub async fn token_endpoint(
        &self,
        parts: &axum::http::request::Parts,
        body: &mut Option<Body>,
    ) -> Result<Response, RegistryError> {
        let mut params = routes::parse_query(parts.uri.query());
        if parts.method == Method::POST {
            let b = body.take().unwrap_or_default();
            let bytes = axum::body::to_bytes(b, MAX_TOKEN_FORM).await.map_err(|_| {
                RegistryError::bad_request(Code::Unsupported, "token request body too large")
            })?;
            params.extend(
                form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        } else if parts.method != Method::GET {
            return Err(
                RegistryError::unsupported(format!("method {} not allowed", parts.method))
                    .with_header("allow", "GET, POST"),
            );
        }
        let bad_creds =
            || self.unauthorized(self.basic_challenge(), "invalid username or password");
        let user = if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let b = v.as_bytes();
            let basic =
                b.len() <= MAX_AUTH_HEADER && b.len() > 6 && b[..6].eq_ignore_ascii_case(b"basic ");
            if basic {
                let peer = peer_of(parts);
                match self.basic(&b[6..], peer).await {
                    Ok(Some(u)) => Some(u),
                    Ok(None) => return Err(bad_creds()),
                    Err(wait) => return Err(throttled(wait)),
                }
            } else {
                None
            }
        } else {
            None
        };
        let user = match (user, routes::query_get(&params, "grant_type")) {
            (Some(u), _) => Some(u),
            (None, Some("password")) => {
                let name = routes::query_get(&params, "username").unwrap_or_default();
                let pw = routes::query_get(&params, "password").unwrap_or_default();
                match self.verify(name, pw.as_bytes(), peer_of(parts)).await {
                    Ok(true) => {}
                    Ok(false) => return Err(bad_creds()),
                    Err(wait) => return Err(throttled(wait)),
                }
                Some(name.to_string())
            }
            (None, Some(other)) => {
                return Err(RegistryError::bad_request(
                    Code::Unsupported,
                    "unsupported grant_type (only password)",
                )
                .with_detail(serde_json::json!({ "grant_type": other })))
            }
            (None, None) => None,
        };
        if user.is_none() && !self.config.anonymous_enabled() {
            return Err(self.unauthorized(self.basic_challenge(), "authentication required"));
        }
        let mut access: Vec<Grant> = Vec::new();
        for scope in routes::query_all(&params, "scope").flat_map(str::split_whitespace) {
            let (kind, name, actions) = parse_scope(scope).ok_or_else(|| {
                RegistryError::bad_request(Code::Unsupported, "malformed scope")
                    .with_detail(serde_json::json!({ "scope": scope }))
            })?;
            let granted: Vec<String> = match kind {
                "repository" => {
                    let mut wanted: Vec<Action> = Vec::new();
                    for a in actions.split(',') {
                        if a == "*" {
                            wanted.extend(Action::ALL);
                        } else if let Some(a) = Action::parse(a) {
                            wanted.push(a);
                        }
                    }
                    wanted
                        .into_iter()
                        .filter(|a| self.config.permits(user.as_deref(), name, *a))
                        .map(|a| a.as_str().to_string())
                        .collect()
                }
                "registry" if name == "catalog" && user.is_some() => actions
                    .split(',')
                    .filter(|a| *a == "*")
                    .map(String::from)
                    .collect(),
                _ => Vec::new(),
            };
            if granted.is_empty() {
                continue;
            }
            match access.iter_mut().find(|g| g.kind == kind && g.name == name) {
                Some(g) => g.actions.extend(granted),
                None => access.push(Grant {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    actions: granted,
                }),
            }
        }
        for g in &mut access {
            g.actions.sort();
            g.actions.dedup();
        }
        let now = now_secs();
        let ttl = self.config.token_ttl.as_secs().max(1);
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
        let claims = Claims {
            iss: self.config.service.clone(),
            sub: user.unwrap_or_default(),
            aud: self.config.service.clone(),
            exp: now + ttl,
            nbf: now,
            iat: now,
            jti: hex::encode(jti),
            access,
        };
        let token = self.sign(&claims);
        let body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": rfc3339(now),
        })
        .to_string();
        Ok(crate::respond(
            StatusCode::OK,
            vec![
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
            ],
            Body::from(body),
        ))
    }
}

/// `type:name:actions`; the name is everything between the first and the last `:`.
fn parse_scope(s: &str) -> Option<(&str, &str, &str)> {
    let (kind, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let ok = !kind.is_empty()
        && !actions.is_empty()
        && match kind {
            "repository" => routes::is_valid_name(name),
            _ => !name.is_empty(),
        };
    ok.then_some((kind, name, actions))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_reject_with_clear_errors() {
        let r: AccessRule = "alice, bob:team/*:pull,push".parse().unwrap();
        assert_eq!(r.users, ["alice", "bob"]);
        assert_eq!(r.repository, "team/*");
        assert_eq!(r.actions, [Action::Pull, Action::Push]);
        let r: AccessRule = "*:*:*".parse().unwrap();
        assert_eq!(r.actions, Action::ALL);
        let e = "alice:x".parse::<AccessRule>().unwrap_err();
        assert!(e.contains("USERS:REPOSITORY-PATTERN:ACTIONS"), "{e}");
        let e = "alice:x:pull,write".parse::<AccessRule>().unwrap_err();
        assert!(e.contains("\"write\""), "{e}");
        assert!(":x:pull".parse::<AccessRule>().is_err());
        assert!("a::pull".parse::<AccessRule>().is_err());
        assert!("a:x:".parse::<AccessRule>().is_err());
    }

    /// `?` in a rule is one character (it was a literal, which no repository name contains).
    #[test]
    fn question_mark_in_a_rule_is_one_character() {
        let r: AccessRule = "alice:team/a?c:pull".parse().unwrap();
        assert!(r.allows(Some("alice"), "team/abc", Action::Pull));
        assert!(!r.allows(Some("alice"), "team/ac", Action::Pull));
        assert!(!r.allows(Some("alice"), "team/abbc", Action::Pull));
    }

    #[test]
    fn rules_decide_by_user_pattern_and_action() {
        let mut c = AuthConfig::new(AuthMode::Basic, Htpasswd::default());
        assert!(c.permits(Some("anyone"), "x", Action::Delete));
        assert!(!c.permits(None, "x", Action::Pull));
        c.anonymous_pull = true;
        assert!(c.permits(None, "x", Action::Pull));
        assert!(!c.permits(None, "x", Action::Push));
        c.rules = vec![
            "alice:team/*:pull".parse().unwrap(),
            "*:public/*:pull".parse().unwrap(),
            "anonymous:open:push".parse().unwrap(),
        ];
        assert!(c.permits(Some("alice"), "team/a", Action::Pull));
        assert!(!c.permits(Some("alice"), "team/a", Action::Push));
        assert!(!c.permits(Some("bob"), "team/a", Action::Pull));
        assert!(c.permits(Some("bob"), "public/a", Action::Pull));
        assert!(c.permits(None, "open", Action::Push));
        assert!(!c.permits(Some("bob"), "open", Action::Push));
    }

    #[test]
    fn htpasswd_accepts_bcrypt_only_and_names_the_line() {
        let h = Htpasswd::hash("secret", 4);
        let y = h.replacen("$2b$", "$2y$", 1);
        let text = format!("# users\n\nalice:{h}\nbob:{y}\n");
        let p = Htpasswd::parse(&text).unwrap();
        assert_eq!(p.users().collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(bcrypt::verify("secret", p.hash_of("bob").unwrap()).unwrap());
        for (bad, line) in [
            (
                format!("alice:{h}\ncarol:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g="),
                2,
            ),
            (
                format!("\n\n# x\ndave:$apr1$abc$0123456789abcdefghijkl\nalice:{h}"),
                4,
            ),
            ("nohash".to_string(), 1),
            ("eve:$2y$10$short".to_string(), 1),
        ] {
            let e = Htpasswd::parse(&bad).unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")), "{e}");
            assert!(!e.contains("W6ph5") && !e.contains("$apr1$abc"), "{e}");
        }
        assert!(Htpasswd::parse(&format!("a:{h}\na:{h}")).is_err());
    }

    #[test]
    fn debug_never_shows_hashes() {
        let mut c = crate::Config::memory();
        c.auth = Some(AuthConfig::new(
            AuthMode::Token,
            Htpasswd::from_plain(&[("alice", "pw")]),
        ));
        let s = format!("{c:?}");
        assert!(s.contains("alice"));
        assert!(!s.contains("$2"), "{s}");
    }

    #[test]
    fn tokens_verify_and_resist_tampering() {
        let a = AuthState::new(
            AuthConfig::new(AuthMode::Token, Htpasswd::default()),
            false,
            crate::limits::Limits::default(),
        );
        let now = now_secs();
        let claims = Claims {
            iss: "oci-reference-server".into(),
            sub: "alice".into(),
            aud: "oci-reference-server".into(),
            exp: now + 60,
            nbf: now,
            iat: now,
            jti: "x".into(),
            access: vec![],
        };
        let t = a.sign(&claims);
        assert_eq!(a.validate(&t).unwrap().sub, "alice");
        let other = AuthState::new(
            AuthConfig::new(AuthMode::Token, Htpasswd::default()),
            false,
            crate::limits::Limits::default(),
        );
        assert!(other.validate(&t).is_none());
        let expired = a.sign(&Claims {
            exp: now - 1,
            ..claims.clone()
        });
        assert!(a.validate(&expired).is_none());
        let wrong_aud = a.sign(&Claims {
            aud: "other".into(),
            ..claims
        });
        assert!(a.validate(&wrong_aud).is_none());
        for junk in ["", "a.b", "a.b.c", "..", "a.b.c.d", &t[..t.len() - 1]] {
            assert!(a.validate(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn scopes_and_dates() {
        assert_eq!(
            parse_scope("repository:a/b:pull,push"),
            Some(("repository", "a/b", "pull,push"))
        );
        assert_eq!(
            parse_scope("registry:catalog:*"),
            Some(("registry", "catalog", "*"))
        );
        for bad in [
            "repository",
            "repository:a",
            "repository:A:pull",
            ":a:pull",
            "repository:a:",
        ] {
            assert!(parse_scope(bad).is_none(), "{bad}");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
