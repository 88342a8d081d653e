//! The fuzzer against real HTTP servers on 127.0.0.1 ephemeral ports.
//!
//! * `seeded_run_against_reference_server_passes`: both layers, a few hundred cases, against the
//!   in-process reference server (memory storage). Any finding fails the test with its reproducer.
//! * `oracle_catches_*`: a tiny, purpose-built misbehaving registry (below) must be caught, the
//!   failure shrunk, and a reproducer written that `replay` confirms.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_conformance::fuzz::{self, FuzzConfig, Layer, ReplayOutcome};
use support::FaultyProxy;

mod support;

/// Bugs the toy registry can be told to have.
#[derive(Clone, Copy, Default)]
struct Bugs {
    /// A manifest reference that looks like a digest but is not a valid sha256 one → 500.
    malformed_digest_500: bool,
    /// `tags/list` ignores `n` (answers every tag).
    ignore_n: bool,
}

/// Just enough of a registry for the fuzzer's fixture and the probes under test: monolithic blob
/// uploads, manifests by tag or digest, tag lists. Everything else is 404. One thread per
/// connection, HTTP/1.1 keep-alive, `Content-Length` bodies only.
struct Toy {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Store {
    manifests: BTreeMap<(String, String), Vec<u8>>,
    tags: BTreeMap<String, Vec<String>>,
}

impl Toy {
    fn start(bugs: Bugs) -> Toy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let store = Arc::new(Mutex::new(Store::default()));
        let uploads = Arc::new(AtomicU64::new(0));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (store, uploads) = (store.clone(), uploads.clone());
                std::thread::spawn(move || serve(conn, bugs, &store, &uploads));
            }
        });
        Toy { addr, stop }
    }
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Toy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn serve(conn: TcpStream, bugs: Bugs, store: &Mutex<Store>, uploads: &AtomicU64) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut w = conn.try_clone().expect("clone");
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let (status, headers, out) = handle(&method, &target, body, bugs, store, uploads);
        let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", out.len());
        for (k, v) in headers {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        let mut bytes = resp.into_bytes();
        if method != "HEAD" {
            bytes.extend_from_slice(&out);
        }
        if w.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn err(status: u16, code: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":""}}]}}"#);
    (
        status,
        vec![("Content-Type".into(), "application/json".into())],
        body.into_bytes(),
    )
}

fn handle(
    method: &str,
    target: &str,
    body: Vec<u8>,
    bugs: Bugs,
    store: &Mutex<Store>,
    uploads: &AtomicU64,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/v2/" {
        return (200, vec![], b"{}".to_vec());
    }
    if let Some(id) = path.strip_prefix("/upload/") {
        // PUT /upload/<id>?digest=…: the blob itself is not needed by the probes under test.
        let _ = id;
        return if method == "PUT" && query.starts_with("digest=") {
            (
                201,
                vec![("Location".into(), "/v2/x/blobs/y".into())],
                vec![],
            )
        } else {
            err(404, "BLOB_UPLOAD_UNKNOWN")
        };
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return err(404, "NAME_UNKNOWN");
    };
    if let Some(name) = rest.strip_suffix("/blobs/uploads/") {
        let _ = name;
        let id = uploads.fetch_add(1, Ordering::Relaxed);
        return (
            202,
            vec![("Location".into(), format!("/upload/{id}"))],
            vec![],
        );
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        if !fuzz::grammar::valid_name(name) {
            return err(400, "NAME_INVALID");
        }
        let s = store.lock().unwrap();
        let Some(mut tags) = s.tags.get(name).cloned() else {
            return err(404, "NAME_UNKNOWN");
        };
        tags.sort();
        if let Some(last) = query.split('&').find_map(|kv| kv.strip_prefix("last=")) {
            tags.retain(|t| t.as_str() > last);
        }
        let n = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("n="))
            .and_then(|n| n.parse::<usize>().ok());
        if let (Some(n), false) = (n, bugs.ignore_n) {
            tags.truncate(n);
        }
        let v = serde_json::json!({"name": name, "tags": tags});
        return (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            v.to_string().into_bytes(),
        );
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        let looks_digest = reference.contains(':');
        let valid_digest = reference.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if looks_digest && !valid_digest {
            return if bugs.malformed_digest_500 {
                (500, vec![], b"internal error".to_vec())
            } else {
                err(400, "DIGEST_INVALID")
            };
        }
        let mut s = store.lock().unwrap();
        return match method {
            "PUT" => {
                let digest = format!(
                    "sha256:{}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
                );
                s.manifests
                    .insert((name.into(), digest.clone()), body.clone());
                s.manifests.insert((name.into(), reference.into()), body);
                if !looks_digest {
                    let t = s.tags.entry(name.into()).or_default();
                    if !t.iter().any(|x| x == reference) {
                        t.push(reference.into());
                    }
                }
                (
                    201,
                    vec![
                        ("Location".into(), format!("/v2/{name}/manifests/{digest}")),
                        ("Docker-Content-Digest".into(), digest),
                    ],
                    vec![],
                )
            }
            "GET" | "HEAD" => match s.manifests.get(&(name.to_string(), reference.to_string())) {
                Some(m) => (
                    200,
                    vec![
                        (
                            "Content-Type".into(),
                            "application/vnd.oci.image.manifest.v1+json".into(),
                        ),
                        (
                            "Docker-Content-Digest".into(),
                            format!(
                                "sha256:{}",
                                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(m))
                            ),
                        ),
                    ],
                    m.clone(),
                ),
                None => err(404, "MANIFEST_UNKNOWN"),
            },
            _ => err(405, "UNSUPPORTED"),
        };
    }
    err(404, "NAME_UNKNOWN")
}

