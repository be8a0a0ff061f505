//! The in-memory rate limiter of one server process: `planpush_app::RateLimiter` over governor
//! (GCRA), one keyed limiter per [`Budget`] (see `planpush_app::Budget` for what each covers and
//! how large it is).
//!
//! Memory is bounded: every [`PRUNE_EVERY`] checks, keys whose budget has refilled are dropped
//! (they are indistinguishable from new ones), and a limiter still holding more than its bound
//! of keys after that (a flood from very many addresses) starts over empty. Keys are IPv4
//! addresses, IPv6 /64 networks, users or token families (`planpush_app::LimitKey`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};
pub use planpush_app::{Budget, LimitKey};

/// How many checks pass between two prunings of the maps.
pub const PRUNE_EVERY: u64 = 4096;
/// The most keys one budget keeps by default.
pub const MAX_KEYS: usize = 100_000;

/// The standard budgets (per 15 minutes), kept for callers that name them.
pub const AUTH_PER_15_MIN: u32 = Budget::SignIn.per_15_min();
pub const POLL_PER_15_MIN: u32 = Budget::DevicePoll.per_15_min();
pub const COMMENTS_PER_15_MIN: u32 = Budget::Comment.per_15_min();

type Limiter<C> =
    Gcra<LimitKey, DashMapStateStore<LimitKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

fn quota(per_15_min: u32) -> Quota {
    let n = NonZeroU32::new(per_15_min).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_secs(900) / n.get())
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

/// One limiter per budget on one clock.
struct Set<C: Clock> {
    clock: C,
    limiters: Vec<(Budget, RwLock<Arc<Limiter<C>>>)>,
}

impl<C: Clock + Clone> Set<C> {
    fn new(clock: C) -> Self {
        let limiters = Budget::ALL
            .iter()
            .map(|b| (*b, RwLock::new(Arc::new(Self::limiter(*b, &clock)))))
            .collect();
        Self { clock, limiters }
    }

    fn limiter(budget: Budget, clock: &C) -> Limiter<C> {
        Gcra::dashmap_with_clock(quota(budget.per_15_min()), clock.clone())
    }

