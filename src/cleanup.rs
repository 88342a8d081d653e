//! `--cleanup`: the tags, manifests and blobs the run created, deleted once it ends, and what
//! could not be.
//!
//! Every answer the cases get passes through [`Ledger::observe`], which keeps each write the
//! registry acknowledged (201). [`clean`] then deletes tags, manifests (newest first, so an
//! index goes before what it lists) and blobs, and finally asks the registry about whatever it
//! did not delete: a tag or blob that a manifest deletion took along is gone, not left.

use crate::http::{Exchange, Http, Request};
use crate::spec::Feature;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Tag,
    Manifest,
    Blob,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::Manifest => "manifest",
            Kind::Blob => "blob",
        }
    }

    /// The optional feature that deletes this kind.
    pub fn delete_feature(self) -> Feature {
        match self {
            Kind::Tag => Feature::DeleteTag,
            Kind::Manifest => Feature::DeleteManifest,
            Kind::Blob => Feature::DeleteBlob,
        }
    }

    fn endpoint(self) -> &'static str {
        match self {
            Kind::Tag | Kind::Manifest => "manifests",
            Kind::Blob => "blobs",
        }
    }
}

/// One thing the run created.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Created {
    pub repository: String,
    pub kind: Kind,
    /// The tag, or the digest.
    pub reference: String,
}

/// What the run created, in the order the registry acknowledged it.
#[derive(Debug, Default)]
pub struct Ledger {
    inner: Mutex<(Vec<Created>, BTreeSet<Created>)>,
}

impl Ledger {
    fn add(&self, c: Created) {
        let mut g = self.inner.lock().expect("ledger lock");
        if g.1.insert(c.clone()) {
            g.0.push(c);
        }
    }

    /// Keeps what a 201 answer created: a manifest (and its tags), or a blob (closing PUT,
    /// single POST, mount).
    pub fn observe(&self, ex: &Exchange) {
        if ex.status != Some(201) {
            return;
        }
        let Ok(url) = reqwest::Url::parse(&ex.url) else {
            return;
        };
        let query = |k: &str| -> Vec<String> {
            url.query_pairs()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .collect()
        };
        let rest = url.path().strip_prefix("/v2/");
        if ex.method == "PUT" {
            // `<name>/manifests/<reference>`: a reference has no `/`, a name may hold
            // `manifests` as a component.
            let manifest = rest.and_then(|r| {
                let (head, reference) = r.rsplit_once('/')?;
                Some((head.strip_suffix("/manifests")?, reference))
            });
            if let Some((repo, reference)) = manifest {
                let digest = if reference.contains(':') {
                    reference.to_string()
                } else if let Some(d) = ex.header("Docker-Content-Digest") {
                    d.trim().to_string()
                } else {
                    let body = ex.request_bytes.clone().unwrap_or_default();
                    crate::content::digest_of("sha256", &body)
                };
                self.add(Created {
                    repository: repo.to_string(),
                    kind: Kind::Manifest,
                    reference: digest,
                });
                let tags = query("tag")
                    .into_iter()
                    .chain((!reference.contains(':')).then(|| reference.to_string()));
                for tag in tags {
                    self.add(Created {
                        repository: repo.to_string(),
                        kind: Kind::Tag,
                        reference: tag,
                    });
                }
                return;
            }
        }
        let blob = match ex.method.as_str() {
            // The closing PUT of an upload session, wherever its location points.
            "PUT" => query("digest").into_iter().next(),
            // A single-request upload, or a mount.
            "POST" => query("digest")
                .into_iter()
                .next()
                .or_else(|| query("mount").into_iter().next()),
            _ => None,
        };
        let Some(digest) = blob else {
            return;
        };
        // The repository is what precedes the upload path; a location elsewhere gives it in
        // the 201's `Location` (the blob's URL).
        let repo = rest.and_then(upload_repository).or_else(|| {
            let loc = ex.header("Location")?;
            let loc = url.join(loc).ok()?;
            let (repo, _) = loc.path().strip_prefix("/v2/")?.rsplit_once("/blobs/")?;
            Some(repo.to_string())
        });
        if let Some(repo) = repo {
            self.add(Created {
                repository: repo,
                kind: Kind::Blob,
                reference: digest,
            });
        }
    }

    pub fn items(&self) -> Vec<Created> {
        self.inner.lock().expect("ledger lock").0.clone()
    }
}

/// `<name>/blobs/uploads/<session>` (or the `<name>/uploads/<session>` some registries hand
/// out): the session id is the last component, and a name may hold `uploads` as a component.
fn upload_repository(rest: &str) -> Option<String> {
    let (head, _session) = rest.rsplit_once('/')?;
    head.strip_suffix("/blobs/uploads")
        .or_else(|| head.strip_suffix("/uploads"))
        .filter(|r| !r.is_empty())
        .map(String::from)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(method: &str, url: &str, status: u16, headers: &[(&str, &str)]) -> Exchange {
        Exchange {
            method: method.into(),
            url: url.into(),
            status: Some(status),
            response_headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_ledger_keeps_acknowledged_writes_only() {
        let l = Ledger::default();
        let d = "sha256:aa";
        l.observe(&ex(
            "PUT",
            "http://r/v2/a/b/manifests/v1?tag=v2",
            201,
            &[("Docker-Content-Digest", d)],
        ));
        l.observe(&ex("PUT", "http://r/v2/a/b/manifests/v3", 400, &[]));
        l.observe(&ex(
            "PUT",
            "http://r/v2/a/b/blobs/uploads/u1?digest=sha256%3Abb",
            201,
            &[],
        ));
        for (url, status) in [
            (
                "http://r/v2/n/manifests/x/blobs/uploads/u9?digest=sha256%3A99",
                201,
            ),
            (
                "http://r/v2/n/uploads/y/blobs/uploads/u8?digest=sha256%3A88",
                201,
            ),
        ] {
            l.observe(&ex("PUT", url, status, &[]));
        }
        l.observe(&ex(
            "PUT",
            "http://r/v2/org/app/uploads/u2?digest=sha256%3Acc",
            201,
            &[],
        ));
        l.observe(&ex(
            "PUT",
            "http://elsewhere/up/u3?digest=sha256%3Add",
            201,
            &[("Location", "http://r/v2/x/blobs/sha256:dd")],
        ));
        l.observe(&ex(
            "POST",
            "http://r/v2/c/blobs/uploads/?mount=sha256%3Aee&from=a/b",
            201,
            &[],
        ));
        l.observe(&ex(
            "POST",
            "http://r/v2/c/blobs/uploads/?mount=sha256%3Aff&from=a/b",
            202,
            &[],
        ));
        let got: Vec<String> = l
            .items()
            .iter()
            .map(|c| format!("{} {} {}", c.kind.as_str(), c.repository, c.reference))
            .collect();
        assert_eq!(
            got,
            [
                "manifest a/b sha256:aa",
                "tag a/b v2",
                "tag a/b v1",
                "blob a/b sha256:bb",
                "blob n/manifests/x sha256:99",
                "blob n/uploads/y sha256:88",
                "blob org/app sha256:cc",
                "blob x sha256:dd",
                "blob c sha256:ee",
            ]
        );
    }
}
