//! Content shared by both layers: deterministic blobs, manifests, and plain (setup) pushes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::grammar::{encode_query, sha256_digest};
use super::http::{Answer, Client, Req};
use super::oracle::{Judge, Verdict};
use crate::contract::responses::{Endpoint, Situation};
use crate::spec::SpecVersion;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Blob bytes from a seed. Printable ASCII on purpose: reproducers can then carry blobs as
/// `{"text": …}` fixtures, readable and diffable.
pub fn blob_bytes(seed: u64, size: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..size)
        .map(|_| ALPHA[rng.gen_range(0..ALPHA.len())])
        .collect()
}

/// A small OCI image config, distinct per seed.
pub fn config_bytes(seed: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": {"fuzz.seed": seed.to_string()}}
    }))
    .expect("serialise config")
}

pub fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len()})
}

/// An OCI image manifest (compact JSON, so its bytes are stable).
pub fn image_manifest(
    config: &[u8],
    config_type: &str,
    layers: &[&[u8]],
    subject: Option<(&str, usize)>,
    artifact_type: Option<&str>,
    annotation: &str,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": layers.iter().map(|l| descriptor(OCI_LAYER, l)).collect::<Vec<_>>(),
        "annotations": {"org.example.fuzz": annotation},
    });
    if let Some(at) = artifact_type {
        m["artifactType"] = json!(at);
    }
    if let Some((d, size)) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size});
    }
    serde_json::to_vec(&m).expect("serialise manifest")
}

/// Sends a setup request and points the judge at its exchange in the case transcript.
fn send(c: &mut Client, j: &mut Judge, req: Req) -> Answer {
    let a = c.send(req);
    j.exchange = Some(c.transcript.len() - 1);
    a
}

/// A plain blob push (POST, then PUT `?digest=`), judged by the same response contract as every
/// fuzzed request: a registry that answers a setup push against the spec gets a finding (with
/// the push as its reproducer), not a run that stops with a setup error.
pub fn push_blob(c: &mut Client, version: SpecVersion, name: &str, bytes: &[u8]) -> Verdict {
    let mut j = Judge::new("start-upload.setup");
    let a = send(
        c,
        &mut j,
        Req::new("POST", format!("/v2/{name}/blobs/uploads/")).header("Content-Length", "0"),
    );
    let r = j.contract(&a, Endpoint::StartUpload, Situation::Exists, version, None)?;
    // The contract requires the Location of a 202; this only guards against a rule change.
    let loc = r
        .header("location")
        .ok_or_else(|| j.fail("no-location", "202 without Location", &["R-038"]))?
        .to_string();
    let mut j = Judge::new("close-upload.setup");
    let url = with_query(&c.resolve(&loc), "digest", &sha256_digest(bytes));
    let a = send(
        c,
        &mut j,
        Req::new("PUT", url)
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec()),
    );
    j.contract(&a, Endpoint::CloseUpload, Situation::Exists, version, None)?;
    Ok(())
}

/// A plain manifest push whose blobs are in the repository, judged like [`push_blob`].
pub fn push_manifest(
    c: &mut Client,
    version: SpecVersion,
    name: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Verdict {
    let mut j = Judge::new("put-manifest.setup");
    let a = send(
        c,
        &mut j,
        Req::new("PUT", format!("/v2/{name}/manifests/{reference}"))
            .header("Content-Type", media_type)
            .body(bytes.to_vec()),
    );
    j.contract(
        &a,
        Endpoint::PutManifest,
        Situation::Exists,
        version,
        Some(bytes),
    )?;
    Ok(())
}

/// Appends a query parameter to a URL that may already carry a query (upload locations may).
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", encode_query(value))
}
