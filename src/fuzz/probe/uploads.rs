//! Upload probes: chunked PATCH sequences with good and bad `Content-Range`, and closing PUTs
//! (or single POSTs) whose digest is right, another algorithm's, or wrong.

use super::{check_content, ProbeCtx, UploadDigest};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::{self, classify_digest, DigestClass};
use crate::fuzz::http::{Answer, Req, Resp};
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::push::{self, blob_bytes};

fn upload_location(j: &Judge, r: &Resp, reqs: &[&'static str]) -> Verdict<String> {
    r.header("location").map(str::to_string).ok_or_else(|| {
        j.fail(
            "no-location",
            format!("{} without Location", r.status),
            reqs,
        )
    })
}

/// Expected outcome of a PATCH with `range` for a chunk of `len` bytes after `received` bytes.
fn chunk_expectation(
    range: &str,
    received: u64,
    len: u64,
    min_chunk: Option<u64>,
) -> (&'static str, Vec<u16>, bool) {
    let mut res = match grammar::parse_chunk_range(range) {
        Some((s, e)) if s == received && e >= s && e - s + 1 == len => {
            ("in-order", vec![202], true)
        }
        Some((s, _)) if s != received => ("out-of-order", vec![416], false),
        Some(_) => ("length-mismatch", vec![400, 416], false),
        // Off-grammar values: rejecting is right, tolerating a harmless variant is not a breach.
        None => ("malformed-range", vec![202, 400, 416], false),
    };
    if res.2 && min_chunk.is_some_and(|m| len < m) {
        res.1.extend([400, 416]);
    }
    res
}

pub(super) fn chunks(
    ctx: &mut ProbeCtx,
    seed: u64,
    first: &(u16, String),
    second: Option<&(u16, String)>,
) -> Verdict {
    let name = format!("{}/up", ctx.fresh);
    let mut j = Judge::new("chunks.post");
    let a = ctx.send(
        &mut j,
        Req::new("POST", format!("/v2/{name}/blobs/uploads/")).header("Content-Length", "0"),
    );
    let r = j.check(&a, &[202], &[], &["R-038"])?;
    let mut loc = upload_location(&j, r, &["R-038"])?;
    let min_chunk = r
        .header("oci-chunk-min-length")
        .and_then(|v| v.trim().parse().ok());
    let total = first.0 as u64 + second.map_or(0, |s| s.0 as u64);
    let data = blob_bytes(seed, total as usize);
    let mut received = 0u64;
    for (i, (len, range)) in std::iter::once(first).chain(second).enumerate() {
        let len = *len as u64;
        let (class, allowed, valid) = chunk_expectation(range, received, len, min_chunk);
        let mut j = Judge::new(format!(
            "chunks.patch-{}.{class}",
            if i == 0 { "first" } else { "next" }
        ));
        let url = ctx.client.resolve(&loc);
        let a = ctx.send(
            &mut j,
            Req::new("PATCH", url)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", range.clone())
                .body(data[received as usize..(received + len) as usize].to_vec()),
        );
        let r = j.check(&a, &allowed, &[], &["R-054", "R-056"])?;
        if r.status != 202 {
            break;
        }
        if !valid {
            // A tolerated off-grammar range: the session state is now unknowable; stop here.
            return Ok(());
        }
        received += len;
        loc = upload_location(&j, r, &["R-054"])?;
        let want = format!("0-{}", received - 1);
        if r.header("range") != Some(want.as_str()) {
            return Err(j.fail(
                "range-header",
                format!("202 Range {:?}, expected {want:?}", r.header("range")),
                &["R-054"],
            ));
        }
    }
    if received > 0 {
        let mut j = Judge::new("chunks.status");
        let url = ctx.client.resolve(&loc);
        let a = ctx.send(&mut j, Req::new("GET", url));
        let r = j.check(&a, &[204], &[], &["R-061"])?;
        let want = format!("0-{}", received - 1);
        if r.header("range") != Some(want.as_str()) {
            return Err(j.fail(
                "range-header",
                format!("204 Range {:?}, expected {want:?}", r.header("range")),
                &["R-061"],
            ));
        }
    }
    Ok(())
}

pub(super) fn close_upload(
    ctx: &mut ProbeCtx,
    seed: u64,
    size: u16,
    digest: &UploadDigest,
    single_post: bool,
) -> Verdict {
    let name = format!("{}/up", ctx.fresh);
    let data = blob_bytes(seed, size as usize);
    let correct = grammar::sha256_digest(&data);
    let d = match digest {
        UploadDigest::Correct => correct.clone(),
        UploadDigest::Sha512 => grammar::sha512_digest(&data),
        UploadDigest::Literal(s) => s.clone(),
    };
    let (class, allowed, codes): (String, Vec<u16>, &[&str]) = match (digest, classify_digest(&d)) {
        (UploadDigest::Correct, _) => ("correct".into(), vec![201], &[]),
        (UploadDigest::Sha512, _) => ("sha512".into(), vec![201, 400], &[]),
        (_, DigestClass::Sha256) if d != correct => {
            ("digest-mismatch".into(), vec![400], &["DIGEST_INVALID"])
        }
        (_, DigestClass::Sha256) => ("correct".into(), vec![201], &[]),
        // an invalid or unsupported digest on a blob push is a 400.
        (_, c) => (c.label().into(), vec![400], &[]),
    };
    let mode = if single_post { "single-post" } else { "put" };
    let mut j = Judge::new(format!("close-upload.{mode}.{class}"));
    let mut loc = None;
    if single_post {
        let mut allowed_post = allowed.clone();
        allowed_post.push(202); // no single-POST support means a 202 session instead
        let a = ctx.send(
            &mut j,
            Req::new(
                "POST",
                push::with_query(&format!("/v2/{name}/blobs/uploads/"), "digest", &d),
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.clone()),
        );
        let r = if class == "digest-mismatch" {
            j.contract(
                &a,
                Endpoint::SinglePost,
                Situation::DigestMismatch,
                ctx.version,
                None,
            )?
        } else {
            j.check(&a, &allowed_post, codes, &["R-044", "R-046", "R-037"])?
        };
        if r.status == 202 {
            loc = Some(upload_location(&j, r, &["R-046"])?);
        } else {
            return after_close(ctx, &j, &a, Endpoint::SinglePost, &name, &d, &data);
        }
    }
    let loc = match loc {
        Some(l) => l,
        None => {
            let mut jp = Judge::new("close-upload.post");
            let a = ctx.send(
                &mut jp,
                Req::new("POST", format!("/v2/{name}/blobs/uploads/"))
                    .header("Content-Length", "0"),
            );
            let r = jp.check(&a, &[202], &[], &["R-038"])?;
            upload_location(&jp, r, &["R-038"])?
        }
    };
    let url = push::with_query(&ctx.client.resolve(&loc), "digest", &d);
    let a = ctx.send(
        &mut j,
        Req::new("PUT", url)
            .header("Content-Type", "application/octet-stream")
            .body(data.clone()),
    );
    if class == "digest-mismatch" {
        j.contract(
            &a,
            Endpoint::CloseUpload,
            Situation::DigestMismatch,
            ctx.version,
            None,
        )?;
    } else {
        j.check(&a, &allowed, codes, &["R-043", "R-037", "R-058"])?;
    }
    after_close(ctx, &j, &a, Endpoint::CloseUpload, &name, &d, &data)
}

/// After a 201 blob push: the headers the response contract asks of `endpoint`'s success
/// (Location), and the blob reads back by its digest.
fn after_close(
    ctx: &mut ProbeCtx,
    j: &Judge,
    a: &Answer,
    endpoint: Endpoint,
    name: &str,
    d: &str,
    data: &[u8],
) -> Verdict {
    let Answer::Response(r) = a else {
        return Ok(());
    };
    if r.status != 201 {
        return Ok(());
    }
    let rule = crate::contract::responses::rule(endpoint, Situation::Exists, ctx.version);
    crate::contract::responses::check_headers(&rule, r.status, |n| r.header(n), None)
        .map_err(|b| j.fail(&b.kind, b.detail, &b.requirements))?;
    let mut j2 = Judge::new(format!("{}.read-back", j.what));
    let a = ctx.send(&mut j2, Req::new("GET", format!("/v2/{name}/blobs/{d}")));
    let r = j2.check(&a, &[200], &[], &["R-023", "R-043"])?;
    check_content(&j2, r, data, false, &["R-023"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_classes() {
        assert_eq!(chunk_expectation("0-9", 0, 10, None).1, vec![202]);
        assert_eq!(chunk_expectation("5-14", 0, 10, None).1, vec![416]);
        assert_eq!(chunk_expectation("10-19", 10, 10, None).1, vec![202]);
        assert_eq!(chunk_expectation("0-9", 10, 10, None).1, vec![416]);
    }
}
