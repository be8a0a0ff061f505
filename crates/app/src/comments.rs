//! Comments on plans: threads anchored to elements (optionally to selected text), one level of
//! replies, edit and delete one's own, resolve and reopen by anyone who can see the plan; and
//! re-anchoring every thread after a push.
//!
//! A plan one may not see hides its comments too: every call answers `NotFound` for it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_comments::{
    AnchorState, Comment, CommentBody, CommentFilter, CommentId, CommentRepoError,
    CommentRuleError, DocText, StateFilter, TextQuote,
};
use planpush_identity::{UserId, UserRepoError};
use planpush_plans::{Plan, PlanId, PlanRepoError};
use planpush_roles::{Capability, Ownership};
use planpush_versions::{AnchorId, SectionIndex, Version, VersionNumber};

use crate::notify::{comment_created, comment_resolved};
use crate::{Actor, Auditor, CommentActivity, LiveEvent, Notifications, Ports, Principal, can_see};

/// Errors of the comment use cases; each maps to one API error code.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// The plan is unknown, deleted or not visible to the caller.
    #[error("no session with this id or name")]
    PlanNotFound,
    #[error("no comment with this id")]
    NotFound,
    /// `(code, message)`: bad input, e.g. `comment_too_long`, `unknown_anchor`.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    /// The comment was deleted, or a rule forbids the change in its state.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

fn unknown(e: impl Into<anyhow::Error>) -> CommentError {
    CommentError::Unknown(e.into())
}

impl From<CommentRuleError> for CommentError {
    fn from(e: CommentRuleError) -> Self {
        let msg = e.to_string();
        match e {
            CommentRuleError::Empty => Self::Invalid("empty_comment", msg),
            CommentRuleError::TooLong { .. } => Self::Invalid("comment_too_long", msg),
            CommentRuleError::BadQuote(_) => Self::Invalid("invalid_quote", msg),
            CommentRuleError::NestedReply => Self::Invalid("nested_reply", msg),
            CommentRuleError::NotAuthor => Self::Forbidden(msg),
            CommentRuleError::Deleted | CommentRuleError::NotAThread => Self::Conflict(msg),
        }
    }
}

/// Who wrote or resolved a comment, as shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: UserId,
    pub login: String,
    pub name: Option<String>,
}

/// A comment with its people resolved.
#[derive(Debug, Clone)]
pub struct CommentView {
    pub comment: Comment,
    pub author: Person,
    pub resolved_by: Option<Person>,
    /// The logins its body mentions that are mentions (lower-cased): people who may see the plan.
    /// Other `@words` stay plain text.
    pub mentions: Vec<String>,
}

/// A thread and its replies, oldest first.
#[derive(Debug, Clone)]
pub struct Thread {
    pub comment: CommentView,
    pub replies: Vec<CommentView>,
}

/// Input of a new comment or reply, as the API receives it.
#[derive(Debug, Clone, Default)]
pub struct NewComment {
    pub body: String,
    /// Required for a thread; a reply takes its thread's.
    pub anchor: Option<String>,
    /// `(exact, prefix, suffix)` of selected text.
    pub quote: Option<(String, String, String)>,
    pub parent_id: Option<String>,
}

/// A change to a comment: new text (author only), and/or resolve (`true`) / reopen (`false`).
#[derive(Debug, Clone, Default)]
pub struct CommentChange {
    pub body: Option<String>,
    pub resolved: Option<bool>,
}

/// Counts of re-anchoring after a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reanchored {
    pub anchored: usize,
    pub changed: usize,
    pub moved: usize,
    pub orphaned: usize,
}

/// A thread toggled resolved → open → resolved within this window is announced to the team's
/// channel once: later resolutions inside it write no notification (the audit log and the live
/// events still record each change; the toggling itself is rate-limited per user).
pub const RESOLVE_NOTIFY_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Clone)]
pub struct Comments {
    ports: Ports,
    audit: Auditor,
    notify: Notifications,
    /// When a "resolved" notification was last written per thread, by this process.
    resolve_notified: Arc<moka::sync::Cache<CommentId, DateTime<Utc>>>,
}

