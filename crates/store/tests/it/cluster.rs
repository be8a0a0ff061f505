//! Two "processes" (two stores, two listeners) on one PostgreSQL schema: live events, `Last-Event-ID`
//! replay, access changes and cache invalidation cross between them; the listener reconnects after
//! its connection is killed and catches up; rate limits and job leases are shared.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use futures::StreamExt;
use planpush_app::{
    AccessSignal, Actor, Budget, Cluster, EventBus, EventId, LimitKey, LiveEvent, PlanActivity,
    RateLimiter, RemoteChanges,
};
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_store::cluster::{ClusterSettings, EPOCH, PgCluster};
use planpush_store::ratelimit::PgRateLimiter;
use planpush_store::{DbTarget, Store, StoreOptions};

use crate::support::{Guard, pg_admin_url, pg_store};

/// What a process's caches were told.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    User(UserId),
    Plan(PlanId),
    Everything,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Told>>);

impl RemoteChanges for Recorder {
    fn user_changed(&self, user: UserId) {
        self.0.lock().unwrap().push(Told::User(user));
    }
    fn plan_changed(&self, plan: PlanId) {
        self.0.lock().unwrap().push(Told::Plan(plan));
    }
    fn everything_changed(&self) {
        self.0.lock().unwrap().push(Told::Everything);
    }
}

impl Recorder {
    fn told(&self) -> Vec<Told> {
        self.0.lock().unwrap().clone()
    }
}

struct Process {
    store: Arc<Store>,
    cluster: Arc<PgCluster>,
    caches: Arc<Recorder>,
}

/// Two processes on one fresh schema, or `None` without PostgreSQL (outside CI).
fn two_processes() -> Option<(Process, Process, Guard)> {
    let (a, guard) = pg_store()?;
    a.migrate().unwrap();
    let DbTarget::Postgres(url) = a.target().clone() else {
        unreachable!()
    };
    let b = Store::open(DbTarget::Postgres(url), &StoreOptions::default()).unwrap();
    let process = |store: Arc<Store>| {
        let cluster = PgCluster::start(store.clone(), ClusterSettings::default()).unwrap();
        let caches = Arc::new(Recorder::default());
        cluster.attach(caches.clone());
        Process {
            store,
            cluster,
            caches,
        }
    };
    Some((process(a), process(b), guard))
}

