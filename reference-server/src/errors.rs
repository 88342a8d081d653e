//! The spec's error codes and the JSON error body every failure carries.

use crate::config::ErrorBodies;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The 14 codes of the spec's error table; nothing else is ever sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ErrorEntry {
    pub code: Code,
    pub message: String,
    pub detail: serde_json::Value,
}

/// An HTTP error answer: a status, one or more spec error entries, optional extra headers.
#[derive(Clone, Debug)]
pub struct RegistryError {
    pub status: StatusCode,
    pub errors: Vec<ErrorEntry>,
    pub headers: Vec<(&'static str, String)>,
}

impl RegistryError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        RegistryError {
            status,
            errors: vec![ErrorEntry {
                code,
                message: message.into(),
                detail: serde_json::Value::Null,
            }],
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        if let Some(e) = self.errors.last_mut() {
            e.detail = detail;
        }
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn code(&self) -> Code {
        self.errors[0].code
    }

    pub fn bad_request(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Disabled features and read-only mode: 405 `UNSUPPORTED` (the spec's 400-or-405 choice
    /// for disabled deletes; 405 is the one both official suites accept everywhere).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unsupported, message)
    }

    /// A switched-off delete: 405, or 400 when the registry is configured so (R-115, R-119,
    /// "400 or 405").
    pub fn disabled(status_400: bool, message: impl Into<String>) -> Self {
        let mut e = Self::unsupported(message);
        if status_400 {
            e.status = StatusCode::BAD_REQUEST;
        }
        e
    }

    /// Storage failures (never client input): 503 with `Retry-After`. The spec's table has no
    /// storage code; `TOOMANYREQUESTS` is the one that tells clients "temporary, retry later"
    /// (`UNSUPPORTED` would read as "feature absent"). Nothing was stored: writes are atomic.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "storage failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::TooManyRequests,
            "storage failure; nothing was stored, retry later",
        )
        .with_header("retry-after", "10")
    }

    /// Out of space (disk full, quota, file size limit): 507 Insufficient Storage, the status
    /// that names the cause, with `Retry-After` since space may be freed (collection, deletes).
    pub fn storage_full(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "storage full");
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            Code::TooManyRequests,
            "storage full; nothing was stored, retry later",
        )
        .with_header("retry-after", "60")
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
        match e.kind() {
            StorageFull | QuotaExceeded | FileTooLarge => RegistryError::storage_full(e),
            _ => RegistryError::internal(e),
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        self.render(ErrorBodies::Json)
    }
}

impl RegistryError {
    /// The answer, its body in the configured style (R-143 lets a 4xx body take any format).
    pub fn render(self, style: ErrorBodies) -> Response {
        let (body, content_type) = match style {
            ErrorBodies::Text => (
                self.errors
                    .iter()
                    .map(|e| format!("{}: {}\n", e.code.as_str(), e.message))
                    .collect::<String>(),
                "text/plain; charset=utf-8",
            ),
            ErrorBodies::Json | ErrorBodies::Bare => {
                let errors: Vec<serde_json::Value> = self
                    .errors
                    .iter()
                    .map(|e| {
                        let mut o = serde_json::Map::new();
                        o.insert("code".into(), e.code.as_str().into());
                        if style == ErrorBodies::Json {
                            o.insert("message".into(), e.message.clone().into());
                            if !e.detail.is_null() {
                                o.insert("detail".into(), e.detail.clone());
                            }
                        }
                        serde_json::Value::Object(o)
                    })
                    .collect();
                (
                    serde_json::json!({ "errors": errors }).to_string(),
                    "application/json",
                )
            }
        };
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        resp
    }
}

/// Library-level failures (start-up, configuration), distinct from HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("storage at {path}: {source}")]
    Storage {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
