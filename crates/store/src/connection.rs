use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use planpush_app::Ports;

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A SQLite database file (created if missing, with its directory).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://…`; `sslmode=require`/`verify-full` supported).
    Postgres(String),
}

impl DbTarget {
    pub fn backend(&self) -> Backend {
        match self {
            DbTarget::Sqlite(_) => Backend::Sqlite,
            DbTarget::Postgres(_) => Backend::Postgres,
        }
    }

    /// The target with any password removed, fit for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DbTarget::Sqlite(p) => format!("sqlite://{}", p.display()),
            DbTarget::Postgres(u) => redact(u),
        }
    }
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why the store could not be opened. The message carries the database's own error.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open database {target}: {cause}")]
    Connect { target: String, cause: String },
    #[error("migrating database {target} failed: {cause}")]
    Migrate { target: String, cause: String },
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// How long a SQLite writer waits for the lock before giving up.
    pub sqlite_busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct Manager {
    target: DbTarget,
    busy_timeout_ms: u128,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.target {
            DbTarget::Postgres(url) => PgConnection::establish(url).map(DbConnection::Pg),
            DbTarget::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy())?;
                // temp_store = MEMORY: statement journals, sorts and the FTS rebuild never need a
                // writable temporary directory, which a `scratch` container does not have (without
                // one, a migration failed there, its real error masked by the rollback).
                // wal_autocheckpoint = 0: the commit that crosses SQLite's 1,000-page mark no longer
                // copies the WAL into the database on a request's time; [`Checkpointer`] does.
                // cache_size = -256: 256 KiB of page cache per connection instead of SQLite's 2 MiB
                // (the pool's connections could hold 8 MiB of the server's heap, 1 MiB now); the
                // kernel's page cache still holds the file.
                // journal_size_limit: a WAL that SQLite starts again from its beginning is cut
                // back to the size [`Checkpointer`] lets it reach.
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {}; PRAGMA cache_size = -256;",
                    self.busy_timeout_ms,
                    WAL_LIMIT_PAGES * 4096,
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub(crate) type Pool = r2d2::Pool<Manager>;

/// How often the WAL is checkpointed (a checkpoint with nothing new to copy returns at once). At
/// ~150 pushes/s that is ~40 pushes' pages, as SQLite's default of 1,000 pages was.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Pages the WAL may hold before the checkpoint thread pauses the store's calls and empties it
/// (16 MiB at SQLite's 4 KiB pages).
const WAL_LIMIT_PAGES: i64 = 4096;

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName, Debug)]
struct CheckpointRow {
    /// 1 when the checkpoint could not take the locks it needed.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    busy: i64,
    /// Pages in the WAL.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
}

