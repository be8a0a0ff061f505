use chrono::{DateTime, Duration, Utc};
use planpush_versions::RetentionPolicy;

use crate::Ports;

/// Delivered and given-up notifications are kept this long (for operators), then deleted.
pub const OUTBOX_KEEP_DAYS: i64 = 30;

/// Periodic clean-up of expired rows: web sessions, device grants, tokens, cache entries and
/// readers' presence, and
/// the content of version snapshots past `VERSION_RETENTION_DAYS` (never a plan's current version;
/// the metadata stays so history says "expired"); and outbox messages delivered or given up more
/// than [`OUTBOX_KEEP_DAYS`] ago.
#[derive(Clone)]
pub struct Maintenance {
    ports: Ports,
    retention: RetentionPolicy,
}

/// How many rows one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub device_grants: u64,
    pub tokens: u64,
    pub cache_entries: u64,
    pub version_snapshots: u64,
    pub notifications: u64,
}

impl Maintenance {
    pub fn new(ports: Ports, retention: RetentionPolicy) -> Self {
        Self { ports, retention }
    }

    /// Deletes what expired before `now`. Expired tokens are kept a day longer, so a client that
    /// presents one gets "expired" rather than "unknown".
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<Swept> {
        Ok(Swept {
            sessions: self.ports.web_sessions.delete_expired(now).await?,
            device_grants: self
                .ports
                .device_grants
                .delete_expired(now - Duration::hours(1))
                .await?,
            tokens: self
                .ports
                .tokens
                .delete_expired(now - Duration::days(1))
                .await?,
            // Expired presence rows (readers whose process died) count as cache entries.
            cache_entries: self.ports.kv.purge_expired(now).await?
                + self.ports.presence.purge_expired(now).await?,
            version_snapshots: self
                .ports
                .versions
                .purge_before(self.retention.cutoff(now), now)
                .await?,
            notifications: self
                .ports
                .outbox
                .purge_finished(now - Duration::days(OUTBOX_KEEP_DAYS))
                .await?,
        })
    }
}
