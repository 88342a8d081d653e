//! What a case says an answer must look like (its `expect`): status, headers, body, JSON, `Link`
//! and challenge checks. Each returns the failures it found; a check that cannot be evaluated
//! (a capture missing, a bad template) stops the case instead.

use super::{slice, CaseRun, Stop};
use crate::contract::{describe_answer, is_sorted_ascii_or_lexical, parse_next_link, select};
use crate::errors::check_error_body;
use crate::http::{Challenge, Exchange};
use crate::spec::{
    BodyCheck, BodyRule, ChallengeCheck, Expect, HeaderCheck, HeaderRule, JsonCheck, JsonRule,
    LinkCheck,
};
use crate::template;
use serde_json::Value;

impl CaseRun<'_> {
    pub(super) fn check(&self, expect: &Expect, ex: &Exchange) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let Some(status) = ex.status else {
            return Ok(vec![format!(
                "no answer: {}",
                ex.error.as_deref().unwrap_or("unknown error")
            )]);
        };
        if let Some(e) = &ex.error {
            f.push(e.clone());
        }
        // `status` and `status_class` together: either may admit the answer.
        let in_list = expect.status.contains(&status);
        let in_class = expect
            .status_class
            .as_ref()
            .is_some_and(|c| c.admits(status));
        let constrained = !expect.status.is_empty() || expect.status_class.is_some();
        if constrained && !in_list && !in_class {
            let mut wanted: Vec<String> = expect.status.iter().map(u16::to_string).collect();
            wanted.extend(expect.status_class.as_ref().map(|c| c.to_string()));
            f.push(format!(
                "expected status {}, got {}",
                wanted.join(" or "),
                describe_answer(ex)
            ));
            // Everything else was written for the expected status; more noise would not help.
            return Ok(f);
        }
        for (name, check) in &expect.headers {
            f.extend(self.header_check(name, check, ex)?);
        }
        if let Some(b) = &expect.body {
            f.extend(self.body_check(b, ex)?);
        }
        if !expect.json.is_empty() {
            match ex.json() {
                None => f.push("body is not JSON".into()),
                Some(doc) => {
                    for c in &expect.json {
                        let vals = select(&doc, &c.pointer);
                        f.extend(self.json_check(c, vals, &c.pointer)?);
                    }
                }
            }
        }
        // A body that is not JSON leaves the codes unchecked; the caller reports that.
        if let (Some(codes), Some(_)) = (&expect.error_codes, ex.json()) {
            if let Err(e) = check_error_body(&ex.body, codes) {
                f.push(e);
            }
        }
        if expect.error_body_if_json && serde_json::from_slice::<Value>(&ex.body).is_ok() {
            if let Err(e) = check_error_body(&ex.body, &[]) {
                f.push(format!(
                    "a JSON error body must follow the spec format: {e}"
                ));
            }
        }
        if let (Some(c), 401) = (&expect.challenge, status) {
            f.extend(self.challenge_check(c, ex)?);
        }
        match (expect.link, ex.header("Link")) {
            (Some(LinkCheck::Absent), Some(v)) => {
                f.push(format!("expected no Link header, got `{v}`"));
            }
            (Some(LinkCheck::RelNext), None) => {
                f.push("expected a Link header with rel=\"next\"".into());
            }
            (Some(LinkCheck::RelNext), Some(v)) => {
                if let Err(e) = parse_next_link(v) {
                    f.push(format!("malformed Link header `{v}`: {e}"));
                }
            }
            _ => {}
        }
        Ok(f)
    }

    pub(super) fn challenge_check(
        &self,
        c: &ChallengeCheck,
        ex: &Exchange,
    ) -> Result<Vec<String>, Stop> {
        let headers: Vec<&str> = ex.headers("www-authenticate").collect();
        let Some(ch) = headers.iter().find_map(|h| Challenge::parse(h)) else {
            return Ok(vec![if headers.is_empty() {
                "a 401 answer needs a WWW-Authenticate challenge (RFC 9110 §11.6.1); none came"
                    .to_string()
            } else {
                format!("malformed WWW-Authenticate `{}`", headers.join(", "))
            }]);
        };
        let mut f = Vec::new();
        let shown = headers.join(", ");
        if ch.param("realm").is_none() {
            f.push(format!("the challenge names no realm: `{shown}`"));
        }
        if !ch.scheme.eq_ignore_ascii_case("bearer") {
            return Ok(f);
        }
        match ch.param("realm").map(reqwest::Url::parse) {
            Some(Ok(u)) if u.scheme() == "http" || u.scheme() == "https" => {}
            Some(_) => f.push(format!(
                "a Bearer realm must be an absolute http(s) URL: `{shown}`"
            )),
            None => {}
        }
        if ch.param("service").is_none() {
            f.push(format!("the Bearer challenge names no service: `{shown}`"));
        }
        if let Some(want) = &c.scope {
            let want = self.expand(want)?;
            let (resource, actions) = want.rsplit_once(':').unwrap_or((want.as_str(), ""));
            let scopes = ch.scopes();
            let covered = actions
                .split(',')
                .filter(|a| !a.is_empty())
                .all(|a| crate::http::auth::scopes_cover(&scopes, resource, a));
            if !covered {
                f.push(format!(
                    "the Bearer challenge's scope should cover `{want}`: `{shown}`"
                ));
            }
        }
        if let Some(want) = &c.error {
            if ch.param("error") != Some(want.as_str()) {
                f.push(format!(
                    "the Bearer challenge should carry error=\"{want}\": `{shown}`"
                ));
            }
        }
        Ok(f)
    }

    pub(super) fn header_check(
        &self,
        name: &str,
        c: &HeaderCheck,
        ex: &Exchange,
    ) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let value = ex.header(name);
        for rule in &c.0 {
            match (rule, value) {
                (HeaderRule::Present, None) => f.push(format!("missing {name} header")),
                (HeaderRule::Absent, Some(v)) => {
                    f.push(format!("expected no {name} header, got `{v}`"))
                }
                (HeaderRule::Equals(want), _) => {
                    let want = self.expand(want)?;
                    match value {
                        Some(v) if v == want => {}
                        Some(v) => f.push(format!("{name}: expected `{want}`, got `{v}`")),
                        None => f.push(format!("{name}: expected `{want}`, header missing")),
                    }
                }
                (HeaderRule::Matches(re), Some(v)) if !re.is_match(v) => {
                    f.push(format!("{name}: `{v}` does not match {re}"))
                }
                (HeaderRule::Matches(re), None) => f.push(format!(
                    "{name}: expected a value matching {re}, header missing"
                )),
                (HeaderRule::EqualsIfPresent(want), Some(v)) => {
                    let want = self.expand(want)?;
                    if v != want {
                        f.push(format!("{name}: expected `{want}` when present, got `{v}`"));
                    }
                }
                (HeaderRule::MatchesIfPresent(re), Some(v)) if !re.is_match(v) => {
                    f.push(format!("{name}: `{v}` does not match {re}"))
                }
                (HeaderRule::MaxTotalBytes(max), _) => {
                    let total: usize = ex.headers(name).map(str::len).sum();
                    if total > *max {
                        f.push(format!("{name}: {total} bytes in all, more than {max}"));
                    }
                }
                (HeaderRule::Contains(want), _) => {
                    let want = self.expand(want)?;
                    let items = ex.header_list(name);
                    if !items.iter().any(|i| i == &want) {
                        f.push(format!("{name}: expected an entry `{want}`, got {items:?}"));
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Body checks see the whole body by its size and digests even when it was too large to
    /// keep (see [`crate::http::KEPT_BODY_BYTES`]).
    pub(super) fn body_check(&self, c: &BodyCheck, ex: &Exchange) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let size = ex.body_size();
        for rule in &c.0 {
            match rule {
                BodyRule::Fixture(name) => {
                    let item = self.item(name)?;
                    if !ex.body_is(&item.bytes) {
                        f.push(format!(
                            "body differs from {name}: got {size} bytes ({}), want {} bytes ({})",
                            ex.body_digest(item.algorithm),
                            item.bytes.len(),
                            item.digest
                        ));
                    }
                }
                BodyRule::Empty if size > 0 => {
                    f.push(format!("expected an empty body, got {size} bytes"))
                }
                BodyRule::Empty => {}
                BodyRule::Digest(d) => {
                    let d = self.expand(d)?;
                    let alg = d.split(':').next().unwrap_or("sha256");
                    let got = ex.body_digest(alg);
                    if got != d {
                        f.push(format!("body digest is {got}, want {d}"));
                    }
                }
                BodyRule::Range(name, a, z) => {
                    let want = slice(&self.item(name)?.bytes, *a, *z).map_err(Stop::Setup)?;
                    if !ex.body_is(&want) {
                        f.push(format!(
                            "body is not bytes {a}-{z} of {name}: got {size} bytes, want {}",
                            want.len()
                        ));
                    }
                }
                BodyRule::Text(t) => {
                    let t = self.expand(t)?;
                    if !ex.body_is(t.as_bytes()) {
                        let body = &ex.body;
                        f.push(format!(
                            "body is `{}`, want `{t}`",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ));
                    }
                }
            }
        }
        Ok(f)
    }

    /// `vals`: what the pointer selected (several with a `*` wildcard).
    pub(super) fn json_check(
        &self,
        c: &JsonCheck,
        vals: Vec<Value>,
        what: &str,
    ) -> Result<Vec<String>, Stop> {
        let mut f = Vec::new();
        let wildcard = c.pointer.contains('*');
        // With a wildcard the selection itself is the list; otherwise the single value is.
        let subject: Option<Value> = if wildcard {
            Some(Value::Array(vals.clone()))
        } else {
            vals.first().cloned()
        };
        let as_list = |v: &Option<Value>| -> Option<Vec<Value>> {
            match v {
                Some(Value::Array(a)) => Some(a.clone()),
                _ => None,
            }
        };
        for rule in &c.rules {
            match rule {
                JsonRule::Exists(true) if subject.is_none() => f.push(format!("{what}: missing")),
                JsonRule::Exists(false) if subject.is_some() && !(wildcard && vals.is_empty()) => f
                    .push(format!(
                        "{what}: expected absent, got {}",
                        short(subject.as_ref())
                    )),
                JsonRule::Exists(_) => {}
                JsonRule::Matches(re) => {
                    // Every selected value must be a string matching (with a wildcard: each).
                    let values: Vec<Value> = if wildcard {
                        vals.clone()
                    } else {
                        subject.iter().cloned().collect()
                    };
                    if values.is_empty() {
                        f.push(format!(
                            "{what}: expected a string matching {re}, got nothing"
                        ));
                    }
                    for v in values {
                        match v.as_str() {
                            Some(t) if re.is_match(t) => {}
                            _ => f.push(format!("{what}: {v} does not match {re}")),
                        }
                    }
                }
                JsonRule::Equals(want) => {
                    let want = template::expand_json(want, self).map_err(Stop::Setup)?;
                    if subject.as_ref() != Some(&want) {
                        f.push(format!(
                            "{what}: expected {want}, got {}",
                            short(subject.as_ref())
                        ));
                    }
                }
                JsonRule::Length(n) => match as_list(&subject) {
                    Some(a) if a.len() == *n => {}
                    Some(a) => f.push(format!("{what}: expected {n} entries, got {}", a.len())),
                    None => f.push(format!(
                        "{what}: expected a list of {n}, got {}",
                        short(subject.as_ref())
                    )),
                },
                JsonRule::Sorted => match as_list(&subject) {
                    Some(a) => {
                        let strs: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                        if !is_sorted_ascii_or_lexical(&strs) {
                            f.push(format!("{what}: not in lexical or ASCII order: {strs:?}"));
                        }
                    }
                    None => f.push(format!(
                        "{what}: expected a list, got {}",
                        short(subject.as_ref())
                    )),
                },
                JsonRule::Contains(want) | JsonRule::NotContains(want) => {
                    let negate = matches!(rule, JsonRule::NotContains(_));
                    let want = template::expand_json(want, self).map_err(Stop::Setup)?;
                    let list = as_list(&subject).unwrap_or_default();
                    // `contains` of a list checks every element of it.
                    let wanted: Vec<Value> = match &want {
                        Value::Array(a) => a.clone(),
                        v => vec![v.clone()],
                    };
                    for w in wanted {
                        let has = list.contains(&w);
                        if has == negate {
                            f.push(format!(
                                "{what}: expected {}to contain {w}, got {}",
                                if negate { "not " } else { "" },
                                short(subject.as_ref())
                            ));
                        }
                    }
                }
            }
        }
        Ok(f)
    }
}

fn short(v: Option<&Value>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 300 {
                format!(
                    "{}…",
                    &s[..s.char_indices().nth(300).map(|x| x.0).unwrap_or(s.len())]
                )
            } else {
                s
            }
        }
    }
}
