//! Listing the referrers of a subject, filtered or not, against the model's manifests.

use std::collections::{BTreeMap, BTreeSet};

use super::{ManifestRec, Model, ModelCtx, ARTIFACT_TYPES};
use crate::fuzz::grammar::encode_query;
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{link_next, Judge, Verdict};
use crate::fuzz::push::OCI_INDEX;

pub(super) fn list_referrers(
    ctx: &mut ModelCtx,
    m: &Model,
    r: usize,
    subject: u8,
    filter: Option<u8>,
) -> Verdict {
    // Mostly a subject that has referrers here, else any subject the model knows.
    let with_referrers: Vec<&str> = m.repos[r]
        .manifests
        .values()
        .filter_map(|mr| mr.subject.as_deref())
        .collect();
    let d = if subject % 2 == 0 && subject % 8 != 6 && !with_referrers.is_empty() {
        with_referrers[(subject / 2) as usize % with_referrers.len()].to_string()
    } else {
        m.subject(r, subject).0
    };
    let at = filter.map(|f| ARTIFACT_TYPES[f as usize % ARTIFACT_TYPES.len()]);
    let mut target = format!("/v2/{}/referrers/{d}", ctx.names[r]);
    if let Some(at) = at {
        target = format!("{target}?artifactType={}", encode_query(at));
    }
    let class = if at.is_some() { "filtered" } else { "all" };
    let mut got: Vec<serde_json::Value> = Vec::new();
    let mut filtered = false;
    for _ in 0..20 {
        let mut j = Judge::new(format!("model.list-referrers.{class}"));
        let a = ctx.send(&mut j, Req::new("GET", target.clone()));
        let resp = j.check(&a, &[200], &[], &["R-098", "R-099"])?;
        let ct = resp.header("content-type").unwrap_or("");
        if ct.split(';').next().unwrap_or("").trim() != OCI_INDEX {
            return Err(j.fail("content-type", format!("Content-Type {ct:?}"), &["R-102"]));
        }
        filtered |= resp
            .header_list("oci-filters-applied")
            .iter()
            .any(|f| f == "artifactType");
        let body = resp
            .json()
            .ok_or_else(|| j.fail("index-body", "body is not JSON", &["R-101"]))?;
        let list = body
            .get("manifests")
            .and_then(|v| v.as_array())
            .ok_or_else(|| j.fail("index-body", "no `manifests` array", &["R-101"]))?;
        got.extend(list.iter().cloned());
        match link_next(resp).map_err(|e| j.fail("link", e, &["R-109"]))? {
            Some(next) => target = ctx.client.resolve(&next),
            None => break,
        }
    }
    let st = &m.repos[r];
    let want: BTreeMap<&str, &ManifestRec> = st
        .manifests
        .values()
        .filter(|mr| mr.subject.as_deref() == Some(d.as_str()))
        .filter(|mr| !filtered || Some(mr.artifact_type.as_str()) == at)
        .map(|mr| (mr.digest.as_str(), mr))
        .collect();
    let mut j = Judge::new(format!("model.list-referrers.{class}"));
    j.exchange = Some(ctx.client.transcript.len() - 1);
    let lazy = ctx.features.lazy_deletes;
    let got_digests: BTreeSet<&str> = got
        .iter()
        .filter_map(|g| g.get("digest").and_then(|v| v.as_str()))
        .collect();
    let missing: Vec<&&str> = want.keys().filter(|k| !got_digests.contains(**k)).collect();
    let extra: Vec<&&str> = got_digests
        .iter()
        .filter(|k| !(want.contains_key(**k) || lazy && st.deleted.contains(**k)))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(j.fail(
            "referrers-set",
            format!(
                "missing {missing:?}, unexpected {extra:?} (filter {at:?}, applied: {filtered})"
            ),
            &["R-103", "R-108", "R-111", "R-139"],
        ));
    }
    for g in &got {
        let Some(mr) = g
            .get("digest")
            .and_then(|v| v.as_str())
            .and_then(|k| want.get(k))
        else {
            continue;
        };
        if g.get("artifactType").and_then(|v| v.as_str()) != Some(mr.artifact_type.as_str()) {
            return Err(j.fail(
                "referrer-artifact-type",
                format!("descriptor {g}, expected artifactType {}", mr.artifact_type),
                &["R-104", "R-105"],
            ));
        }
        if g.pointer("/annotations/org.example.fuzz")
            .and_then(|v| v.as_str())
            != Some(mr.annotation.as_str())
        {
            return Err(j.fail(
                "referrer-annotations",
                format!("descriptor {g}"),
                &["R-107"],
            ));
        }
    }
    Ok(())
}
