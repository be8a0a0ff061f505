//! Per-client-IP rate limits (governor, GCRA): authentication endpoints share one budget, device-token
//! polling has its own, higher one.

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
}

type FakeLimiter = RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

enum Limiters {
    Real {
        auth: DefaultKeyedRateLimiter<IpAddr>,
        poll: DefaultKeyedRateLimiter<IpAddr>,
        clock: DefaultClock,
    },
    Fake {
        auth: FakeLimiter,
        poll: FakeLimiter,
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

impl RateLimits {
    pub fn new() -> Self {
        let clock = DefaultClock::default();
        Self {
            limiters: Limiters::Real {
                auth: RateLimiter::keyed(quota(AUTH_PER_15_MIN)),
                poll: RateLimiter::keyed(quota(POLL_PER_15_MIN)),
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
                clock,
            },
        }
    }

    /// `Ok` if the client may proceed, else how long until it may retry.
    pub fn check(&self, budget: Budget, ip: IpAddr) -> Result<(), Duration> {
        match &self.limiters {
            Limiters::Real { auth, poll, clock } => {
                let l = if budget == Budget::Auth { auth } else { poll };
                l.check_key(&ip).map_err(|n| n.wait_time_from(clock.now()))
            }
            Limiters::Fake { auth, poll, clock } => {
                let l = if budget == Budget::Auth { auth } else { poll };
                l.check_key(&ip).map_err(|n| n.wait_time_from(clock.now()))
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
                .check(Budget::Auth, "203.0.113.8".parse().unwrap())
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
}
