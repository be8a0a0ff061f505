//! In-memory [`Ports`], for tests of the application and the web layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_audit::fake::FakeAudit;
use planpush_comments::fake::FakeComments;
use planpush_identity::fake::{FakeDeviceGrants, FakeTokens, FakeUsers, FakeWebSessions};
use planpush_outbox::fake::OutboxLog;
use planpush_plans::fake::{FakePlanViews, FakePlans};
use planpush_roles::fake::FakeRoles;
use planpush_versions::fake::FakeVersions;

use crate::*;

/// A complete set of fakes, wired to each other where the real store joins tables.
pub fn ports() -> Ports {
    let users = Arc::new(FakeUsers::default());
    let plans = Arc::new(FakePlans::default());
    let audit = Arc::new(FakeAudit::default());
    let outbox = OutboxLog::default();
    Ports {
        users: users.clone(),
        tokens: Arc::new(FakeTokens::default()),
        device_grants: Arc::new(FakeDeviceGrants::default()),
        web_sessions: Arc::new(FakeWebSessions::default()),
        roles: Arc::new(FakeRoles::new(users)),
        plans: plans.clone(),
        plan_views: Arc::new(FakePlanViews::default()),
        versions: Arc::new(FakeVersions::new(plans).with_outbox(outbox.clone())),
        comments: Arc::new(FakeComments::default().with_outbox(outbox.clone())),
        audit_sink: audit.clone(),
        audit_query: audit,
        kv: Arc::new(FakeKv::default()),
        outbox: Arc::new(FakeOutbox::new(outbox)),
        readiness: Arc::new(AlwaysReady),
        events: Arc::new(LocalBus::new(1)),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A value and when it expires.
type KvEntry = (Vec<u8>, Option<DateTime<Utc>>);

#[derive(Default)]
pub struct FakeKv {
    map: Mutex<HashMap<String, KvEntry>>,
}

#[async_trait]
impl KvStore for FakeKv {
    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, InfraError> {
        Ok(lock(&self.map)
            .get(key)
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .map(|(v, _)| v.clone()))
    }
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), InfraError> {
        lock(&self.map).insert(key.to_owned(), (value.to_vec(), expires_at));
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), InfraError> {
        lock(&self.map).remove(key);
        Ok(())
    }
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, InfraError> {
        let mut m = lock(&self.map);
        let n = m.len();
        m.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        Ok((n - m.len()) as u64)
    }
}

/// The fake outbox table, shared with the fake versions and comments repositories (which write
/// their messages "in the same transaction" as their own rows).
#[derive(Default)]
pub struct FakeOutbox {
    messages: OutboxLog,
}

impl FakeOutbox {
    pub fn new(messages: OutboxLog) -> Self {
        Self { messages }
    }
    /// Every message, in the order written.
    pub fn all(&self) -> Vec<OutboxMessage> {
        self.messages.lock().clone()
    }
    fn with<T>(
        &self,
        id: OutboxMessageId,
        f: impl FnOnce(&mut OutboxMessage) -> T,
    ) -> Result<T, InfraError> {
        let mut g = self.messages.lock();
        g.iter_mut()
            .find(|m| m.id == id)
            .map(f)
            .ok_or(InfraError::NotFound)
    }
}

#[async_trait]
impl Outbox for FakeOutbox {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<(), InfraError> {
        self.messages.append(std::slice::from_ref(message));
        Ok(())
    }
    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxMessage>, InfraError> {
        let mut v: Vec<_> = self
            .messages
            .lock()
            .iter()
            .filter(|m| m.is_due(now))
            .cloned()
            .collect();
        v.sort_by_key(|m| (m.created_at, m.id));
        v.truncate(limit as usize);
        Ok(v)
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, InfraError> {
        let mut g = self.messages.lock();
        let mut due: Vec<&mut OutboxMessage> = g.iter_mut().filter(|m| m.is_due(now)).collect();
        due.sort_by_key(|m| (m.created_at, m.id));
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|m| {
                m.attempts += 1;
                m.next_attempt_at = lease_until;
                m.clone()
            })
            .collect())
    }
    async fn mark_delivered(
        &self,
        id: OutboxMessageId,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        self.with(id, |m| m.delivered_at = Some(now))
    }
    async fn mark_failed(
        &self,
        id: OutboxMessageId,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        self.with(id, |m| {
            m.last_error = Some(error.to_owned());
            m.next_attempt_at = next_attempt_at;
        })
    }
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, InfraError> {
        let mut g = self.messages.lock();
        let n = g.len();
        g.retain(|m| {
            !(m.delivered_at.is_some_and(|t| t < before)
                || m.gave_up_at.is_some_and(|t| t < before))
        });
        Ok((n - g.len()) as u64)
    }
    async fn give_up(
        &self,
        id: OutboxMessageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        self.with(id, |m| {
            m.last_error = Some(error.to_owned());
            m.gave_up_at = Some(now);
        })
    }
}

/// The fakes have no database to lose.
pub struct AlwaysReady;

#[async_trait]
impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), InfraError> {
        Ok(())
    }
}

/// Draws a diagram as an SVG holding its source text; sources containing `error` fail. Counts calls.
#[derive(Default)]
pub struct FakeDiagrams {
    pub calls: std::sync::atomic::AtomicUsize,
}

impl planpush_document::DiagramRenderer for FakeDiagrams {
    fn render_svg(&self, source: &str) -> Result<String, String> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if source.contains("error") {
            return Err(format!(
                "cannot parse {:?}",
                source.lines().next().unwrap_or_default()
            ));
        }
        let text = source
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        Ok(format!(
            "<svg viewBox=\"0 0 100 20\"><text x=\"0\" y=\"15\">{text}</text></svg>"
        ))
    }
}
