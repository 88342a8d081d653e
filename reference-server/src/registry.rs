//! Shared state: configuration, backend, upload sessions. The repository index lives in
//! storage (`crate::index`); memory holds only caches of immutable data and live sessions.

use crate::config::Config;
use crate::digest::{Digest, Hasher};
use crate::errors::{Code, RegistryError};
use crate::storage::{Storage, UploadMeta};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A live upload session. The hasher is rebuilt from the stored data when missing (after a
/// restart, or when the closing digest uses another algorithm).
pub struct Session {
    pub id: String,
    pub meta: UploadMeta,
    pub hasher: Option<Hasher>,
    /// The last chunk was below `chunk_min_length`: it must have been the final one.
    pub last_chunk_short: bool,
}

/// A session as the registry holds it: `state` is locked by the request that writes it, and
/// the rest is what a status or cancel request needs without waiting for that request (whose
/// body may be stalled).
pub struct SessionSlot {
    pub id: String,
    pub repo: String,
    /// Bytes accepted so far: `state.meta.offset` as of the last completed chunk.
    pub offset: AtomicU64,
    /// Set when the session was completed, cancelled or purged.
    pub gone: AtomicBool,
    /// Set by a cancel: a body still arriving for this session stops at once.
    pub cancel: tokio::sync::watch::Sender<bool>,
    pub state: tokio::sync::Mutex<Session>,
}

impl SessionSlot {
    fn new(s: Session) -> Self {
        SessionSlot {
            id: s.id.clone(),
            repo: s.meta.repo.clone(),
            offset: AtomicU64::new(s.meta.offset),
            gone: AtomicBool::new(false),
            cancel: tokio::sync::watch::channel(false).0,
            state: tokio::sync::Mutex::new(s),
        }
    }

    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// Marks the session ended and stops a body still arriving for it.
    pub fn end(&self) {
        self.gone.store(true, Ordering::Release);
        self.cancel.send_replace(true);
    }
}

pub type SessionRef = Arc<SessionSlot>;

pub struct Registry {
    pub config: Config,
    pub storage: Arc<dyn Storage>,
    /// Serialise a repository's changes (read, decide, write records) within this process;
    /// other repositories proceed in parallel unless they share a stripe. A fixed set, so
    /// memory does not grow with the number of repositories.
    write_locks: Box<[tokio::sync::Mutex<()>]>,
    sessions: Mutex<HashMap<String, SessionRef>>,
    manifest_cache: Mutex<ManifestCache>,
    /// Held (shared) by every request from the moment it relies on a stored blob until the
    /// repository links it (commit then link, mount check then link, manifest store then
    /// index); garbage collection holds it exclusively while it decides and deletes. So a blob
    /// pushed or mounted during a collection is never collected.
    gc_lock: tokio::sync::RwLock<()>,
    /// Bytes of manifest bodies that requests may buffer at once (`limits.manifest_memory`).
    manifest_budget: Arc<tokio::sync::Semaphore>,
    /// Built from `config.auth`: the signing key and verification cache live for the process.
    pub(crate) auth: Option<crate::auth::AuthState>,
    /// Requests served, for `too_many_requests_every`.
    pub(crate) requests: std::sync::atomic::AtomicU64,
}

/// Manifests are immutable (content-addressed), so cached bytes never go stale, whichever
/// server changed the index; a deleted manifest is no longer reachable through the index. Bounded so memory stays flat: when full
/// it is simply emptied.
#[derive(Default)]
struct ManifestCache {
    bytes: usize,
    map: HashMap<Digest, bytes::Bytes>,
}

const MANIFEST_CACHE_BYTES: usize = 8 << 20;
const WRITE_LOCK_STRIPES: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Registry {
    /// Nothing is loaded: the index is read from storage as requests need it.
    pub async fn load(config: Config, storage: Arc<dyn Storage>) -> std::io::Result<Registry> {
        let auth = config
            .auth
            .clone()
            .map(|a| crate::auth::AuthState::new(a, config.tls.is_some(), config.limits.clone()));
        let budget = usize::try_from(config.limits.manifest_memory)
            .unwrap_or(usize::MAX)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        Ok(Registry {
            gc_lock: tokio::sync::RwLock::new(()),
            manifest_budget: Arc::new(tokio::sync::Semaphore::new(budget)),
            auth,
            config,
            storage,
            write_locks: (0..WRITE_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            sessions: Mutex::new(HashMap::new()),
            manifest_cache: Mutex::new(ManifestCache::default()),
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The write lock of a repository's stripe.
    pub fn repo_lock(&self, name: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(name);
        &self.write_locks[(h % WRITE_LOCK_STRIPES as u64) as usize]
    }

    pub async fn manifest_bytes(&self, d: &Digest) -> std::io::Result<Option<bytes::Bytes>> {
        if let Some(b) = lock(&self.manifest_cache).map.get(d).cloned() {
            return Ok(Some(b));
        }
        let b = self.storage.get_small(d).await?;
        if let Some(b) = &b {
            if b.len() <= MANIFEST_CACHE_BYTES / 16 {
                let mut c = lock(&self.manifest_cache);
                if c.bytes + b.len() > MANIFEST_CACHE_BYTES {
                    c.map.clear();
                    c.bytes = 0;
                }
                c.bytes += b.len();
                c.map.insert(d.clone(), b.clone());
            }
        }
        Ok(b)
    }

    /// Reserves `n` more bytes of the manifest memory budget, held until the permit drops.
    /// Never waits: over the budget the client is told to retry (429 `TOOMANYREQUESTS`).
    pub fn reserve_manifest_memory(
        &self,
        n: u64,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, RegistryError> {
        u32::try_from(n)
            .ok()
            .and_then(|n| self.manifest_budget.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| {
                RegistryError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    Code::TooManyRequests,
                    "too many manifest bodies in flight; retry shortly",
                )
                .with_header("retry-after", "1")
            })
    }

    pub fn session_insert(&self, s: Session) -> SessionRef {
        let id = s.id.clone();
        let r = Arc::new(SessionSlot::new(s));
        lock(&self.sessions).insert(id, r.clone());
        r
    }

    pub fn session_forget(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Finds a session of repository `name`, from memory or (after a restart) from storage.
    pub async fn session(&self, name: &str, id: &str) -> Result<SessionRef, RegistryError> {
        let unknown = || {
            RegistryError::not_found(Code::BlobUploadUnknown, "upload session unknown")
                .with_detail(serde_json::json!({ "session": id }))
        };
        // Ids are UUIDs we minted; normalising also keeps odd strings away from storage paths.
        let id = match uuid::Uuid::try_parse(id) {
            Ok(u) => u.hyphenated().to_string(),
            Err(_) => return Err(unknown()),
        };
        let found = lock(&self.sessions).get(&id).cloned();
        let s = match found {
            Some(s) => s,
            None => {
                let meta = self.storage.get_upload(&id).await?.ok_or_else(unknown)?;
                let mut sessions = lock(&self.sessions);
                sessions
                    .entry(id.clone())
                    .or_insert_with(|| {
                        Arc::new(SessionSlot::new(Session {
                            id: id.clone(),
                            meta,
                            hasher: None,
                            last_chunk_short: false,
                        }))
                    })
                    .clone()
            }
        };
        if s.repo != name || s.is_gone() {
            return Err(unknown());
        }
        Ok(s)
    }

    /// Drops sessions unused for more than `max_idle_secs` (the spec's "eventually time out"),
    /// and sessions whose state is missing or unreadable (they can never be resumed) once
    /// nothing touched them for a minute (so one being created is left alone).
    pub async fn purge_stale_uploads(&self, max_idle_secs: u64) -> std::io::Result<usize> {
        const BROKEN_GRACE: u64 = 60;
        let now = now_secs();
        let mut purged = 0;
        for (id, changed) in self.storage.list_uploads().await? {
            let last_used = match self.storage.get_upload(&id).await {
                Ok(Some(meta)) => Some(meta.last_used()),
                Ok(None) | Err(_) => None,
            };
            let stale = match last_used {
                Some(t) => now.saturating_sub(t) > max_idle_secs,
                None => now.saturating_sub(changed) > BROKEN_GRACE.min(max_idle_secs),
            };
            if !stale {
                continue;
            }
            let live = lock(&self.sessions).get(&id).cloned();
            if let Some(s) = live {
                // In use right now (a chunk arriving): not idle after all.
                let Ok(_g) = s.state.try_lock() else {
                    continue;
                };
                s.end();
            }
            self.session_forget(&id);
            if self.storage.delete_upload(&id).await? {
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Shared hold that keeps garbage collection away from a blob between "it is stored" and
    /// "a repository links it" (see `gc_lock`).
    pub async fn reachability_guard(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gc_lock.read().await
    }

    /// Deletes (or with `dry_run`, only lists) stored blobs that no repository links, as a
    /// layer, config or manifest.
    pub async fn collect_garbage(&self, dry_run: bool) -> std::io::Result<GcReport> {
        let stored = self.storage.list_blobs().await?;
        let _exclusive = self.gc_lock.write().await;
        let referenced = self.referenced_digests().await?;
        let mut report = GcReport::default();
        for (d, size) in stored {
            if referenced.contains(&d) {
                continue;
            }
            if dry_run || self.storage.delete_blob(&d).await? {
                report.blobs.push((d, size));
                report.bytes += size;
            }
        }
        Ok(report)
    }
}

/// What a garbage collection freed (or would free).
#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs: Vec<(Digest, u64)>,
    pub bytes: u64,
}

pub fn name_unknown(name: &str) -> RegistryError {
    RegistryError::not_found(Code::NameUnknown, "repository name not known to registry")
        .with_detail(serde_json::json!({ "name": name }))
}
