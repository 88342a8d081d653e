//! Authentication and authorization: Basic, tokens from `/token`, rules, anonymous pull.

use crate::common::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use oci_reference_server::{AuthConfig, AuthMode, Config, Htpasswd};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

fn users() -> Htpasswd {
    Htpasswd::from_plain(&[
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
    ])
}

fn auth_config(mode: AuthMode, rules: &[&str], anonymous_pull: bool) -> AuthConfig {
    let mut a = AuthConfig::new(mode, users());
    a.rules = rules.iter().map(|r| r.parse().unwrap()).collect();
    a.anonymous_pull = anonymous_pull;
    a
}

async fn server(mode: AuthMode, rules: &[&str], anonymous_pull: bool) -> T {
    let mut c = Config::memory();
    c.auth = Some(auth_config(mode, rules, anonymous_pull));
    start_with(c).await
}

#[derive(Clone, Copy)]
enum Cred<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
    Raw(&'a [u8]),
}

fn with(b: RequestBuilder, c: Cred<'_>) -> RequestBuilder {
    match c {
        Cred::None => b,
        Cred::Basic(u, p) => b.basic_auth(u, Some(p)),
        Cred::Bearer(t) => b.bearer_auth(t),
        Cred::Raw(v) => b.header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(v).unwrap(),
        ),
    }
}

impl T {
    async fn as_(&self, c: Cred<'_>, m: Method, path: &str) -> Response {
        with(self.client.request(m, self.u(path)), c)
            .send()
            .await
            .unwrap()
    }

    async fn push_blob_as(&self, c: Cred<'_>, repo: &str, data: &[u8]) -> Response {
        with(
            self.client
                .post(self.u(&format!(
                    "/v2/{repo}/blobs/uploads/?digest={}",
                    sha256(data)
                )))
                .header("content-type", "application/octet-stream")
                .body(data.to_vec()),
            c,
        )
        .send()
        .await
        .unwrap()
    }

    /// Pushes a config, a layer and a manifest tagged `v1`; returns the manifest bytes.
    async fn push_image_as(&self, c: Cred<'_>, repo: &str) -> Vec<u8> {
        let cfg = b"{\"architecture\":\"amd64\"}";
        let layer = format!("layer of {repo}");
        for b in [&cfg[..], layer.as_bytes()] {
            let r = self.push_blob_as(c, repo, b).await;
            assert_eq!(r.status(), 201, "{repo}: {:?}", r.text().await);
        }
        let m = image_manifest(
            &sha256(cfg),
            cfg.len(),
            &[(sha256(layer.as_bytes()), layer.len())],
            json!({}),
        );
        let r = with(
            self.client
                .put(self.u(&format!("/v2/{repo}/manifests/v1")))
                .header("content-type", OCI_MANIFEST)
                .body(m.clone()),
            c,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 201, "{repo}: {:?}", r.text().await);
        m
    }

    /// `GET /token` with the given scopes; returns the status and the token (on 200).
    async fn token(&self, c: Cred<'_>, scopes: &[&str]) -> (u16, Option<String>) {
        let mut q: Vec<(&str, &str)> = vec![("service", "oci-reference-server")];
        q.extend(scopes.iter().map(|s| ("scope", *s)));
        let r = with(self.client.get(self.u("/token")).query(&q), c)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token"], v["access_token"]);
        assert!(v["expires_in"].as_u64().unwrap() > 0);
        let issued = v["issued_at"].as_str().unwrap();
        assert!(issued.ends_with('Z') && issued.len() == 20, "{issued}");
        (status, Some(v["token"].as_str().unwrap().to_string()))
    }

    async fn has_repo(&self, name: &str) -> bool {
        self.server.registry().repo_exists(name).await.unwrap()
    }
}

/// The JWT's claims (payload), decoded without checking the signature.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// `Bearer k="v",k2="v2"` → ("Bearer", {k: v, ...}).
fn challenge(r: &Response) -> (String, HashMap<String, String>) {
    let h = header(r, "www-authenticate").expect("WWW-Authenticate");
    let (scheme, rest) = h.split_once(' ').unwrap();
    let mut params = HashMap::new();
    for p in rest.split("\",") {
        let (k, v) = p.split_once('=').unwrap();
        params.insert(k.trim().to_string(), v.trim_matches('"').to_string());
    }
    (scheme.to_string(), params)
}

