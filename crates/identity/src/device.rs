use std::fmt;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{InvalidInput, SecretKind, TokenHash, TokenSecret, UserId};

/// RFC 8628 §3.2 `expires_in`: a device code lives 15 minutes.
pub const DEVICE_CODE_TTL: Duration = Duration::minutes(15);
/// RFC 8628 §3.2 `interval`: the minimum seconds between polls (raised by 5 on every `slow_down`).
pub const DEVICE_POLL_INTERVAL: u32 = 5;

crate::uuid_id!(DeviceGrantId, "a device grant");

/// The code a person types on `/activate`, like `WDJB-MJHT`.
///
/// Eight characters from the 20 consonants RFC 8628 §6.1 suggests (no vowels, so no words; no
/// look-alikes such as 0/O or 1/I). Input is case-insensitive and the dash is optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    pub const ALPHABET: &'static [u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let chars: String = (0..8)
            .map(|_| char::from(Self::ALPHABET[rng.random_range(0..Self::ALPHABET.len())]))
            .collect();
        Self(format!("{}-{}", &chars[..4], &chars[4..]))
    }

    pub fn parse(input: &str) -> Result<Self, InvalidInput> {
        let chars: String = input
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if chars.len() != 8 || !chars.bytes().all(|b| Self::ALPHABET.contains(&b)) {
            return Err(InvalidInput::new(
                "user code",
                "expected 8 letters like WDJB-MJHT",
            ));
        }
        Ok(Self(format!("{}-{}", &chars[..4], &chars[4..])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a device grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceStatus {
    Pending,
    Approved {
        user_id: UserId,
        at: DateTime<Utc>,
    },
    Denied {
        at: DateTime<Utc>,
    },
    /// The approved grant has been exchanged for tokens; it cannot be exchanged again.
    Consumed {
        at: DateTime<Utc>,
    },
}

/// The answer to one poll of `POST /api/auth/device/token` (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    AuthorizationPending,
    /// Polled faster than the interval; the interval is now `interval` seconds.
    SlowDown {
        interval: u32,
    },
    ExpiredToken,
    AccessDenied,
    /// Approved: issue tokens for this user and mark the grant consumed.
    Approved(UserId),
}

/// An RFC 8628 device authorization. The device code is a secret held by the CLI; only its hash is
/// stored. The user code is what a person types.
///
/// Its fields are private: a grant is started ([`DeviceGrant::start`]), changed only by
/// [`DeviceGrant::poll`], [`DeviceGrant::approve`] and [`DeviceGrant::deny`], and read back from
/// storage through [`DeviceGrant::restore`], which checks what a stored row must satisfy. So a
/// caller cannot, for instance, consume a grant that was never approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    id: DeviceGrantId,
    device_code_hash: TokenHash,
    user_code: UserCode,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    interval_secs: u32,
    last_polled_at: Option<DateTime<Utc>>,
    status: DeviceStatus,
}

/// A device grant's stored columns: what storage adapters write and read back. Turned into a
/// [`DeviceGrant`] only by [`DeviceGrant::restore`], which refuses inconsistent values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrantRecord {
    pub id: DeviceGrantId,
    pub device_code_hash: TokenHash,
    pub user_code: UserCode,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub interval_secs: u32,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub status: DeviceStatus,
}

/// Why approving or denying a grant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceDecisionError {
    #[error("this code has expired; start the login again")]
    Expired,
    #[error("this code has already been used")]
    AlreadyDecided,
}

impl DeviceGrant {
    /// A new pending grant with a freshly drawn user code, and the device code (shown once).
    pub fn start(now: DateTime<Utc>) -> (Self, TokenSecret) {
        Self::start_with_code(UserCode::generate(), now)
    }

    /// A new pending grant under a given user code (drawing codes is the caller's business, e.g.
    /// to retry after a clash).
    pub fn start_with_code(user_code: UserCode, now: DateTime<Utc>) -> (Self, TokenSecret) {
        let secret = TokenSecret::generate(SecretKind::DeviceCode);
        let grant = Self {
            id: DeviceGrantId::new(),
            device_code_hash: secret.hash(),
            user_code,
            created_at: now,
            expires_at: now + DEVICE_CODE_TTL,
            interval_secs: DEVICE_POLL_INTERVAL,
            last_polled_at: None,
            status: DeviceStatus::Pending,
        };
        (grant, secret)
    }

