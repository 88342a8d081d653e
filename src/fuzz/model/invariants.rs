//! What must hold after every write: the registry serves exactly what the model says.

use std::collections::BTreeSet;

use super::{Model, ModelCtx, TAGS};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::sha256_digest;
use crate::fuzz::http::{Answer, Req};
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::push::OCI_MANIFEST;
use crate::spec::SpecVersion;

/// The registry holds exactly what the model says for repository `r`: every tag resolves to the
/// model's bytes, every blob and manifest it holds is there, and everything else (deleted, never
/// pushed, or pushed only to the other repository) answers 404.
pub(super) fn invariants(r: usize, m: &Model, ctx: &mut ModelCtx, after: &str) -> Verdict {
    let name = ctx.names[r].clone();
    let st = &m.repos[r];
    let lazy = ctx.features.lazy_deletes;
    let what = |k: &str| format!("model.invariant.{k}.after-{after}");
    for t in TAGS {
        let mut j = Judge::new(what("tag"));
        let a = ctx.send(
            &mut j,
            Req::new("GET", format!("/v2/{name}/manifests/{t}")).header("Accept", OCI_MANIFEST),
        );
        match st.tags.get(*t) {
            Some(d) => {
                let want = &st.manifests[d];
                let resp = j.check(&a, &[200], &[], &["R-017"])?;
                if resp.body != want.bytes {
                    return Err(j.fail(
                        "tag-content",
                        format!("tag {t} does not resolve to the model's manifest {d}"),
                        &["R-017", "R-075"],
                    ));
                }
                j.contract(
                    &a,
                    Endpoint::GetManifest,
                    Situation::Exists,
                    ctx.version,
                    Some(&want.bytes),
                )?;
            }
            None if lazy && st.deleted.contains(*t) => {}
            None => {
                let k = if st.deleted.contains(*t) {
                    "deleted-tag"
                } else {
                    "absent-tag"
                };
                j.what = what(k);
                let deleted: &[&'static str] = if st.deleted.contains(*t) {
                    &["R-116", "R-120"]
                } else {
                    &[]
                };
                gone(
                    &j,
                    &a,
                    Endpoint::GetManifest,
                    m.absent(r),
                    ctx.version,
                    deleted,
                )?;
            }
        }
    }
    let mut digests: BTreeSet<&str> = m.pushed.iter().map(|p| p.digest.as_str()).collect();
    digests.extend(
        st.deleted
            .iter()
            .filter(|d| d.starts_with("sha256:"))
            .map(String::as_str),
    );
    for d in digests {
        if st.blobs.contains(d) {
            continue; // a manifest digest can only collide with a blob digest if bytes are equal
        }
        let present = st.manifests.contains_key(d);
        if !present && lazy && st.deleted.contains(d) {
            continue;
        }
        let k = if present {
            "manifest"
        } else if st.deleted.contains(d) {
            "deleted-manifest"
        } else {
            "foreign-manifest"
        };
        let mut j = Judge::new(what(k));
        let a = ctx.send(
            &mut j,
            Req::new("HEAD", format!("/v2/{name}/manifests/{d}")).header("Accept", OCI_MANIFEST),
        );
        if present {
            let bytes = &st.manifests[d].bytes;
            j.contract(
                &a,
                Endpoint::HeadManifest,
                Situation::Exists,
                ctx.version,
                Some(bytes),
            )?;
        } else {
            let deleted: &[&'static str] = if st.deleted.contains(d) {
                &["R-120"]
            } else {
                &[]
            };
            gone(
                &j,
                &a,
                Endpoint::HeadManifest,
                m.absent(r),
                ctx.version,
                deleted,
            )?;
        }
    }
    for b in &m.blobs {
        let d = sha256_digest(b);
        let present = st.blobs.contains(&d);
        if !present && lazy && st.deleted.contains(&d) {
            continue;
        }
        let k = if present {
            "blob"
        } else if st.deleted.contains(&d) {
            "deleted-blob"
        } else {
            "foreign-blob"
        };
        let mut j = Judge::new(what(k));
        let a = ctx.send(&mut j, Req::new("HEAD", format!("/v2/{name}/blobs/{d}")));
        if present {
            j.contract(
                &a,
                Endpoint::HeadBlob,
                Situation::Exists,
                ctx.version,
                Some(b),
            )?;
        } else {
            gone(&j, &a, Endpoint::HeadBlob, m.absent(r), ctx.version, &[])?;
        }
    }
    Ok(())
}

/// Judges the answer for something absent (`situation` says whether its repository exists);
/// a breach also cites `extra`, the rules that made it absent (e.g. a delete's R-120).
fn gone(
    j: &Judge,
    a: &Answer,
    endpoint: Endpoint,
    situation: Situation,
    version: SpecVersion,
    extra: &[&'static str],
) -> Verdict {
    j.contract(a, endpoint, situation, version, None)
        .map(|_| ())
        .map_err(|mut v| {
            for r in extra {
                if !v.requirements.contains(r) {
                    v.requirements.push(r);
                }
            }
            v
        })
}
