//! The content every probe may read, pushed once per run into the fixture repository.

use crate::fuzz::grammar::REFERRER_TYPE;
use crate::fuzz::grammar::{self};
use crate::fuzz::http::Client;
use crate::fuzz::oracle::Verdict;
use crate::fuzz::push::{self, blob_bytes, config_bytes, image_manifest, OCI_CONFIG, OCI_MANIFEST};
use crate::spec::SpecVersion;

/// Mixed case and a leading `_` so ASCII order and case-insensitive order differ.
pub const FIXTURE_TAGS: &[&str] = &["A1", "a2", "B", "b0", "latest", "v1.0", "_x"];

pub const LAYER_SIZE: usize = 1024;

/// Content every probe may read: one image with several tags and one referrer, pushed once per run
/// into the run's fixture repository.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
    pub referrer: Vec<u8>,
}

impl Fixture {
    pub fn new(name: String, seed: u64) -> Self {
        let config = config_bytes(seed);
        let layer = blob_bytes(seed, LAYER_SIZE);
        let manifest = image_manifest(&config, OCI_CONFIG, &[&layer], None, None, "fixture");
        let referrer = image_manifest(
            &config,
            OCI_CONFIG,
            &[&layer],
            Some((&grammar::sha256_digest(&manifest), manifest.len())),
            Some(REFERRER_TYPE),
            "referrer",
        );
        Fixture {
            name,
            config,
            layer,
            manifest,
            referrer,
        }
    }
    pub fn layer_digest(&self) -> String {
        grammar::sha256_digest(&self.layer)
    }
    pub fn manifest_digest(&self) -> String {
        grammar::sha256_digest(&self.manifest)
    }
    pub fn referrer_digest(&self) -> String {
        grammar::sha256_digest(&self.referrer)
    }
    /// Pushes the fixture, each answer judged by the response contract.
    pub fn push(&self, c: &mut Client, version: SpecVersion) -> Verdict {
        push::push_blob(c, version, &self.name, &self.config)?;
        push::push_blob(c, version, &self.name, &self.layer)?;
        for t in FIXTURE_TAGS {
            push::push_manifest(c, version, &self.name, t, OCI_MANIFEST, &self.manifest)?;
        }
        push::push_manifest(
            c,
            version,
            &self.name,
            &self.referrer_digest(),
            OCI_MANIFEST,
            &self.referrer,
        )
    }
}
