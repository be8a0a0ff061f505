//! Rate-limit budgets: which requests draw from which budget, and whom a budget is counted for.
//!
//! Each budget is separate, so exhausting one never locks anyone out of another: a web page that
//! makes a visitor's browser fire device authorizations spends the office's *device start*
//! budget, not its *sign-in* budget; a CLI's refreshes are counted per token family, never per
//! address, so a hundred developers behind one NAT do not share them.
//!
//! The counting is a port ([`RateLimiter`]): `web` counts in memory (governor, GCRA, bounded and
//! pruned maps); several processes would count in the database behind the same trait.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use async_trait::async_trait;
use planpush_identity::{FamilyId, UserId};

/// A budget: what it covers and how much of it there is per 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Web sign-in (`/auth/login`, `/auth/callback`, dev sign-in), per client address.
    SignIn,
    /// `POST /api/auth/device` (starting a CLI login), per client address.
    DeviceStart,
    /// `POST /api/auth/device/token` polling, per client address.
    DevicePoll,
    /// `POST /api/auth/token` (refresh), per token family.
    Refresh,
    /// Signing out of the web (`POST /auth/logout`, same-origin requests only), per client address.
    SignOut,
    /// Approving or denying a device code on `/activate`, per signed-in user.
    Activate,
    /// Writing a comment or reply, per user.
    Comment,
    /// Resolving or reopening a thread, per user.
    CommentState,
    /// Rendering an older version or a diff that is not cached yet, per user.
    Render,
    /// SCIM provisioning requests, per bearer token (Okta and Entra sync in bursts).
    Scim,
}

impl Budget {
    /// Every budget.
    pub const ALL: [Budget; 10] = [
        Budget::SignIn,
        Budget::DeviceStart,
        Budget::DevicePoll,
        Budget::Refresh,
        Budget::SignOut,
        Budget::Activate,
        Budget::Comment,
        Budget::CommentState,
        Budget::Render,
        Budget::Scim,
    ];

    /// Requests allowed per 15 minutes (as a burst; the budget refills evenly over the window).
    pub const fn per_15_min(self) -> u32 {
        match self {
            Budget::SignIn => 30,
            // Generous: a login needs one; a page abusing a visitor's browser cannot reach sign-in.
            Budget::DeviceStart => 60,
            // A 15-minute login polling every 5 s is 180.
            Budget::DevicePoll => 300,
            // A CLI refreshes about once an hour per family.
            Budget::Refresh => 30,
            Budget::SignOut => 60,
            Budget::Activate => 30,
            Budget::Comment => 120,
            Budget::CommentState => 60,
            Budget::Render => 120,
            // A full sync of a large directory arrives as one burst.
            Budget::Scim => 18_000,
        }
    }

    /// The stable name (docs, logs).
    pub const fn name(self) -> &'static str {
        match self {
            Budget::SignIn => "sign_in",
            Budget::DeviceStart => "device_start",
            Budget::DevicePoll => "device_poll",
            Budget::Refresh => "refresh",
            Budget::SignOut => "sign_out",
            Budget::Activate => "activate",
            Budget::Comment => "comment",
            Budget::CommentState => "comment_state",
            Budget::Render => "render",
            Budget::Scim => "scim",
        }
    }
}

/// Whom a budget is counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// A client address: IPv4 as is, IPv6 by its /64 (one subscriber's network: rotating
    /// addresses inside it does not buy a fresh budget). Build with [`LimitKey::ip`].
    Network(IpAddr),
    User(UserId),
    Family(FamilyId),
    /// A bearer token, by a digest of it (SCIM).
    Token([u8; 16]),
}

impl LimitKey {
    /// The key of a client address (IPv4-mapped IPv6 counts as the IPv4 address).
    pub fn ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::Network(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::Network(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self::Network(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl From<IpAddr> for LimitKey {
    fn from(ip: IpAddr) -> Self {
        Self::ip(ip)
    }
}

/// Counts requests against budgets.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Draws one request from `key`'s `budget`. MUST return `Ok` while the budget lasts and
    /// `Err(wait)` (how long until one more request is allowed) once it is spent; MUST keep
    /// budgets and keys apart; MUST bound the memory it keeps whatever the number of keys.
    async fn check(&self, budget: Budget, key: LimitKey) -> Result<(), Duration>;
}

/// No limits (tools and tests that do not exercise them).
pub struct Unlimited;

#[async_trait]
impl RateLimiter for Unlimited {
    async fn check(&self, _: Budget, _: LimitKey) -> Result<(), Duration> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_as_ipv4() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            LimitKey::ip(ip("2001:db8:1:2:aaaa::1")),
            LimitKey::ip(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(
            LimitKey::ip(ip("2001:db8:1:2::1")),
            LimitKey::Network(ip("2001:db8:1:2::"))
        );
        assert_ne!(
            LimitKey::ip(ip("2001:db8:1:2::1")),
            LimitKey::ip(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            LimitKey::ip(ip("::ffff:203.0.113.7")),
            LimitKey::ip(ip("203.0.113.7"))
        );
        assert_ne!(
            LimitKey::ip(ip("203.0.113.7")),
            LimitKey::ip(ip("203.0.113.8"))
        );
    }
}
