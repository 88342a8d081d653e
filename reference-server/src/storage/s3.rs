//! S3 backend (AWS S3, Garage, MinIO and other S3 APIs), through the `object_store` crate.
//!
//! Layout under the configured prefix of the bucket:
//! - `blobs/<alg>/<hex>`: content-addressed data, blobs and manifests alike;
//! - `uploads/<uuid>/state.json`: the session ([`UploadMeta`]) and where its data is: the parts
//!   of an S3 multipart upload (its id and part ids) plus a tail object;
//! - `uploads/<uuid>/tail-<n>`: the bytes after the last part (shorter than a part may be),
//!   written under a fresh name for each chunk so a failed chunk never damages the stored one;
//! - `uploads/<uuid>/data`: the multipart upload's object, assembled when the upload is
//!   committed, then copied to its blob key;
//! - `records/<hex of the key>`: the metadata records (the repository index).
//!
//! Nothing lives only in this process: a session started through one server can be continued and
//! finished through another sharing the bucket (its hash state is in [`UploadMeta`] too).
//!
//! S3 needs every part but the last to be at least 5 MiB. Chunks are cut into parts as they
//! arrive; whatever is left over when a chunk ends is stored as the tail and prepended to the
//! next chunk's data, so clients may send chunks of any size (the server still advertises the
//! minimum as `OCI-Chunk-Min-Length`, which saves rewriting tails).

use super::{BoxFuture, ByteStream, RecordOp, Storage, UploadMeta, UploadWriter};
use crate::digest::Digest;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use std::io;
use std::sync::Arc;

/// The smallest part S3 accepts (except the last one).
pub const MIN_PART: u64 = 5 << 20;
/// Parts are cut at this size while a chunk streams in: the memory one upload holds, and with
/// S3's 10,000 parts, the largest blob (80 GiB).
const PART_SIZE: usize = 8 << 20;

/// Where the data goes. Credentials are not here: they come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, or the other sources `object_store` reads), so
/// they are never part of a configuration that might be printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket ("" for the whole bucket), without slashes at either end.
    pub prefix: String,
    /// `http(s)://host:port` of a non-AWS S3 API; None: AWS (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// None: `AWS_REGION` / `AWS_DEFAULT_REGION`, else us-east-1.
    pub region: Option<String>,
    /// Allow a plain-HTTP endpoint (a loopback test cluster).
    pub allow_http: bool,
}

impl S3Config {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub fn parse_url(url: &str) -> Option<S3Config> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Config {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: None,
            allow_http: false,
        })
    }

    /// `s3://bucket[/prefix]`, for messages.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Cheap to clone (one shared client): writers hold their own handle.
#[derive(Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    prefix: String,
}

/// Where an upload's data is: `parts` (each at least `MIN_PART`), then `tail_len` bytes in the
/// tail object. After `seal`, all of it is the one object `uploads/<id>/data`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    meta: UploadMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multipart: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail: Option<String>,
    #[serde(default)]
    tail_len: u64,
    #[serde(default)]
    sealed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Part {
    id: String,
    len: u64,
}

impl State {
    fn parts_len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }

    fn stored(&self) -> u64 {
        self.parts_len() + self.tail_len
    }
}

fn io_err(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such {what}"))
}

/// Session ids become object keys; the router only passes UUIDs, refuse anything else anyway.
fn check_id(id: &str) -> io::Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bad upload id"))
    }
}

fn empty_stream() -> ByteStream {
    Box::pin(futures_util::stream::empty())
}

