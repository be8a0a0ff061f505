//! Several server processes on one PostgreSQL: live events and cache invalidations over
//! `LISTEN/NOTIFY`.
//!
//! [`PgCluster`] is both the process's [`EventBus`] and its [`Cluster`] (the "access changed"
//! signal plus remote cache invalidation). What crosses processes:
//!
//! - **Plan events.** [`EventBus::publish`] numbers the event in the plan's row of `live_topics`
//!   (an upsert: concurrent publishers of one plan queue on the row lock, so sequence numbers are
//!   in commit order), stores it in `live_events` and sends `NOTIFY planpush, 'e:<node>:<plan>:<seq>'`
//!   — all in one transaction, so the notification leaves only if the event is stored. The
//!   payload carries ids only (far under PostgreSQL's 8,000-byte limit); the listener of every
//!   process reads the events after its cursor from the table and hands them to its viewers. A
//!   viewer's `Last-Event-ID` is replayed from the table, so it works whichever process the
//!   browser reconnects to. Every event also voids the plan's rendered pages in the other
//!   processes ([`RemoteChanges::plan_changed`]).
//! - **Access changes.** [`AccessSignal::notify`] wakes this process's streams and queues
//!   `u:<node>:<user>`; the other processes void the user's cached access, sessions and tokens
//!   ([`RemoteChanges::user_changed`]) and then wake their streams of that user, which check again.
//!
//! One dedicated connection per process listens (a thread, `application_name` =
//! [`LISTENER_NAME`]); it also sends the queued access notifications and runs the reads for its
//! viewers. PostgreSQL does not keep notifications for a listener that is gone, so when the
//! connection drops the listener reconnects with backoff and then assumes it missed everything:
//! every cache is voided ([`RemoteChanges::everything_changed`]), every live stream re-checks its
//! viewer, and every watched plan is read from its cursor (viewers get the missed events, late
//! but in order).
//!
//! Latency: a change reaches the other processes when their listener next polls (every
//! [`ClusterSettings::poll`], 5 ms by default) after the commit; what this process announces is
//! sent at once (the listener thread is woken).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use futures::channel::mpsc;
use planpush_app::{
    AccessChanges, AccessSignal, Cluster, EventBus, EventId, InfraError, LiveEvent, LocalSignal,
    PlanEvent, RETAINED_EVENTS, RemoteChanges, SUBSCRIBER_BUFFER, Subscription,
};
use planpush_identity::UserId;
use planpush_plans::PlanId;

use crate::rows::ts;
use crate::{DbConnection, DbTarget, Store};

/// The `LISTEN/NOTIFY` channel.
pub const CHANNEL: &str = "planpush";
/// The `application_name` of each process's listener connection (to find it in
/// `pg_stat_activity`).
pub const LISTENER_NAME: &str = "planpush_listener";
/// The epoch of every event id handed out by the PostgreSQL bus: events live in the database, so
/// ids stay valid across restarts and processes (a `Last-Event-ID` from a one-process, in-memory
/// epoch is a gap).
pub const EPOCH: u64 = 0x5047;
/// `planpush_cluster_listener_up`: 1 while this process's listener connection is up.
pub const LISTENER_UP: &str = "planpush_cluster_listener_up";
/// `planpush_cluster_reconnects_total`: how often the listener had to reconnect.
pub const RECONNECTS: &str = "planpush_cluster_reconnects_total";

/// How the listener polls and reconnects.
#[derive(Debug, Clone, Copy)]
pub struct ClusterSettings {
    /// How often the listener looks for notifications when idle.
    pub poll: Duration,
    /// A round trip on the listener connection after this long without one, to notice a
    /// connection that died silently.
    pub keepalive: Duration,
    /// The first wait before reconnecting; doubled after each failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(5),
            keepalive: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// One notification on [`CHANNEL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Process `node` published event `seq` of `plan`.
    Event { node: u64, plan: PlanId, seq: u64 },
    /// Process `node` changed `user`'s access.
    User { node: u64, user: UserId },
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Event { node, plan, seq } => write!(f, "e:{node:x}:{plan}:{seq}"),
            Message::User { node, user } => write!(f, "u:{node:x}:{user}"),
        }
    }
}

