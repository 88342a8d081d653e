//! Drives the `oci-client` crate against a registry, for .ci/interop.sh:
//!   oci-client-interop HOST:PORT REPO            push, pull, mount, index; prints `DIGEST sha256:…`
//!   oci-client-interop HOST:PORT REPO gone DIGEST  the manifest must no longer be served
//! Plain HTTP unless INTEROP_CA_FILE names a PEM CA (then HTTPS trusting it); INTEROP_CREDS=USER:PW
//! logs in (oci-client runs the token flow itself). Exits non-zero on the first mismatch.

use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::manifest::{
    OciImageIndex, IMAGE_CONFIG_MEDIA_TYPE, IMAGE_LAYER_GZIP_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

fn check(ok: bool, what: &str) -> Fallible<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("oci-client: {what}").into())
    }
}

fn reference(reg: &str, repo: &str, tag_or_digest: &str) -> Fallible<Reference> {
    let sep = if tag_or_digest.starts_with("sha256:") {
        "@"
    } else {
        ":"
    };
    Ok(format!("{reg}/{repo}{sep}{tag_or_digest}").parse()?)
}

fn config_json(arch: &str) -> Vec<u8> {
    format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    )
    .into_bytes()
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("interop: FAIL: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Fallible<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (reg, repo) = match args.as_slice() {
        [r, p, ..] => (r.as_str(), p.as_str()),
        _ => return Err("usage: oci-client-interop HOST:PORT REPO [gone DIGEST]".into()),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    };
    if let Ok(ca) = std::env::var("INTEROP_CA_FILE") {
        config.protocol = ClientProtocol::Https;
        config.extra_root_certificates = vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: std::fs::read(&ca)?,
        }];
    }
    let auth = match std::env::var("INTEROP_CREDS") {
        Ok(c) => {
            let (u, p) = c.split_once(':').ok_or("INTEROP_CREDS is USER:PASSWORD")?;
            RegistryAuth::Basic(u.into(), p.into())
        }
        Err(_) => RegistryAuth::Anonymous,
    };
    let client = Client::new(config);
    let accept = [OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE];

    if let [_, _, mode, digest] = args.as_slice() {
        check(mode == "gone", "unknown mode")?;
        let r = client
            .pull_manifest_raw(&reference(reg, repo, digest)?, &auth, &accept)
            .await;
        check(r.is_err(), "a deleted manifest is still served")?;
        println!("interop: ok: oci-client no longer finds the deleted manifest {digest}");
        return Ok(());
    }

    // Push an image, pull it back byte for byte.
    let layer: Vec<u8> = (0..200_000).map(|_| rand::random::<u8>()).collect();
    let cfg = config_json("amd64");
    let v1 = reference(reg, repo, "v1")?;
    client
        .push(
            &v1,
            &[ImageLayer::new(
                layer.clone(),
                IMAGE_LAYER_GZIP_MEDIA_TYPE.into(),
                None,
            )],
            Config::new(cfg.clone(), IMAGE_CONFIG_MEDIA_TYPE.into(), None),
            &auth,
            None,
        )
        .await?;
    let image = client
        .pull(&v1, &auth, vec![IMAGE_LAYER_GZIP_MEDIA_TYPE])
        .await?;
    check(
        image.layers.len() == 1 && image.layers[0].data == layer,
        "layer bytes changed",
    )?;
    check(image.config.data == cfg, "config bytes changed")?;
    let (manifest, digest) = client.pull_manifest_raw(&v1, &auth, &accept).await?;
    check(
        sha(&manifest) == digest,
        "manifest digest does not match its bytes",
    )?;
    let tags = client.list_tags(&v1, &auth, None, None).await?;
    check(tags.tags.iter().any(|t| t == "v1"), "v1 not listed")?;
    println!("interop: ok: oci-client push, pull (layer and config byte-identical), list_tags");

    // Copy into a second repository by mounting the blobs, then the same manifest bytes.
    let copy = reference(reg, &format!("{repo}-copy"), "v1")?;
    client
        .auth(&copy, &auth, oci_client::RegistryOperation::Push)
        .await?;
    let mut mounted = true;
    for (d, bytes) in [(sha(&layer), &layer), (sha(&cfg), &cfg)] {
        match client.mount_blob(&copy, &v1, &d).await {
            Ok(()) => {}
            // oci-client asks the token service for the target repository only, so a registry
            // that checks the source's pull scope falls back to an upload session (202, which
            // the spec allows) and oci-client 0.18 calls that an error: upload the blob instead.
            Err(e) if std::env::var_os("INTEROP_CREDS").is_some() => {
                if mounted {
                    println!("interop: note: oci-client mount_blob with a token: {e}; uploading");
                }
                mounted = false;
                client.push_blob(&copy, bytes.clone(), &d).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    client
        .push_manifest_raw(&copy, manifest.to_vec(), OCI_IMAGE_MEDIA_TYPE.parse()?)
        .await?;
    let (copied, copied_digest) = client.pull_manifest_raw(&copy, &auth, &accept).await?;
    check(
        copied == manifest && copied_digest == digest,
        "copied manifest differs",
    )?;
    let mut out = Vec::new();
    let (m, _) = client.pull_image_manifest(&copy, &auth).await?;
    client.pull_blob(&copy, &m.layers[0], &mut out).await?;
    check(out == layer, "mounted layer bytes differ")?;
    println!(
        "interop: ok: oci-client {} into {repo}-copy, manifest and layer byte-identical",
        if mounted { "mount_blob" } else { "copy" }
    );

    // A multi-platform index over two images, pushed and pulled back.
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let r = reference(reg, repo, arch)?;
        let c = config_json(arch);
        client
            .push(
                &r,
                &[ImageLayer::new(
                    layer.clone(),
                    IMAGE_LAYER_GZIP_MEDIA_TYPE.into(),
                    None,
                )],
                Config::new(c, IMAGE_CONFIG_MEDIA_TYPE.into(), None),
                &auth,
                None,
            )
            .await?;
        let (bytes, d) = client.pull_manifest_raw(&r, &auth, &accept).await?;
        entries.push(serde_json::json!({
            "mediaType": IMAGE_MANIFEST_MEDIA_TYPE, "digest": d, "size": bytes.len(),
            "platform": {"architecture": arch, "os": "linux"}
        }));
    }
    let index: OciImageIndex = serde_json::from_value(serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE, "manifests": entries
    }))?;
    let multi = reference(reg, repo, "multi")?;
    client.push_manifest_list(&multi, &auth, index).await?;
    let (bytes, index_digest) = client.pull_manifest_raw(&multi, &auth, &accept).await?;
    check(
        sha(&bytes) == index_digest,
        "index digest does not match its bytes",
    )?;
    let pulled: OciImageIndex = serde_json::from_slice(&bytes)?;
    check(pulled.manifests.len() == 2, "index lost a platform")?;
    for (e, arch) in pulled.manifests.iter().zip(["amd64", "arm64"]) {
        let r = reference(reg, repo, &e.digest)?;
        let img = client
            .pull(&r, &auth, vec![IMAGE_LAYER_GZIP_MEDIA_TYPE])
            .await?;
        check(
            img.config.data == config_json(arch),
            "platform image config differs",
        )?;
    }
    println!("interop: ok: oci-client push_manifest_list (2 platforms) and pull of each platform by digest");
    println!("MOUNTED {mounted}");
    println!("DIGEST {digest}");
    Ok(())
}
