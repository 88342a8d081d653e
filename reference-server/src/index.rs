//! The repository index: which repositories exist and what each holds (blob links, manifests,
//! tags, referrers), kept as small records in storage (see the record methods of
//! [`Storage`]). One change touches a bounded number of records, whatever the size of the
//! repository; listings page straight from the sorted keys. Nothing is kept in memory between
//! requests, so every server sharing a store sees every acknowledged change.
//!
//! Key layout. Repository names and tags are ASCII, and no component of a repository name
//! starts with `_`, so `repositories/<name>/_` starts the keys of `<name>` and of no other
//! repository (not even of `<name>/sub`):
//! - `catalog/<name>`: the repository exists (it has a blob link or a manifest);
//! - `repositories/<name>/_blobs/<digest>`: the repository links the blob;
//! - `repositories/<name>/_manifests/<digest>`: the manifest's [`ManifestMeta`] (JSON);
//! - `repositories/<name>/_tags/<tag>`: the digest the tag names;
//! - `repositories/<name>/_tagged/<digest>/<tag>`: the tags of a manifest, so deleting it does
//!   not read every tag. A superset: an entry whose tag now names another digest is ignored;
//! - `repositories/<name>/_referrers/<subject>/<digest>`: the referrers API descriptor (JSON,
//!   with `artifactType` and `annotations`) of a manifest whose subject is `<subject>`;
//! - `links/<digest>/<name>`: the repositories linking a blob, for mounts without `from`. A
//!   superset too: each candidate is confirmed by its `_blobs` record.
//!
//! Values that are empty carry nothing but their key's presence. Each change is one
//! [`Storage::write_records`] call, ordered so that any prefix of it (what a crash may leave
//! on a backend without transactions) never makes a record point at a missing one: a manifest
//! before the tags naming it, reverse entries before what they reverse.

use crate::digest::Digest;
use crate::errors::RegistryError;
use crate::registry::{name_unknown, Registry};
use crate::storage::{RecordOp, Storage, LIST_LIMIT};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io;

/// What the registry remembers about a stored manifest (its bytes live in the blob store).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestMeta {
    pub media_type: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// Record keys (see the module documentation).
pub mod keys {
    use crate::digest::Digest;

    pub const CATALOG: &str = "catalog/";

    pub fn catalog(name: &str) -> String {
        format!("{CATALOG}{name}")
    }
    /// Starts every key of the repository, and only of it.
    pub fn repository(name: &str) -> String {
        format!("repositories/{name}/_")
    }
    pub fn blobs(name: &str) -> String {
        format!("repositories/{name}/_blobs/")
    }
    pub fn blob(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_blobs/{d}")
    }
    pub fn manifests(name: &str) -> String {
        format!("repositories/{name}/_manifests/")
    }
    pub fn manifest(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_manifests/{d}")
    }
    pub fn tags(name: &str) -> String {
        format!("repositories/{name}/_tags/")
    }
    pub fn tag(name: &str, tag: &str) -> String {
        format!("repositories/{name}/_tags/{tag}")
    }
    pub fn tagged(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_tagged/{d}/")
    }
    pub fn tagged_as(name: &str, d: &Digest, tag: &str) -> String {
        format!("repositories/{name}/_tagged/{d}/{tag}")
    }
    pub fn referrers(name: &str, subject: &Digest) -> String {
        format!("repositories/{name}/_referrers/{subject}/")
    }
    pub fn referrer(name: &str, subject: &Digest, d: &Digest) -> String {
        format!("repositories/{name}/_referrers/{subject}/{d}")
    }
    pub fn links(d: &Digest) -> String {
        format!("links/{d}/")
    }
    pub fn link(d: &Digest, name: &str) -> String {
        format!("links/{d}/{name}")
    }
}

/// The referrers API descriptor of a manifest (what `_referrers` records hold).
pub fn referrer_descriptor(
    d: &Digest,
    meta: &ManifestMeta,
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
) -> Bytes {
    let mut e = serde_json::Map::new();
    e.insert("mediaType".into(), meta.media_type.clone().into());
    e.insert("digest".into(), d.to_string().into());
    e.insert("size".into(), meta.size.into());
    if let Some(a) = &meta.artifact_type {
        e.insert("artifactType".into(), a.clone().into());
    }
    if let Some(a) = annotations {
        e.insert("annotations".into(), serde_json::Value::Object(a));
    }
    Bytes::from(serde_json::Value::Object(e).to_string())
}

fn put(key: String, value: impl Into<Bytes>) -> RecordOp {
    RecordOp::Put(key, value.into())
}

fn damaged(key: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "index record {key} is damaged ({e}); `oci-reference-server check --repair` sets it aside"
        ),
    )
}

