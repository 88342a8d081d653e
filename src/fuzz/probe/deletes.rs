//! Delete probes: manifests, tags and blobs that are absent, by valid and invalid references.

use super::ProbeCtx;
use crate::fuzz::grammar::{
    classify_digest, classify_reference, encode_path, DigestClass, RefClass,
};
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{Judge, Verdict};

pub(super) fn delete(ctx: &mut ProbeCtx, suffix: &str, blob: bool, reference: &str) -> Verdict {
    let name = format!("{}/{}", ctx.fresh, suffix);
    let f = ctx.features;
    let (what, class, mut allowed) = if blob {
        match classify_digest(reference) {
            DigestClass::Sha256 => ("delete-blob", "absent", vec![404]),
            c => ("delete-blob", c.label(), vec![400, 404]),
        }
    } else {
        match classify_reference(reference) {
            RefClass::Tag => ("delete-tag", "absent", vec![404]),
            RefClass::Digest(DigestClass::Sha256) => ("delete-manifest", "absent", vec![404]),
            rc => ("delete-manifest", rc.label(), vec![400, 404]),
        }
    };
    let disabled = match (what, class) {
        ("delete-blob", _) => !f.delete_blobs,
        ("delete-tag", _) => !f.delete_tags,
        ("delete-manifest", "absent") => !f.delete_manifests,
        // A reference that is neither a tag nor a digest may be refused as either kind of
        // delete, so either switch being off allows the "disabled" answer.
        _ => !f.delete_manifests || !f.delete_tags,
    };
    if disabled {
        allowed.extend([400, 405]);
    }
    let kind = if blob { "blobs" } else { "manifests" };
    let mut j = Judge::new(format!("{what}.{class}"));
    let a = ctx.send(
        &mut j,
        Req::new(
            "DELETE",
            format!(
                "/v2/{}/{kind}/{}",
                encode_path(&name),
                encode_path(reference)
            ),
        ),
    );
    j.check(&a, &allowed, &[], &["R-118", "R-123", "R-115"])
        .map(|_| ())
}
