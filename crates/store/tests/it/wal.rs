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
