//! Generation-guarded caches: the one rule for every in-process cache that a change must void at
//! once (users' access, tokens, web sessions, rendered plan pages).
//!
//! Every cached value belongs to a *scope* (a user, a plan). [`Generations`] keeps one counter for
//! the process and, per scope, the counter's value at the scope's last change ("bump"). The rule:
//!
//! 1. the counter is read **before** a value is loaded, and the value is stamped with it;
//! 2. an entry is served only while its scope has not been bumped after its stamp — a load that
//!    raced a change (a revocation committed while the row was being read) is never served to a
//!    request that started after the change, and is dropped instead of kept;
//! 3. changing something bumps its scope (after the change is committed) — dropping the key alone
//!    is not enough, because a load already in flight would put the old value back;
//! 4. concurrent misses of one key load once (single flight, moka's `try_get_with`); a caller
//!    that joined a flight started before a bump loads again.
//!
//! Entries also expire after a time to live, which bounds staleness for changes made by another
//! process (whose bumps this process does not see).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The per-scope change counters behind one or several [`GenerationCache`]s.
pub struct Generations<S> {
    counter: AtomicU64,
    /// The counter's value at each scope's last bump.
    bumped: Mutex<HashMap<S, u64>>,
    /// The counter's value at the last [`Generations::bump_all`].
    floor: AtomicU64,
}

impl<S: Hash + Eq + Clone> Default for Generations<S> {
    fn default() -> Self {
        Self {
            counter: AtomicU64::new(0),
            bumped: Mutex::new(HashMap::new()),
            floor: AtomicU64::new(0),
        }
    }
}

impl<S: Hash + Eq + Clone> Generations<S> {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<S, u64>> {
        // Every update is a single insert: a poisoned lock is still consistent.
        self.bumped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stamp for a value about to be loaded. Read it **before** loading.
    pub fn stamp(&self) -> u64 {
        self.counter.load(Ordering::Acquire)
    }

    /// Voids every value of `scope` loaded before now. Call it after the change is committed.
    pub fn bump(&self, scope: S) -> u64 {
        let mut bumped = self.lock();
        let g = self.counter.fetch_add(1, Ordering::AcqRel) + 1;
        bumped.insert(scope, g);
        g
    }

    /// Voids every value of every scope loaded before now.
    pub fn bump_all(&self) {
        let _bumped = self.lock();
        let g = self.counter.fetch_add(1, Ordering::AcqRel) + 1;
        self.floor.store(g, Ordering::Release);
    }

    /// The generation of `scope`: it moves on every bump of the scope (0 if never bumped).
    pub fn generation(&self, scope: &S) -> u64 {
        self.lock().get(scope).copied().unwrap_or(0)
    }

    /// Whether a value of `scope` (`None`: of no scope) stamped `stamp` may still be served.
    pub fn is_current(&self, scope: Option<&S>, stamp: u64) -> bool {
        if self.floor.load(Ordering::Acquire) > stamp {
            return false;
        }
        scope.is_none_or(|s| self.lock().get(s).is_none_or(|b| *b <= stamp))
    }
}

#[derive(Clone)]
struct Stamped<V> {
    stamp: u64,
    value: V,
}

/// Why a load through the cache produced no value.
enum Miss<E> {
    Absent,
    Failed(E),
}

/// How a [`GenerationCache`] is bounded.
pub struct CacheLimits<V> {
    /// Maximum total weight (entries, or bytes with a weigher).
    pub capacity: u64,
    /// How long an entry may be served at most.
    pub ttl: Duration,
    /// The weight of one value (default: 1 per entry).
    ///
    /// A weighted cache is brought back within `capacity` after every value it keeps. moka evicts
    /// only at its housekeeping, which runs after dozens of writes or a few hundred milliseconds:
    /// until then every new entry adds its weight. For entries of ~100–500 KB that overshoot was
    /// the largest part of the server's resident memory (the push memo of new plans: 8 MB of
    /// budget held ~40 MB more, measured on the release server; `Push::remember` keeps its own
    /// moka cache by the same rule).
    pub weigher: Option<fn(&V) -> u32>,
}

/// A cache whose entries obey the generation rule of this module. `K` is the key, `V` the
/// (cheaply cloned) value, `S` the scope whose bump voids a value (`scope_of`).
pub struct GenerationCache<K, V, S> {
    generations: Arc<Generations<S>>,
    scope_of: fn(&V) -> Option<S>,
    entries: moka::future::Cache<K, Stamped<V>>,
    /// Whether entries are weighed (and so evicted as soon as they are kept: [`CacheLimits`]).
    weighed: bool,
}

/// How often a reader retries a load that a concurrent bump made stale before it loads on its own.
const STALE_RETRIES: usize = 3;

impl<K, V, S> GenerationCache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub fn new(
        generations: Arc<Generations<S>>,
        scope_of: fn(&V) -> Option<S>,
        limits: CacheLimits<V>,
    ) -> Self {
        let mut builder = moka::future::Cache::builder()
            .max_capacity(limits.capacity)
            .time_to_live(limits.ttl);
        if let Some(weigh) = limits.weigher {
            builder = builder.weigher(move |_: &K, v: &Stamped<V>| weigh(&v.value));
        }
        Self {
            generations,
            scope_of,
            entries: builder.build(),
            weighed: limits.weigher.is_some(),
        }
    }

