//! Registries that meter requests: `--rate` pacing, `Retry-After` (seconds or an HTTP-date), and
//! the spec's own rules for a `429 Too Many Requests`, judged on every one the run meets.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The case id the run's `429` verdict is reported under.
pub const CASE_ID: &str = "errors/too-many-requests";
/// The requirement a `429` answer is judged against: it SHOULD carry `Retry-After`.
pub const REQUIREMENT: &str = "R-148";

/// What a `Retry-After` value asks for (RFC 9110 §10.2.3: `delay-seconds` or an `HTTP-date`).
///
/// `now` is the client's clock: a date in the past means "now" (a zero wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Result<Duration, String> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still a (very long) delay, not a malformed one.
        return Ok(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    match httpdate::parse_http_date(v) {
        Ok(at) => Ok(at.duration_since(now).unwrap_or_default()),
        // Escaped here because this module sits below the reporters (whose sanitiser would
        // otherwise be the one to use): a registry's header may hold control characters.
        Err(_) => Err(format!(
            "Retry-After `{}` is neither delay-seconds nor an HTTP-date (RFC 9110 §10.2.3)",
            v.escape_debug()
        )),
    }
}

/// Spaces requests so no more than `per_second` start in any second (`--rate`): each request
/// takes the next free slot, and waits for it.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(per_second: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(None),
        }
    }

    /// The instant this request may start (reserved for it), never earlier than now.
    pub fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock().expect("pacer lock");
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }
}

/// Every `429` the run met, and what was wrong with each (R-148's verdict at the end).
#[derive(Debug, Default)]
pub struct TooManyRequests {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    answers: u32,
    /// One line per distinct problem, with the first request it was seen on.
    problems: Vec<String>,
}

/// Most distinct problems kept for the report.
const MAX_PROBLEMS: usize = 10;

impl TooManyRequests {
    /// Judges one `429` by the spec's rules: a `Retry-After` (SHOULD, R-148) that is valid
    /// RFC 9110 syntax, and, when the body is JSON, the error format with a spec code (MUST,
    /// `TOOMANYREQUESTS` is the code the spec has for this answer).
    pub fn record(&self, at: &str, retry_after: Option<&str>, json: Option<&serde_json::Value>) {
        let mut problems = Vec::new();
        match retry_after {
            None => problems.push("no Retry-After header".to_string()),
            Some(v) => {
                if let Err(e) = parse_retry_after(v, SystemTime::now()) {
                    problems.push(e);
                }
            }
        }
        // Another spec code than TOOMANYREQUESTS (DENIED, say) is allowed: only a broken
        // body is a failure.
        if let Some(Err(e)) = json.map(|v| crate::errors::check_error_entries(v, &[], &[])) {
            problems.push(format!("its JSON body breaks the error format: {e}"));
        }
        let mut seen = self.inner.lock().expect("429 lock");
        seen.answers += 1;
        for p in problems {
            if seen.problems.len() < MAX_PROBLEMS
                && !seen.problems.iter().any(|q| q.starts_with(&p))
            {
                seen.problems.push(format!("{p} (first on {at})"));
            }
        }
    }

    /// How many `429`s were met, and the problems found in them.
    pub fn verdict(&self) -> (u32, Vec<String>) {
        let seen = self.inner.lock().expect("429 lock");
        (seen.answers, seen.problems.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn retry_after_takes_seconds_and_all_three_http_date_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Ok(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Ok(Duration::ZERO));
        for date in [
            "Sun, 06 Nov 1994 08:50:07 GMT",
            "Sunday, 06-Nov-94 08:50:07 GMT",
            "Sun Nov  6 08:50:07 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Ok(Duration::from_secs(30)),
                "{date}"
            );
        }
        // A date already past asks for no wait.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Ok(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert!(parse_retry_after(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn pacer_spaces_reservations_by_the_interval() {
        let p = Pacer::new(4.0);
        let a = p.reserve();
        let b = p.reserve();
        let c = p.reserve();
        assert_eq!(b - a, Duration::from_millis(250));
        assert_eq!(c - b, Duration::from_millis(250));
    }

    #[test]
    fn a_429_is_judged_by_the_spec_rules() {
        let t = TooManyRequests::default();
        let good = json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]});
        t.record("GET /v2/", Some("1"), Some(&good));
        t.record("GET /v2/", Some("Sun, 06 Nov 1994 08:49:37 GMT"), None);
        t.record(
            "GET /v2/",
            Some("2"),
            Some(&json!({"errors": [{"code": "DENIED"}]})),
        );
        assert_eq!(t.verdict(), (3, vec![]));
        t.record("HEAD /v2/a/b/blobs/x", None, None);
        t.record("HEAD /v2/a/b/blobs/y", None, None);
        t.record("GET /v2/", Some("later"), Some(&json!({"error": "slow"})));
        let (n, problems) = t.verdict();
        assert_eq!(n, 6);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("no Retry-After header (first on HEAD"));
        assert!(problems[1].contains("`later`"));
        assert!(problems[2].contains("error format"));
    }
}
