//! Manifest probes: pulls by tag or digest with `Accept` variants, pushes of valid and broken
//! bodies under tags and digests.

use super::{
    absent_in, allow_long, check_content, name_class, resolve_target, Body, ContentType, ProbeCtx,
    PutRef, Repo, Target, FIXTURE_TAGS, LONG_NAME,
};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::{
    self, classify_reference, encode_path, valid_tag, DigestClass, RefClass,
};
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{Judge, Verdict};
use crate::fuzz::push::{
    self, blob_bytes, config_bytes, image_manifest, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};

/// Manifests up to this size must be accepted (R-085 "at least 4 MB").
const MUST_ACCEPT_MANIFEST: usize = 4_000_000;

pub(super) fn get_manifest(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    target: &Target,
    head: bool,
    accept: Option<&str>,
    headers: &[(String, String)],
) -> Verdict {
    let name = ctx.name(repo);
    let reference = resolve_target(ctx.fixture, target);
    let f = ctx.fixture;
    let known: Option<&[u8]> = match repo {
        Repo::Fresh(_) => None,
        Repo::Fixture
            if FIXTURE_TAGS.contains(&reference.as_str()) || reference == f.manifest_digest() =>
        {
            Some(&f.manifest)
        }
        Repo::Fixture if reference == f.referrer_digest() => Some(&f.referrer),
        Repo::Fixture => None,
    };
    let accept_ok = accept.is_none_or(|a| a.contains(OCI_MANIFEST) || a.contains("*/*"));
    let rc = classify_reference(&reference);
    let (class, allowed): (String, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc.into(), vec![400, 404])
    } else {
        match (rc, known) {
            (RefClass::Tag | RefClass::Digest(DigestClass::Sha256), Some(_)) if accept_ok => {
                ("existing".into(), vec![200])
            }
            // The registry may ignore Accept or refuse with 406; "not found" is wrong.
            (RefClass::Tag | RefClass::Digest(DigestClass::Sha256), Some(_)) => {
                ("accept-excludes-type".into(), vec![200, 406])
            }
            (RefClass::Tag | RefClass::Digest(DigestClass::Sha256), None) => {
                (format!("absent-{}", rc.label()), vec![404])
            }
            _ => (rc.label().into(), vec![400, 404]),
        }
    };
    let allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    let method = if head { "HEAD" } else { "GET" };
    let mut j = Judge::new(format!("{}-manifest.{class}", method.to_lowercase()));
    let mut req = Req::new(
        method,
        format!(
            "/v2/{}/manifests/{}",
            encode_path(&name),
            encode_path(&reference)
        ),
    );
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    for (k, v) in headers {
        req = req.header(k, v.clone());
    }
    let a = ctx.send(&mut j, req);
    let r = j.check(&a, &allowed, &[], &["R-017", "R-022", "R-007"])?;
    let endpoint = if head {
        Endpoint::HeadManifest
    } else {
        Endpoint::GetManifest
    };
    if r.status == 200 {
        if let Some(bytes) = known {
            check_content(&j, r, bytes, head, &["R-017", "R-075"])?;
            j.contract(&a, endpoint, Situation::Exists, ctx.version, Some(bytes))?;
        }
    } else if r.status == 404 && class.starts_with("absent-") {
        j.contract(&a, endpoint, absent_in(repo), ctx.version, None)?;
    }
    Ok(())
}