/// Copies SQLite's write-ahead log into the database on a thread of its own, with a connection of
/// its own (not one of the pool's), so that no commit pays for it: the pool's connections have
/// `wal_autocheckpoint = 0`. Checkpoints are passive (they never wait for or block readers and
/// writers), as SQLite's automatic ones are, while the WAL stays under [`WAL_LIMIT_PAGES`].
///
/// Under writes with no pause, passive checkpoints never reach a moment when no reader still
/// needs the log, so SQLite never starts it again from its beginning: it grew to ~860 MB in 20 s
/// of pushes, and SQLite's busy handler polls, so a checkpoint that waits for readers and writers
/// the usual way loses to back-to-back transactions every time. Past the limit the thread instead
/// takes every permit of the store's gate (see [`Store::run`]): once the calls in flight end, no
/// connection of this process is in a transaction, and a `RESTART` checkpoint copies the rest, so
/// that the next commit writes the log from its beginning again, over the same file. Not
/// `TRUNCATE`: cutting the file to nothing cost ~40–70 ms in the pause on ext4 (and an `fsync`
/// of the database that had to write out the log's newly allocated blocks first, 50–95 ms), and a
/// log that grows again allocates its blocks again; overwritten in place, it needs neither. The
/// pause is the copy of what the last passive checkpoint left and one `fsync`, once per
/// [`WAL_LIMIT_PAGES`] written; `journal_size_limit` keeps the file at that size. A log that a
/// burst took past twice the limit is truncated.
/// Dropping it stops the thread and closes its connection before returning, so that closing the
/// store still leaves no WAL behind.
pub(crate) struct Checkpointer {
    /// Dropped first: the disconnected channel wakes the thread and ends it.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// `gate` and its `permits`: the store's (see [`Store::run`]).
    fn start(
        manager: &Manager,
        gate: Arc<tokio::sync::Semaphore>,
        permits: u32,
    ) -> Result<Checkpointer, diesel::ConnectionError> {
        let DbConnection::Sqlite(mut conn) = r2d2::ManageConnection::connect(manager)? else {
            return Err(diesel::ConnectionError::BadConnection(
                "the WAL checkpoint thread is for SQLite only".into(),
            ));
        };
        // The database file, to flush what passive checkpoints copied into it before the pause.
        let db_path = match &manager.target {
            DbTarget::Sqlite(path) => Some(path.clone()),
            DbTarget::Postgres(_) => None,
        };
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("planpush-wal-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = checkpoint(&mut conn, db_path.as_deref(), &gate, permits) {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| {
                diesel::ConnectionError::BadConnection(format!(
                    "cannot start the WAL checkpoint thread: {e}"
                ))
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One turn of the checkpoint thread: passive, then restarting the WAL if it is past its limit.
fn checkpoint(
    conn: &mut SqliteConnection,
    db_path: Option<&std::path::Path>,
    gate: &tokio::sync::Semaphore,
    permits: u32,
) -> diesel::QueryResult<()> {
    let passive: CheckpointRow =
        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
    if passive.log > WAL_LIMIT_PAGES {
        // Passive checkpoints copy pages into the database file without syncing it (SQLite
        // syncs once the whole log is in), and commits append to the log without syncing it
        // (`synchronous = NORMAL`); the checkpoint in the pause would sync both, ~16 MiB each:
        // 50–100 ms of every call waiting on ext4. Flushed here first while calls run, then
        // copied again (what was committed meanwhile) and flushed, the pause copies and syncs
        // only what was committed since: 100–160 ms became ~30–50 ms. Not for a log a burst
        // took past twice the limit: syncing tens of MB while the writers go on let it grow by
        // as much again (past 128 MB under a test's 100 MB/s of writes), so it is cut at once.
        let far_past = passive.log > 2 * WAL_LIMIT_PAGES;
        if let Some(db) = db_path.filter(|_| !far_past) {
            let mut wal = db.as_os_str().to_owned();
            wal.push("-wal");
            flush(std::path::Path::new(&wal));
            flush(db);
            let _: CheckpointRow =
                diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
            flush(db);
        }
        // Every database call of this process waits while this holds all the permits; the gate
        // is fair, so calls arriving meanwhile queue behind it instead of overtaking it.
        let Ok(_paused) = futures::executor::block_on(gate.acquire_many(permits)) else {
            return Ok(());
        };
        // A log that a burst took far past the limit is cut back at once; otherwise the next
        // commit cuts it to `journal_size_limit` as it starts the log again.
        let mode = if far_past {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(RESTART)"
        };
        let restarted: CheckpointRow = diesel::sql_query(mode).get_result(conn)?;
        if restarted.busy != 0 {
            tracing::warn!(
                pages = passive.log,
                "the WAL is past its limit and a connection outside the pool (a backup, another \
                 process) kept it busy; trying again at the next turn"
            );
        }
    }
    Ok(())
}

/// Writes out the file's dirty pages (`fdatasync`); a failure only costs the pause its speed.
fn flush(path: &std::path::Path) {
    if let Err(e) = std::fs::File::open(path).and_then(|f| f.sync_data()) {
        tracing::warn!(error = %e, file = %path.display(), "flushing before a checkpoint failed");
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The backend type of [`DbConnection`], for boxed queries.
pub(crate) type Db = <DbConnection as Connection>::Backend;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// The PostgreSQL advisory lock key held while migrating ("plan" in ASCII).
const MIGRATION_LOCK: i64 = 0x706c_616e;

/// The storage adapter: a connection pool plus every repository port.
pub struct Store {
    pub(crate) pool: Pool,
    target: DbTarget,
    /// Database round trips made through [`Store::run`] (every repository call is one).
    round_trips: std::sync::atomic::AtomicU64,
    /// Live plan events: in-process, one bus per opened store (so every `ports()` shares it).
    events: Arc<planpush_app::LocalBus>,
    /// As many permits as the pool has connections (see [`Store::run`]).
    gate: Arc<tokio::sync::Semaphore>,
    /// As many threads as the pool has connections: where [`Store::run`] runs its calls.
    threads: planpush_app::CpuPool,
    /// SQLite only.
    _checkpointer: Option<Checkpointer>,
}

impl Store {
    /// Opens a pool and checks one connection, so a wrong URL, a refused connection or a TLS
    /// failure is reported now, with the driver's own message.
    pub fn open(target: DbTarget, options: &StoreOptions) -> Result<Arc<Self>, OpenError> {
        let connect_err = |cause: String| OpenError::Connect {
            target: target.redacted(),
            cause,
        };
        if let DbTarget::Sqlite(path) = &target
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                connect_err(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let manager = Manager {
            target: target.clone(),
            busy_timeout_ms: options.sqlite_busy_timeout.as_millis(),
        };
        // Establish one connection by hand first: r2d2 would only report a timeout.
        r2d2::ManageConnection::connect(&manager)
            .map_err(|e| connect_err(e.to_string().trim().to_owned()))?;
        let gate = Arc::new(tokio::sync::Semaphore::new(
            options.max_connections as usize,
        ));
        let checkpointer = match &target {
            DbTarget::Sqlite(_) => Some(
                Checkpointer::start(&manager, gate.clone(), options.max_connections)
                    .map_err(|e| connect_err(e.to_string().trim().to_owned()))?,
            ),
            DbTarget::Postgres(_) => None,
        };
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            // No background replenishment: a connection being opened on a pool thread while the process
            // exits can crash inside OpenSSL's exit handlers (seen with TLS to PostgreSQL).
            .min_idle(Some(0))
            // r2d2 runs `SELECT 1` on every checkout by default: worth it for a server across a
            // network, which can drop connections; a SQLite file cannot (~1.5% of a push's CPU).
            .test_on_check_out(matches!(target, DbTarget::Postgres(_)))
            .connection_timeout(options.connect_timeout)
            .build(manager)
            .map_err(|e| connect_err(e.to_string()))?;
        // One thread per connection, each kept for the life of the store: tokio's blocking pool
        // would keep up to that many idle threads per runtime that calls the store (the main
        // runtime and every request worker's), each with its stack and allocator caches.
        let connections = options.max_connections as usize;
        let threads = planpush_app::CpuPool::named("db", connections, connections, || {})
            .map_err(|e| connect_err(format!("cannot start the database threads: {e}")))?;
        Ok(Arc::new(Self {
            pool,
            target,
            threads,
            round_trips: std::sync::atomic::AtomicU64::new(0),
            events: Arc::new(planpush_app::LocalBus::new(epoch())),
            gate,
            _checkpointer: checkpointer,
        }))
    }

    pub fn backend(&self) -> Backend {
        self.target.backend()
    }

    /// How many repository calls (database round trips) this store has served.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections the pool holds now: `(idle, in use)`.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.idle_connections,
            state.connections.saturating_sub(state.idle_connections),
        )
    }

    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// Runs pending migrations; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, OpenError> {
        let err = |cause: String| OpenError::Migrate {
            target: self.target.redacted(),
            cause,
        };
        let mut conn = self.pool.get().map_err(|e| err(e.to_string()))?;
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect()),
            DbConnection::Pg(c) => {
                // Several processes starting at once: one migrates, the others wait for it and
                // then find nothing pending (a session lock, released below or when the
                // connection closes).
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(c)
                    .map_err(|e| err(e.to_string()))?;
                let applied = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(ToString::to_string).collect());
                let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .execute(c);
                applied
            }
        };
        applied.map_err(|e| err(e.to_string()))
    }

