//! What one client may hold of the server: connections, time, buffered memory, password
//! guesses. Every limit has a flag, an `OCI_SERVER_*` variable and a key of the `[limits]`
//! table, all declared by [`LimitSettings`]; the defaults are far above what real clients use (see the README's "Limits").

use crate::errors::Error;
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections; one more is answered 503 `TOOMANYREQUESTS` and closed.
    pub max_connections: usize,
    /// Time to receive a request's head (and the TLS handshake before the first one), counted
    /// from when the connection starts waiting for it: also the HTTP/1.1 keep-alive idle limit.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved either way for this long is closed (HTTP/2 included).
    pub idle_timeout: Duration,
    /// Longest wait for the next piece of a request body; then the request fails and releases
    /// what it held (an upload session, a manifest buffer).
    pub body_timeout: Duration,
    /// Manifest bodies buffered at once, all requests together; beyond it 429 `TOOMANYREQUESTS`.
    pub manifest_memory: u64,
    /// Whole time allowed to receive one manifest body.
    pub manifest_body_timeout: Duration,
    /// Upload sessions unused for this long are purged with their data.
    pub upload_expiry: Duration,
    /// Interval of the online garbage collection of unreferenced blobs; None: never.
    pub gc_interval: Option<Duration>,
    /// Failed logins per client address within `auth_failure_window`; beyond it that address
    /// is refused (429) until the window has passed.
    pub auth_failures_per_address: u32,
    /// Failed logins per user name within the window; beyond it that user is refused from every
    /// address that has not logged in as them successfully before (theirs keep working).
    pub auth_failures_per_user: u32,
    pub auth_failure_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1000,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            body_timeout: Duration::from_secs(60),
            manifest_memory: 256 << 20,
            manifest_body_timeout: Duration::from_secs(120),
            upload_expiry: Duration::from_secs(24 * 3600),
            gc_interval: Some(Duration::from_secs(3600)),
            auth_failures_per_address: 20,
            auth_failures_per_user: 10,
            auth_failure_window: Duration::from_secs(60),
        }
    }
}

/// The `[limits]` table and its flags (see [`crate::config::Settings`]): durations in seconds;
/// `gc_interval = 0` turns collection off.
#[derive(clap::Args, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Most open connections (one more is answered 503 TOOMANYREQUESTS; default 1000).
    #[arg(long, env = "OCI_SERVER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds to receive a request head, TLS handshake included; also the HTTP/1.1 keep-alive
    /// idle limit (default 30).
    #[arg(long, env = "OCI_SERVER_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,
    /// Seconds without a byte either way before a connection is closed (default 300).
    #[arg(long, env = "OCI_SERVER_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Longest wait in seconds for the next piece of a request body (default 60).
    #[arg(long, env = "OCI_SERVER_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Bytes of manifest bodies buffered at once, all requests together (default 256 MiB; above
    /// it 429 TOOMANYREQUESTS).
    #[arg(long, env = "OCI_SERVER_MANIFEST_MEMORY")]
    pub manifest_memory: Option<u64>,
    /// Seconds allowed to receive a whole manifest body (default 120).
    #[arg(long, env = "OCI_SERVER_MANIFEST_BODY_TIMEOUT")]
    pub manifest_body_timeout: Option<u64>,
    /// Seconds an upload session may stay unused before it is purged (default 86400).
    #[arg(long, env = "OCI_SERVER_UPLOAD_EXPIRY")]
    pub upload_expiry: Option<u64>,
    /// Seconds between online garbage collections of unreferenced blobs (default 3600; 0: off).
    #[arg(long, env = "OCI_SERVER_GC_INTERVAL")]
    pub gc_interval: Option<u64>,
    /// Failed logins per client address per window before it is refused (default 20).
    #[arg(long, env = "OCI_SERVER_AUTH_FAILURES_PER_ADDRESS")]
    pub auth_failures_per_address: Option<u32>,
    /// Failed logins per user name per window before that user is refused from addresses
    /// it never logged in from (default 10).
    #[arg(long, env = "OCI_SERVER_AUTH_FAILURES_PER_USER")]
    pub auth_failures_per_user: Option<u32>,
    /// Seconds over which failed logins are counted (default 60).
    #[arg(long, env = "OCI_SERVER_AUTH_FAILURE_WINDOW")]
    pub auth_failure_window: Option<u64>,
}

impl Limits {
    /// Applies what `f` names, checked.
    pub fn apply(&mut self, f: LimitSettings) -> Result<(), Error> {
        let secs = |name: &str, v: u64| {
            if v == 0 {
                Err(Error::Config(format!("{name} must be at least 1 second")))
            } else {
                Ok(Duration::from_secs(v))
            }
        };
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(Error::Config(format!("{name} must be at least 1")))
            } else {
                Ok(v)
            }
        };
        if let Some(v) = f.max_connections {
            self.max_connections = positive("max_connections", v as u64)? as usize;
        }
        if let Some(v) = f.header_read_timeout {
            self.header_read_timeout = secs("header_read_timeout", v)?;
        }
        if let Some(v) = f.idle_timeout {
            self.idle_timeout = secs("idle_timeout", v)?;
        }
        if let Some(v) = f.body_timeout {
            self.body_timeout = secs("body_timeout", v)?;
        }
        if let Some(v) = f.manifest_memory {
            self.manifest_memory = positive("manifest_memory", v)?;
        }
        if let Some(v) = f.manifest_body_timeout {
            self.manifest_body_timeout = secs("manifest_body_timeout", v)?;
        }
        if let Some(v) = f.upload_expiry {
            self.upload_expiry = secs("upload_expiry", v)?;
        }
        if let Some(v) = f.gc_interval {
            self.gc_interval = (v > 0).then(|| Duration::from_secs(v));
        }
        if let Some(v) = f.auth_failures_per_address {
            self.auth_failures_per_address =
                positive("auth_failures_per_address", v.into())? as u32;
        }
        if let Some(v) = f.auth_failures_per_user {
            self.auth_failures_per_user = positive("auth_failures_per_user", v.into())? as u32;
        }
        if let Some(v) = f.auth_failure_window {
            self.auth_failure_window = secs("auth_failure_window", v)?;
        }
        Ok(())
    }
}
