//! The transactional outbox: a notification is written in the same database transaction as the
//! event that causes it (a new version, a new or resolved comment) and delivered later, at least
//! once, by a background worker with exponential backoff.
//!
//! This crate holds only the data and the retry rule, so that the repository ports of the domain
//! crates (`VersionRepository::commit`, `CommentRepository::insert`/`update`) can take the messages
//! to write atomically. The queue port itself (`Outbox`) and the delivery worker live in `app`.
//!
//! Architecture invariant: pure data and rules; no I/O, no clock (time comes in as `now`).

use chrono::{DateTime, Duration, Utc};

#[cfg(feature = "fake")]
pub mod fake;

planpush_identity::uuid_id!(
    OutboxMessageId,
    "an outbox message (also the idempotency key sent with every delivery attempt)",
    "outbox message id"
);

/// After this many failed attempts a message is given up (and the give-up is audited).
pub const OUTBOX_MAX_ATTEMPTS: u32 = 8;

/// A notification waiting for delivery (at least once; receivers deduplicate by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: OutboxMessageId,
    /// Which notifier delivers it (`slack`).
    pub channel: String,
    /// The notifier's payload, JSON.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// Delivery attempts started so far (a claim counts as an attempt, so a message that crashes
    /// the worker is still given up after [`OUTBOX_MAX_ATTEMPTS`]).
    pub attempts: u32,
    /// When it is next due; while an attempt is in flight, the end of the claim's lease.
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub gave_up_at: Option<DateTime<Utc>>,
}

impl OutboxMessage {
    pub fn new(channel: &str, payload: String, now: DateTime<Utc>) -> Self {
        Self {
            id: OutboxMessageId::new(),
            channel: channel.to_owned(),
            payload,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            delivered_at: None,
            gave_up_at: None,
        }
    }

    /// Neither delivered nor given up, and due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.delivered_at.is_none() && self.gave_up_at.is_none() && self.next_attempt_at <= now
    }
}

/// Exponential backoff: the delay before the next attempt after `attempts` failures
/// (5 s, 10 s, 20 s, … capped at one hour).
pub fn backoff_after(attempts: u32) -> Duration {
    backoff_from(Duration::seconds(5), attempts)
}

/// Exponential backoff from `base`: `base`, `2·base`, `4·base`, … after 1, 2, 3, … failures,
/// capped at one hour (tests and operators may choose a shorter `base`).
pub fn backoff_from(base: Duration, attempts: u32) -> Duration {
    let factor = 1i32 << attempts.saturating_sub(1).min(20);
    let cap = Duration::hours(1);
    base.checked_mul(factor).map_or(cap, |d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let got: Vec<i64> = (1..=12).map(|n| backoff_after(n).num_seconds()).collect();
        assert_eq!(
            got,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff_after(u32::MAX).num_seconds(), 3600);
    }

    #[test]
    fn backoff_from_a_short_base() {
        let ms = |n| backoff_from(Duration::milliseconds(100), n).num_milliseconds();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [100, 200, 400, 800]);
        assert_eq!(ms(40), 3_600_000);
    }

    #[test]
    fn due_means_pending_and_time_reached() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let mut m = OutboxMessage::new("slack", "{}".into(), now);
        assert!(m.is_due(now));
        assert!(!m.is_due(now - Duration::seconds(1)));
        m.delivered_at = Some(now);
        assert!(!m.is_due(now));
    }
}
