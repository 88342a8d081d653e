//! The model's blob operations: pushes (monolithic, single POST, chunked, streamed, and with a
//! wrong digest), abandoned and cancelled uploads, mounts, deletes.

use super::{loc, Model, ModelCtx, PushMode, BLOBS, REPOS};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::{encode_query, sha256_digest};
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::push::with_query;

/// Pushes blob `b` to repository `r` the way `mode` says; the model holds it if it was accepted.
pub(super) fn push(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    b: usize,
    mode: PushMode,
    corrupt: bool,
) -> Verdict {
    if push_blob(ctx, r, &m.blobs[b].clone(), mode, corrupt)? {
        m.add_blob(r, sha256_digest(&m.blobs[b]));
    }
    Ok(())
}

/// Starts an upload, sends half the blob, and leaves it (or cancels it): the model is unchanged.
pub(super) fn abandon_upload(
    ctx: &mut ModelCtx,
    m: &Model,
    r: usize,
    b: usize,
    cancel: bool,
) -> Verdict {
    let data = m.blobs[b].clone();
    let name = ctx.names[r].clone();
    let mut j = Judge::new("model.abandon-upload.post");
    let a = ctx.send(
        &mut j,
        Req::new("POST", format!("/v2/{name}/blobs/uploads/")).header("Content-Length", "0"),
    );
    let resp = j.contract(
        &a,
        Endpoint::StartUpload,
        Situation::Exists,
        ctx.version,
        None,
    )?;
    let l = loc(&j, resp, &["R-038"])?;
    let half = (data.len() / 2).max(1);
    let mut j = Judge::new("model.abandon-upload.patch");
    let url = ctx.client.resolve(&l);
    let a = ctx.send(
        &mut j,
        Req::new("PATCH", url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("0-{}", half - 1))
            .body(data[..half].to_vec()),
    );
    let resp = j.contract(
        &a,
        Endpoint::PatchUpload,
        Situation::Exists,
        ctx.version,
        None,
    )?;
    let l = loc(&j, resp, &["R-054"])?;
    if cancel {
        let mut j = Judge::new("model.cancel-upload");
        let situation = if ctx.features.upload_cancel {
            Situation::Exists
        } else {
            Situation::Disabled
        };
        let url = ctx.client.resolve(&l);
        let a = ctx.send(
            &mut j,
            Req::new("DELETE", url.clone()).header("Content-Length", "0"),
        );
        let resp = j.contract(&a, Endpoint::CancelUpload, situation, ctx.version, None)?;
        if resp.status == 204 {
            let mut j = Judge::new("model.cancelled-upload-status");
            let a = ctx.send(&mut j, Req::new("GET", url));
            j.contract(
                &a,
                Endpoint::UploadStatus,
                Situation::Absent,
                ctx.version,
                None,
            )?;
        }
    }
    Ok(())
}

/// Mounts a blob from repository `fr` into `to` (another repository); the target holds it if
/// the registry mounted it (201).
pub(super) fn mount(
    ctx: &mut ModelCtx,
    m: &mut Model,
    fr: usize,
    to: usize,
    blob: u8,
    existing: bool,
) -> Verdict {
    let tr = if fr == to { (fr + 1) % REPOS } else { to };
    if existing && m.held(fr).is_empty() {
        push_missing(ctx, m, fr, &[blob as usize % BLOBS])?;
    }
    let b = m.pick_blob(fr, blob, existing);
    let d = sha256_digest(&m.blobs[b]);
    let in_from = m.repos[fr].blobs.contains(&d);
    let anywhere = m.repos.iter().any(|r| r.blobs.contains(&d));
    let class = if in_from { "present" } else { "absent" };
    let situation = if in_from && ctx.features.cross_mount {
        Situation::Mountable
    } else {
        Situation::NotMountable
    };
    let mut j = Judge::new(format!("model.mount.{class}"));
    let path = format!(
        "/v2/{}/blobs/uploads/?mount={}&from={}",
        ctx.names[tr],
        encode_query(&d),
        encode_query(&ctx.names[fr])
    );
    let a = ctx.send(&mut j, Req::new("POST", path).header("Content-Length", "0"));
    let resp = j.contract(&a, Endpoint::Mount, situation, ctx.version, None)?;
    let l = loc(&j, resp, &["R-066", "R-069"])?;
    if resp.status == 201 {
        // A 201 for content that exists nowhere would be a phantom blob.
        if !anywhere {
            return Err(j.fail(
                "phantom-mount",
                format!("201 for {d}, which was never pushed"),
                &["R-066"],
            ));
        }
        m.add_blob(tr, d);
    } else {
        // Fallback session: cancel it, ignoring the answer (R-064: clients ignore failures).
        let url = ctx.client.resolve(&l);
        ctx.client
            .send(Req::new("DELETE", url).header("Content-Length", "0"));
    }
    Ok(())
}