impl Comments {
    pub fn new(ports: Ports) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            audit,
            notify: Notifications::off(),
            resolve_notified: Arc::new(
                moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(std::time::Duration::from_secs(3600))
                    .build(),
            ),
        }
    }

    /// The same use cases, writing a notification with every new comment and every resolved
    /// thread of a published plan.
    pub fn with_notifications(mut self, notify: Notifications) -> Self {
        self.notify = notify;
        self
    }

    async fn visible_plan(&self, p: &Principal, id: PlanId) -> Result<Plan, CommentError> {
        match self.ports.plans.get(id).await {
            Ok(plan) if can_see(p, &plan) => Ok(plan),
            Ok(_) | Err(PlanRepoError::NotFound) => Err(CommentError::PlanNotFound),
            Err(e) => Err(unknown(e)),
        }
    }

    /// A comment on a plan the caller can see; anything else is `NotFound`.
    async fn visible_comment(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<(Plan, Comment), CommentError> {
        let id = CommentId::parse(id).map_err(|_| CommentError::NotFound)?;
        let comment = match self.ports.comments.get(id).await {
            Ok(c) => c,
            Err(CommentRepoError::NotFound) => return Err(CommentError::NotFound),
            Err(e) => return Err(unknown(e)),
        };
        let plan = self
            .visible_plan(p, comment.plan_id())
            .await
            .map_err(|e| match e {
                CommentError::PlanNotFound => CommentError::NotFound,
                e => e,
            })?;
        Ok((plan, comment))
    }

    fn may_comment(p: &Principal) -> Result<(), CommentError> {
        if p.can(Capability::Comment, Ownership::Others) {
            Ok(())
        } else {
            Err(CommentError::Forbidden(
                "your role may not comment on plans".into(),
            ))
        }
    }

    async fn people(&self, comments: &[Comment]) -> Result<HashMap<UserId, Person>, CommentError> {
        let mut out = HashMap::new();
        let ids = comments
            .iter()
            .flat_map(|c| std::iter::once(c.author_id()).chain(c.resolution().map(|r| r.by)));
        for id in ids {
            if out.contains_key(&id) {
                continue;
            }
            let person = match self.ports.users.get(id).await {
                Ok(u) => Person {
                    id,
                    login: u.login,
                    name: u.name,
                },
                Err(UserRepoError::NotFound) => Person {
                    id,
                    login: "(unknown)".into(),
                    name: None,
                },
                Err(e) => return Err(unknown(e)),
            };
            out.insert(id, person);
        }
        Ok(out)
    }

    fn view(people: &HashMap<UserId, Person>, mentions: &[String], c: Comment) -> CommentView {
        let person = |id: UserId| {
            people.get(&id).cloned().unwrap_or(Person {
                id,
                login: "(unknown)".into(),
                name: None,
            })
        };
        let mentions = planpush_inbox::mentioned_logins(c.body().as_str())
            .into_iter()
            .map(|l| l.to_lowercase())
            .filter(|l| mentions.contains(l))
            .collect();
        CommentView {
            mentions,
            author: person(c.author_id()),
            resolved_by: c.resolution().map(|r| person(r.by)),
            comment: c,
        }
    }

    async fn one(&self, plan: &Plan, c: Comment) -> Result<CommentView, CommentError> {
        let people = self.people(std::slice::from_ref(&c)).await?;
        let mentions = self.mentions(plan, std::slice::from_ref(&c)).await?;
        Ok(Self::view(&people, &mentions, c))
    }

    /// The mentions among `comments`' bodies ([`crate::inbox::visible_mentions`]).
    async fn mentions(
        &self,
        plan: &Plan,
        comments: &[Comment],
    ) -> Result<Vec<String>, CommentError> {
        crate::inbox::visible_mentions(
            &self.ports,
            plan,
            comments
                .iter()
                .filter(|c| !c.is_deleted())
                .map(|c| c.body().as_str()),
        )
        .await
        .map_err(CommentError::Unknown)
    }

    /// A plan's threads with their replies, filtered by state and anchor (the anchor a thread was
    /// written on or has moved to).
    pub async fn list(
        &self,
        p: &Principal,
        plan_id: PlanId,
        state: StateFilter,
        anchor: Option<&str>,
    ) -> Result<Vec<Thread>, CommentError> {
        let plan = self.visible_plan(p, plan_id).await?;
        let anchor = match anchor {
            Some(a) => Some(
                AnchorId::parse(a)
                    .map_err(|e| CommentError::Invalid("invalid_anchor", format!("anchor: {e}")))?,
            ),
            None => None,
        };
        let all = self
            .ports
            .comments
            .list(plan_id, &CommentFilter { state, anchor })
            .await
            .map_err(unknown)?;
        let people = self.people(&all).await?;
        let mentions = self.mentions(&plan, &all).await?;
        let mut threads: Vec<Thread> = vec![];
        let mut at: HashMap<CommentId, usize> = HashMap::new();
        let (roots, replies): (Vec<_>, Vec<_>) = all.into_iter().partition(Comment::is_thread);
        for c in roots {
            at.insert(c.id(), threads.len());
            threads.push(Thread {
                comment: Self::view(&people, &mentions, c),
                replies: vec![],
            });
        }
        for r in replies {
            if let Some(&i) = r.parent_id().as_ref().and_then(|id| at.get(id)) {
                threads[i].replies.push(Self::view(&people, &mentions, r));
            }
        }
        Ok(threads)
    }

    /// A new thread (on an anchor of the current version) or a reply.
    pub async fn create(
        &self,
        p: &Principal,
        plan_id: PlanId,
        input: NewComment,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<CommentView, CommentError> {
        let plan = self.visible_plan(p, plan_id).await?;
        Self::may_comment(p)?;
        let body = CommentBody::parse(&input.body)?;
        let latest = self
            .ports
            .versions
            .latest(plan.id())
            .await
            .map_err(unknown)?
            .ok_or_else(|| {
                CommentError::Conflict("this plan has no version to comment on".into())
            })?;
        let made_on = latest.meta.number;
        let (comment, thread) = match &input.parent_id {
            Some(parent) => {
                let parent_id = CommentId::parse(parent).map_err(|_| {
                    CommentError::Invalid("invalid_parent", "parent_id is not a comment id".into())
                })?;
                let parent = match self.ports.comments.get(parent_id).await {
                    Ok(c) if c.plan_id() == plan.id() => c,
                    Ok(_) | Err(CommentRepoError::NotFound) => {
                        return Err(CommentError::Invalid(
                            "invalid_parent",
                            "parent_id is not a comment of this plan".into(),
                        ));
                    }
                    Err(e) => return Err(unknown(e)),
                };
                (
                    Comment::reply(&parent, p.user_id, made_on, body, now)?,
                    Some(parent),
                )
            }
            None => {
                let raw = input.anchor.as_deref().unwrap_or_default();
                let anchor = AnchorId::parse(raw).map_err(|e| {
                    CommentError::Invalid("unknown_anchor", format!("anchor {raw:?}: {e}"))
                })?;
                if !latest.sections.contains(&anchor) {
                    return Err(CommentError::Invalid(
                        "unknown_anchor",
                        format!("the current version has no element with anchor {anchor:?}"),
                    ));
                }
                let quote = match &input.quote {
                    Some((exact, prefix, suffix)) => Some(TextQuote::new(exact, prefix, suffix)?),
                    None => None,
                };
                (
                    Comment::thread(plan.id(), p.user_id, made_on, anchor, quote, body, now),
                    None,
                )
            }
        };
        let thread = thread.as_ref().unwrap_or(&comment);
        let inbox =
            crate::inbox::comment_entries(&self.ports, &plan, &comment, thread, p.user_id, now)
                .await
                .map_err(CommentError::Unknown)?;
        let mut outbox = self.notify.messages(
            &plan,
            &comment_created(&plan, &comment, thread, &latest.sections, &p.login),
            now,
        );
        outbox.extend(self.notify.email_messages(&inbox, now));
        self.ports
            .comments
            .insert_notifying(&comment, &outbox, &inbox)
            .await
            .map_err(unknown)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::CommentCreated, Some(p.user_id), now)
                    .target("comment", comment.id())
                    .ip(ip),
            )
            .await;
        let activity = if comment.parent_id().is_some() {
            CommentActivity::Replied
        } else {
            CommentActivity::Created
        };
        announce(&self.ports, p, &comment, activity).await;
        self.one(&plan, comment).await
    }

    /// Edits (author only) and/or resolves or reopens (anyone who can see the plan and comment).
    pub async fn update(
        &self,
        p: &Principal,
        id: &str,
        change: CommentChange,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<CommentView, CommentError> {
        let (plan, mut comment) = self.visible_comment(p, id).await?;
        Self::may_comment(p)?;
        let mut events = vec![];
        if let Some(body) = &change.body {
            comment.edit(p.user_id, CommentBody::parse(body)?, now)?;
            events.push(AuditAction::CommentEdited);
        }
        match change.resolved {
            Some(true) if comment.resolve(p.user_id, now)? => {
                events.push(AuditAction::CommentResolved)
            }
            Some(false) if comment.reopen()? => events.push(AuditAction::CommentReopened),
            _ => {}
        }
        let mut outbox = vec![];
        let recently_announced = self
            .resolve_notified
            .get(&comment.id())
            .is_some_and(|at| now - at < RESOLVE_NOTIFY_WINDOW);
        if self.notify.enabled()
            && events.contains(&AuditAction::CommentResolved)
            && !recently_announced
        {
            let latest = self
                .ports
                .versions
                .latest(plan.id())
                .await
                .map_err(unknown)?;
            let sections = latest.as_ref().map(|v| &v.sections);
            let n = comment_resolved(&plan, &comment, sections, &p.login);
            outbox = self.notify.messages(&plan, &n, now);
        }
        if !events.is_empty() {
            self.ports
                .comments
                .update(&comment, &outbox)
                .await
                .map_err(unknown)?;
        }
        if !outbox.is_empty() && events.contains(&AuditAction::CommentResolved) {
            self.resolve_notified.insert(comment.id(), now);
        }
        for action in events {
            self.audit
                .record(
                    AuditEvent::new(action, Some(p.user_id), now)
                        .target("comment", comment.id())
                        .ip(ip),
                )
                .await;
            let activity = match action {
                AuditAction::CommentResolved => CommentActivity::Resolved,
                AuditAction::CommentReopened => CommentActivity::Reopened,
                _ => CommentActivity::Edited,
            };
            announce(&self.ports, p, &comment, activity).await;
        }
        self.one(&plan, comment).await
    }

    /// Deletes one's own comment (soft: it shows as deleted, replies keep their place). Returns
    /// the plan it was on.
    pub async fn delete(
        &self,
        p: &Principal,
        id: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<PlanId, CommentError> {
        let (_, mut comment) = self.visible_comment(p, id).await?;
        comment.delete(p.user_id, now)?;
        self.ports
            .comments
            .update(&comment, &[])
            .await
            .map_err(unknown)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::CommentDeleted, Some(p.user_id), now)
                    .target("comment", comment.id())
                    .ip(ip),
            )
            .await;
        announce(&self.ports, p, &comment, CommentActivity::Deleted).await;
        Ok(comment.plan_id())
    }

    /// After a push: every open thread of the plan gets its state against the new version.
    /// `previous` is the index of the version before it.
    pub async fn reanchor(
        &self,
        plan_id: PlanId,
        previous: Option<&SectionIndex>,
        current: &Version,
    ) -> Result<Reanchored, CommentError> {
        reanchor_plan(&self.ports, plan_id, previous, current).await
    }
}