    /// Applies the next pending migration only and returns its version; `None` when none is pending
    /// (for the migration tests).
    pub fn migrate_next(&self) -> Result<Option<String>, OpenError> {
        let err = |cause: String| OpenError::Migrate {
            target: self.target.redacted(),
            cause,
        };
        let mut conn = self.pool.get().map_err(|e| err(e.to_string()))?;
        fn step<C: MigrationHarness<B>, B: diesel::backend::Backend>(
            c: &mut C,
            source: EmbeddedMigrations,
        ) -> diesel::migration::Result<Option<String>> {
            let Some(next) = c.pending_migrations(source)?.into_iter().next() else {
                return Ok(None);
            };
            let name = next.name().version().to_string();
            c.run_migration(&*next)?;
            Ok(Some(name))
        }
        match &mut *conn {
            DbConnection::Sqlite(c) => step(c, SQLITE_MIGRATIONS),
            DbConnection::Pg(c) => step(c, POSTGRES_MIGRATIONS),
        }
        .map_err(|e| err(e.to_string()))
    }

    /// A sorted, textual description of the schema (tables, columns, indexes, constraints, and on
    /// SQLite the settings of each FTS5 index), for comparing schemas in tests and diagnostics.
    /// The migrations bookkeeping table is left out.
    pub fn schema_snapshot(&self) -> anyhow::Result<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS line FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%'"
            }
            Backend::Postgres => {
                "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '') AS line \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT LIKE '__diesel%' \
                 UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename NOT LIKE '__diesel%' \
                 UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text NOT LIKE '__diesel%'"
            }
        };
        let mut conn = self.pool.get()?;
        let mut lines: Vec<String> = diesel::sql_query(sql)
            .load::<Line>(&mut *conn)?
            .into_iter()
            .map(|l| l.line)
            .collect();
        // An FTS5 index keeps its settings (how it merges, page size) as rows of its `_config`
        // table, written by a migration like a column is.
        let fts5: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with("table ") && l.contains("USING fts5"))
            .filter_map(|l| {
                l.strip_prefix("table ")?
                    .split(':')
                    .next()
                    .map(str::to_owned)
            })
            .collect();
        for table in fts5 {
            let sql = format!(
                "SELECT 'fts5 {table} ' || k || ' = ' || v AS line FROM \"{table}_config\" \
                 WHERE k <> 'version'"
            );
            lines.extend(
                diesel::sql_query(sql)
                    .load::<Line>(&mut *conn)?
                    .into_iter()
                    .map(|l| l.line),
            );
        }
        lines.sort();
        Ok(lines)
    }

    /// Runs a read-only diagnostic query (tests, `planpush-server` admin commands).
    pub fn raw_query<T>(&self, sql: &str) -> anyhow::Result<Vec<T>>
    where
        T: diesel::QueryableByName<diesel::pg::Pg>
            + diesel::QueryableByName<diesel::sqlite::Sqlite>
            + 'static,
    {
        let mut conn = self.pool.get()?;
        Ok(match &mut *conn {
            DbConnection::Sqlite(c) => diesel::sql_query(sql).load::<T>(c)?,
            DbConnection::Pg(c) => diesel::sql_query(sql).load::<T>(c)?,
        })
    }

    /// Reverts the most recent migration (for the migration tests and `planpush-server migrate --down`).
    pub fn revert_last_migration(&self) -> Result<String, OpenError> {
        let err = |cause: String| OpenError::Migrate {
            target: self.target.redacted(),
            cause,
        };
        let mut conn = self.pool.get().map_err(|e| err(e.to_string()))?;
        let reverted = match &mut *conn {
            DbConnection::Sqlite(c) => c
                .revert_last_migration(SQLITE_MIGRATIONS)
                .map(|v| v.to_string()),
            DbConnection::Pg(c) => c
                .revert_last_migration(POSTGRES_MIGRATIONS)
                .map(|v| v.to_string()),
        };
        reverted.map_err(|e| err(e.to_string()))
    }

    /// Writes a consistent copy of a SQLite database to `to` while the server keeps serving
    /// (`VACUUM INTO` reads one snapshot; writers are not blocked in WAL mode). The copy is written
    /// beside `to` and renamed into place, so a failed backup leaves no partial file. `to` must not
    /// exist. PostgreSQL databases are backed up with `pg_dump` instead.
    pub fn backup_sqlite(&self, to: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::{Context, bail};
        if self.backend() != Backend::Sqlite {
            bail!("the database is PostgreSQL: back it up with pg_dump (docs/operations.md)");
        }
        if to.exists() {
            bail!("{} already exists; choose a new file", to.display());
        }
        let partial = to.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let target = partial
            .to_str()
            .context("the backup path is not valid UTF-8")?
            .to_owned();
        let mut conn = self.pool.get()?;
        let DbConnection::Sqlite(c) = &mut *conn else {
            bail!("the database is not SQLite");
        };
        let written = diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(&target)
            .execute(c)
            .with_context(|| format!("writing {}", partial.display()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, to).with_context(|| format!("renaming into {}", to.display()))?;
        Ok(())
    }

    /// Every port, backed by this store.
    pub fn ports(self: &Arc<Self>) -> Ports {
        Ports {
            users: self.clone(),
            tokens: self.clone(),
            device_grants: self.clone(),
            web_sessions: self.clone(),
            roles: self.clone(),
            plans: self.clone(),
            plan_views: self.clone(),
            reviews: self.clone(),
            inbox: self.clone(),
            versions: self.clone(),
            comments: self.clone(),
            audit_sink: self.clone(),
            audit_query: self.clone(),
            kv: self.clone(),
            outbox: self.clone(),
            readiness: self.clone(),
            events: self.events.clone(),
            scim: self.clone(),
            search: self.clone(),
            webhooks: self.clone(),
            presence: self.clone(),
            email_preferences: self.clone(),
        }
    }

    /// Runs `f` with a pooled connection on one of the store's threads.
    pub(crate) async fn run<T, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pool = self.pool.clone();
        // One call per connection at a time: callers beyond that wait here, not on threads
        // parked in `pool.get()` (the store has one thread per connection; the permit also
        // lets the SQLite checkpointer pause every call).
        let permit = self
            .gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| E::from(anyhow!("database gate closed: {e}")))?;
        self.threads
            .run(move || {
                let _permit = permit;
                let mut conn = pool.get().context("no database connection available")?;
                f(&mut conn)
            })
            .await
            .map_err(|_| E::from(anyhow!("database task failed (it panicked)")))?
    }
}

