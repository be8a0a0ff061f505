//! Rate limits (governor, GCRA): per client IP, authentication endpoints share one budget and
//! device-token polling has its own, higher one; per user, writing comments has one; per bearer
//! token, SCIM provisioning has a generous one.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, FakeRelativeClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Sign-in, callback, logout, device authorization, refresh, activation: 30 per 15 minutes.
    Auth,
    /// `POST /api/auth/device/token`: 300 per 15 minutes (a 15-minute login polling every 5 s is 180).
    DevicePoll,
    /// Writing a comment or reply, per user: 120 per 15 minutes.
    Comment,
    /// SCIM requests, per bearer token: 18,000 per 15 minutes (Okta and Entra sync in bursts).
    Scim,
}

/// Who a budget is counted for: a client address, or a signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Ip(IpAddr),
    User(u128),
    /// A bearer token, by a digest of it (SCIM).
    Token([u8; 16]),
}

impl From<IpAddr> for Key {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

type FakeLimiter = RateLimiter<
    Key,
    governor::state::keyed::DefaultKeyedStateStore<Key>,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

enum Limiters {
    Real {
        auth: DefaultKeyedRateLimiter<Key>,
        poll: DefaultKeyedRateLimiter<Key>,
        comment: DefaultKeyedRateLimiter<Key>,
        scim: DefaultKeyedRateLimiter<Key>,
        clock: DefaultClock,
    },
    Fake {
        auth: FakeLimiter,
        poll: FakeLimiter,
        comment: FakeLimiter,
        scim: FakeLimiter,
        clock: FakeRelativeClock,
    },
}

/// The rate limiters of one server process.
pub struct RateLimits {
    limiters: Limiters,
}

fn quota(per_15_min: u32) -> Quota {
    let n = NonZeroU32::new(per_15_min).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_secs(900) / n.get())
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

/// The standard budgets.
pub const AUTH_PER_15_MIN: u32 = 30;
pub const POLL_PER_15_MIN: u32 = 300;
pub const COMMENTS_PER_15_MIN: u32 = 120;
pub const SCIM_PER_15_MIN: u32 = 18_000;

impl RateLimits {
    pub fn new() -> Self {
        let clock = DefaultClock::default();
        Self {
            limiters: Limiters::Real {
                auth: RateLimiter::keyed(quota(AUTH_PER_15_MIN)),
                poll: RateLimiter::keyed(quota(POLL_PER_15_MIN)),
                comment: RateLimiter::keyed(quota(COMMENTS_PER_15_MIN)),
                scim: RateLimiter::keyed(quota(SCIM_PER_15_MIN)),
                clock,
            },
        }
    }

    /// Limiters on a clock the caller moves (tests).
    pub fn with_fake_clock(clock: FakeRelativeClock) -> Self {
        Self {
            limiters: Limiters::Fake {
                auth: RateLimiter::dashmap_with_clock(quota(AUTH_PER_15_MIN), clock.clone()),
                poll: RateLimiter::dashmap_with_clock(quota(POLL_PER_15_MIN), clock.clone()),
                comment: RateLimiter::dashmap_with_clock(quota(COMMENTS_PER_15_MIN), clock.clone()),
                scim: RateLimiter::dashmap_with_clock(quota(SCIM_PER_15_MIN), clock.clone()),
                clock,
            },
        }
    }

    /// `Ok` if the client may proceed, else how long until it may retry.
    pub fn check(&self, budget: Budget, key: impl Into<Key>) -> Result<(), Duration> {
        let key = key.into();
        match &self.limiters {
            Limiters::Real {
                auth,
                poll,
                comment,
                scim,
                clock,
            } => {
                let l = match budget {
                    Budget::Auth => auth,
                    Budget::DevicePoll => poll,
                    Budget::Comment => comment,
                    Budget::Scim => scim,
                };
                l.check_key(&key).map_err(|n| n.wait_time_from(clock.now()))
            }
            Limiters::Fake {
                auth,
                poll,
                comment,
                scim,
                clock,
            } => {
                let l = match budget {
                    Budget::Auth => auth,
                    Budget::DevicePoll => poll,
                    Budget::Comment => comment,
                    Budget::Scim => scim,
                };
                l.check_key(&key).map_err(|n| n.wait_time_from(clock.now()))
            }
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_then_429_then_reset() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_fake_clock(clock.clone());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..AUTH_PER_15_MIN {
            assert!(limits.check(Budget::Auth, ip).is_ok(), "request {i}");
        }
        let wait = limits.check(Budget::Auth, ip).unwrap_err();
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        assert!(
            limits
                .check(Budget::Auth, "203.0.113.8".parse::<IpAddr>().unwrap())
                .is_ok(),
            "per client"
        );
        assert!(
            limits.check(Budget::DevicePoll, ip).is_ok(),
            "separate budget"
        );
        clock.advance(Duration::from_secs(900));
        for _ in 0..AUTH_PER_15_MIN {
            assert!(
                limits.check(Budget::Auth, ip).is_ok(),
                "reset after the window"
            );
        }
    }

    #[test]
    fn scim_has_a_generous_budget_per_token() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_fake_clock(clock.clone());
        let token = Key::Token([1; 16]);
        // A full Okta or Entra sync arrives as one burst: 18,000 requests pass at once.
        for i in 0..SCIM_PER_15_MIN {
            assert!(limits.check(Budget::Scim, token).is_ok(), "request {i}");
        }
        let wait = limits.check(Budget::Scim, token).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            limits.check(Budget::Scim, Key::Token([2; 16])).is_ok(),
            "per token"
        );
        assert!(
            limits
                .check(Budget::Auth, "203.0.113.9".parse::<IpAddr>().unwrap())
                .is_ok(),
            "separate from the sign-in budget"
        );
        clock.advance(Duration::from_secs(60));
        assert!(
            limits.check(Budget::Scim, token).is_ok(),
            "refills at 20 per second"
        );
    }
}