async fn expect_unauthorized(r: Response) -> (String, HashMap<String, String>) {
    let c = challenge(&r);
    expect_error(r, 401, "UNAUTHORIZED").await;
    c
}

#[tokio::test]
async fn basic_credentials_are_checked() {
    let t = server(AuthMode::Basic, &[], false).await;
    let alice = Cred::Basic("alice", "alice-pw");
    assert_eq!(t.as_(alice, Method::GET, "/v2/").await.status(), 200);
    for bad in [
        Cred::None,
        Cred::Basic("alice", "wrong"),
        Cred::Basic("mallory", "alice-pw"),
        Cred::Basic("alice", ""),
    ] {
        for path in ["/v2/", "/v2/r/tags/list", "/v2/_catalog"] {
            let (scheme, p) = expect_unauthorized(t.as_(bad, Method::GET, path).await).await;
            assert_eq!(scheme, "Basic");
            assert_eq!(p["realm"], "oci-reference-server");
        }
    }
    // No rules: any user may push, pull and delete.
    let m = t.push_image_as(alice, "r").await;
    let r = t
        .as_(
            Cred::Basic("bob", "bob-pw"),
            Method::GET,
            "/v2/r/manifests/v1",
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), m);
    // A cached success must not make a wrong password pass.
    let r = t
        .as_(
            Cred::Basic("bob", "bob-pwx"),
            Method::GET,
            "/v2/r/manifests/v1",
        )
        .await;
    assert_eq!(r.status(), 401);
    let d = sha256(&m);
    let r = t
        .as_(alice, Method::DELETE, &format!("/v2/r/manifests/{d}"))
        .await;
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn basic_rules_deny_with_403_and_write_nothing() {
    let t = server(
        AuthMode::Basic,
        &["alice:team/*:pull,push", "bob:*:pull"],
        false,
    )
    .await;
    let alice = Cred::Basic("alice", "alice-pw");
    let bob = Cred::Basic("bob", "bob-pw");
    let carol = Cred::Basic("carol", "carol-pw");
    t.push_image_as(alice, "team/a").await;
    assert_eq!(
        t.as_(bob, Method::GET, "/v2/team/a/manifests/v1")
            .await
            .status(),
        200
    );
    // Carol has no rule at all: authenticated, but denied.
    let body = expect_error(
        t.as_(carol, Method::GET, "/v2/team/a/tags/list").await,
        403,
        "DENIED",
    )
    .await;
    assert_eq!(body["errors"][0]["detail"]["action"], "pull");
    assert_eq!(t.as_(carol, Method::GET, "/v2/").await.status(), 200);
    expect_error(t.push_blob_as(bob, "team/b", b"x").await, 403, "DENIED").await;
    expect_error(t.push_blob_as(alice, "other", b"x").await, 403, "DENIED").await;
    assert!(!t.has_repo("team/b").await && !t.has_repo("other").await);
    let d = sha256(b"{\"architecture\":\"amd64\"}");
    let r = t
        .as_(alice, Method::DELETE, &format!("/v2/team/a/blobs/{d}"))
        .await;
    expect_error(r, 403, "DENIED").await;
    assert_eq!(
        t.as_(alice, Method::HEAD, &format!("/v2/team/a/blobs/{d}"))
            .await
            .status(),
        200
    );
    // Anonymous: asked to authenticate, not denied.
    expect_unauthorized(t.as_(Cred::None, Method::GET, "/v2/team/a/tags/list").await).await;
}

