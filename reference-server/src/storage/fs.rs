//! Filesystem backend (the default).
//!
//! Layout under the root:
//! - `blobs/<alg>/<hex[0..2]>/<hex>`: content-addressed data, blobs and manifests alike;
//! - `uploads/<uuid>/data` and `uploads/<uuid>/state.json`: sessions survive a restart;
//! - `index.redb`: the metadata records (see below);
//! - `repositories/<sha256(name)>.json`: one index document per repository, written by earlier
//!   versions; imported into the records once at start-up, then moved to
//!   `repositories/imported/`;
//! - `tmp/`: every file is written here, fsynced, then renamed into place (crash-safe).
//!
//! Records are kept in redb, an embedded B-tree store, rather than one file per record: a
//! directory cannot be listed in key order from a given key without reading all of it, and a
//! repository with 100,000 tags would be 100,000 files. redb keeps keys sorted (pages straight
//! from the tree), commits a batch of changes atomically with one fsync before `commit`
//! returns (so an acknowledged write survives `kill -9` and power loss, and a crash never
//! leaves half a batch), checksums what it writes, and its page cache is bounded
//! (`RECORD_CACHE`), so memory stays flat however many records there are. It locks its file:
//! one server process per root.

use super::{
    channel_stream, BoxFuture, ByteStream, RecordOp, Storage, UploadMeta, UploadWriter, LIST_LIMIT,
};
use crate::digest::{Algorithm, Digest};
use bytes::{Bytes, BytesMut};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Read size for blob downloads. Measured: 64-128 KiB beats 1 MiB by ~40% (the buffer stays
/// in cache between the read from the page cache and the copy to the socket). At most
/// `READ_AHEAD` chunks are in flight per download, so memory stays flat.
const READ_CHUNK: usize = 128 << 10;
const READ_AHEAD: usize = 4;
/// Upload data is handed to the disk's writeback every this many bytes while it arrives, so
/// the fsync that must precede the acknowledgement only waits for the tail, not the whole blob.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// Page cache of the record store. Hot records (recent tags, manifest metadata) stay cached;
/// the rest is read from the OS page cache on demand.
const RECORD_CACHE: usize = 32 << 20;
const RECORDS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("records");
/// File name of the record store under the root.
pub const INDEX_FILE: &str = "index.redb";

pub struct FsStorage {
    root: Arc<PathBuf>,
    db: Arc<redb::Database>,
    commits: Arc<Commits>,
}

type CommitResult = Result<(), (io::ErrorKind, String)>;

/// Group commit. redb commits one write transaction at a time, each with its fsync; requests
/// writing at once would queue for one fsync each. Instead, writers queue their changes and one
/// of them (the leader) commits everything queued in one transaction, then hands the role on:
/// one fsync for the whole group, each request still answered only once its changes are
/// durable. A failed commit fails every request of its group, none is half applied.
#[derive(Default)]
struct Commits {
    state: std::sync::Mutex<CommitState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct CommitState {
    next: u64,
    queue: Vec<(u64, Vec<RecordOp>)>,
    done: std::collections::HashMap<u64, CommitResult>,
    leading: bool,
}

impl Commits {
    fn write(&self, db: &redb::Database, ops: Vec<RecordOp>) -> io::Result<()> {
        fn lock(m: &std::sync::Mutex<CommitState>) -> std::sync::MutexGuard<'_, CommitState> {
            m.lock().unwrap_or_else(|e| e.into_inner())
        }
        let mut st = lock(&self.state);
        let id = st.next;
        st.next += 1;
        st.queue.push((id, ops));
        loop {
            if let Some(r) = st.done.remove(&id) {
                return r.map_err(|(kind, msg)| io::Error::new(kind, msg));
            }
            if st.leading {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.leading = true;
            let group = std::mem::take(&mut st.queue);
            drop(st);
            let r = commit_ops(db, group.iter().flat_map(|(_, ops)| ops))
                .map_err(|e| (e.kind(), e.to_string()));
            st = lock(&self.state);
            for (i, _) in group {
                st.done.insert(i, r.clone());
            }
            st.leading = false;
            self.changed.notify_all();
        }
    }
}

/// One transaction, committed with the default `Durability::Immediate`: fsynced before
/// `commit` returns, all of `ops` or none of them.
fn commit_ops<'a>(db: &redb::Database, ops: impl Iterator<Item = &'a RecordOp>) -> io::Result<()> {
    let w = db.begin_write().map_err(db_error)?;
    {
        let mut t = w.open_table(RECORDS).map_err(db_error)?;
        for op in ops {
            match op {
                RecordOp::Put(k, v) => {
                    t.insert(k.as_str(), v.as_ref()).map_err(db_error)?;
                }
                RecordOp::Delete(k) => {
                    t.remove(k.as_str()).map_err(db_error)?;
                }
            }
        }
    }
    w.commit().map_err(db_error)
}

fn db_error(e: impl Into<redb::Error>) -> io::Error {
    match e.into() {
        redb::Error::Io(e) => e,
        e => io::Error::other(e),
    }
}

/// Opens (creating if absent) the record store. A file redb cannot read is reported as
/// damaged (`InvalidData`) and left untouched; `check --repair` moves it aside.
fn open_index(path: &Path) -> io::Result<redb::Database> {
    let db = redb::Database::builder()
        .set_cache_size(RECORD_CACHE)
        .create(path)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "{} is in use by another process (one server per storage root)",
                    path.display()
                ),
            ),
            // redb reports a bad header as an I/O error of kind InvalidData.
            redb::DatabaseError::Storage(redb::StorageError::Io(e))
                if !matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                e
            }
            e => io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "repository index {} is damaged ({e}); nothing was changed. \
                     `oci-reference-server check` lists every problem, \
                     `check --repair` moves a damaged index aside so the server can start",
                    path.display()
                ),
            ),
        })?;
    let w = db.begin_write().map_err(db_error)?;
    w.open_table(RECORDS).map_err(db_error)?;
    w.commit().map_err(db_error)?;
    Ok(db)
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