fn ev(n: u32) -> LiveEvent {
    LiveEvent::Plan {
        activity: if n.is_multiple_of(2) {
            PlanActivity::Archived
        } else {
            PlanActivity::Unarchived
        },
        by: Actor {
            login: format!("u{n}"),
        },
    }
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next(live: &mut planpush_app::EventStream) -> planpush_app::PlanEvent {
    tokio::time::timeout(Duration::from_secs(10), live.next())
        .await
        .expect("no live event within 10 s")
        .expect("the stream ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_on_one_process_reach_viewers_of_the_other_and_replay_there() {
    let Some((a, b, _guard)) = two_processes() else {
        return;
    };
    let plan = PlanId::new();
    let mut viewer = b.cluster.subscribe(plan, None).await.unwrap();
    assert_eq!(
        viewer.last,
        EventId {
            epoch: EPOCH,
            seq: 0
        }
    );
    let mut ids = vec![];
    for n in 1..=3 {
        ids.push(a.cluster.publish(plan, ev(n)).await.unwrap());
    }
    for (n, id) in (1..=3).zip(&ids) {
        let got = next(&mut viewer.live).await;
        assert_eq!((got.id, got.plan_id, got.event), (*id, plan, ev(n)));
    }
    // B's pages of the plan were voided, once per round at least; A's own were not told.
    until("B voids the plan's pages", || {
        b.caches.told().contains(&Told::Plan(plan))
    })
    .await;
    assert!(!a.caches.told().contains(&Told::Plan(plan)));

    // A browser that saw event 1 on A reconnects to B: B replays 2 and 3 from the database.
    let again = b.cluster.subscribe(plan, Some(ids[0])).await.unwrap();
    assert!(!again.gap);
    assert_eq!(again.last, ids[2]);
    assert_eq!(
        again.replay.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[1..]
    );
    // Up to date: nothing; unknown epoch or a future id: a gap (re-read the plan).
    let current = b.cluster.subscribe(plan, Some(ids[2])).await.unwrap();
    assert!(current.replay.is_empty() && !current.gap);
    for stale in [
        EventId { epoch: 7, seq: 1 },
        EventId {
            epoch: EPOCH,
            seq: 99,
        },
    ] {
        let s = b.cluster.subscribe(plan, Some(stale)).await.unwrap();
        assert!(s.gap && s.replay.is_empty(), "{stale}");
    }
    // Events swept by retention are a gap too.
    a.cluster
        .purge_events(chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    let swept = b.cluster.subscribe(plan, Some(ids[0])).await.unwrap();
    assert!(swept.gap && swept.replay.is_empty());
    // Concurrent publishers of one plan from both processes: numbered 4.. without a hole.
    let (x, y) = futures::join!(
        futures::future::join_all((0..10).map(|n| a.cluster.publish(plan, ev(n)))),
        futures::future::join_all((0..10).map(|n| b.cluster.publish(plan, ev(n))))
    );
    let mut seqs: Vec<u64> = x.into_iter().chain(y).map(|r| r.unwrap().seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (4..24).collect::<Vec<_>>());
    let mut live_seqs = vec![];
    for _ in 0..20 {
        live_seqs.push(next(&mut viewer.live).await.id.seq);
    }
    assert_eq!(
        live_seqs,
        (4..24).collect::<Vec<_>>(),
        "in order, none lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_changes_void_the_other_process_caches_then_wake_its_streams() {
    let Some((a, b, _guard)) = two_processes() else {
        return;
    };
    let (ada, ben) = (UserId::new(), UserId::new());
    let mut watch_b = b.cluster.watch(ada);
    let mut watch_a = a.cluster.watch(ada);
    let mut other = b.cluster.watch(ben);
    a.cluster.notify(ada);
    // A's own stream hears at once; B's after its listener's next poll.
    tokio::time::timeout(Duration::from_secs(1), watch_a.next())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), watch_b.next())
        .await
        .expect("B's stream was not woken")
        .unwrap();
    assert_eq!(b.caches.told(), [Told::User(ada)], "voided before waking");
    assert!(
        a.caches.told().is_empty(),
        "A applies its own changes itself"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), other.next())
            .await
            .is_err(),
        "Ben's stream is not woken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_reconnects_voids_every_cache_and_catches_viewers_up() {
    let Some((a, b, _guard)) = two_processes() else {
        return;
    };
    let plan = PlanId::new();
    let mut viewer = b.cluster.subscribe(plan, None).await.unwrap();
    let mut watch = b.cluster.watch(UserId::new());
    let first = a.cluster.publish(plan, ev(1)).await.unwrap();
    assert_eq!(next(&mut viewer.live).await.id, first);

    let admin = PgConnection::establish(&pg_admin_url().unwrap()).unwrap();
    let mut admin = admin;
    let pid = b.cluster.listener_pid();
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut admin)
        .unwrap();
    // Published while B's listener may be down: its notification is lost to B.
    let second = a.cluster.publish(plan, ev(2)).await.unwrap();
    until("B reconnects", || b.cluster.connections() >= 2).await;
    assert_ne!(b.cluster.listener_pid(), pid);
    assert_eq!(
        next(&mut viewer.live).await.id,
        second,
        "caught up from its cursor"
    );
    until("B voids everything", || {
        b.caches.told().contains(&Told::Everything)
    })
    .await;
    tokio::time::timeout(Duration::from_secs(1), watch.next())
        .await
        .expect("every stream re-checks after a reconnection")
        .unwrap();
    // And it still hears new news.
    let third = a.cluster.publish(plan, ev(3)).await.unwrap();
    assert_eq!(next(&mut viewer.live).await.id, third);
    let ada = UserId::new();
    a.cluster.notify(ada);
    until("B hears an access change after reconnecting", || {
        b.caches.told().contains(&Told::User(ada))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_job_leases_are_shared_by_the_processes() {
    let Some((a, b, _guard)) = two_processes() else {
        return;
    };
    let (la, lb) = (
        PgRateLimiter::new(a.store.clone()),
        PgRateLimiter::new(b.store.clone()),
    );
    let office = LimitKey::ip("203.0.113.9".parse().unwrap());
    let budget = Budget::SignIn.per_15_min();
    // Alternating between the processes, the office gets the budget once, not once per process.
    for n in 0..budget {
        let limiter = if n % 2 == 0 { &la } else { &lb };
        assert_eq!(limiter.check(Budget::SignIn, office).await, Ok(()), "{n}");
    }
    for limiter in [&la, &lb] {
        let wait = limiter.check(Budget::SignIn, office).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }
    // Other budgets and other keys are untouched.
    assert_eq!(lb.check(Budget::SignOut, office).await, Ok(()));
    let home = LimitKey::ip("198.51.100.1".parse().unwrap());
    assert_eq!(la.check(Budget::SignIn, home).await, Ok(()));
    // Concurrent draws never hand out more than the budget.
    let user = LimitKey::User(UserId::new());
    let comment = Budget::Comment.per_15_min() as usize;
    let draws = futures::future::join_all(
        (0..comment + 20).map(|n| if n % 2 == 0 { &la } else { &lb }.check(Budget::Comment, user)),
    )
    .await;
    assert_eq!(draws.iter().filter(|d| d.is_ok()).count(), comment);
    // Nothing has refilled yet.
    assert_eq!(la.prune().await.unwrap(), 0);

    assert!(
        a.cluster
            .try_lease("sweep", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !b.cluster
            .try_lease("sweep", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        a.cluster
            .try_lease("sweep", Duration::from_secs(60))
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        b.cluster
            .try_lease("other", Duration::from_secs(60))
            .await
            .unwrap()
    );
    // A lease that ran out goes to whoever asks next.
    assert!(
        a.cluster
            .try_lease("short", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        b.cluster
            .try_lease("short", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !a.cluster
            .try_lease("short", Duration::from_secs(60))
            .await
            .unwrap()
    );
}
