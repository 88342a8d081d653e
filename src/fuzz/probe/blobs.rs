//! Blob probes: GET and HEAD by digest, with `Range` headers valid, unsatisfiable and malformed.

use super::{
    absent_in, allow_long, check_content, name_class, resolve_target, ProbeCtx, Repo, Target,
    LONG_NAME,
};
use crate::contract::responses::{Endpoint, Situation};
use crate::fuzz::grammar::{classify_digest, encode_path, DigestClass};
use crate::fuzz::http::Req;
use crate::fuzz::oracle::{Judge, Verdict};

enum RangeClass {
    /// Resolved inclusive byte ranges (only the satisfiable ones).
    Satisfiable(Vec<(u64, u64)>),
    Unsatisfiable,
    Invalid,
    OtherUnit,
}

/// RFC 9110 §14.1 for a representation of `size` bytes.
fn classify_range(v: &str, size: u64) -> RangeClass {
    let Some((unit, set)) = v.split_once('=') else {
        return RangeClass::Invalid;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return if unit.chars().all(|c| c.is_ascii_alphanumeric()) && !unit.is_empty() {
            RangeClass::OtherUnit
        } else {
            RangeClass::Invalid
        };
    }
    let mut sat = Vec::new();
    let mut any = false;
    for spec in set.split(',') {
        let spec = spec.trim();
        let Some((a, b)) = spec.split_once('-') else {
            return RangeClass::Invalid;
        };
        let num = |s: &str| {
            if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse::<u64>().ok()
            } else {
                None
            }
        };
        any = true;
        match (a.is_empty(), b.is_empty()) {
            (true, false) => {
                let Some(n) = num(b) else {
                    return RangeClass::Invalid;
                };
                if n > 0 && size > 0 {
                    sat.push((size - n.min(size), size - 1));
                }
            }
            (false, _) => {
                let Some(first) = num(a) else {
                    return RangeClass::Invalid;
                };
                let last = if b.is_empty() {
                    u64::MAX
                } else {
                    match num(b) {
                        Some(l) if l >= first => l,
                        _ => return RangeClass::Invalid,
                    }
                };
                if first < size {
                    sat.push((first, last.min(size - 1)));
                }
            }
            (true, true) => return RangeClass::Invalid,
        }
    }
    if !any {
        RangeClass::Invalid
    } else if sat.is_empty() {
        RangeClass::Unsatisfiable
    } else {
        RangeClass::Satisfiable(sat)
    }
}

pub(super) fn get_blob(
    ctx: &mut ProbeCtx,
    repo: &Repo,
    target: &Target,
    head: bool,
    range: Option<&str>,
) -> Verdict {
    let name = ctx.name(repo);
    let digest = resolve_target(ctx.fixture, target);
    let layer = ctx.fixture.layer.clone();
    let known = matches!(repo, Repo::Fixture) && digest == ctx.fixture.layer_digest();
    let dc = classify_digest(&digest);
    let rc = range.map(|r| classify_range(r, layer.len() as u64));
    let (class, allowed): (String, Vec<u16>) = if let Some(nc) = name_class(&name) {
        (nc.into(), vec![400, 404])
    } else if dc != DigestClass::Sha256 {
        (dc.label().into(), vec![400, 404])
    } else if !known {
        ("absent".into(), vec![404])
    } else {
        match &rc {
            None => ("existing".into(), vec![200]),
            Some(RangeClass::Satisfiable(v)) if v.len() == 1 => ("range".into(), vec![200, 206]),
            Some(RangeClass::Satisfiable(_)) => ("multi-range".into(), vec![200, 206]),
            Some(RangeClass::Unsatisfiable) => ("range-unsatisfiable".into(), vec![200, 416]),
            Some(RangeClass::Invalid) => ("range-invalid".into(), vec![200, 206, 416]),
            // RFC 9110 §14.2: an unknown range unit MUST be ignored.
            Some(RangeClass::OtherUnit) => ("range-other-unit".into(), vec![200]),
        }
    };
    let allowed = allow_long(&name, allowed);
    let class: String = if name.len() > LONG_NAME {
        "long-name".into()
    } else {
        class.to_string()
    };
    let method = if head { "HEAD" } else { "GET" };
    let mut j = Judge::new(format!("{}-blob.{class}", method.to_lowercase()));
    let mut req = Req::new(
        method,
        format!("/v2/{}/blobs/{}", encode_path(&name), encode_path(&digest)),
    );
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let a = ctx.send(&mut j, req);
    let reqs: &[&'static str] = if range.is_some() {
        &["R-029"]
    } else {
        &["R-023", "R-028"]
    };
    let r = j.check(&a, &allowed, &[], reqs)?;
    let endpoint = if head {
        Endpoint::HeadBlob
    } else {
        Endpoint::GetBlob
    };
    match (r.status, &rc) {
        (200, _) => {
            check_content(&j, r, &layer, head, &["R-023"])?;
            if rc.is_none() {
                j.contract(&a, endpoint, Situation::Exists, ctx.version, Some(&layer))?;
            }
        }
        (404, _) if class == "absent" => {
            j.contract(&a, endpoint, absent_in(repo), ctx.version, None)?;
        }
        (206, Some(RangeClass::Satisfiable(v))) if v.len() == 1 => {
            let (a0, b0) = v[0];
            let want_cr = format!("bytes {a0}-{b0}/{}", layer.len());
            let got_cr = r.header("content-range").unwrap_or("");
            if got_cr != want_cr {
                return Err(j.fail(
                    "content-range",
                    format!("206 Content-Range {got_cr:?}, expected {want_cr:?}"),
                    &["R-029"],
                ));
            }
            if r.body != layer[a0 as usize..=b0 as usize] {
                return Err(j.fail(
                    "range-body",
                    format!("206 body of {} bytes is not bytes {a0}-{b0}", r.body.len()),
                    &["R-029"],
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(
            matches!(classify_range("bytes=0-9", 100), RangeClass::Satisfiable(v) if v == [(0, 9)])
        );
        assert!(
            matches!(classify_range("bytes=-10", 100), RangeClass::Satisfiable(v) if v == [(90, 99)])
        );
        assert!(matches!(
            classify_range("bytes=100-", 100),
            RangeClass::Unsatisfiable
        ));
        assert!(matches!(
            classify_range("bytes=-0", 100),
            RangeClass::Unsatisfiable
        ));
        assert!(matches!(
            classify_range("bytes=9-3", 100),
            RangeClass::Invalid
        ));
        assert!(matches!(
            classify_range("items=0-", 100),
            RangeClass::OtherUnit
        ));
        assert!(matches!(
            classify_range("bytes 0-", 100),
            RangeClass::Invalid
        ));
    }
}
