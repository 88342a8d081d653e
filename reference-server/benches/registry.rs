//! Loopback benchmark for any registry URL (ours, or distribution's for comparison).
//!
//!     cargo bench -p oci-reference-server --bench registry -- --url http://127.0.0.1:5000 --pid PID
//!
//! Measures: a blob (default 1 GiB) uploaded with POST then one streamed `PUT ?digest=`, the same
//! blob downloaded, N manifest GETs by tag on 1 and on 16 connections (req/s, p50, p99), and the
//! server's peak RSS (`VmHWM` of `--pid`, Linux). Every loop is bounded by its count.
//!
//! Replicas: `--also-url URL` names a second server on the same store; the blob is then
//! downloaded through it (read-after-write across replicas) and the manifest GET connections
//! alternate between the two.
//!
//! Over TLS and with auth: `--url https://…  --ca-cert ca.pem` trusts a private CA, and the
//! environment variable `BENCH_TOKEN` is sent as `Authorization: Bearer …` on every request
//! (fetch one for `repository:bench/repo:pull,push` from the registry's token endpoint first).

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use std::time::{Duration, Instant};

struct Args {
    url: String,
    pid: Option<u32>,
    blob_mib: u64,
    requests: usize,
    repo: String,
    ca_cert: Option<std::path::PathBuf>,
    also_url: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: registry --url URL [--pid SERVER_PID] [--blob-mib 1024] [--requests 2000] [--repo bench/repo] [--ca-cert PEM] [--also-url URL]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        pid: None,
        blob_mib: 1024,
        requests: 2000,
        repo: "bench/repo".into(),
        ca_cert: None,
        also_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--url" => a.url = v().trim_end_matches('/').to_string(),
            "--pid" => a.pid = Some(v().parse().unwrap_or_else(|_| usage())),
            "--blob-mib" => a.blob_mib = v().parse().unwrap_or_else(|_| usage()),
            "--requests" => a.requests = v().parse().unwrap_or_else(|_| usage()),
            "--repo" => a.repo = v(),
            "--ca-cert" => a.ca_cert = Some(v().into()),
            "--also-url" => a.also_url = Some(v().trim_end_matches('/').to_string()),
            "--bench" => {} // passed by `cargo bench`
            _ => usage(),
        }
    }
    if a.url.is_empty() {
        // `cargo test --all-targets` runs benches without arguments: skip, do not fail.
        eprintln!("registry bench: no --url given, nothing to measure (see --help in the source)");
        std::process::exit(0)
    }
    a
}

