//! The notification inbox: what a person is told about plans they care about, and the rule that
//! decides who is told.
//!
//! - [`InboxEntry`]: one notification for one person (a mention, a reply on a thread of theirs,
//!   a new thread on a plan they own or follow, a new version of a plan they follow). Entries are
//!   written by the comment and version repositories **in the same transaction** as the write that
//!   causes them (`CommentRepository::insert_notifying`, `VersionRepository::commit_notifying`).
//! - [`mentions`]: `@login` in a comment body.
//! - [`comment_recipients`] / [`version_recipients`]: who hears of an event, each person once,
//!   never the actor, never someone who muted the plan or may not see it.
//! - [`FollowState`]: a person's explicit choice for one plan (follow with the button, or mute);
//!   owners and commenters follow implicitly.
//! - [`InboxRepository`]: the port (reading, marking read, follow/mute, what e-mail needs).
//!
//! Architecture invariant: pure; time comes in as a parameter, no I/O.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::UserId;
use planpush_plans::PlanId;
use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod mention;
mod recipients;

pub use mention::{Mention, mentioned_logins, mentions};
pub use recipients::{Audience, CommentEvent, comment_recipients, version_recipients};

planpush_identity::uuid_id!(NotificationId, "an inbox notification", "notification id");

/// Longest excerpt kept with a notification (characters).
pub const EXCERPT_CHARS: usize = 280;

/// Why someone was notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A comment or reply mentions them.
    Mention,
    /// A reply on a thread they wrote or replied to, or on a plan they own.
    Reply,
    /// A new thread on a plan they own or follow with the button.
    Comment,
    /// A new version of a plan they follow.
    Version,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mention => "mention",
            Self::Reply => "reply",
            Self::Comment => "comment",
            Self::Version => "version",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "mention" => Self::Mention,
            "reply" => Self::Reply,
            "comment" => Self::Comment,
            "version" => Self::Version,
            _ => return None,
        })
    }
}

/// A person's explicit choice for one plan. No choice: they follow it if they own it or commented
/// on it. Mute beats every reason to be notified, mentions included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowState {
    Following,
    Muted,
}

impl FollowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Following => "following",
            Self::Muted => "muted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "following" => Some(Self::Following),
            "muted" => Some(Self::Muted),
            _ => None,
        }
    }
}

/// One notification for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub id: NotificationId,
    pub recipient: UserId,
    pub kind: NoticeKind,
    pub plan_id: PlanId,
    /// The comment it is about (mentions, replies, new threads).
    pub comment_id: Option<uuid::Uuid>,
    /// The version it is about (new versions).
    pub version: Option<u32>,
    /// Who caused it.
    pub actor: Option<UserId>,
    /// A short excerpt: the comment's text, or the version's "what changed" line.
    pub excerpt: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl InboxEntry {
    /// An unread notification; the excerpt is cut to [`EXCERPT_CHARS`].
    pub fn new(
        recipient: UserId,
        kind: NoticeKind,
        plan_id: PlanId,
        actor: Option<UserId>,
        excerpt: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: NotificationId::new(),
            recipient,
            kind,
            plan_id,
            comment_id: None,
            version: None,
            actor,
            excerpt: cut(excerpt.trim(), EXCERPT_CHARS),
            created_at: now,
            read_at: None,
        }
    }
    pub fn on_comment(mut self, comment: uuid::Uuid) -> Self {
        self.comment_id = Some(comment);
        self
    }
    pub fn on_version(mut self, version: u32) -> Self {
        self.version = Some(version);
        self
    }
    pub fn is_read(&self) -> bool {
        self.read_at.is_some()
    }
}

/// `s` cut to `max` characters, ending with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A notification with what a reader needs to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub entry: InboxEntry,
    pub plan_slug: String,
    pub plan_title: String,
    /// The actor's login (absent when there is no actor).
    pub actor_login: Option<String>,
}

/// A notification with its recipient's address: what an e-mail needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailNotice {
    pub item: InboxItem,
    pub recipient_login: String,
    /// The recipient's e-mail address, if known.
    pub recipient_email: Option<String>,
}

/// Where a page of notifications starts: strictly after this one, in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCursor {
    pub created_at: DateTime<Utc>,
    pub id: NotificationId,
}