impl S3Storage {
    /// Connects (lazily: the first request reaches the endpoint). Fails only on a configuration
    /// the client cannot use.
    pub fn open(config: &S3Config) -> io::Result<S3Storage> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if config.allow_http {
            b = b.with_allow_http(true);
        }
        // A few quick retries (object_store's default keeps trying for 3 minutes): a request
        // that cannot be served soon fails, and the client retries it.
        b = b.with_retry(object_store::RetryConfig {
            max_retries: 4,
            retry_timeout: std::time::Duration::from_secs(30),
            ..Default::default()
        });
        let store = b
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(S3Storage {
            store: Arc::new(store),
            prefix: config.prefix.clone(),
        })
    }

    /// Checks the bucket answers with these credentials (one list request), so a wrong
    /// endpoint or key fails at start-up rather than on the first push.
    pub async fn probe(&self) -> io::Result<()> {
        let prefix = self.key("blobs");
        let mut l = self.store.list(Some(&prefix));
        match l.next().await {
            Some(Err(e)) => Err(io_err(e)),
            _ => Ok(()),
        }
    }

    /// What `pick` makes of each object under `dir` (given its key relative to our prefix);
    /// objects it returns None for are skipped.
    async fn list_under<T>(
        &self,
        dir: &str,
        pick: impl Fn(&str, &ObjectMeta) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let mut out = Vec::new();
        let mut l = self.store.list(Some(&self.key(dir)));
        while let Some(m) = l.next().await {
            let m = m.map_err(io_err)?;
            out.extend(pick(self.relative(&m.location), &m));
        }
        Ok(out)
    }

    fn key(&self, rel: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn blob_key(&self, d: &Digest) -> Path {
        self.key(&format!("blobs/{}/{}", d.algorithm().name(), d.hex()))
    }

    fn upload_key(&self, id: &str, name: &str) -> Path {
        self.key(&format!("uploads/{id}/{name}"))
    }

    /// The key relative to the prefix (what `key` was given).
    fn relative<'p>(&self, p: &'p Path) -> &'p str {
        let s = p.as_ref();
        if self.prefix.is_empty() {
            s
        } else {
            s.strip_prefix(self.prefix.as_str())
                .and_then(|s| s.strip_prefix('/'))
                .unwrap_or(s)
        }
    }

    async fn get_bytes(&self, key: &Path) -> io::Result<Option<Bytes>> {
        match self.store.get(key).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(io_err)?)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn put_bytes(&self, key: &Path, data: Bytes) -> io::Result<()> {
        self.store
            .put(key, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(io_err)
    }

    async fn delete_quietly(&self, key: &Path) -> io::Result<()> {
        match self.store.delete(key).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn load_state(&self, id: &str) -> io::Result<Option<State>> {
        let Some(raw) = self.get_bytes(&self.upload_key(id, "state.json")).await? else {
            return Ok(None);
        };
        match serde_json::from_slice(&raw) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::warn!(session = id, error = %e, "unreadable upload state, ignoring");
                Ok(None)
            }
        }
    }

    async fn save_state(&self, id: &str, s: &State) -> io::Result<()> {
        let doc = serde_json::to_vec(s).map_err(io::Error::other)?;
        self.put_bytes(&self.upload_key(id, "state.json"), Bytes::from(doc))
            .await
    }

    /// A byte range of an object as a stream; `len` 0 is an empty stream.
    async fn stream_range(
        &self,
        key: &Path,
        start: u64,
        len: u64,
    ) -> Result<ByteStream, object_store::Error> {
        if len == 0 {
            return Ok(empty_stream());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..start + len)),
            ..GetOptions::default()
        };
        let r = self.store.get_opts(key, opts).await?;
        Ok(Box::pin(r.into_stream().map_err(io_err)))
    }

    /// Makes all of an upload's data the one object `uploads/<id>/data` (the tail becomes the
    /// last part). The session can no longer grow; only commit and delete follow.
    async fn seal(&self, id: &str, s: &mut State) -> io::Result<()> {
        if s.sealed {
            return Ok(());
        }
        let data = self.upload_key(id, "data");
        let total = s.stored();
        let tail = match &s.tail {
            Some(t) if s.tail_len > 0 => self
                .get_bytes(&self.upload_key(id, t))
                .await?
                .ok_or_else(|| not_found("upload tail"))?,
            _ => Bytes::new(),
        };
        match &s.multipart {
            None => self.put_bytes(&data, tail).await?,
            Some(mp) => {
                let mp = mp.clone();
                let mut ids: Vec<PartId> = s
                    .parts
                    .iter()
                    .map(|p| PartId {
                        content_id: p.id.clone(),
                    })
                    .collect();
                if !tail.is_empty() {
                    let len = tail.len() as u64;
                    let pid = self
                        .store
                        .put_part(&data, &mp, ids.len(), PutPayload::from(tail))
                        .await
                        .map_err(io_err)?;
                    s.parts.push(Part {
                        id: pid.content_id.clone(),
                        len,
                    });
                    ids.push(pid);
                }
                self.store
                    .complete_multipart(&data, &mp, ids)
                    .await
                    .map_err(io_err)?;
            }
        }
        let old_tail = s.tail.take();
        s.sealed = true;
        s.multipart = None;
        s.parts = vec![Part {
            id: String::new(),
            len: total,
        }];
        s.tail_len = 0;
        self.save_state(id, s).await?;
        if let Some(t) = old_tail {
            self.delete_quietly(&self.upload_key(id, &t)).await?;
        }
        Ok(())
    }
}

