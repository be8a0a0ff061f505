//! In-memory [`ReviewRepository`].

use std::sync::Mutex;

use async_trait::async_trait;
use planpush_identity::UserId;
use planpush_plans::PlanId;

use crate::{Decision, Review, ReviewRepoError, ReviewRepository};

#[derive(Default)]
pub struct FakeReviews {
    rows: Mutex<Vec<Review>>,
}

impl FakeReviews {
    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<Review>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ReviewRepository for FakeReviews {
    async fn request(&self, review: &Review) -> Result<(), ReviewRepoError> {
        let mut rows = self.rows();
        let mut fresh = review.clone();
        fresh.decision = None;
        match rows
            .iter_mut()
            .find(|r| r.plan_id == review.plan_id && r.reviewer == review.reviewer)
        {
            Some(r) => *r = fresh,
            None => rows.push(fresh),
        }
        Ok(())
    }

    async fn decide(
        &self,
        plan_id: PlanId,
        reviewer: UserId,
        decision: &Decision,
    ) -> Result<(), ReviewRepoError> {
        let mut rows = self.rows();
        let row = rows
            .iter_mut()
            .find(|r| r.plan_id == plan_id && r.reviewer == reviewer)
            .ok_or(ReviewRepoError::NotFound)?;
        row.decision = Some(decision.clone());
        Ok(())
    }

    async fn for_plan(&self, plan_id: PlanId) -> Result<Vec<Review>, ReviewRepoError> {
        let mut v: Vec<Review> = self
            .rows()
            .iter()
            .filter(|r| r.plan_id == plan_id)
            .cloned()
            .collect();
        v.sort_by_key(|r| r.requested_at);
        Ok(v)
    }

    async fn for_reviewer(&self, reviewer: UserId) -> Result<Vec<Review>, ReviewRepoError> {
        let mut v: Vec<Review> = self
            .rows()
            .iter()
            .filter(|r| r.reviewer == reviewer)
            .cloned()
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.requested_at));
        Ok(v)
    }
}