fn build_body(b: &Body, config: &[u8], layer: &[u8], seed: u64) -> Vec<u8> {
    let valid = image_manifest(config, OCI_CONFIG, &[layer], None, None, "put");
    match b {
        Body::Valid => valid,
        Body::Mutated { pos, op } => {
            let mut v = valid;
            let p = pos % v.len();
            match op % 4 {
                0 => {
                    v.remove(p);
                }
                1 => v[p] = b'{',
                2 => v.insert(p, b'"'),
                _ => v.truncate(p),
            }
            v
        }
        Body::MediaType(mt) => {
            let mut j: serde_json::Value = serde_json::from_slice(&valid).expect("own manifest");
            match mt {
                Some(m) => j["mediaType"] = serde_json::json!(m),
                None => {
                    j.as_object_mut().expect("object").remove("mediaType");
                }
            }
            serde_json::to_vec(&j).expect("serialise")
        }
        Body::Dangling => {
            let missing = blob_bytes(seed ^ 0xdead, 64);
            image_manifest(
                config,
                OCI_CONFIG,
                &[layer, &missing],
                None,
                None,
                "dangling",
            )
        }
        Body::NonDistributable => {
            let foreign = blob_bytes(seed ^ 0xf00d, 64);
            let mut j: serde_json::Value = serde_json::from_slice(&valid).expect("own manifest");
            let mut d = push::descriptor(
                "application/vnd.oci.image.layer.nondistributable.v1.tar",
                &foreign,
            );
            d["urls"] = serde_json::json!(["https://example.com/layer.tar"]);
            j["layers"].as_array_mut().expect("layers").push(d);
            serde_json::to_vec(&j).expect("serialise")
        }
        Body::Huge(n) => {
            let mut j: serde_json::Value = serde_json::from_slice(&valid).expect("own manifest");
            j["annotations"]["org.example.pad"] = serde_json::json!("p".repeat(*n as usize));
            serde_json::to_vec(&j).expect("serialise")
        }
        Body::Deep(d) => {
            // An unknown field (which consumers must ignore) holding d nested arrays.
            let d = *d as usize;
            let mut v = format!("{{\"x-nested\":{}{},", "[".repeat(d), "]".repeat(d)).into_bytes();
            v.extend_from_slice(&valid[1..]);
            v
        }
        Body::InvalidUtf8 => {
            let s = String::from_utf8(valid).expect("utf8");
            s.replacen("\"put\"", "\"p\u{0}ut\"", 1)
                .replace('\u{0}', "\u{1}")
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect()
        }
        Body::NotJson(s) => s.clone().into_bytes(),
    }
}

