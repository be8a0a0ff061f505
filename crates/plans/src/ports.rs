//! Ports of the plans domain. Plans are created together with their first version, atomically,
//! through `planpush_versions::VersionRepository::commit`; this port reads and updates them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::UserId;

use crate::{Plan, PlanId, Slug};

/// Errors of [`PlanRepository`].
#[derive(Debug, thiserror::Error)]
pub enum PlanRepoError {
    #[error("plan not found")]
    NotFound,
    #[error("the name {0} is taken")]
    SlugTaken(Slug),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Which plans a listing may include (the role-scoping is decided in `app`; this says what to fetch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanScope {
    /// Every plan (admins and project managers).
    All,
    /// Plans owned by this user, plus every published plan.
    OwnedOrPublished(UserId),
    /// Plans owned by this user only.
    OwnedBy(UserId),
}

/// A listing request. Deleted plans are never listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanFilter {
    pub scope: PlanScope,
    pub include_archived: bool,
}

#[async_trait]
pub trait PlanRepository: Send + Sync {
    /// The plan with this id, deleted or not. MUST return `NotFound` for an unknown id.
    async fn get(&self, id: PlanId) -> Result<Plan, PlanRepoError>;
    /// The live (not deleted) plan with this slug.
    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Plan>, PlanRepoError>;
    /// Saves lifecycle and metadata changes (visibility, archive, deletion, title, slug). The version
    /// counter is not written here (only a version commit moves it).
    /// MUST return `NotFound` for an unknown id and `SlugTaken` if the slug belongs to another live plan.
    async fn update(&self, plan: &Plan) -> Result<(), PlanRepoError>;
    /// Plans in scope, most recently updated first.
    async fn list(&self, filter: PlanFilter) -> Result<Vec<Plan>, PlanRepoError>;
}

/// When a user last looked at a plan (for "new since you last looked").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanView {
    pub plan_id: PlanId,
    pub user_id: UserId,
    pub version: u32,
    pub viewed_at: DateTime<Utc>,
}

/// Errors of [`PlanViewRepository`].
#[derive(Debug, thiserror::Error)]
pub enum PlanViewRepoError {
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[async_trait]
pub trait PlanViewRepository: Send + Sync {
    /// Records (or moves forward) a user's last view of a plan. Never moves `version` backwards:
    /// looking at an old version does not make newer ones "seen".
    async fn record(&self, view: &PlanView) -> Result<(), PlanViewRepoError>;
    /// The user's last view of every plan they have looked at.
    async fn for_user(&self, user_id: UserId) -> Result<Vec<PlanView>, PlanViewRepoError>;
}