/// Deletes a blob of repository `r` (one it holds, when `existing`); the model drops it if it
/// was there.
pub(super) fn delete(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    blob: u8,
    existing: bool,
) -> Verdict {
    if existing && m.held(r).is_empty() {
        push_missing(ctx, m, r, &[blob as usize % BLOBS])?;
    }
    let b = m.pick_blob(r, blob, existing);
    let d = sha256_digest(&m.blobs[b]);
    let present = m.repos[r].blobs.contains(&d);
    let mut j = Judge::new(format!(
        "model.delete-blob.{}",
        if present { "present" } else { "absent" }
    ));
    let a = ctx.send(
        &mut j,
        Req::new("DELETE", format!("/v2/{}/blobs/{d}", ctx.names[r])),
    );
    let situation = if present {
        Situation::Exists
    } else {
        m.absent(r)
    };
    j.contract(&a, Endpoint::DeleteBlob, situation, ctx.version, None)?;
    if present {
        m.delete_blob(r, d);
    }
    Ok(())
}

/// Pushes (monolithically) the blobs among `blobs` that repository `r` lacks, so that the
/// manifest naming them is complete.
pub(super) fn push_missing(
    ctx: &mut ModelCtx,
    m: &mut Model,
    r: usize,
    blobs: &[usize],
) -> Verdict {
    for &b in blobs {
        let d = sha256_digest(&m.blobs[b]);
        if !m.repos[r].blobs.contains(&d)
            && push_blob(ctx, r, &m.blobs[b].clone(), PushMode::Monolithic, false)?
        {
            m.add_blob(r, d);
        }
    }
    Ok(())
}

/// The digest a corrupt push claims for `data`: never the digest of anything pushed.
fn wrong_digest(data: &[u8]) -> String {
    let mut other = data.to_vec();
    other.extend_from_slice(b"/not-this");
    sha256_digest(&other)
}

