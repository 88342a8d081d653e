//! The auth cases (specs/auth.json) against registries whose auth is wrong, so each negative
//! case is seen failing where it must: a registry with no auth at all, and a proxy whose token
//! service hands anyone a token that opens everything. The passing side (reference server with
//! Basic, tokens and TLS) is in tests/conformance.rs; reports and secrets in tests/reports.rs.

mod support;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use oci_conformance::engine::Engine;
use oci_conformance::http::{Credentials, Http};
use oci_conformance::repository::CaseContext;
use oci_conformance::results::Outcome;
use oci_conformance::spec::{Suite, AUTH_FEATURE};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn engine(url: &str, credentials: Option<Credentials>) -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Engine {
        http: Http::new(url, Duration::from_secs(10), 16 << 20, credentials).unwrap(),
        ctx: CaseContext {
            namespace: "authtest".into(),
            namespace2: "authtest".into(),
            run_id: oci_conformance::repository::new_run_id(),
            seed: 7,
            layout: Default::default(),
            spec_version: oci_conformance::spec::SpecVersion::Dev,
        },
        suite: Arc::new(Suite::load(&root.join("specs")).unwrap()),
    }
}

fn creds() -> Option<Credentials> {
    Some(Credentials {
        username: "alice".into(),
        password: "alice-password".into(),
    })
}

/// Outcome of every auth case, by id.
async fn run_auth_cases(engine: &Engine) -> BTreeMap<String, (Outcome, String)> {
    let mut out = BTreeMap::new();
    for (file, case) in &engine.suite.cases {
        if case.features.contains(&AUTH_FEATURE) {
            let r = engine.run_case(file, case).await;
            out.insert(case.id.clone(), (r.outcome, r.message.unwrap_or_default()));
        }
    }
    assert!(out.len() >= 10, "the auth cases went missing: {out:?}");
    out
}

fn assert_outcome(results: &BTreeMap<String, (Outcome, String)>, id: &str, want: Outcome) {
    let (got, msg) = results.get(id).unwrap_or_else(|| panic!("no case {id}"));
    assert_eq!(*got, want, "{id}: {msg}");
}

#[tokio::test]
async fn a_registry_without_auth_fails_the_anonymous_cases_and_has_no_tokens() {
    let server = oci_reference_server::spawn(oci_reference_server::Config::memory())
        .await
        .unwrap();
    let results = run_auth_cases(&engine(&server.url(), creds())).await;
    for id in [
        "auth/anonymous/base-refused",
        "auth/anonymous/pull-refused",
        "auth/anonymous/push-refused",
        "auth/anonymous/manifest-push-refused",
        "auth/anonymous/delete-refused",
        "auth/wrong-password/pull-refused",
        "auth/wrong-password/push-refused",
    ] {
        assert_outcome(&results, id, Outcome::Fail);
    }
    for id in [
        "auth/token/granted-scope-works",
        "auth/token/other-repository-read-refused",
        "auth/token/pull-only-push-refused",
    ] {
        assert_outcome(&results, id, Outcome::Unsupported);
    }
    // And the runner skips them all when the run has no credentials.
    let (_, case) = engine(&server.url(), None)
        .suite
        .cases
        .iter()
        .find(|(_, c)| c.id == "auth/anonymous/push-refused")
        .cloned()
        .unwrap();
    let skip = oci_conformance::cli::skip_reason(
        &case,
        &oci_conformance::spec::Workflow::ALL,
        oci_conformance::spec::SpecVersion::Dev,
        &[],
        false,
    );
    assert!(skip.unwrap().contains("--username"));
    server.shutdown().await;
}

/// A front for a registry without auth: it challenges requests without `Authorization` the
/// way real registries do, and its token service gives anyone (any password) a token that the
/// front then accepts for everything: the scope bugs the token cases exist to catch.
struct LooseFront {
    upstream: String,
    client: reqwest::Client,
    realm: String,
}