/// Tells the plan's open viewers what happened to `c`.
async fn announce(ports: &Ports, p: &Principal, c: &Comment, activity: CommentActivity) {
    let event = LiveEvent::Comment {
        activity,
        comment_id: c.id().to_string(),
        thread_id: c.parent_id().unwrap_or(c.id()).to_string(),
        anchor: Some(c.anchor().as_str().to_owned()),
        by: Actor {
            login: p.login.clone(),
        },
    };
    crate::events::publish(ports, c.plan_id(), event).await;
}

/// Re-anchors every open thread of a plan; only states that differ are written, all at once.
pub(crate) async fn reanchor_plan(
    ports: &Ports,
    plan_id: PlanId,
    previous: Option<&SectionIndex>,
    current: &Version,
) -> Result<Reanchored, CommentError> {
    let threads: Vec<Comment> = ports
        .comments
        .list(
            plan_id,
            &CommentFilter {
                state: StateFilter::Open,
                anchor: None,
            },
        )
        .await
        .map_err(unknown)?
        .into_iter()
        .filter(|c| c.is_thread() && !c.is_deleted())
        .collect();
    reanchor_all(&threads, previous, current, ports).await
}

/// Computes and stores new states for `threads`.
async fn reanchor_all(
    threads: &[Comment],
    previous: Option<&SectionIndex>,
    current: &Version,
    ports: &Ports,
) -> Result<Reanchored, CommentError> {
    let mut counts = Reanchored::default();
    if threads.is_empty() {
        return Ok(counts);
    }
    // Threads whose anchor is still there get their state from the section hashes alone; only
    // threads whose anchor is gone look for their place in the text (of this version, and by
    // content in the version before), so a push that keeps every commented section never
    // parses the document for re-anchoring.
    let lost = threads
        .iter()
        .any(|t| current.sections.get(t.anchor()).is_none());
    let doc = if lost {
        doc_text(&current.html)
    } else {
        DocText::new("", vec![])
    };
    let before = match current.meta.number.get().checked_sub(1) {
        Some(n) if lost && n > 0 => previous_text(ports, current.meta.plan_id, n).await,
        _ => None,
    };
    let mut updates = vec![];
    for t in threads {
        let state =
            planpush_comments::reanchor_with(t, previous, &current.sections, &doc, before.as_ref());
        match &state {
            AnchorState::Anchored => counts.anchored += 1,
            AnchorState::Changed => counts.changed += 1,
            AnchorState::Moved { .. } => counts.moved += 1,
            AnchorState::Orphaned => counts.orphaned += 1,
        }
        if &state != t.state() {
            updates.push((t.id(), state));
        }
    }
    if !updates.is_empty() {
        ports.comments.set_states(&updates).await.map_err(unknown)?;
    }
    Ok(counts)
}