    fn get(&self, budget: Budget) -> Option<Arc<Limiter<C>>> {
        self.limiters
            .iter()
            .find(|(b, _)| *b == budget)
            .map(|(_, l)| {
                l.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
    }

    fn check(&self, budget: Budget, key: &LimitKey) -> Result<(), Duration> {
        let Some(l) = self.get(budget) else {
            return Ok(());
        };
        l.check_key(key)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    fn prune(&self, max_keys: usize) {
        for (budget, slot) in &self.limiters {
            let mut l = slot
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            l.retain_recent();
            l.shrink_to_fit();
            if l.len() > max_keys {
                tracing::warn!(
                    budget = budget.name(),
                    keys = l.len(),
                    "rate limiter over its bound after pruning; starting over"
                );
                *l = Arc::new(Self::limiter(*budget, &self.clock));
            }
        }
    }

    fn keys(&self, budget: Budget) -> usize {
        self.get(budget).map_or(0, |l| l.len())
    }
}

enum Limiters {
    Real(Set<DefaultClock>),
    Fake(Set<FakeRelativeClock>),
}

/// The rate limiters of one server process.
pub struct RateLimits {
    limiters: Limiters,
    max_keys: usize,
    checks: AtomicU64,
}

impl RateLimits {
    pub fn new() -> Self {
        Self {
            limiters: Limiters::Real(Set::new(DefaultClock::default())),
            max_keys: MAX_KEYS,
            checks: AtomicU64::new(0),
        }
    }

    /// Limiters on a clock the caller moves (tests).
    pub fn with_fake_clock(clock: FakeRelativeClock) -> Self {
        Self {
            limiters: Limiters::Fake(Set::new(clock)),
            max_keys: MAX_KEYS,
            checks: AtomicU64::new(0),
        }
    }

    /// The same limiters keeping at most `max_keys` keys per budget.
    pub fn bounded(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// `Ok` if the client may proceed, else how long until it may retry.
    pub fn check_now(&self, budget: Budget, key: impl Into<LimitKey>) -> Result<(), Duration> {
        let key = key.into();
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        match &self.limiters {
            Limiters::Real(s) => s.check(budget, &key),
            Limiters::Fake(s) => s.check(budget, &key),
        }
    }

    /// Drops keys whose budget has refilled; starts a limiter over if still over its bound.
    pub fn prune(&self) {
        match &self.limiters {
            Limiters::Real(s) => s.prune(self.max_keys),
            Limiters::Fake(s) => s.prune(self.max_keys),
        }
    }

    /// How many keys `budget` holds now.
    pub fn keys(&self, budget: Budget) -> usize {
        match &self.limiters {
            Limiters::Real(s) => s.keys(budget),
            Limiters::Fake(s) => s.keys(budget),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl planpush_app::RateLimiter for RateLimits {
    async fn check(&self, budget: Budget, key: LimitKey) -> Result<(), Duration> {
        self.check_now(budget, key)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn budget_then_429_then_reset() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_fake_clock(clock.clone());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..AUTH_PER_15_MIN {
            assert!(limits.check_now(Budget::SignIn, ip).is_ok(), "request {i}");
        }
        let wait = limits.check_now(Budget::SignIn, ip).unwrap_err();
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        assert!(
            limits
                .check_now(Budget::SignIn, "203.0.113.8".parse::<IpAddr>().unwrap())
                .is_ok(),
            "per client"
        );
        clock.advance(Duration::from_secs(900));
        for _ in 0..AUTH_PER_15_MIN {
            assert!(
                limits.check_now(Budget::SignIn, ip).is_ok(),
                "reset after the window"
            );
        }
    }

    #[test]
    fn budgets_are_separate() {
        let limits = RateLimits::with_fake_clock(FakeRelativeClock::default());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        // A page that spends a visitor's device-start budget…
        while limits.check_now(Budget::DeviceStart, ip).is_ok() {}
        // …leaves sign-in, polling, sign-out and every other budget alone.
        for b in Budget::ALL
            .into_iter()
            .filter(|b| *b != Budget::DeviceStart)
        {
            assert!(limits.check_now(b, ip).is_ok(), "{b:?}");
        }
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let limits = RateLimits::with_fake_clock(FakeRelativeClock::default());
        for i in 0..Budget::SignIn.per_15_min() {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            assert!(limits.check_now(Budget::SignIn, ip).is_ok(), "request {i}");
        }
        let rotated: IpAddr = "2001:db8:1:2:dead:beef:0:1".parse().unwrap();
        assert!(
            limits.check_now(Budget::SignIn, rotated).is_err(),
            "rotating inside the /64 buys no fresh budget"
        );
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limits.check_now(Budget::SignIn, next).is_ok());
    }

    #[test]
    fn maps_are_pruned_and_bounded() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_fake_clock(clock.clone()).bounded(100);
        for i in 0..50u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            limits.check_now(Budget::SignIn, ip).unwrap();
        }
        assert_eq!(limits.keys(Budget::SignIn), 50);
        // Budgets that refilled are forgotten.
        clock.advance(Duration::from_secs(900));
        limits.prune();
        assert_eq!(limits.keys(Budget::SignIn), 0);
        // A flood from more addresses than the bound never keeps more than the bound for long:
        // pruning runs every PRUNE_EVERY checks.
        for i in 0..(2 * PRUNE_EVERY as u32) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            let _ = limits.check_now(Budget::SignIn, ip);
            assert!(
                limits.keys(Budget::SignIn) <= 100 + PRUNE_EVERY as usize,
                "bounded at check {i}"
            );
        }
    }

    #[test]
    fn scim_has_a_generous_budget_per_token() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_fake_clock(clock.clone());
        let token = LimitKey::Token([1; 16]);
        // A full Okta or Entra sync arrives as one burst: 18,000 requests pass at once.
        for i in 0..Budget::Scim.per_15_min() {
            assert!(limits.check_now(Budget::Scim, token).is_ok(), "request {i}");
        }
        let wait = limits.check_now(Budget::Scim, token).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            limits
                .check_now(Budget::Scim, LimitKey::Token([2; 16]))
                .is_ok(),
            "per token"
        );
        clock.advance(Duration::from_secs(60));
        assert!(
            limits.check_now(Budget::Scim, token).is_ok(),
            "refills at 20 per second"
        );
    }
}