fn config(url: &str, out: &Path, kinds: &[&str], seed: u64) -> FuzzConfig {
    let mut c = FuzzConfig::new(url);
    c.seed = seed;
    c.cases = 300;
    c.time = Some(Duration::from_secs(60));
    c.layer = Layer::Request;
    c.out_dir = out.to_path_buf();
    c.probe_kinds = kinds.iter().map(|s| s.to_string()).collect();
    c.timeout = Duration::from_secs(5);
    c
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "oci-fuzz-test-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every reproducer must be a valid case file for the engine's own loader (structure, requirement
/// ids, templates), so it can be moved into specs/ as a regression case.
fn assert_loads_as_case(path: &Path) {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let catalog: oci_conformance::spec::Catalog =
        serde_json::from_str(&std::fs::read_to_string(specs.join("requirements.json")).unwrap())
            .unwrap();
    if let Err(e) = oci_conformance::spec::Suite::load_file(path, catalog) {
        panic!("{} is not a valid case file: {e}", path.display());
    }
}

fn read_case(path: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"][0].clone()
}

#[test]
fn oracle_catches_500_on_malformed_digest_and_shrinks_it() {
    let toy = Toy::start(Bugs {
        malformed_digest_500: true,
        ..Bugs::default()
    });
    let out = tempdir("500");
    let summary = fuzz::run(&config(&toy.url(), &out, &["get-manifest"], 7)).expect("run");
    eprintln!("{summary}");
    let f = summary
        .findings
        .iter()
        .find(|f| f.signature.contains("5xx"))
        .unwrap_or_else(|| panic!("the 500 was not caught: {summary}"));
    assert!(
        f.path.starts_with(&out) && f.path.exists(),
        "{}",
        f.path.display()
    );
    // Exactly one file per signature, named after it.
    assert_eq!(
        f.path.file_name().unwrap().to_str().unwrap(),
        format!("{}.json", f.signature)
    );
    for x in &summary.findings {
        assert_loads_as_case(&x.path);
    }
    let case = read_case(&f.path);
    let note = case["note"].as_str().unwrap();
    assert!(
        note.contains("\nfuzz: {") && note.contains("\"input\":{\"probe\":\"get-manifest\""),
        "{note}"
    );
    let last = case["steps"].as_array().unwrap().last().unwrap().clone();
    // Shrunk: the failing request is a plain GET/HEAD of a short non-sha256 "digest", with no
    // extra headers left over from generation.
    let path = last["request"]["path"].as_str().unwrap();
    let reference = path.rsplit("/manifests/").next().unwrap();
    assert!(reference.contains(':'), "{reference}");
    assert!(reference.len() <= 72, "not shrunk: {reference}");
    assert!(
        last["request"]["headers"]
            .as_object()
            .is_none_or(|h| !h.keys().any(|k| k.starts_with("X-Fuzz"))),
        "{last}"
    );
    assert!(!last["expect"]["status"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(500)));
    // Steps before it are setup steps that rebuild the fixture in `${repo2}`.
    assert!(case["steps"][0]["setup"].as_bool().unwrap());
    assert!(path.contains("${repo"), "{path}");

    // Replay: still fails against the buggy server, passes against a fixed one.
    match fuzz::replay(&f.path, &config(&toy.url(), &out, &[], 7)).expect("replay") {
        ReplayOutcome::Fails { same, .. } => assert!(same),
        ReplayOutcome::Passes => panic!("replay against the buggy server passed"),
    }
    let fixed = Toy::start(Bugs::default());
    assert!(matches!(
        fuzz::replay(&f.path, &config(&fixed.url(), &out, &[], 7)).expect("replay"),
        ReplayOutcome::Passes
    ));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn oracle_catches_ignored_n() {
    let toy = Toy::start(Bugs {
        ignore_n: true,
        ..Bugs::default()
    });
    let out = tempdir("n");
    let summary = fuzz::run(&config(&toy.url(), &out, &["list-tags"], 11)).expect("run");
    let f = summary
        .findings
        .iter()
        .find(|f| f.signature == "request-list-tags-more-than-n")
        .unwrap_or_else(|| panic!("ignored n was not caught: {summary}"));
    assert_loads_as_case(&f.path);
    let case = read_case(&f.path);
    assert_eq!(case["requirements"][0], "R-092");
    // Shrunk to the smallest n that shows it.
    let q = case["steps"].as_array().unwrap().last().unwrap()["request"]["query"].clone();
    assert_eq!(
        q[0],
        serde_json::json!(["n", "0"])
            .get(0)
            .map(|_| q[0].clone())
            .unwrap()
    );
    assert!(matches!(q[0][1].as_str(), Some("0") | Some("1")), "{q}");
    // The same toy without the bug passes the same probes.
    let fixed = Toy::start(Bugs::default());
    let out2 = tempdir("n-fixed");
    let s2 = fuzz::run(&config(&fixed.url(), &out2, &["list-tags"], 11)).expect("run");
    assert!(s2.findings.is_empty(), "{s2}");
    assert!(s2.request_cases >= 100, "{s2}");
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&out2).ok();
}

/// Runs the reference server on its own runtime (the fuzzer blocks its thread).
fn with_reference_server<T>(config: oci_reference_server::Config, f: impl FnOnce(&str) -> T) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(oci_reference_server::spawn(config))
        .expect("spawn reference server");
    let out = f(&server.url());
    rt.block_on(server.shutdown());
    out
}

