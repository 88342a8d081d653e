//! Filesystem backend (the default).
//!
//! Layout under the root:
//! - `blobs/<alg>/<hex[0..2]>/<hex>`: content-addressed data, blobs and manifests alike;
//! - `uploads/<uuid>/data` and `uploads/<uuid>/state.json`: sessions survive a restart;
//! - `repositories/<sha256(name)>.json`: one index document per repository (hashed file names
//!   because repository names may nest in ways directories cannot, e.g. `a/b` and `a/b/c`);
//! - `tmp/`: every file is written here, fsynced, then renamed into place (crash-safe).

use super::{channel_stream, BoxFuture, ByteStream, Storage, UploadMeta, UploadWriter};
use crate::digest::{Algorithm, Digest};
use bytes::{Bytes, BytesMut};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Read size for blob downloads: large enough that per-chunk overhead vanishes, small enough
/// to keep memory flat (at most `READ_AHEAD` chunks in flight per download).
const READ_CHUNK: usize = 1 << 20;
const READ_AHEAD: usize = 4;

pub struct FsStorage {
    root: Arc<PathBuf>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such {what}"))
}

/// Session ids reach this backend only after the router checked they are UUIDs; refuse anything
/// else anyway so no id can ever name a path outside `uploads/`.
fn check_id(id: &str) -> io::Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bad upload id"))
    }
}

fn sync_dir(dir: &Path) {
    // Best effort: makes the rename durable; not every platform allows opening a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl FsStorage {
    /// Creates the layout if needed.
    pub async fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root: PathBuf = root.into();
        let r = root.clone();
        blocking(move || {
            for sub in ["blobs", "uploads", "repositories", "tmp"] {
                fs::create_dir_all(r.join(sub))?;
            }
            // Leftovers of writes interrupted by a crash.
            if let Ok(entries) = fs::read_dir(r.join("tmp")) {
                for e in entries.flatten() {
                    let _ = fs::remove_file(e.path());
                }
            }
            Ok(())
        })
        .await?;
        Ok(FsStorage {
            root: Arc::new(root),
        })
    }

    fn blob_path(root: &Path, d: &Digest) -> PathBuf {
        let alg = match d.algorithm() {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        };
        root.join("blobs")
            .join(alg)
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    fn upload_dir(root: &Path, id: &str) -> PathBuf {
        root.join("uploads").join(id)
    }

    fn repo_path(root: &Path, name: &str) -> PathBuf {
        let h = Algorithm::Sha256.digest_of(name.as_bytes());
        root.join("repositories").join(format!("{}.json", h.hex()))
    }

    /// Writes `data` to `target` via tmp file + fsync + rename.
    fn write_atomic(root: &Path, target: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let res = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            let parent = target
                .parent()
                .ok_or_else(|| io::Error::other("no parent"))?;
            fs::create_dir_all(parent)?;
            fs::rename(&tmp, target)?;
            sync_dir(parent);
            Ok(())
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn read_meta(root: &Path, id: &str) -> io::Result<Option<UploadMeta>> {
        let dir = Self::upload_dir(root, id);
        let raw = match fs::read(dir.join("state.json")) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut meta: UploadMeta = serde_json::from_slice(&raw)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // Data may be shorter than the recorded offset after a crash (chunks are not fsynced
        // one by one); the session resumes from what is really there.
        let len = fs::metadata(dir.join("data")).map(|m| m.len()).unwrap_or(0);
        meta.offset = meta.offset.min(len);
        Ok(Some(meta))
    }
}

struct FileWriter(File);

impl UploadWriter for FileWriter {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }
}

/// Streams `len` bytes of `file` from its current position on a blocking thread, reading ahead
/// a few chunks so disk reads overlap with sending.
fn stream_file(mut file: File, len: u64) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let want = (left as usize).min(READ_CHUNK);
            let mut buf = BytesMut::zeroed(want);
            let item = match file.read(&mut buf) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob shorter than expected",
                )),
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    Ok(buf.freeze())
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                break; // receiver gone (client left) or error delivered
            }
        }
    });
    channel_stream(rx)
}

