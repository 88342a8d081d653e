//! Results JSON for machines: `{"tool", "run", "summary", "cases": [...]}`.

use super::Collected;
use crate::engine::{Event, Reporter};
use serde_json::json;
use std::path::PathBuf;

pub struct JsonReport {
    path: PathBuf,
    data: Collected,
}

impl JsonReport {
    pub fn new(path: PathBuf) -> Self {
        JsonReport {
            path,
            data: Collected::default(),
        }
    }
}

impl Reporter for JsonReport {
    fn event(&mut self, ev: &Event) {
        self.data.take(ev);
    }
    fn finish(&mut self) -> std::io::Result<()> {
        let doc = json!({
            "tool": {"name": "oci-conformance", "version": env!("CARGO_PKG_VERSION")},
            "run": self.data.info,
            "summary": self.data.summary,
            "cases": self.data.results,
        });
        super::write_file(&self.path, &serde_json::to_vec_pretty(&doc).expect("json"))
    }
}