#[test]
fn seeded_run_against_reference_server_passes() {
    let out = tempdir("ref");
    let summary = with_reference_server(oci_reference_server::Config::memory(), |url| {
        let mut c = FuzzConfig::new(url);
        c.seed = 20261123;
        c.cases = 320;
        c.max_ops = 8;
        c.time = Some(Duration::from_secs(90));
        c.layer = Layer::Both;
        c.out_dir = out.clone();
        fuzz::run(&c).expect("run")
    });
    eprintln!("{summary}");
    assert!(
        summary.findings.is_empty(),
        "the reference server breaks the spec:\n{summary}"
    );
    // Both layers really ran, and the run was not cut short by the time bound.
    assert_eq!(summary.cases(), 320, "{summary}");
    assert!(
        summary.request_cases >= 200 && summary.model_cases >= 60,
        "{summary}"
    );
    assert!(summary.requests > 2000, "{summary}");
    std::fs::remove_dir_all(&out).ok();
}

/// The fuzzer must not fail what the spec permits either: against both permissive profiles
/// (with the features they switch off declared off), no finding. Pins a false failure: a
/// DELETE of a reference that is neither tag nor digest refused with 405 while tag deletion is
/// off (the registry may take it for a tag).
#[test]
fn seeded_runs_against_the_permissive_profiles_find_nothing() {
    use oci_conformance::spec::Feature;
    use oci_conformance::spec::SpecVersion;
    for (config, off, version) in [
        (
            oci_reference_server::Config::memory().permissive(),
            &[
                Feature::DeleteTag,
                Feature::Mount,
                Feature::SinglePost,
                Feature::TagParam,
            ][..],
            SpecVersion::Dev,
        ),
        (
            // Without Docker-Content-Digest: allowed before main only.
            oci_reference_server::Config::memory().permissive_pre_main(),
            &[Feature::DeleteManifest, Feature::DeleteBlob][..],
            SpecVersion::V1_1_1,
        ),
    ] {
        let out = tempdir("permissive");
        let summary = with_reference_server(config, |url| {
            let mut c = FuzzConfig::new(url);
            c.seed = 7;
            c.cases = 300;
            c.max_ops = 8;
            c.time = Some(Duration::from_secs(60));
            c.layer = Layer::Both;
            c.out_dir = out.clone();
            c.features = fuzz::Features::without(off);
            c.version = version;
            fuzz::run(&c).expect("run")
        });
        assert!(summary.findings.is_empty(), "{summary}");
        std::fs::remove_dir_all(&out).ok();
    }
}