/// A version's text with its elements' kinds and content hashes, for re-anchoring.
fn doc_text(html: &str) -> DocText {
    let (text, spans) = planpush_document::anchored_text(html);
    DocText::new(&text, spans).with_elements(planpush_document::element_prints(html))
}

/// The text of version `n` of a plan, if it is still stored (an expired snapshot has none: its
/// threads can then only follow their quotes).
async fn previous_text(ports: &Ports, plan_id: PlanId, n: u32) -> Option<DocText> {
    let number = VersionNumber::new(n).ok()?;
    match ports.versions.get(plan_id, number).await {
        Ok(v) => Some(doc_text(&v.html)),
        Err(e) => {
            tracing::warn!(error = %e, plan = %plan_id, "the previous version could not be read for re-anchoring");
            None
        }
    }
}

/// Marks the live threads of `plan_id` among `ids` as addressed in `version`.
pub(crate) async fn mark_addressed(
    ports: &Ports,
    plan_id: PlanId,
    version: VersionNumber,
    ids: &[planpush_comments::CommentId],
) -> Result<crate::Addressed, CommentError> {
    let mut out = crate::Addressed::default();
    for &id in ids {
        let mut c = match ports.comments.get(id).await {
            Ok(c) if c.plan_id() == plan_id && c.is_thread() && !c.is_deleted() => c,
            Ok(_) | Err(planpush_comments::CommentRepoError::NotFound) => {
                out.ignored.push(id);
                continue;
            }
            Err(e) => return Err(unknown(e)),
        };
        if c.mark_addressed(version).unwrap_or(false) {
            ports.comments.update(&c, &[]).await.map_err(unknown)?;
        }
        out.marked.push(id);
    }
    Ok(out)
}