/// Metadata records are objects `records/<hex of the key>`: hex keeps S3's listing order (by
/// the bytes of the object key) the order of the record keys, and any key a legal object name.
const RECORDS: &str = "records";

/// The largest hex string below every hex string starting with `p` (non-empty, even length):
/// S3's `start-after` for a listing that begins at the first key with prefix `p`.
fn hex_floor(p: &str) -> String {
    let (head, last) = p.split_at(p.len() - 1);
    match last {
        // Nothing sorts between `head` (odd length, so no key) and `head` + "0".
        "0" => head.to_string(),
        // `head` + the digit below + "g": after every key starting with that digit ('g' follows
        // every hex digit), before every key starting with `p`.
        "a" => format!("{head}9g"),
        _ => {
            let below = char::from(last.as_bytes()[0] - 1);
            format!("{head}{below}g")
        }
    }
}

impl S3Storage {
    fn record_key(&self, key: &str) -> Path {
        self.key(&format!("{RECORDS}/{}", hex::encode(key)))
    }

    async fn get_record_(&self, key: &str) -> io::Result<Option<Bytes>> {
        self.get_bytes(&self.record_key(key)).await
    }

    async fn put_record_(&self, key: &str, value: Bytes) -> io::Result<()> {
        self.put_bytes(&self.record_key(key), value).await
    }

    async fn delete_record_(&self, key: &str) -> io::Result<()> {
        self.delete_quietly(&self.record_key(key)).await
    }

    async fn list_records_(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> io::Result<Vec<String>> {
        let hp = hex::encode(prefix);
        let after = match start_after {
            Some(s) if s >= prefix => Some(hex::encode(s)),
            _ if hp.is_empty() => None,
            _ => Some(hex_floor(&hp)),
        };
        let dir = self.key(RECORDS);
        let mut l = match &after {
            Some(a) => self
                .store
                .list_with_offset(Some(&dir), &self.key(&format!("{RECORDS}/{a}"))),
            None => self.store.list(Some(&dir)),
        };
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(m) = l.next().await else { break };
            let m = m.map_err(io_err)?;
            let Some(h) = self
                .relative(&m.location)
                .strip_prefix(RECORDS)
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            if !h.starts_with(&hp) {
                break; // sorted: past the prefix, nothing more can match
            }
            let key = hex::decode(h)
                .ok()
                .and_then(|k| String::from_utf8(k).ok())
                .ok_or_else(|| io::Error::other(format!("record object {h:?} is not a key")))?;
            out.push(key);
        }
        Ok(out)
    }
}