#[tokio::test]
async fn token_flow_end_to_end() {
    let t = server(AuthMode::Token, &[], false).await;
    let (scheme, p) = expect_unauthorized(t.as_(Cred::None, Method::GET, "/v2/").await).await;
    assert_eq!(scheme, "Bearer");
    assert_eq!(p["realm"], format!("{}/token", t.url));
    assert_eq!(p["service"], "oci-reference-server");
    assert!(!p.contains_key("scope"));
    let (_, p) =
        expect_unauthorized(t.as_(Cred::None, Method::GET, "/v2/app/manifests/v1").await).await;
    assert_eq!(p["scope"], "repository:app:pull");
    let (_, p) = expect_unauthorized(
        t.as_(Cred::None, Method::POST, "/v2/app/blobs/uploads/")
            .await,
    )
    .await;
    assert_eq!(p["scope"], "repository:app:push");
    let (_, p) = expect_unauthorized(t.as_(Cred::None, Method::GET, "/v2/_catalog").await).await;
    assert_eq!(p["scope"], "registry:catalog:*");
    // Basic credentials are for the realm only.
    expect_unauthorized(
        t.as_(Cred::Basic("alice", "alice-pw"), Method::GET, "/v2/")
            .await,
    )
    .await;

    let realm = p["realm"].clone();
    let r = t
        .client
        .get(&realm)
        .query(&[
            ("service", "oci-reference-server"),
            ("scope", "repository:app:pull,push"),
        ])
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let tok = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["expires_in"], 300);
    let c = claims(&tok);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], "oci-reference-server");
    assert_eq!(
        c["access"],
        json!([{"type": "repository", "name": "app", "actions": ["pull", "push"]}])
    );
    assert!(c["exp"].as_u64().unwrap() > c["iat"].as_u64().unwrap());

    let bearer = Cred::Bearer(&tok);
    assert_eq!(t.as_(bearer, Method::GET, "/v2/").await.status(), 200);
    let m = t.push_image_as(bearer, "app").await;
    let r = t.as_(bearer, Method::GET, "/v2/app/manifests/v1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), m);
    let layer = sha256(b"layer of app");
    let r = t
        .as_(bearer, Method::GET, &format!("/v2/app/blobs/{layer}"))
        .await;
    assert_eq!(r.bytes().await.unwrap(), &b"layer of app"[..]);
    // The token does not carry delete.
    let r = t
        .as_(bearer, Method::DELETE, &format!("/v2/app/blobs/{layer}"))
        .await;
    let (_, p) = expect_unauthorized(r).await;
    assert_eq!(p["error"], "insufficient_scope");
    assert_eq!(p["scope"], "repository:app:delete");

    // OAuth2 password grant, as containerd sends it.
    let r = t
        .client
        .post(t.u("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=bob&password=bob-pw&service=oci-reference-server&scope=repository%3Aapp%3Apull")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "bob");
    assert_eq!(c["access"][0]["actions"], json!(["pull"]));
    let r = t
        .client
        .post(t.u("/token"))
        .body("grant_type=password&username=bob&password=nope&scope=repository%3Aapp%3Apull")
        .send()
        .await
        .unwrap();
    let (scheme, _) = expect_unauthorized(r).await;
    assert_eq!(scheme, "Basic");
}

#[tokio::test]
async fn a_token_for_one_repository_does_not_open_another() {
    let t = server(
        AuthMode::Token,
        &["alice:a:*", "alice:b:pull", "alice:c:*"],
        false,
    )
    .await;
    let (_, tok) = t
        .token(
            Cred::Basic("alice", "alice-pw"),
            &["repository:a:pull,push"],
        )
        .await;
    let tok = tok.unwrap();
    let bearer = Cred::Bearer(&tok);
    t.push_image_as(bearer, "a").await;
    // Alice could get push on c: told to fetch a broader token.
    let (_, p) = expect_unauthorized(t.push_blob_as(bearer, "c", b"data").await).await;
    assert_eq!(p["error"], "insufficient_scope");
    assert_eq!(p["scope"], "repository:c:push");
    // She can never push to b: denied.
    expect_error(t.push_blob_as(bearer, "b", b"data").await, 403, "DENIED").await;
    let (_, p) = expect_unauthorized(t.as_(bearer, Method::GET, "/v2/b/tags/list").await).await;
    assert_eq!(p["error"], "insufficient_scope");
    assert!(!t.has_repo("b").await && !t.has_repo("c").await);
    let r = t.put_manifest("c", "v1", OCI_MANIFEST, b"{}").await;
    assert_eq!(r.status(), 401);
    assert!(!t.has_repo("c").await);
}

