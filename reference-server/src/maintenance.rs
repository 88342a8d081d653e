//! Offline maintenance: `check [--repair]` verifies the repository index against the blob
//! store, and repository documents of earlier versions are imported into the index once.
//! Garbage collection itself lives in the registry (it also runs online).

use crate::digest::Digest;
use crate::errors::RegistryError;
use crate::index::{keys, referrer_descriptor, walk_keys, ManifestMeta};
use crate::registry::Registry;
use crate::storage::{FsStorage, RecordOp, Storage};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io;
use std::path::Path;

/// One problem `check` found, and what `--repair` did about it.
#[derive(Debug)]
pub struct Problem {
    /// Where it is stored: a file, or a record key naming the repository.
    pub location: String,
    pub what: String,
    pub repaired: Option<String>,
}

/// A repository's index as earlier versions stored it: one JSON document per repository.
#[derive(Deserialize)]
struct LegacyRepo {
    name: String,
    blobs: BTreeSet<Digest>,
    manifests: BTreeMap<Digest, ManifestMeta>,
    tags: BTreeMap<String, Digest>,
}

fn registry_error(e: RegistryError) -> io::Error {
    io::Error::other(format!("{:?}", e.errors))
}

/// Imports the repository documents of earlier versions into the index, each moved to
/// `repositories/imported/` once imported (importing again after a crash is harmless: every
/// write sets what the document says). A document that cannot be read stops the start:
/// serving without it would lose the repository, and its next push would overwrite what is
/// left of its tags.
pub async fn import_documents(reg: &Registry, fs: &FsStorage) -> io::Result<usize> {
    let mut imported = 0;
    for (location, doc) in fs.legacy_documents().await? {
        let repo: LegacyRepo = serde_json::from_slice(&doc).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "repository index {location} is damaged ({e}); nothing was changed. \
                     `oci-reference-server check` lists every problem, \
                     `check --repair` moves damaged indexes aside so the server can start"
                ),
            )
        })?;
        let name = repo.name.as_str();
        for d in &repo.blobs {
            reg.link_blob(name, d).await.map_err(registry_error)?;
        }
        let mut tags: BTreeMap<&Digest, Vec<String>> = BTreeMap::new();
        for (t, d) in &repo.tags {
            tags.entry(d).or_default().push(t.clone());
        }
        for (d, meta) in &repo.manifests {
            let referrer = match &meta.subject {
                None => None,
                Some(_) => {
                    #[derive(Deserialize)]
                    struct Annotated {
                        annotations: Option<serde_json::Map<String, serde_json::Value>>,
                    }
                    let annotations = match reg.storage.get_small(d).await? {
                        Some(b) => serde_json::from_slice::<Annotated>(&b)
                            .ok()
                            .and_then(|a| a.annotations),
                        None => None,
                    };
                    Some(referrer_descriptor(d, meta, annotations))
                }
            };
            let tags = tags.remove(d).unwrap_or_default();
            let _held = reg.repo_lock(name).lock().await;
            reg.index_manifest(name, d, meta, referrer, &tags)
                .await
                .map_err(registry_error)?;
        }
        fs.retire_legacy_document(&location).await?;
        tracing::info!(repository = name, from = %location, "imported repository document");
        imported += 1;
    }
    Ok(imported)
}

/// Verifies a filesystem root: the record store must open, every repository document of an
/// earlier version must parse, and every record must reach what it names (see [`check`]).
/// With `repair`, an unreadable store or document is moved aside (never deleted).
pub async fn check_root(root: &Path, repair: bool) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let fs = match FsStorage::open(root).await {
        Ok(fs) => fs,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let location = root.join(crate::storage::fs::INDEX_FILE);
            let repaired = if repair {
                Some(format!(
                    "moved to {}; a new, empty index was created",
                    FsStorage::quarantine_index(root).await?
                ))
            } else {
                None
            };
            problems.push(Problem {
                location: location.display().to_string(),
                what: format!("unreadable record store: {e}"),
                repaired: repaired.clone(),
            });
            if repaired.is_none() {
                return Ok(problems);
            }
            FsStorage::open(root).await?
        }
        Err(e) => return Err(e),
    };
    for (location, doc) in fs.legacy_documents().await? {
        if let Err(e) = serde_json::from_slice::<LegacyRepo>(&doc) {
            let repaired = if repair {
                Some(format!("moved to {}", fs.quarantine_repo(&location).await?))
            } else {
                None
            };
            problems.push(Problem {
                location,
                what: format!("unreadable index: {e}"),
                repaired,
            });
        }
    }
    problems.extend(check(&fs, repair).await?);
    Ok(problems)
}

/// Verifies every repository's records: each must parse, every manifest and blob link must
/// reach stored content, every tag and referrers entry a manifest the repository holds. With
/// `repair`, an unreadable record is moved under `damaged/` (never deleted) and dangling ones
/// are dropped; nothing else is touched.
pub async fn check(st: &dyn Storage, repair: bool) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut names = Vec::new();
    walk_keys(st, keys::CATALOG, |k| {
        names.push(k[keys::CATALOG.len()..].to_string());
        true
    })
    .await?;
    for name in &names {
        check_repository(st, name, repair, &mut problems).await?;
    }
    Ok(problems)
}

