//! Everything that differs between SQLite and PostgreSQL, in one place.
//!
//! - Write transactions: SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so that
//!   concurrent writers queue instead of failing with `database is locked` when a read
//!   transaction tries to upgrade; PostgreSQL uses an ordinary transaction. Writers of this
//!   process queue on an in-process mutex before `BEGIN IMMEDIATE` ([`SQLITE_WRITER`]), so that
//!   only writers of another process ever wait in SQLite's `busy_timeout`, which sleeps.
//! - Upserts: the same `ON CONFLICT` statement, executed on each backend's own connection type
//!   (the multi-backend connection does not expose `ON CONFLICT`), and multi-row inserts likewise.
//! - Prepared statements: the short `IN` lists a push's commit runs every time, which diesel
//!   would prepare again at every execution, are kept prepared ([`Cached`]), on either backend.

use std::sync::{Mutex, PoisonError};

use diesel::backend::Backend;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{Connection, QueryResult, RunQueryDsl};

use crate::DbConnection;

/// Held by a SQLite write transaction of this process from before `BEGIN IMMEDIATE` until its
/// commit or rollback.
///
/// SQLite has one writer at a time. A writer that finds the lock taken waits in the busy handler,
/// which polls by sleeping 1, 2, 5, 10, … 100 ms: the lock is usually free again within a
/// millisecond, and the waiter sleeps on. At c=8 over 16 plans that was ~375 sleeps a second of
/// ~3.5 ms each. Queued on this mutex instead, the next writer is woken as soon as the lock is
/// released. One mutex for every SQLite database the process opens: a server opens one, and
/// tests that open several only lose some write parallelism that SQLite would not give them.
static SQLITE_WRITER: Mutex<()> = Mutex::new(());

/// Runs `f` in a write transaction; commits on `Ok`, rolls back on `Err` or panic. Failures of the
/// transaction itself become the port's `Unknown` error.
pub fn write_tx<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<anyhow::Error>,
{
    if matches!(conn, DbConnection::Pg(_)) {
        return conn
            .transaction(|c| f(c).map_err(TxError::App))
            .map_err(|e| match e {
                TxError::App(e) => e,
                TxError::Db(e) => E::from(e.into()),
            });
    }
    let db = |e: diesel::result::Error| E::from(e.into());
    // Begin through the SQLite connection's own transaction manager, so statements that open
    // nested transactions (savepoints) inside `f` still work.
    let DbConnection::Sqlite(c) = conn else {
        unreachable!("PostgreSQL handled above")
    };
    // A panic inside `f` poisons the mutex; the transaction was rolled back, so the next writer
    // goes on.
    let _writer = SQLITE_WRITER.lock().unwrap_or_else(PoisonError::into_inner);
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").map_err(db)?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    let DbConnection::Sqlite(c) = conn else {
        unreachable!("the backend does not change")
    };
    match result {
        Ok(Ok(v)) => match AnsiTransactionManager::commit_transaction(c) {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                Err(db(e))
            }
        },
        Ok(Err(e)) => {
            let _ = AnsiTransactionManager::rollback_transaction(c);
            Err(e)
        }
        Err(panic) => {
            let _ = AnsiTransactionManager::rollback_transaction(c);
            std::panic::resume_unwind(panic)
        }
    }
}

enum TxError<E> {
    App(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

/// Executes the same Diesel statement on whichever backend `conn` is.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConnection::Sqlite($c) => $body,
            $crate::DbConnection::Pg($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// A query kept in the connection's statement cache, keyed by its SQL text, where diesel would
/// prepare it again at every execution.
///
/// Diesel never keeps an `IN` list with binds, an insert of a slice of rows or an `UPDATE`,
/// because such SQL may take unboundedly many forms. A push's commit runs the same few every time
/// (the short `IN` lists of the chunks it looks up), and preparing its statements again took ~7%
/// of a one-section push's CPU (SQLite compiles the search table's FTS5 triggers into every
/// statement that writes it). Wrap only a query whose SQL takes a few forms (see [`SMALL_BATCH`]):
/// the cache keeps each form for the connection's life.
///
/// Read it with `load` on a backend's own connection (`on_backend!`). Under `execute` diesel hands
/// the cache a reference to the statement, and a reference answers from the statement's parts, so
/// an `UPDATE` run that way is not kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q>(pub(crate) Q);

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    // No static id: the cache keys the statement by its SQL text and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, C> RunQueryDsl<C> for Cached<Q> {}

/// `IN` lists of at most this many values are [`Cached`] statements (a form per length: at most
/// this many forms per statement); longer ones are prepared for their one use.
pub(crate) const SMALL_BATCH: usize = 4;

/// Inserts the rows of the slice `$rows` into `$table`, one multi-row statement per `$per` rows,
/// on either backend; a batch of one row is kept prepared.
///
/// On SQLite the row type must be `#[diesel(treat_none_as_default_value = false)]`: Diesel can
/// only write a multi-row `VALUES` for SQLite when no value may be `DEFAULT`, and otherwise inserts
/// row by row inside a savepoint of its own. One statement matters to FTS5, which writes its
/// pending terms out as a new segment whenever a statement opens a savepoint: 45 search entries
/// inserted one by one made 45 segments (and their merges, ~11% of a first push's CPU), one
/// statement makes one.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr, $per:expr) => {{
        let rows = $rows;
        $crate::dialect::on_backend!($conn, |c| rows.chunks($per).try_for_each(
            |chunk| match chunk {
                // One row (a push's audit record, the section it changed) as a single-row insert,
                // which diesel keeps prepared (a slice of one row it would prepare every time).
                [row] => diesel::insert_into($table).values(row).execute(c).map(drop),
                _ => diesel::insert_into($table)
                    .values(chunk)
                    .execute(c)
                    .map(drop),
            }
        ))
    }};
}
pub(crate) use insert_rows;

/// Whether a Diesel error is a unique-constraint violation.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
