use crate::common::*;
use oci_reference_server::Config;
use reqwest::Method;
use serde_json::{json, Value};

async fn tag_all(t: &T, repo: &str, tags: &[&str]) {
    let c = t.push_blob(repo, b"{}").await;
    let m = image_manifest(&c, 2, &[], json!({}));
    for tag in tags {
        assert_eq!(
            t.put_manifest(repo, tag, OCI_MANIFEST, &m).await.status(),
            201
        );
    }
}

async fn tags(t: &T, q: &str) -> (Vec<String>, Option<String>) {
    let r = t.get(&format!("/v2/a/tags/list{q}")).await;
    assert_eq!(r.status(), 200, "{q}");
    let link = header(&r, "link");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "a");
    let tags = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    (tags, link)
}

#[tokio::test]
async fn tags_are_listed_in_ascii_order() {
    let t = start().await;
    tag_all(&t, "a", &["b", "a", "B", "test1", "TEST1", "_x", "1"]).await;
    let (all, link) = tags(&t, "").await;
    assert_eq!(all, ["1", "B", "TEST1", "_x", "a", "b", "test1"]);
    assert!(link.is_none());
}

#[tokio::test]
async fn n_and_last_paginate_with_link() {
    let t = start().await;
    tag_all(&t, "a", &["t1", "t2", "t3", "t4", "t5"]).await;
    let (page, link) = tags(&t, "?n=2").await;
    assert_eq!(page, ["t1", "t2"]);
    assert_eq!(
        link.as_deref(),
        Some("</v2/a/tags/list?n=2&last=t2>; rel=\"next\"")
    );
    let (page, _) = tags(&t, "?n=2&last=t2").await;
    assert_eq!(page, ["t3", "t4"]);
    let (page, link) = tags(&t, "?n=2&last=t4").await;
    assert_eq!(page, ["t5"]);
    assert!(link.is_none());
    // `last` that does not exist, and `last` without `n`.
    let (page, _) = tags(&t, "?last=t25").await;
    assert_eq!(page, ["t3", "t4", "t5"]);
    let (page, link) = tags(&t, "?n=100").await;
    assert_eq!(page.len(), 5);
    assert!(link.is_none());
    let (page, link) = tags(&t, "?n=5").await;
    assert_eq!(page.len(), 5);
    assert!(link.is_none());
}

