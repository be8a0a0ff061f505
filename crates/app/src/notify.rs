//! Notifications: what the application tells a chat channel about a plan, and whether it does.
//!
//! The app decides *whether* (never for private plans; only when a channel is configured) and
//! *what* (a channel-neutral [`Notification`], stored as JSON in the outbox, in the same
//! transaction as the write it describes). A [`Notifier`] adapter (the `slack` crate) turns it into
//! the channel's format and delivers it; [`Deliveries`] is the background worker that drives it.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_comments::{AnchorState, Comment};
use planpush_plans::{Plan, Visibility};
use planpush_versions::{AnchorId, SectionIndex, Version};
use serde::{Deserialize, Serialize};

use crate::{Auditor, InfraError, OUTBOX_MAX_ATTEMPTS, OutboxMessage, Ports, backoff_from};

/// Longest comment body carried in a notification (characters); adapters may cut further.
pub const NOTIFY_BODY_CHARS: usize = 500;
/// Most sections listed in a version notification (the rest are counted in `more_sections`).
pub const NOTIFY_MAX_SECTIONS: usize = 20;
/// Most typed changes ("what changed" in the plan's terms) listed in a version notification; the
/// rest are summed up in a last "… and N more" line.
pub const NOTIFY_MAX_TYPED: usize = 8;

/// The plan a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRef {
    pub slug: String,
    pub title: String,
}

/// How a section changed in a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionChangeKind {
    Added,
    Changed,
    Removed,
}

/// One changed section of a new version; `anchor` makes the deep link (`/p/<slug>#<anchor>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionChange {
    pub anchor: String,
    pub title: String,
    pub change: SectionChangeKind,
    /// For a changed section: the words it gained and lost (absent in older outbox rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<WordChange>,
}

/// Words a changed section gained and lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordChange {
    pub inserted: usize,
    pub deleted: usize,
}

/// A channel-neutral notification: the outbox payload (JSON, tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// A push stored a new version (version 1 included: a new plan).
    VersionPushed {
        plan: PlanRef,
        version: u32,
        /// Login of who pushed.
        by: String,
        /// Added, changed and removed sections, in that order, at most [`NOTIFY_MAX_SECTIONS`].
        sections: Vec<SectionChange>,
        /// How many more changed sections there were.
        more_sections: usize,
        /// The "what changed" line ([`planpush_document::DiffSummary::sentence`]) against the
        /// previous version; absent for a new plan (and in older outbox rows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// What changed in the plan's terms, one line each ([`planpush_document::typed_lines`]),
        /// at most [`NOTIFY_MAX_TYPED`] and a "… and N more" line; empty for a new plan (and in
        /// older outbox rows).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        typed: Vec<String>,
    },
    /// A new thread or reply.
    CommentCreated {
        plan: PlanRef,
        comment_id: String,
        by: String,
        /// Where the thread is attached now (the deep link's fragment).
        anchor: String,
        /// That section's title, when the current version has it.
        section: Option<String>,
        /// The selected text the thread is about.
        quote: Option<String>,
        /// The body, at most [`NOTIFY_BODY_CHARS`] characters (cut with `…`).
        body: String,
        reply: bool,
    },
    /// Several pushes to one plan within the burst window ([`Notifications::with_burst`]), told in
    /// one message (chat channels only; webhooks get every version).
    VersionsPushed {
        plan: PlanRef,
        /// The versions, ascending (at least two).
        versions: Vec<u32>,
        /// Logins of who pushed them, in order of first push, without repeats.
        by: Vec<String>,
        /// The sections changed over the whole burst (a section added then changed is "added";
        /// added then removed is not listed); no word counts.
        sections: Vec<SectionChange>,
        more_sections: usize,
    },
    /// A private plan was published (webhooks only: chat channels get the three other events).
    PlanPublished {
        plan: PlanRef,
        /// Login of who published it.
        by: String,
    },
    /// Someone asked for a review of a version.
    ReviewRequested {
        plan: PlanRef,
        version: u32,
        by: String,
        /// Logins of the reviewers asked.
        reviewers: Vec<String>,
    },
    /// A reviewer approved a version or asked for changes.
    ReviewDecided {
        plan: PlanRef,
        version: u32,
        by: String,
        /// `approved` or `changes_requested`.
        verdict: String,
        /// The reviewer's comment, cut like a comment body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A thread was resolved.
    CommentResolved {
        plan: PlanRef,
        comment_id: String,
        by: String,
        anchor: String,
        section: Option<String>,
        /// The thread's body, cut like `CommentCreated`'s.
        body: String,
    },
}

