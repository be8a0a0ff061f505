//! In-memory implementations of the plans ports.

use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use planpush_identity::UserId;

use crate::*;

#[derive(Default)]
pub struct FakePlans {
    plans: Mutex<Vec<Plan>>,
}

impl FakePlans {
    fn lock(&self) -> MutexGuard<'_, Vec<Plan>> {
        self.plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// Inserts a plan unless a live plan holds its slug. Used by the fake version repository, which
    /// creates plans together with their first version.
    pub fn insert(&self, plan: &Plan) -> Result<(), PlanRepoError> {
        let mut g = self.lock();
        if g.iter().any(|p| p.slug == plan.slug && !p.is_deleted()) {
            return Err(PlanRepoError::SlugTaken(plan.slug.clone()));
        }
        g.push(plan.clone());
        Ok(())
    }
    /// Moves the version counter if it still equals `expected` (compare-and-set).
    pub fn advance_version(&self, plan: &Plan, expected: u32) -> Result<bool, PlanRepoError> {
        let mut g = self.lock();
        let slot = g
            .iter_mut()
            .find(|p| p.id == plan.id && p.deleted_at.is_none())
            .ok_or(PlanRepoError::NotFound)?;
        if slot.current_version != expected {
            return Ok(false);
        }
        slot.current_version = plan.current_version;
        slot.title = plan.title.clone();
        slot.updated_at = plan.updated_at;
        Ok(true)
    }
}

#[async_trait]
impl PlanRepository for FakePlans {
    async fn get(&self, id: PlanId) -> Result<Plan, PlanRepoError> {
        self.lock()
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(PlanRepoError::NotFound)
    }
    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Plan>, PlanRepoError> {
        Ok(self
            .lock()
            .iter()
            .find(|p| p.slug == *slug && !p.is_deleted())
            .cloned())
    }
    async fn update(&self, plan: &Plan) -> Result<(), PlanRepoError> {
        let mut g = self.lock();
        if !plan.is_deleted()
            && g.iter()
                .any(|p| p.id != plan.id && p.slug == plan.slug && !p.is_deleted())
        {
            return Err(PlanRepoError::SlugTaken(plan.slug.clone()));
        }
        let slot = g
            .iter_mut()
            .find(|p| p.id == plan.id)
            .ok_or(PlanRepoError::NotFound)?;
        let version = slot.current_version;
        *slot = plan.clone();
        slot.current_version = version;
        Ok(())
    }
    async fn list(&self, filter: PlanFilter) -> Result<Vec<Plan>, PlanRepoError> {
        let mut v: Vec<Plan> = self
            .lock()
            .iter()
            .filter(|p| !p.is_deleted() && (filter.include_archived || !p.is_archived()))
            .filter(|p| match filter.scope {
                PlanScope::All => true,
                PlanScope::OwnedOrPublished(u) => {
                    p.owner_id == u || p.visibility == Visibility::Published
                }
                PlanScope::OwnedBy(u) => p.owner_id == u,
            })
            .cloned()
            .collect();
        v.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        Ok(v)
    }
}

#[derive(Default)]
pub struct FakePlanViews {
    views: Mutex<Vec<PlanView>>,
}

#[async_trait]
impl PlanViewRepository for FakePlanViews {
    async fn record(&self, view: &PlanView) -> Result<(), PlanViewRepoError> {
        let mut g = self
            .views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match g
            .iter_mut()
            .find(|v| v.plan_id == view.plan_id && v.user_id == view.user_id)
        {
            Some(v) => {
                v.version = v.version.max(view.version);
                v.viewed_at = view.viewed_at;
            }
            None => g.push(*view),
        }
        Ok(())
    }
    async fn for_user(&self, user_id: UserId) -> Result<Vec<PlanView>, PlanViewRepoError> {
        let g = self
            .views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(g.iter().filter(|v| v.user_id == user_id).copied().collect())
    }
}