#[tokio::test]
async fn head_on_listings_has_get_headers_and_no_body() {
    let t = start().await;
    tag_all(&t, "a", &["t1", "t2"]).await;
    for p in [
        "/v2/a/tags/list".to_string(),
        format!("/v2/a/referrers/{}", sha256(b"x")),
        "/v2/".to_string(),
    ] {
        let g = t.get(&p).await;
        let len = header(&g, "content-length");
        let body = g.bytes().await.unwrap();
        assert_eq!(len, Some(body.len().to_string()));
        let h = t.req(Method::HEAD, &p).await;
        assert_eq!(h.status(), 200);
        assert_eq!(header(&h, "content-length"), len, "{p}");
        assert!(h.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn n_zero_is_empty_without_link() {
    let t = start().await;
    tag_all(&t, "a", &["t1"]).await;
    let (page, link) = tags(&t, "?n=0").await;
    assert!(page.is_empty());
    assert!(link.is_none());
}

#[tokio::test]
async fn invalid_n_is_400() {
    let t = start().await;
    tag_all(&t, "a", &["t1"]).await;
    for q in ["?n=-1", "?n=abc", "?n=1.5"] {
        expect_error(
            t.get(&format!("/v2/a/tags/list{q}")).await,
            400,
            "UNSUPPORTED",
        )
        .await;
    }
}

#[tokio::test]
async fn empty_repository_lists_no_tags_unknown_is_404() {
    let t = start().await;
    t.push_blob("a", b"x").await;
    let (page, _) = tags(&t, "").await;
    assert!(page.is_empty());
    expect_error(t.get("/v2/nope/tags/list").await, 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn tag_page_size_caps_pages_and_link_chain_reaches_the_end() {
    let mut c = Config::memory();
    c.tag_page_size = Some(3);
    let t = start_with(c).await;
    let names: Vec<String> = (0..10).map(|i| format!("t{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    tag_all(&t, "a", &refs).await;
    let mut seen = Vec::new();
    let mut next = Some("/v2/a/tags/list".to_string());
    for _ in 0..10 {
        let Some(path) = next.take() else { break };
        let r = t.get(&path).await;
        let link = header(&r, "link");
        let v: Value = r.json().await.unwrap();
        let page = v["tags"].as_array().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|x| x.as_str().unwrap().to_string()));
        next = link.map(|l| l[1..l.find('>').unwrap()].to_string());
    }
    assert_eq!(seen, names);
}

// ---- referrers ----

const ART: &str = "application/vnd.example.sbom";

async fn referrers(t: &T, repo: &str, subject: &str, q: &str) -> (reqwest::Response, Value) {
    let r = t.get(&format!("/v2/{repo}/referrers/{subject}{q}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_INDEX));
    let hdrs = r.headers().clone();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_INDEX);
    (http_response(hdrs), v)
}

fn http_response(h: reqwest::header::HeaderMap) -> reqwest::Response {
    let mut b = http::Response::builder().status(200);
    for (k, v) in h.iter() {
        b = b.header(k, v);
    }
    reqwest::Response::from(b.body(Vec::<u8>::new()).unwrap())
}

/// Pushes a subject image and three referrers; returns (subject digest, referrer digests).
async fn setup_referrers(t: &T) -> (String, Vec<String>) {
    let (sm, sd) = t.push_image("r", "subject", json!({})).await;
    let subj = descriptor(OCI_MANIFEST, &sd, sm.len());
    let cfg = t.push_blob("r", b"{}").await;
    let empty = t.push_blob("r", b"{}").await;
    // 1: artifactType set.
    let m1 = image_manifest(
        &empty,
        2,
        &[],
        json!({"artifactType": ART, "subject": subj, "annotations": {"k": "v1"}}),
    );
    // 2: no artifactType: config media type is used.
    let m2 = image_manifest(
        &cfg,
        2,
        &[],
        json!({"subject": subj, "annotations": {"k": "v2"}}),
    );
    let mut out = Vec::new();
    for m in [&m1, &m2] {
        let d = sha256(m);
        let r = t.put_manifest("r", &d, OCI_MANIFEST, m).await;
        assert_eq!(r.status(), 201);
        assert_eq!(header(&r, "oci-subject").as_deref(), Some(sd.as_str()));
        out.push(d);
    }
    // 3: an index referrer without artifactType.
    let idx = index(&[], json!({"subject": subj}));
    let d = sha256(&idx);
    let r = t.put_manifest("r", &d, OCI_INDEX, &idx).await;
    assert_eq!(header(&r, "oci-subject").as_deref(), Some(sd.as_str()));
    out.push(d);
    (sd, out)
}

#[tokio::test]
async fn referrers_list_descriptors_with_artifact_type_rules_and_annotations() {
    let t = start().await;
    let (sd, refs) = setup_referrers(&t).await;
    let (r, v) = referrers(&t, "r", &sd, "").await;
    assert!(header(&r, "oci-filters-applied").is_none());
    let ms = v["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 3);
    let find = |d: &str| {
        ms.iter()
            .find(|m| m["digest"] == d)
            .expect("listed")
            .clone()
    };
    let e1 = find(&refs[0]);
    assert_eq!(e1["artifactType"], ART);
    assert_eq!(e1["mediaType"], OCI_MANIFEST);
    assert_eq!(e1["annotations"]["k"], "v1");
    assert!(e1["size"].as_u64().unwrap() > 0);
    assert_eq!(find(&refs[1])["artifactType"], OCI_CONFIG);
    let e3 = find(&refs[2]);
    assert!(e3.get("artifactType").is_none());
    assert_eq!(e3["mediaType"], OCI_INDEX);
}

#[tokio::test]
async fn referrers_filter_by_artifact_type() {
    let t = start().await;
    let (sd, refs) = setup_referrers(&t).await;
    let (r, v) = referrers(&t, "r", &sd, &format!("?artifactType={ART}")).await;
    assert_eq!(
        header(&r, "oci-filters-applied").as_deref(),
        Some("artifactType")
    );
    let ms = v["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["digest"], refs[0]);
    let (_, v) = referrers(&t, "r", &sd, "?artifactType=application/none").await;
    assert!(v["manifests"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn referrers_of_unknown_subject_or_repository_are_empty_200() {
    let t = start().await;
    setup_referrers(&t).await;
    let d = sha256(b"nothing refers to me");
    let (_, v) = referrers(&t, "r", &d, "").await;
    assert_eq!(v["manifests"], json!([]));
    let (_, v) = referrers(&t, "never/pushed", &d, "").await;
    assert_eq!(v["manifests"], json!([]));
}

#[tokio::test]
async fn referrers_with_malformed_digest_is_400() {
    let t = start().await;
    for d in ["sha256:abc", "latest", "sha256:ZZ"] {
        expect_error(
            t.get(&format!("/v2/r/referrers/{d}")).await,
            400,
            "DIGEST_INVALID",
        )
        .await;
    }
}

#[tokio::test]
async fn referrers_of_other_repositories_are_not_listed() {
    let t = start().await;
    let (sd, _) = setup_referrers(&t).await;
    t.push_image("elsewhere", "x", json!({})).await;
    let (_, v) = referrers(&t, "elsewhere", &sd, "").await;
    assert_eq!(v["manifests"], json!([]));
}

#[tokio::test]
async fn deleted_referrers_disappear() {
    let t = start().await;
    let (sd, refs) = setup_referrers(&t).await;
    let r = t
        .req(Method::DELETE, &format!("/v2/r/manifests/{}", refs[0]))
        .await;
    assert_eq!(r.status(), 202);
    let (_, v) = referrers(&t, "r", &sd, "").await;
    let ms = v["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert!(ms.iter().all(|m| m["digest"] != refs[0]));
}

#[tokio::test]
async fn referrers_paginate_with_link_when_configured() {
    let mut c = Config::memory();
    c.referrers_page_size = Some(2);
    let t = start_with(c).await;
    let (sd, refs) = setup_referrers(&t).await;
    let mut seen = Vec::new();
    let mut next = Some(format!("/v2/r/referrers/{sd}"));
    let mut pages = 0;
    for _ in 0..10 {
        let Some(path) = next.take() else { break };
        let r = t.get(&path).await;
        assert_eq!(r.status(), 200);
        let link = header(&r, "link");
        let v: Value = r.json().await.unwrap();
        seen.extend(
            v["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["digest"].as_str().unwrap().to_string()),
        );
        pages += 1;
        next = link.map(|l| {
            assert!(l.ends_with("; rel=\"next\""));
            l[1..l.find('>').unwrap()].to_string()
        });
    }
    assert_eq!(pages, 2);
    let mut want = refs.clone();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn referrers_switch_off_is_404() {
    let mut c = Config::memory();
    c.referrers = false;
    let t = start_with(c).await;
    expect_error(
        t.get(&format!("/v2/r/referrers/{}", sha256(b"x"))).await,
        404,
        "UNSUPPORTED",
    )
    .await;
}