/// One client: keep-alive pool of `pool` connections, the CA and token from the arguments.
fn client(a: &Args, pool: usize) -> reqwest::Client {
    let mut b = reqwest::Client::builder().pool_max_idle_per_host(pool);
    if let Some(p) = &a.ca_cert {
        let pem = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("PEM certificates") {
            b = b.add_root_certificate(cert);
        }
    }
    if let Ok(token) = std::env::var("BENCH_TOKEN") {
        let mut h = reqwest::header::HeaderMap::new();
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("BENCH_TOKEN is a header value");
        v.set_sensitive(true);
        h.insert(reqwest::header::AUTHORIZATION, v);
        b = b.default_headers(h);
    }
    b.build().expect("HTTP client")
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn peak_rss_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn location(base: &str, r: &reqwest::Response) -> String {
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header")
        .to_string();
    if loc.starts_with("http") {
        loc
    } else {
        format!("{base}{loc}")
    }
}

fn with_digest(loc: &str, d: &str) -> String {
    let sep = if loc.contains('?') { '&' } else { '?' };
    format!("{loc}{sep}digest={d}")
}

async fn push_small(c: &reqwest::Client, a: &Args, data: &[u8]) -> String {
    let d = sha256(data);
    let r = c
        .post(format!("{}/v2/{}/blobs/uploads/", a.url, a.repo))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "POST upload");
    let loc = location(&a.url, &r);
    let r = c
        .put(with_digest(&loc, &d))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "PUT blob");
    d
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn manifest_gets(a: &Args, conns: usize, tag: &str) -> (f64, Duration, Duration) {
    let per = a.requests / conns;
    let bases: Vec<&String> = std::iter::once(&a.url).chain(&a.also_url).collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..conns {
        let url = format!("{}/v2/{}/manifests/{}", bases[i % bases.len()], a.repo, tag);
        // One client per task: one keep-alive connection each.
        let c = client(a, 1);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for _ in 0..per {
                let t0 = Instant::now();
                let r = c
                    .get(&url)
                    .header("accept", "application/vnd.oci.image.manifest.v1+json")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
                lat.push(t0.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let total = start.elapsed();
    all.sort();
    (
        all.len() as f64 / total.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    )
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let c = client(&a, usize::MAX);
    let r = c
        .get(format!("{}/v2/", a.url))
        .send()
        .await
        .expect("registry reachable");
    assert_eq!(r.status(), 200, "GET /v2/");
    let protocol = r.version();

    // Blob content: a 1 MiB pseudo-random block repeated; hashed up front, streamed from memory
    // (the same Bytes, refcounted) so the client costs as little as possible.
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15 ^ std::process::id() as u64;
    for b in block.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let block = Bytes::from(block);
    let mut h = Sha256::new();
    for _ in 0..a.blob_mib {
        h.update(&block);
    }
    let blob_digest = format!("sha256:{}", hex::encode(h.finalize()));
    let size = a.blob_mib << 20;

    // Upload: POST then one streamed PUT.
    let cpu_up0 = a.pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    let r = c
        .post(format!("{}/v2/{}/blobs/uploads/", a.url, a.repo))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = location(&a.url, &r);
    let n = a.blob_mib;
    let blk = block.clone();
    let body =
        futures_util::stream::iter((0..n).map(move |_| Ok::<Bytes, std::io::Error>(blk.clone())));
    let r = c
        .put(with_digest(&loc, &blob_digest))
        .header("content-type", "application/octet-stream")
        .header("content-length", size.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "blob PUT: {:?}", r.text().await);
    let up = t0.elapsed();
    let cpu_up1 = a.pid.and_then(cpu_ticks);

    // Download.
    let cpu_down0 = a.pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    let r = c
        .get(format!(
            "{}/v2/{}/blobs/{}",
            a.also_url.as_ref().unwrap_or(&a.url),
            a.repo,
            blob_digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut got = 0u64;
    let mut s = r.bytes_stream();
    while let Some(chunk) = s.next().await {
        got += chunk.unwrap().len() as u64;
    }
    let down = t0.elapsed();
    let cpu_down1 = a.pid.and_then(cpu_ticks);
    assert_eq!(got, size, "downloaded size");

    // A small image to GET.
    let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = push_small(&c, &a, cfg).await;
    let layer = b"bench layer";
    let ld = push_small(&c, &a, layer).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]
    });
    let r = c
        .put(format!("{}/v2/{}/manifests/bench", a.url, a.repo))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "manifest PUT");

    let cpu0 = a.pid.and_then(cpu_ticks);
    let (rps1, p50_1, p99_1) = manifest_gets(&a, 1, "bench").await;
    let (rps16, p50_16, p99_16) = manifest_gets(&a, 16, "bench").await;
    let cpu1 = a.pid.and_then(cpu_ticks);

    let mib = |d: Duration| size as f64 / (1 << 20) as f64 / d.as_secs_f64();
    println!("registry: {} ({protocol:?})", a.url);
    if let Some(also) = &a.also_url {
        println!("second replica: {also} (blob download and half the GET connections)");
    }
    println!(
        "blob upload   {} MiB (POST + PUT): {:.2} s = {:.0} MiB/s",
        a.blob_mib,
        up.as_secs_f64(),
        mib(up)
    );
    println!(
        "blob download {} MiB (GET):        {:.2} s = {:.0} MiB/s",
        a.blob_mib,
        down.as_secs_f64(),
        mib(down)
    );
    println!(
        "manifest GET x{} on 1 connection:   {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        a.requests,
        rps1,
        p50_1.as_secs_f64() * 1e3,
        p99_1.as_secs_f64() * 1e3
    );
    println!(
        "manifest GET x{} on 16 connections: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        a.requests,
        rps16,
        p50_16.as_secs_f64() * 1e3,
        p99_16.as_secs_f64() * 1e3
    );
    let gib = size as f64 / (1u64 << 30) as f64;
    if let (Some(u0), Some(u1), Some(d0), Some(d1)) = (cpu_up0, cpu_up1, cpu_down0, cpu_down1) {
        println!(
            "server CPU per GiB: upload {:.2} s, download {:.2} s",
            (u1 - u0) as f64 / 100.0 / gib,
            (d1 - d0) as f64 / 100.0 / gib
        );
    }
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        // USER_HZ is 100 on Linux.
        let us = (c1 - c0) as f64 * 10_000.0 / (2 * (a.requests / 16 * 16).max(1)) as f64;
        println!("server CPU per manifest GET: {us:.1} us");
    }
    if let Some(pid) = a.pid {
        match peak_rss_kib(pid) {
            Some((hwm, rss)) => println!(
                "server RSS: peak {:.1} MB, now {:.1} MB",
                hwm as f64 / 1024.0,
                rss as f64 / 1024.0
            ),
            None => println!("server RSS: unavailable for pid {pid}"),
        }
    }
}