#[tokio::test]
async fn a_pull_only_token_cannot_push() {
    let t = server(AuthMode::Token, &["alice:*:pull,push", "bob:*:pull"], false).await;
    for (user, pw, status) in [("alice", "alice-pw", 401), ("bob", "bob-pw", 403)] {
        // Bob asks for push too; the token only carries pull.
        let (_, tok) = t
            .token(Cred::Basic(user, pw), &["repository:r:pull,push"])
            .await;
        let tok = tok.unwrap();
        let want = if user == "bob" {
            json!(["pull"])
        } else {
            json!(["pull", "push"])
        };
        assert_eq!(claims(&tok)["access"][0]["actions"], want);
        let (_, tok) = t.token(Cred::Basic(user, pw), &["repository:r:pull"]).await;
        let tok = tok.unwrap();
        // A 4 MiB body: the refusal must arrive intact, not as a reset connection.
        let r = with(
            t.client
                .post(t.u("/v2/r/blobs/uploads/?digest=sha256:0000000000000000000000000000000000000000000000000000000000000000"))
                .body(vec![7u8; 4 << 20]),
            Cred::Bearer(&tok),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), status, "{user}");
        assert!(header(&r, "location").is_none());
        let r = t
            .as_(Cred::Bearer(&tok), Method::POST, "/v2/r/blobs/uploads/")
            .await;
        assert_eq!(r.status(), status, "{user}");
        assert!(header(&r, "location").is_none());
        assert!(!t.has_repo("r").await);
    }
}

#[tokio::test]
async fn forged_and_expired_tokens_are_invalid() {
    let mut c = Config::memory();
    let mut a = auth_config(AuthMode::Token, &[], false);
    a.token_ttl = Duration::from_secs(1);
    c.auth = Some(a);
    let t = start_with(c).await;
    let (_, tok) = t
        .token(Cred::Basic("alice", "alice-pw"), &["repository:r:pull"])
        .await;
    let tok = tok.unwrap();
    assert_eq!(
        claims(&tok)["exp"].as_u64().unwrap() - claims(&tok)["iat"].as_u64().unwrap(),
        1
    );
    let path = "/v2/r/tags/list";
    // Valid: the repository is simply unknown.
    expect_error(
        t.as_(Cred::Bearer(&tok), Method::GET, path).await,
        404,
        "NAME_UNKNOWN",
    )
    .await;
    let sig_start = tok.rfind('.').unwrap() + 1;
    let mut forged = tok.clone().into_bytes();
    let i = sig_start + 5;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    // A payload granting more, with the original signature.
    let mut parts: Vec<String> = tok.split('.').map(String::from).collect();
    let mut cl = claims(&tok);
    cl["access"][0]["actions"] = json!(["pull", "push", "delete"]);
    parts[1] = URL_SAFE_NO_PAD.encode(cl.to_string());
    let escalated = parts.join(".");
    // alg=none with no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    for bad in [&forged, &escalated, &none, &"x".repeat(40)] {
        let (_, p) = expect_unauthorized(t.as_(Cred::Bearer(bad), Method::GET, path).await).await;
        assert_eq!(p["error"], "invalid_token", "{bad}");
        assert_eq!(p["scope"], "repository:r:pull");
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, p) = expect_unauthorized(t.as_(Cred::Bearer(&tok), Method::GET, path).await).await;
    assert_eq!(p["error"], "invalid_token");
}

