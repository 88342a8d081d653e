//! `--cleanup`: the tags, manifests and blobs the run created, deleted once it ends, and what
//! could not be.
//!
//! Every answer the cases get passes through [`Ledger::observe`] (in the HTTP client), which keeps
//! each write the registry acknowledged (201). [`clean`] then deletes tags, manifests (newest first, so an
//! index goes before what it lists) and blobs, and finally asks the registry about whatever it
//! did not delete: a tag or blob that a manifest deletion took along is gone, not left.

use crate::http::created::{Created, Kind, Ledger};
use crate::http::{Http, Request};
use crate::spec::Feature;
use serde::Serialize;

/// Something the cleanup left, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    #[serde(flatten)]
    pub item: Created,
    pub reason: String,
}

/// What the cleanup did: in the summary and results.json.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupReport {
    /// Things the run created.
    pub created: usize,
    /// Of those, deleted (by the cleanup, or already by a case).
    pub deleted: usize,
    pub left: Vec<Leftover>,
}

impl CleanupReport {
    /// One line for the terminal: counts, and what was left by kind with the first reason.
    pub fn line(&self) -> String {
        if self.left.is_empty() {
            return format!(
                "cleanup: deleted all {} tags, manifests and blobs the run created",
                self.created
            );
        }
        let mut parts = Vec::new();
        for kind in [Kind::Tag, Kind::Manifest, Kind::Blob] {
            let of_kind: Vec<&Leftover> =
                self.left.iter().filter(|l| l.item.kind == kind).collect();
            if let Some(first) = of_kind.first() {
                parts.push(format!(
                    "{} {}s ({})",
                    of_kind.len(),
                    kind.as_str(),
                    first.reason
                ));
            }
        }
        format!(
            "cleanup: {} of {} things the run created are left: {} (results.json lists them)",
            self.left.len(),
            self.created,
            parts.join("; ")
        )
    }
}

/// Blobs whose content anyone may have pushed: the empty blob and the empty JSON object (OCI's
/// empty descriptor). In a repository the run did not create, they may belong to other images.
const SHARED_BLOBS: [&str; 2] = [
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
];

/// Deletes what `ledger` holds, except the kinds `disabled` (or `off`: nothing at all) and,
/// when the repositories are the user's own (`shared`, the fixed layout), blobs that other
/// content there may use; reports what is left.
pub async fn clean(
    http: &Http,
    ledger: &Ledger,
    disabled: &[Feature],
    off: bool,
    shared: bool,
) -> CleanupReport {
    let items = ledger.items();
    let mut report = CleanupReport {
        created: items.len(),
        ..Default::default()
    };
    let base = http.base().as_str().trim_end_matches('/').to_string();
    let url = |c: &Created| {
        format!(
            "{base}/v2/{}/{}/{}",
            c.repository,
            c.kind.endpoint(),
            c.reference
        )
    };
    // Why each kind is not deleted: disabled, or refused once (then not asked again).
    let mut refused: Vec<(Kind, String)> = Vec::new();
    if off {
        for k in [Kind::Tag, Kind::Manifest, Kind::Blob] {
            refused.push((k, "--cleanup is off".into()));
        }
    }
    for k in [Kind::Tag, Kind::Manifest, Kind::Blob] {
        if !off && disabled.contains(&k.delete_feature()) {
            refused.push((
                k,
                format!("--disable-feature {}", k.delete_feature().as_str()),
            ));
        }
    }
    let mut undeleted: Vec<(Created, String)> = Vec::new();
    let ordered = items
        .iter()
        .filter(|c| c.kind == Kind::Tag)
        .chain(items.iter().rev().filter(|c| c.kind == Kind::Manifest))
        .chain(items.iter().filter(|c| c.kind == Kind::Blob));
    for c in ordered {
        if let Some((_, why)) = refused.iter().find(|(k, _)| *k == c.kind) {
            undeleted.push((c.clone(), why.clone()));
            continue;
        }
        if shared && c.kind == Kind::Blob && SHARED_BLOBS.contains(&c.reference.as_str()) {
            report.left.push(Leftover {
                item: c.clone(),
                reason: "content any image may hold, in a repository the run did not create \
                         (--repository-layout fixed): kept"
                    .into(),
            });
            continue;
        }
        let ex = http.send(request("DELETE", url(c))).await;
        match ex.status {
            Some(200..=299) => report.deleted += 1,
            // Deleted already: by its case, or along with a manifest.
            Some(404) => report.deleted += 1,
            _ => {
                let why = format!("DELETE answered {}", crate::contract::describe_answer(&ex));
                // A refusal (405, 400 UNSUPPORTED, 401/403) holds for the whole kind.
                if matches!(ex.status, Some(400 | 401 | 403 | 405)) {
                    refused.push((c.kind, why.clone()));
                }
                undeleted.push((c.clone(), why));
            }
        }
    }
    // What was not deleted may be gone anyway (a tag with its manifest): ask.
    for (c, why) in undeleted {
        let ex = http.send(request("HEAD", url(&c))).await;
        if ex.status == Some(404) {
            report.deleted += 1;
        } else {
            report.left.push(Leftover {
                item: c,
                reason: why,
            });
        }
    }
    report
}

fn request(method: &str, url: String) -> Request {
    Request {
        method: method.into(),
        url,
        headers: vec![],
        body: None,
        raw: false,
        auth: Default::default(),
    }
}
