//! A short probe before the cases run, so that one cause behind many failures is said once,
//! with its likely fix, instead of as a hundred separate errors: names this registry does not
//! accept, pushes it refuses, deletes it does not offer, and a monolithic blob push it cannot
//! take (the run's own setup pushes then go in one chunk instead; the push cases still judge
//! the monolithic push).

use crate::config::RepositoryLayout;
use crate::contract::describe_answer;
use crate::http::created::Kind;
use crate::http::{Exchange, Http, Request};
use crate::spec::{request_step, Action, Case, Feature};

/// What the probe found.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Every write the layout's names get is refused: cases that write are marked with this.
    pub writes_refused: Option<String>,
    /// Deletion kinds the registry refused, with one line saying so.
    pub deletes_refused: Option<(Vec<Kind>, String)>,
    /// The referrers API answered 404, which the spec reserves for a registry without it.
    pub referrers_absent: Option<String>,
    /// The registry did not take a monolithic blob push but took a one-chunk one: setup pushes
    /// go that way.
    pub chunked_setup: Option<String>,
}

impl Preflight {
    /// The lines to say once, before the cases' results. (Refused writes are said once at the
    /// end, with the count of cases they held back.)
    pub fn lines(&self) -> Vec<String> {
        self.deletes_refused
            .iter()
            .map(|(_, l)| l)
            .chain(self.referrers_absent.iter())
            .chain(self.chunked_setup.iter())
            .cloned()
            .collect()
    }

    /// Why `case` is not run, given what the probe found: an error (writes refused) or
    /// unsupported (a refused deletion), with the one-line reason.
    pub fn verdict(&self, case: &Case) -> Option<(crate::results::Outcome, String)> {
        if let Some(why) = &self.writes_refused {
            if writes(case) {
                return Some((
                    crate::results::Outcome::Error,
                    format!("{}: {why}", crate::results::NOT_RUN),
                ));
            }
        }
        if let Some(why) = &self.referrers_absent {
            if case.features.contains(&Feature::Referrers) {
                return Some((crate::results::Outcome::Unsupported, why.clone()));
            }
        }
        if let Some((kinds, why)) = &self.deletes_refused {
            if kinds
                .iter()
                .any(|k| case.features.contains(&k.delete_feature()))
            {
                return Some((crate::results::Outcome::Unsupported, why.clone()));
            }
        }
        None
    }
}

/// Does the case push, or send anything but GET and HEAD to one of its own repositories? (A
/// write to a name outside the grammar, which must be refused at any depth, still runs.)
fn writes(case: &Case) -> bool {
    case.steps.iter().any(|s| {
        matches!(s.action, Action::Push { .. })
            || request_step(s).is_some_and(|r| {
                r.method != "GET"
                    && r.method != "HEAD"
                    && r.path().is_some_and(|p| {
                        ["/v2/${repo}/", "/v2/${repo2}/"].iter().any(|own| {
                            p.strip_prefix(own).is_some_and(|rest| {
                                ["blobs/", "manifests/", "tags/", "referrers/"]
                                    .iter()
                                    .any(|e| rest.starts_with(e))
                            })
                        })
                    })
            })
    })
}

fn request(method: &str, url: String, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Request {
    Request {
        method: method.into(),
        url,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.map(Into::into),
        raw: false,
        auth: Default::default(),
    }
}

/// The fix to suggest when the registry does not know a name the layout makes.
fn name_fix(layout: RepositoryLayout) -> &'static str {
    match layout {
        RepositoryLayout::Nested => {
            "if it accepts only `org/repo` names, use --repository-layout flat (fresh \
             repositories under the namespace's first component) or fixed (exactly --namespace \
             and --crossmount-namespace)"
        }
        RepositoryLayout::Flat => {
            "if it accepts pushes only to repositories created beforehand, create two and use \
             --repository-layout fixed with --namespace and --crossmount-namespace"
        }
        RepositoryLayout::Fixed => {
            "check that --namespace names a repository that exists and that the credentials may \
             push to it"
        }
    }
}

/// Probes `repo` (a repository the layout would give a case). What it creates is in the
/// client's ledger, for the cleanup.
pub async fn probe(
    http: &Http,
    repo: &str,
    layout: RepositoryLayout,
    run_id: &str,
    disabled: &[Feature],
) -> Preflight {
    let target = Target {
        http,
        base: http.base().as_str().trim_end_matches('/').to_string(),
        repo,
    };
    let mut found = Preflight::default();
    // The probe stops at the first answer it cannot go on from, and leaves the rest to the cases.
    let _ = probe_in_order(&target, layout, run_id, disabled, &mut found).await;
    found
}