/// Pushes a blob the way `mode` says. Ok(true): the blob is now in the repository. `corrupt`:
/// the closing request names another digest, which the registry must refuse (400) without
/// storing anything under it.
fn push_blob(
    ctx: &mut ModelCtx,
    r: usize,
    data: &[u8],
    mode: PushMode,
    corrupt: bool,
) -> Verdict<bool> {
    let name = ctx.names[r].clone();
    let digest = if corrupt {
        wrong_digest(data)
    } else {
        sha256_digest(data)
    };
    let mode_s = match mode {
        PushMode::Monolithic => "monolithic",
        PushMode::SinglePost => "single-post",
        PushMode::Chunked(_) => "chunked",
        PushMode::Streamed => "streamed",
    };
    let what = |step: &str| {
        if corrupt {
            format!("model.push-blob-mismatch.{mode_s}.{step}")
        } else {
            format!("model.push-blob.{mode_s}.{step}")
        }
    };
    let post_path = format!("/v2/{name}/blobs/uploads/");
    let mut j = Judge::new(what("post"));
    let a = if let PushMode::SinglePost = mode {
        ctx.send(
            &mut j,
            Req::new("POST", with_query(&post_path, "digest", &digest))
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec()),
        )
    } else {
        ctx.send(
            &mut j,
            Req::new("POST", post_path).header("Content-Length", "0"),
        )
    };
    let (endpoint, situation) = match (mode, corrupt) {
        (PushMode::SinglePost, false) => (Endpoint::SinglePost, Situation::Exists),
        (PushMode::SinglePost, true) => (Endpoint::SinglePost, Situation::DigestMismatch),
        _ => (Endpoint::StartUpload, Situation::Exists),
    };
    let resp = j.contract(&a, endpoint, situation, ctx.version, Some(data))?;
    if resp.status == 400 {
        return corrupt_left_nothing(ctx, &name, &digest);
    }
    let mut l = loc(&j, resp, &["R-038", "R-047"])?;
    if resp.status == 201 {
        return Ok(true);
    }
    let min_chunk: Option<usize> = resp
        .header("oci-chunk-min-length")
        .and_then(|v| v.trim().parse().ok());
    let mut sent = 0usize;
    match mode {
        PushMode::Chunked(k) => {
            let k = (k as usize).clamp(1, data.len().max(1));
            let mut size = data.len().div_ceil(k).max(1);
            if let Some(mc) = min_chunk {
                size = size.max(mc);
            }
            // The last chunk goes with the closing PUT (R-057 allows both ways).
            while data.len() - sent > size {
                let end = sent + size;
                let mut j = Judge::new(what("patch"));
                let url = ctx.client.resolve(&l);
                let a = ctx.send(
                    &mut j,
                    Req::new("PATCH", url)
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", format!("{sent}-{}", end - 1))
                        .body(data[sent..end].to_vec()),
                );
                let resp = j.contract(
                    &a,
                    Endpoint::PatchUpload,
                    Situation::Exists,
                    ctx.version,
                    None,
                )?;
                l = loc(&j, resp, &["R-054"])?;
                let want = format!("0-{}", end - 1);
                if resp.header("range") != Some(want.as_str()) {
                    return Err(j.fail(
                        "range-header",
                        format!("Range {:?}, expected {want:?}", resp.header("range")),
                        &["R-054"],
                    ));
                }
                sent = end;
                let mut j = Judge::new(what("status"));
                let url = ctx.client.resolve(&l);
                let a = ctx.send(&mut j, Req::new("GET", url));
                let resp = j.contract(
                    &a,
                    Endpoint::UploadStatus,
                    Situation::Exists,
                    ctx.version,
                    None,
                )?;
                if resp.header("range") != Some(want.as_str()) {
                    return Err(j.fail(
                        "range-header",
                        format!("status Range {:?}, expected {want:?}", resp.header("range")),
                        &["R-061"],
                    ));
                }
                l = loc(&j, resp, &["R-061"])?;
            }
        }
        PushMode::Streamed => {
            // Not in the spec (distribution-spec#303): a refusal is allowed, a crash is not.
            let mut j = Judge::new(what("patch"));
            let url = ctx.client.resolve(&l);
            let a = ctx.send(
                &mut j,
                Req::new("PATCH", url)
                    .header("Content-Type", "application/octet-stream")
                    .body(data.to_vec()),
            );
            let resp = j.check(&a, &[202, 400, 416], &[], &["R-140"])?;
            if resp.status != 202 {
                return Ok(false);
            }
            l = loc(&j, resp, &["R-054"])?;
            sent = data.len();
        }
        _ => {}
    }
    let mut j = Judge::new(what("put"));
    let url = with_query(&ctx.client.resolve(&l), "digest", &digest);
    let mut req = Req::new("PUT", url).header("Content-Type", "application/octet-stream");
    if sent < data.len() {
        if sent > 0 {
            req = req.header("Content-Range", format!("{sent}-{}", data.len() - 1));
        }
        req = req.body(data[sent..].to_vec());
    }
    let a = ctx.send(&mut j, req);
    if corrupt {
        j.contract(
            &a,
            Endpoint::CloseUpload,
            Situation::DigestMismatch,
            ctx.version,
            None,
        )?;
        return corrupt_left_nothing(ctx, &name, &digest);
    }
    let resp = j.contract(
        &a,
        Endpoint::CloseUpload,
        Situation::Exists,
        ctx.version,
        None,
    )?;
    loc(&j, resp, &["R-043", "R-059"])?;
    Ok(true)
}

/// After a refused corrupt push, nothing answers under the digest it claimed.
fn corrupt_left_nothing(ctx: &mut ModelCtx, name: &str, claimed: &str) -> Verdict<bool> {
    let mut j = Judge::new("model.push-blob-mismatch.after");
    let a = ctx.send(
        &mut j,
        Req::new("HEAD", format!("/v2/{name}/blobs/{claimed}")),
    );
    j.check(&a, &[404], &[], &["R-059", "R-028"])?;
    Ok(false)
}
