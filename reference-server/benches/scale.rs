//! Loopback benchmark of how a registry scales with what it holds (ours, or distribution's for
//! comparison): pushes per second into one repository holding 0, 10,000 and 100,000 tags, the
//! server's RSS there and with 10,000 repositories, and paging through the tags list and the
//! catalog.
//!
//!     cargo bench -p oci-reference-server --bench scale -- --url http://127.0.0.1:5000 --pid PID
//!
//! Every push is a distinct manifest (a counter in its annotations) under a new tag, sent by one
//! client and waited for, so the figure is the per-write cost. Between checkpoints the repository
//! is filled faster: with `?tag=` (50 tags per request) where the registry honours it (it
//! answers `OCI-Tag`), else with 16 clients pushing by tag. Every loop is bounded by its count
//! and by `--max-secs`.

use sha2::{Digest as _, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Args {
    url: String,
    pid: Option<u32>,
    checkpoints: Vec<usize>,
    window: usize,
    repos: usize,
    max_secs: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: scale --url URL [--pid SERVER_PID] [--tags 0,10000,100000] [--window 500] \
         [--repos 10000] [--max-secs 3600]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        pid: None,
        checkpoints: vec![0, 10_000, 100_000],
        window: 500,
        repos: 10_000,
        max_secs: 3600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--url" => a.url = v().trim_end_matches('/').to_string(),
            "--pid" => a.pid = Some(v().parse().unwrap_or_else(|_| usage())),
            "--tags" => {
                a.checkpoints = v()
                    .split(',')
                    .map(|n| n.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--window" => a.window = v().parse().unwrap_or_else(|_| usage()),
            "--repos" => a.repos = v().parse().unwrap_or_else(|_| usage()),
            "--max-secs" => a.max_secs = v().parse().unwrap_or_else(|_| usage()),
            "--bench" => {}
            _ => usage(),
        }
    }
    if a.url.is_empty() {
        // `cargo test --all-targets` runs benches without arguments: skip, do not fail.
        eprintln!("scale bench: no --url given, nothing to measure (see the source)");
        std::process::exit(0)
    }
    a.checkpoints.sort_unstable();
    a
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn rss_mb(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "n/a (no --pid)".into();
    };
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return "unavailable".into();
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or("?".to_string(), |kib| format!("{:.1}", kib / 1024.0))
    };
    format!("{} MB (peak {} MB)", field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

struct Image {
    config: (String, usize),
    layer: (String, usize),
}

impl Image {
    fn manifest(&self, n: usize) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": self.config.0, "size": self.config.1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": self.layer.0, "size": self.layer.1}],
            "annotations": {"bench.n": n.to_string()},
        }))
        .unwrap()
    }
}

async fn push_blob(c: &reqwest::Client, url: &str, repo: &str, data: &[u8]) -> (String, usize) {
    let d = sha256(data);
    let r = c
        .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={d}"))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    if r.status() != 201 {
        // Without single-POST uploads: POST, then PUT to the session.
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("Location")
            .to_string();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("{url}{loc}")
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = c
            .put(format!("{loc}{sep}digest={d}"))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "blob PUT");
    }
    (d, data.len())
}

async fn put_manifest(c: &reqwest::Client, url: &str, repo: &str, reference: &str, body: Vec<u8>) {
    let r = c
        .put(format!("{url}/v2/{repo}/manifests/{reference}"))
        .header("content-type", MANIFEST)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "manifest PUT {reference}");
}