/// The repository probed, and how to reach it.
struct Target<'a> {
    http: &'a Http,
    /// The registry's URL, with no trailing slash.
    base: String,
    repo: &'a str,
}

impl Target<'_> {
    /// `/v2/<repo>/<path>` on the registry.
    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repo)
    }

    async fn start_upload(&self) -> Exchange {
        self.http
            .send(request(
                "POST",
                self.url("blobs/uploads/"),
                &[("Content-Length", "0")],
                None,
            ))
            .await
    }
}

/// Each probe in turn, each using what the ones before it pushed; None when one cannot go on.
async fn probe_in_order(
    t: &Target<'_>,
    layout: RepositoryLayout,
    run_id: &str,
    disabled: &[Feature],
    found: &mut Preflight,
) -> Option<()> {
    let post = t.start_upload().await;
    if post.status != Some(202) {
        found.writes_refused = writes_refused(t, &post, layout);
        return None;
    }
    let config = config_json(run_id);
    let digest = crate::content::digest_of("sha256", config.as_bytes());
    found.chunked_setup = chunked_setup(t, &post, &config, &digest).await?;
    let manifest = manifest_json(&digest, config.len());
    let manifest_digest = crate::content::digest_of("sha256", manifest.as_bytes());
    let tag = format!("oc-preflight-{run_id}");
    let pushed = t
        .http
        .send(request(
            "PUT",
            t.url(&format!("manifests/{tag}")),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            Some(manifest.into_bytes()),
        ))
        .await
        .status
        == Some(201);
    if pushed && !disabled.contains(&Feature::Referrers) {
        found.referrers_absent = referrers_absent(t, &manifest_digest).await;
    }
    // Without the manifest only the blob is there to delete.
    let deletable: Vec<(Kind, &str)> = [
        (Kind::Tag, tag.as_str()),
        (Kind::Manifest, manifest_digest.as_str()),
        (Kind::Blob, digest.as_str()),
    ]
    .into_iter()
    .filter(|(k, _)| !disabled.contains(&k.delete_feature()))
    .filter(|(k, _)| *k == Kind::Blob || pushed)
    .collect();
    found.deletes_refused = deletes_refused(t, &deletable).await;
    Some(())
}

/// A small config blob, unique to the run. (serde_json keeps the keys in this order.)
fn config_json(run_id: &str) -> String {
    serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [] },
        "comment": format!("oci-conformance preflight {run_id}"),
    })
    .to_string()
}

/// An image manifest with no layers around the config blob.
fn manifest_json(config_digest: &str, config_size: usize) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [],
    })
    .to_string()
}

/// Why no case can write, from the answer to the first upload start (not a 202): the name is
/// refused, or pushes need credentials. None when the answer is for the cases to judge.
fn writes_refused(t: &Target<'_>, post: &Exchange, layout: RepositoryLayout) -> Option<String> {
    let repo = t.repo;
    match post.status {
        Some(404) | Some(400) if post.status == Some(404) || names_refused(post) => Some(format!(
            "the registry does not accept the repository name `{repo}`: an upload start \
             (POST /v2/{repo}/blobs/uploads/) answered {}; {}",
            describe_answer(post),
            name_fix(layout)
        )),
        Some(s @ (401 | 403)) => {
            let fix = if t.http.has_credentials() {
                "check that the credentials (--username, OCI_PASSWORD) may push to this namespace"
            } else {
                "give credentials that may push (--username and OCI_PASSWORD)"
            };
            Some(format!(
                "the registry refuses pushes: an upload start (POST /v2/{repo}/blobs/uploads/) \
                 answered {s}{}; {fix}",
                post.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ))
        }
        _ => None,
    }
}

