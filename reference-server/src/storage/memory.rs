//! In-memory backend, for tests and the harness's embedded server. Nothing survives a restart.

use super::{BoxFuture, ByteStream, RecordOp, Storage, UploadMeta, UploadWriter, LIST_LIMIT};
use crate::digest::Digest;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

type Buffer = Arc<Mutex<Vec<u8>>>;

#[derive(Default)]
pub struct MemoryStorage {
    blobs: Mutex<HashMap<Digest, Bytes>>,
    uploads: Mutex<HashMap<String, (UploadMeta, Buffer)>>,
    /// Sorted, so listing a prefix after a key is a range scan.
    records: Mutex<BTreeMap<String, Bytes>>,
}

/// A poisoned lock only means another request panicked mid-update of plain data; keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemWriter(Buffer);

impl UploadWriter for MemWriter {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        lock(&self.0).extend_from_slice(data);
        Ok(())
    }
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such {what}"))
}

fn once(b: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::iter(std::iter::once(Ok(b))))
}

impl Storage for MemoryStorage {
    fn blob_len<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move { Ok(lock(&self.blobs).get(digest).map(|b| b.len() as u64)) })
    }

    fn read_blob<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<Option<ByteStream>>> {
        Box::pin(async move {
            let Some(b) = lock(&self.blobs).get(digest).cloned() else {
                return Ok(None);
            };
            let s = (start as usize).min(b.len());
            let e = (start.saturating_add(len) as usize).min(b.len());
            Ok(Some(once(b.slice(s..e))))
        })
    }

    fn get_small<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<Bytes>>> {
        Box::pin(async move { Ok(lock(&self.blobs).get(digest).cloned()) })
    }

    fn put_small<'a>(&'a self, digest: &'a Digest, data: Bytes) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            lock(&self.blobs).insert(digest.clone(), data);
            Ok(())
        })
    }

    fn list_blobs(&self) -> BoxFuture<'_, io::Result<Vec<(Digest, u64)>>> {
        Box::pin(async move {
            Ok(lock(&self.blobs)
                .iter()
                .map(|(d, b)| (d.clone(), b.len() as u64))
                .collect())
        })
    }

    fn delete_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move { Ok(lock(&self.blobs).remove(digest).is_some()) })
    }

    fn create_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            lock(&self.uploads).insert(id.to_string(), (meta.clone(), Buffer::default()));
            Ok(())
        })
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<Option<UploadMeta>>> {
        Box::pin(async move { Ok(lock(&self.uploads).get(id).map(|(m, _)| m.clone())) })
    }

    fn set_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match lock(&self.uploads).get_mut(id) {
                Some((m, _)) => {
                    *m = meta.clone();
                    Ok(())
                }
                None => Err(not_found("upload")),
            }
        })
    }

    fn upload_writer<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Box<dyn UploadWriter>>> {
        Box::pin(async move {
            let buf = lock(&self.uploads)
                .get(id)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| not_found("upload"))?;
            lock(&buf).truncate(offset as usize);
            Ok(Box::new(MemWriter(buf)) as Box<dyn UploadWriter>)
        })
    }

    fn read_upload<'a>(&'a self, id: &'a str, len: u64) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            let buf = lock(&self.uploads)
                .get(id)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| not_found("upload"))?;
            let data = lock(&buf);
            let end = (len as usize).min(data.len());
            Ok(once(Bytes::copy_from_slice(&data[..end])))
        })
    }

    fn commit_upload<'a>(
        &'a self,
        id: &'a str,
        len: u64,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let (_, buf) = lock(&self.uploads)
                .remove(id)
                .ok_or_else(|| not_found("upload"))?;
            let mut data = std::mem::take(&mut *lock(&buf));
            data.truncate(len as usize);
            // A growing Vec may hold up to twice its length; do not keep that for the blob's life.
            if data.capacity() > data.len() + data.len() / 8 {
                data.shrink_to_fit();
            }
            lock(&self.blobs)
                .entry(digest.clone())
                .or_insert_with(|| Bytes::from(data));
            Ok(())
        })
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move { Ok(lock(&self.uploads).remove(id).is_some()) })
    }

    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            Ok(lock(&self.uploads)
                .iter()
                .map(|(id, (m, _))| (id.clone(), m.last_used()))
                .collect())
        })
    }

    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Bytes>>> {
        Box::pin(async move { Ok(lock(&self.records).get(key).cloned()) })
    }

    fn write_records(&self, ops: Vec<RecordOp>) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let mut r = lock(&self.records);
            for op in ops {
                match op {
                    RecordOp::Put(k, v) => {
                        r.insert(k, v);
                    }
                    RecordOp::Delete(k) => {
                        r.remove(&k);
                    }
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
        use std::ops::Bound;
        Box::pin(async move {
            let from = match start_after {
                Some(a) if a >= prefix => Bound::Excluded(a),
                _ => Bound::Included(prefix),
            };
            Ok(lock(&self.records)
                .range::<str, _>((from, Bound::Unbounded))
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(prefix))
                .take(limit.min(LIST_LIMIT))
                .cloned()
                .collect())
        })
    }
}
