//! One storage test suite, instantiated for every backend (see the bottom of this file).

use super::{RecordOp, Storage, UploadMeta};
use crate::digest::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;

async fn collect(s: super::ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = s;
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.expect("chunk"));
    }
    out
}

fn meta(repo: &str) -> UploadMeta {
    UploadMeta {
        repo: repo.into(),
        algorithm: "sha256".into(),
        offset: 0,
        created: 1,
        touched: 0,
        hash_state: None,
    }
}

async fn write(st: &dyn Storage, id: &str, offset: u64, data: &[u8]) {
    let mut w = st.upload_writer(id, offset).await.expect("writer");
    let data = data.to_vec();
    tokio::task::spawn_blocking(move || {
        w.write_all(&data)?;
        w.finish()
    })
    .await
    .unwrap()
    .expect("write");
}

pub async fn small_blobs_round_trip(st: Arc<dyn Storage>) {
    let d = Algorithm::Sha256.digest_of(b"manifest");
    assert_eq!(st.get_small(&d).await.unwrap(), None);
    assert_eq!(st.blob_len(&d).await.unwrap(), None);
    st.put_small(&d, Bytes::from_static(b"manifest"))
        .await
        .unwrap();
    st.put_small(&d, Bytes::from_static(b"manifest"))
        .await
        .unwrap();
    assert_eq!(
        st.get_small(&d).await.unwrap().as_deref(),
        Some(&b"manifest"[..])
    );
    assert_eq!(st.blob_len(&d).await.unwrap(), Some(8));
}

pub async fn upload_commit_makes_a_readable_blob_with_ranges(st: Arc<dyn Storage>) {
    let id = uuid::Uuid::new_v4().to_string();
    st.create_upload(&id, &meta("r")).await.unwrap();
    write(&*st, &id, 0, b"hello ").await;
    write(&*st, &id, 6, b"world").await;
    let d = Algorithm::Sha256.digest_of(b"hello world");
    st.commit_upload(&id, 11, &d).await.unwrap();
    assert_eq!(st.get_upload(&id).await.unwrap(), None);
    assert_eq!(st.blob_len(&d).await.unwrap(), Some(11));
    let all = st.read_blob(&d, 0, 11).await.unwrap().expect("blob");
    assert_eq!(collect(all).await, b"hello world");
    let part = st.read_blob(&d, 6, 3).await.unwrap().expect("blob");
    assert_eq!(collect(part).await, b"wor");
    let missing = Algorithm::Sha256.digest_of(b"nope");
    assert!(st.read_blob(&missing, 0, 1).await.unwrap().is_none());
}

pub async fn writer_truncates_data_past_the_offset(st: Arc<dyn Storage>) {
    let id = uuid::Uuid::new_v4().to_string();
    st.create_upload(&id, &meta("r")).await.unwrap();
    write(&*st, &id, 0, b"abcdef").await;
    // A failed chunk wrote "def" but the session only accepted 3 bytes.
    write(&*st, &id, 3, b"XY").await;
    let s = st.read_upload(&id, 5).await.unwrap();
    assert_eq!(collect(s).await, b"abcXY");
}

pub async fn upload_state_is_saved_and_deleted(st: Arc<dyn Storage>) {
    let id = uuid::Uuid::new_v4().to_string();
    assert_eq!(st.get_upload(&id).await.unwrap(), None);
    st.create_upload(&id, &meta("a/b")).await.unwrap();
    write(&*st, &id, 0, b"1234").await;
    let mut m = meta("a/b");
    m.offset = 4;
    st.set_upload(&id, &m).await.unwrap();
    assert_eq!(st.get_upload(&id).await.unwrap(), Some(m));
    assert!(st
        .list_uploads()
        .await
        .unwrap()
        .iter()
        .any(|(u, _)| *u == id));
    assert!(st.delete_upload(&id).await.unwrap());
    assert!(!st.delete_upload(&id).await.unwrap());
    assert_eq!(st.get_upload(&id).await.unwrap(), None);
    assert!(st.set_upload(&id, &meta("a/b")).await.is_err());
}

