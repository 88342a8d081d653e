//! The spec's error bodies (`{"errors":[{"code", "message", "detail"}]}`): its codes, the legacy
//! codes clients may still meet, and the format rules every 4xx JSON body is held to. Kept at the
//! bottom of the crate (it imports nothing of ours) because the case loader, the rate limiter,
//! the response contract and the fuzz oracle all judge error bodies by it.

use serde_json::Value;

/// The error codes the spec defines.
pub const SPEC_ERROR_CODES: [&str; 14] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

/// Checks a spec error body: `{"errors":[{"code":…,"message"?:…,"detail"?:…}]}` with
/// spec codes only, and at least one of `wanted`.
pub fn check_error_body(body: &[u8], wanted: &[String]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        format!(
            "expected a JSON error body with {}, got `{}`",
            wanted.join(" or "),
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    check_error_entries(&v, &wanted, &[])
}

/// The `errors` array of a parsed error body: at least one entry, each with a `code` that is one
/// of the spec's codes (or of `also_allowed`) and a string `message` if any; at least one code
/// from `wanted` unless it is empty. Shared by the engine and the fuzzer's oracle.
pub fn check_error_entries(
    v: &Value,
    wanted: &[&str],
    also_allowed: &[&str],
) -> Result<(), String> {
    let errors = v
        .get("errors")
        .and_then(Value::as_array)
        .ok_or("error body has no `errors` array")?;
    if errors.is_empty() {
        return Err("`errors` is empty".into());
    }
    let mut codes = Vec::new();
    for e in errors {
        let code = e
            .get("code")
            .and_then(Value::as_str)
            .ok_or("an error has no string `code`")?;
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return Err(format!("code `{code}` is not uppercase letters and `_`"));
        }
        if !SPEC_ERROR_CODES.contains(&code) && !also_allowed.contains(&code) {
            return Err(format!(
                "code `{code}` is not one of the spec's error codes"
            ));
        }
        if let Some(m) = e.get("message") {
            if !m.is_string() {
                return Err(format!("`message` of {code} is not a string"));
            }
        }
        codes.push(code);
    }
    if wanted.is_empty() || codes.iter().any(|c| wanted.contains(c)) {
        Ok(())
    } else {
        Err(format!(
            "expected error code {}, got {}",
            wanted.join(" or "),
            codes.join(", ")
        ))
    }
}

/// Legacy codes clients "may see" (R-006): tolerated in a 4xx body, never required.
pub const LEGACY_CODES: &[&str] = &["TAG_INVALID", "MANIFEST_UNVERIFIED"];

/// R-143/R-144/R-147 for any 4xx answer: a body that is JSON (or says it is) must be a spec error
/// body with spec (or legacy) codes, one of `wanted` when that is not empty. Any other body
/// passes: a 4xx "MAY have any body".
pub fn check_error_answer(
    body: &[u8],
    content_type: Option<&str>,
    wanted: &[&str],
) -> Result<(), String> {
    let says_json = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() || v.is_array() => v,
        _ if says_json && !body.is_empty() => {
            return Err(format!(
                "Content-Type says JSON but the body is not: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)]).replace('\n', " ")
            ))
        }
        _ => return Ok(()),
    };
    check_error_entries(&v, wanted, LEGACY_CODES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let ok = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"x","detail":{}}]}"#;
        assert!(check_error_body(ok, &["BLOB_UNKNOWN".into()]).is_ok());
        assert!(check_error_body(ok, &["NAME_UNKNOWN".into()]).is_err());
        assert!(check_error_body(br#"{"errors":[{"code":"NOT_FOUND"}]}"#, &[]).is_err());
        assert!(check_error_body(br#"{"errors":[]}"#, &[]).is_err());
        assert!(check_error_body(b"not json", &[]).is_err());
    }
}
