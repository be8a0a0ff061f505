use std::fmt;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// An outbox message's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxMessageId(Uuid);

impl OutboxMessageId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for OutboxMessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OutboxMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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
    pub attempts: u32,
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
}

/// Exponential backoff: the delay before the next attempt after `attempts` failures
/// (5 s, 10 s, 20 s, … capped at one hour).
pub fn backoff_after(attempts: u32) -> Duration {
    let secs = 5i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(20));
    Duration::seconds(secs.min(3600))
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
}