    /// The generations this cache obeys.
    pub fn generations(&self) -> &Arc<Generations<S>> {
        &self.generations
    }

    fn current(&self, e: &Stamped<V>) -> bool {
        self.generations
            .is_current((self.scope_of)(&e.value).as_ref(), e.stamp)
    }

    /// The cached value, if one may be served.
    pub async fn peek(&self, key: &K) -> Option<V> {
        let e = self.entries.get(key).await?;
        self.current(&e).then_some(e.value)
    }

    /// The value for `key`: from the cache, or by running `load` once for all concurrent callers.
    /// `Ok(None)` (nothing there) is not cached. An error is not cached either; a caller that
    /// joined someone else's failed or empty load runs its own, so one caller's answer (an
    /// authorization error, say) never becomes another's.
    pub async fn get_or_load<E, F, Fut>(&self, key: &K, load: F) -> Result<Option<V>, E>
    where
        E: Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        for _ in 0..STALE_RETRIES {
            if let Some(e) = self.entries.get(key).await {
                if self.current(&e) {
                    return Ok(Some(e.value));
                }
                self.entries.invalidate(key).await;
            }
            let stamp = self.generations.stamp();
            let ran = AtomicBool::new(false);
            let flight = async {
                ran.store(true, Ordering::Release);
                match load().await {
                    Ok(Some(value)) => Ok(Stamped { stamp, value }),
                    Ok(None) => Err(Miss::Absent),
                    Err(e) => Err(Miss::Failed(e)),
                }
            };
            let got = self.entries.try_get_with(key.clone(), flight).await;
            if ran.load(Ordering::Acquire) && got.is_ok() {
                self.kept().await;
            }
            match got {
                Ok(e) if self.current(&e) => return Ok(Some(e.value)),
                // Loaded before a bump (ours or a flight we joined): drop it and load again.
                Ok(_) => self.entries.invalidate(key).await,
                Err(miss) if ran.load(Ordering::Acquire) => {
                    return match Arc::try_unwrap(miss) {
                        Ok(Miss::Absent) => Ok(None),
                        Ok(Miss::Failed(e)) => Err(e),
                        // Shared with joined callers: they load on their own (below), so ours
                        // is only "absent or failed"; load once more to get our own answer.
                        Err(_) => load().await,
                    };
                }
                Err(_) => return load().await,
            }
        }
        // Bumped again and again while loading: answer from a load of our own, uncached.
        load().await
    }

    /// Keeps `value` (say, an updated copy of a cached one) if its scope has not been bumped
    /// since `stamp`, read before the data behind `value` was read.
    pub async fn insert_if_current(&self, key: K, value: V, stamp: u64) {
        if self
            .generations
            .is_current((self.scope_of)(&value).as_ref(), stamp)
        {
            self.entries.insert(key, Stamped { stamp, value }).await;
            self.kept().await;
        }
    }

    /// After a value was kept: a weighed cache evicts down to its capacity now ([`CacheLimits`]).
    async fn kept(&self) {
        if self.weighed {
            self.entries.run_pending_tasks().await;
        }
    }

    /// Drops one entry (its scope's other entries stay).
    pub async fn forget(&self, key: &K) {
        self.entries.invalidate(key).await;
    }

    /// Drops every entry.
    pub fn forget_all(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::FutureExt;
    use futures::channel::oneshot;

    use super::*;

    type Cache = GenerationCache<&'static str, (u32, u64), u32>;

    fn cache() -> Cache {
        GenerationCache::new(
            Arc::new(Generations::new()),
            |v: &(u32, u64)| Some(v.0),
            CacheLimits {
                capacity: 100,
                ttl: Duration::from_secs(60),
                weigher: None,
            },
        )
    }

    #[tokio::test]
    async fn a_load_racing_a_bump_is_not_served_after_it() {
        let cache = Arc::new(cache());
        let version = Arc::new(AtomicU64::new(1));
        // A load that reads the data, then pauses mid-load until released.
        let (paused_tx, paused_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let gates = Arc::new(Mutex::new(Some((paused_tx, release_rx))));
        let slow = {
            let cache = cache.clone();
            let version = version.clone();
            let gates = gates.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load(&"k", || {
                        let read = version.load(Ordering::SeqCst);
                        let gate = gates.lock().unwrap().take();
                        async move {
                            if let Some((paused, release)) = gate {
                                let _ = paused.send(());
                                let _ = release.await;
                            }
                            Ok::<_, ()>(Some((7, read)))
                        }
                    })
                    .await
            })
        };
        paused_rx.await.unwrap();
        // The change commits while the load is paused, then bumps the scope.
        version.store(2, Ordering::SeqCst);
        cache.generations().bump(7);
        release_tx.send(()).unwrap();
        let _ = slow.await.unwrap();
        // A reader after the change never gets the value read before it.
        let got = cache
            .get_or_load(&"k", || {
                let read = version.load(Ordering::SeqCst);
                async move { Ok::<_, ()>(Some((7, read))) }
            })
            .await
            .unwrap();
        assert_eq!(got, Some((7, 2)));
        assert_eq!(cache.peek(&"k").await, Some((7, 2)));
        // Bumping another scope leaves it alone; bumping its own voids it.
        cache.generations().bump(8);
        assert_eq!(cache.peek(&"k").await, Some((7, 2)));
        cache.generations().bump(7);
        assert_eq!(cache.peek(&"k").await, None);
    }

    #[tokio::test]
    async fn a_reader_joining_a_flight_started_before_a_bump_loads_again() {
        let cache = Arc::new(cache());
        let version = Arc::new(AtomicU64::new(1));
        let loads = Arc::new(AtomicUsize::new(0));
        let (paused_tx, paused_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let gates = Arc::new(Mutex::new(Some((paused_tx, release_rx))));
        let load = {
            let version = version.clone();
            let loads = loads.clone();
            let gates = gates.clone();
            move || {
                loads.fetch_add(1, Ordering::SeqCst);
                let read = version.load(Ordering::SeqCst);
                let gate = gates.lock().unwrap().take();
                async move {
                    if let Some((paused, release)) = gate {
                        let _ = paused.send(());
                        let _ = release.await;
                    }
                    Ok::<_, ()>(Some((7, read)))
                }
            }
        };
        let first = {
            let cache = cache.clone();
            let load = load.clone();
            tokio::spawn(async move { cache.get_or_load(&"k", load).await })
        };
        paused_rx.await.unwrap();
        version.store(2, Ordering::SeqCst);
        cache.generations().bump(7);
        // Joins the paused flight (single flight), which was stamped before the bump.
        let second = {
            let cache = cache.clone();
            let load = load.clone();
            tokio::spawn(async move { cache.get_or_load(&"k", load).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        release_tx.send(()).unwrap();
        let _ = first.await.unwrap();
        assert_eq!(second.await.unwrap(), Ok(Some((7, 2))));
    }

    /// A weighed cache drops what it cannot hold as soon as a value is kept, by either path.
    #[tokio::test]
    async fn a_weighed_cache_never_holds_more_than_its_capacity() {
        static LIVE: AtomicUsize = AtomicUsize::new(0);
        struct Held;
        impl Drop for Held {
            fn drop(&mut self) {
                LIVE.fetch_sub(1, Ordering::SeqCst);
            }
        }
        fn held() -> Arc<Held> {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Arc::new(Held)
        }
        let cache: GenerationCache<u32, Arc<Held>, u32> = GenerationCache::new(
            Arc::new(Generations::new()),
            |_| None,
            CacheLimits {
                capacity: 1_000,
                ttl: Duration::from_secs(60),
                weigher: Some(|_| 100),
            },
        );
        for k in 0..200 {
            if k % 2 == 0 {
                let got = cache
                    .get_or_load(&k, || async { Ok::<_, ()>(Some(held())) })
                    .await;
                assert!(matches!(got, Ok(Some(_))));
                drop(got);
            } else {
                let stamp = cache.generations().stamp();
                cache.insert_if_current(k, held(), stamp).await;
            }
            // Ten fit; one more may be alive for a moment: the last value moka evicted or turned
            // away is dropped with its next write. Without eviction at once, more stay alive.
            let live = LIVE.load(Ordering::SeqCst);
            assert!(live <= 11, "{live} values of weight 100 held after key {k}");
        }
        assert!(
            LIVE.load(Ordering::SeqCst) > 0,
            "the cache still holds values"
        );
    }

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let cache = Arc::new(cache());
        let loads = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let release = release_rx.shared();
        let mut tasks = vec![];
        for _ in 0..8 {
            let cache = cache.clone();
            let loads = loads.clone();
            let release = release.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(&"k", || {
                        let loads = loads.clone();
                        let release = release.clone();
                        async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            let _ = release.await;
                            Ok::<_, ()>(Some((7, 1)))
                        }
                    })
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        release_tx.send(()).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(Some((7, 1))));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for eight misses");
    }

    #[tokio::test]
    async fn nothing_and_errors_are_not_cached() {
        let cache = cache();
        assert_eq!(
            cache
                .get_or_load(&"k", || async { Ok::<_, ()>(None) })
                .await,
            Ok(None)
        );
        assert_eq!(
            cache
                .get_or_load(&"k", || async { Err::<Option<(u32, u64)>, _>(()) })
                .await,
            Err(())
        );
        assert_eq!(cache.peek(&"k").await, None);
        cache.generations().bump_all();
        let stamp = cache.generations().stamp();
        cache.insert_if_current("k", (7, 1), stamp).await;
        assert_eq!(cache.peek(&"k").await, Some((7, 1)));
        cache.generations().bump(7);
        cache.insert_if_current("k", (7, 2), stamp).await;
        assert_eq!(cache.peek(&"k").await, None, "stamped before a bump");
    }
}