#[tokio::test]
async fn the_token_endpoint_never_grants_more_than_the_rules() {
    let t = server(AuthMode::Token, &["alice:team/*:pull"], false).await;
    let alice = Cred::Basic("alice", "alice-pw");
    let (status, tok) = t
        .token(
            alice,
            &[
                "repository:team/x:pull,push,delete",
                "repository:other:pull",
                "registry:catalog:*",
                "repository:team/y:* repository:team/y:push",
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        claims(&tok.unwrap())["access"],
        json!([
            {"type": "repository", "name": "team/x", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
            {"type": "repository", "name": "team/y", "actions": ["pull"]},
        ])
    );
    // Bob has no rule: a token, but an empty one.
    let (_, tok) = t
        .token(Cred::Basic("bob", "bob-pw"), &["repository:team/x:pull"])
        .await;
    assert_eq!(claims(&tok.unwrap())["access"], json!([]));
    for bad in [
        Cred::Basic("alice", "x"),
        Cred::Basic("eve", "alice-pw"),
        Cred::None,
    ] {
        let r = with(
            t.client.get(t.u("/token?scope=repository:team/x:pull")),
            bad,
        )
        .send()
        .await
        .unwrap();
        let (scheme, _) = expect_unauthorized(r).await;
        assert_eq!(scheme, "Basic");
    }
    for bad in [
        "repository:Team:pull",
        "repository:x",
        "nonsense",
        "repository::pull",
    ] {
        let r = t
            .client
            .get(t.u("/token"))
            .query(&[("scope", bad)])
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "UNSUPPORTED").await;
    }
    // No scope at all: a token for /v2/ only.
    let (status, tok) = t.token(alice, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(claims(&tok.unwrap())["access"], json!([]));
}

#[tokio::test]
async fn anonymous_pull_basic_mode() {
    for on in [false, true] {
        let t = server(AuthMode::Basic, &["alice:*:*"], on).await;
        t.push_image_as(Cred::Basic("alice", "alice-pw"), "pub")
            .await;
        let expected = if on { 200 } else { 401 };
        for path in ["/v2/", "/v2/pub/manifests/v1", "/v2/pub/tags/list"] {
            let r = t.as_(Cred::None, Method::GET, path).await;
            assert_eq!(r.status(), expected, "anonymous_pull={on} {path}");
        }
        expect_unauthorized(t.push_blob_as(Cred::None, "pub", b"y").await).await;
        expect_unauthorized(t.as_(Cred::None, Method::GET, "/v2/_catalog").await).await;
        // Wrong credentials are never downgraded to anonymous.
        let r = t
            .as_(Cred::Basic("alice", "no"), Method::GET, "/v2/pub/tags/list")
            .await;
        assert_eq!(r.status(), 401);
    }
}

#[tokio::test]
async fn anonymous_pull_token_mode() {
    for on in [false, true] {
        let t = server(AuthMode::Token, &[], on).await;
        let (_, tok) = t
            .token(
                Cred::Basic("alice", "alice-pw"),
                &["repository:pub:pull,push"],
            )
            .await;
        t.push_image_as(Cred::Bearer(&tok.unwrap()), "pub").await;
        let (status, tok) = t
            .token(
                Cred::None,
                &["repository:pub:pull,push", "registry:catalog:*"],
            )
            .await;
        if !on {
            assert_eq!(status, 401);
            continue;
        }
        let tok = tok.unwrap();
        let c = claims(&tok);
        assert_eq!(c["sub"], "");
        assert_eq!(
            c["access"],
            json!([{"type": "repository", "name": "pub", "actions": ["pull"]}])
        );
        let anon = Cred::Bearer(&tok);
        assert_eq!(t.as_(anon, Method::GET, "/v2/").await.status(), 200);
        assert_eq!(
            t.as_(anon, Method::GET, "/v2/pub/manifests/v1")
                .await
                .status(),
            200
        );
        expect_error(t.push_blob_as(anon, "pub", b"z").await, 403, "DENIED").await;
        expect_error(
            t.as_(anon, Method::GET, "/v2/_catalog").await,
            403,
            "DENIED",
        )
        .await;
    }
}

async fn catalog_as(t: &T, c: Cred<'_>, q: &str) -> (Vec<String>, Option<String>) {
    let r = t.as_(c, Method::GET, &format!("/v2/_catalog{q}")).await;
    assert_eq!(r.status(), 200);
    let link = header(&r, "link");
    let v: Value = r.json().await.unwrap();
    let names = v["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    (names, link)
}

#[tokio::test]
async fn the_catalog_lists_only_pullable_repositories() {
    let rules = ["alice:team/*:*", "bob:*:*"];
    let t = server(AuthMode::Basic, &rules, false).await;
    let alice = Cred::Basic("alice", "alice-pw");
    let bob = Cred::Basic("bob", "bob-pw");
    for r in ["team/a", "other/b", "team/c", "zz"] {
        t.push_blob_as(bob, r, b"x").await;
    }
    assert_eq!(
        catalog_as(&t, bob, "").await.0,
        ["other/b", "team/a", "team/c", "zz"]
    );
    assert_eq!(catalog_as(&t, alice, "").await.0, ["team/a", "team/c"]);
    // Paging is over the filtered list: the first page of one ends where alice's list goes on.
    let (page, link) = catalog_as(&t, alice, "?n=1").await;
    assert_eq!(page, ["team/a"]);
    assert!(link.is_some(), "alice has a second repository");
    let (page, link) = catalog_as(&t, alice, "?n=1&last=team/a").await;
    assert_eq!(page, ["team/c"]);
    assert!(link.is_none(), "nothing after team/c for alice");
    // Carol has no rule: authenticated, so she may ask, but sees nothing.
    let (page, _) = catalog_as(&t, Cred::Basic("carol", "carol-pw"), "").await;
    assert!(page.is_empty());
}

#[tokio::test]
async fn the_catalog_in_token_mode_follows_the_subject() {
    let t = server(AuthMode::Token, &["alice:team/*:*", "bob:*:*"], false).await;
    let (_, bob_tok) = t
        .token(
            Cred::Basic("bob", "bob-pw"),
            &["repository:team/a:push", "repository:x:push"],
        )
        .await;
    let bob_tok = bob_tok.unwrap();
    t.push_blob_as(Cred::Bearer(&bob_tok), "team/a", b"1").await;
    t.push_blob_as(Cred::Bearer(&bob_tok), "x", b"1").await;
    // A token without the catalog scope: alice could get it, so 401 insufficient_scope.
    let (_, tok) = t
        .token(
            Cred::Basic("alice", "alice-pw"),
            &["repository:team/a:pull"],
        )
        .await;
    let (_, p) = expect_unauthorized(
        t.as_(Cred::Bearer(&tok.unwrap()), Method::GET, "/v2/_catalog")
            .await,
    )
    .await;
    assert_eq!(p["error"], "insufficient_scope");
    assert_eq!(p["scope"], "registry:catalog:*");
    let (_, tok) = t
        .token(Cred::Basic("alice", "alice-pw"), &["registry:catalog:*"])
        .await;
    assert_eq!(
        catalog_as(&t, Cred::Bearer(&tok.unwrap()), "").await.0,
        ["team/a"]
    );
    let (_, tok) = t
        .token(Cred::Basic("bob", "bob-pw"), &["registry:catalog:*"])
        .await;
    assert_eq!(
        catalog_as(&t, Cred::Bearer(&tok.unwrap()), "").await.0,
        ["team/a", "x"]
    );
}

#[tokio::test]
async fn mounting_from_a_repository_the_caller_cannot_pull_opens_a_session() {
    let t = server(AuthMode::Basic, &["bob:*:*", "alice:mine/*:*"], false).await;
    let alice = Cred::Basic("alice", "alice-pw");
    let bob = Cred::Basic("bob", "bob-pw");
    let d = sha256(b"secret layer");
    assert_eq!(
        t.push_blob_as(bob, "secret", b"secret layer")
            .await
            .status(),
        201
    );
    for q in [format!("mount={d}&from=secret"), format!("mount={d}")] {
        let r = t
            .as_(
                alice,
                Method::POST,
                &format!("/v2/mine/a/blobs/uploads/?{q}"),
            )
            .await;
        assert_eq!(r.status(), 202, "{q}");
        assert!(header(&r, "location")
            .unwrap()
            .starts_with("/v2/mine/a/blobs/uploads/"));
        let r = t
            .as_(alice, Method::HEAD, &format!("/v2/mine/a/blobs/{d}"))
            .await;
        assert_eq!(r.status(), 404, "{q}: nothing was mounted");
    }
    // Bob may pull the source: the same requests mount.
    for (q, to) in [
        (format!("mount={d}&from=secret"), "b1"),
        (format!("mount={d}"), "b2"),
    ] {
        let r = t
            .as_(bob, Method::POST, &format!("/v2/{to}/blobs/uploads/?{q}"))
            .await;
        assert_eq!(r.status(), 201, "{q}");
    }
    // Token mode: the token itself must carry pull on the source.
    let t = server(AuthMode::Token, &["bob:*:*"], false).await;
    let (_, tok) = t
        .token(bob, &["repository:src:push", "repository:dst:push"])
        .await;
    let tok = tok.unwrap();
    t.push_blob_as(Cred::Bearer(&tok), "src", b"layer").await;
    let d = sha256(b"layer");
    let path = format!("/v2/dst/blobs/uploads/?mount={d}&from=src");
    assert_eq!(
        t.as_(Cred::Bearer(&tok), Method::POST, &path)
            .await
            .status(),
        202
    );
    let (_, tok) = t
        .token(bob, &["repository:src:pull", "repository:dst:push"])
        .await;
    assert_eq!(
        t.as_(Cred::Bearer(&tok.unwrap()), Method::POST, &path)
            .await
            .status(),
        201
    );
    // Without a token, the challenge names both scopes, so one token request covers the mount.
    let (_, params) = expect_unauthorized(t.as_(Cred::None, Method::POST, &path).await).await;
    assert_eq!(
        params["scope"], "repository:dst:push repository:src:pull",
        "{params:?}"
    );
}

#[tokio::test]
async fn malformed_authorization_headers_never_cause_500() {
    let long = format!("Basic {}", "A".repeat(20_000));
    let long_bearer = format!("Bearer {}", "a.".repeat(10_000));
    let no_colon = format!("Basic {}", STANDARD.encode("alice"));
    let non_utf8_user = {
        let mut v = b"Basic ".to_vec();
        v.extend(STANDARD.encode(b"\xff\xfe:alice-pw").bytes());
        v
    };
    let cases: Vec<Vec<u8>> = vec![
        b"Basic".to_vec(),
        b"Basic ".to_vec(),
        b"Basic !!!not base64!!!".to_vec(),
        b"Basic YWxpY2U6YWxpY2UtcHc".to_vec(), // missing padding
        no_colon.into_bytes(),
        non_utf8_user,
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer a.b.c".to_vec(),
        b"Bearer ...".to_vec(),
        b"Bearer \xff\xfe\xfd".to_vec(),
        b"Negotiate abc".to_vec(),
        b"\xff\xff".to_vec(),
        b"  ".to_vec(),
        long.into_bytes(),
        long_bearer.into_bytes(),
    ];
    for mode in [AuthMode::Basic, AuthMode::Token] {
        let t = server(mode, &[], false).await;
        for h in &cases {
            for (m, path) in [
                (Method::GET, "/v2/"),
                (Method::GET, "/v2/r/manifests/x"),
                (Method::POST, "/v2/r/blobs/uploads/"),
                (Method::GET, "/v2/_catalog"),
                (Method::GET, "/token?scope=repository:r:pull"),
            ] {
                let r = t.as_(Cred::Raw(h), m.clone(), path).await;
                let s = r.status().as_u16();
                let shown = String::from_utf8_lossy(&h[..h.len().min(40)]).to_string();
                if mode == AuthMode::Basic && path.starts_with("/token") {
                    assert_eq!(s, 404, "{mode:?} {shown:?} {path}");
                } else if path.starts_with("/token") {
                    // Not Basic: ignored, so this is an anonymous request (refused).
                    assert_eq!(s, 401, "{mode:?} {shown:?} {path}");
                } else {
                    let body = expect_error(r, 401, "UNAUTHORIZED").await;
                    assert!(body["errors"][0]["message"].is_string());
                }
            }
        }
        // Lower-case scheme is still Basic.
        let ok = format!("basic {}", STANDARD.encode("alice:alice-pw"));
        let s = t
            .as_(Cred::Raw(ok.as_bytes()), Method::GET, "/v2/")
            .await
            .status();
        assert_eq!(s, if mode == AuthMode::Basic { 200 } else { 401 });
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_keep_their_answers() {
    let t = server(AuthMode::Token, &[], false).await;
    expect_error(
        t.as_(Cred::None, Method::GET, "/nothing").await,
        404,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        t.as_(Cred::None, Method::GET, "/v2/_foo").await,
        404,
        "UNSUPPORTED",
    )
    .await;
    expect_error(
        t.as_(Cred::None, Method::DELETE, "/token").await,
        405,
        "UNSUPPORTED",
    )
    .await;
    // Without auth, /token is just an unknown path.
    let plain = start().await;
    expect_error(plain.get("/token").await, 404, "UNSUPPORTED").await;
}