async fn all_keys(st: &dyn Storage, prefix: &str) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk_keys(st, prefix, |k| {
        out.push(k);
        true
    })
    .await?;
    Ok(out)
}

async fn check_repository(
    st: &dyn Storage,
    name: &str,
    repair: bool,
    problems: &mut Vec<Problem>,
) -> io::Result<()> {
    let mut ops = Vec::new();
    let mut found = |location: &str, what: String, fix: &str| {
        problems.push(Problem {
            location: location.to_string(),
            what,
            repaired: repair.then(|| fix.to_string()),
        })
    };
    // Manifests whose record stays, and those being dropped.
    let mut kept: HashSet<Digest> = HashSet::new();
    let mut dropped: HashSet<Digest> = HashSet::new();
    let prefix = keys::manifests(name);
    for key in all_keys(st, &prefix).await? {
        let Ok(d) = Digest::parse(&key[prefix.len()..]) else {
            found(&key, "record key names no digest".into(), "dropped");
            ops.push(RecordOp::Delete(key));
            continue;
        };
        let Some(v) = st.get_record(&key).await? else {
            continue;
        };
        let meta = match serde_json::from_slice::<ManifestMeta>(&v) {
            Ok(m) => m,
            Err(e) => {
                found(
                    &key,
                    format!("unreadable record: {e}"),
                    &format!("moved to damaged/{key}"),
                );
                ops.push(RecordOp::Put(format!("damaged/{key}"), v));
                ops.push(RecordOp::Delete(key));
                dropped.insert(d);
                continue;
            }
        };
        if st.blob_len(&d).await?.is_none() {
            found(
                &key,
                format!("manifest {d} is missing from the blob store"),
                "dropped from the index",
            );
            if let Some(s) = &meta.subject {
                ops.push(RecordOp::Delete(keys::referrer(name, s, &d)));
            }
            ops.push(RecordOp::Delete(key));
            dropped.insert(d);
        } else {
            kept.insert(d);
        }
    }
    let prefix = keys::blobs(name);
    for key in all_keys(st, &prefix).await? {
        let Ok(d) = Digest::parse(&key[prefix.len()..]) else {
            found(&key, "record key names no digest".into(), "dropped");
            ops.push(RecordOp::Delete(key));
            continue;
        };
        if st.blob_len(&d).await?.is_none() {
            found(
                &key,
                format!("linked blob {d} is missing from the blob store"),
                "dropped from the index",
            );
            ops.push(RecordOp::Delete(keys::link(&d, name)));
            ops.push(RecordOp::Delete(key));
        } else {
            kept.insert(d);
        }
    }
    let prefix = keys::tags(name);
    for key in all_keys(st, &prefix).await? {
        let tag = &key[prefix.len()..];
        let Some(v) = st.get_record(&key).await? else {
            continue;
        };
        let target = std::str::from_utf8(&v)
            .ok()
            .and_then(|s| Digest::parse(s).ok());
        let what = match &target {
            None => format!("tag {tag} names no digest"),
            Some(d) if dropped.contains(d) => format!("tag {tag} names missing manifest {d}"),
            Some(d) if st.get_record(&keys::manifest(name, d)).await?.is_none() => {
                format!("tag {tag} names manifest {d}, which the index lacks")
            }
            Some(_) => continue,
        };
        found(&key, what, "dropped from the index");
        if let Some(d) = &target {
            ops.push(RecordOp::Delete(keys::tagged_as(name, d, tag)));
        }
        ops.push(RecordOp::Delete(key));
    }
    // Referrers entries and reverse tag entries of manifests that are gone (silently: they
    // are derived, and a crash between two writes may leave them on an object store).
    for prefix in [
        format!("{}referrers/", keys::repository(name)),
        format!("{}tagged/", keys::repository(name)),
    ] {
        for key in all_keys(st, &prefix).await? {
            let d = key.rsplit_once('/').and_then(|(head, last)| {
                if prefix.ends_with("referrers/") {
                    Digest::parse(last).ok()
                } else {
                    head.rsplit_once('/')
                        .and_then(|(_, d)| Digest::parse(d).ok())
                }
            });
            let gone = match &d {
                None => true,
                Some(d) if kept.contains(d) => false,
                Some(d) if dropped.contains(d) => true,
                Some(d) => st.get_record(&keys::manifest(name, d)).await?.is_none(),
            };
            if gone {
                ops.push(RecordOp::Delete(key));
            }
        }
    }
    if kept.is_empty() {
        if dropped.is_empty() {
            found(
                &keys::catalog(name),
                "the repository has no manifest and no blob link".into(),
                "dropped from the catalog",
            );
        }
        // Empty (now): the repository no longer exists.
        ops.push(RecordOp::Delete(keys::catalog(name)));
    }
    if repair && !ops.is_empty() {
        st.write_records(ops).await?;
    }
    Ok(())
}