/// Makes the entries of `dir` (a rename, a new file) durable. Linux and the BSDs allow it;
/// where a directory cannot be opened at all there is nothing more we can do.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir) {
        Ok(d) => d.sync_all(),
        Err(_) if cfg!(not(unix)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `create_dir_all`, then makes every directory it created durable in its parent, so a file
/// renamed into a fresh directory is reachable after a power cut.
fn create_dirs_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.is_dir() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    fs::create_dir_all(dir)?;
    for m in missing.iter().rev() {
        if let Some(p) = m.parent() {
            sync_dir(p)?;
        }
    }
    Ok(())
}

impl FsStorage {
    /// Creates the layout if needed.
    pub async fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root: PathBuf = root.into();
        let r = root.clone();
        let db = blocking(move || {
            for sub in ["blobs", "uploads", "repositories", "tmp"] {
                fs::create_dir_all(r.join(sub))?;
            }
            // Leftovers of writes interrupted by a crash.
            if let Ok(entries) = fs::read_dir(r.join("tmp")) {
                for e in entries.flatten() {
                    let _ = fs::remove_file(e.path());
                }
            }
            Self::recover_pending(&r)?;
            open_index(&r.join(INDEX_FILE))
        })
        .await?;
        Ok(FsStorage {
            root: Arc::new(root),
            db: Arc::new(db),
            commits: Arc::default(),
        })
    }

    /// Moves a record store that cannot be opened into `damaged/` (never deleting it), so a
    /// new, empty one can be created; returns where it went.
    pub async fn quarantine_index(root: &Path) -> io::Result<String> {
        let root = root.to_path_buf();
        blocking(move || {
            let aside = root.join("damaged");
            create_dirs_durable(&aside)?;
            let to = aside.join(format!("{INDEX_FILE}.{}", crate::registry::now_secs()));
            fs::rename(root.join(INDEX_FILE), &to)?;
            sync_dir(&aside)?;
            sync_dir(&root)?;
            Ok(to.display().to_string())
        })
        .await
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

    /// Stores written by earlier versions, which fsynced large blobs in the background under a
    /// `pending/` marker: blobs whose sync may not have finished before a crash are kept if their
    /// content still matches their digest, deleted otherwise (their repositories then answer
    /// `BLOB_UNKNOWN` and clients push again, instead of being served corrupt data).
    fn recover_pending(root: &Path) -> io::Result<()> {
        let pending = root.join("pending");
        if !pending.is_dir() {
            return Ok(());
        }
        for e in fs::read_dir(&pending)? {
            let marker = e?.path();
            let name = marker
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .replacen('-', ":", 1);
            if let Ok(d) = Digest::parse(&name) {
                let path = Self::blob_path(root, &d);
                if let Ok(mut f) = File::open(&path) {
                    let mut h = d.algorithm().hasher();
                    let mut buf = vec![0u8; READ_CHUNK];
                    loop {
                        let n = f.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                    if h.finish() == d {
                        f.sync_all()?;
                    } else {
                        tracing::warn!(digest = %d, "removing blob corrupted by a crash");
                        fs::remove_file(&path)?;
                    }
                }
            }
            fs::remove_file(&marker)?;
        }
        fs::remove_dir(&pending)
    }

    fn upload_dir(root: &Path, id: &str) -> PathBuf {
        root.join("uploads").join(id)
    }

    /// Writes `data` to `target` via tmp file + fsync + rename.
    fn write_atomic(root: &Path, target: &Path, data: &[u8]) -> io::Result<()> {
        Self::replace_file(root, target, data, true)
    }

    /// Tmp file + rename, so readers never see a partial file; with `durable`, fsynced too.
    fn replace_file(root: &Path, target: &Path, data: &[u8], durable: bool) -> io::Result<()> {
        let tmp = root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let res = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            if durable {
                f.sync_all()?;
            }
            let parent = target
                .parent()
                .ok_or_else(|| io::Error::other("no parent"))?;
            if durable {
                create_dirs_durable(parent)?;
            } else {
                fs::create_dir_all(parent)?;
            }
            fs::rename(&tmp, target)?;
            if durable {
                sync_dir(parent)?;
            }
            Ok(())
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// Upload state is written after every chunk; chunk data is not fsynced either (the offset
    /// is clamped to the data on load), so an fsync here would only slow chunked uploads down.
    fn save_state(root: &Path, dir: &Path, doc: &[u8]) -> io::Result<()> {
        Self::replace_file(root, &dir.join("state.json"), doc, false)
    }

    fn read_meta(root: &Path, id: &str) -> io::Result<Option<UploadMeta>> {
        let dir = Self::upload_dir(root, id);
        let raw = match fs::read(dir.join("state.json")) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Session state is not fsynced (see `save_state`): after a crash it may be unreadable,
        // and the session is then simply unknown; the client starts a new upload.
        let mut meta: UploadMeta = match serde_json::from_slice(&raw) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(session = id, error = %e, "unreadable upload state, ignoring");
                return Ok(None);
            }
        };
        // Data may be shorter than the recorded offset after a crash (chunks are not fsynced
        // one by one); the session resumes from what is really there.
        let len = fs::metadata(dir.join("data")).map(|m| m.len()).unwrap_or(0);
        meta.offset = meta.offset.min(len);
        Ok(Some(meta))
    }
}