/// A per-process number for event ids: the start time in milliseconds, so ids handed out before a
/// restart are recognised as stale.
fn epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Checks that `path` is an intact SQLite database written by PlanPush: SQLite's own
/// `integrity_check` passes and it holds the migrations table. Used before a restore.
pub fn verify_sqlite_backup(path: &std::path::Path) -> anyhow::Result<usize> {
    use anyhow::{Context, bail};
    use diesel::Connection;
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    if !path.is_file() {
        bail!("{} is not a file", path.display());
    }
    let url = path
        .to_str()
        .context("the backup path is not valid UTF-8")?;
    let mut c = diesel::SqliteConnection::establish(&format!("file:{url}?mode=ro"))
        .with_context(|| format!("{} is not a SQLite database", path.display()))?;
    let check: Vec<Text> =
        diesel::sql_query("SELECT integrity_check AS v FROM pragma_integrity_check")
            .load(&mut c)
            .with_context(|| format!("{} is not a SQLite database", path.display()))?;
    if check.first().map(|t| t.v.as_str()) != Some("ok") {
        bail!(
            "{} is damaged: {}",
            path.display(),
            check.first().map_or("", |t| t.v.as_str())
        );
    }
    let versions: Vec<Text> =
        diesel::sql_query("SELECT version AS v FROM __diesel_schema_migrations")
            .load(&mut c)
            .with_context(|| {
                format!(
                    "{} is not a PlanPush database (no migrations table)",
                    path.display()
                )
            })?;
    Ok(versions.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/pp"),
            "postgres://app:***@db:5432/pp"
        );
        assert_eq!(redact("postgres://app@db/pp"), "postgres://app@db/pp");
        assert_eq!(
            DbTarget::Postgres("postgres://u:hunter2@h/db".into()).redacted(),
            "postgres://u:***@h/db"
        );
    }

    /// Calls from several runtimes (the server has one per request worker, plus its main one)
    /// run on the store's own threads, one per connection: never on a runtime's blocking pool,
    /// which keeps up to that many threads per runtime.
    #[test]
    fn calls_run_on_one_thread_per_connection_whatever_runtime_makes_them() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let options = StoreOptions {
            max_connections: 3,
            ..StoreOptions::default()
        };
        let store = Store::open(DbTarget::Sqlite(dir.path().join("t.db")), &options)
            .unwrap_or_else(|e| panic!("open: {e}"));
        let threads = std::thread::scope(|s| {
            let runtimes: Vec<_> = (0..3)
                .map(|_| {
                    let store = store.clone();
                    s.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap_or_else(|e| panic!("runtime: {e}"));
                        rt.block_on(futures::future::join_all((0..20).map(|_| {
                            store.run(|_conn| {
                                // Long enough for calls to overlap.
                                std::thread::sleep(std::time::Duration::from_millis(2));
                                Ok::<_, anyhow::Error>(
                                    std::thread::current().name().map(str::to_owned),
                                )
                            })
                        })))
                    })
                })
                .collect();
            runtimes
                .into_iter()
                .flat_map(|r| r.join().unwrap_or_else(|_| panic!("a runtime panicked")))
                .collect::<Vec<_>>()
        });
        assert_eq!(threads.len(), 60);
        let names: std::collections::BTreeSet<String> = threads
            .into_iter()
            .map(|t| t.unwrap_or_else(|e| panic!("call failed: {e}")))
            .map(|name| name.unwrap_or_default())
            .collect();
        assert!(
            names.len() <= 3 && names.iter().all(|n| n.starts_with("db-")),
            "calls ran on {names:?}"
        );
    }
}
