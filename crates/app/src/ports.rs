use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_audit::{AuditQuery, AuditSink};
use planpush_comments::CommentRepository;
use planpush_identity::{
    DeviceGrantRepository, TokenRepository, UserRepository, WebSessionRepository,
};
use planpush_plans::{PlanRepository, PlanViewRepository};
use planpush_roles::RoleRepository;
use planpush_versions::VersionRepository;

use crate::{OutboxMessage, OutboxMessageId};

/// Errors of the infrastructure ports of this crate.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// The database-backed key/value cache (rendered diagrams by source hash, rate-limit windows, …).
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value, unless absent or expired at `now`.
    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, InfraError>;
    /// Inserts or replaces; `expires_at: None` keeps it until deleted.
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), InfraError>;
    /// Idempotent.
    async fn delete(&self, key: &str) -> Result<(), InfraError>;
    /// Deletes entries expired at `now`; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, InfraError>;
}

/// Durable notification queue. Messages caused by a write are normally written by that write's
/// repository in the same transaction (`VersionRepository::commit`, `CommentRepository::insert` /
/// `update`); `enqueue` is for messages that stand alone.
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<(), InfraError>;
    /// Messages neither delivered nor given up whose `next_attempt_at` is at or before `now`,
    /// oldest first, at most `limit` (read only).
    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxMessage>, InfraError>;
    /// Claims up to `limit` due messages (as [`Outbox::due`] would list them) for one delivery
    /// attempt each: atomically, every claimed message gets `attempts + 1` and `next_attempt_at =
    /// lease_until`, and is returned in that new state, oldest first. A message MUST NOT be
    /// returned by two claims while the first one's lease runs, even from two processes; when a
    /// worker dies mid-attempt the message is due again once its lease ends.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, InfraError>;
    /// Records a successful delivery. MUST return `NotFound` for an unknown id.
    async fn mark_delivered(
        &self,
        id: OutboxMessageId,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError>;
    /// Records why the claimed attempt failed and when to try again (the attempt itself was
    /// counted by the claim). MUST return `NotFound` for an unknown id.
    async fn mark_failed(
        &self,
        id: OutboxMessageId,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), InfraError>;
    /// Atomically marks `id` delivered at `now` and writes `messages` (a fan-out: one event becomes
    /// one message per receiver). MUST write nothing and return `Ok(false)` when `id` is already
    /// delivered or given up (another worker did it), so each message is written exactly once;
    /// `Ok(true)` when written. MUST return `NotFound` for an unknown id.
    async fn fan_out(
        &self,
        id: OutboxMessageId,
        messages: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<bool, InfraError>;
    /// Atomically makes `payload` the payload of `id` and marks every message of `absorbed` delivered
    /// at `now` — each only if it is still pending, never attempted, and due exactly at the time
    /// given with it (so no worker has claimed it). When any of them is not, nothing changes and
    /// the answer is `Ok(false)`. MUST return `NotFound` for an unknown `id`.
    async fn absorb(
        &self,
        id: OutboxMessageId,
        payload: &str,
        absorbed: &[(OutboxMessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<bool, InfraError>;
    /// The newest `limit` messages of `channel` (any state), newest first (a delivery log).
    async fn recent(&self, channel: &str, limit: u32) -> Result<Vec<OutboxMessage>, InfraError>;
    /// Deletes messages delivered or given up before `before` (pending ones are never deleted);
    /// returns how many.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, InfraError>;
    /// Stops retrying. MUST return `NotFound` for an unknown id.
    async fn give_up(
        &self,
        id: OutboxMessageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError>;
}

/// Whether the service can do its work (the database answers).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when a trivial round trip to the database succeeded.
    async fn check(&self) -> Result<(), InfraError>;
}

/// Every port the application uses, as shared trait objects. Built by the server from the store
/// adapter, or by [`crate::fake::ports`] from in-memory fakes.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub tokens: Arc<dyn TokenRepository>,
    pub device_grants: Arc<dyn DeviceGrantRepository>,
    pub web_sessions: Arc<dyn WebSessionRepository>,
    pub roles: Arc<dyn RoleRepository>,
    pub plans: Arc<dyn PlanRepository>,
    pub plan_views: Arc<dyn PlanViewRepository>,
    /// Review requests and verdicts (sign-off per version).
    pub reviews: Arc<dyn planpush_reviews::ReviewRepository>,
    /// The notification inbox and follow/mute choices (its entries ride on the comment and
    /// version repositories' transactions).
    pub inbox: Arc<dyn planpush_inbox::InboxRepository>,
    pub versions: Arc<dyn VersionRepository>,
    pub comments: Arc<dyn CommentRepository>,
    pub audit_sink: Arc<dyn AuditSink>,
    pub audit_query: Arc<dyn AuditQuery>,
    pub kv: Arc<dyn KvStore>,
    pub outbox: Arc<dyn Outbox>,
    pub readiness: Arc<dyn Readiness>,
    /// Live events for open viewers ([`crate::LocalBus`] in one process).
    pub events: Arc<dyn crate::EventBus>,
    /// SCIM provisioning's users and groups.
    pub scim: Arc<dyn crate::ScimRepository>,
    /// Registered outgoing webhooks.
    pub webhooks: Arc<dyn crate::WebhookRepository>,
    /// Full-text search (its writes ride on the version and comment repositories' transactions).
    pub search: Arc<dyn crate::SearchRepository>,
    /// Who reads which plan now (shared by every process on one database).
    pub presence: Arc<dyn crate::PresenceRepository>,
    /// Users' e-mail preferences (immediate, daily digest, off) and digest cut-offs.
    pub email_preferences: Arc<dyn crate::EmailPreferenceRepository>,
}
