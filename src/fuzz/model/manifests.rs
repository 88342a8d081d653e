//! The model's manifest operations: pushes by tag and by digest (with and without their blobs),
//! re-pushes after deletes, retags, tag and manifest deletes.

use super::{loc, ManifestRec, Model, ModelCtx, BLOBS, TAGS};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::sha256_digest;
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::push::{image_manifest, OCI_CONFIG, OCI_MANIFEST};

/// Moves tag `to` of repository `r` to the manifest one of its tags names (tagging one first if
/// it has none): GET by the old tag, PUT the same bytes by the new.
pub(super) fn retag(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    from: u8,
    tt: &str,
    step: usize,
) -> Verdict {
    ensure_tagged(ctx, m, r, step)?;
    let tags: Vec<String> = m.repos[r].tags.keys().cloned().collect();
    if tags.is_empty() {
        return Ok(());
    }
    let tf = tags[from as usize % tags.len()].clone();
    let d = m.repos[r].tags[&tf].clone();
    let bytes = m.repos[r].manifests[&d].bytes.clone();
    let mut j = Judge::new("model.retag.get");
    let a = ctx.send(
        &mut j,
        Req::new("GET", format!("/v2/{}/manifests/{tf}", ctx.names[r]))
            .header("Accept", OCI_MANIFEST),
    );
    let resp = j.contract(
        &a,
        Endpoint::GetManifest,
        Situation::Exists,
        ctx.version,
        Some(&bytes),
    )?;
    if resp.body != bytes {
        return Err(j.fail(
            "body",
            "tag does not resolve to the model's bytes",
            &["R-017", "R-075"],
        ));
    }
    let mut j = Judge::new("model.retag.put");
    let a = ctx.send(
        &mut j,
        Req::new("PUT", format!("/v2/{}/manifests/{tt}", ctx.names[r]))
            .header("Content-Type", OCI_MANIFEST)
            .body(bytes.clone()),
    );
    // Its blobs may have been deleted since it was accepted: then it may be refused.
    let situation = if m.complete(r, &m.repos[r].manifests[&d].blobs) {
        Situation::Exists
    } else {
        Situation::MissingBlobs
    };
    let resp = j.contract(
        &a,
        Endpoint::PutManifest,
        situation,
        ctx.version,
        Some(&bytes),
    )?;
    if resp.status == 201 {
        m.set_tag(r, tt, &d);
    }
    Ok(())
}

/// Deletes a tag of repository `r` (one it has, when `existing`); the model drops it if it was
/// there.
pub(super) fn delete_tag(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    tag: u8,
    existing: bool,
    step: usize,
) -> Verdict {
    if existing {
        ensure_tagged(ctx, m, r, step)?;
    }
    let t = m.pick_tag(r, tag, existing);
    let present = m.repos[r].tags.contains_key(&t);
    let mut j = Judge::new(format!(
        "model.delete-tag.{}",
        if present { "present" } else { "absent" }
    ));
    let a = ctx.send(
        &mut j,
        Req::new("DELETE", format!("/v2/{}/manifests/{t}", ctx.names[r])),
    );
    let situation = if present {
        Situation::Exists
    } else {
        m.absent(r)
    };
    j.contract(&a, Endpoint::DeleteTag, situation, ctx.version, None)?;
    if present {
        m.delete_tag(r, t);
    }
    Ok(())
}

/// Deletes a manifest by digest: mostly one repository `r` holds (tagging one first if it has
/// none), now and then one pushed elsewhere; the model drops it and its tags if it was there.
pub(super) fn delete(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    which: u8,
    step: usize,
) -> Verdict {
    if which % 8 != 7 {
        ensure_tagged(ctx, m, r, step)?;
    }
    let Some(d) = m.pick_manifest(r, which) else {
        return Ok(());
    };
    let present = m.repos[r].manifests.contains_key(&d);
    let mut j = Judge::new(format!(
        "model.delete-manifest.{}",
        if present { "present" } else { "absent" }
    ));
    let a = ctx.send(
        &mut j,
        Req::new("DELETE", format!("/v2/{}/manifests/{d}", ctx.names[r])),
    );
    let situation = if present {
        Situation::Exists
    } else {
        m.absent(r)
    };
    j.contract(&a, Endpoint::DeleteManifest, situation, ctx.version, None)?;
    if present {
        m.delete_manifest(r, &d);
    }
    Ok(())
}

/// Makes sure repository `r` holds a tagged manifest (pushing one, blobs first, if it holds
/// none), so that an operation meant for existing content has some to aim at.
pub(super) fn ensure_tagged(ctx: &mut ModelCtx, m: &mut Model, r: usize, step: usize) -> Verdict {
    if !m.repos[r].tags.is_empty() {
        return Ok(());
    }
    let blobs = vec![step % BLOBS, (step + 1) % BLOBS];
    super::blobs::push_missing(ctx, m, r, &blobs)?;
    let annotation = format!("s{step}-seed");
    let bytes = image_manifest(
        &m.blobs[blobs[0]],
        OCI_CONFIG,
        &[&m.blobs[blobs[1]]],
        None,
        None,
        &annotation,
    );
    let rec = ManifestRec {
        digest: sha256_digest(&bytes),
        bytes,
        subject: None,
        artifact_type: OCI_CONFIG.to_string(),
        annotation,
        blobs,
    };
    put_manifest(
        ctx,
        m,
        r,
        rec,
        Some(TAGS[step % TAGS.len()]),
        "seed-manifest",
    )
}

/// PUTs `rec` into repository `r` by `tag`, or by digest, and records what the registry
/// accepted. A manifest naming blobs the repository lacks may be refused; one it has all
/// blobs for must be accepted.
pub(super) fn put_manifest(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    rec: ManifestRec,
    tag: Option<&str>,
    op: &str,
) -> Verdict {
    let f = ctx.features.clone();
    let digest = rec.digest.clone();
    let complete = m.complete(r, &rec.blobs);
    let reference = tag.map_or_else(|| digest.clone(), str::to_string);
    let (class, situation) = if complete {
        ("complete", Situation::Exists)
    } else {
        ("missing-blobs", Situation::MissingBlobs)
    };
    let by = if tag.is_some() { "tag" } else { "digest" };
    let mut j = Judge::new(format!("model.{op}.{by}.{class}"));
    let a = ctx.send(
        &mut j,
        Req::new("PUT", format!("/v2/{}/manifests/{reference}", ctx.names[r]))
            .header("Content-Type", OCI_MANIFEST)
            .body(rec.bytes.clone()),
    );
    let resp = j.contract(
        &a,
        Endpoint::PutManifest,
        situation,
        ctx.version,
        Some(&rec.bytes),
    )?;
    if resp.status != 201 {
        return Ok(());
    }
    loc(&j, resp, &["R-076"])?;
    if let Some(d) = resp.header("docker-content-digest") {
        if d != digest {
            return Err(j.fail(
                "digest-header",
                format!("Docker-Content-Digest {d}, manifest digest {digest}"),
                &["R-077"],
            ));
        }
    }
    if let (Some(sd), true) = (&rec.subject, f.referrers) {
        if resp.header("oci-subject") != Some(sd.as_str()) {
            return Err(j
                .fail(
                    "no-oci-subject",
                    format!(
                        "OCI-Subject {:?}, expected {sd}",
                        resp.header("oci-subject")
                    ),
                    &["R-086"],
                )
                .with_expect(serde_json::json!({"headers": {"OCI-Subject": {"equals": sd}}})));
        }
    }
    m.accept_manifest(r, rec, tag);
    Ok(())
}