pub async fn committing_an_existing_blob_keeps_it(st: Arc<dyn Storage>) {
    let d = Algorithm::Sha256.digest_of(b"same");
    for _ in 0..2 {
        let id = uuid::Uuid::new_v4().to_string();
        st.create_upload(&id, &meta("r")).await.unwrap();
        write(&*st, &id, 0, b"same").await;
        st.commit_upload(&id, 4, &d).await.unwrap();
    }
    let s = st.read_blob(&d, 0, 4).await.unwrap().unwrap();
    assert_eq!(collect(s).await, b"same");
}

pub async fn sha512_blobs_are_kept_apart(st: Arc<dyn Storage>) {
    let d: Digest = Algorithm::Sha512.digest_of(b"x");
    st.put_small(&d, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(st.blob_len(&d).await.unwrap(), Some(1));
    assert_eq!(
        st.blob_len(&Algorithm::Sha256.digest_of(b"x"))
            .await
            .unwrap(),
        None
    );
}

pub async fn large_blob_streams_in_several_chunks(st: Arc<dyn Storage>) {
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let id = uuid::Uuid::new_v4().to_string();
    st.create_upload(&id, &meta("r")).await.unwrap();
    write(&*st, &id, 0, &data).await;
    let d = Algorithm::Sha256.digest_of(&data);
    st.commit_upload(&id, data.len() as u64, &d).await.unwrap();
    let s = st
        .read_blob(&d, 5, data.len() as u64 - 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(collect(s).await, &data[5..]);
}

/// Chunks of sizes that are not multiples of anything (object storage cuts them into 5 MiB+
/// parts and a tail) make exactly the pushed blob, readable in ranges across part boundaries.
pub async fn uneven_chunks_make_one_blob(st: Arc<dyn Storage>) {
    let data: Vec<u8> = (0..(19 << 20) + 13).map(|i| (i % 253) as u8).collect();
    let id = uuid::Uuid::new_v4().to_string();
    st.create_upload(&id, &meta("r")).await.unwrap();
    let mut at = 0usize;
    for len in [1 << 20, (9 << 20) + 3, 17, (6 << 20) + 1, usize::MAX] {
        let end = at.saturating_add(len).min(data.len());
        write(&*st, &id, at as u64, &data[at..end]).await;
        at = end;
        let mut m = meta("r");
        m.offset = at as u64;
        st.set_upload(&id, &m).await.unwrap();
        assert_eq!(st.get_upload(&id).await.unwrap().unwrap().offset, at as u64);
    }
    let d = Algorithm::Sha256.digest_of(&data);
    st.commit_upload(&id, data.len() as u64, &d).await.unwrap();
    assert_eq!(st.get_upload(&id).await.unwrap(), None);
    assert_eq!(st.blob_len(&d).await.unwrap(), Some(data.len() as u64));
    let from = (8 << 20) - 5;
    let s = st.read_blob(&d, from, 10 << 20).await.unwrap().unwrap();
    assert_eq!(
        collect(s).await,
        &data[from as usize..from as usize + (10 << 20)]
    );
}

pub async fn blobs_are_listed_and_deleted(st: Arc<dyn Storage>) {
    let a = Algorithm::Sha256.digest_of(b"a");
    let b = Algorithm::Sha512.digest_of(b"bb");
    st.put_small(&a, Bytes::from_static(b"a")).await.unwrap();
    st.put_small(&b, Bytes::from_static(b"bb")).await.unwrap();
    let mut listed = st.list_blobs().await.unwrap();
    listed.sort();
    let mut want = vec![(a.clone(), 1), (b.clone(), 2)];
    want.sort();
    assert_eq!(listed, want);
    assert!(st.delete_blob(&a).await.unwrap());
    assert!(!st.delete_blob(&a).await.unwrap());
    assert_eq!(st.blob_len(&a).await.unwrap(), None);
    assert_eq!(st.list_blobs().await.unwrap(), vec![(b, 2)]);
}

fn put(k: &str, v: &str) -> RecordOp {
    RecordOp::Put(k.into(), Bytes::copy_from_slice(v.as_bytes()))
}

pub async fn records_round_trip(st: Arc<dyn Storage>) {
    assert_eq!(st.get_record("r/a").await.unwrap(), None);
    st.write_records(vec![put("r/a", "1"), put("r/b", "2")])
        .await
        .unwrap();
    st.write_records(vec![put("r/a", "3")]).await.unwrap();
    assert_eq!(
        st.get_record("r/a").await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        st.get_record("r/b").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    st.write_records(vec![
        RecordOp::Delete("r/a".into()),
        RecordOp::Delete("r/zz".into()),
    ])
    .await
    .unwrap();
    assert_eq!(st.get_record("r/a").await.unwrap(), None);
    st.write_records(Vec::new()).await.unwrap();
    // Later operations of one call win over earlier ones.
    st.write_records(vec![put("r/c", "x"), RecordOp::Delete("r/c".into())])
        .await
        .unwrap();
    assert_eq!(st.get_record("r/c").await.unwrap(), None);
    st.write_records(vec![RecordOp::Delete("r/d".into()), put("r/d", "y")])
        .await
        .unwrap();
    assert_eq!(
        st.get_record("r/d").await.unwrap().as_deref(),
        Some(&b"y"[..])
    );
    st.write_records(vec![put("r/e", "")]).await.unwrap();
    assert_eq!(
        st.get_record("r/e").await.unwrap().as_deref(),
        Some(&b""[..])
    );
}

pub async fn records_list_in_byte_order_after_a_key_within_a_limit(st: Arc<dyn Storage>) {
    // Written out of order, with keys that sort differently as bytes than case-folded.
    let keys = ["t/b", "t/B", "t/a", "t/a0", "t/_", "t/A", "t/0", "t/a-"];
    st.write_records(keys.iter().map(|k| put(k, "v")).collect())
        .await
        .unwrap();
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(want[0], "t/0");
    assert_eq!(st.list_records("t/", None, 100).await.unwrap(), want);
    assert_eq!(st.list_records("t/", None, 3).await.unwrap(), want[..3]);
    assert!(st.list_records("t/", None, 0).await.unwrap().is_empty());
    // Paging with the last key of each page visits every key once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let page = st.list_records("t/", after.as_deref(), 3).await.unwrap();
        seen.extend(page.iter().cloned());
        if page.len() < 3 {
            break;
        }
        after = page.last().cloned();
    }
    assert_eq!(seen, want);
    // `start_after` need not exist; before the prefix it is no bound at all.
    assert_eq!(
        st.list_records("t/", Some("t/a."), 100).await.unwrap(),
        ["t/a0", "t/b"]
    );
    assert_eq!(st.list_records("t/", Some("a"), 100).await.unwrap(), want);
    assert!(st
        .list_records("t/", Some("u"), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(st
        .list_records("t/", Some("t/b"), 100)
        .await
        .unwrap()
        .is_empty());
    // At most LIST_LIMIT per call, however many are asked for.
    let many: Vec<RecordOp> = (0..super::LIST_LIMIT + 5)
        .map(|i| put(&format!("m/{i:05}"), ""))
        .collect();
    st.write_records(many).await.unwrap();
    let page = st.list_records("m/", None, usize::MAX).await.unwrap();
    assert_eq!(page.len(), super::LIST_LIMIT);
    assert_eq!(page[0], "m/00000");
}

pub async fn records_are_listed_only_under_their_prefix(st: Arc<dyn Storage>) {
    st.write_records(vec![
        put("repositories/a/_tags/x", "1"),
        put("repositories/a/b/_tags/y", "2"),
        put("repositories/a/_tagz", "3"),
        put("repositories/a", "4"),
        put("repositories/a0/_tags/z", "5"),
        put("repositories/a/_tags", "6"),
    ])
    .await
    .unwrap();
    assert_eq!(
        st.list_records("repositories/a/_tags/", None, 10)
            .await
            .unwrap(),
        ["repositories/a/_tags/x"]
    );
    assert_eq!(
        st.list_records("repositories/a/_", None, 10).await.unwrap(),
        [
            "repositories/a/_tags",
            "repositories/a/_tags/x",
            "repositories/a/_tagz"
        ]
    );
    assert!(st
        .list_records("repositories/none/", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        st.list_records("", Some("repositories/a0/_tags/"), 10)
            .await
            .unwrap(),
        ["repositories/a0/_tags/z"]
    );
}

/// Writers at once (the filesystem backend commits them in groups) all land, each call whole.
pub async fn concurrent_record_writes_all_land(st: Arc<dyn Storage>) {
    let mut tasks = Vec::new();
    for w in 0..32 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            let ops = (0..10)
                .map(|i| put(&format!("c/{w:02}/{i}"), "v"))
                .collect();
            st.write_records(ops).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let keys = st.list_records("c/", None, 1000).await.unwrap();
    assert_eq!(keys.len(), 320);
}

macro_rules! suite {
    ($modname:ident, $make:expr) => {
        mod $modname {
            #[allow(unused_imports)]
            use super::*;
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let Some((st, _guard)) = $make.await else {
                            return;
                        };
                        super::$name(st).await;
                    }
                };
            }
            case!(small_blobs_round_trip);
            case!(upload_commit_makes_a_readable_blob_with_ranges);
            case!(writer_truncates_data_past_the_offset);
            case!(upload_state_is_saved_and_deleted);
            case!(committing_an_existing_blob_keeps_it);
            case!(sha512_blobs_are_kept_apart);
            case!(large_blob_streams_in_several_chunks);
            case!(uneven_chunks_make_one_blob);
            case!(blobs_are_listed_and_deleted);
            case!(records_round_trip);
            case!(records_list_in_byte_order_after_a_key_within_a_limit);
            case!(records_are_listed_only_under_their_prefix);
            case!(concurrent_record_writes_all_land);
        }
    };
}

async fn memory() -> Option<(Arc<dyn Storage>, ())> {
    Some((Arc::new(super::MemoryStorage::new()), ()))
}

async fn filesystem() -> Option<(Arc<dyn Storage>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = super::FsStorage::open(dir.path()).await.expect("open");
    Some((Arc::new(st), dir))
}

/// The S3 test bucket from `.ci/garage.sh` (its `env` file sourced), under a fresh prefix per
/// test; None (the test is skipped, loudly) when none is set up.
pub(crate) fn s3_test_config() -> Option<super::S3Config> {
    let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("GARAGE_ENDPOINT"),
        std::env::var("GARAGE_BUCKET"),
    ) else {
        eprintln!(
            "SKIPPED: no S3 test bucket (GARAGE_ENDPOINT, GARAGE_BUCKET unset); \
             run `.ci/garage.sh start DIR` and `. DIR/env` to test object storage"
        );
        return None;
    };
    Some(super::S3Config {
        bucket,
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        endpoint: Some(endpoint),
        region: std::env::var("AWS_REGION").ok(),
        allow_http: true,
    })
}

async fn s3() -> Option<(Arc<dyn Storage>, ())> {
    let st = super::S3Storage::open(&s3_test_config()?).expect("S3 client");
    st.probe().await.expect("the S3 test bucket answers");
    Some((Arc::new(st), ()))
}

suite!(memory_backend, memory());
suite!(fs_backend, filesystem());
suite!(s3_backend, s3());

/// Object storage: one session through two clients of the same bucket (two replicas): started
/// on one, continued on the other across a part boundary, continued again on the first, and
/// committed by the second.
#[tokio::test]
async fn s3_upload_moves_between_clients() {
    let Some(config) = s3_test_config() else {
        return;
    };
    let a = super::S3Storage::open(&config).unwrap();
    let b = super::S3Storage::open(&config).unwrap();
    let data: Vec<u8> = (0..(12 << 20) + 7).map(|i| (i % 241) as u8).collect();
    let id = uuid::Uuid::new_v4().to_string();
    a.create_upload(&id, &meta("r")).await.unwrap();
    let cuts = [0, 3 << 20, (9 << 20) + 1, data.len()];
    for (i, w) in cuts.windows(2).enumerate() {
        let st: &dyn Storage = if i % 2 == 0 { &a } else { &b };
        let other: &dyn Storage = if i % 2 == 0 { &b } else { &a };
        assert_eq!(
            other.get_upload(&id).await.unwrap().unwrap().offset,
            w[0] as u64
        );
        write(st, &id, w[0] as u64, &data[w[0]..w[1]]).await;
        let mut m = meta("r");
        m.offset = w[1] as u64;
        st.set_upload(&id, &m).await.unwrap();
    }
    let d = Algorithm::Sha256.digest_of(&data);
    b.commit_upload(&id, data.len() as u64, &d).await.unwrap();
    let s = a
        .read_blob(&d, 0, data.len() as u64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(collect(s).await, data);
    assert_eq!(a.get_upload(&id).await.unwrap(), None);
}

/// Filesystem only: a session's state and data survive reopening the store (a restart), and a
/// recorded offset beyond the data on disk (crash before the data hit the disk) is clamped.
#[tokio::test]
async fn fs_upload_survives_reopen_and_clamps_offset() {
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    {
        let st = super::FsStorage::open(dir.path()).await.unwrap();
        st.create_upload(&id, &meta("r")).await.unwrap();
        write(&st, &id, 0, b"abc").await;
        let mut m = meta("r");
        m.offset = 10;
        st.set_upload(&id, &m).await.unwrap();
    }
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    let m = st.get_upload(&id).await.unwrap().expect("session kept");
    assert_eq!(m.offset, 3);
    assert_eq!(collect(st.read_upload(&id, 3).await.unwrap()).await, b"abc");
}

#[tokio::test]
async fn fs_refuses_upload_ids_that_are_not_uuids() {
    let dir = tempfile::tempdir().unwrap();
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    assert!(st.create_upload("../x", &meta("r")).await.is_err());
    assert_eq!(st.get_upload("../../etc").await.unwrap(), None);
    assert!(!st.delete_upload("..").await.unwrap());
}

/// Filesystem only: stores written by earlier versions may hold `pending/` markers of blobs
/// fsynced in the background; start-up verifies those blobs and drops any whose content does
/// not match.
#[tokio::test]
async fn fs_start_up_drops_blobs_corrupted_before_their_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let good = Algorithm::Sha256.digest_of(b"good");
    let bad = Algorithm::Sha256.digest_of(b"bad");
    {
        let st = super::FsStorage::open(dir.path()).await.unwrap();
        st.put_small(&good, Bytes::from_static(b"good"))
            .await
            .unwrap();
        st.put_small(&bad, Bytes::from_static(b"bad"))
            .await
            .unwrap();
    }
    // Simulate a crash: markers left behind, one blob's data lost.
    let pending = dir.path().join("pending");
    std::fs::create_dir(&pending).unwrap();
    for d in [&good, &bad] {
        std::fs::write(pending.join(format!("sha256-{}", d.hex())), b"").unwrap();
    }
    let bad_path = dir
        .path()
        .join("blobs/sha256")
        .join(&bad.hex()[..2])
        .join(bad.hex());
    std::fs::write(&bad_path, b"\0\0\0").unwrap();
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    assert_eq!(st.blob_len(&good).await.unwrap(), Some(4));
    assert_eq!(st.blob_len(&bad).await.unwrap(), None);
    assert!(!pending.exists());
}

/// Filesystem only: a large blob (several writeback windows) is committed synchronously: no
/// background work, no marker, readable at once (the durable-acknowledgement regression).
#[tokio::test]
async fn fs_large_commit_is_durable_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    let data = vec![7u8; 20 << 20];
    let id = uuid::Uuid::new_v4().to_string();
    st.create_upload(&id, &meta("r")).await.unwrap();
    write(&st, &id, 0, &data).await;
    let d = Algorithm::Sha256.digest_of(&data);
    st.commit_upload(&id, data.len() as u64, &d).await.unwrap();
    assert_eq!(st.blob_len(&d).await.unwrap(), Some(data.len() as u64));
    assert!(!dir.path().join("pending").exists());
}