impl Notification {
    /// The payload as stored in the outbox.
    pub fn to_json(&self) -> String {
        // A plain data enum of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
    /// Reads an outbox payload back.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// Whether, and to which outbox channels, notifications are written. Off by default (no
/// `SLACK_WEBHOOK_URL`, `TEAMS_WEBHOOK_URL` or `DISCORD_WEBHOOK_URL`): then nothing is ever enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    channels: Vec<String>,
    /// How long a new version's chat message waits for more pushes to the same plan
    /// (`NOTIFY_BURST_WINDOW_MS`); zero: sent at once.
    burst: Duration,
    /// Whether every inbox notification also enqueues an e-mail ([`EMAIL_CHANNEL`]).
    email: bool,
    /// `NOTIFY_RESOLVE_WINDOW_MS`; `None`: [`crate::RESOLVE_NOTIFY_WINDOW`].
    resolve_window: Option<Duration>,
}

/// The outbox channel of e-mail: one message per inbox notification, payload
/// `{"notification_id":"<id>"}`, written with the notification when e-mail is on
/// ([`Notifications::with_email`]).
pub const EMAIL_CHANNEL: &str = "email";

impl Notifications {
    /// No notifications.
    pub fn off() -> Self {
        Self::default()
    }
    /// Notifications are written for `channel` (the [`Notifier::channel`] that delivers them).
    pub fn to(channel: &str) -> Self {
        Self::off().and(channel)
    }
    /// Notifications are also written for `channel`: one outbox message per channel and event,
    /// so each channel is retried (and given up) on its own. Adding a channel twice has no effect.
    pub fn and(mut self, channel: &str) -> Self {
        if !self.channels.iter().any(|c| c == channel) {
            self.channels.push(channel.to_owned());
        }
        self
    }
    /// New versions' chat messages wait `window` for more pushes to the same plan; the worker then
    /// tells the whole burst in one message ([`Deliveries`]). Webhooks are never delayed.
    pub fn with_burst(mut self, window: Duration) -> Self {
        self.burst = window.max(Duration::zero());
        self
    }
    /// The burst window.
    pub fn burst(&self) -> Duration {
        self.burst
    }
    /// Every inbox notification also enqueues, in the same transaction, one [`EMAIL_CHANNEL`]
    /// message naming it (e-mail delivery decides then whether and when to send it). Independent
    /// of the chat channels: inbox notifications exist whether or not any channel is configured.
    pub fn with_email(mut self, on: bool) -> Self {
        self.email = on;
        self
    }
    /// A thread resolved again within `window` of its last announced resolution (reopened and
    /// resolved in between) is not announced again (`NOTIFY_RESOLVE_WINDOW_MS`; zero: every
    /// resolution is announced).
    pub fn with_resolve_window(mut self, window: Duration) -> Self {
        self.resolve_window = Some(window.max(Duration::zero()));
        self
    }
    /// The resolve/reopen window.
    pub fn resolve_window(&self) -> Duration {
        self.resolve_window
            .unwrap_or(crate::comments::RESOLVE_NOTIFY_WINDOW)
    }
    /// Whether inbox notifications enqueue e-mails.
    pub fn email(&self) -> bool {
        self.email
    }
    /// The outbox messages for inbox notifications `entries`: one [`EMAIL_CHANNEL`] message each
    /// when e-mail is on, none otherwise.
    pub fn email_messages(
        &self,
        entries: &[planpush_inbox::InboxEntry],
        now: DateTime<Utc>,
    ) -> Vec<OutboxMessage> {
        if !self.email {
            return vec![];
        }
        entries
            .iter()
            .map(|e| {
                let payload = serde_json::json!({ "notification_id": e.id.to_string() });
                OutboxMessage::new(EMAIL_CHANNEL, payload.to_string(), now)
            })
            .collect()
    }
    /// Whether notifications are written at all.
    pub fn enabled(&self) -> bool {
        !self.channels.is_empty()
    }
    /// The channels written to, in the order they were added.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }
    /// The outbox messages for `n` about `plan`, one per channel: none when off or when the plan
    /// is private. A publication goes to the webhooks only.
    pub fn messages(
        &self,
        plan: &Plan,
        n: &Notification,
        now: DateTime<Utc>,
    ) -> Vec<OutboxMessage> {
        if plan.visibility() != Visibility::Published || plan.is_deleted() {
            return vec![];
        }
        let payload = n.to_json();
        let webhooks_only = matches!(n, Notification::PlanPublished { .. });
        self.channels
            .iter()
            .filter(|channel| !webhooks_only || *channel == crate::WEBHOOKS_CHANNEL)
            .map(|channel| {
                let mut m = OutboxMessage::new(channel, payload.clone(), now);
                if matches!(n, Notification::VersionPushed { .. })
                    && *channel != crate::WEBHOOKS_CHANNEL
                {
                    m.next_attempt_at = now + self.burst;
                }
                m
            })
            .collect()
    }
}

pub(crate) fn plan_ref(plan: &Plan) -> PlanRef {
    PlanRef {
        slug: plan.slug().to_string(),
        title: plan.title().to_owned(),
    }
}

/// Cuts `s` to `max` characters, ending with `…` when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// What changed between the previous version's markup and `version`'s: the summary, and the word
/// counts of each changed section. `None` for a first version.
pub fn change_summary(previous_html: Option<&str>, version: &Version) -> Option<ChangeSummary> {
    use planpush_document::{borrowed, top_sections};
    let previous_html = previous_html?;
    let (old, new) = (top_sections(previous_html), top_sections(&version.html));
    Some(summary_of(
        planpush_document::section_changes(&borrowed(&old), &borrowed(&new)),
        planpush_document::typed_changes(previous_html, &version.html),
    ))
}

/// [`change_summary`] of two documents' outermost sections and typed indexes (what a push keeps
/// of the previous version it rendered, and builds of the new one while preparing it: nothing is
/// parsed or copied here); `None` never: the `Option` matches [`change_summary`]'s.
pub fn change_summary_of(
    previous: (
        &[planpush_document::SectionRef<'_>],
        &planpush_document::TypedIndex,
    ),
    current: (
        &[planpush_document::SectionRef<'_>],
        &planpush_document::TypedIndex,
    ),
) -> Option<ChangeSummary> {
    Some(summary_of(
        planpush_document::section_changes(previous.0, current.0),
        planpush_document::typed_diff(previous.1, current.1),
    ))
}

fn summary_of(
    (summary, words): (
        planpush_document::DiffSummary,
        Vec<(AnchorId, planpush_document::WordCounts)>,
    ),
    typed: Vec<planpush_document::TypedChange>,
) -> ChangeSummary {
    ChangeSummary {
        typed,
        summary,
        words: words
            .into_iter()
            .map(|(anchor, w)| {
                (
                    anchor,
                    WordChange {
                        inserted: w.inserted,
                        deleted: w.deleted,
                    },
                )
            })
            .collect(),
    }
}

/// [`change_summary`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    pub summary: planpush_document::DiffSummary,
    /// What changed in the plan's terms.
    pub typed: Vec<planpush_document::TypedChange>,
    pub words: std::collections::HashMap<AnchorId, WordChange>,
}

/// The notification of a new version. `previous` is the index of the version before it (titles
/// of removed sections come from there); `summary` what changed since it.
pub(crate) fn version_pushed(
    plan: &Plan,
    version: &Version,
    previous: Option<&SectionIndex>,
    summary: Option<&ChangeSummary>,
    by: &str,
) -> Notification {
    let changes = &version.meta.changes;
    let title = |index: Option<&SectionIndex>, a: &AnchorId| {
        index
            .and_then(|i| i.get(a))
            .map_or_else(|| a.to_string(), |e| e.title.clone())
    };
    let all: Vec<SectionChange> = changes
        .added
        .iter()
        .map(|a| {
            (
                a,
                SectionChangeKind::Added,
                title(Some(&version.sections), a),
            )
        })
        .chain(changes.changed.iter().map(|a| {
            (
                a,
                SectionChangeKind::Changed,
                title(Some(&version.sections), a),
            )
        }))
        .chain(
            changes
                .removed
                .iter()
                .map(|a| (a, SectionChangeKind::Removed, title(previous, a))),
        )
        .map(|(a, change, title)| SectionChange {
            anchor: a.to_string(),
            title,
            change,
            words: summary
                .filter(|_| change == SectionChangeKind::Changed)
                .and_then(|s| s.words.get(a).copied()),
        })
        .collect();
    let more_sections = all.len().saturating_sub(NOTIFY_MAX_SECTIONS);
    Notification::VersionPushed {
        plan: plan_ref(plan),
        version: version.meta.number.get(),
        by: by.to_owned(),
        sections: all.into_iter().take(NOTIFY_MAX_SECTIONS).collect(),
        more_sections,
        summary: summary.map(|s| s.summary.sentence()),
        // Changes in the plan's terms; plain section changes are already the `sections` lines.
        typed: summary.map_or_else(Vec::new, |s| {
            let vocabulary: Vec<_> = s
                .typed
                .iter()
                .filter(|c| c.kind != planpush_document::ElementKind::Section)
                .cloned()
                .collect();
            planpush_document::typed_lines(&vocabulary, NOTIFY_MAX_TYPED)
        }),
    }
}

/// Where a thread is attached now: its anchor, or where its quote moved to.
fn attached(thread: &Comment) -> &AnchorId {
    match &thread.state() {
        AnchorState::Moved { to, .. } => to,
        _ => thread.anchor(),
    }
}

/// The notification of a new thread or reply; `thread` is the comment itself or a reply's thread.
pub(crate) fn comment_created(
    plan: &Plan,
    comment: &Comment,
    thread: &Comment,
    sections: &SectionIndex,
    by: &str,
) -> Notification {
    let anchor = attached(thread);
    Notification::CommentCreated {
        plan: plan_ref(plan),
        comment_id: comment.id().to_string(),
        by: by.to_owned(),
        anchor: anchor.to_string(),
        section: sections.get(anchor).map(|e| e.title.clone()),
        quote: thread.quote().as_ref().map(|q| excerpt(q.exact(), 300)),
        body: excerpt(comment.body().as_str(), NOTIFY_BODY_CHARS),
        reply: !comment.is_thread(),
    }
}

/// The notification of a resolved thread.
pub(crate) fn comment_resolved(
    plan: &Plan,
    thread: &Comment,
    sections: Option<&SectionIndex>,
    by: &str,
) -> Notification {
    let anchor = attached(thread);
    Notification::CommentResolved {
        plan: plan_ref(plan),
        comment_id: thread.id().to_string(),
        by: by.to_owned(),
        anchor: anchor.to_string(),
        section: sections
            .and_then(|s| s.get(anchor))
            .map(|e| e.title.clone()),
        body: excerpt(thread.body().as_str(), NOTIFY_BODY_CHARS),
    }
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later: a timeout, a connection error, HTTP 5xx (or 429 without a hint).
    #[error("{0}")]
    Retryable(String),
    /// The channel asked to wait (HTTP 429 with `Retry-After`): retried no sooner than that, nor
    /// sooner than the backoff.
    #[error("{error}")]
    RateLimited {
        error: String,
        retry_after: Duration,
    },
    /// Retrying cannot help: the webhook was refused (HTTP 4xx), or the payload is unreadable.
    #[error("{0}")]
    Permanent(String),
}

/// Delivers outbox messages of one channel (the `slack` adapter implements it for Slack, Microsoft
/// Teams and Discord).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The outbox channel this notifier delivers (`slack`); notifications are written for it.
    fn channel(&self) -> &str;
    /// Whether it delivers messages of `channel`: its own [`Notifier::channel`], and for a notifier
    /// that owns a family of channels (the webhooks' `webhook:<id>`) those too.
    fn accepts(&self, channel: &str) -> bool {
        channel == self.channel()
    }
    /// Delivers one message. MUST finish within a bounded time (a timeout is `Retryable`), MUST
    /// send the message id as an idempotency key where the channel allows, and MUST NOT put
    /// secrets (the webhook URL) into error texts, which are stored and logged.
    async fn deliver(&self, message: &OutboxMessage) -> Result<(), DeliveryError>;
}

/// How the delivery worker retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// How long a claimed attempt keeps a message from other workers; longer than the notifier's
    /// timeout, so a message is retried only when its attempt is certainly over (or its worker dead).
    pub lease: Duration,
    /// The first retry's delay; it doubles with every failure, capped at one hour.
    pub retry_base: Duration,
    /// Failed attempts after which a message is given up (and the give-up audited).
    pub max_attempts: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            lease: Duration::seconds(60),
            retry_base: Duration::seconds(5),
            max_attempts: OUTBOX_MAX_ATTEMPTS,
        }
    }
}