/// Runs `jobs` (0..n) on `conns` clients at once; stops early at `deadline`. Returns how many ran.
async fn parallel<F, Fut>(n: usize, conns: usize, deadline: Instant, job: F) -> usize
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, done, job) = (next.clone(), done.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    return;
                }
                job(c.clone(), i).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let url = a.url.clone();
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{url}/v2/"))
        .send()
        .await
        .expect("registry reachable");
    assert_eq!(r.status(), 200, "GET /v2/");
    let repo = "scale/tags";
    let run = std::process::id();
    let image = Arc::new(Image {
        config: push_blob(&c, &url, repo, format!("{{\"run\":{run}}}").as_bytes()).await,
        layer: push_blob(&c, &url, repo, format!("layer {run}").as_bytes()).await,
    });
    println!("registry: {url}");
    println!("server RSS at start: {}", rss_mb(a.pid));

    // `?tag=` honoured (OCI-Tag answered)?
    let probe = image.manifest(usize::MAX);
    let r = c
        .put(format!(
            "{url}/v2/{repo}/manifests/{}?tag=probe",
            sha256(&probe)
        ))
        .header("content-type", MANIFEST)
        .body(probe)
        .send()
        .await
        .unwrap();
    let tag_param = r.status() == 201 && r.headers().contains_key("oci-tag");
    println!(
        "fill method: {}",
        if tag_param {
            "?tag= (50 tags per request)"
        } else {
            "16 clients pushing by tag"
        }
    );

    // Warm-up in another repository: the first pushes into a fresh store also create its
    // blob directories, which would be charged to the first checkpoint.
    let warm = "scale/warmup";
    push_blob(&c, &url, warm, format!("{{\"run\":{run}}}").as_bytes()).await;
    push_blob(&c, &url, warm, format!("layer {run}").as_bytes()).await;
    for i in 0..a.window {
        if Instant::now() > deadline {
            break;
        }
        let m = image.manifest(3_000_000_000 + i);
        put_manifest(&c, &url, warm, &format!("w-{i:07}"), m).await;
    }

    let mut filled = 0usize;
    let mut serial = 0usize;
    for &checkpoint in &a.checkpoints {
        if checkpoint > filled {
            let t0 = Instant::now();
            let want = checkpoint - filled;
            let (u, img, base) = (url.clone(), image.clone(), filled);
            let ran = if tag_param {
                let per = 50; // answered with one `OCI-Tag` header each: stay under clients' 100-header limit
                let requests = want.div_ceil(per);
                parallel(requests, 4, deadline, move |c, i| {
                    let (u, img) = (u.clone(), img.clone());
                    async move {
                        let m = img.manifest(1_000_000_000 + base + i);
                        let first = base + i * per;
                        let last = (first + per).min(base + want);
                        let tags: String =
                            (first..last).map(|t| format!("tag=t-{t:07}&")).collect();
                        let reference = format!("{}?{}", sha256(&m), tags.trim_end_matches('&'));
                        put_manifest(&c, &u, repo, &reference, m).await;
                    }
                })
                .await
                    * per
            } else {
                parallel(want, 16, deadline, move |c, i| {
                    let (u, img) = (u.clone(), img.clone());
                    async move {
                        let t = base + i;
                        put_manifest(&c, &u, repo, &format!("t-{t:07}"), img.manifest(t)).await;
                    }
                })
                .await
            };
            filled += ran.min(want);
            println!(
                "filled to {filled} tags in {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            if filled < checkpoint {
                println!("stopped at --max-secs before {checkpoint} tags");
                break;
            }
        }
        let mut lat = Vec::with_capacity(a.window);
        let t0 = Instant::now();
        for _ in 0..a.window {
            if Instant::now() > deadline {
                break;
            }
            serial += 1;
            let m = image.manifest(2_000_000_000 + serial);
            let t1 = Instant::now();
            put_manifest(&c, &url, repo, &format!("m-{serial:07}"), m).await;
            lat.push(t1.elapsed());
        }
        let total = t0.elapsed();
        lat.sort();
        println!(
            "pushes at {checkpoint:>7} tags: {:.0} pushes/s (x{}, one client), p50 {:.2} ms, p99 {:.2} ms; server RSS {}",
            lat.len() as f64 / total.as_secs_f64(),
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            rss_mb(a.pid)
        );
    }

    // Paging through every tag, 1,000 per page, following `Link` (or `last`).
    let t0 = Instant::now();
    let mut pages = 0usize;
    let mut seen = 0usize;
    let mut lat = Vec::new();
    let mut next = Some(format!("{url}/v2/{repo}/tags/list?n=1000"));
    while let Some(u) = next.take() {
        if Instant::now() > deadline || pages > 1_000_000 {
            break;
        }
        let t1 = Instant::now();
        let r = c.get(&u).send().await.unwrap();
        assert_eq!(r.status(), 200, "tags list");
        let link = r
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split(['<', '>']).nth(1))
            .map(|p| format!("{url}{p}"));
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        lat.push(t1.elapsed());
        let tags = v["tags"].as_array().map_or(0, |t| t.len());
        seen += tags;
        pages += 1;
        next = link.or_else(|| {
            (tags == 1000).then(|| {
                let last = v["tags"][999].as_str().unwrap_or_default();
                format!("{url}/v2/{repo}/tags/list?n=1000&last={last}")
            })
        });
    }
    lat.sort();
    println!(
        "tags list: {seen} tags in {pages} pages of 1,000 in {:.2} s; per page p50 {:.2} ms, p99 {:.2} ms",
        t0.elapsed().as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t1 = Instant::now();
        let r = c
            .get(format!(
                "{url}/v2/{repo}/tags/list?n=100&last=t-{:07}",
                filled / 2
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        lat.push(t1.elapsed());
    }
    lat.sort();
    println!(
        "tags list page of 100 from the middle (x200): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // Many repositories: each gets the image's blobs mounted and one tagged manifest.
    if a.repos > 0 {
        let t0 = Instant::now();
        let (u, img) = (url.clone(), image.clone());
        let made = parallel(a.repos, 16, deadline, move |c, i| {
            let (u, img) = (u.clone(), img.clone());
            async move {
                let r = format!("scale/repos/r{run}-{i:06}");
                for (d, _) in [&img.config, &img.layer] {
                    let resp = c
                        .post(format!("{u}/v2/{r}/blobs/uploads/?mount={d}&from={repo}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 201, "mount");
                }
                put_manifest(&c, &u, &r, "v1", img.manifest(i)).await;
            }
        })
        .await;
        println!(
            "{made} repositories created in {:.1} s; server RSS {}",
            t0.elapsed().as_secs_f64(),
            rss_mb(a.pid)
        );
        let t0 = Instant::now();
        let mut pages = 0usize;
        let mut seen = 0usize;
        let mut next = Some(format!("{url}/v2/_catalog?n=1000"));
        while let Some(u) = next.take() {
            if Instant::now() > deadline || pages > 1_000_000 {
                break;
            }
            let r = c.get(&u).send().await.unwrap();
            assert_eq!(r.status(), 200, "catalog");
            let link = r
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(['<', '>']).nth(1))
                .map(|p| format!("{url}{p}"));
            let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            seen += v["repositories"].as_array().map_or(0, |t| t.len());
            pages += 1;
            next = link;
        }
        println!(
            "catalog: {seen} repositories in {pages} pages in {:.2} s; server RSS {}",
            t0.elapsed().as_secs_f64(),
            rss_mb(a.pid)
        );
    }
}
