//! Hostile clients: slow or idle connections, too many of them, stalled bodies, manifest floods.
//! Each test drives raw TCP where a well-behaved HTTP client cannot misbehave on purpose.

use crate::common::*;
use oci_reference_server::Config;
use reqwest::Client;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limited(f: impl FnOnce(&mut oci_reference_server::Limits)) -> Config {
    let mut c = Config::memory();
    f(&mut c.limits);
    c
}

async fn connect(t: &T) -> TcpStream {
    TcpStream::connect(t.server.addr()).await.unwrap()
}

/// Reads one HTTP response (head and a `content-length` body) within `within`; None if the
/// connection closed first, panics if nothing complete arrives in time.
async fn response(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse::<usize>().unwrap())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned());
            }
        }
        let mut chunk = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Err(_) => panic!("no complete response within {within:?}: {buf:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// True when the server closes the connection within `within` (reads are discarded).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

const GET_BASE: &[u8] = b"GET /v2/ HTTP/1.1\r\nhost: x\r\n\r\n";

/// Regression: 100 clients sending one header byte per second held their connections forever.
#[tokio::test]
async fn slow_request_head_is_cut_off() {
    let t = start_with(limited(|l| l.header_read_timeout = Duration::from_secs(1))).await;
    let mut s = connect(&t).await;
    let started = Instant::now();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let writer = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(4), writer)
        .await
        .ok();
    assert!(closed_within(&mut s, Duration::from_secs(1)).await);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Regression: idle connections were kept forever (1,124 of them exhausted the descriptors).
#[tokio::test]
async fn idle_connection_is_closed() {
    let t = start_with(limited(|l| l.idle_timeout = Duration::from_secs(1))).await;
    let mut s = connect(&t).await;
    s.write_all(GET_BASE).await.unwrap();
    let r = response(&mut s, Duration::from_secs(5)).await.unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(closed_within(&mut s, Duration::from_secs(4)).await);
}

/// Regression: connections were never capped; one over the cap now gets a clear, retryable
/// refusal and the server keeps answering the others.
#[tokio::test]
async fn connections_over_the_cap_are_refused_clearly() {
    let t = start_with(limited(|l| l.max_connections = 3)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect(&t).await;
        s.write_all(GET_BASE).await.unwrap();
        let r = response(&mut s, Duration::from_secs(5)).await.unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        held.push(s);
    }
    let mut extra = connect(&t).await;
    let _ = extra.write_all(GET_BASE).await;
    let r = response(&mut extra, Duration::from_secs(5)).await.unwrap();
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.contains("retry-after: 1"), "{r}");
    assert!(r.contains("TOOMANYREQUESTS"), "{r}");
    // A held connection still works, and a freed slot is usable again.
    held[0].write_all(GET_BASE).await.unwrap();
    let r = response(&mut held[0], Duration::from_secs(5))
        .await
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    drop(held.pop());
    // The slot is free once the server has seen the close; give it time on a busy machine.
    let mut last = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = connect(&t).await;
        let _ = again.write_all(GET_BASE).await;
        last = response(&mut again, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if last.starts_with("HTTP/1.1 200") {
            return;
        }
    }
    panic!("no slot freed after a connection closed: {last}");
}

/// Starts a PATCH announcing `len` bytes for the session at `loc` and sends only `sent` of them.
async fn stalled_patch(t: &T, loc: &str, start: u64, len: u64, sent: usize) -> TcpStream {
    let mut s = connect(t).await;
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-range: {start}-{}\r\ncontent-length: {len}\r\n\r\n",
        start + len - 1
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b'x'; sent]).await.unwrap();
    s
}

/// Regression: a client that stopped sending mid-PATCH kept its session locked, so status and
/// cancel on that session hung indefinitely.
#[tokio::test]
async fn stalled_patch_leaves_status_and_cancel_answering() {
    let t = start().await;
    let loc = t.open_upload("stall").await;
    assert_eq!(t.patch(&loc, Some("0-4"), b"hello").await.status(), 202);
    let mut stalled = stalled_patch(&t, &loc, 5, 1000, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quick = Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let r = quick.get(t.u(&loc)).send().await.expect("status answers");
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range").as_deref(), Some("0-4"));
    let r = quick
        .delete(t.u(&loc))
        .send()
        .await
        .expect("cancel answers");
    assert_eq!(r.status(), 204);
    // The stalled PATCH is told its session is gone.
    let r = response(&mut stalled, Duration::from_secs(3)).await;
    if let Some(r) = r {
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    }
    expect_error(t.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

/// A stalled body times out on its own and the session is usable again, unchanged.
#[tokio::test]
async fn stalled_body_times_out_and_releases_the_session() {
    let t = start_with(limited(|l| l.body_timeout = Duration::from_secs(1))).await;
    let loc = t.open_upload("stall").await;
    let mut stalled = stalled_patch(&t, &loc, 0, 1000, 10).await;
    let r = response(&mut stalled, Duration::from_secs(5)).await;
    if let Some(r) = r {
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    }
    let r = t.patch(&loc, Some("0-4"), b"hello").await;
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range").as_deref(), Some("0-4"));
}

/// Starts a manifest PUT announcing `len` bytes and sends only the first few.
async fn stalled_manifest(t: &T, tag: &str, len: usize) -> TcpStream {
    let mut s = connect(t).await;
    let head = format!(
        "PUT /v2/m/manifests/{tag} HTTP/1.1\r\nhost: x\r\ncontent-type: {OCI_MANIFEST}\r\ncontent-length: {len}\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Regression: 200 unfinished 4 MiB manifest PUTs took the server from 7 MB to 930 MB. Bodies
/// now share a budget; over it the answer is 429 `TOOMANYREQUESTS` with `Retry-After`.
#[tokio::test]
async fn manifest_bodies_share_a_memory_budget() {
    let t = start_with(limited(|l| l.manifest_memory = 1 << 20)).await;
    let _first = stalled_manifest(&t, "a", 700_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second = stalled_manifest(&t, "b", 700_000).await;
    let r = response(&mut second, Duration::from_secs(5)).await.unwrap();
    assert!(r.starts_with("HTTP/1.1 429"), "{r}");
    assert!(r.contains("retry-after: 1"), "{r}");
    assert!(r.contains("TOOMANYREQUESTS"), "{r}");
    // Small manifests still fit in what is left.
    t.push_image("m", "small", serde_json::json!({})).await;
    drop(_first);
    // Once the server has seen the first client leave, its share is usable again: a new body
    // of the same size is accepted (no answer while it waits for the rest).
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = stalled_manifest(&t, "c", 700_000).await;
        let waiting = tokio::time::timeout(
            Duration::from_millis(500),
            response(&mut third, Duration::from_secs(5)),
        )
        .await
        .is_err();
        if waiting {
            return;
        }
    }
    panic!("the budget freed by the first request never became usable again");
}

/// A manifest body trickled in under the per-frame timeout still has a deadline as a whole.
#[tokio::test]
async fn manifest_body_has_a_deadline() {
    let t = start_with(limited(|l| {
        l.manifest_body_timeout = Duration::from_secs(1)
    }))
    .await;
    let mut s = stalled_manifest(&t, "slow", 1000).await;
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let r = response(&mut s, Duration::from_secs(3)).await.unwrap();
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
}