impl Message {
    /// Reads a payload; `None` for anything that is not one of ours.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split(':');
        let kind = parts.next()?;
        let node = u64::from_str_radix(parts.next()?, 16).ok()?;
        let message = match kind {
            "e" => Message::Event {
                node,
                plan: PlanId::parse(parts.next()?).ok()?,
                seq: parts.next()?.parse().ok()?,
            },
            "u" => Message::User {
                node,
                user: UserId::parse(parts.next()?).ok()?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some(message)
    }

    fn node(&self) -> u64 {
        match self {
            Message::Event { node, .. } | Message::User { node, .. } => *node,
        }
    }
}

/// What one listener round learned: whose access changed, which plans have new events.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Users changed by other processes (each once).
    pub users: Vec<UserId>,
    /// Plans changed by other processes (their pages are stale).
    pub changed_plans: Vec<PlanId>,
    /// Plans with new events, from any process (this one's included: its viewers are served by
    /// the listener too).
    pub new_events: HashSet<PlanId>,
}

impl Round {
    /// Sorts a batch of payloads received by process `node`; unknown payloads are skipped.
    pub fn of<'a>(node: u64, payloads: impl IntoIterator<Item = &'a str>) -> Self {
        let mut round = Round::default();
        let mut seen_users = HashSet::new();
        let mut seen_plans = HashSet::new();
        for payload in payloads {
            let Some(m) = Message::parse(payload) else {
                tracing::debug!(payload, "ignoring a notification that is not ours");
                continue;
            };
            let remote = m.node() != node;
            match m {
                Message::User { user, .. } => {
                    if remote && seen_users.insert(user) {
                        round.users.push(user);
                    }
                }
                Message::Event { plan, .. } => {
                    round.new_events.insert(plan);
                    if remote && seen_plans.insert(plan) {
                        round.changed_plans.push(plan);
                    }
                }
            }
        }
        round
    }
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<PlanEvent>,
    /// Events after this one go live; `None` while the subscription is being set up (events
    /// dispatched meanwhile wait in `pending`).
    after: Option<u64>,
    pending: Vec<PlanEvent>,
}

impl Subscriber {
    /// Hands `e` over; `false` when the subscriber is gone or too far behind (it is dropped, its
    /// stream ends and the browser reconnects with its `Last-Event-ID`).
    fn offer(&mut self, e: &PlanEvent) -> bool {
        match self.after {
            None => {
                self.pending.push(e.clone());
                self.pending.len() <= SUBSCRIBER_BUFFER
            }
            Some(after) if e.id.seq <= after => true,
            Some(_) => self.tx.try_send(e.clone()).is_ok(),
        }
    }
}

/// This process's viewers of one plan.
#[derive(Default)]
struct Topic {
    /// The last event handed to the viewers (`None` until the first subscription read it).
    cursor: Option<u64>,
    subscribers: Vec<Subscriber>,
}

/// What the async side leaves for the listener thread.
#[derive(Default)]
struct Inbox {
    /// Plans whose events must be read from their cursor.
    dirty: HashSet<PlanId>,
    /// Payloads to send.
    outbound: Vec<String>,
}

/// The PostgreSQL `LISTEN/NOTIFY` event bus and cluster link of one server process.
pub struct PgCluster {
    store: Arc<Store>,
    url: String,
    /// This process, in payloads (its own access notifications are not applied twice).
    node: u64,
    settings: ClusterSettings,
    local: LocalSignal,
    caches: Mutex<Option<Arc<dyn RemoteChanges>>>,
    topics: Mutex<HashMap<PlanId, Topic>>,
    inbox: Mutex<Inbox>,
    next_subscriber: AtomicU64,
    stopped: AtomicBool,
    /// Times the listener connected (1 after start, more after reconnections).
    connections: AtomicU64,
    /// The backend process id of the listener's current connection (0: none).
    listener_pid: std::sync::atomic::AtomicI32,
    /// The listener thread, woken (unparked) when there is something to send or read.
    thread: std::sync::OnceLock<std::thread::Thread>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single insert, retain or push: still consistent after a
    // panic elsewhere.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(QueryableByName)]
struct SeqRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    body: String,
}

