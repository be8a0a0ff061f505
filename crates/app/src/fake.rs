//! In-memory [`Ports`], for tests of the application and the web layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_audit::fake::FakeAudit;
use planpush_comments::fake::FakeComments;
use planpush_identity::UserRepository;
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
    let inbox = planpush_inbox::fake::InboxLog::default();
    let versions: Arc<FakeVersions> = Arc::new(
        FakeVersions::new(plans.clone())
            .with_outbox(outbox.clone())
            .with_inbox(inbox.clone())
            .with_audit(audit.clone()),
    );
    let comments: Arc<FakeComments> = Arc::new(
        FakeComments::default()
            .with_outbox(outbox.clone())
            .with_inbox(inbox.clone()),
    );
    Ports {
        users: users.clone(),
        tokens: Arc::new(FakeTokens::default()),
        device_grants: Arc::new(FakeDeviceGrants::default()),
        web_sessions: Arc::new(FakeWebSessions::default()),
        roles: Arc::new(FakeRoles::new(users.clone())),
        plans: plans.clone(),
        plan_views: Arc::new(FakePlanViews::default()),
        reviews: Arc::new(planpush_reviews::fake::FakeReviews::default()),
        inbox: Arc::new(planpush_inbox::fake::FakeInbox::new(
            inbox,
            plans.clone(),
            users.clone(),
        )),
        versions: versions.clone(),
        comments: comments.clone(),
        audit_sink: audit.clone(),
        audit_query: audit,
        kv: Arc::new(FakeKv::default()),
        outbox: Arc::new(FakeOutbox::new(outbox.clone())),
        webhooks: Arc::new(FakeWebhooks::new(outbox.clone())),
        email_preferences: Arc::new(FakeEmailPreferences::new(outbox)),
        readiness: Arc::new(AlwaysReady),
        events: Arc::new(LocalBus::new(1)),
        scim: Arc::new(FakeScim::new(users)),
        search: Arc::new(FakeSearch {
            plans,
            versions,
            comments,
        }),
        presence: Arc::new(FakePresence::default()),
    }
}

/// A reader's plan, user and expiry.
type ReaderRow = (
    planpush_plans::PlanId,
    planpush_identity::UserId,
    DateTime<Utc>,
);

/// [`PresenceRepository`] in memory: reader → (plan, user, expiry).
#[derive(Default)]
pub struct FakePresence {
    rows: Mutex<HashMap<String, ReaderRow>>,
}