/// What happened to one claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Failed; due again at the given time.
    Retrying(DateTime<Utc>),
    /// Given up (audited as `notification.dropped`).
    GaveUp,
}

/// The background delivery worker: claims one due message at a time, delivers it, records the
/// outcome. At least once: a message is marked delivered only after the notifier succeeded, so a
/// worker that dies mid-attempt leaves it to be retried when its lease ends.
pub struct Deliveries {
    ports: Ports,
    notifiers: Vec<std::sync::Arc<dyn Notifier>>,
    settings: DeliverySettings,
    audit: Auditor,
    /// Non-zero: a new version's chat message absorbs the later pushes to the same plan still
    /// waiting in their window ([`Notifications::with_burst`]).
    burst: Duration,
}

/// The sections changed over several versions, from each version's own changes in order: added
/// then changed stays added, added then removed disappears, removed then added is changed, and
/// otherwise the last change counts. Word counts are dropped (they do not add up).
fn merge_sections(lists: &[&[SectionChange]]) -> Vec<SectionChange> {
    let mut out: Vec<SectionChange> = vec![];
    for list in lists {
        for s in *list {
            let mut s = s.clone();
            s.words = None;
            match out.iter().position(|o| o.anchor == s.anchor) {
                None => out.push(s),
                Some(i) => {
                    use SectionChangeKind::*;
                    match (out[i].change, s.change) {
                        (Added, Removed) => {
                            out.remove(i);
                        }
                        (Added, _) => out[i].title = s.title,
                        (Removed, Added) => {
                            out[i].change = Changed;
                            out[i].title = s.title;
                        }
                        (_, kind) => {
                            out[i].change = kind;
                            out[i].title = s.title;
                        }
                    }
                }
            }
        }
    }
    // Added, changed, removed, as in a single version's message.
    out.sort_by_key(|s| match s.change {
        SectionChangeKind::Added => 0,
        SectionChangeKind::Changed => 1,
        SectionChangeKind::Removed => 2,
    });
    out
}

