//! Presence: who is reading a plan now.
//!
//! A reader is an open live-update stream (`GET /p/{slug}/events`): the stream *arrives* when it
//! opens (after the viewer was allowed to see the plan), refreshes its row at every keep-alive,
//! and *leaves* when it closes. Rows live in the shared database ([`PresenceRepository`]) with an
//! expiry of [`PRESENCE_TTL`], so several processes on one PostgreSQL see each other's readers and a
//! killed process's readers disappear by themselves once their rows expire.
//!
//! Arrivals and departures are announced on the plan's own event stream
//! ([`LiveEvent::Presence`], carrying the current readers), so they reach every process's
//! viewers at once; expiries are noticed by each stream at its next keep-alive, which re-reads the
//! readers and tells its viewer when they changed. Only a plan's stream carries its presence, and
//! only viewers allowed to see the plan hold one: nobody learns who reads a plan they cannot see
//! ([`Presence::readers`] answers `NotFound` for it, like the page).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::{UserId, UserRepoError};
use planpush_plans::PlanId;
use serde::{Deserialize, Serialize};

use crate::{InfraError, LiveEvent, PlanError, Plans, Ports, Principal};

/// How long a reader's row counts without a refresh. Streams refresh it at every keep-alive
/// (15 s), so a reader whose process died is gone at most this long after its last refresh.
pub const PRESENCE_TTL: chrono::Duration = chrono::Duration::seconds(40);

/// Who reads a plan now, stream by stream. Shared by every process on one database.
#[async_trait]
pub trait PresenceRepository: Send + Sync {
    /// Records (or refreshes) that stream `reader` of `user` reads `plan` until `expires_at`.
    /// MUST return `InfraError::Unknown` only when the row could not be written.
    async fn upsert(
        &self,
        reader: &str,
        plan: PlanId,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), InfraError>;
    /// Forgets stream `reader`; an unknown reader is not an error.
    async fn remove(&self, reader: &str) -> Result<(), InfraError>;
    /// The distinct users with a row on `plan` that expires after `now`, in no particular order.
    async fn readers(&self, plan: PlanId, now: DateTime<Utc>) -> Result<Vec<UserId>, InfraError>;
    /// Deletes rows that expired at or before `now`; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, InfraError>;
}

/// A person reading a plan, as the other readers see them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reader {
    pub login: String,
    pub name: Option<String>,
    pub id: UserId,
}

/// One open stream's place among a plan's readers (until [`Presence::leave`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    id: String,
    plan: PlanId,
    user: UserId,
}

impl Reading {
    pub fn plan(&self) -> PlanId {
        self.plan
    }
}

/// The presence use cases.
#[derive(Clone)]
pub struct Presence {
    ports: Ports,
    plans: Arc<Plans>,
}

impl Presence {
    pub fn new(ports: Ports, plans: Arc<Plans>) -> Self {
        Self { ports, plans }
    }

    /// The readers of a plan `p` may see (`NotFound` otherwise, as for the page), by login.
    pub async fn readers(
        &self,
        p: &Principal,
        plan_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reader>, PlanError> {
        let id = PlanId::parse(plan_id).map_err(|_| PlanError::NotFound)?;
        let plan = self.plans.visible(p, id).await?;
        self.current(plan.id(), now)
            .await
            .map_err(|e| PlanError::Unknown(e.into()))
    }

    /// The readers of `plan` now, by login (for a stream already allowed to see it).
    pub async fn current(
        &self,
        plan: PlanId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reader>, InfraError> {
        let mut out = vec![];
        for user in self.ports.presence.readers(plan, now).await? {
            match self.ports.users.get(user).await {
                Ok(u) if u.is_active() => out.push(Reader {
                    login: u.login,
                    name: u.name,
                    id: user,
                }),
                Ok(_) | Err(UserRepoError::NotFound) => {}
                Err(e) => return Err(InfraError::Unknown(e.into())),
            }
        }
        out.sort();
        Ok(out)
    }

    /// A stream of `user` on `plan` (already allowed to see it) arrives: its row is written and
    /// the plan's viewers are told who reads it now.
    pub async fn arrive(
        &self,
        plan: PlanId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Reading, InfraError> {
        let reading = Reading {
            id: uuid::Uuid::new_v4().to_string(),
            plan,
            user,
        };
        self.ports
            .presence
            .upsert(&reading.id, plan, user, now + PRESENCE_TTL)
            .await?;
        self.announce(plan, now).await;
        Ok(reading)
    }

    /// The stream is still open (its keep-alive): its row is refreshed, and the readers now are
    /// returned (so the stream notices readers that expired).
    pub async fn refresh(
        &self,
        r: &Reading,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reader>, InfraError> {
        self.ports
            .presence
            .upsert(&r.id, r.plan, r.user, now + PRESENCE_TTL)
            .await?;
        self.current(r.plan, now).await
    }

    /// The stream closed: its row goes, and the plan's viewers are told. Failures are logged (the
    /// row expires anyway).
    pub async fn leave(&self, r: &Reading, now: DateTime<Utc>) {
        if let Err(e) = self.ports.presence.remove(&r.id).await {
            tracing::warn!(error = %e, plan = %r.plan, "a reader's presence could not be removed");
            return;
        }
        self.announce(r.plan, now).await;
    }

    async fn announce(&self, plan: PlanId, now: DateTime<Utc>) {
        match self.current(plan, now).await {
            Ok(readers) => {
                crate::events::publish(&self.ports, plan, LiveEvent::Presence { readers }).await;
            }
            Err(e) => tracing::warn!(error = %e, %plan, "a plan's readers could not be read"),
        }
    }
}
