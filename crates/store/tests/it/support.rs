use std::sync::Arc;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use planpush_app::Ports;
use planpush_store::{DbTarget, Store, StoreOptions};

/// Keeps a test database alive; drops it (file or schema) at the end of the test.
pub enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
    Skipped,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, schema } = self
            && let Ok(mut c) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut c);
        }
    }
}

pub fn sqlite_store() -> (Arc<Store>, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        DbTarget::Sqlite(dir.path().join("test.db")),
        &StoreOptions::default(),
    )
    .unwrap();
    (store, Guard::Sqlite(dir))
}

pub async fn sqlite_ports() -> (Ports, Guard) {
    let (store, guard) = sqlite_store();
    store.migrate().unwrap();
    (store.ports(), guard)
}

/// The PostgreSQL server to test against, or `None` (with a note) when it is not configured
/// outside CI. In CI a missing server is a failure.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("PLANPUSH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("PLANPUSH_TEST_PG_URL is not set: PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!("note: PLANPUSH_TEST_PG_URL is not set; skipping a PostgreSQL test");
            None
        }
    }
}

/// A fresh schema on the test server and a store whose connections use it.
pub fn pg_store() -> Option<(Arc<Store>, Guard)> {
    let admin_url = pg_admin_url()?;
    let schema = format!("pp_test_{}", uuid_simple());
    let mut admin = PgConnection::establish(&admin_url)
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PLANPUSH_TEST_PG_URL: {e}"));
    diesel::sql_query(format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .unwrap();
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{sep}options=-csearch_path%3D{schema}");
    let options = StoreOptions {
        max_connections: 4,
        ..StoreOptions::default()
    };
    let store = Store::open(DbTarget::Postgres(url), &options).unwrap();
    Some((store, Guard::Postgres { admin_url, schema }))
}

pub async fn pg_ports() -> (Ports, Guard) {
    match pg_store() {
        Some((store, guard)) => {
            store.migrate().unwrap();
            (store.ports(), guard)
        }
        // Outside CI without a server: run the case against the fakes instead, so it still passes
        // for the right reason; the note above says PostgreSQL was not exercised.
        None => (planpush_app::fake::ports(), Guard::Skipped),
    }
}

fn uuid_simple() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
