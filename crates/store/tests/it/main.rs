//! Store integration tests: the shared repository contract on SQLite and PostgreSQL, migrations
//! up → down → up, and concurrency. Each test gets its own SQLite file or PostgreSQL schema.
//!
//! PostgreSQL comes from `PLANPUSH_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
//! With `CI` set, a missing URL fails the PostgreSQL tests; otherwise they report and skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod chunks;
mod cluster;
mod concurrency;
mod migrations;
mod search;
mod support;
mod tls;
mod wal;

mod sqlite_contract {
    planpush_app::contract_tests!(crate::support::sqlite_ports());
}

mod postgres_contract {
    planpush_app::contract_tests!(crate::support::pg_ports());
}
