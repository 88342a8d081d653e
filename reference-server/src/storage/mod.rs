//! Storage backends behind one small trait.
//!
//! A backend stores three things: content-addressed blob data (shared by all repositories; which
//! repository may see which blob is decided by the repository index, not here), upload sessions
//! (data plus a small persisted state), and metadata records: small values under sorted string
//! keys (get, ordered writes, list by prefix after a key), which is what an object store (S3:
//! GET, PUT, DELETE, ListObjectsV2 with `prefix`, `start-after`, `max-keys`) offers too.

use crate::digest::Digest;
use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::pin::Pin;

pub mod fs;
pub mod memory;
pub mod s3;

pub use fs::FsStorage;
pub use memory::MemoryStorage;
pub use s3::{S3Config, S3Storage};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Persisted state of an upload session. `offset` is the number of bytes accepted so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMeta {
    pub repo: String,
    pub algorithm: String,
    pub offset: u64,
    /// Unix seconds of creation.
    #[serde(default)]
    pub created: u64,
    /// Unix seconds of the last accepted chunk (0: none yet); sessions expire by idle time.
    #[serde(default)]
    pub touched: u64,
    /// The hasher's running state after the first `offset` bytes, so whichever process gets
    /// the next chunk continues the hash without reading the data back (object storage cannot
    /// read back the parts of an unfinished multipart upload). Absent in sessions written by
    /// earlier versions: the data is hashed again then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_state: Option<HashState>,
}

/// A hasher's exported state (`digest::Hasher::state`), valid for exactly `at` bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashState {
    pub at: u64,
    /// Hex of the exported state.
    pub state: String,
}

impl UploadMeta {
    /// When the session was last used.
    pub fn last_used(&self) -> u64 {
        self.created.max(self.touched)
    }
}

/// One change to the metadata records (see [`Storage::write_records`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOp {
    Put(String, Bytes),
    Delete(String),
}

/// Most keys one [`Storage::list_records`] call may ask for: S3 lists at most 1,000 keys per
/// request, and callers page anyway.
pub const LIST_LIMIT: usize = 1000;

/// Appends to an upload's data. Blocking on purpose: the registry runs it on a blocking thread
/// together with the hasher, so hashing and disk writes overlap with receiving the body.
pub trait UploadWriter: Send {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
    /// Called once after the last `write_all` of a chunk that arrived whole: what was written
    /// must be stored when it returns (object storage keeps the tail of a chunk in memory until
    /// then). A writer dropped without `finish` belongs to a failed chunk.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub trait Storage: Send + Sync + 'static {
    /// Other processes may change this storage (replicas on one bucket): what this process
    /// holds in memory about a session must be checked against the stored state before use.
    fn shared(&self) -> bool {
        false
    }
    /// Size of a stored blob, None if absent.
    fn blob_len<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<u64>>>;
    /// `len` bytes from `start` (the caller checked the bounds against `blob_len`).
    fn read_blob<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<Option<ByteStream>>>;
    /// Whole small blob (manifests), None if absent.
    fn get_small<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<Bytes>>>;
    /// Stores a small blob whose digest the caller computed.
    fn put_small<'a>(&'a self, digest: &'a Digest, data: Bytes) -> BoxFuture<'a, io::Result<()>>;
    /// Every stored blob and its size (for garbage collection).
    fn list_blobs(&self) -> BoxFuture<'_, io::Result<Vec<(Digest, u64)>>>;
    /// Removes a blob's data; false if there was none. Only garbage collection calls it.
    fn delete_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>>;

    fn create_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>>;
    /// The session's state; `offset` never exceeds the data actually stored.
    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<Option<UploadMeta>>>;
    fn set_upload<'a>(&'a self, id: &'a str, meta: &'a UploadMeta)
        -> BoxFuture<'a, io::Result<()>>;
    /// A writer positioned at `offset`; anything stored beyond it (a failed chunk) is dropped.
    fn upload_writer<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Box<dyn UploadWriter>>>;
    /// The first `len` bytes of the upload's data (to rebuild a hasher after a restart).
    fn read_upload<'a>(&'a self, id: &'a str, len: u64) -> BoxFuture<'a, io::Result<ByteStream>>;
    /// The first `len` bytes of the upload become blob `digest` (verified by the caller) and the
    /// session is removed. Storing a blob that already exists is not an error.
    fn commit_upload<'a>(
        &'a self,
        id: &'a str,
        len: u64,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<()>>;
    /// Removes a session; false if there was none.
    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<bool>>;
    /// Every stored session with the Unix seconds of its last change (for purging stale ones,
    /// including sessions whose state cannot be read).
    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, u64)>>>;

    /// The value stored under `key`, None if absent.
    ///
    /// Records are the registry's metadata: small values (at most a few KiB, except referrer
    /// descriptors carrying annotations) under printable ASCII keys of at most 1,024 bytes.
    /// The key layout is the registry's (`crate::index`); backends only store, order and list.
    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Bytes>>>;
    /// Applies `ops` in order; durable when it returns Ok (an acknowledged write survives
    /// `kill -9` and, on the filesystem, a power cut). Not a transaction: after a crash or an
    /// error, any prefix of `ops` may have been applied (a backend that can apply them all or
    /// none, like the filesystem's, is free to). Deleting an absent key is not an error.
    fn write_records(&self, ops: Vec<RecordOp>) -> BoxFuture<'_, io::Result<()>>;
    /// Up to `limit` (at most [`LIST_LIMIT`]) keys starting with `prefix` and greater than
    /// `start_after` (a whole key, which need not exist), ascending in byte order. Fewer than
    /// `limit` means the listing is complete.
    fn list_records<'a>(
        &'a self,
        prefix: &'a str,
        start_after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, io::Result<Vec<String>>>;
}

/// Turns a tokio channel of chunks into a stream (used by both backends' readers).
pub(crate) fn channel_stream(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
pub(crate) mod suite;