pub(super) fn put_manifest(
    ctx: &mut ProbeCtx,
    suffix: &str,
    reference: &PutRef,
    ct: &ContentType,
    body: &Body,
) -> Verdict {
    let name = format!("{}/{}", ctx.fresh, suffix);
    let seed = suffix.len() as u64;
    let config = config_bytes(seed);
    let layer = blob_bytes(seed, 300);
    let bytes = build_body(body, &config, &layer, seed);
    let body_digest = grammar::sha256_digest(&bytes);
    let reference_s = match reference {
        PutRef::Tag(t) => t.clone(),
        PutRef::BodyDigest => body_digest.clone(),
        PutRef::Literal(d) => d.clone(),
    };
    let nc = name_class(&name);
    // Over-long names may legitimately be refused, so they get no setup pushes.
    if nc.is_none() && name.len() <= 255 {
        for b in [&config, &layer] {
            push::push_blob(ctx.client, ctx.version, &name, b)?;
        }
    }
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let ct_ok = matches!(ct, ContentType::Matching);
    let lenient_ct = |mut v: Vec<u16>| {
        if !ct_ok && v.contains(&201) {
            v.extend([400, 415]);
        }
        v
    };
    // The reference decides first (a literal may be a tag, a digest, or neither), then the body.
    let literal = match reference {
        PutRef::Literal(d) => Some(classify_reference(d)),
        PutRef::Tag(t) if !valid_tag(t) => Some(RefClass::Invalid),
        _ => None,
    };
    type Expect = (
        String,
        Vec<u16>,
        &'static [&'static str],
        &'static [&'static str],
    );
    let (class, allowed, codes, reqs): Expect = if let Some(nc) = nc {
        (nc.into(), vec![400, 404], &[], &["R-008"])
    } else if literal == Some(RefClass::Digest(DigestClass::Sha256)) && reference_s != body_digest {
        (
            "digest-mismatch".into(),
            vec![400],
            &["DIGEST_INVALID", "MANIFEST_INVALID"],
            &["R-077", "R-037"],
        )
    } else if let Some(rc @ (RefClass::Invalid | RefClass::Digest(_))) =
        literal.filter(|l| *l != RefClass::Digest(DigestClass::Sha256))
    {
        (rc.label().into(), vec![400, 404], &[], &["R-007", "R-037"])
    } else {
        match body {
            // Always valid JSON, even past serde_json's own nesting limit (so `parsed` is no
            // guide): accepting it is right, a parser limit's 400 is acceptable, a crash is not.
            Body::Deep(_) => (
                "deep-nesting".into(),
                lenient_ct(vec![201, 400]),
                &[],
                &["R-140"],
            ),
            _ if parsed.is_none() => {
                // JSON must be UTF-8 (RFC 8259 §8.1), but a registry storing bytes verbatim
                // may not look: refusing is expected at SHOULD level; garbage is a MUST.
                match body {
                    Body::InvalidUtf8 => (
                        "invalid-utf8".into(),
                        vec![400],
                        &["MANIFEST_INVALID"],
                        &["R-140"],
                    ),
                    _ => (
                        "not-json".into(),
                        vec![400],
                        &["MANIFEST_INVALID"],
                        &["end-7"],
                    ),
                }
            }
            Body::Valid => (
                "valid".into(),
                lenient_ct(vec![201]),
                &[],
                &["R-075", "R-076"],
            ),
            Body::Huge(_) if bytes.len() <= MUST_ACCEPT_MANIFEST => {
                ("large".into(), lenient_ct(vec![201]), &[], &["R-085"])
            }
            Body::Huge(_) => ("huge".into(), lenient_ct(vec![201, 413]), &[], &["R-084"]),
            // a rejection for missing blobs names MANIFEST_BLOB_UNKNOWN; with a wrong
            // Content-Type the rejection may be about the type instead.
            // Registries may accept it without the blob (R-035 MAY) or refuse like any dangling one.
            Body::NonDistributable => (
                "non-distributable".into(),
                lenient_ct(vec![201, 400]),
                if ct_ok {
                    &["MANIFEST_BLOB_UNKNOWN"]
                } else {
                    &[]
                },
                &["R-035", "R-036"],
            ),
            Body::Dangling if ct_ok => (
                "dangling".into(),
                vec![201, 400],
                &["MANIFEST_BLOB_UNKNOWN"],
                &["R-035", "R-036"],
            ),
            Body::Dangling => (
                "dangling".into(),
                lenient_ct(vec![201, 400]),
                &[],
                &["R-035"],
            ),
            Body::MediaType(_) => ("media-type".into(), vec![201, 400, 415], &[], &["R-072"]),
            _ => (
                "mutated-json".into(),
                lenient_ct(vec![201, 400]),
                &[],
                &["R-140"],
            ),
        }
    };
    let mut allowed = allow_long(&name, allowed);
    let mut codes = codes;
    if name.len() > 255 {
        codes = &[]; // a refusal may be about the name instead
    }
    // Over the size limit: a 413 may come before any other check, and a crash is about
    // the size, whatever else is wrong with the request.
    let huge = bytes.len() > 4 << 20;
    if huge && !allowed.contains(&413) {
        allowed.push(413);
        codes = &[];
    }
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else if huge {
        "huge".into()
    } else {
        class.to_string()
    };
    let mut j = Judge::new(format!("put-manifest.{class}"));
    let mut req = Req::new(
        "PUT",
        format!(
            "/v2/{}/manifests/{}",
            encode_path(&name),
            encode_path(&reference_s)
        ),
    )
    .body(bytes.clone());
    match ct {
        ContentType::Matching => req = req.header("Content-Type", OCI_MANIFEST),
        ContentType::WithParams => {
            req = req.header("Content-Type", format!("{OCI_MANIFEST}; charset=utf-8"))
        }
        ContentType::Missing => {}
        ContentType::Other(o) => req = req.header("Content-Type", o.clone()),
    }
    let a = ctx.send(&mut j, req);
    let r = j.check(&a, &allowed, codes, reqs)?;
    if r.status != 201 {
        return Ok(());
    }
    if r.header("location").is_none() {
        return Err(j.fail("no-location", "201 without Location", &["R-076"]));
    }
    if let Some(d) = r.header("docker-content-digest") {
        if d != body_digest {
            return Err(j.fail(
                "digest-header",
                format!("Docker-Content-Digest {d}, body digest {body_digest}"),
                &["R-077"],
            ));
        }
    }
    let mut j2 = Judge::new(format!("put-manifest.{class}.read-back"));
    let accept = format!(
        "{OCI_MANIFEST}, {OCI_INDEX}, {}, */*",
        push::DOCKER_MANIFEST
    );
    let a = ctx.send(
        &mut j2,
        Req::new(
            "GET",
            format!(
                "/v2/{}/manifests/{}",
                encode_path(&name),
                encode_path(&reference_s)
            ),
        )
        .header("Accept", accept),
    );
    let r = j2.check(&a, &[200], &[], &["R-017", "R-075"])?;
    check_content(&j2, r, &bytes, false, &["R-075"])
}