fn seq_u64(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl EventRow {
    fn event(self, plan: PlanId) -> anyhow::Result<PlanEvent> {
        let event = LiveEvent::decode(&self.kind, &self.body)
            .map_err(|e| anyhow!("live event {plan}#{}: {e}", self.seq))?;
        Ok(PlanEvent {
            id: EventId {
                epoch: EPOCH,
                seq: seq_u64(self.seq),
            },
            plan_id: plan,
            event,
        })
    }
}

/// The events of `plan` after `after`, oldest first, at most `limit`.
fn events_after(
    c: &mut PgConnection,
    plan: PlanId,
    after: u64,
    limit: usize,
) -> anyhow::Result<Vec<PlanEvent>> {
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT seq, kind, body FROM live_events WHERE plan_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind::<Text, _>(plan.to_string())
    .bind::<BigInt, _>(seq_i64(after))
    .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
    .load(c)?;
    rows.into_iter().map(|r| r.event(plan)).collect()
}

fn pg(conn: &mut DbConnection) -> anyhow::Result<&mut PgConnection> {
    match conn {
        DbConnection::Pg(c) => Ok(c),
        DbConnection::Sqlite(_) => Err(anyhow!(
            "several processes need PostgreSQL; SQLite serves one process"
        )),
    }
}

impl PgCluster {
    /// Starts the listener of this process on `store`'s PostgreSQL database and waits until it
    /// listens (so the process hears every change made after it starts serving).
    pub fn start(store: Arc<Store>, settings: ClusterSettings) -> anyhow::Result<Arc<Self>> {
        let DbTarget::Postgres(url) = store.target().clone() else {
            return Err(anyhow!(
                "several processes need PostgreSQL; SQLite serves one process"
            ));
        };
        let cluster = Arc::new(Self {
            store,
            url,
            node: uuid::Uuid::new_v4().as_u64_pair().0 >> 1,
            settings,
            local: LocalSignal::default(),
            caches: Mutex::new(None),
            topics: Mutex::new(HashMap::new()),
            inbox: Mutex::new(Inbox::default()),
            next_subscriber: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            listener_pid: std::sync::atomic::AtomicI32::new(0),
            thread: std::sync::OnceLock::new(),
        });
        let listener = cluster.clone();
        let thread = std::thread::Builder::new()
            .name("planpush-listener".into())
            .spawn(move || listener.listen())
            .context("cannot start the listener thread")?;
        let _ = cluster.thread.set(thread.thread().clone());
        let deadline = Instant::now() + Duration::from_secs(15);
        while cluster.connections.load(Ordering::Acquire) == 0 {
            if Instant::now() > deadline {
                cluster.stop();
                return Err(anyhow!(
                    "the LISTEN connection to PostgreSQL did not come up within 15 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(cluster)
    }

    /// Stops the listener (at its next poll).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake();
    }

    /// How many times the listener has connected (1 after start; more after reconnections).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Acquire)
    }

    /// Deletes retained events created before `before` (a viewer away longer resyncs). Returns how
    /// many.
    pub async fn purge_events(&self, before: DateTime<Utc>) -> anyhow::Result<u64> {
        self.store
            .run(move |conn| {
                let n = diesel::sql_query("DELETE FROM live_events WHERE created_at < $1")
                    .bind::<Timestamp, _>(ts(before))
                    .execute(pg(conn)?)?;
                Ok::<_, anyhow::Error>(n as u64)
            })
            .await
    }

    /// Takes (or renews) the lease `name` for `ttl` unless another process holds it: a background
    /// job that one process at a time should run asks first. Times are the database's, so the
    /// processes' clocks do not matter.
    pub async fn try_lease(&self, name: &'static str, ttl: Duration) -> anyhow::Result<bool> {
        let holder = format!("{:x}", self.node);
        self.store
            .run(move |conn| {
                let won = diesel::sql_query(
                    "INSERT INTO job_leases (name, holder, until) \
                     VALUES ($1, $2, now() AT TIME ZONE 'UTC' + make_interval(secs => $3)) \
                     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                     WHERE job_leases.until <= now() AT TIME ZONE 'UTC' OR job_leases.holder = EXCLUDED.holder \
                     RETURNING 1::bigint AS seq",
                )
                .bind::<Text, _>(name)
                .bind::<Text, _>(holder.as_str())
                .bind::<diesel::sql_types::Double, _>(ttl.as_secs_f64())
                .get_results::<SeqRow>(pg(conn)?)?;
                Ok::<_, anyhow::Error>(!won.is_empty())
            })
            .await
    }

    /// Tells every server process listening on `store`'s database that `user`'s access changed,
    /// from a process that is not one of them (`planpush-server grant-admin`).
    pub async fn announce_user(store: &Arc<Store>, user: UserId) -> anyhow::Result<()> {
        let payload = Message::User {
            node: uuid::Uuid::new_v4().as_u64_pair().0 >> 1,
            user,
        }
        .to_string();
        store
            .run(move |conn| {
                diesel::sql_query("SELECT pg_notify($1, $2)")
                    .bind::<Text, _>(CHANNEL)
                    .bind::<Text, _>(payload.as_str())
                    .execute(pg(conn)?)?;
                Ok::<_, anyhow::Error>(())
            })
            .await
    }

    fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    fn caches(&self) -> Option<Arc<dyn RemoteChanges>> {
        lock(&self.caches).clone()
    }

    /// The listener thread: connects, listens, serves, reconnects with backoff until stopped.
    fn listen(self: Arc<Self>) {
        let mut backoff = self.settings.backoff_min;
        while !self.stopped.load(Ordering::Acquire) {
            let mut conn = match self.connect() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "the PostgreSQL listener cannot connect");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.settings.backoff_max);
                    continue;
                }
            };
            backoff = self.settings.backoff_min;
            let n = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
            metrics::gauge!(LISTENER_UP).set(1.0);
            if n > 1 {
                metrics::counter!(RECONNECTS).increment(1);
                tracing::info!(
                    "the PostgreSQL listener reconnected; voiding every cache and catching viewers up"
                );
                self.missed_everything();
            }
            if let Err(e) = self.serve(&mut conn) {
                metrics::gauge!(LISTENER_UP).set(0.0);
                if !self.stopped.load(Ordering::Acquire) {
                    tracing::warn!(error = %format!("{e:#}"), "the PostgreSQL listener lost its connection; reconnecting");
                }
            }
        }
        metrics::gauge!(LISTENER_UP).set(0.0);
    }

    fn connect(&self) -> anyhow::Result<PgConnection> {
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let mut c = PgConnection::establish(&self.url).context("connecting")?;
        diesel::connection::SimpleConnection::batch_execute(
            &mut c,
            &format!("SET application_name = '{LISTENER_NAME}'; LISTEN {CHANNEL}"),
        )
        .context("LISTEN")?;
        let pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut c)
            .context("pg_backend_pid")?
            .pid;
        self.listener_pid.store(pid, Ordering::Release);
        Ok(c)
    }

    /// The PostgreSQL backend process id of the listener's connection (`pg_stat_activity.pid`).
    pub fn listener_pid(&self) -> i32 {
        self.listener_pid.load(Ordering::Acquire)
    }

    /// News may have been lost: void every cache, re-check every live stream, read every watched
    /// plan from its cursor.
    fn missed_everything(&self) {
        if let Some(c) = self.caches() {
            c.everything_changed();
        }
        self.local.notify_all();
        let plans: Vec<PlanId> = lock(&self.topics).keys().copied().collect();
        lock(&self.inbox).dirty.extend(plans);
    }

    /// Serves one connection until it fails or the cluster stops.
    fn serve(&self, c: &mut PgConnection) -> anyhow::Result<()> {
        let mut last_round_trip = Instant::now();
        while !self.stopped.load(Ordering::Acquire) {
            let mut payloads = vec![];
            for n in c.notifications_iter() {
                payloads.push(n.context("receiving notifications")?.payload);
            }
            let round = Round::of(self.node, payloads.iter().map(String::as_str));
            self.apply(&round);
            let (dirty, outbound) = {
                let mut inbox = lock(&self.inbox);
                inbox.dirty.extend(round.new_events);
                (
                    std::mem::take(&mut inbox.dirty),
                    std::mem::take(&mut inbox.outbound),
                )
            };
            let busy = !dirty.is_empty() || !outbound.is_empty() || !payloads.is_empty();
            if let Err(e) = self.send(c, &outbound) {
                // Sent again after the reconnection.
                let mut inbox = lock(&self.inbox);
                let later = std::mem::replace(&mut inbox.outbound, outbound);
                inbox.outbound.extend(later);
                inbox.dirty.extend(dirty);
                return Err(e);
            }
            for plan in dirty {
                if let Err(e) = self.dispatch(c, plan) {
                    lock(&self.inbox).dirty.insert(plan);
                    return Err(e);
                }
            }
            if busy {
                last_round_trip = Instant::now();
                continue;
            }
            if last_round_trip.elapsed() >= self.settings.keepalive {
                diesel::sql_query("SELECT 1")
                    .execute(c)
                    .context("keep-alive")?;
                last_round_trip = Instant::now();
                self.forget_unwatched();
            }
            // Until the next poll, or sooner when a request queued something to send or read.
            std::thread::park_timeout(self.settings.poll);
        }
        Ok(())
    }

    /// Forgets the plans nobody in this process watches any more.
    fn forget_unwatched(&self) {
        lock(&self.topics).retain(|_, t| {
            t.subscribers.retain(|s| !s.tx.is_closed());
            !t.subscribers.is_empty()
        });
    }

    /// Voids what other processes changed and wakes the streams of users whose access changed.
    fn apply(&self, round: &Round) {
        if round.users.is_empty() && round.changed_plans.is_empty() {
            return;
        }
        if let Some(caches) = self.caches() {
            for user in &round.users {
                caches.user_changed(*user);
            }
            for plan in &round.changed_plans {
                caches.plan_changed(*plan);
            }
        }
        // After the caches: a woken stream re-checks against fresh data.
        for user in &round.users {
            self.local.notify(*user);
        }
    }

    fn send(&self, c: &mut PgConnection, outbound: &[String]) -> anyhow::Result<()> {
        for payload in outbound {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(payload.as_str())
                .execute(c)
                .context("NOTIFY")?;
        }
        Ok(())
    }

    /// Hands `plan`'s events after its cursor to this process's viewers.
    fn dispatch(&self, c: &mut PgConnection, plan: PlanId) -> anyhow::Result<()> {
        loop {
            let cursor = {
                let mut topics = lock(&self.topics);
                let Some(topic) = topics.get_mut(&plan) else {
                    return Ok(());
                };
                topic.subscribers.retain(|s| !s.tx.is_closed());
                if topic.subscribers.is_empty() {
                    topics.remove(&plan);
                    return Ok(());
                }
                // Not read yet: the first subscription sets it, then asks for a dispatch.
                let Some(cursor) = topic.cursor else {
                    return Ok(());
                };
                cursor
            };
            let events = events_after(c, plan, cursor, RETAINED_EVENTS)?;
            let Some(last) = events.last().map(|e| e.id.seq) else {
                return Ok(());
            };
            let full = events.len() == RETAINED_EVENTS;
            if let Some(topic) = lock(&self.topics).get_mut(&plan) {
                for e in &events {
                    topic.subscribers.retain_mut(|s| s.offer(e));
                }
                topic.cursor = Some(topic.cursor.map_or(last, |c| c.max(last)));
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn publish_blocking(
        conn: &mut DbConnection,
        node: u64,
        plan: PlanId,
        kind: &'static str,
        body: String,
    ) -> anyhow::Result<u64> {
        let c = pg(conn)?;
        c.transaction(|c| {
            let seq = diesel::sql_query(
                "INSERT INTO live_topics (plan_id, seq) VALUES ($1, 1) \
                 ON CONFLICT (plan_id) DO UPDATE SET seq = live_topics.seq + 1 RETURNING seq",
            )
            .bind::<Text, _>(plan.to_string())
            .get_result::<SeqRow>(c)?
            .seq;
            diesel::sql_query(
                "INSERT INTO live_events (plan_id, seq, kind, body, created_at) \
                 VALUES ($1, $2, $3, $4, now() AT TIME ZONE 'UTC')",
            )
            .bind::<Text, _>(plan.to_string())
            .bind::<BigInt, _>(seq)
            .bind::<Text, _>(kind)
            .bind::<Text, _>(body.as_str())
            .execute(c)?;
            let seq = seq_u64(seq);
            // Delivered at commit, to every listener (this process's too).
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(Message::Event { node, plan, seq }.to_string())
                .execute(c)?;
            Ok::<_, diesel::result::Error>(seq)
        })
        .context("publishing a live event")
    }

    /// Reads what a new subscription needs: the plan's last event, and the retained events after
    /// `after` (at most [`RETAINED_EVENTS`], newest kept) with whether older ones are gone.
    fn read_subscription(
        conn: &mut DbConnection,
        plan: PlanId,
        after: Option<EventId>,
    ) -> anyhow::Result<(u64, Vec<PlanEvent>, bool)> {
        let c = pg(conn)?;
        let last = diesel::sql_query("SELECT seq FROM live_topics WHERE plan_id = $1")
            .bind::<Text, _>(plan.to_string())
            .get_results::<SeqRow>(c)?
            .first()
            .map_or(0, |r| seq_u64(r.seq));
        let Some(after) = after else {
            return Ok((last, vec![], false));
        };
        if after.epoch != EPOCH || after.seq > last {
            return Ok((last, vec![], true));
        }
        let from = after.seq.max(last.saturating_sub(RETAINED_EVENTS as u64));
        let replay: Vec<PlanEvent> = events_after(c, plan, from, RETAINED_EVENTS)?
            .into_iter()
            .filter(|e| e.id.seq <= last)
            .collect();
        let first = replay.first().map_or(last + 1, |e| e.id.seq);
        Ok((last, replay, first > after.seq + 1))
    }
}

#[async_trait]
impl EventBus for PgCluster {
    async fn publish(&self, plan: PlanId, event: LiveEvent) -> Result<EventId, InfraError> {
        let kind = event.name();
        let body = serde_json::to_string(&event).map_err(|e| InfraError::Unknown(e.into()))?;
        let node = self.node;
        let seq = self
            .store
            .run(move |conn| Self::publish_blocking(conn, node, plan, kind, body))
            .await?;
        Ok(EventId { epoch: EPOCH, seq })
    }

    async fn subscribe(
        &self,
        plan: PlanId,
        after: Option<EventId>,
    ) -> Result<Subscription, InfraError> {
        // Registered before reading, so nothing published meanwhile is missed (it waits in
        // `pending`, or is read by the dispatch asked for below).
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        lock(&self.topics)
            .entry(plan)
            .or_default()
            .subscribers
            .push(Subscriber {
                id,
                tx,
                after: None,
                pending: vec![],
            });
        let read = self
            .store
            .run(move |conn| Self::read_subscription(conn, plan, after))
            .await;
        let mut topics = lock(&self.topics);
        let (last, replay, gap) = match read {
            Ok(r) => r,
            Err(e) => {
                if let Some(t) = topics.get_mut(&plan) {
                    t.subscribers.retain(|s| s.id != id);
                }
                return Err(InfraError::Unknown(e));
            }
        };
        let topic = topics.entry(plan).or_default();
        if let Some(s) = topic.subscribers.iter_mut().find(|s| s.id == id) {
            s.after = Some(last);
            let pending = std::mem::take(&mut s.pending);
            if !pending.iter().all(|e| s.offer(e)) {
                topic.subscribers.retain(|s| s.id != id);
            }
        }
        if topic.cursor.is_none() {
            topic.cursor = Some(last);
        }
        drop(topics);
        lock(&self.inbox).dirty.insert(plan);
        self.wake();
        Ok(Subscription {
            last: EventId {
                epoch: EPOCH,
                seq: last,
            },
            replay,
            gap,
            live: Box::pin(rx),
        })
    }
}

impl AccessSignal for PgCluster {
    fn notify(&self, user: UserId) {
        self.local.notify(user);
        lock(&self.inbox).outbound.push(
            Message::User {
                node: self.node,
                user,
            }
            .to_string(),
        );
        // Sent at once, not at the next poll: the request that made the change is answering now.
        self.wake();
    }

    fn watch(&self, user: UserId) -> AccessChanges {
        self.local.watch(user)
    }
}

impl Cluster for PgCluster {
    fn attach(&self, caches: Arc<dyn RemoteChanges>) {
        *lock(&self.caches) = Some(caches);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_stay_small_and_reject_garbage() {
        let plan = PlanId::new();
        let user = UserId::new();
        for m in [
            Message::Event {
                node: u64::MAX >> 1,
                plan,
                seq: u64::MAX,
            },
            Message::User { node: 7, user },
        ] {
            let s = m.to_string();
            assert!(s.len() < 100, "{s}");
            assert_eq!(Message::parse(&s), Some(m));
        }
        for bad in [
            "",
            "e",
            "x:1:2",
            "u:zz:00000000-0000-0000-0000-000000000000",
            "u:1:not-a-uuid",
            "e:1:00000000-0000-0000-0000-000000000000",
            "e:1:00000000-0000-0000-0000-000000000000:x",
            "e:1:00000000-0000-0000-0000-000000000000:1:extra",
        ] {
            assert_eq!(Message::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_round_applies_other_processes_changes_once_and_reads_every_plan() {
        let me = 1;
        let (a, b) = (PlanId::new(), PlanId::new());
        let (u, v) = (UserId::new(), UserId::new());
        let payloads = [
            Message::User { node: 2, user: u }.to_string(),
            Message::User { node: 3, user: u }.to_string(),
            Message::User { node: me, user: v }.to_string(),
            Message::Event {
                node: 2,
                plan: a,
                seq: 1,
            }
            .to_string(),
            Message::Event {
                node: 2,
                plan: a,
                seq: 2,
            }
            .to_string(),
            Message::Event {
                node: me,
                plan: b,
                seq: 9,
            }
            .to_string(),
            "something else".to_owned(),
        ];
        let round = Round::of(me, payloads.iter().map(String::as_str));
        assert_eq!(
            round.users,
            [u],
            "own changes are applied where they are made"
        );
        assert_eq!(round.changed_plans, [a]);
        assert_eq!(round.new_events, HashSet::from([a, b]));
    }

    #[test]
    fn subscribers_hold_events_while_setting_up_and_skip_what_they_replayed() {
        let (tx, mut rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let mut s = Subscriber {
            id: 1,
            tx,
            after: None,
            pending: vec![],
        };
        let plan = PlanId::new();
        let ev = |seq| PlanEvent {
            id: EventId { epoch: EPOCH, seq },
            plan_id: plan,
            event: LiveEvent::Plan {
                activity: planpush_app::PlanActivity::Archived,
                by: planpush_app::Actor {
                    login: "ada".into(),
                },
            },
        };
        assert!(s.offer(&ev(4)));
        assert_eq!(s.pending.len(), 1);
        s.after = Some(4);
        assert!(s.offer(&ev(3)) && s.offer(&ev(4)) && s.offer(&ev(5)));
        assert_eq!(rx.try_recv().map(|e| e.id.seq).ok(), Some(5));
        assert!(rx.try_recv().is_err(), "nothing else yet");
        for seq in 6..(6 + SUBSCRIBER_BUFFER as u64) {
            assert!(s.offer(&ev(seq)));
        }
        // (The channel holds one more per sender than its buffer.)
        let refused = (0..2).map(|n| s.offer(&ev(1000 + n))).collect::<Vec<_>>();
        assert!(
            refused.contains(&false),
            "a full buffer drops the subscriber"
        );
    }
}