/// One message for a burst of version notifications of one plan (in push order); `None` unless
/// they are all about new versions of the same plan.
pub fn merge_versions(burst: &[Notification]) -> Option<Notification> {
    let mut plan_ref: Option<&PlanRef> = None;
    let mut versions = vec![];
    let mut by: Vec<String> = vec![];
    let mut lists: Vec<&[SectionChange]> = vec![];
    let mut more = 0;
    for n in burst {
        let (plan, vs, who, sections, more_sections) = match n {
            Notification::VersionPushed {
                plan,
                version,
                by,
                sections,
                more_sections,
                ..
            } => (
                plan,
                vec![*version],
                vec![by.clone()],
                sections,
                *more_sections,
            ),
            Notification::VersionsPushed {
                plan,
                versions,
                by,
                sections,
                more_sections,
            } => (plan, versions.clone(), by.clone(), sections, *more_sections),
            _ => return None,
        };
        if plan_ref.is_some_and(|p| p.slug != plan.slug) {
            return None;
        }
        plan_ref = Some(plan);
        versions.extend(vs);
        for w in who {
            if !by.contains(&w) {
                by.push(w);
            }
        }
        lists.push(sections);
        more += more_sections;
    }
    let plan = plan_ref?.clone();
    versions.sort_unstable();
    versions.dedup();
    let all = merge_sections(&lists);
    let more_sections = more + all.len().saturating_sub(NOTIFY_MAX_SECTIONS);
    Some(Notification::VersionsPushed {
        plan,
        versions,
        by,
        sections: all.into_iter().take(NOTIFY_MAX_SECTIONS).collect(),
        more_sections,
    })
}

