//! In-memory [`VersionRepository`] sharing its plans with a [`FakePlans`].

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_audit::AuditEvent;
use planpush_audit::fake::FakeAudit;
use planpush_inbox::InboxEntry;
use planpush_inbox::fake::InboxLog;
use planpush_outbox::OutboxMessage;
use planpush_outbox::fake::OutboxLog;
use planpush_plans::fake::FakePlans;
use planpush_plans::{PlanId, PlanRepoError, PlanRepository};

use crate::*;

pub struct FakeVersions {
    plans: Arc<FakePlans>,
    versions: Mutex<Vec<Version>>,
    outbox: OutboxLog,
    inbox: InboxLog,
    audit: Arc<FakeAudit>,
}

impl FakeVersions {
    pub fn new(plans: Arc<FakePlans>) -> Self {
        Self {
            plans,
            versions: Mutex::default(),
            outbox: OutboxLog::default(),
            inbox: InboxLog::default(),
            audit: Arc::default(),
        }
    }
    /// Writes the messages of successful commits to `outbox` (shared with the fake `Outbox`).
    pub fn with_outbox(mut self, outbox: OutboxLog) -> Self {
        self.outbox = outbox;
        self
    }
    /// Writes the inbox entries of successful commits to `inbox` (shared with the fake inbox).
    pub fn with_inbox(mut self, inbox: InboxLog) -> Self {
        self.inbox = inbox;
        self
    }
    /// Records the audit events of successful commits in `audit` (the fake audit log).
    pub fn with_audit(mut self, audit: Arc<FakeAudit>) -> Self {
        self.audit = audit;
        self
    }
    fn lock(&self) -> MutexGuard<'_, Vec<Version>> {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn plan_err(e: PlanRepoError) -> VersionRepoError {
    match e {
        PlanRepoError::NotFound => VersionRepoError::PlanNotFound,
        PlanRepoError::SlugTaken(s) => VersionRepoError::SlugTaken(s),
        PlanRepoError::Unknown(e) => VersionRepoError::Unknown(e),
    }
}

#[async_trait]
impl VersionRepository for FakeVersions {
    async fn commit_staged<'a>(
        &self,
        commit: Commit<'a>,
        _staged: &Staged,
        outbox: &[OutboxMessage],
        inbox: &[InboxEntry],
        audit: &[AuditEvent],
    ) -> Result<(), VersionRepoError> {
        let mut versions = self.lock();
        match commit {
            Commit::NewPlan { plan, version, .. } => {
                self.plans.insert(plan).map_err(plan_err)?;
                versions.push(version.clone());
            }
            Commit::NextVersion { plan, version, .. } => {
                let expected = version.meta.number.previous().map_or(0, VersionNumber::get);
                if !self
                    .plans
                    .advance_version(plan, expected)
                    .map_err(plan_err)?
                {
                    return Err(VersionRepoError::Conflict);
                }
                versions.push(version.clone());
            }
        }
        self.outbox.append(outbox);
        self.inbox.append(inbox);
        self.audit.append(audit);
        Ok(())
    }
    async fn get(
        &self,
        plan_id: PlanId,
        number: VersionNumber,
    ) -> Result<Version, VersionRepoError> {
        self.lock()
            .iter()
            .find(|v| {
                v.meta.plan_id == plan_id && v.meta.number == number && v.meta.purged_at.is_none()
            })
            .cloned()
            .ok_or(VersionRepoError::NotFound)
    }
    async fn latest(&self, plan_id: PlanId) -> Result<Option<Version>, VersionRepoError> {
        Ok(self
            .lock()
            .iter()
            .filter(|v| v.meta.plan_id == plan_id)
            .max_by_key(|v| v.meta.number)
            .cloned())
    }
    async fn head(&self, plan_id: PlanId) -> Result<Option<VersionHead>, VersionRepoError> {
        Ok(self
            .lock()
            .iter()
            .filter(|v| v.meta.plan_id == plan_id)
            .max_by_key(|v| v.meta.number)
            .map(Version::head))
    }
    async fn history_between(
        &self,
        plan_id: PlanId,
        first: VersionNumber,
        last: VersionNumber,
    ) -> Result<Vec<VersionMeta>, VersionRepoError> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .filter(|v| v.meta.plan_id == plan_id && (first..=last).contains(&v.meta.number))
            .map(|v| v.meta.clone())
            .collect();
        v.sort_by_key(|m| m.number);
        Ok(v)
    }
    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, VersionRepoError> {
        let mut n = 0;
        let snapshot: Vec<(PlanId, VersionNumber)> = self
            .lock()
            .iter()
            .map(|v| (v.meta.plan_id, v.meta.number))
            .collect();
        for (plan_id, number) in snapshot {
            let current = self
                .plans
                .get(plan_id)
                .await
                .map_err(plan_err)?
                .current_version();
            let mut g = self.lock();
            if let Some(v) = g
                .iter_mut()
                .find(|v| v.meta.plan_id == plan_id && v.meta.number == number)
                && v.meta.purged_at.is_none()
                && v.meta.pushed_at < cutoff
                && number.get() != current
            {
                v.meta.purged_at = Some(now);
                v.source = Text::default();
                v.html = Text::default();
                v.sections = SectionIndex::default();
                n += 1;
            }
        }
        Ok(n)
    }
}
