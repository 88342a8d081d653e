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
        let mut tags = s.tags.get(name).cloned().unwrap_or_default();
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
                    vec![(
                        "Content-Type".into(),
                        "application/vnd.oci.image.manifest.v1+json".into(),
                    )],
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
    for (config, off) in [
        (
            oci_reference_server::Config::memory().permissive(),
            &[
                Feature::DeleteTag,
                Feature::Mount,
                Feature::SinglePost,
                Feature::TagParam,
            ][..],
        ),
        (
            oci_reference_server::Config::memory().permissive_pre_main(),
            &[Feature::DeleteManifest, Feature::DeleteBlob][..],
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
            fuzz::run(&c).expect("run")
        });
        assert!(summary.findings.is_empty(), "{summary}");
        std::fs::remove_dir_all(&out).ok();
    }
}
