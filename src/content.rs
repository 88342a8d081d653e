//! Deterministic fixtures: the same (seed, case id, fixture name) always gives the same bytes,
//! so a failure can be reproduced byte for byte, while different cases never share content (a
//! case that deletes a blob cannot disturb another case's copy of "the same" blob).

use crate::spec::{BlobData, Fixture, ImageFixture, IndexFixture, RawBody};
use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256, Sha512};
use std::collections::{BTreeMap, HashMap};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const PADDING_KEY: &str = "org.opencontainers.conformance.padding";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Blob,
    Manifest,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub bytes: Bytes,
    pub algorithm: &'static str,
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub kind: Kind,
    /// Fixtures the `push` macro pushes first (blobs, child manifests), in order.
    pub children: Vec<String>,
    pub skip_push: bool,
}

impl Item {
    pub fn encoded(&self) -> &str {
        self.digest.split_once(':').map(|x| x.1).unwrap_or("")
    }
    pub fn field(&self, field: &str) -> Option<String> {
        match field {
            "digest" => Some(self.digest.clone()),
            "encoded" => Some(self.encoded().to_string()),
            "algorithm" => Some(self.algorithm.to_string()),
            "size" => Some(self.bytes.len().to_string()),
            "media_type" => Some(self.media_type.clone()),
            "artifact_type" => self.artifact_type.clone(),
            _ => None,
        }
    }
    fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

pub fn digest_of(algorithm: &str, bytes: &[u8]) -> String {
    match algorithm {
        "sha512" => format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Content {
    pub items: HashMap<String, Item>,
}

impl Content {
    pub fn get(&self, name: &str) -> Option<&Item> {
        self.items.get(name)
    }

    /// `chunk`: the case's chunk size, for blobs sized in chunks.
    pub fn generate(
        seed: u64,
        case_id: &str,
        fixtures: &BTreeMap<String, Fixture>,
        chunk: u64,
    ) -> Result<Content, String> {
        let mut content = Content::default();
        // Fixtures refer to each other by name; resolve in passes until nothing is left, so
        // nested indexes and subjects work whatever order the file lists them in.
        let mut pending: Vec<(&String, &Fixture)> = fixtures.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::new();
            for (name, f) in pending {
                match content.build(seed, case_id, name, f, chunk)? {
                    Some(item) => {
                        content.items.insert(name.clone(), item);
                    }
                    None => still.push((name, f)),
                }
            }
            if still.len() == before {
                let names: Vec<&str> = still.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!(
                    "fixtures refer to each other in a cycle: {}",
                    names.join(", ")
                ));
            }
            pending = still;
        }
        Ok(content)
    }

    /// None when a fixture it refers to is not built yet.
    fn build(
        &self,
        seed: u64,
        case_id: &str,
        name: &str,
        f: &Fixture,
        chunk: u64,
    ) -> Result<Option<Item>, String> {
        let ready = |names: &[&String]| names.iter().all(|n| self.items.contains_key(n.as_str()));
        Ok(Some(match f {
            Fixture::Blob(b) => {
                let bytes = match &b.data {
                    BlobData::Text(t) => t.clone().into_bytes(),
                    BlobData::Size(size) => random_bytes(seed, case_id, name, *size),
                    BlobData::Chunks(n) => random_bytes(seed, case_id, name, n * chunk),
                };
                blob_item(
                    bytes,
                    b.algorithm.as_str(),
                    b.media_type.clone().unwrap_or_else(|| OCI_LAYER.into()),
                    b.skip_push,
                )
            }
            Fixture::Config(c) => {
                let (bytes, default_type) = if c.empty {
                    (b"{}".to_vec(), OCI_EMPTY)
                } else {
                    let v = json!({
                        "architecture": "amd64",
                        "os": "linux",
                        "rootfs": {"type": "layers", "diff_ids": []},
                        "config": {"Labels": {
                            "org.opencontainers.conformance.case": case_id,
                            "org.opencontainers.conformance.fixture": name,
                            "org.opencontainers.conformance.seed": seed.to_string(),
                        }}
                    });
                    (serde_json::to_vec(&v).expect("json"), OCI_CONFIG)
                };
                blob_item(
                    bytes,
                    "sha256",
                    c.media_type.clone().unwrap_or_else(|| default_type.into()),
                    false,
                )
            }
            Fixture::Image(i) => {
                let mut deps: Vec<&String> = vec![&i.config];
                deps.extend(i.layers.iter());
                deps.extend(i.subject.iter());
                if !ready(&deps) {
                    return Ok(None);
                }
                self.image(i)?
            }
            Fixture::Index(i) => {
                let deps: Vec<&String> = i.manifests.iter().chain(i.subject.iter()).collect();
                if !ready(&deps) {
                    return Ok(None);
                }
                self.index(i)?
            }
            Fixture::DockerManifest(d) => {
                let deps: Vec<&String> =
                    std::iter::once(&d.config).chain(d.layers.iter()).collect();
                if !ready(&deps) {
                    return Ok(None);
                }
                let cfg = &self.items[&d.config];
                let layers: Vec<Value> = d
                    .layers
                    .iter()
                    .map(|l| {
                        let it = &self.items[l];
                        json!({"mediaType": DOCKER_LAYER, "digest": it.digest, "size": it.bytes.len()})
                    })
                    .collect();
                let v = json!({
                    "schemaVersion": 2,
                    "mediaType": DOCKER_MANIFEST,
                    "config": {"mediaType": DOCKER_CONFIG, "digest": cfg.digest, "size": cfg.bytes.len()},
                    "layers": layers,
                });
                manifest_item(
                    serde_json::to_vec(&v).expect("json"),
                    DOCKER_MANIFEST.into(),
                    None,
                    std::iter::once(d.config.clone())
                        .chain(d.layers.iter().cloned())
                        .collect(),
                )
            }
            Fixture::Raw(r) => {
                let bytes = match &r.body {
                    RawBody::Text(t) => t.clone().into_bytes(),
                    RawBody::Json(j) => serde_json::to_vec(j).expect("json"),
                };
                manifest_item(bytes, r.media_type.clone(), None, vec![])
            }
        }))
    }

    fn image(&self, i: &ImageFixture) -> Result<Item, String> {
        let cfg = &self.items[&i.config];
        let media_type = i.media_type.clone().unwrap_or_else(|| OCI_MANIFEST.into());
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        if !i.omit_media_type {
            m.insert("mediaType".into(), json!(media_type));
        }
        if let Some(a) = &i.artifact_type {
            m.insert("artifactType".into(), json!(a));
        }
        let mut config = cfg.descriptor();
        if i.data {
            use base64::Engine;
            config["data"] = json!(base64::engine::general_purpose::STANDARD.encode(&cfg.bytes));
        }
        m.insert("config".into(), config);
        let layers: Vec<Value> = i
            .layers
            .iter()
            .map(|l| {
                let it = &self.items[l];
                let mut d = it.descriptor();
                if let Some(t) = &i.layer_media_type {
                    d["mediaType"] = json!(t);
                }
                d
            })
            .collect();
        m.insert("layers".into(), Value::Array(layers));
        if let Some(s) = &i.subject {
            m.insert("subject".into(), self.items[s].descriptor());
        }
        if !i.annotations.is_empty() {
            m.insert("annotations".into(), json!(i.annotations));
        }
        for (k, v) in &i.extra {
            m.insert(k.clone(), v.clone());
        }
        let mut bytes = encode(&Value::Object(m.clone()), i.indent);
        if let Some(target) = i.pad_to {
            let target = target as usize;
            if bytes.len() < target {
                let ann = m
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(a) = ann {
                    a.insert(PADDING_KEY.into(), json!(""));
                }
                // Measure with an empty padding value, then fill exactly up to the target.
                let base = encode(&Value::Object(m.clone()), i.indent).len();
                if let Some(Value::Object(a)) = m.get_mut("annotations") {
                    a.insert(
                        PADDING_KEY.into(),
                        json!("a".repeat(target.saturating_sub(base))),
                    );
                }
                bytes = encode(&Value::Object(m), i.indent);
            }
        }
        let mut children = vec![i.config.clone()];
        children.extend(i.layers.iter().cloned());
        Ok(manifest_item(
            bytes,
            media_type,
            i.artifact_type.clone(),
            children,
        ))
    }

    fn index(&self, i: &IndexFixture) -> Result<Item, String> {
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        if !i.omit_media_type {
            m.insert("mediaType".into(), json!(OCI_INDEX));
        }
        if let Some(a) = &i.artifact_type {
            m.insert("artifactType".into(), json!(a));
        }
        let manifests: Vec<Value> = i
            .manifests
            .iter()
            .map(|n| {
                let mut d = self.items[n].descriptor();
                if self.items[n].media_type == OCI_MANIFEST {
                    d["platform"] = json!({"architecture": "amd64", "os": "linux"});
                }
                d
            })
            .collect();
        m.insert("manifests".into(), Value::Array(manifests));
        if let Some(s) = &i.subject {
            m.insert("subject".into(), self.items[s].descriptor());
        }
        if !i.annotations.is_empty() {
            m.insert("annotations".into(), json!(i.annotations));
        }
        Ok(manifest_item(
            encode(&Value::Object(m), false),
            OCI_INDEX.into(),
            i.artifact_type.clone(),
            i.manifests.clone(),
        ))
    }
}

fn encode(v: &Value, indent: bool) -> Vec<u8> {
    if indent {
        serde_json::to_vec_pretty(v).expect("json")
    } else {
        serde_json::to_vec(v).expect("json")
    }
}

fn blob_item(bytes: Vec<u8>, algorithm: &'static str, media_type: String, skip: bool) -> Item {
    Item {
        digest: digest_of(algorithm, &bytes),
        bytes: bytes.into(),
        algorithm,
        media_type,
        artifact_type: None,
        kind: Kind::Blob,
        children: vec![],
        skip_push: skip,
    }
}

fn manifest_item(
    bytes: Vec<u8>,
    media_type: String,
    artifact_type: Option<String>,
    children: Vec<String>,
) -> Item {
    Item {
        digest: digest_of("sha256", &bytes),
        bytes: bytes.into(),
        algorithm: "sha256",
        media_type,
        artifact_type,
        kind: Kind::Manifest,
        children,
        skip_push: false,
    }
}

fn random_bytes(seed: u64, case_id: &str, name: &str, size: u64) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(case_id.as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    let mut rng = rand_chacha::ChaCha8Rng::from_seed(h.finalize().into());
    let mut v = vec![0u8; size as usize];
    rng.fill_bytes(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures(j: Value) -> BTreeMap<String, Fixture> {
        serde_json::from_value(j).unwrap()
    }

    #[test]
    fn same_seed_same_bytes_other_case_other_bytes() {
        let f = fixtures(json!({"b": {"blob": {"size": 100}}}));
        let a = Content::generate(7, "x/a", &f, 1024).unwrap();
        let b = Content::generate(7, "x/a", &f, 1024).unwrap();
        let c = Content::generate(7, "x/b", &f, 1024).unwrap();
        assert_eq!(a.get("b").unwrap().bytes, b.get("b").unwrap().bytes);
        assert_ne!(a.get("b").unwrap().bytes, c.get("b").unwrap().bytes);
        assert_eq!(a.get("b").unwrap().bytes.len(), 100);
    }

    #[test]
    fn image_references_its_blobs_and_subject_and_pads() {
        let f = fixtures(json!({
            "cfg": {"config": {}},
            "l": {"blob": {"size": 10}},
            "subj": {"image": {"config": "cfg"}},
            "img": {"image": {"config": "cfg", "layers": ["l"], "subject": "subj",
                              "artifact_type": "application/x-test", "pad_to": 5000}},
            "idx": {"index": {"manifests": ["img", "subj"]}},
            "outer": {"index": {"manifests": ["idx"]}}
        }));
        let c = Content::generate(1, "t", &f, 1024).unwrap();
        let img = c.get("img").unwrap();
        let v: Value = serde_json::from_slice(&img.bytes).unwrap();
        assert_eq!(v["config"]["digest"], json!(c.get("cfg").unwrap().digest));
        assert_eq!(v["layers"][0]["digest"], json!(c.get("l").unwrap().digest));
        assert_eq!(v["subject"]["digest"], json!(c.get("subj").unwrap().digest));
        assert_eq!(v["artifactType"], json!("application/x-test"));
        assert!(
            img.bytes.len() > 4900 && img.bytes.len() <= 5000,
            "{}",
            img.bytes.len()
        );
        assert_eq!(img.digest, digest_of("sha256", &img.bytes));
        let outer: Value = serde_json::from_slice(&c.get("outer").unwrap().bytes).unwrap();
        assert_eq!(outer["manifests"][0]["mediaType"], json!(OCI_INDEX));
    }

    #[test]
    fn cycles_are_reported() {
        let f = fixtures(json!({
            "a": {"index": {"manifests": ["b"]}},
            "b": {"index": {"manifests": ["a"]}}
        }));
        assert!(Content::generate(1, "t", &f, 1024)
            .unwrap_err()
            .contains("cycle"));
    }

    #[test]
    fn sha512_blobs() {
        let f = fixtures(json!({"b": {"blob": {"text": "abc", "algorithm": "sha512"}}}));
        let c = Content::generate(1, "t", &f, 1024).unwrap();
        assert!(c.get("b").unwrap().digest.starts_with("sha512:ddaf35a1"));
    }
}