/// One deliberate bug each, injected by a proxy in front of the reference server (which stays
/// correct behind it): the fuzz budgets below require each to be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// DELETE of an existing manifest answers 202 and deletes nothing.
    DeleteNotDone,
    /// A closing PUT whose `?digest=` does not match the data is answered 201.
    DigestMismatchAccepted,
    /// A manifest delete answers 200 where the spec requires 202.
    OkInsteadOfAccepted,
    /// Mount answers (201 and 202) lack `Location`.
    NoLocation,
    /// Upload starts (`POST …/blobs/uploads/`, no mount) answer 202 without `Location`: the
    /// fuzzer's own fixture push meets it first, and must report it, not stop.
    NoUploadLocation,
    /// Every upload start is refused with 403: a registry that will not take our writes, which
    /// is a setup error (exit 2), not a finding.
    RefusesWrites,
    /// Manifest GET and HEAD answers lack `Docker-Content-Digest` (a MUST on main).
    NoDigestHeader,
    /// `MANIFEST_UNKNOWN` is answered as `NAME_UNKNOWN`, in repositories that exist too.
    WrongErrorCode,
    /// A PUT to an existing tag stores the manifest but leaves the tag where it was.
    TagNotMoved,
    /// A PATCH after the first chunk is acknowledged (202, advanced `Range`) and dropped.
    ChunkLost,
}

/// The query's `digest` is `sha256:` and 64 lowercase hex digits.
fn well_formed_digest(query: &str) -> bool {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("digest="))
        .map(|d| d.replace("%3A", ":"))
        .and_then(|d| d.strip_prefix("sha256:").map(str::to_string))
        .is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