/// Up to `want` keys under `prefix` after `after` (a whole key), in order, fetched a page at a
/// time. Callers bound `want` (a page of a listing plus one, to tell whether more follow) or
/// need every key anyway (the answer holds them all).
pub async fn list_keys(
    st: &dyn Storage,
    prefix: &str,
    after: Option<String>,
    want: usize,
) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after = after;
    while out.len() < want {
        let ask = (want - out.len()).min(LIST_LIMIT);
        let page = st.list_records(prefix, after.as_deref(), ask).await?;
        let done = page.len() < ask;
        after = page.last().cloned();
        out.extend(page);
        if done {
            break;
        }
    }
    Ok(out)
}

/// Every key under `prefix`, page by page, to `visit` (which may stop the walk by returning
/// false). Memory stays at one page.
pub async fn walk_keys(
    st: &dyn Storage,
    prefix: &str,
    mut visit: impl FnMut(String) -> bool,
) -> io::Result<()> {
    let mut after: Option<String> = None;
    loop {
        let page = st
            .list_records(prefix, after.as_deref(), LIST_LIMIT)
            .await?;
        let done = page.len() < LIST_LIMIT;
        after = page.last().cloned();
        for k in page {
            if !visit(k) {
                return Ok(());
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// One page of a listing: `limit` entries (None: all) and whether more follow.
fn cut(mut entries: Vec<String>, limit: Option<usize>) -> (Vec<String>, bool) {
    match limit {
        Some(n) if entries.len() > n => {
            entries.truncate(n);
            (entries, n > 0)
        }
        _ => (entries, false),
    }
}

fn strip(keys: Vec<String>, prefix: &str) -> Vec<String> {
    keys.into_iter()
        .filter_map(|k| k.strip_prefix(prefix).map(str::to_string))
        .collect()
}

impl Registry {
    /// The repository exists (it links a blob or holds a manifest).
    pub async fn repo_exists(&self, name: &str) -> io::Result<bool> {
        Ok(self
            .storage
            .get_record(&keys::catalog(name))
            .await?
            .is_some())
    }

    pub async fn blob_linked(&self, name: &str, d: &Digest) -> io::Result<bool> {
        Ok(self
            .storage
            .get_record(&keys::blob(name, d))
            .await?
            .is_some())
    }

    pub async fn manifest_meta(&self, name: &str, d: &Digest) -> io::Result<Option<ManifestMeta>> {
        let key = keys::manifest(name, d);
        match self.storage.get_record(&key).await? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| damaged(&key, e)),
        }
    }

    /// The digest a tag names, None if the tag does not exist.
    pub async fn tag_target(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        let key = keys::tag(name, tag);
        match self.storage.get_record(&key).await? {
            None => Ok(None),
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| Digest::parse(s).ok())
                .map(Some)
                .ok_or_else(|| damaged(&key, "not a digest")),
        }
    }

    /// True when a repository accepted by `visible` links the blob (mounts without `from`).
    pub async fn blob_linked_in(
        &self,
        d: &Digest,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> io::Result<bool> {
        let prefix = keys::links(d);
        let mut after = None;
        loop {
            let page = self
                .storage
                .list_records(&prefix, after.as_deref(), LIST_LIMIT)
                .await?;
            for k in &page {
                let name = &k[prefix.len()..];
                if visible(name) && self.blob_linked(name, d).await? {
                    return Ok(true);
                }
            }
            if page.len() < LIST_LIMIT {
                return Ok(false);
            }
            after = page.last().cloned();
        }
    }

    /// The record that makes a new repository exist, if it does not yet.
    async fn create_op(&self, name: &str) -> io::Result<Option<RecordOp>> {
        Ok((!self.repo_exists(name).await?).then(|| put(keys::catalog(name), Bytes::new())))
    }

    /// The record that ends the repository when the last blob link or manifest goes: `gone`
    /// (one key under `_blobs/` or `_manifests/`) is about to be deleted.
    async fn end_op(&self, name: &str, gone: &str) -> io::Result<Option<RecordOp>> {
        for prefix in [keys::blobs(name), keys::manifests(name)] {
            let some = self.storage.list_records(&prefix, None, 2).await?;
            if some.iter().any(|k| k != gone) {
                return Ok(None);
            }
        }
        Ok(Some(RecordOp::Delete(keys::catalog(name))))
    }

    /// Takes `name`'s write lock for a removal, which needs the repository to exist (404
    /// `NAME_UNKNOWN` otherwise).
    async fn lock_existing(
        &self,
        name: &str,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, RegistryError> {
        let held = self.repo_lock(name).lock().await;
        if !self.repo_exists(name).await? {
            return Err(name_unknown(name));
        }
        Ok(held)
    }

    /// Links a blob to a repository (creating the repository).
    pub async fn link_blob(&self, name: &str, d: &Digest) -> Result<(), RegistryError> {
        let _held = self.repo_lock(name).lock().await;
        if self.blob_linked(name, d).await? {
            return Ok(());
        }
        let mut ops: Vec<RecordOp> = self.create_op(name).await?.into_iter().collect();
        ops.push(put(keys::link(d, name), Bytes::new()));
        ops.push(put(keys::blob(name, d), Bytes::new()));
        self.storage.write_records(ops).await?;
        Ok(())
    }

    /// Unlinks a blob; `unknown` is the error when the repository does not link it.
    pub async fn unlink_blob(
        &self,
        name: &str,
        d: &Digest,
        unknown: impl FnOnce() -> RegistryError,
    ) -> Result<(), RegistryError> {
        let _held = self.lock_existing(name).await?;
        if !self.blob_linked(name, d).await? {
            return Err(unknown());
        }
        let key = keys::blob(name, d);
        let end = self.end_op(name, &key).await?;
        let mut ops = vec![RecordOp::Delete(key), RecordOp::Delete(keys::link(d, name))];
        ops.extend(end);
        self.storage.write_records(ops).await?;
        Ok(())
    }

    /// Stores a manifest's metadata and points `tags` at it; the caller holds the repository's
    /// write lock (`repo_lock`) since it checked what the manifest references under it.
    /// `referrer` is its referrers descriptor when it has a subject.
    pub async fn index_manifest(
        &self,
        name: &str,
        d: &Digest,
        meta: &ManifestMeta,
        referrer: Option<Bytes>,
        tags: &[String],
    ) -> Result<(), RegistryError> {
        let mut ops: Vec<RecordOp> = self.create_op(name).await?.into_iter().collect();
        let doc = serde_json::to_vec(meta).map_err(RegistryError::internal)?;
        ops.push(put(keys::manifest(name, d), doc));
        if let (Some(s), Some(r)) = (&meta.subject, referrer) {
            ops.push(put(keys::referrer(name, s, d), r));
        }
        let mut stale = Vec::new();
        for t in tags {
            let old = self.tag_target(name, t).await?;
            if old.as_ref() == Some(d) {
                continue;
            }
            ops.push(put(keys::tagged_as(name, d, t), Bytes::new()));
            ops.push(put(keys::tag(name, t), d.to_string()));
            if let Some(o) = old {
                stale.push(RecordOp::Delete(keys::tagged_as(name, &o, t)));
            }
        }
        ops.extend(stale);
        self.storage.write_records(ops).await?;
        Ok(())
    }

    /// Deletes a manifest and every tag naming it; `unknown` is the error when the repository
    /// does not hold it.
    pub async fn delete_manifest(
        &self,
        name: &str,
        d: &Digest,
        unknown: impl FnOnce() -> RegistryError,
    ) -> Result<(), RegistryError> {
        let _held = self.lock_existing(name).await?;
        let key = keys::manifest(name, d);
        // A damaged record still names a manifest that can be deleted.
        let subject = match self.storage.get_record(&key).await? {
            None => return Err(unknown()),
            Some(v) => serde_json::from_slice::<ManifestMeta>(&v)
                .ok()
                .and_then(|m| m.subject),
        };
        let mut ops = Vec::new();
        let mut reverse = Vec::new();
        let prefix = keys::tagged(name, d);
        walk_keys(&*self.storage, &prefix, |k| {
            reverse.push(k);
            true
        })
        .await?;
        for k in &reverse {
            let t = &k[prefix.len()..];
            if self.tag_target(name, t).await?.as_ref() == Some(d) {
                ops.push(RecordOp::Delete(keys::tag(name, t)));
            }
        }
        if let Some(s) = subject {
            ops.push(RecordOp::Delete(keys::referrer(name, &s, d)));
        }
        let end = self.end_op(name, &key).await?;
        ops.push(RecordOp::Delete(key));
        ops.extend(reverse.into_iter().map(RecordOp::Delete));
        ops.extend(end);
        self.storage.write_records(ops).await?;
        Ok(())
    }

    /// Deletes a tag (the manifest stays); `unknown` is the error when there is no such tag.
    pub async fn delete_tag(
        &self,
        name: &str,
        tag: &str,
        unknown: impl FnOnce() -> RegistryError,
    ) -> Result<(), RegistryError> {
        let _held = self.lock_existing(name).await?;
        let Some(d) = self.tag_target(name, tag).await? else {
            return Err(unknown());
        };
        self.storage
            .write_records(vec![
                RecordOp::Delete(keys::tag(name, tag)),
                RecordOp::Delete(keys::tagged_as(name, &d, tag)),
            ])
            .await?;
        Ok(())
    }

    /// Tags in byte order strictly after `after`: `limit` of them (None: all) and whether
    /// more follow.
    pub async fn tags_page(
        &self,
        name: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> io::Result<(Vec<String>, bool)> {
        let prefix = keys::tags(name);
        let want = limit.map_or(usize::MAX, |n| n.saturating_add(1));
        let keys = list_keys(
            &*self.storage,
            &prefix,
            after.map(|a| format!("{prefix}{a}")),
            want,
        )
        .await?;
        Ok(cut(strip(keys, &prefix), limit))
    }

    /// Tags in lexical order (case-insensitive, then by bytes) after `after`. Sorted storage
    /// holds byte order only, so this walks every tag, keeping the `limit + 1` first: time
    /// grows with the repository, memory with the page.
    pub async fn tags_page_lexical(
        &self,
        name: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> io::Result<(Vec<String>, bool)> {
        let key = |t: &str| (t.to_lowercase(), t.to_string());
        let after = after.map(key);
        let keep = limit.map_or(usize::MAX, |n| n.saturating_add(1));
        let prefix = keys::tags(name);
        let mut best = std::collections::BTreeSet::new();
        walk_keys(&*self.storage, &prefix, |k| {
            let k = key(&k[prefix.len()..]);
            if after.as_ref().is_none_or(|a| k > *a) {
                best.insert(k);
                if best.len() > keep {
                    best.pop_last();
                }
            }
            true
        })
        .await?;
        Ok(cut(best.into_iter().map(|(_, t)| t).collect(), limit))
    }

    /// Repository names in byte order after `after`, those `visible` accepts only (filtered
    /// before paging, so pages stay consistent for that caller).
    pub async fn catalog_page(
        &self,
        after: Option<&str>,
        limit: Option<usize>,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> io::Result<(Vec<String>, bool)> {
        let want = limit.map_or(usize::MAX, |n| n.saturating_add(1));
        let mut out = Vec::new();
        let mut cursor = after.map(keys::catalog);
        while out.len() < want {
            let page = self
                .storage
                .list_records(keys::CATALOG, cursor.as_deref(), LIST_LIMIT)
                .await?;
            let done = page.len() < LIST_LIMIT;
            cursor = page.last().cloned();
            for k in page {
                let name = &k[keys::CATALOG.len()..];
                if out.len() < want && visible(name) {
                    out.push(name.to_string());
                }
            }
            if done {
                break;
            }
        }
        Ok(cut(out, limit))
    }

    /// Referrers descriptors of `subject` in digest order after `after`, those `keep` accepts
    /// only: `limit` of them (None: all) and whether more follow.
    pub async fn referrers_page(
        &self,
        name: &str,
        subject: &Digest,
        after: Option<&Digest>,
        limit: Option<usize>,
        keep: impl Fn(&serde_json::Value) -> bool,
    ) -> io::Result<(Vec<(Digest, serde_json::Value)>, bool)> {
        let want = limit.map_or(usize::MAX, |n| n.saturating_add(1));
        let prefix = keys::referrers(name, subject);
        let mut out = Vec::new();
        let mut cursor = after.map(|a| format!("{prefix}{a}"));
        while out.len() < want {
            let page = self
                .storage
                .list_records(&prefix, cursor.as_deref(), LIST_LIMIT)
                .await?;
            let done = page.len() < LIST_LIMIT;
            cursor = page.last().cloned();
            for k in page {
                if out.len() >= want {
                    break;
                }
                let Ok(d) = Digest::parse(&k[prefix.len()..]) else {
                    continue;
                };
                // Deleted since it was listed: skip.
                let Some(v) = self.storage.get_record(&k).await? else {
                    continue;
                };
                let v: serde_json::Value =
                    serde_json::from_slice(&v).map_err(|e| damaged(&k, e))?;
                if keep(&v) {
                    out.push((d, v));
                }
            }
            if done {
                break;
            }
        }
        let more = limit.is_some_and(|n| out.len() > n);
        if let Some(n) = limit {
            out.truncate(n);
        }
        Ok((out, more))
    }

    /// Every digest some repository links as a blob or holds as a manifest (for garbage
    /// collection).
    pub async fn referenced_digests(&self) -> io::Result<std::collections::HashSet<Digest>> {
        let mut names = Vec::new();
        let mut out = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            names.clear();
            let page = self
                .storage
                .list_records(keys::CATALOG, cursor.as_deref(), LIST_LIMIT)
                .await?;
            let done = page.len() < LIST_LIMIT;
            cursor = page.last().cloned();
            names.extend(
                page.into_iter()
                    .map(|k| k[keys::CATALOG.len()..].to_string()),
            );
            for name in &names {
                for prefix in [keys::blobs(name), keys::manifests(name)] {
                    walk_keys(&*self.storage, &prefix, |k| {
                        if let Ok(d) = Digest::parse(&k[prefix.len()..]) {
                            out.insert(d);
                        }
                        true
                    })
                    .await?;
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}
