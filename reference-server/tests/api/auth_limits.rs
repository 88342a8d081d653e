//! Password guessing: refusals cost the same for every user name, and guesses are throttled
//! per client address and per user without locking the user out of the addresses they use.

use crate::common::*;
use oci_reference_server::{AuthConfig, AuthMode, Config, Htpasswd};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

fn basic_server(users: Htpasswd, f: impl FnOnce(&mut oci_reference_server::Limits)) -> Config {
    let mut c = Config::memory();
    c.auth = Some(AuthConfig::new(AuthMode::Basic, users));
    f(&mut c.limits);
    c
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is loopback on Linux).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login(c: &reqwest::Client, t: &T, user: &str, pw: &str) -> reqwest::Response {
    c.get(t.u("/v2/"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap()
}

async fn median_refusal(c: &reqwest::Client, t: &T, user: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = login(c, t, user, "wrong password").await;
        times.push(started.elapsed());
        assert_eq!(r.status(), 401);
    }
    times.sort();
    times[2]
}

/// Regression: a user whose bcrypt cost was lower than the file's highest was refused in 3 ms
/// instead of 120 ms, so response times told which user names exist.
#[tokio::test]
async fn refusals_take_as_long_for_every_user_name() {
    let users = format!(
        "cheap:{}\ncostly:{}\n",
        Htpasswd::hash("cheap-pw", 4),
        Htpasswd::hash("costly-pw", 9)
    );
    let t = start_with(basic_server(Htpasswd::parse(&users).unwrap(), |l| {
        l.auth_failures_per_address = 1000;
        l.auth_failures_per_user = 1000;
    }))
    .await;
    let c = client_from([127, 0, 0, 1]);
    let costly = median_refusal(&c, &t, "costly").await;
    let cheap = median_refusal(&c, &t, "cheap").await;
    let unknown = median_refusal(&c, &t, "nobody").await;
    eprintln!("median refusal: costly {costly:?}, cheap {cheap:?}, unknown {unknown:?}");
    // Cost 4 checks 32 times faster than cost 9: without equalisation the ratio is ~1/32. The
    // margin leaves room for a busy machine.
    assert!(cheap * 2 >= costly, "cheap {cheap:?} vs costly {costly:?}");
    assert!(
        unknown * 2 >= costly,
        "unknown {unknown:?} vs costly {costly:?}"
    );
    assert_eq!(login(&c, &t, "cheap", "cheap-pw").await.status(), 200);
}

/// Regression: unlimited guesses (14-17 a second, forever). An address that failed too often is
/// refused with 429 `TOOMANYREQUESTS` and `Retry-After`, its right password included; other
/// addresses are not affected.
#[tokio::test]
async fn guesses_from_one_address_are_throttled() {
    let t = start_with(basic_server(
        Htpasswd::from_plain(&[("alice", "alice-pw")]),
        |l| {
            l.auth_failures_per_address = 3;
            l.auth_failures_per_user = 1000;
        },
    ))
    .await;
    let guesser = client_from([127, 0, 0, 2]);
    for _ in 0..3 {
        assert_eq!(login(&guesser, &t, "alice", "guess").await.status(), 401);
    }
    let r = login(&guesser, &t, "bob", "guess").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    expect_error(r, 429, "TOOMANYREQUESTS").await;
    assert_eq!(login(&guesser, &t, "alice", "alice-pw").await.status(), 429);
    let other = client_from([127, 0, 0, 3]);
    assert_eq!(login(&other, &t, "alice", "alice-pw").await.status(), 200);
}

/// Guesses for one user from many addresses lock that user name, but not from the addresses
/// the user logged in from before: someone else's guesses do not lock a user out.
#[tokio::test]
async fn guesses_for_one_user_do_not_lock_out_its_owner() {
    let t = start_with(basic_server(
        Htpasswd::from_plain(&[("alice", "alice-pw")]),
        |l| {
            l.auth_failures_per_address = 1000;
            l.auth_failures_per_user = 3;
        },
    ))
    .await;
    let alice = client_from([127, 0, 0, 1]);
    assert_eq!(login(&alice, &t, "alice", "alice-pw").await.status(), 200);
    for i in 0..3u8 {
        let guesser = client_from([127, 0, 1, 10 + i]);
        assert_eq!(login(&guesser, &t, "alice", "guess").await.status(), 401);
    }
    let guesser = client_from([127, 0, 1, 20]);
    let r = login(&guesser, &t, "alice", "guess").await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").is_some());
    // Alice's own address still works; other user names are not affected.
    assert_eq!(login(&alice, &t, "alice", "alice-pw").await.status(), 200);
    assert_eq!(login(&guesser, &t, "bob", "guess").await.status(), 401);
}