/// Streams a chunk into the upload: full parts go to the multipart upload as they fill, the
/// rest is stored as the new tail by `finish`, which then records both in the session state.
struct S3Writer {
    storage: Arc<S3Storage>,
    rt: tokio::runtime::Handle,
    id: String,
    state: State,
    buf: BytesMut,
}

impl S3Writer {
    fn put_part(&mut self, data: Bytes) -> io::Result<()> {
        let st = self.storage.clone();
        let key = st.upload_key(&self.id, "data");
        let mp = match &self.state.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self
                    .rt
                    .block_on(st.store.create_multipart(&key))
                    .map_err(io_err)?;
                self.state.multipart = Some(m.clone());
                m
            }
        };
        let len = data.len() as u64;
        let idx = self.state.parts.len();
        let pid = self
            .rt
            .block_on(st.store.put_part(&key, &mp, idx, PutPayload::from(data)))
            .map_err(io_err)?;
        self.state.parts.push(Part {
            id: pid.content_id,
            len,
        });
        Ok(())
    }
}

impl UploadWriter for S3Writer {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        while self.buf.len() >= PART_SIZE {
            let part = self.buf.split_to(PART_SIZE).freeze();
            self.put_part(part)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.buf.len() as u64 >= MIN_PART {
            let part = self.buf.split().freeze();
            self.put_part(part)?;
        }
        let st = self.storage.clone();
        let old_tail = self.state.tail.take();
        let tail = self.buf.split().freeze();
        self.state.tail_len = tail.len() as u64;
        if !tail.is_empty() {
            let name = format!("tail-{}", uuid::Uuid::new_v4().simple());
            self.rt
                .block_on(st.put_bytes(&st.upload_key(&self.id, &name), tail))?;
            self.state.tail = Some(name);
        }
        self.rt.block_on(async {
            // The session's own meta may have changed since this writer opened (it is written
            // after the chunk): keep the stored one, change only where the data is.
            let mut current = st
                .load_state(&self.id)
                .await?
                .ok_or_else(|| not_found("upload"))?;
            current.multipart = self.state.multipart.clone();
            current.parts = self.state.parts.clone();
            current.tail = self.state.tail.clone();
            current.tail_len = self.state.tail_len;
            st.save_state(&self.id, &current).await?;
            if let Some(t) = old_tail {
                st.delete_quietly(&st.upload_key(&self.id, &t)).await?;
            }
            Ok(())
        })
    }
}

impl Storage for S3Storage {
    fn shared(&self) -> bool {
        true
    }