impl Deliveries {
    pub fn new(
        ports: Ports,
        notifier: std::sync::Arc<dyn Notifier>,
        settings: DeliverySettings,
    ) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            notifiers: vec![notifier],
            settings,
            audit,
            burst: Duration::zero(),
        }
    }

    /// Tells bursts of pushes as one message (the window given to [`Notifications::with_burst`]).
    pub fn with_burst(mut self, window: Duration) -> Self {
        self.burst = window.max(Duration::zero());
        self
    }

    /// When `message` is a new version's chat message and later pushes to the same plan wait in
    /// their burst window on the same channel (never attempted), they are absorbed into it: its
    /// payload becomes one [`Notification::VersionsPushed`] and they are marked delivered, in one
    /// step that changes nothing if any of them was claimed meanwhile ([`crate::Outbox::absorb`]).
    async fn absorb_burst(
        &self,
        message: OutboxMessage,
        now: DateTime<Utc>,
    ) -> Result<OutboxMessage, InfraError> {
        if self.burst <= Duration::zero() || message.channel == crate::WEBHOOKS_CHANNEL {
            return Ok(message);
        }
        let Ok(first) = Notification::from_json(&message.payload) else {
            return Ok(message);
        };
        let slug = match &first {
            Notification::VersionPushed { plan, .. }
            | Notification::VersionsPushed { plan, .. } => plan.slug.clone(),
            _ => return Ok(message),
        };
        let mut later: Vec<(OutboxMessage, Notification)> = self
            .ports
            .outbox
            .recent(&message.channel, 200)
            .await?
            .into_iter()
            .filter(|m| {
                m.id != message.id
                    && m.attempts == 0
                    && m.delivered_at.is_none()
                    && m.gave_up_at.is_none()
                    && m.created_at >= message.created_at
            })
            .filter_map(|m| {
                let n = Notification::from_json(&m.payload).ok()?;
                match &n {
                    Notification::VersionPushed { plan, .. } if plan.slug == slug => Some((m, n)),
                    _ => None,
                }
            })
            .collect();
        if later.is_empty() {
            return Ok(message);
        }
        later.sort_by_key(|(m, _)| (m.created_at, m.id));
        let burst: Vec<Notification> = std::iter::once(first)
            .chain(later.iter().map(|(_, n)| n.clone()))
            .collect();
        let Some(merged) = merge_versions(&burst) else {
            return Ok(message);
        };
        let payload = merged.to_json();
        let absorbed: Vec<_> = later
            .iter()
            .map(|(m, _)| (m.id, m.next_attempt_at))
            .collect();
        if self
            .ports
            .outbox
            .absorb(message.id, &payload, &absorbed, now)
            .await?
        {
            Ok(OutboxMessage { payload, ..message })
        } else {
            Ok(message)
        }
    }

    /// Also delivers `notifier`'s channel (one worker drives every channel; a message is handed to
    /// the notifier whose [`Notifier::channel`] it names).
    pub fn with(mut self, notifier: std::sync::Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// The channels this worker delivers.
    pub fn channels(&self) -> Vec<&str> {
        self.notifiers.iter().map(|n| n.channel()).collect()
    }

    /// Claims the oldest due message at `now` and attempts it; `None` when nothing is due. The
    /// caller loops until `None`, then waits (the server polls every `OUTBOX_POLL_INTERVAL_MS`).
    pub async fn deliver_next(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<(OutboxMessage, Delivery)>, InfraError> {
        let Some(message) = self
            .ports
            .outbox
            .claim(now, now + self.settings.lease, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let message = self.absorb_burst(message, now).await?;
        let notifier = self.notifiers.iter().find(|n| n.accepts(&message.channel));
        let result = match notifier {
            None => Err(DeliveryError::Permanent(format!(
                "no notifier for channel {:?}",
                message.channel
            ))),
            // Attempts started but never finished (the worker stopped during each): stop here.
            Some(_) if message.attempts > self.settings.max_attempts => {
                Err(DeliveryError::Permanent(format!(
                    "{} attempts started without an outcome",
                    message.attempts - 1
                )))
            }
            Some(notifier) => notifier.deliver(&message).await,
        };
        let outcome = match result {
            Ok(()) => {
                self.ports.outbox.mark_delivered(message.id, now).await?;
                Delivery::Delivered
            }
            Err(e @ (DeliveryError::Retryable(_) | DeliveryError::RateLimited { .. }))
                if message.attempts < self.settings.max_attempts =>
            {
                let backoff = backoff_from(self.settings.retry_base, message.attempts);
                let wait = match &e {
                    DeliveryError::RateLimited { retry_after, .. } => {
                        backoff.max(*retry_after).min(Duration::hours(1))
                    }
                    _ => backoff,
                };
                let next = now + wait;
                let e = e.to_string();
                tracing::warn!(id = %message.id, attempts = message.attempts, error = %e, "notification failed; retrying later");
                self.ports.outbox.mark_failed(message.id, &e, next).await?;
                Delivery::Retrying(next)
            }
            Err(
                DeliveryError::Retryable(e)
                | DeliveryError::Permanent(e)
                | DeliveryError::RateLimited { error: e, .. },
            ) => {
                tracing::error!(id = %message.id, attempts = message.attempts, error = %e, "notification given up");
                self.ports.outbox.give_up(message.id, &e, now).await?;
                self.audit
                    .record(
                        AuditEvent::new(AuditAction::NotificationDropped, None, now)
                            .target("notification", message.id)
                            .detail("channel", message.channel.as_str())
                            .detail("attempts", message.attempts)
                            .detail("error", e.as_str()),
                    )
                    .await;
                Delivery::GaveUp
            }
        };
        Ok(Some((message, outcome)))
    }
}