impl Storage for FsStorage {
    fn blob_len<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<u64>>> {
        let path = Self::blob_path(&self.root, digest);
        Box::pin(async move {
            match tokio::fs::metadata(&path).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn read_blob<'a>(
        &'a self,
        digest: &'a Digest,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<Option<ByteStream>>> {
        let path = Self::blob_path(&self.root, digest);
        Box::pin(async move {
            let file = blocking(move || match File::open(&path) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(start))?;
                    Ok(Some(f))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
            Ok(file.map(|f| stream_file(f, len)))
        })
    }

    fn get_small<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<Option<Bytes>>> {
        let path = Self::blob_path(&self.root, digest);
        Box::pin(async move {
            match tokio::fs::read(&path).await {
                Ok(b) => Ok(Some(Bytes::from(b))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn put_small<'a>(&'a self, digest: &'a Digest, data: Bytes) -> BoxFuture<'a, io::Result<()>> {
        let root = self.root.clone();
        let path = Self::blob_path(&root, digest);
        Box::pin(async move {
            blocking(move || {
                if path.exists() {
                    return Ok(());
                }
                Self::write_atomic(&root, &path, &data)
            })
            .await
        })
    }

    fn create_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>> {
        let root = self.root.clone();
        let id = id.to_string();
        let meta = meta.clone();
        Box::pin(async move {
            check_id(&id)?;
            blocking(move || {
                let dir = Self::upload_dir(&root, &id);
                fs::create_dir_all(&dir)?;
                File::create(dir.join("data"))?;
                let doc = serde_json::to_vec(&meta).map_err(io::Error::other)?;
                Self::write_atomic(&root, &dir.join("state.json"), &doc)
            })
            .await
        })
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<Option<UploadMeta>>> {
        let root = self.root.clone();
        let id = id.to_string();
        Box::pin(async move {
            if check_id(&id).is_err() {
                return Ok(None);
            }
            blocking(move || Self::read_meta(&root, &id)).await
        })
    }

    fn set_upload<'a>(
        &'a self,
        id: &'a str,
        meta: &'a UploadMeta,
    ) -> BoxFuture<'a, io::Result<()>> {
        let root = self.root.clone();
        let id = id.to_string();
        let meta = meta.clone();
        Box::pin(async move {
            check_id(&id)?;
            blocking(move || {
                let dir = Self::upload_dir(&root, &id);
                if !dir.exists() {
                    return Err(not_found("upload"));
                }
                let doc = serde_json::to_vec(&meta).map_err(io::Error::other)?;
                Self::write_atomic(&root, &dir.join("state.json"), &doc)
            })
            .await
        })
    }

    fn upload_writer<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Box<dyn UploadWriter>>> {
        let root = self.root.clone();
        let id = id.to_string();
        Box::pin(async move {
            check_id(&id)?;
            blocking(move || {
                let path = Self::upload_dir(&root, &id).join("data");
                let mut f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(offset)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(FileWriter(f)) as Box<dyn UploadWriter>)
            })
            .await
        })
    }

    fn read_upload<'a>(&'a self, id: &'a str, len: u64) -> BoxFuture<'a, io::Result<ByteStream>> {
        let root = self.root.clone();
        let id = id.to_string();
        Box::pin(async move {
            check_id(&id)?;
            let f = blocking(move || File::open(Self::upload_dir(&root, &id).join("data"))).await?;
            Ok(stream_file(f, len))
        })
    }

    fn commit_upload<'a>(
        &'a self,
        id: &'a str,
        len: u64,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<()>> {
        let root = self.root.clone();
        let id = id.to_string();
        let target = Self::blob_path(&root, digest);
        Box::pin(async move {
            check_id(&id)?;
            blocking(move || {
                let dir = Self::upload_dir(&root, &id);
                let data = dir.join("data");
                if !target.exists() {
                    let f = OpenOptions::new().write(true).open(&data)?;
                    f.set_len(len)?;
                    f.sync_all()?;
                    drop(f);
                    let parent = target
                        .parent()
                        .ok_or_else(|| io::Error::other("no parent"))?;
                    fs::create_dir_all(parent)?;
                    fs::rename(&data, &target)?;
                    sync_dir(parent);
                }
                fs::remove_dir_all(&dir)
            })
            .await
        })
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        let root = self.root.clone();
        let id = id.to_string();
        Box::pin(async move {
            if check_id(&id).is_err() {
                return Ok(false);
            }
            blocking(
                move || match fs::remove_dir_all(Self::upload_dir(&root, &id)) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e),
                },
            )
            .await
        })
    }

    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<String>>> {
        let root = self.root.clone();
        Box::pin(async move {
            blocking(move || {
                let mut out = Vec::new();
                for e in fs::read_dir(root.join("uploads"))? {
                    if let Some(name) = e?.file_name().to_str() {
                        out.push(name.to_string());
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    fn load_repos(&self) -> BoxFuture<'_, io::Result<Vec<Vec<u8>>>> {
        let root = self.root.clone();
        Box::pin(async move {
            blocking(move || {
                let mut out = Vec::new();
                for e in fs::read_dir(root.join("repositories"))? {
                    let p = e?.path();
                    if p.extension().is_some_and(|x| x == "json") {
                        out.push(fs::read(&p)?);
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    fn save_repo<'a>(&'a self, name: &'a str, doc: Vec<u8>) -> BoxFuture<'a, io::Result<()>> {
        let root = self.root.clone();
        let path = Self::repo_path(&root, name);
        Box::pin(async move { blocking(move || Self::write_atomic(&root, &path, &doc)).await })
    }
}