    fn blob_len<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move {
            match self.store.head(&self.blob_key(digest)).await {
                Ok(m) => Ok(Some(m.size)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(io_err(e)),
            }
        })
    }

    fn read_blob<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<Option<ByteStream>>> {
        Box::pin(async move {
            let key = self.blob_key(digest);
            if len == 0 {
                return Ok(self.blob_len(digest).await?.map(|_| empty_stream()));
            }
            match self.stream_range(&key, start, len).await {
                Ok(s) => Ok(Some(s)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(io_err(e)),
            }
        })
    }

    fn get_small<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<Bytes>>> {
        Box::pin(async move { self.get_bytes(&self.blob_key(digest)).await })
    }

    fn put_small<'a>(&'a self, digest: &'a Digest, data: Bytes) -> BoxFuture<'a, io::Result<()>> {
        // Content-addressed: writing the same bytes again is harmless, and one PUT is cheaper
        // than a HEAD to avoid it.
        Box::pin(async move { self.put_bytes(&self.blob_key(digest), data).await })
    }

    fn list_blobs(&self) -> BoxFuture<'_, io::Result<Vec<(Digest, u64)>>> {
        Box::pin(self.list_under("blobs", |rel, m| {
            let (alg, hex) = rel.strip_prefix("blobs/")?.split_once('/')?;
            let d = Digest::parse(&format!("{alg}:{hex}")).ok()?;
            Some((d, m.size))
        }))
    }

    fn delete_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move {
            // S3 deletes are idempotent and say nothing: ask first, for the answer.
            if self.blob_len(digest).await?.is_none() {
                return Ok(false);
            }
            self.delete_quietly(&self.blob_key(digest)).await?;
            Ok(true)
        })
    }

    fn create_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            check_id(id)?;
            // The multipart upload is created with the first full part: small blobs (most
            // configs and layers pushed in one request) never need one.
            let s = State {
                meta: meta.clone(),
                multipart: None,
                parts: Vec::new(),
                tail: None,
                tail_len: 0,
                sealed: false,
            };
            self.save_state(id, &s).await
        })
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<Option<UploadMeta>>> {
        Box::pin(async move {
            if check_id(id).is_err() {
                return Ok(None);
            }
            let Some(s) = self.load_state(id).await? else {
                return Ok(None);
            };
            let mut meta = s.meta.clone();
            meta.offset = meta.offset.min(s.stored());
            // A chunk stored whole parts, then the process died before the session recorded
            // the chunk: parts cannot be cut back, so the session cannot resume (the client
            // starts a new upload, as after any lost session).
            if meta.offset < s.parts_len() && !s.sealed {
                tracing::warn!(
                    session = id,
                    "upload state behind its stored parts, ignoring"
                );
                return Ok(None);
            }
            Ok(Some(meta))
        })
    }

    fn set_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            check_id(id)?;
            let mut s = self
                .load_state(id)
                .await?
                .ok_or_else(|| not_found("upload"))?;
            s.meta = meta.clone();
            self.save_state(id, &s).await
        })
    }

    fn upload_writer<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Box<dyn UploadWriter>>> {
        Box::pin(async move {
            check_id(id)?;
            let s = self
                .load_state(id)
                .await?
                .ok_or_else(|| not_found("upload"))?;
            if s.sealed || offset < s.parts_len() || offset > s.stored() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "upload cannot continue at this offset",
                ));
            }
            // Keep the part of the tail below `offset` (a failed chunk may have left more).
            let keep = offset - s.parts_len();
            let mut buf = BytesMut::with_capacity(PART_SIZE + (1 << 20));
            if keep > 0 {
                let t = s.tail.clone().ok_or_else(|| not_found("upload tail"))?;
                let tail = self
                    .stream_range(&self.upload_key(id, &t), 0, keep)
                    .await
                    .map_err(io_err)?;
                let chunks: Vec<Bytes> = tail.try_collect().await?;
                for c in chunks {
                    buf.extend_from_slice(&c);
                }
            }
            let mut state = s;
            state.tail_len = keep;
            Ok(Box::new(S3Writer {
                storage: Arc::new(self.clone()),
                rt: tokio::runtime::Handle::current(),
                id: id.to_string(),
                state,
                buf,
            }) as Box<dyn UploadWriter>)
        })
    }

    fn read_upload<'a>(&'a self, id: &'a str, len: u64) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            check_id(id)?;
            let mut s = self
                .load_state(id)
                .await?
                .ok_or_else(|| not_found("upload"))?;
            if !s.sealed && s.parts.is_empty() {
                return match &s.tail {
                    Some(t) => self
                        .stream_range(&self.upload_key(id, t), 0, len.min(s.tail_len))
                        .await
                        .map_err(io_err),
                    None => Ok(empty_stream()),
                };
            }
            // Parts of an unfinished multipart upload cannot be read back. Sessions carry their
            // hash state, so this only happens when the closing digest uses another algorithm
            // than the session: the upload is assembled now (then committed or dropped).
            self.seal(id, &mut s).await?;
            self.stream_range(&self.upload_key(id, "data"), 0, len.min(s.stored()))
                .await
                .map_err(io_err)
        })
    }

    fn commit_upload<'a>(
        &'a self,
        id: &'a str,
        len: u64,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            check_id(id)?;
            let mut s = self
                .load_state(id)
                .await?
                .ok_or_else(|| not_found("upload"))?;
            if len > s.stored() {
                return Err(io::Error::other("upload shorter than its recorded length"));
            }
            let target = self.blob_key(digest);
            if self.blob_len(digest).await?.is_none() {
                if !s.sealed && s.parts.is_empty() {
                    // Small upload: the tail is the whole blob.
                    let data = match &s.tail {
                        Some(t) if len > 0 => self
                            .get_bytes(&self.upload_key(id, t))
                            .await?
                            .ok_or_else(|| not_found("upload tail"))?
                            .slice(..len as usize),
                        _ => Bytes::new(),
                    };
                    self.put_bytes(&target, data).await?;
                } else {
                    self.seal(id, &mut s).await?;
                    if len != s.stored() {
                        return Err(io::Error::other("upload longer than its recorded length"));
                    }
                    // A server-side copy; Garage shares the data blocks.
                    self.store
                        .copy(&self.upload_key(id, "data"), &target)
                        .await
                        .map_err(io_err)?;
                }
            }
            self.delete_upload(id).await?;
            Ok(())
        })
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move {
            if check_id(id).is_err() {
                return Ok(false);
            }
            let Some(s) = self.load_state(id).await? else {
                return Ok(false);
            };
            if let Some(mp) = &s.multipart {
                match self
                    .store
                    .abort_multipart(&self.upload_key(id, "data"), mp)
                    .await
                {
                    Err(e) if !is_not_found(&e) => return Err(io_err(e)),
                    _ => {}
                }
            }
            if let Some(t) = &s.tail {
                self.delete_quietly(&self.upload_key(id, t)).await?;
            }
            if s.sealed {
                self.delete_quietly(&self.upload_key(id, "data")).await?;
            }
            self.delete_quietly(&self.upload_key(id, "state.json"))
                .await?;
            Ok(true)
        })
    }

    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, u64)>>> {
        Box::pin(self.list_under("uploads", |rel, m| {
            let id = rel.strip_prefix("uploads/")?.strip_suffix("/state.json")?;
            let secs = u64::try_from(m.last_modified.timestamp()).unwrap_or(0);
            Some((id.to_string(), secs))
        }))
    }

    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Bytes>>> {
        Box::pin(self.get_record_(key))
    }

    /// One request per op, in order: S3 has no multi-object transaction, and the registry
    /// orders its ops so that any prefix of them is consistent.
    fn write_records(&self, ops: Vec<RecordOp>) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            for op in ops {
                match op {
                    RecordOp::Put(k, v) => self.put_record_(&k, v).await?,
                    RecordOp::Delete(k) => self.delete_record_(&k).await?,
                }
            }
            Ok(())
        })
    }

    fn list_records<'a>(
        &'a self,
        prefix: &'a str,
        start_after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, io::Result<Vec<String>>> {
        Box::pin(self.list_records_(prefix, start_after, limit.min(super::LIST_LIMIT)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listing of a prefix starts right after `hex_floor`: below every key with the prefix,
    /// above every smaller key, for every last digit.
    #[test]
    fn hex_floor_sits_just_below_the_prefix() {
        for p in ["a", "tags/", "x0", "r/_:", "j", "A9"] {
            let hp = hex::encode(p);
            let floor = hex_floor(&hp);
            let (head, last) = p.split_at(p.len() - 1);
            let just_below = format!("{head}{}~~~~", char::from(last.as_bytes()[0] - 1));
            assert!(hex::encode(just_below) < floor, "{p:?}");
            assert!(floor < hp, "{p:?}");
        }
    }

    #[test]
    fn bucket_urls() {
        let c = S3Config::parse_url("s3://b/p/q/").unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", "p/q"));
        assert_eq!(c.url(), "s3://b/p/q");
        assert_eq!(S3Config::parse_url("s3://b").unwrap().url(), "s3://b");
        assert!(S3Config::parse_url("s3:///x").is_none());
        assert!(S3Config::parse_url("http://b").is_none());
    }
}
