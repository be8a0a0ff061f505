//! Storage adapter: every repository port of the domain crates and of `app`, over Diesel with one
//! portable schema on SQLite (default) or PostgreSQL, chosen by the database URL.
//!
//! - [`Store::open`] builds an r2d2 pool of [`DbConnection`]s (a Diesel `MultiConnection`); SQLite
//!   connections get WAL, `busy_timeout`, `foreign_keys=ON` and `synchronous=NORMAL`.
//! - [`Store::migrate`] runs the embedded migrations of `migrations/{sqlite,postgres}`.
//! - Blocking Diesel calls run on Tokio's blocking pool, never on async workers.
//! - The few statements that differ per backend (upserts, write transactions) live in [`dialect`].
//! - [`cluster::PgCluster`]: live events and cache invalidation between several server processes on
//!   one PostgreSQL (`LISTEN/NOTIFY`); [`ratelimit::PgRateLimiter`]: rate limits they share.
//!
//! Architecture invariant: the only crate that knows Diesel. It knows no HTTP and no business rule
//! beyond what a port's contract states.

pub mod cluster;
mod connection;
pub mod dialect;
pub mod ratelimit;
mod repos;
mod rows;
pub mod schema;

pub use connection::{
    Backend, DbConnection, DbTarget, OpenError, Store, StoreOptions, verify_sqlite_backup,
};
