//! SQLite's write-ahead log is checkpointed by the store's own thread, not by the commit that
//! happens to cross SQLite's 1,000-page mark (that commit used to pay ~7% of a push's time).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, sqlite::SqliteConnection};

use crate::support::sqlite_store;

#[derive(diesel::QueryableByName)]
struct Pages {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_autocheckpoint: i64,
}

#[test]
fn the_wal_is_checkpointed_off_the_commit_path() {
    let (store, _guard) = sqlite_store();
    store.migrate().unwrap();
    let pool: Vec<Pages> = store.raw_query("PRAGMA wal_autocheckpoint").unwrap();
    assert_eq!(
        pool[0].wal_autocheckpoint, 0,
        "the pool's connections do not checkpoint on commit"
    );

    // ~8 MB written by a connection that never checkpoints either: it all stays in the WAL
    // until the store's checkpoint thread copies it into the database file.
    let planpush_store::DbTarget::Sqlite(path) = store.target().clone() else {
        unreachable!()
    };
    let mut writer = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    writer
        .batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE wal_test (body BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO wal_test SELECT randomblob(4000) FROM n;",
        )
        .unwrap();
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = path.with_extension("db-wal");
    assert!(
        size(&wal) > 8_000_000,
        "the rows are in the WAL: {}",
        size(&wal)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&path) < 8_000_000 {
        assert!(
            Instant::now() < deadline,
            "the database file never received the WAL's pages ({} bytes)",
            size(&path)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Under writes with no pause, passive checkpoints never catch up and SQLite never starts the log
/// again from its beginning: it grew to ~860 MB in 20 s of pushes. The checkpoint thread starts it
/// again once it passes its limit (16 MiB), so ~200 MB written back to back through the store by four
/// writers, with two readers alongside, leave the WAL at a bounded size all along, and within the
/// limit once they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_writes_with_no_pause() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let (store, _guard) = sqlite_store();
    store.migrate().unwrap();
    let planpush_store::DbTarget::Sqlite(path) = store.target().clone() else {
        unreachable!()
    };
    let kv = store.ports().kv;
    let now = chrono::Utc::now();
    let writing = Arc::new(AtomicBool::new(true));
    let largest = Arc::new(AtomicU64::new(0));
    let wal = path.with_extension("db-wal");
    let wal_size = move || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let sampler = std::thread::spawn({
        let (writing, largest, wal_size) = (writing.clone(), largest.clone(), wal_size.clone());
        move || {
            while writing.load(Ordering::Relaxed) {
                largest.fetch_max(wal_size(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (kv, writing) = (kv.clone(), writing.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while writing.load(Ordering::Relaxed) {
                    kv.get("wal-0-0", now).await.unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    // 32 KB of incompressible bytes per write: 6,400 writes are ~200 MB.
    let value: Vec<u8> = (0..32 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (kv, value) = (kv.clone(), value.clone());
            tokio::spawn(async move {
                for n in 0..1600 {
                    kv.put(&format!("wal-{w}-{n}"), &value, None).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    writing.store(false, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    sampler.join().unwrap();
    assert!(reads > 100, "the readers kept reading: {reads} reads");
    // While writing, the WAL holds at most the limit plus what the writers add between two turns
    // of the checkpoint thread (~50 MB on a busy machine at this test's rate; without the bound
    // it reached 327 MB).
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        largest < 128 << 20,
        "~200 MB were written; the WAL reached {largest} bytes"
    );
    // Once the writes stop, it is back within twice the limit (frames of 4 KiB + 24 bytes) at
    // the next turn: past that it is truncated, below it started again over the same file, which
    // the next commit cuts to the limit. Without the bound it keeps its largest size until the
    // store is closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let size = wal_size();
        if size <= 2 * 4096 * (4096 + 24) + 32 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the WAL stayed at {size} bytes after the writes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
