//! In-memory [`InboxRepository`], and the shared inbox table the fake comment and version
//! repositories write to "in the same transaction" as their own rows.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::{UserId, UserRepository};
use planpush_plans::{PlanId, PlanRepository};

use crate::*;

/// The notifications written so far, shared by every fake holding a clone.
#[derive(Debug, Clone, Default)]
pub struct InboxLog(Arc<Mutex<Vec<InboxEntry>>>);

impl InboxLog {
    /// Every notification, for reading and updating in place.
    pub fn lock(&self) -> MutexGuard<'_, Vec<InboxEntry>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// Appends notifications (called by a fake repository after its own write succeeded).
    pub fn append(&self, entries: &[InboxEntry]) {
        self.lock().extend_from_slice(entries);
    }
}

/// The fake inbox: reads the shared [`InboxLog`], resolves plans and people through the given
/// repositories (as the store's joins do).
pub struct FakeInbox {
    log: InboxLog,
    follows: Mutex<Vec<(UserId, PlanId, FollowState)>>,
    plans: Arc<dyn PlanRepository>,
    users: Arc<dyn UserRepository>,
}

impl FakeInbox {
    pub fn new(
        log: InboxLog,
        plans: Arc<dyn PlanRepository>,
        users: Arc<dyn UserRepository>,
    ) -> Self {
        Self {
            log,
            follows: Mutex::default(),
            plans,
            users,
        }
    }

    fn follows_lock(&self) -> MutexGuard<'_, Vec<(UserId, PlanId, FollowState)>> {
        self.follows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The item for `e`, or `None` when its plan is gone (deleted plans are left out) unless
    /// `any_plan`.
    async fn item(
        &self,
        e: InboxEntry,
        any_plan: bool,
    ) -> Result<Option<InboxItem>, InboxRepoError> {
        let plan = match self.plans.get(e.plan_id).await {
            Ok(p) => p,
            Err(planpush_plans::PlanRepoError::NotFound) => return Ok(None),
            Err(err) => return Err(InboxRepoError::Unknown(err.into())),
        };
        if plan.is_deleted() && !any_plan {
            return Ok(None);
        }
        let actor_login = match e.actor {
            Some(a) => self.users.get(a).await.ok().map(|u| u.login),
            None => None,
        };
        Ok(Some(InboxItem {
            plan_slug: plan.slug().to_string(),
            plan_title: plan.title().to_owned(),
            actor_login,
            entry: e,
        }))
    }

    async fn email(&self, item: InboxItem) -> Result<EmailNotice, InboxRepoError> {
        let u = self
            .users
            .get(item.entry.recipient)
            .await
            .map_err(|e| InboxRepoError::Unknown(e.into()))?;
        Ok(EmailNotice {
            item,
            recipient_login: u.login,
            recipient_email: u.email.map(|e| e.to_string()),
        })
    }
}

#[async_trait]
impl InboxRepository for FakeInbox {
    async fn list(
        &self,
        recipient: UserId,
        query: &InboxQuery,
    ) -> Result<Vec<InboxItem>, InboxRepoError> {
        let mut mine: Vec<InboxEntry> = self
            .log
            .lock()
            .iter()
            .filter(|e| e.recipient == recipient)
            .filter(|e| !query.unread_only || !e.is_read())
            .filter(|e| query.after.is_none_or(|c| c.precedes(e)))
            .cloned()
            .collect();
        mine.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
        let mut out = vec![];
        for e in mine {
            if out.len() >= query.limit as usize {
                break;
            }
            if let Some(item) = self.item(e, false).await? {
                out.push(item);
            }
        }
        Ok(out)
    }

    async fn unread_by_plan(
        &self,
        recipient: UserId,
    ) -> Result<Vec<(PlanId, u64)>, InboxRepoError> {
        let unread: Vec<InboxEntry> = self
            .log
            .lock()
            .iter()
            .filter(|e| e.recipient == recipient && !e.is_read())
            .cloned()
            .collect();
        let mut out: Vec<(PlanId, u64)> = vec![];
        for e in unread {
            if self.item(e.clone(), false).await?.is_none() {
                continue;
            }
            match out.iter_mut().find(|(p, _)| *p == e.plan_id) {
                Some((_, n)) => *n += 1,
                None => out.push((e.plan_id, 1)),
            }
        }
        Ok(out)
    }

    async fn mark_read(
        &self,
        recipient: UserId,
        which: &ReadTarget,
        now: DateTime<Utc>,
    ) -> Result<u64, InboxRepoError> {
        let mut n = 0;
        for e in self.log.lock().iter_mut() {
            let chosen = match which {
                ReadTarget::All => true,
                ReadTarget::Ids(ids) => ids.contains(&e.id),
            };
            if e.recipient == recipient && chosen && e.read_at.is_none() {
                e.read_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn follow_state(
        &self,
        user: UserId,
        plan: PlanId,
    ) -> Result<Option<FollowState>, InboxRepoError> {
        Ok(self
            .follows_lock()
            .iter()
            .find(|(u, p, _)| *u == user && *p == plan)
            .map(|(_, _, s)| *s))
    }

    async fn set_follow(
        &self,
        user: UserId,
        plan: PlanId,
        state: Option<FollowState>,
        _now: DateTime<Utc>,
    ) -> Result<(), InboxRepoError> {
        let mut f = self.follows_lock();
        f.retain(|(u, p, _)| !(*u == user && *p == plan));
        if let Some(s) = state {
            f.push((user, plan, s));
        }
        Ok(())
    }

    async fn follows(&self, plan: PlanId) -> Result<Vec<(UserId, FollowState)>, InboxRepoError> {
        Ok(self
            .follows_lock()
            .iter()
            .filter(|(_, p, _)| *p == plan)
            .map(|(u, _, s)| (*u, *s))
            .collect())
    }

    async fn for_email(&self, id: NotificationId) -> Result<EmailNotice, InboxRepoError> {
        let e = self
            .log
            .lock()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or(InboxRepoError::NotFound)?;
        let item = self.item(e, true).await?.ok_or(InboxRepoError::NotFound)?;
        self.email(item).await
    }

    async fn unread_since(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<EmailNotice>, InboxRepoError> {
        let mut mine: Vec<InboxEntry> = self
            .log
            .lock()
            .iter()
            .filter(|e| e.recipient == user && !e.is_read() && e.created_at > since)
            .cloned()
            .collect();
        mine.sort_by_key(|e| (e.created_at, e.id));
        let mut out = vec![];
        for e in mine {
            if let Some(item) = self.item(e, false).await? {
                out.push(self.email(item).await?);
            }
        }
        Ok(out)
    }
}