/// Pushes the config blob through the upload `post` started, monolithically, and if that is
/// refused in one chunk. Some(None): the monolithic push worked; Some(line): only the one-chunk
/// push did, and the run's setup pushes that way; None: neither did.
async fn chunked_setup(
    t: &Target<'_>,
    post: &Exchange,
    config: &str,
    digest: &str,
) -> Option<Option<String>> {
    let put = location(t.http, post, digest)?;
    let monolithic = t
        .http
        .send(request(
            "PUT",
            put,
            &[("Content-Type", "application/octet-stream")],
            Some(config.as_bytes().to_vec()),
        ))
        .await;
    if monolithic.status == Some(201) {
        return Some(None);
    }
    push_one_chunk(t, config, digest).await?;
    Some(Some(format!(
        "a monolithic blob push (POST, then PUT with the blob) answered {}, a one-chunk \
         push (POST, PATCH, PUT) worked: the run's setup pushes blobs in one chunk (the \
         push cases still judge the monolithic push)",
        describe_answer(&monolithic)
    )))
}

/// The one-chunk way podman and docker push: POST, PATCH the whole blob, empty PUT. None when
/// a step is refused.
async fn push_one_chunk(t: &Target<'_>, config: &str, digest: &str) -> Option<()> {
    let post = t.start_upload().await;
    let patch = location(t.http, &post, "")?
        .trim_end_matches('?')
        .to_string();
    let range = format!("0-{}", config.len() - 1);
    let patched = t
        .http
        .send(request(
            "PATCH",
            patch,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            Some(config.as_bytes().to_vec()),
        ))
        .await;
    if patched.status != Some(202) {
        return None;
    }
    let closing = location(t.http, &patched, digest)?;
    let closed = t.http.send(request("PUT", closing, &[], None)).await;
    (closed.status == Some(201)).then_some(())
}

/// A registry with the referrers API answers 200 (an empty index) for any manifest; a 404 is
/// the answer the spec gives a registry without it.
async fn referrers_absent(t: &Target<'_>, manifest_digest: &str) -> Option<String> {
    let ex = t
        .http
        .send(request(
            "GET",
            t.url(&format!("referrers/{manifest_digest}")),
            &[],
            None,
        ))
        .await;
    (ex.status == Some(404)).then(|| {
        format!(
            "the registry has no referrers API (GET /v2/{}/referrers/<digest> of a \
             manifest it holds answered {}, the answer the spec gives a registry without \
             it): its cases are marked unsupported; --disable-feature referrers skips them",
            t.repo,
            describe_answer(&ex)
        )
    })
}

/// Deletes each of `deletable` (a kind and its reference) and says once which kinds the
/// registry refused to delete.
async fn deletes_refused(
    t: &Target<'_>,
    deletable: &[(Kind, &str)],
) -> Option<(Vec<Kind>, String)> {
    let mut refused = Vec::new();
    for &(kind, reference) in deletable {
        let endpoint = if kind == Kind::Blob {
            "blobs"
        } else {
            "manifests"
        };
        let ex = t
            .http
            .send(request(
                "DELETE",
                t.url(&format!("{endpoint}/{reference}")),
                &[],
                None,
            ))
            .await;
        if delete_refused(&ex) {
            refused.push((kind, describe_answer(&ex)));
        }
    }
    if refused.is_empty() {
        return None;
    }
    let kinds: Vec<Kind> = refused.iter().map(|(k, _)| *k).collect();
    let answers: Vec<String> = refused
        .iter()
        .map(|(k, a)| format!("DELETE of a {} answered {a}", k.as_str()))
        .collect();
    let features: Vec<&str> = kinds.iter().map(|k| k.delete_feature().as_str()).collect();
    let line = format!(
        "the registry does not delete {}s ({}): their cases are marked unsupported; \
         --disable-feature {} skips them",
        kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join("s, "),
        answers.join("; "),
        features.join(",")
    );
    Some((kinds, line))
}

/// A 404 or 400 whose codes say the name is the problem.
fn names_refused(ex: &Exchange) -> bool {
    let text = describe_answer(ex);
    text.contains("NAME_UNKNOWN") || text.contains("NAME_INVALID")
}

/// The answers a registry gives when a deletion is switched off: 405, or 400 UNSUPPORTED.
fn delete_refused(ex: &Exchange) -> bool {
    matches!(ex.status, Some(405) | Some(501))
        || (ex.status == Some(400) && describe_answer(ex).contains("UNSUPPORTED"))
}

/// The answer's `Location`, resolved, with `digest` added to its query (unless empty).
fn location(http: &Http, ex: &Exchange, digest: &str) -> Option<String> {
    let loc = ex.header("Location")?;
    let mut url = http.resolve(loc).ok()?;
    if !digest.is_empty() {
        url.query_pairs_mut().append_pair("digest", digest);
    }
    Some(url.to_string())
}