async fn loose_front(State(front): State<Arc<LooseFront>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let has_auth = parts.headers.contains_key("authorization");
    let json = |status: StatusCode, body: String, challenge: Option<String>| {
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(c) = challenge {
            r.headers_mut()
                .insert("www-authenticate", HeaderValue::from_str(&c).unwrap());
        }
        r
    };
    if path == "/token" {
        return if has_auth {
            json(
                StatusCode::OK,
                r#"{"token":"opens-everything"}"#.into(),
                None,
            )
        } else {
            json(StatusCode::UNAUTHORIZED, "{}".into(), None)
        };
    }
    if !has_auth {
        let name = path.strip_prefix("/v2/").and_then(|r| {
            ["/blobs/", "/manifests/", "/tags/"]
                .iter()
                .find_map(|m| r.find(m).map(|i| r[..i].to_string()))
        });
        let action = match parts.method.as_str() {
            "GET" | "HEAD" => "pull",
            "DELETE" => "delete",
            _ => "push",
        };
        let scope = name
            .map(|n| format!(",scope=\"repository:{n}:{action}\""))
            .unwrap_or_default();
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.into(),
            Some(format!(
                "Bearer realm=\"{}\",service=\"loose\"{scope}",
                front.realm
            )),
        );
    }
    let url = format!(
        "{}{}",
        front.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let mut rb = front.client.request(parts.method.clone(), url).body(bytes);
    for (k, v) in &parts.headers {
        if k != "host" && k != "authorization" {
            rb = rb.header(k, v);
        }
    }
    let Ok(up) = rb.send().await else {
        return json(StatusCode::BAD_GATEWAY, "{}".into(), None);
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = up.status();
    for (k, v) in up.headers() {
        if k != "transfer-encoding" {
            r.headers_mut().append(k, v.clone());
        }
    }
    *r.body_mut() = Body::from(up.bytes().await.unwrap_or_default());
    r
}

#[tokio::test]
async fn a_token_service_that_grants_everything_fails_the_scope_and_password_cases() {
    let server = oci_reference_server::spawn(oci_reference_server::Config::memory())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let front = Arc::new(LooseFront {
        upstream: server.url(),
        client: reqwest::Client::new(),
        realm: format!("http://{addr}/token"),
    });
    let app = axum::Router::new().fallback(loose_front).with_state(front);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let results = run_auth_cases(&engine(&format!("http://{addr}"), creds())).await;
    // What the front does right: challenges, and tokens that work.
    for id in [
        "auth/anonymous/base-refused",
        "auth/anonymous/pull-refused",
        "auth/anonymous/push-refused",
        "auth/anonymous/manifest-push-refused",
        "auth/anonymous/delete-refused",
        "auth/token/granted-scope-works",
    ] {
        assert_outcome(&results, id, Outcome::Pass);
    }
    // What it does wrong: any password gets a token, and every token opens every repository.
    for id in [
        "auth/wrong-password/pull-refused",
        "auth/wrong-password/push-refused",
        "auth/token/other-repository-read-refused",
        "auth/token/other-repository-write-refused",
        "auth/token/pull-only-push-refused",
        "auth/token/pull-only-delete-refused",
        "auth/token/insufficient-scope-challenge",
    ] {
        assert_outcome(&results, id, Outcome::Fail);
    }
    task.abort();
    server.shutdown().await;
}

/// The whole run through the CLI, as a user types it: token auth over TLS with `--ca-cert`,
/// credentials from flags. Every case passes, and no report holds the password, the Basic
/// credentials or a token.
#[test]
fn cli_run_with_tokens_over_tls_passes_and_reports_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (config, ca) =
        support::auth_config(oci_reference_server::AuthMode::Token, Some(dir.path()));
    let server = rt.block_on(oci_reference_server::spawn(config)).unwrap();
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let reports = dir.path().join("reports");
    let ca = ca.unwrap();
    let args = [
        "oci-conformance",
        "run",
        "--url",
        &server.url(),
        "--ca-cert",
        ca.to_str().unwrap(),
        "--username",
        support::USER,
        "--password",
        support::PASSWORD,
        "--spec-version",
        "dev",
        "--no-progress",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    use clap::Parser;
    let code = oci_conformance::cli::main_with(oci_conformance::cli::Cli::parse_from(args));
    assert_eq!(code, 0, "the run failed; see {}", reports.display());

    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("auth/token/other-repository-read-refused"));
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            support::USER,
            support::PASSWORD
        ))
    };
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.").unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !text.contains(support::PASSWORD),
            "password in {}",
            path.display()
        );
        assert!(
            !text.contains(&basic),
            "Basic credentials in {}",
            path.display()
        );
        assert!(!jwt.is_match(&text), "a token in {}", path.display());
        seen += 1;
    }
    assert!(seen >= 3, "expected junit, html and json reports");

    // `--insecure`: no CA given, any certificate accepted, raw requests over TLS included.
    let args = [
        "oci-conformance",
        "run",
        "--url",
        &server.url(),
        "--insecure",
        "--username",
        support::USER,
        "--password",
        support::PASSWORD,
        "--filter",
        "errors/lying-content-length-put,auth/token/pull-only-push-refused,pull/",
        "--no-progress",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    let code = oci_conformance::cli::main_with(oci_conformance::cli::Cli::parse_from(args));
    assert_eq!(
        code,
        0,
        "the --insecure run failed; see {}",
        reports.display()
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let outcome = |id: &str| {
        results["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["outcome"].as_str().unwrap().to_string())
    };
    assert_eq!(
        outcome("errors/lying-content-length-put").as_deref(),
        Some("pass")
    );
    assert_eq!(
        outcome("auth/token/pull-only-push-refused").as_deref(),
        Some("pass")
    );

    let wrong_ca = dir.path().join("server.pem");
    let args = [
        "oci-conformance",
        "run",
        "--url",
        &server.url(),
        "--ca-cert",
        wrong_ca.to_str().unwrap(),
        "--no-progress",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    // A leaf certificate as "CA" does not make the server trusted: a setup error (exit 2).
    let code = oci_conformance::cli::main_with(oci_conformance::cli::Cli::parse_from(args));
    assert_eq!(code, 2);
    rt.block_on(server.shutdown());
}

/// Refused credentials are a setup error (exit 2) before any case runs, in both modes.
#[test]
fn refused_credentials_are_one_setup_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for mode in [
        oci_reference_server::AuthMode::Basic,
        oci_reference_server::AuthMode::Token,
    ] {
        let (config, _) = support::auth_config(mode, None);
        let server = rt.block_on(oci_reference_server::spawn(config)).unwrap();
        let reports = tempfile::tempdir().unwrap();
        let url = server.url();
        let run = |password: &str| {
            use clap::Parser;
            let args = [
                "oci-conformance",
                "run",
                "--url",
                &url,
                "--username",
                support::USER,
                "--password",
                password,
                "--filter",
                "pull/",
                "--no-progress",
                "--report-dir",
                reports.path().to_str().unwrap(),
            ];
            oci_conformance::cli::main_with(oci_conformance::cli::Cli::parse_from(args))
        };
        assert_eq!(run("not-the-password"), 2, "{mode:?}");
        assert!(
            !reports.path().join("junit.xml").exists(),
            "{mode:?}: no case ran"
        );
        assert_eq!(run(support::PASSWORD), 0, "{mode:?}");
        rt.block_on(server.shutdown());
    }
}

/// The curl reproducer of a token case fetches its own token: the `OCI_TOKEN=$(curl …)` line,
/// run by bash with the credentials in the environment, yields a token the registry accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reproducers_fetch_a_working_token() {
    let (config, _) = support::auth_config(oci_reference_server::AuthMode::Token, None);
    let server = oci_reference_server::spawn(config).await.unwrap();
    let engine = engine(
        &server.url(),
        Some(Credentials {
            username: support::USER.into(),
            password: support::PASSWORD.into(),
        }),
    );
    let (file, case) = engine
        .suite
        .cases
        .iter()
        .find(|(_, c)| c.id == "auth/token/granted-scope-works")
        .unwrap();
    let r = engine.run_case(file, case).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.message);
    let script = oci_conformance::report::curl_script(&r.transcript);
    assert!(!script.contains(support::PASSWORD), "{script}");
    let line = script
        .lines()
        .find(|l| l.starts_with("OCI_TOKEN=$(curl"))
        .unwrap_or_else(|| panic!("no token line in:\n{script}"));
    assert!(
        line.contains("-u \"$OCI_USERNAME:$OCI_PASSWORD\""),
        "{line}"
    );
    let command = format!("{line}\nprintf %s \"$OCI_TOKEN\"");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(command)
            .env("OCI_USERNAME", support::USER)
            .env("OCI_PASSWORD", support::PASSWORD)
            .output()
            .expect("bash and curl")
    })
    .await
    .unwrap();
    let token = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        token.split('.').count() == 3,
        "not a token: {token:?} ({out:?})"
    );
    let repo = &r.repositories[0];
    let status = reqwest::Client::new()
        .get(format!("{}/v2/{repo}/tags/list", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status, 200,
        "the reproducer's token is accepted for the case's scope"
    );
    server.shutdown().await;
}