    /// A grant read back from storage. Refuses a record no sequence of operations could have
    /// produced: expiry not after creation, an interval below the minimum or off its 5-second
    /// steps, a poll or a decision before creation.
    pub fn restore(r: DeviceGrantRecord) -> Result<Self, InvalidInput> {
        let bad = |why: &str| Err(InvalidInput::new("device grant", why));
        if r.expires_at <= r.created_at {
            return bad("expires before it was created");
        }
        if r.interval_secs < DEVICE_POLL_INTERVAL
            || !(r.interval_secs - DEVICE_POLL_INTERVAL).is_multiple_of(5)
        {
            return bad("poll interval out of range");
        }
        if r.last_polled_at.is_some_and(|t| t < r.created_at) {
            return bad("polled before it was created");
        }
        let decided = match r.status {
            DeviceStatus::Pending => None,
            DeviceStatus::Approved { at, .. }
            | DeviceStatus::Denied { at }
            | DeviceStatus::Consumed { at } => Some(at),
        };
        if decided.is_some_and(|t| t < r.created_at) {
            return bad("decided before it was created");
        }
        Ok(Self {
            id: r.id,
            device_code_hash: r.device_code_hash,
            user_code: r.user_code,
            created_at: r.created_at,
            expires_at: r.expires_at,
            interval_secs: r.interval_secs,
            last_polled_at: r.last_polled_at,
            status: r.status,
        })
    }

    /// The stored columns (for storage adapters, and tests that rewrite a stored grant).
    pub fn to_record(&self) -> DeviceGrantRecord {
        DeviceGrantRecord {
            id: self.id,
            device_code_hash: self.device_code_hash,
            user_code: self.user_code.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            interval_secs: self.interval_secs,
            last_polled_at: self.last_polled_at,
            status: self.status,
        }
    }

