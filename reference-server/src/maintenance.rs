//! Offline maintenance: `check [--repair]` verifies every repository index against the blob
//! store; garbage collection itself lives in the registry (it also runs online).

use crate::digest::Digest;
use crate::registry::Repo;
use crate::storage::Storage;
use std::io;

/// One problem `check` found, and what `--repair` did about it.
#[derive(Debug)]
pub struct Problem {
    /// Where the index is stored (and the repository's name when it could be read).
    pub location: String,
    pub what: String,
    pub repaired: Option<String>,
}

/// Verifies every repository index: it must parse, and every manifest, blob link and tag in
/// it must reach stored content. With `repair`, an unreadable index is moved aside (never
/// deleted) and dangling entries are dropped from readable ones; nothing else is touched.
pub async fn check(storage: &dyn Storage, repair: bool) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (location, doc) in storage.load_repos().await? {
        let mut repo: Repo = match serde_json::from_slice(&doc) {
            Ok(r) => r,
            Err(e) => {
                let repaired = if repair {
                    let aside = storage.quarantine_repo(&location).await?;
                    Some(format!("moved to {aside}"))
                } else {
                    None
                };
                problems.push(Problem {
                    location,
                    what: format!("unreadable index: {e}"),
                    repaired,
                });
                continue;
            }
        };
        let here = format!("{} (repository {})", location, repo.name);
        let mut found = Vec::new();
        let mut missing_manifests = Vec::new();
        for d in repo.manifests.keys() {
            if storage.blob_len(d).await?.is_none() {
                found.push(format!("manifest {d} is missing from the blob store"));
                missing_manifests.push(d.clone());
            }
        }
        let mut missing_blobs: Vec<Digest> = Vec::new();
        for d in &repo.blobs {
            if storage.blob_len(d).await?.is_none() {
                found.push(format!("linked blob {d} is missing from the blob store"));
                missing_blobs.push(d.clone());
            }
        }
        for (tag, d) in &repo.tags {
            if !repo.manifests.contains_key(d) {
                found.push(format!(
                    "tag {tag} names manifest {d}, which the index lacks"
                ));
            } else if missing_manifests.contains(d) {
                found.push(format!("tag {tag} names missing manifest {d}"));
            }
        }
        if found.is_empty() {
            continue;
        }
        let repaired = if repair {
            for d in &missing_manifests {
                repo.manifests.remove(d);
            }
            for d in &missing_blobs {
                repo.blobs.remove(d);
            }
            let manifests = repo.manifests.clone();
            repo.tags.retain(|_, d| manifests.contains_key(d));
            if repo.is_empty() {
                storage.delete_repo(&repo.name).await?;
            } else {
                let doc = serde_json::to_vec(&repo).map_err(io::Error::other)?;
                storage.save_repo(&repo.name, doc).await?;
            }
            Some("dropped from the index".to_string())
        } else {
            None
        };
        problems.extend(found.into_iter().map(|what| Problem {
            location: here.clone(),
            what,
            repaired: repaired.clone(),
        }));
    }
    Ok(problems)
}