/// `--auth-scope` (`OCI_AUTH_SCOPE`) joins every token request of the run's flow, and the
/// token request is in the trail with the token itself replaced.
#[tokio::test]
async fn forced_scopes_join_token_requests() {
    let (config, _) = support::auth_config(oci_reference_server::AuthMode::Token, None);
    let server = oci_reference_server::spawn(config).await.unwrap();
    let http = Http::new(
        &server.url(),
        Duration::from_secs(10),
        1 << 20,
        Some(Credentials {
            username: support::USER.into(),
            password: support::PASSWORD.into(),
        }),
    )
    .unwrap()
    .with_forced_scopes(vec!["repository:elsewhere:pull".into()]);
    let trail = http
        .send_traced(oci_conformance::http::Request {
            method: "GET".into(),
            url: format!("{}/v2/some/repo/tags/list", server.url()),
            ..Default::default()
        })
        .await;
    let statuses: Vec<_> = trail.iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![Some(401), Some(200), Some(404)], "{trail:?}");
    assert!(
        trail[1]
            .url
            .contains("scope=repository%3Asome%2Frepo%3Apull"),
        "{}",
        trail[1].url
    );
    assert!(
        trail[1].url.contains("scope=repository%3Aelsewhere%3Apull"),
        "{}",
        trail[1].url
    );
    let shown = trail[1].response_body.as_deref().unwrap_or_default();
    assert!(
        shown.contains("$OCI_TOKEN") && !shown.contains("eyJ"),
        "{shown}"
    );
    server.shutdown().await;
}