impl InboxCursor {
    pub fn of(entry: &InboxEntry) -> Self {
        Self {
            created_at: entry.created_at,
            id: entry.id,
        }
    }
    /// Whether `entry` comes after the cursor in newest-first order.
    pub fn precedes(&self, entry: &InboxEntry) -> bool {
        (entry.created_at, entry.id) < (self.created_at, self.id)
    }
}

/// A listing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxQuery {
    pub unread_only: bool,
    pub after: Option<InboxCursor>,
    pub limit: u32,
}

/// Which notifications to mark read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTarget {
    /// These (ids of other people's notifications are ignored).
    Ids(Vec<NotificationId>),
    /// All of the recipient's unread ones.
    All,
}

/// Errors of [`InboxRepository`].
#[derive(Debug, thiserror::Error)]
pub enum InboxRepoError {
    #[error("notification not found")]
    NotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// The inbox's storage. Entries are created only with the write that causes them (see the crate
/// documentation); this port reads them, marks them read and keeps follow/mute choices.
#[async_trait]
pub trait InboxRepository: Send + Sync {
    /// `recipient`'s notifications, newest first (by `created_at`, then id, both descending),
    /// strictly after `query.after`, only unread ones when asked, at most `query.limit`. MUST
    /// leave out notifications of deleted plans. MUST NOT return anyone else's.
    async fn list(
        &self,
        recipient: UserId,
        query: &InboxQuery,
    ) -> Result<Vec<InboxItem>, InboxRepoError>;
    /// How many unread notifications `recipient` has per plan (plans with none left out; deleted
    /// plans left out), so the caller can leave out plans the recipient may no longer see.
    async fn unread_by_plan(&self, recipient: UserId)
    -> Result<Vec<(PlanId, u64)>, InboxRepoError>;
    /// Marks `recipient`'s unread notifications among `which` read at `now`; returns how many
    /// changed. MUST NOT change anyone else's (their ids are ignored, not an error).
    async fn mark_read(
        &self,
        recipient: UserId,
        which: &ReadTarget,
        now: DateTime<Utc>,
    ) -> Result<u64, InboxRepoError>;
    /// `user`'s explicit choice for `plan`, if any.
    async fn follow_state(
        &self,
        user: UserId,
        plan: PlanId,
    ) -> Result<Option<FollowState>, InboxRepoError>;
    /// Sets (`Some`) or clears (`None`) `user`'s choice for `plan`. Idempotent.
    async fn set_follow(
        &self,
        user: UserId,
        plan: PlanId,
        state: Option<FollowState>,
        now: DateTime<Utc>,
    ) -> Result<(), InboxRepoError>;
    /// Every explicit choice for `plan`.
    async fn follows(&self, plan: PlanId) -> Result<Vec<(UserId, FollowState)>, InboxRepoError>;
    /// One notification with what an e-mail about it needs (read or not, any plan state). MUST
    /// return `NotFound` for an unknown id.
    async fn for_email(&self, id: NotificationId) -> Result<EmailNotice, InboxRepoError>;
    /// `user`'s unread notifications created strictly after `since`, oldest first, of plans not
    /// deleted (a daily digest).
    async fn unread_since(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<EmailNotice>, InboxRepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_round_trip_their_names() {
        for k in [
            NoticeKind::Mention,
            NoticeKind::Reply,
            NoticeKind::Comment,
            NoticeKind::Version,
        ] {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        for s in [FollowState::Following, FollowState::Muted] {
            assert_eq!(FollowState::parse(s.as_str()), Some(s));
        }
        assert_eq!(NoticeKind::parse("nope"), None);
    }

    #[test]
    fn excerpts_are_cut_and_cursor_orders_newest_first() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let e = InboxEntry::new(
            UserId::new(),
            NoticeKind::Mention,
            PlanId::new(),
            None,
            &"x".repeat(400),
            now,
        );
        assert_eq!(e.excerpt.chars().count(), EXCERPT_CHARS);
        assert!(e.excerpt.ends_with('…'));
        let older = InboxEntry {
            created_at: now - chrono::Duration::seconds(1),
            ..e.clone()
        };
        assert!(InboxCursor::of(&e).precedes(&older));
        assert!(!InboxCursor::of(&older).precedes(&e));
    }
}
