//! Referrers probes: the fixture's subject and absent digests, with and without `artifactType`.

use super::{allow_long, name_class, resolve_target, ProbeCtx, Repo, Target, LONG_NAME};
use crate::fuzz::grammar::REFERRER_TYPE;
use crate::fuzz::grammar::{classify_digest, encode_path, encode_query, DigestClass};
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::push::OCI_INDEX;

pub(super) fn referrers(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    target: &Target,
    artifact_type: Option<&str>,
) -> Verdict {
    let name = ctx.name(repo);
    let digest = resolve_target(ctx.fixture, target);
    let dc = classify_digest(&digest);
    let fixture = matches!(repo, Repo::Fixture);
    let (class, mut allowed): (String, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc.into(), vec![400, 404])
    } else {
        match dc {
            DigestClass::Sha256 if fixture => ("valid".into(), vec![200]),
            DigestClass::Sha256 => ("unknown-repo".into(), vec![200, 404]),
            DigestClass::Sha512 | DigestClass::Unsupported => (dc.label().into(), vec![200, 400]),
            DigestClass::Malformed => (dc.label().into(), vec![400]),
        }
    };
    allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    if !ctx.features.referrers {
        allowed.push(404);
    }
    let mut path = format!(
        "/v2/{}/referrers/{}",
        encode_path(&name),
        encode_path(&digest)
    );
    if let Some(at) = artifact_type {
        path = format!("{path}?artifactType={}", encode_query(at));
    }
    let mut j = Judge::new(format!("referrers.{class}"));
    let a = ctx.send(&mut j, Req::new("GET", path));
    let r = j.check(&a, &allowed, &[], &["R-098", "R-099", "R-100"])?;
    if r.status != 200 {
        return Ok(());
    }
    let ct = r.header("content-type").unwrap_or("");
    if ct.split(';').next().unwrap_or("").trim() != OCI_INDEX {
        return Err(j.fail("content-type", format!("Content-Type {ct:?}"), &["R-102"]));
    }
    let body = r
        .json()
        .ok_or_else(|| j.fail("index-body", "body is not JSON", &["R-101"]))?;
    let Some(list) = body.get("manifests").and_then(|m| m.as_array()) else {
        return Err(j.fail("index-body", "no `manifests` array", &["R-101"]));
    };
    let filtered = r
        .header_list("oci-filters-applied")
        .iter()
        .any(|f| f == "artifactType");
    let expect_referrer = fixture
        && digest == ctx.fixture.manifest_digest()
        && (!filtered || artifact_type == Some(REFERRER_TYPE));
    let got: Vec<&str> = list
        .iter()
        .filter_map(|d| d.get("digest").and_then(|v| v.as_str()))
        .collect();
    let want = if expect_referrer {
        vec![ctx.fixture.referrer_digest()]
    } else {
        vec![]
    };
    if got != want.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(j.fail(
            "referrers-set",
            format!("referrers {got:?}, expected {want:?} (filter applied: {filtered})"),
            &["R-103", "R-108", "R-111"],
        ));
    }
    if expect_referrer {
        let d = &list[0];
        if d.get("artifactType").and_then(|v| v.as_str()) != Some(REFERRER_TYPE) {
            return Err(j.fail(
                "referrer-artifact-type",
                format!("descriptor {d}"),
                &["R-104"],
            ));
        }
        if d.pointer("/annotations/org.example.fuzz")
            .and_then(|v| v.as_str())
            != Some("referrer")
        {
            return Err(j.fail(
                "referrer-annotations",
                format!("descriptor {d}"),
                &["R-107"],
            ));
        }
    }
    Ok(())
}
