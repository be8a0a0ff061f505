//! PostgreSQL over TLS through the bundled libpq and vendored OpenSSL.

use planpush_store::{DbTarget, Store, StoreOptions};

use crate::support::pg_admin_url;

#[derive(diesel::QueryableByName)]
struct Ssl {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ssl: bool,
}

#[test]
fn sslmode_require_gives_an_encrypted_connection() {
    let Some(url) = pg_admin_url() else { return };
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::open(
        DbTarget::Postgres(format!("{url}{sep}sslmode=require")),
        &StoreOptions::default(),
    )
    .unwrap();
    let rows: Vec<Ssl> = store
        .raw_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .unwrap();
    assert!(
        rows.first().is_some_and(|r| r.ssl),
        "the connection is not encrypted"
    );
}

#[test]
fn sslmode_verify_full_rejects_an_unknown_certificate_authority() {
    let Some(url) = pg_admin_url() else { return };
    let sep = if url.contains('?') { '&' } else { '?' };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("empty-ca.pem");
    std::fs::write(&ca, "").unwrap();
    let err = match Store::open(
        DbTarget::Postgres(format!(
            "{url}{sep}sslmode=verify-full&sslrootcert={}",
            ca.display()
        )),
        &StoreOptions::default(),
    ) {
        Ok(_) => panic!("verify-full accepted a server certificate no CA vouches for"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("cannot open database")
            && (err.contains("certificate") || err.contains("root")),
        "{err}"
    );
}
