//! What the registry acknowledged creating through a client (every 201 a write gets), kept so
//! `--cleanup` can delete it once the run ends. It lives with the client because the client sees
//! every answer; the cleanup itself (`crate::cleanup`) only reads it.

use super::Exchange;
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

    pub(crate) fn endpoint(self) -> &'static str {
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
