//! In-memory [`CommentRepository`].

use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use planpush_inbox::InboxEntry;
use planpush_inbox::fake::InboxLog;
use planpush_outbox::OutboxMessage;
use planpush_outbox::fake::OutboxLog;
use planpush_plans::PlanId;

use crate::*;

#[derive(Default)]
pub struct FakeComments {
    inner: Mutex<Vec<Comment>>,
    outbox: OutboxLog,
    inbox: InboxLog,
}

impl FakeComments {
    /// Writes the messages of successful writes to `outbox` (shared with the fake `Outbox`).
    pub fn with_outbox(mut self, outbox: OutboxLog) -> Self {
        self.outbox = outbox;
        self
    }
    /// Writes the inbox entries of successful inserts to `inbox` (shared with the fake inbox).
    pub fn with_inbox(mut self, inbox: InboxLog) -> Self {
        self.inbox = inbox;
        self
    }
    fn lock(&self) -> MutexGuard<'_, Vec<Comment>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a thread matches a filter; replies are judged by their thread.
pub(crate) fn thread_matches(thread: &Comment, filter: &CommentFilter) -> bool {
    let state_ok = match filter.state {
        StateFilter::Open => thread.is_open(),
        StateFilter::Resolved => !thread.is_open(),
        StateFilter::All => true,
    };
    let anchor_ok = filter.anchor.as_ref().is_none_or(|a| {
        thread.anchor == *a || matches!(&thread.state, AnchorState::Moved { to, .. } if to == a)
    });
    state_ok && anchor_ok
}

#[async_trait]
impl CommentRepository for FakeComments {
    async fn insert_notifying(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
        inbox: &[InboxEntry],
    ) -> Result<(), CommentRepoError> {
        let mut all = self.lock();
        if all.iter().any(|c| c.id == comment.id) {
            return Err(CommentRepoError::Unknown(anyhow::anyhow!(
                "comment {} exists",
                comment.id
            )));
        }
        all.push(comment.clone());
        self.outbox.append(outbox);
        self.inbox.append(inbox);
        Ok(())
    }
    async fn get(&self, id: CommentId) -> Result<Comment, CommentRepoError> {
        self.lock()
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or(CommentRepoError::NotFound)
    }
    async fn update(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
    ) -> Result<(), CommentRepoError> {
        let mut g = self.lock();
        let slot = g
            .iter_mut()
            .find(|c| c.id == comment.id)
            .ok_or(CommentRepoError::NotFound)?;
        *slot = comment.clone();
        self.outbox.append(outbox);
        Ok(())
    }
    async fn list(
        &self,
        plan_id: PlanId,
        filter: &CommentFilter,
    ) -> Result<Vec<Comment>, CommentRepoError> {
        let g = self.lock();
        let threads: Vec<&Comment> = g
            .iter()
            .filter(|c| c.plan_id == plan_id && c.is_thread() && thread_matches(c, filter))
            .collect();
        let mut out: Vec<Comment> = g
            .iter()
            .filter(|c| c.plan_id == plan_id)
            .filter(|c| {
                threads
                    .iter()
                    .any(|t| t.id == c.id || Some(t.id) == c.parent_id)
            })
            .cloned()
            .collect();
        out.sort_by_key(|c| (c.created_at, c.id));
        Ok(out)
    }
    async fn set_states(
        &self,
        states: &[(CommentId, AnchorState)],
    ) -> Result<(), CommentRepoError> {
        let mut g = self.lock();
        if states.iter().any(|(id, _)| !g.iter().any(|c| c.id == *id)) {
            return Err(CommentRepoError::NotFound);
        }
        for (id, state) in states {
            for c in g
                .iter_mut()
                .filter(|c| c.id == *id || c.parent_id == Some(*id))
            {
                c.state = state.clone();
            }
        }
        Ok(())
    }
    async fn count_open(&self, plan_id: PlanId) -> Result<u64, CommentRepoError> {
        Ok(self
            .lock()
            .iter()
            .filter(|c| c.plan_id == plan_id && c.is_thread() && c.is_open() && !c.is_deleted())
            .count() as u64)
    }
    async fn open_counts(&self) -> Result<Vec<(PlanId, u64)>, CommentRepoError> {
        let mut counts = std::collections::BTreeMap::<PlanId, u64>::new();
        for c in self
            .lock()
            .iter()
            .filter(|c| c.is_thread() && c.is_open() && !c.is_deleted())
        {
            *counts.entry(c.plan_id).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }
    async fn threads_involving(
        &self,
        author: planpush_identity::UserId,
        plans: &[PlanId],
        limit: u32,
    ) -> Result<Vec<Comment>, CommentRepoError> {
        let mut out: Vec<Comment> = self
            .lock()
            .iter()
            .filter(|c| c.is_thread() && !c.is_deleted())
            .filter(|c| c.author_id == author || plans.contains(&c.plan_id))
            .cloned()
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
        out.truncate(limit as usize);
        Ok(out)
    }
}