    pub fn id(&self) -> DeviceGrantId {
        self.id
    }
    pub fn device_code_hash(&self) -> &TokenHash {
        &self.device_code_hash
    }
    pub fn user_code(&self) -> &UserCode {
        &self.user_code
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    /// Seconds the client must wait between polls.
    pub fn interval_secs(&self) -> u32 {
        self.interval_secs
    }
    pub fn last_polled_at(&self) -> Option<DateTime<Utc>> {
        self.last_polled_at
    }
    pub fn status(&self) -> DeviceStatus {
        self.status
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// Applies one poll at `now` and says what to answer. Polling too fast raises the interval by
    /// five seconds (RFC 8628 §3.5); the poll time is recorded either way. A poll that answers
    /// `Approved` consumes the grant: it can be exchanged for tokens once (storage makes that
    /// a compare-and-set, so two racing polls cannot both win).
    pub fn poll(&mut self, now: DateTime<Utc>) -> PollOutcome {
        let too_fast = self
            .last_polled_at
            .is_some_and(|last| now < last + Duration::seconds(i64::from(self.interval_secs)));
        self.last_polled_at = Some(now);
        match self.status {
            DeviceStatus::Denied { .. } => PollOutcome::AccessDenied,
            // A consumed grant must not mint a second set of tokens: to the client it is gone.
            DeviceStatus::Consumed { .. } => PollOutcome::ExpiredToken,
            _ if self.is_expired(now) => PollOutcome::ExpiredToken,
            _ if too_fast => {
                self.interval_secs += 5;
                PollOutcome::SlowDown {
                    interval: self.interval_secs,
                }
            }
            DeviceStatus::Pending => PollOutcome::AuthorizationPending,
            DeviceStatus::Approved { user_id, .. } => {
                self.status = DeviceStatus::Consumed { at: now };
                PollOutcome::Approved(user_id)
            }
        }
    }

    pub fn approve(
        &mut self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), DeviceDecisionError> {
        self.decide(now, DeviceStatus::Approved { user_id, at: now })
    }

    pub fn deny(&mut self, now: DateTime<Utc>) -> Result<(), DeviceDecisionError> {
        self.decide(now, DeviceStatus::Denied { at: now })
    }

    fn decide(&mut self, now: DateTime<Utc>, to: DeviceStatus) -> Result<(), DeviceDecisionError> {
        if self.status != DeviceStatus::Pending {
            return Err(DeviceDecisionError::AlreadyDecided);
        }
        if self.is_expired(now) {
            return Err(DeviceDecisionError::Expired);
        }
        self.status = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }
    fn s(n: i64) -> DateTime<Utc> {
        t0() + Duration::seconds(n)
    }

    #[test]
    fn user_codes_use_the_safe_alphabet() {
        for _ in 0..200 {
            let c = UserCode::generate();
            assert_eq!(c.as_str().len(), 9);
            assert_eq!(&c.as_str()[4..5], "-");
            assert!(
                c.as_str()
                    .bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| UserCode::ALPHABET.contains(&b))
            );
            assert_eq!(
                UserCode::parse(&c.as_str().to_lowercase().replace('-', "")),
                Ok(c)
            );
        }
        for bad in [
            "",
            "WDJB-MJH",
            "WDJB-MJHTX",
            "WDJB-MJH0",
            "AEIO-UUUU",
            "WDJB_MJHT",
        ] {
            assert!(UserCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            UserCode::parse(" wdjb mjht ").map(|c| c.to_string()),
            Ok("WDJB-MJHT".into())
        );
    }

    #[test]
    fn polling_follows_rfc_8628() {
        let (mut g, secret) = DeviceGrant::start(t0());
        assert_eq!(g.device_code_hash, secret.hash());
        assert_eq!(g.poll(s(0)), PollOutcome::AuthorizationPending);
        assert_eq!(g.poll(s(2)), PollOutcome::SlowDown { interval: 10 });
        assert_eq!(g.poll(s(12)), PollOutcome::AuthorizationPending);
        assert_eq!(g.poll(s(21)), PollOutcome::SlowDown { interval: 15 });
        let u = UserId::new();
        g.approve(u, s(30)).unwrap();
        assert_eq!(g.poll(s(40)), PollOutcome::Approved(u));
        assert_eq!(g.status(), DeviceStatus::Consumed { at: s(40) });
        assert_eq!(g.poll(s(60)), PollOutcome::ExpiredToken, "exchanged once");
        assert_eq!(
            g.approve(u, s(61)),
            Err(DeviceDecisionError::AlreadyDecided)
        );
    }

    #[test]
    fn outcomes_by_status_and_time() {
        let u = UserId::new();
        let after = DEVICE_CODE_TTL.num_seconds();
        let cases: [(DeviceStatus, i64, PollOutcome); 6] = [
            (DeviceStatus::Pending, 10, PollOutcome::AuthorizationPending),
            (DeviceStatus::Pending, after, PollOutcome::ExpiredToken),
            (
                DeviceStatus::Denied { at: s(1) },
                10,
                PollOutcome::AccessDenied,
            ),
            (
                DeviceStatus::Approved {
                    user_id: u,
                    at: s(1),
                },
                10,
                PollOutcome::Approved(u),
            ),
            (
                DeviceStatus::Approved {
                    user_id: u,
                    at: s(1),
                },
                after,
                PollOutcome::ExpiredToken,
            ),
            (
                DeviceStatus::Consumed { at: s(1) },
                10,
                PollOutcome::ExpiredToken,
            ),
        ];
        for (i, (status, at, want)) in cases.into_iter().enumerate() {
            let (mut g, _) = DeviceGrant::start(t0());
            g.status = status;
            assert_eq!(g.poll(s(at)), want, "case {i}");
        }
    }

    #[test]
    fn restore_refuses_impossible_records() {
        let (g, _) = DeviceGrant::start(t0());
        assert_eq!(DeviceGrant::restore(g.to_record()), Ok(g.clone()));
        let mutations: [fn(&mut DeviceGrantRecord); 5] = [
            |r| r.expires_at = r.created_at,
            |r| r.interval_secs = 1,
            |r| r.interval_secs = DEVICE_POLL_INTERVAL + 3,
            |r| r.last_polled_at = Some(r.created_at - Duration::seconds(1)),
            |r| {
                r.status = DeviceStatus::Denied {
                    at: r.created_at - Duration::seconds(1),
                }
            },
        ];
        for (i, m) in mutations.into_iter().enumerate() {
            let mut r = g.to_record();
            m(&mut r);
            assert!(DeviceGrant::restore(r).is_err(), "mutation {i}");
        }
    }

    #[test]
    fn cannot_decide_expired_grants() {
        let (mut g, _) = DeviceGrant::start(t0());
        assert_eq!(
            g.deny(t0() + DEVICE_CODE_TTL),
            Err(DeviceDecisionError::Expired)
        );
        g.deny(s(1)).unwrap();
        assert_eq!(g.poll(s(10)), PollOutcome::AccessDenied);
    }
}