#[async_trait]
impl PresenceRepository for FakePresence {
    async fn upsert(
        &self,
        reader: &str,
        plan: planpush_plans::PlanId,
        user: planpush_identity::UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        lock(&self.rows).insert(reader.to_owned(), (plan, user, expires_at));
        Ok(())
    }
    async fn remove(&self, reader: &str) -> Result<(), InfraError> {
        lock(&self.rows).remove(reader);
        Ok(())
    }
    async fn readers(
        &self,
        plan: planpush_plans::PlanId,
        now: DateTime<Utc>,
    ) -> Result<Vec<planpush_identity::UserId>, InfraError> {
        let mut out: Vec<_> = lock(&self.rows)
            .values()
            .filter(|(p, _, exp)| *p == plan && *exp > now)
            .map(|(_, u, _)| *u)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, InfraError> {
        let mut rows = lock(&self.rows);
        let n = rows.len();
        rows.retain(|_, (_, _, exp)| *exp > now);
        Ok((n - rows.len()) as u64)
    }
}

/// [`SearchRepository`] computed from the other fakes at every query (so it is always "in the
/// same transaction"): the same entries as the store's index, every term a word prefix, ranked
/// by matching words with title matches counting five times.
pub struct FakeSearch {
    plans: Arc<FakePlans>,
    versions: Arc<FakeVersions>,
    comments: Arc<FakeComments>,
}

fn fake_words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// `None` unless every term is a prefix of a word of `title` or `text`; else the score.
fn fake_score(terms: &[String], title: &str, text: &str) -> Option<f64> {
    let (tw, xw): (Vec<String>, Vec<String>) =
        (fake_words(title).collect(), fake_words(text).collect());
    let mut score = 0.0;
    for t in terms {
        let hits = |ws: &[String]| ws.iter().filter(|w| w.starts_with(t.as_str())).count();
        let (a, b) = (hits(&tw), hits(&xw));
        if a + b == 0 {
            return None;
        }
        score += (5 * a + b) as f64;
    }
    Some(score)
}

#[async_trait]
impl SearchRepository for FakeSearch {
    async fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, InfraError> {
        use planpush_comments::{CommentFilter, CommentRepository, StateFilter};
        use planpush_plans::{PlanFilter, PlanRepository};
        use planpush_versions::VersionRepository;
        if q.terms.is_empty() {
            return Ok(vec![]);
        }
        let unknown = |e: String| InfraError::Unknown(anyhow::anyhow!(e));
        let plans = self
            .plans
            .list(PlanFilter {
                scope: q.scope,
                include_archived: q.include_archived,
            })
            .await
            .map_err(|e| unknown(e.to_string()))?;
        let mut hits = vec![];
        for plan in plans {
            let hit = |kind, anchor: Option<String>, comment_id, title: &str, text: &str, rank| {
                SearchHit {
                    plan_id: plan.id(),
                    slug: plan.slug().to_string(),
                    plan_title: plan.title().to_owned(),
                    visibility: plan.visibility(),
                    owner_id: plan.owner_id(),
                    archived: plan.is_archived(),
                    kind,
                    anchor,
                    comment_id,
                    title: title.to_owned(),
                    text: text.to_owned(),
                    rank,
                }
            };
            let units = match self.versions.latest(plan.id()).await {
                Ok(Some(v)) => planpush_document::text_units(&v.html),
                Ok(None) => vec![],
                Err(e) => return Err(unknown(e.to_string())),
            };
            let loose = units
                .iter()
                .find(|u| u.anchor.is_none())
                .map_or("", |u| u.text.as_str());
            if let Some(r) = fake_score(&q.terms, plan.title(), loose) {
                hits.push(hit(SearchKind::Plan, None, None, "", loose, r));
            }
            for u in units.iter().filter(|u| u.anchor.is_some()) {
                if let Some(r) = fake_score(&q.terms, &u.title, &u.text) {
                    let anchor = u.anchor.as_ref().map(|a| a.to_string());
                    hits.push(hit(SearchKind::Section, anchor, None, &u.title, &u.text, r));
                }
            }
            let comments = self
                .comments
                .list(
                    plan.id(),
                    &CommentFilter {
                        state: StateFilter::All,
                        anchor: None,
                    },
                )
                .await
                .map_err(|e| unknown(e.to_string()))?;
            for c in comments.iter().filter(|c| !c.is_deleted()) {
                if let Some(r) = fake_score(&q.terms, "", c.body().as_str()) {
                    hits.push(hit(
                        SearchKind::Comment,
                        Some(c.anchor().to_string()),
                        Some(c.id().to_string()),
                        "",
                        c.body().as_str(),
                        r,
                    ));
                }
            }
        }
        // Ranked among at most `candidates` matches (the store keeps the newest; here, the first).
        hits.truncate(q.candidates.max(q.limit));
        hits.sort_by(|a, b| b.rank.total_cmp(&a.rank));
        hits.truncate(q.limit);
        Ok(hits)
    }
}

/// In-memory [`ScimRepository`] over the same [`FakeUsers`] as the other fakes.
pub struct FakeScim {
    users: Arc<FakeUsers>,
    inner: Mutex<(Vec<ScimUser>, Vec<ScimGroup>)>,
}

impl FakeScim {
    pub fn new(users: Arc<FakeUsers>) -> Self {
        Self {
            users,
            inner: Mutex::default(),
        }
    }
}

fn name_clash(records: &[ScimUser], me: planpush_identity::UserId, name: &str) -> bool {
    records
        .iter()
        .any(|r| r.user_id != me && r.user_name.to_lowercase() == name.to_lowercase())
}

impl FakeScim {
    fn check_group(&self, groups: &[ScimGroup], g: &ScimGroup) -> Result<(), ScimRepoError> {
        if groups
            .iter()
            .any(|x| x.id != g.id && x.display_name.to_lowercase() == g.display_name.to_lowercase())
        {
            return Err(ScimRepoError::DisplayNameTaken);
        }
        if let Some(m) = g.members.iter().find(|m| !self.users.contains(**m)) {
            return Err(ScimRepoError::UnknownMember(*m));
        }
        Ok(())
    }
}

#[async_trait]
impl ScimRepository for FakeScim {
    async fn create_user(
        &self,
        user: &planpush_identity::User,
        record: &ScimUser,
    ) -> Result<(), ScimRepoError> {
        let mut g = lock(&self.inner);
        if name_clash(&g.0, record.user_id, &record.user_name) {
            return Err(ScimRepoError::UserNameTaken);
        }
        self.users.insert(user);
        g.0.push(record.clone());
        Ok(())
    }
    async fn adopt_user(&self, record: &ScimUser) -> Result<(), ScimRepoError> {
        let mut g = lock(&self.inner);
        if !self.users.contains(record.user_id) {
            return Err(ScimRepoError::NotFound);
        }
        if g.0.iter().any(|r| r.user_id == record.user_id) {
            return Err(ScimRepoError::AlreadyProvisioned);
        }
        if name_clash(&g.0, record.user_id, &record.user_name) {
            return Err(ScimRepoError::UserNameTaken);
        }
        g.0.push(record.clone());
        Ok(())
    }
    async fn get_user(&self, id: planpush_identity::UserId) -> Result<ScimUser, ScimRepoError> {
        lock(&self.inner)
            .0
            .iter()
            .find(|r| r.user_id == id)
            .cloned()
            .ok_or(ScimRepoError::NotFound)
    }
    async fn find_user_by_name(&self, user_name: &str) -> Result<Option<ScimUser>, ScimRepoError> {
        Ok(lock(&self.inner)
            .0
            .iter()
            .find(|r| r.user_name.to_lowercase() == user_name.to_lowercase())
            .cloned())
    }
    async fn list_users(&self) -> Result<Vec<ScimUser>, ScimRepoError> {
        let mut v: Vec<ScimUser> = lock(&self.inner)
            .0
            .iter()
            .filter(|r| r.deleted_at.is_none())
            .cloned()
            .collect();
        v.sort_by_key(|r| r.created_at);
        Ok(v)
    }
    async fn update_user(
        &self,
        user: &planpush_identity::User,
        record: &ScimUser,
    ) -> Result<(), ScimRepoError> {
        let mut g = lock(&self.inner);
        if !g.0.iter().any(|r| r.user_id == record.user_id) {
            return Err(ScimRepoError::NotFound);
        }
        if name_clash(&g.0, record.user_id, &record.user_name) {
            return Err(ScimRepoError::UserNameTaken);
        }
        let mut stored = futures::executor::block_on(self.users.get(user.id))
            .map_err(|_| ScimRepoError::NotFound)?;
        stored.login = user.login.clone();
        stored.name = user.name.clone();
        stored.email = user.email.clone();
        futures::executor::block_on(self.users.update(&stored))
            .map_err(|e| ScimRepoError::Unknown(e.into()))?;
        if let Some(slot) = g.0.iter_mut().find(|r| r.user_id == record.user_id) {
            *slot = record.clone();
        }
        Ok(())
    }
    async fn create_group(&self, group: &ScimGroup) -> Result<(), ScimRepoError> {
        let mut g = lock(&self.inner);
        self.check_group(&g.1, group)?;
        g.1.push(group.clone());
        Ok(())
    }
    async fn get_group(&self, id: ScimGroupId) -> Result<ScimGroup, ScimRepoError> {
        lock(&self.inner)
            .1
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or(ScimRepoError::NotFound)
    }
    async fn list_groups(&self) -> Result<Vec<ScimGroup>, ScimRepoError> {
        let mut v = lock(&self.inner).1.clone();
        v.sort_by_key(|g| g.created_at);
        Ok(v)
    }
    async fn update_group(&self, group: &ScimGroup) -> Result<(), ScimRepoError> {
        let mut g = lock(&self.inner);
        if !g.1.iter().any(|x| x.id == group.id) {
            return Err(ScimRepoError::NotFound);
        }
        if g.1
            .iter()
            .any(|x| x.id == group.id && x.version != group.version)
        {
            return Err(ScimRepoError::Conflict);
        }
        self.check_group(&g.1, group)?;
        if let Some(slot) = g.1.iter_mut().find(|x| x.id == group.id) {
            *slot = group.clone();
            slot.version += 1;
        }
        Ok(())
    }
    async fn delete_group(&self, id: ScimGroupId) -> Result<(), ScimRepoError> {
        let mut g = lock(&self.inner);
        let before = g.1.len();
        g.1.retain(|x| x.id != id);
        if g.1.len() == before {
            return Err(ScimRepoError::NotFound);
        }
        Ok(())
    }
    async fn groups_of(
        &self,
        user: planpush_identity::UserId,
    ) -> Result<Vec<(ScimGroupId, String)>, ScimRepoError> {
        let mut v: Vec<(ScimGroupId, String)> = lock(&self.inner)
            .1
            .iter()
            .filter(|g| g.members.contains(&user))
            .map(|g| (g.id, g.display_name.clone()))
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(v)
    }
    async fn provisioned(&self) -> Result<Vec<planpush_identity::UserId>, ScimRepoError> {
        Ok(lock(&self.inner).0.iter().map(|r| r.user_id).collect())
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

/// The fake webhook registry (deleting a hook drops its pending messages from the shared outbox).
pub struct FakeWebhooks {
    hooks: std::sync::Mutex<Vec<Webhook>>,
    outbox: OutboxLog,
}

impl FakeWebhooks {
    /// With no hook registered, a write that would fan an event out to the hooks writes nothing
    /// on [`WEBHOOKS_CHANNEL`] (as the database adapter does).
    pub fn new(outbox: OutboxLog) -> Self {
        outbox.silence(WEBHOOKS_CHANNEL, true);
        Self {
            hooks: std::sync::Mutex::default(),
            outbox,
        }
    }
    fn hooks(&self) -> std::sync::MutexGuard<'_, Vec<Webhook>> {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl WebhookRepository for FakeWebhooks {
    async fn insert(&self, hook: &Webhook) -> Result<(), InfraError> {
        let mut g = self.hooks();
        if g.iter().any(|h| h.id == hook.id) {
            return Err(InfraError::Unknown(anyhow::anyhow!("duplicate webhook id")));
        }
        g.push(hook.clone());
        self.outbox.silence(WEBHOOKS_CHANNEL, false);
        Ok(())
    }
    async fn list(&self) -> Result<Vec<Webhook>, InfraError> {
        let mut v = self.hooks().clone();
        v.sort_by_key(|h| (h.created_at, h.id));
        Ok(v)
    }
    async fn get(&self, id: WebhookId) -> Result<Webhook, InfraError> {
        self.hooks()
            .iter()
            .find(|h| h.id == id)
            .cloned()
            .ok_or(InfraError::NotFound)
    }
    async fn delete(&self, id: WebhookId) -> Result<(), InfraError> {
        let mut g = self.hooks();
        let n = g.len();
        g.retain(|h| h.id != id);
        if g.len() == n {
            return Err(InfraError::NotFound);
        }
        self.outbox.silence(WEBHOOKS_CHANNEL, g.is_empty());
        let channel = hook_channel(id);
        self.outbox.lock().retain(|m| {
            !(m.channel == channel && m.delivered_at.is_none() && m.gave_up_at.is_none())
        });
        Ok(())
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
        self.messages.lock().push(message.clone());
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
    async fn fan_out(
        &self,
        id: OutboxMessageId,
        messages: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<bool, InfraError> {
        let mut g = self.messages.lock();
        let m = g
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(InfraError::NotFound)?;
        if m.delivered_at.is_some() || m.gave_up_at.is_some() {
            return Ok(false);
        }
        m.delivered_at = Some(now);
        g.extend_from_slice(messages);
        Ok(true)
    }
    async fn absorb(
        &self,
        id: OutboxMessageId,
        payload: &str,
        absorbed: &[(OutboxMessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<bool, InfraError> {
        let mut g = self.messages.lock();
        if !g.iter().any(|m| m.id == id) {
            return Err(InfraError::NotFound);
        }
        let untouched = |m: &OutboxMessage, due: DateTime<Utc>| {
            m.attempts == 0
                && m.delivered_at.is_none()
                && m.gave_up_at.is_none()
                && m.next_attempt_at == due
        };
        let all_free = absorbed
            .iter()
            .all(|(a, due)| g.iter().any(|m| m.id == *a && untouched(m, *due)));
        if !all_free {
            return Ok(false);
        }
        for m in g.iter_mut() {
            if m.id == id {
                m.payload = payload.to_owned();
            } else if absorbed.iter().any(|(a, _)| *a == m.id) {
                m.delivered_at = Some(now);
            }
        }
        Ok(true)
    }
    async fn recent(&self, channel: &str, limit: u32) -> Result<Vec<OutboxMessage>, InfraError> {
        let mut v: Vec<_> = self
            .messages
            .lock()
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect();
        v.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        v.truncate(limit as usize);
        Ok(v)
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

/// [`EmailPreferenceRepository`] in memory; digests are written to the shared outbox log.
pub struct FakeEmailPreferences {
    prefs: Mutex<HashMap<planpush_identity::UserId, EmailPreference>>,
    outbox: OutboxLog,
}

impl FakeEmailPreferences {
    pub fn new(outbox: OutboxLog) -> Self {
        Self {
            prefs: Mutex::default(),
            outbox,
        }
    }
    fn prefs(&self) -> MutexGuard<'_, HashMap<planpush_identity::UserId, EmailPreference>> {
        self.prefs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl EmailPreferenceRepository for FakeEmailPreferences {
    async fn get(
        &self,
        user: planpush_identity::UserId,
    ) -> Result<Option<EmailPreference>, InfraError> {
        Ok(self.prefs().get(&user).copied())
    }
    async fn set_mode(
        &self,
        user: planpush_identity::UserId,
        mode: EmailMode,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let mut g = self.prefs();
        let old = g.get(&user).copied();
        let last_digest_at = match old {
            Some(p) if p.mode == EmailMode::Daily => p.last_digest_at,
            _ if mode == EmailMode::Daily => Some(now),
            Some(p) => p.last_digest_at,
            None => None,
        };
        g.insert(
            user,
            EmailPreference {
                mode,
                last_digest_at,
                updated_at: now,
            },
        );
        Ok(())
    }
    async fn daily(
        &self,
    ) -> Result<Vec<(planpush_identity::UserId, Option<DateTime<Utc>>)>, InfraError> {
        let mut v: Vec<_> = self
            .prefs()
            .iter()
            .filter(|(_, p)| p.mode == EmailMode::Daily)
            .map(|(u, p)| (*u, p.last_digest_at))
            .collect();
        v.sort_by_key(|(u, _)| u.to_string());
        Ok(v)
    }
    async fn record_digest(
        &self,
        user: planpush_identity::UserId,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        message: Option<&OutboxMessage>,
    ) -> Result<bool, InfraError> {
        let mut g = self.prefs();
        match g.get_mut(&user) {
            Some(p) if p.mode == EmailMode::Daily && p.last_digest_at == previous => {
                p.last_digest_at = Some(now);
                if let Some(m) = message {
                    self.outbox.append(std::slice::from_ref(m));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// [`InboxSource`] over a list (tests add items with [`ListInbox::push`]).
#[derive(Default)]
pub struct ListInbox {
    items: Mutex<Vec<InboxItem>>,
}

impl ListInbox {
    pub fn push(&self, item: InboxItem) {
        self.items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(item);
    }
    /// Marks `id` read at `at`.
    pub fn mark_read(&self, id: &str, at: DateTime<Utc>) {
        for i in self
            .items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter_mut()
            .filter(|i| i.id == id)
        {
            i.read_at = Some(at);
        }
    }
}

#[async_trait]
impl InboxSource for ListInbox {
    async fn notification(&self, id: &str) -> Result<Option<InboxItem>, InfraError> {
        Ok(self
            .items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|i| i.id == id)
            .cloned())
    }
    async fn unread_since(
        &self,
        user: planpush_identity::UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<InboxItem>, InfraError> {
        Ok(self
            .items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|i| i.recipient == user && i.created_at > since && i.read_at.is_none())
            .cloned()
            .collect())
    }
}