async fn buggy_front(
    axum::extract::State(p): axum::extract::State<Arc<FaultyProxy<Bug>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::Method;
    let (parts, pq, body) = support::received(req).await;
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let empty = axum::http::HeaderMap::new();
    let manifest_ref = path
        .rsplit_once("/manifests/")
        .map(|(_, r)| r.to_string())
        .filter(|_| path.starts_with("/v2/"));
    let mut answer: Option<support::Answered> = None;
    match p.bug {
        Bug::DeleteNotDone if method == Method::DELETE && manifest_ref.is_some() => {
            // Honest about what is absent, silent about what it keeps.
            let held = p
                .forward(&Method::HEAD, &pq, &empty, bytes::Bytes::new())
                .await;
            if held.0 == 200 {
                answer = Some((202, vec![], bytes::Bytes::new()));
            }
        }
        Bug::TagNotMoved if method == Method::PUT => {
            if let Some(tag) = manifest_ref.as_ref().filter(|r| !r.contains(':')) {
                let held = p
                    .forward(&Method::HEAD, &pq, &parts.headers, bytes::Bytes::new())
                    .await;
                let digest = format!(
                    "sha256:{}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
                );
                if held.0 == 200 && header_of(&held.1, "docker-content-digest") != Some(&digest) {
                    let by_digest = path.replacen(
                        &format!("/manifests/{tag}"),
                        &format!("/manifests/{digest}"),
                        1,
                    );
                    answer = Some(
                        p.forward(&method, &by_digest, &parts.headers, body.clone())
                            .await,
                    );
                }
            }
        }
        Bug::ChunkLost if method == Method::PATCH => {
            let range = parts
                .headers
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
            if let Some((_, end)) = range.filter(|(start, _)| *start > 0) {
                answer = Some((
                    202,
                    vec![
                        ("Location".into(), pq.clone()),
                        ("Range".into(), format!("0-{end}")),
                    ],
                    bytes::Bytes::new(),
                ));
            }
        }
        _ => {}
    }
    let (mut status, mut headers, mut out) = match answer {
        Some(a) => a,
        None => p.forward(&method, &pq, &parts.headers, body).await,
    };
    let upload_post = method == Method::POST && path.ends_with("/blobs/uploads/");
    match p.bug {
        // Only well-formed digests: a malformed one is still refused.
        Bug::DigestMismatchAccepted
            if method == Method::PUT
                && path.contains("/blobs/uploads/")
                && status == 400
                && well_formed_digest(parts.uri.query().unwrap_or("")) =>
        {
            let name = path
                .strip_prefix("/v2/")
                .and_then(|r| r.split_once("/blobs/uploads/"))
                .map_or("", |(n, _)| n);
            let digest = parts
                .uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("digest="))
                .unwrap_or("")
                .replace("%3A", ":");
            status = 201;
            headers = vec![("Location".into(), format!("/v2/{name}/blobs/{digest}"))];
            out = bytes::Bytes::new();
        }
        Bug::OkInsteadOfAccepted
            if method == Method::DELETE && manifest_ref.is_some() && status == 202 =>
        {
            status = 200;
        }
        Bug::NoLocation if upload_post && pq.contains("mount=") => {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("location"))
        }
        Bug::NoUploadLocation if upload_post && !pq.contains("mount=") && status == 202 => {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("location"))
        }
        Bug::RefusesWrites if upload_post => {
            (status, headers, out) = (
                403,
                vec![("Content-Type".into(), "application/json".into())],
                bytes::Bytes::from_static(br#"{"errors":[{"code":"DENIED","message":""}]}"#),
            );
        }
        Bug::NoDigestHeader
            if manifest_ref.is_some() && (method == Method::GET || method == Method::HEAD) =>
        {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("docker-content-digest"))
        }
        Bug::WrongErrorCode => {
            let s = String::from_utf8_lossy(&out).replace("MANIFEST_UNKNOWN", "NAME_UNKNOWN");
            out = bytes::Bytes::from(s);
        }
        _ => {}
    }
    support::respond(&method, (status, headers, out))
}

/// The reference server behind a proxy with `bug`; `f` gets the proxy's URL.
fn with_buggy_server<T>(bug: Bug, f: impl FnOnce(&str) -> T) -> T {
    support::with_faulty_proxy(bug, buggy_front, |_, url| f(url))
}

