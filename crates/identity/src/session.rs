use chrono::{DateTime, Duration, Utc};

use crate::{TokenHash, UserId};

/// Idle and absolute lifetimes of browser sessions (`SESSION_IDLE_TIMEOUT`, `SESSION_MAX_AGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub max_age: Duration,
}

impl Default for SessionPolicy {
    /// The original's defaults: 8 hours idle, 7 days absolute.
    fn default() -> Self {
        Self {
            idle_timeout: Duration::hours(8),
            max_age: Duration::days(7),
        }
    }
}

impl SessionPolicy {
    /// When a session created at `created_at` and last seen at `last_seen_at` stops being valid:
    /// the earlier of the rolling idle deadline and the absolute one.
    pub fn expires_at(
        &self,
        created_at: DateTime<Utc>,
        last_seen_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (last_seen_at + self.idle_timeout).min(created_at + self.max_age)
    }
}

/// A server-side browser session. The cookie holds a random key; the row holds only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub key_hash: TokenHash,
    /// Set once the browser has signed in; "sign out everywhere" deletes by this column.
    pub user_id: Option<UserId>,
    /// The session state (a JSON object of string values, as actix-session keeps it).
    pub data: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Precomputed [`SessionPolicy::expires_at`], so expired rows can be swept with an index.
    pub expires_at: DateTime<Utc>,
}

impl WebSession {
    pub fn new(
        key_hash: TokenHash,
        user_id: Option<UserId>,
        data: String,
        policy: &SessionPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            key_hash,
            user_id,
            data,
            created_at: now,
            last_seen_at: now,
            expires_at: policy.expires_at(now, now),
        }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    /// Records activity: the idle window rolls forward, the absolute deadline does not move.
    pub fn touch(&mut self, policy: &SessionPolicy, now: DateTime<Utc>) {
        self.last_seen_at = now;
        self.expires_at = policy.expires_at(self.created_at, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenHash;

    #[test]
    fn idle_rolls_and_absolute_caps() {
        let policy = SessionPolicy {
            idle_timeout: Duration::hours(1),
            max_age: Duration::hours(3),
        };
        let t0 = DateTime::UNIX_EPOCH;
        let h = |n| t0 + Duration::minutes(n);
        let mut s = WebSession::new(TokenHash::of(b"k"), None, "{}".into(), &policy, t0);
        assert!(s.is_live(h(59)));
        assert!(!s.is_live(h(60)), "idle timeout");
        s.touch(&policy, h(50));
        assert!(s.is_live(h(109)));
        s.touch(&policy, h(100));
        s.touch(&policy, h(150));
        assert!(s.is_live(h(179)));
        assert!(
            !s.is_live(h(180)),
            "absolute max age, whatever the activity"
        );
        s.touch(&policy, h(179));
        assert_eq!(s.expires_at, h(180));
    }
}
