//! The race layer (`fuzz --concurrency N`) against real servers on 127.0.0.1.
//!
//! * The reference server: no finding with 8 clients.
//! * A toy registry (below), correct unless told to have one race bug: a tag update that is a
//!   read-modify-write of the whole tag map with a pause in between (concurrent pushes to other
//!   tags of the repository are lost), or a blob commit that shows the first half of the blob
//!   before the rest. Each bug must be found within a bounded number of scenarios at a fixed
//!   seed, and `replay` must reproduce it at least once in a bounded number of tries. Without
//!   bugs the toy gives no finding, so what is found is the bug and not the toy.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use oci_conformance::fuzz::race::{self, RaceSummary};
use oci_conformance::fuzz::{Features, FuzzConfig};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Default)]
struct Bugs {
    /// Tag update = copy the repository's tag map, pause, write the copy back.
    lost_tag: bool,
    /// Blob commit = store the first half, pause, store the whole.
    partial_blob: bool,
    /// Upload starts answer 202 without `Location` (not a race bug: one no race can be staged
    /// on, so it must be reported rather than leave every scenario "not staged").
    no_upload_location: bool,
}

#[derive(Default)]
struct Store {
    blobs: HashMap<(String, String), Vec<u8>>,
    uploads: HashMap<String, (String, Vec<u8>)>,
    manifests: HashMap<(String, String), Vec<u8>>,
    tags: HashMap<String, BTreeMap<String, String>>,
    next: u64,
}

struct Toy {
    bugs: Bugs,
    store: Mutex<Store>,
}

const PAUSE: Duration = Duration::from_millis(3);

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"toy"}}]}}"#);
    (status, [("content-type", "application/json")], body).into_response()
}

fn query_digest(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        kv.strip_prefix("digest=")
            .map(|v| v.replace("%3A", ":").replace("%3a", ":"))
    })
}

async fn handle(
    State(toy): State<Arc<Toy>>,
    method: Method,
    uri: Uri,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let Some(rest) = path.strip_prefix("/v2/") else {
        return error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
    };
    if rest.is_empty() {
        return (StatusCode::OK, "{}").into_response();
    }
    if let Some((name, id)) = rest.split_once("/blobs/uploads/") {
        return upload(&toy, &method, &uri, name, id, body).await;
    }
    if let Some((name, d)) = rest.split_once("/blobs/") {
        let s = toy.store.lock().unwrap();
        return match (&method, s.blobs.get(&(name.to_string(), d.to_string()))) {
            // hyper drops the body of a HEAD answer and keeps its length.
            (&Method::GET | &Method::HEAD, Some(b)) => (
                StatusCode::OK,
                [("docker-content-digest", d.to_string())],
                b.clone(),
            )
                .into_response(),
            (&Method::GET | &Method::HEAD, None) => error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
        };
    }
    if let Some((name, reference)) = rest.split_once("/manifests/") {
        return manifest(&toy, &method, name, reference, body).await;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let s = toy.store.lock().unwrap();
        let tags: Vec<&String> = s
            .tags
            .get(name)
            .map(|t| t.keys().collect())
            .unwrap_or_default();
        let body = serde_json::json!({"name": name, "tags": tags}).to_string();
        return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    }
    error(StatusCode::NOT_FOUND, "NAME_UNKNOWN")
}

/// A blob commit the bug splits in two: the first half is already stored.
struct LateCommit {
    key: (String, String),
    data: Vec<u8>,
    answer: Response,
}

async fn upload(
    toy: &Toy,
    method: &Method,
    uri: &Uri,
    name: &str,
    id: &str,
    body: Bytes,
) -> Response {
    match upload_now(toy, method, uri, name, id, body) {
        Ok(mut r) if toy.bugs.no_upload_location && id.is_empty() && method == Method::POST => {
            r.headers_mut().remove("location");
            r
        }
        Ok(r) => r,
        Err(late) => {
            tokio::time::sleep(PAUSE).await;
            toy.store.lock().unwrap().blobs.insert(late.key, late.data);
            late.answer
        }
    }
}