struct FileWriter {
    file: File,
    /// Position of the next write, and where the last writeback request ended.
    pos: u64,
    flushed: u64,
}

impl UploadWriter for FileWriter {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.pos += data.len() as u64;
        if self.pos - self.flushed >= WRITEBACK_EVERY {
            start_writeback(&self.file, self.flushed, self.pos - self.flushed);
            self.flushed = self.pos;
        }
        Ok(())
    }
}

/// Asks the kernel to start writing a range out now, without waiting for it: the disk works
/// while the rest of the body arrives and is hashed, instead of all at once at the fsync.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    let (Ok(off), Ok(n)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return;
    };
    // SAFETY: a plain syscall on an open descriptor we own; failure only loses the head start.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Streams `len` bytes of `file` from `start` on a blocking thread, a few chunks ahead of the
/// socket. With `map` (immutable blob files only), on Unix, the chunks are read-only memory
/// mappings (pre-faulted on the blocking thread), so the only copy left is the kernel's into
/// the socket; otherwise, or if mapping fails, plain reads.
fn stream_file(file: File, start: u64, len: u64, map: bool) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut pos = start;
        let end = start + len;
        #[cfg(unix)]
        let mut use_map = map;
        while pos < end {
            #[cfg(unix)]
            if use_map {
                let want = ((end - pos) as usize).min(MAP_WINDOW);
                match mmap::map(&file, pos, want) {
                    Ok(b) => {
                        pos += want as u64;
                        if tx.blocking_send(Ok(b)).is_err() {
                            return; // client left
                        }
                        continue;
                    }
                    Err(_) => use_map = false,
                }
            }
            let item = read_chunk(&mut file, pos, ((end - pos) as usize).min(READ_CHUNK));
            let failed = item.is_err();
            if let Ok(b) = &item {
                pos += b.len() as u64;
            }
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    channel_stream(rx)
}

