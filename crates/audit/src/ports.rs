use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::UserId;

use crate::{AuditAction, AuditEvent, Cursor};

/// Errors of the audit ports.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Where audit events go. Implementations MUST make an event durable before returning `Ok`
/// (callers that must not wait put a queue in front, and that queue must not lose events).
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records events, in order, all or none.
    async fn record(&self, events: &[AuditEvent]) -> Result<(), AuditError>;
}

/// A filter over the log. Every field narrows; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<UserId>,
    pub action: Option<AuditAction>,
    /// Exact target (`plan:…`).
    pub target: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.actor.is_none_or(|a| e.actor == Some(a))
            && self.action.is_none_or(|a| e.action == a)
            && self
                .target
                .as_ref()
                .is_none_or(|t| e.target.as_ref() == Some(t))
            && self.from.is_none_or(|f| e.at >= f)
            && self.to.is_none_or(|t| e.at < t)
    }
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Reading the log.
#[async_trait]
pub trait AuditQuery: Send + Sync {
    /// Events matching `filter`, newest first (ties broken by id, descending), strictly after
    /// `after` in that order, at most `limit` (1..=1000) of them. `next` MUST be `Some` exactly when
    /// more matching events exist.
    async fn page(
        &self,
        filter: &AuditFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<AuditPage, AuditError>;
}