fn upload_now(
    toy: &Toy,
    method: &Method,
    uri: &Uri,
    name: &str,
    id: &str,
    body: Bytes,
) -> Result<Response, Box<LateCommit>> {
    let location = |id: &str| format!("/v2/{name}/blobs/uploads/{id}");
    let mut s = toy.store.lock().unwrap();
    if id.is_empty() {
        if *method != Method::POST {
            return Ok(error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"));
        }
        s.next += 1;
        let id = format!("u{}", s.next);
        s.uploads.insert(id.clone(), (name.to_string(), Vec::new()));
        return Ok((StatusCode::ACCEPTED, [("location", location(&id))]).into_response());
    }
    if !s.uploads.contains_key(id) {
        return Ok(error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"));
    }
    Ok(match *method {
        Method::PATCH => {
            let data = &mut s.uploads.get_mut(id).unwrap().1;
            data.extend_from_slice(&body);
            let range = format!("0-{}", data.len().saturating_sub(1));
            (
                StatusCode::ACCEPTED,
                [("location", location(id)), ("range", range)],
            )
                .into_response()
        }
        Method::GET => {
            let n = s.uploads[id].1.len();
            let range = format!("0-{}", n.saturating_sub(1));
            (
                StatusCode::NO_CONTENT,
                [("location", location(id)), ("range", range)],
            )
                .into_response()
        }
        Method::DELETE => {
            s.uploads.remove(id);
            StatusCode::NO_CONTENT.into_response()
        }
        Method::PUT => {
            let (_, mut data) = s.uploads.remove(id).unwrap();
            data.extend_from_slice(&body);
            let want = query_digest(uri).unwrap_or_default();
            if digest(&data) != want {
                return Ok(error(StatusCode::BAD_REQUEST, "DIGEST_INVALID"));
            }
            let key = (name.to_string(), want.clone());
            let loc = format!("/v2/{name}/blobs/{want}");
            let answer = (
                StatusCode::CREATED,
                [("location", loc), ("docker-content-digest", want)],
            )
                .into_response();
            if toy.bugs.partial_blob && !s.blobs.contains_key(&key) {
                s.blobs.insert(key.clone(), data[..data.len() / 2].to_vec());
                return Err(Box::new(LateCommit { key, data, answer }));
            }
            s.blobs.insert(key, data);
            answer
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
    })
}

async fn manifest(
    toy: &Toy,
    method: &Method,
    name: &str,
    reference: &str,
    body: Bytes,
) -> Response {
    let is_digest = reference.starts_with("sha256:");
    match *method {
        Method::PUT => {
            let d = digest(&body);
            if is_digest && d != reference {
                return error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
            }
            let copied = {
                let mut s = toy.store.lock().unwrap();
                s.manifests
                    .insert((name.to_string(), d.clone()), body.to_vec());
                match (is_digest, toy.bugs.lost_tag) {
                    (true, _) => None,
                    (false, true) => Some(s.tags.get(name).cloned().unwrap_or_default()),
                    (false, false) => {
                        s.tags
                            .entry(name.to_string())
                            .or_default()
                            .insert(reference.to_string(), d.clone());
                        None
                    }
                }
            };
            if let Some(mut tags) = copied {
                // The bug: the copy is written back whole, over what others wrote meanwhile.
                tokio::time::sleep(PAUSE).await;
                tags.insert(reference.to_string(), d.clone());
                toy.store
                    .lock()
                    .unwrap()
                    .tags
                    .insert(name.to_string(), tags);
            }
            let loc = format!("/v2/{name}/manifests/{d}");
            (
                StatusCode::CREATED,
                [("location", loc), ("docker-content-digest", d)],
            )
                .into_response()
        }
        Method::GET | Method::HEAD => {
            let s = toy.store.lock().unwrap();
            let d = if is_digest {
                Some(reference.to_string())
            } else {
                s.tags.get(name).and_then(|t| t.get(reference)).cloned()
            };
            match d.and_then(|d| {
                s.manifests
                    .get(&(name.to_string(), d.clone()))
                    .map(|m| (d, m))
            }) {
                Some((d, m)) => {
                    let body = m.clone();
                    let ct = "application/vnd.oci.image.manifest.v1+json";
                    (
                        StatusCode::OK,
                        [
                            ("content-type", ct.to_string()),
                            ("docker-content-digest", d),
                        ],
                        body,
                    )
                        .into_response()
                }
                None => error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
    }
}

/// Runs `f` against a toy registry with `bugs` on 127.0.0.1.
fn with_toy<T>(bugs: Bugs, f: impl FnOnce(&str) -> T) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toy = Arc::new(Toy {
        bugs,
        store: Mutex::new(Store::default()),
    });
    let app = axum::Router::new().fallback(handle).with_state(toy);
    let server = rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let out = f(&url);
    server.abort();
    out
}

/// What the toy does not do: referrers, deletes, mounts.
fn toy_features() -> Features {
    Features {
        referrers: false,
        delete_manifests: false,
        delete_tags: false,
        delete_blobs: false,
        cross_mount: false,
        upload_cancel: true,
        lazy_deletes: false,
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oci-races-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(url: &str, out: &Path, seed: u64, clients: usize, cases: u32) -> FuzzConfig {
    let mut c = FuzzConfig::new(url);
    c.seed = seed;
    c.cases = cases;
    c.concurrency = clients;
    c.time = Some(Duration::from_secs(120));
    c.out_dir = out.to_path_buf();
    c
}

/// A reproducer must load as a case file with the engine's own loader.
fn assert_loads_as_case(path: &Path) {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let catalog: oci_conformance::spec::Catalog =
        serde_json::from_str(&std::fs::read_to_string(specs.join("requirements.json")).unwrap())
            .unwrap();
    if let Err(e) = oci_conformance::spec::Suite::load_file(path, catalog) {
        panic!("{} is not a valid case file: {e}", path.display());
    }
}

fn with_reference_server<T>(f: impl FnOnce(&str) -> T) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(oci_reference_server::spawn(
            oci_reference_server::Config::memory(),
        ))
        .expect("spawn reference server");
    let out = f(&server.url());
    rt.block_on(server.shutdown());
    out
}

#[test]
fn races_against_the_reference_server_find_nothing() {
    let out = tempdir("ref");
    let s: RaceSummary =
        with_reference_server(|url| race::run(&config(url, &out, 20261130, 8, 48)).expect("run"));
    eprintln!("{s}");
    assert!(
        s.findings.is_empty(),
        "the reference server loses a race:\n{s}"
    );
    assert_eq!(s.scenarios, 48, "cut short by the time bound:\n{s}");
    assert_eq!(s.skipped, 0, "{s}");
    // Every kind of race was staged.
    assert_eq!(s.per_kind.len(), race::scenario::Kind::ALL.len(), "{s}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn the_toy_without_bugs_gives_no_finding() {
    let out = tempdir("clean");
    let s = with_toy(Bugs::default(), |url| {
        let mut c = config(url, &out, 7, 4, 36);
        c.features = toy_features();
        race::run(&c).expect("run")
    });
    eprintln!("{s}");
    assert!(s.findings.is_empty(), "{s}");
    assert_eq!(s.scenarios, 36, "{s}");
    assert_eq!(s.skipped, 0, "{s}");
    std::fs::remove_dir_all(&out).ok();
}

/// Runs the toy with `bugs` until a finding whose signature starts with `want`, then replays
/// its reproducer `tries` times; returns (scenarios run, reproducer, replay report).
fn catch_and_replay(
    bugs: Bugs,
    tag: &str,
    want: &str,
    tries: u32,
) -> (RaceSummary, race::ReplayReport) {
    let out = tempdir(tag);
    let (s, rep) = with_toy(bugs, |url| {
        let mut c = config(url, &out, 7, 4, 60);
        c.features = toy_features();
        let s = race::run(&c).expect("run");
        let f = s
            .findings
            .iter()
            .find(|f| f.signature.starts_with(want))
            .unwrap_or_else(|| panic!("no {want}… finding in 60 scenarios:\n{s}"));
        assert!(f.found_after <= 60, "{s}");
        assert_loads_as_case(&f.path);
        let text = std::fs::read_to_string(&f.path).unwrap();
        // Each client's sequence with its times is in the file.
        assert!(text.contains("client 2: +"), "{text}");
        let rep = race::replay(&f.path, &c, tries).expect("replay");
        let again: u32 = rep
            .signatures
            .iter()
            .filter(|(sig, _)| sig.starts_with(want))
            .map(|(_, n)| n)
            .sum();
        assert!(
            again >= 1,
            "replay never reproduced it in {tries} tries: {rep}"
        );
        (s, rep)
    });
    std::fs::remove_dir_all(&out).ok();
    (s, rep)
}

#[test]
fn a_tag_update_that_is_not_atomic_loses_tags_and_is_caught() {
    let bugs = Bugs {
        lost_tag: true,
        ..Bugs::default()
    };
    let (s, rep) = catch_and_replay(bugs, "lost-tag", "race-tag", 20);
    eprintln!("{s}\nreplay: {rep}");
}

#[test]
fn a_blob_visible_before_its_commit_completes_is_caught() {
    let bugs = Bugs {
        partial_blob: true,
        ..Bugs::default()
    };
    let (s, rep) = catch_and_replay(bugs, "partial-blob", "race-get-blob-partial-content", 20);
    eprintln!("{s}\nreplay: {rep}");
}

/// An upload start without `Location` breaks every race's setup: before, each scenario was
/// counted "not staged" and the campaign ended clean (exit 0). The campaign's first push is
/// judged by the response contract, so it is a finding naming R-038, whose reproducer `replay`
/// confirms.
#[test]
fn a_setup_push_against_the_spec_is_a_finding_not_a_clean_run() {
    let bugs = Bugs {
        no_upload_location: true,
        ..Bugs::default()
    };
    let out = tempdir("setup-finding");
    with_toy(bugs, |url| {
        let mut c = config(url, &out, 7, 4, 10);
        c.features = toy_features();
        let s = race::run(&c).expect("a finding, not a setup error");
        let f = s
            .findings
            .first()
            .unwrap_or_else(|| panic!("no finding:\n{s}"));
        assert_eq!(f.requirements, ["R-038"], "{s}");
        assert_loads_as_case(&f.path);
        match oci_conformance::fuzz::replay(&f.path, &c).expect("replay") {
            oci_conformance::fuzz::ReplayOutcome::Fails { same, .. } => assert!(same),
            other => panic!("replay: {other:?}"),
        }
    });
    std::fs::remove_dir_all(&out).ok();
}