/// Fuzz budget: each single-bug registry is caught within 300 cases at a fixed seed, with the
/// requirement ids a conformance case would name. The campaign stops at the first finding, so
/// `found_after` is the number of cases it took.
#[test]
fn each_single_bug_registry_is_caught_within_300_cases() {
    let expectations: &[(Bug, &[&str])] = &[
        (Bug::DeleteNotDone, &["R-120"]),
        (Bug::DigestMismatchAccepted, &["R-059"]),
        (Bug::OkInsteadOfAccepted, &["R-117"]),
        (Bug::NoLocation, &["R-066"]),
        (Bug::NoUploadLocation, &["R-038"]),
        (Bug::NoDigestHeader, &["R-018"]),
        (Bug::WrongErrorCode, &["R-022"]),
        (Bug::TagNotMoved, &["R-017"]),
        (Bug::ChunkLost, &["R-054", "R-061"]),
    ];
    // Two at a time: each run waits on its servers most of the time.
    let summaries: Vec<_> = expectations
        .chunks(2)
        .flat_map(|pair| {
            std::thread::scope(|s| {
                let handles: Vec<_> = pair
                    .iter()
                    .map(|(bug, _)| {
                        s.spawn(move || {
                            let out = tempdir("budget");
                            let summary = with_buggy_server(*bug, |url| {
                                let mut c = FuzzConfig::new(url);
                                c.seed = 7;
                                c.cases = 300;
                                c.time = Some(Duration::from_secs(120));
                                c.layer = Layer::Both;
                                c.out_dir = out.clone();
                                c.max_shrink_iters = 32;
                                c.batch = 16;
                                c.stop_at_first_finding = true;
                                fuzz::run(&c).expect("run")
                            });
                            std::fs::remove_dir_all(&out).ok();
                            summary
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("fuzz thread"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut report = Vec::new();
    let mut missed = Vec::new();
    for ((bug, reqs), summary) in expectations.iter().zip(summaries) {
        match summary.findings.first() {
            Some(f) if reqs.iter().any(|r| f.requirements.contains(r)) => report.push(format!(
                "{bug:?}: found after {} cases: {}",
                f.found_after, f.message
            )),
            other => missed.push(format!(
                "{bug:?}: wanted a finding naming {reqs:?}, got {:?}\n{summary}",
                other.map(|f| &f.message)
            )),
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

/// Pins a false failure: on a registry that leaves `Link` off a full tags page (the permissive
/// profile's `page_links` off, a MAY), the model took that page for the last one and reported
/// tags missing; a client goes on with `last` (R-092, R-096). The reproducer the false finding
/// wrote must now pass against the same profile.
#[test]
fn full_tag_page_without_link_is_followed_with_last() {
    use oci_conformance::spec::Feature;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-full-tag-page-without-link.json");
    let out = tempdir("full-page");
    let outcome =
        with_reference_server(oci_reference_server::Config::memory().permissive(), |url| {
            let mut c = FuzzConfig::new(url);
            c.out_dir = out.clone();
            c.features = fuzz::Features::without(&[
                Feature::DeleteTag,
                Feature::Mount,
                Feature::SinglePost,
                Feature::TagParam,
            ]);
            fuzz::replay(&path, &c).expect("replay")
        });
    std::fs::remove_dir_all(&out).ok();
    assert!(matches!(outcome, ReplayOutcome::Passes), "{outcome:?}");
}

/// Issue 12: a registry whose upload start answers 202 without `Location` ended the run with a
/// setup error (exit 2) because the fixture push could not go on. The fixture push is judged by
/// the response contract, so it is a finding naming R-038, with the push as its reproducer, and
/// `replay` confirms it against the same registry and passes against a correct one.
#[test]
fn upload_start_without_location_in_the_fixture_push_is_a_finding_not_a_setup_error() {
    let out = tempdir("setup-finding");
    with_buggy_server(Bug::NoUploadLocation, |url| {
        let mut c = FuzzConfig::new(url);
        c.seed = 7;
        c.cases = 20;
        c.layer = Layer::Request;
        c.out_dir = out.clone();
        let summary = fuzz::run(&c).expect("a finding, not a setup error");
        let f = summary
            .findings
            .first()
            .unwrap_or_else(|| panic!("no finding: {summary}"));
        assert_eq!(f.requirements, ["R-038"], "{summary}");
        assert!(f.signature.starts_with("setup-start-upload"), "{summary}");
        assert_loads_as_case(&f.path);
        let case = read_case(&f.path);
        let last = case["steps"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["request"]["method"], "POST", "{last}");
        assert_eq!(last["expect"]["status"], serde_json::json!([202]), "{last}");
        match fuzz::replay(&f.path, &c).expect("replay") {
            ReplayOutcome::Fails { same, .. } => assert!(same),
            ReplayOutcome::Passes => panic!("replay against the buggy server passed"),
        }
        let fixed = with_reference_server(oci_reference_server::Config::memory(), |url| {
            fuzz::replay(&f.path, &FuzzConfig::new(url)).expect("replay")
        });
        assert!(matches!(fixed, ReplayOutcome::Passes), "{fixed:?}");
    });
    std::fs::remove_dir_all(&out).ok();
}

/// The other side: a registry that refuses our writes (403 on every upload start) is not a
/// registry we can fuzz, and says so as a setup error.
#[test]
fn a_registry_that_refuses_the_fixture_push_is_a_setup_error() {
    let out = tempdir("refused");
    let result = with_buggy_server(Bug::RefusesWrites, |url| {
        let mut c = FuzzConfig::new(url);
        c.cases = 10;
        c.layer = Layer::Request;
        c.out_dir = out.clone();
        fuzz::run(&c)
    });
    match result {
        Err(fuzz::FuzzError::Setup(e)) => assert!(e.contains("403"), "{e}"),
        other => panic!("wanted a setup error, got {other:?}"),
    }
    std::fs::remove_dir_all(&out).ok();
}