/// Filesystem only: a state file left unreadable by a crash makes the session unknown, not an
/// error.
#[tokio::test]
async fn fs_unreadable_upload_state_is_an_unknown_session() {
    let dir = tempfile::tempdir().unwrap();
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    st.create_upload(&id, &meta("r")).await.unwrap();
    std::fs::write(dir.path().join("uploads").join(&id).join("state.json"), b"").unwrap();
    assert_eq!(st.get_upload(&id).await.unwrap(), None);
}

/// Filesystem only: records written before a reopen (a restart) are all there after it.
#[tokio::test]
async fn fs_records_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let st = super::FsStorage::open(dir.path()).await.unwrap();
        st.write_records(vec![put("k/1", "a"), put("k/2", "b")])
            .await
            .unwrap();
        st.write_records(vec![RecordOp::Delete("k/1".into())])
            .await
            .unwrap();
    }
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    assert_eq!(st.list_records("k/", None, 10).await.unwrap(), ["k/2"]);
    assert_eq!(
        st.get_record("k/2").await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
}

/// Filesystem only: a record store that cannot be read is refused (named, untouched), never
/// replaced by an empty one; moving it aside lets a new store start.
#[tokio::test]
async fn fs_damaged_record_store_is_refused_then_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let st = super::FsStorage::open(dir.path()).await.unwrap();
        st.write_records(vec![put("k", "v")]).await.unwrap();
    }
    let file = dir.path().join(super::fs::INDEX_FILE);
    let mut data = std::fs::read(&file).unwrap();
    data[..64].fill(0xAB);
    std::fs::write(&file, &data).unwrap();
    let err = super::FsStorage::open(dir.path())
        .await
        .err()
        .expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(
        msg.contains("damaged") && msg.contains(&file.display().to_string()),
        "{msg}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), data);
    let aside = super::FsStorage::quarantine_index(dir.path())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&aside).unwrap(), data);
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    assert_eq!(st.get_record("k").await.unwrap(), None);
}

/// Filesystem only: repository documents of earlier versions are listed for the import, and
/// are moved (never deleted) once imported or when unreadable.
#[tokio::test]
async fn fs_legacy_documents_are_listed_then_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let st = super::FsStorage::open(dir.path()).await.unwrap();
    let repos = dir.path().join("repositories");
    std::fs::write(repos.join("a.json"), b"{\"v\":1}").unwrap();
    std::fs::write(repos.join("b.json"), b"{broken").unwrap();
    let mut docs = st.legacy_documents().await.unwrap();
    docs.sort();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].1, b"{\"v\":1}");
    st.retire_legacy_document(&docs[0].0).await.unwrap();
    let aside = st.quarantine_repo(&docs[1].0).await.unwrap();
    assert_eq!(std::fs::read(&aside).unwrap(), b"{broken");
    assert!(st.legacy_documents().await.unwrap().is_empty());
    assert!(repos.join("imported").join("a.json").exists());
    assert!(st.quarantine_repo("elsewhere").await.is_err());
}
