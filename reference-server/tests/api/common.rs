#![allow(dead_code)]

use oci_reference_server::{spawn, Config, RunningServer};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};
use std::time::Duration;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

pub const CODES: [&str; 14] = [
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

pub struct T {
    pub server: RunningServer,
    pub client: Client,
    pub url: String,
}

pub async fn start() -> T {
    start_with(Config::memory()).await
}

pub async fn start_with(config: Config) -> T {
    let server = spawn(config).await.expect("server starts");
    let url = server.url();
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    T {
        server,
        client,
        url,
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

pub fn headers_all(r: &Response, name: &str) -> Vec<String> {
    r.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Asserts a spec-shaped error answer and returns its codes.
pub async fn expect_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for expected {code}");
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let body: Value = r.json().await.expect("JSON error body");
    let errors = body["errors"].as_array().expect("errors array");
    assert!(!errors.is_empty());
    for e in errors {
        let c = e["code"].as_str().expect("code string");
        assert!(CODES.contains(&c), "code {c} not in the spec table");
        assert!(e["message"].is_string());
    }
    assert_eq!(errors[0]["code"], code, "body: {body}");
    body
}

impl T {
    pub fn u(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn req(&self, m: Method, path: &str) -> Response {
        self.client.request(m, self.u(path)).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).await
    }

    /// Single POST upload; returns the digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let r = self
            .client
            .post(self.u(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        d
    }

    /// Opens an upload session; returns its Location (relative).
    pub async fn open_upload(&self, repo: &str) -> String {
        let r = self
            .client
            .post(self.u(&format!("/v2/{repo}/blobs/uploads/")))
            .header("content-length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let loc = header(&r, "location").expect("Location");
        assert!(loc.starts_with(&format!("/v2/{repo}/blobs/uploads/")));
        loc
    }

    pub async fn patch(&self, loc: &str, range: Option<&str>, data: &[u8]) -> Response {
        let mut b = self
            .client
            .patch(self.u(loc))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec());
        if let Some(r) = range {
            b = b.header("content-range", r);
        }
        b.send().await.unwrap()
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        content_type: &str,
        body: &[u8],
    ) -> Response {
        self.client
            .put(self.u(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a config and one layer, then an image manifest tagged `tag`; returns
    /// (manifest bytes, manifest digest).
    pub async fn push_image(&self, repo: &str, tag: &str, extra: Value) -> (Vec<u8>, String) {
        let cfg = b"{\"architecture\":\"amd64\"}";
        let layer = format!("layer of {repo}:{tag}");
        let c = self.push_blob(repo, cfg).await;
        let l = self.push_blob(repo, layer.as_bytes()).await;
        let m = image_manifest(&c, cfg.len(), &[(l, layer.len())], extra);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        let d = sha256(&m);
        (m, d)
    }
}

pub fn descriptor(media_type: &str, digest: &str, size: usize) -> Value {
    json!({ "mediaType": media_type, "digest": digest, "size": size })
}

/// An OCI image manifest; `extra` fields are merged at the top level.
pub fn image_manifest(
    config: &str,
    config_size: usize,
    layers: &[(String, usize)],
    extra: Value,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config, config_size),
        "layers": layers.iter().map(|(d, s)| descriptor(LAYER, d, *s)).collect::<Vec<_>>(),
    });
    if let (Some(o), Value::Object(e)) = (m.as_object_mut(), extra) {
        o.extend(e);
    }
    serde_json::to_vec_pretty(&m).unwrap()
}

pub fn index(children: &[(String, usize)], extra: Value) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().map(|(d, s)| descriptor(OCI_MANIFEST, d, *s)).collect::<Vec<_>>(),
    });
    if let (Some(o), Value::Object(e)) = (m.as_object_mut(), extra) {
        o.extend(e);
    }
    serde_json::to_vec(&m).unwrap()
}

/// JSON bodies without reqwest's `json` feature (which would rebuild reqwest for tests only).
pub trait JsonBody {
    fn json(self) -> impl std::future::Future<Output = Result<Value, String>>;
}

impl JsonBody for Response {
    async fn json(self) -> Result<Value, String> {
        let b = self.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&b).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&b)))
    }
}
