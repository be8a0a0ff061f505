use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_audit::AuditEvent;
use planpush_inbox::InboxEntry;
use planpush_outbox::OutboxMessage;
use planpush_plans::{Plan, PlanId, Slug};

use crate::{SectionIndex, Text, TextUnit, Version, VersionHead, VersionMeta, VersionNumber};

/// Errors of [`VersionRepository`].
#[derive(Debug, thiserror::Error)]
pub enum VersionRepoError {
    #[error("version not found")]
    NotFound,
    #[error("plan not found")]
    PlanNotFound,
    #[error("the name {0} is taken")]
    SlugTaken(Slug),
    /// Another push committed this version number first; reload and retry.
    #[error("another push changed the plan first")]
    Conflict,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// One atomic write of a push.
#[derive(Debug, Clone, Copy)]
pub enum Commit<'a> {
    /// The first push: the plan (with `current_version == 1`) and version 1, together.
    NewPlan {
        plan: &'a Plan,
        version: &'a Version,
        /// The version's searchable text (the search index is written in the same transaction).
        text: &'a [TextUnit],
    },
    /// A later push: version `n` of an existing plan, whose `current_version` is `n` in `plan`.
    NextVersion {
        plan: &'a Plan,
        version: &'a Version,
        /// The version's searchable text (the search index is written in the same transaction).
        text: &'a [TextUnit],
    },
}

/// What a store made of a version's texts ahead of its commit ([`VersionRepository::stage`]),
/// opaque to everyone but that store. Empty by default: the commit then does the work itself.
#[derive(Clone, Default)]
pub struct Staged(Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>);

impl Staged {
    /// `work`, to be found again by [`Staged::get`] with its type.
    pub fn new<T: std::any::Any + Send + Sync>(work: T) -> Self {
        Self(Some(std::sync::Arc::new(work)))
    }

    /// The work staged, if it is a `T`.
    pub fn get<T: std::any::Any + Send + Sync>(&self) -> Option<std::sync::Arc<T>> {
        self.0.clone()?.downcast().ok()
    }
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Staged(..)"
        } else {
            "Staged(none)"
        })
    }
}

#[async_trait]
pub trait VersionRepository: Send + Sync {
    /// The work on a version's texts that needs neither the database nor the plan's current
    /// state (a store may cut and hash them, serialize the index), done where the caller likes:
    /// a push does it while rendering, before its plan's turn, so that the turn holds only the
    /// database. [`VersionRepository::commit_staged`] uses it when it matches the version it
    /// writes, and does the work itself otherwise. It may keep `html` and `source` (shared, not
    /// copied) until the commit.
    fn stage(&self, html: &Text, source: &Text, sections: &SectionIndex) -> Staged {
        let _ = (html, source, sections);
        Staged::default()
    }
    /// Writes a push atomically, together with what it causes: the notifications (`outbox`,
    /// `inbox`) and its audit record (`audit`), all of it or nothing — a refused commit writes
    /// none of them. `staged` is what [`VersionRepository::stage`] made of the version's texts
    /// before (or nothing): the same writes and the same answers whatever it holds.
    /// `NewPlan` MUST return `SlugTaken` if a live plan holds the slug.
    /// `NextVersion` MUST return `PlanNotFound` for an unknown or deleted plan and `Conflict` unless the stored
    /// plan's current version is exactly one less than the new version's number.
    async fn commit_staged<'a>(
        &self,
        commit: Commit<'a>,
        staged: &Staged,
        outbox: &[OutboxMessage],
        inbox: &[InboxEntry],
        audit: &[AuditEvent],
    ) -> Result<(), VersionRepoError>;
    /// [`VersionRepository::commit_staged`] with its `outbox` alone.
    async fn commit<'a>(
        &self,
        commit: Commit<'a>,
        outbox: &[OutboxMessage],
    ) -> Result<(), VersionRepoError> {
        self.commit_notifying(commit, outbox, &[]).await
    }
    /// [`VersionRepository::commit_staged`] with its `outbox` and `inbox` (followers told of the
    /// new version).
    async fn commit_notifying<'a>(
        &self,
        commit: Commit<'a>,
        outbox: &[OutboxMessage],
        inbox: &[InboxEntry],
    ) -> Result<(), VersionRepoError> {
        self.commit_staged(commit, &Staged::default(), outbox, inbox, &[])
            .await
    }
    /// A complete snapshot. MUST return `NotFound` if the version does not exist or its content has
    /// been purged (use [`VersionRepository::history`] for metadata).
    async fn get(
        &self,
        plan_id: PlanId,
        number: VersionNumber,
    ) -> Result<Version, VersionRepoError>;
    /// The newest version's snapshot, if the plan has any.
    async fn latest(&self, plan_id: PlanId) -> Result<Option<Version>, VersionRepoError>;
    /// The newest version's metadata, source and section index, if the plan has any, without its
    /// HTML: what a push is made against. MUST agree with [`VersionRepository::latest`].
    async fn head(&self, plan_id: PlanId) -> Result<Option<VersionHead>, VersionRepoError>;
    /// Metadata of every version of a plan, oldest first (purged ones included).
    async fn history(&self, plan_id: PlanId) -> Result<Vec<VersionMeta>, VersionRepoError> {
        self.history_between(plan_id, VersionNumber::FIRST, VersionNumber::MAX)
            .await
    }
    /// Metadata of the versions numbered `first` to `last` (both included), oldest first: what a
    /// page lists of a long history without reading all of it.
    async fn history_between(
        &self,
        plan_id: PlanId,
        first: VersionNumber,
        last: VersionNumber,
    ) -> Result<Vec<VersionMeta>, VersionRepoError>;
    /// Purges the content of versions pushed before `cutoff`, except each plan's current version,
    /// keeping their metadata. Returns how many were purged.
    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, VersionRepoError>;
}