fn read_chunk(file: &mut File, pos: u64, want: usize) -> io::Result<Bytes> {
    file.seek(SeekFrom::Start(pos))?;
    let mut buf = BytesMut::zeroed(want);
    let n = file.read(&mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob shorter than expected",
        ));
    }
    buf.truncate(n);
    Ok(buf.freeze())
}

/// Size of each mapped window handed to the socket; with `READ_AHEAD` it bounds the mapped
/// (hence resident) part of a blob being served.
#[cfg(unix)]
const MAP_WINDOW: usize = 2 << 20;

#[cfg(unix)]
mod mmap {
    use bytes::Bytes;
    use std::fs::File;
    use std::io;

    /// Maps `len > 0` bytes of `file` at `offset` read-only, faulting the pages in now (on the
    /// calling blocking thread) rather than later on an async worker; unmapped when the last
    /// `Bytes` sharing it is dropped.
    pub fn map(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
        // SAFETY: a mapping is only sound while nobody truncates or rewrites the file. Blob
        // files are immutable once renamed into place (never truncated or rewritten, only
        // unlinked, which keeps mapped pages valid), and upload data, which a writer may still
        // truncate, is never mapped (`stream_file`'s `map` is false for it).
        let m = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .populate()
                .map(file)?
        };
        Ok(Bytes::from_owner(m))
    }
}

/// Repository documents of earlier versions with where each is stored.
pub type LegacyDocuments = Vec<(String, Vec<u8>)>;

