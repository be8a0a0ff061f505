use async_trait::async_trait;
use planpush_identity::UserId;
use planpush_inbox::InboxEntry;
use planpush_outbox::OutboxMessage;
use planpush_plans::PlanId;
use planpush_versions::AnchorId;

use crate::{AnchorState, Comment, CommentId};

/// Errors of [`CommentRepository`].
#[derive(Debug, thiserror::Error)]
pub enum CommentRepoError {
    #[error("comment not found")]
    NotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Which comments to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Resolved,
    All,
}

/// A listing request for one plan. Resolution is a thread's: replies follow their thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentFilter {
    pub state: StateFilter,
    /// Only threads written on, or now attached to, this anchor (and their replies).
    pub anchor: Option<AnchorId>,
}

#[async_trait]
pub trait CommentRepository: Send + Sync {
    /// Stores a new comment and, in the same transaction, the notifications it causes (`outbox`,
    /// possibly empty). Its plan (and parent, for a reply) MUST exist; adapters may return
    /// `Unknown` otherwise, writing nothing. A comment whose id is stored already MUST be refused
    /// (`Unknown`), writing nothing.
    async fn insert(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
    ) -> Result<(), CommentRepoError> {
        self.insert_notifying(comment, outbox, &[]).await
    }
    /// [`CommentRepository::insert`] that also writes `inbox` entries (mentions, replies) in the
    /// same transaction: the comment, its outbox messages and its inbox entries, all or nothing.
    async fn insert_notifying(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
        inbox: &[InboxEntry],
    ) -> Result<(), CommentRepoError>;
    /// MUST return `NotFound` for an unknown id.
    async fn get(&self, id: CommentId) -> Result<Comment, CommentRepoError>;
    /// Saves body, edit, deletion, resolution and state, and in the same transaction the
    /// notifications the change causes (`outbox`, possibly empty). MUST return `NotFound` for an
    /// unknown id, writing nothing.
    async fn update(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
    ) -> Result<(), CommentRepoError>;
    /// A plan's comments matching the filter, threads and replies, oldest first.
    async fn list(
        &self,
        plan_id: PlanId,
        filter: &CommentFilter,
    ) -> Result<Vec<Comment>, CommentRepoError>;
    /// Records new anchor states for many threads at once (after a push), atomically; each reply
    /// takes its thread's state. MUST return `NotFound` (changing nothing) if an id is unknown.
    async fn set_states(&self, states: &[(CommentId, AnchorState)])
    -> Result<(), CommentRepoError>;
    /// How many open, live threads a plan has.
    async fn count_open(&self, plan_id: PlanId) -> Result<u64, CommentRepoError>;
    /// How many open, live threads each plan has, for every plan that has at least one (one query
    /// for a whole dashboard).
    async fn open_counts(&self) -> Result<Vec<(PlanId, u64)>, CommentRepoError>;
    /// Live threads (not replies) written by `author` or on one of `plans`, newest first (ties by
    /// id, descending), at most `limit`.
    async fn threads_involving(
        &self,
        author: UserId,
        plans: &[PlanId],
        limit: u32,
    ) -> Result<Vec<Comment>, CommentRepoError>;
}