/// Repository documents of earlier versions (see the module documentation).
impl FsStorage {
    /// The repository documents of earlier versions, with where each is stored.
    pub fn legacy_documents(&self) -> BoxFuture<'_, io::Result<LegacyDocuments>> {
        let root = self.root.clone();
        Box::pin(async move {
            blocking(move || {
                let mut out = Vec::new();
                for e in fs::read_dir(root.join("repositories"))? {
                    let p = e?.path();
                    if p.extension().is_some_and(|x| x == "json") {
                        out.push((p.display().to_string(), fs::read(&p)?));
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    /// Moves an unreadable repository document (named as `legacy_documents` names it) out
    /// of the way, never deleting it; returns where it went.
    pub fn quarantine_repo<'a>(&'a self, location: &'a str) -> BoxFuture<'a, io::Result<String>> {
        let root = self.root.clone();
        let from = PathBuf::from(location);
        Box::pin(async move {
            blocking(move || {
                if from.parent() != Some(root.join("repositories").as_path()) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "not a repository document",
                    ));
                }
                let aside = root.join("damaged");
                create_dirs_durable(&aside)?;
                let name = from
                    .file_name()
                    .ok_or_else(|| io::Error::other("no file name"))?;
                let to = aside.join(format!(
                    "{}.{}",
                    name.to_string_lossy(),
                    crate::registry::now_secs()
                ));
                fs::rename(&from, &to)?;
                sync_dir(&aside)?;
                sync_dir(&root.join("repositories"))?;
                Ok(to.display().to_string())
            })
            .await
        })
    }

    /// Moves an imported repository document to `repositories/imported/`.
    pub async fn retire_legacy_document(&self, location: &str) -> io::Result<()> {
        let root = self.root.clone();
        let from = PathBuf::from(location);
        blocking(move || {
            let done = root.join("repositories").join("imported");
            create_dirs_durable(&done)?;
            let name = from
                .file_name()
                .ok_or_else(|| io::Error::other("no file name"))?;
            fs::rename(&from, done.join(name))?;
            sync_dir(&done)?;
            sync_dir(&root.join("repositories"))
        })
        .await
    }
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
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
            Ok(file.map(|f| stream_file(f, start, len, true)))
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

    fn list_blobs(&self) -> BoxFuture<'_, io::Result<Vec<(Digest, u64)>>> {
        let root = self.root.clone();
        Box::pin(async move {
            blocking(move || {
                let mut out = Vec::new();
                for alg in [Algorithm::Sha256, Algorithm::Sha512] {
                    let top = root.join("blobs").join(alg.name());
                    let Ok(prefixes) = fs::read_dir(&top) else {
                        continue;
                    };
                    for p in prefixes {
                        for e in fs::read_dir(p?.path())? {
                            let e = e?;
                            let name = e.file_name();
                            let Some(hex) = name.to_str() else { continue };
                            if let Ok(d) = Digest::parse(&format!("{}:{hex}", alg.name())) {
                                out.push((d, e.metadata()?.len()));
                            }
                        }
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    fn delete_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, io::Result<bool>> {
        let path = Self::blob_path(&self.root, digest);
        Box::pin(async move {
            blocking(move || match fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
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
                Self::save_state(&root, &dir, &doc)
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
                Self::save_state(&root, &dir, &doc)
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
                let mut file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(offset)?;
                file.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(FileWriter {
                    file,
                    pos: offset,
                    flushed: offset,
                }) as Box<dyn UploadWriter>)
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
            // Upload data can still be truncated by a writer: never map it (SIGBUS).
            Ok(stream_file(f, 0, len, false))
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
                    // Acknowledged means durable: the data, then the directory entries that
                    // reach it, are on disk before the caller answers 201. Most of the data is
                    // already written back (see `start_writeback`), so this waits for the tail.
                    let f = OpenOptions::new().write(true).open(&data)?;
                    f.set_len(len)?;
                    f.sync_all()?;
                    drop(f);
                    let parent = target
                        .parent()
                        .ok_or_else(|| io::Error::other("no parent"))?;
                    create_dirs_durable(parent)?;
                    fs::rename(&data, &target)?;
                    sync_dir(parent)?;
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

    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, u64)>>> {
        let root = self.root.clone();
        Box::pin(async move {
            blocking(move || {
                let secs = |p: &Path| {
                    fs::metadata(p)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs())
                };
                let mut out = Vec::new();
                for e in fs::read_dir(root.join("uploads"))? {
                    let e = e?;
                    if let Some(name) = e.file_name().to_str() {
                        let dir = e.path();
                        let last = secs(&dir)
                            .max(secs(&dir.join("data")))
                            .max(secs(&dir.join("state.json")));
                        out.push((name.to_string(), last));
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Bytes>>> {
        let db = self.db.clone();
        let key = key.to_string();
        Box::pin(async move {
            blocking(move || {
                let r = db.begin_read().map_err(db_error)?;
                let t = r.open_table(RECORDS).map_err(db_error)?;
                let v = t.get(key.as_str()).map_err(db_error)?;
                Ok(v.map(|v| Bytes::copy_from_slice(v.value())))
            })
            .await
        })
    }

    fn write_records(&self, ops: Vec<RecordOp>) -> BoxFuture<'_, io::Result<()>> {
        let (db, commits) = (self.db.clone(), self.commits.clone());
        Box::pin(async move {
            if ops.is_empty() {
                return Ok(());
            }
            blocking(move || commits.write(&db, ops)).await
        })
    }

    fn list_records<'a>(
        &'a self,
        prefix: &'a str,
        start_after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, io::Result<Vec<String>>> {
        use std::ops::Bound;
        let db = self.db.clone();
        let prefix = prefix.to_string();
        let after = start_after
            .filter(|a| *a >= prefix.as_str())
            .map(String::from);
        Box::pin(async move {
            blocking(move || {
                let r = db.begin_read().map_err(db_error)?;
                let t = r.open_table(RECORDS).map_err(db_error)?;
                let from = match &after {
                    Some(a) => Bound::Excluded(a.as_str()),
                    None => Bound::Included(prefix.as_str()),
                };
                let mut out = Vec::new();
                for item in t
                    .range::<&str>((from, Bound::Unbounded))
                    .map_err(db_error)?
                {
                    let (k, _) = item.map_err(db_error)?;
                    let k = k.value();
                    if !k.starts_with(prefix.as_str()) || out.len() >= limit.min(LIST_LIMIT) {
                        break;
                    }
                    out.push(k.to_string());
                }
                Ok(out)
            })
            .await
        })
    }
}
