//! The notification inbox: who is told of a comment or a new version (written with it, in its
//! transaction), and the caller's own inbox (read, mark read, follow or mute a plan).
//!
//! The rule of who hears of what is pure and lives in `planpush_inbox`; this module gathers its
//! inputs (mentioned people, thread participants, follow choices) and decides, with the same
//! [`can_see`] every request uses, who may see the plan. A mention of someone who may not see the
//! plan notifies nobody and is not shown as a mention.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use planpush_comments::{Comment, CommentFilter, StateFilter};
use planpush_identity::{User, UserId};
use planpush_inbox::{
    Audience, CommentEvent, FollowState, InboxCursor, InboxEntry, InboxItem, InboxQuery,
    InboxRepoError, NoticeKind, NotificationId, ReadTarget, comment_recipients, mentioned_logins,
    version_recipients,
};
use planpush_plans::{Plan, PlanId, PlanRepoError, Visibility};

use crate::access::principal_of;
use crate::{Ports, Principal, can_see};

/// Most notifications in one page of the inbox.
pub const INBOX_PAGE_MAX: u32 = 100;

/// Errors of the inbox use cases.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The plan is unknown, deleted or not visible to the caller.
    #[error("no session with this id or name")]
    PlanNotFound,
    /// `(code, message)`: bad input, e.g. `invalid_cursor`.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

fn unknown(e: impl Into<anyhow::Error>) -> InboxError {
    InboxError::Unknown(e.into())
}

impl From<InboxRepoError> for InboxError {
    fn from(e: InboxRepoError) -> Self {
        unknown(e)
    }
}

/// One notification as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxView {
    pub item: InboxItem,
    /// Where it leads: `/p/<slug>#comment-<id>` or `/p/<slug>?v=<n>`.
    pub link: String,
}

/// A page of the caller's notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    pub items: Vec<InboxView>,
    /// The caller's unread notifications in all (not only this page).
    pub unread: u64,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's relation to one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSubscription {
    /// The explicit choice, if any.
    pub state: Option<FollowState>,
    /// Whether the caller hears of new versions (and, owning it, of new threads).
    pub following: bool,
    /// Why: `muted`, `following` (the button), `owner`, `commented` or `none`.
    pub reason: &'static str,
}

/// The link of a notification.
pub fn link_of(item: &InboxItem) -> String {
    let slug = &item.plan_slug;
    match (item.entry.comment_id, item.entry.version) {
        (Some(c), _) => format!("/p/{slug}#comment-{c}"),
        (None, Some(v)) => format!("/p/{slug}?v={v}"),
        (None, None) => format!("/p/{slug}"),
    }
}

fn encode_cursor(c: &InboxCursor) -> String {
    format!("{}.{}", c.created_at.timestamp_micros(), c.id)
}

fn decode_cursor(s: &str) -> Result<InboxCursor, InboxError> {
    let bad = || InboxError::Invalid("invalid_cursor", "cursor is not one this API gave".into());
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    let micros: i64 = at.parse().map_err(|_| bad())?;
    Ok(InboxCursor {
        created_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        id: NotificationId::parse(id).map_err(|_| bad())?,
    })
}

/// The caller's inbox and follow/mute choices.
#[derive(Clone)]
pub struct Inbox {
    ports: Ports,
}

impl Inbox {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Plans among `ids` the caller may see.
    async fn visible(
        &self,
        p: &Principal,
        ids: impl IntoIterator<Item = PlanId>,
    ) -> Result<HashMap<PlanId, bool>, InboxError> {
        let mut out = HashMap::new();
        for id in ids {
            if out.contains_key(&id) {
                continue;
            }
            let ok = match self.ports.plans.get(id).await {
                Ok(plan) => can_see(p, &plan),
                Err(PlanRepoError::NotFound) => false,
                Err(e) => return Err(unknown(e)),
            };
            out.insert(id, ok);
        }
        Ok(out)
    }

    /// How many unread notifications the caller has, on plans they may still see.
    pub async fn unread(&self, p: &Principal) -> Result<u64, InboxError> {
        let per_plan = self.ports.inbox.unread_by_plan(p.user_id).await?;
        let visible = self.visible(p, per_plan.iter().map(|(id, _)| *id)).await?;
        Ok(per_plan
            .into_iter()
            .filter(|(id, _)| visible.get(id).copied().unwrap_or(false))
            .map(|(_, n)| n)
            .sum())
    }

    /// The caller's notifications, newest first, on plans they may still see; `limit` is capped
    /// at [`INBOX_PAGE_MAX`].
    pub async fn list(
        &self,
        p: &Principal,
        unread_only: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<InboxPage, InboxError> {
        let limit = limit.clamp(1, INBOX_PAGE_MAX);
        let after = cursor.map(decode_cursor).transpose()?;
        let mut rows = self
            .ports
            .inbox
            .list(
                p.user_id,
                &InboxQuery {
                    unread_only,
                    after,
                    limit: limit + 1,
                },
            )
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                rows.last()
                    .map(|i| encode_cursor(&InboxCursor::of(&i.entry)))
            })
            .flatten();
        let visible = self
            .visible(p, rows.iter().map(|i| i.entry.plan_id))
            .await?;
        let items = rows
            .into_iter()
            .filter(|i| visible.get(&i.entry.plan_id).copied().unwrap_or(false))
            .map(|item| InboxView {
                link: link_of(&item),
                item,
            })
            .collect();
        Ok(InboxPage {
            items,
            unread: self.unread(p).await?,
            next_cursor,
        })
    }

    /// Marks the caller's notifications read: those of `ids` (other people's ids and unknown ids
    /// are ignored), or all. Returns how many are left unread.
    pub async fn mark_read(
        &self,
        p: &Principal,
        ids: Option<&[String]>,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<u64, InboxError> {
        let target = match (all, ids) {
            (true, _) => ReadTarget::All,
            (false, Some(ids)) => ReadTarget::Ids(
                ids.iter()
                    .map(|s| {
                        NotificationId::parse(s).map_err(|_| {
                            InboxError::Invalid(
                                "invalid_notification_id",
                                format!("{s:?} is not a notification id"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (false, None) => {
                return Err(InboxError::Invalid(
                    "invalid_request",
                    "give `ids` or `all: true`".into(),
                ));
            }
        };
        self.ports.inbox.mark_read(p.user_id, &target, now).await?;
        self.unread(p).await
    }

    async fn plan(&self, p: &Principal, id: PlanId) -> Result<Plan, InboxError> {
        match self.ports.plans.get(id).await {
            Ok(plan) if can_see(p, &plan) => Ok(plan),
            Ok(_) | Err(PlanRepoError::NotFound) => Err(InboxError::PlanNotFound),
            Err(e) => Err(unknown(e)),
        }
    }

    /// The caller's relation to a plan they may see.
    pub async fn subscription(
        &self,
        p: &Principal,
        plan_id: PlanId,
    ) -> Result<PlanSubscription, InboxError> {
        let plan = self.plan(p, plan_id).await?;
        let state = self.ports.inbox.follow_state(p.user_id, plan_id).await?;
        let commented = || async {
            let all = self
                .ports
                .comments
                .list(
                    plan_id,
                    &CommentFilter {
                        state: StateFilter::All,
                        anchor: None,
                    },
                )
                .await
                .map_err(unknown)?;
            Ok::<_, InboxError>(
                all.iter()
                    .any(|c| c.author_id() == p.user_id && !c.is_deleted()),
            )
        };
        let (following, reason) = match state {
            Some(FollowState::Muted) => (false, "muted"),
            Some(FollowState::Following) => (true, "following"),
            None if plan.owner_id() == p.user_id => (true, "owner"),
            None if commented().await? => (true, "commented"),
            None => (false, "none"),
        };
        Ok(PlanSubscription {
            state,
            following,
            reason,
        })
    }

    /// The people who may see a plan the caller may see (active members; whom a comment on it
    /// can mention), by login.
    pub async fn members(
        &self,
        p: &Principal,
        plan_id: PlanId,
    ) -> Result<Vec<crate::Person>, InboxError> {
        let plan = self.plan(p, plan_id).await?;
        let mut users = self.ports.users.list().await.map_err(unknown)?;
        users.retain(User::is_active);
        users.sort_by_key(|u| u.login.to_lowercase());
        let mut viewers = Viewers::new(&self.ports, &plan);
        let mut out = vec![];
        for u in users {
            if viewers.user_may_see(&u).await? {
                out.push(crate::Person {
                    id: u.id,
                    login: u.login,
                    name: u.name,
                });
            }
        }
        Ok(out)
    }

    /// Sets (or clears, `None`) the caller's choice for a plan they may see.
    pub async fn subscribe(
        &self,
        p: &Principal,
        plan_id: PlanId,
        state: Option<FollowState>,
        now: DateTime<Utc>,
    ) -> Result<PlanSubscription, InboxError> {
        self.plan(p, plan_id).await?;
        self.ports
            .inbox
            .set_follow(p.user_id, plan_id, state, now)
            .await?;
        self.subscription(p, plan_id).await
    }
}

/// Who may see one plan, asked once per person.
pub(crate) struct Viewers<'a> {
    ports: &'a Ports,
    plan: &'a Plan,
    known: HashMap<UserId, bool>,
}

impl<'a> Viewers<'a> {
    pub(crate) fn new(ports: &'a Ports, plan: &'a Plan) -> Self {
        Self {
            ports,
            plan,
            known: HashMap::new(),
        }
    }

    /// Whether `user` (active, with their current roles) may see the plan.
    pub(crate) async fn may_see(&mut self, user: UserId) -> anyhow::Result<bool> {
        if let Some(&ok) = self.known.get(&user) {
            return Ok(ok);
        }
        let ok = match self.ports.users.get(user).await {
            Ok(u) => self.user_may_see(&u).await?,
            Err(planpush_identity::UserRepoError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        self.known.insert(user, ok);
        Ok(ok)
    }

    async fn user_may_see(&mut self, u: &User) -> anyhow::Result<bool> {
        Ok(principal_of(self.ports, u)
            .await?
            .is_some_and(|p| can_see(&p, self.plan)))
    }

    /// Decides every user of `users` (so the pure rule can ask synchronously).
    async fn decide(&mut self, users: impl IntoIterator<Item = UserId>) -> anyhow::Result<()> {
        for u in users {
            self.may_see(u).await?;
        }
        Ok(())
    }

    fn decided(&self, user: UserId) -> bool {
        self.known.get(&user).copied().unwrap_or(false)
    }
}

/// The active users whose login is mentioned in `text` (case-insensitive; a login several
/// people share mentions each of them).
async fn mentioned_users(ports: &Ports, text: &str) -> anyhow::Result<Vec<User>> {
    let logins = mentioned_logins(text);
    if logins.is_empty() {
        return Ok(vec![]);
    }
    let users = ports.users.list().await?;
    Ok(logins
        .iter()
        .flat_map(|l| {
            users
                .iter()
                .filter(move |u| u.is_active() && u.login.eq_ignore_ascii_case(l))
                .cloned()
        })
        .collect())
}

/// The logins mentioned in `texts` that are mentions on `plan`: someone active with that login
/// may see it. Lower-cased; the rest stays plain text.
pub(crate) async fn visible_mentions<'t>(
    ports: &Ports,
    plan: &Plan,
    texts: impl IntoIterator<Item = &'t str>,
) -> anyhow::Result<Vec<String>> {
    let all: String = texts.into_iter().collect::<Vec<_>>().join("\n");
    let people = mentioned_users(ports, &all).await?;
    let mut viewers = Viewers::new(ports, plan);
    let mut out: Vec<String> = vec![];
    for u in people {
        let login = u.login.to_lowercase();
        if !out.contains(&login) && viewers.may_see(u.id).await? {
            out.push(login);
        }
    }
    Ok(out)
}

/// Every live comment's author on `plan`, in order of first comment, and the plan's comments.
async fn commenters(ports: &Ports, plan: PlanId) -> anyhow::Result<(Vec<UserId>, Vec<Comment>)> {
    let all = ports
        .comments
        .list(
            plan,
            &CommentFilter {
                state: StateFilter::All,
                anchor: None,
            },
        )
        .await?;
    let mut out: Vec<UserId> = vec![];
    for c in all.iter().filter(|c| !c.is_deleted()) {
        if !out.contains(&c.author_id()) {
            out.push(c.author_id());
        }
    }
    Ok((out, all))
}

/// The inbox entries of a new comment (or reply: `thread` is then its thread), by `actor`.
pub(crate) async fn comment_entries(
    ports: &Ports,
    plan: &Plan,
    comment: &Comment,
    thread: &Comment,
    actor: UserId,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<InboxEntry>> {
    let reply = !comment.is_thread();
    let participants = if reply {
        let (_, all) = commenters(ports, plan.id()).await?;
        let mut out = vec![thread.author_id()];
        for c in all
            .iter()
            .filter(|c| c.parent_id() == Some(thread.id()) && !c.is_deleted())
        {
            if !out.contains(&c.author_id()) {
                out.push(c.author_id());
            }
        }
        out
    } else {
        vec![]
    };
    let mentioned: Vec<UserId> = mentioned_users(ports, comment.body().as_str())
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let audience = Audience {
        actor: Some(actor),
        owner: Some(plan.owner_id()),
        commenters: vec![],
        follows: ports.inbox.follows(plan.id()).await?,
    };
    let event = CommentEvent {
        reply,
        participants,
        mentioned,
    };
    let mut viewers = Viewers::new(ports, plan);
    let candidates = comment_recipients(&audience, &event, |_| true);
    viewers.decide(candidates.iter().map(|(u, _)| *u)).await?;
    Ok(
        comment_recipients(&audience, &event, |u| viewers.decided(u))
            .into_iter()
            .map(|(user, kind)| {
                InboxEntry::new(
                    user,
                    kind,
                    plan.id(),
                    Some(actor),
                    comment.body().as_str(),
                    now,
                )
                .on_comment(comment.id().as_uuid())
            })
            .collect(),
    )
}

/// Who is told of a new version of a plan pushed by `actor`: its followers (explicit and
/// implicit) who may see it. Read before the plan's turn to push (see `push::Push`), so it is
/// decided for the plan as it stood then: [`VersionAudience::decided_for`] says whether it still
/// holds for the plan the version is stored on.
pub(crate) struct VersionAudience {
    plan: PlanId,
    /// What the visibility rule ([`can_see`]) looked at.
    seen_as: (Visibility, UserId, bool),
    actor: UserId,
    recipients: Vec<UserId>,
}

impl VersionAudience {
    pub(crate) async fn of(ports: &Ports, plan: &Plan, actor: UserId) -> anyhow::Result<Self> {
        let (commenters, _) = commenters(ports, plan.id()).await?;
        let audience = Audience {
            actor: Some(actor),
            owner: Some(plan.owner_id()),
            commenters,
            follows: ports.inbox.follows(plan.id()).await?,
        };
        let mut viewers = Viewers::new(ports, plan);
        viewers
            .decide(version_recipients(&audience, |_| true))
            .await?;
        Ok(Self {
            plan: plan.id(),
            seen_as: Self::seen_as(plan),
            actor,
            recipients: version_recipients(&audience, |u| viewers.decided(u)),
        })
    }

    fn seen_as(plan: &Plan) -> (Visibility, UserId, bool) {
        (plan.visibility(), plan.owner_id(), plan.is_deleted())
    }

    /// Whether this audience was decided for `plan` as it is now, pushed by `actor`.
    pub(crate) fn decided_for(&self, plan: &Plan, actor: UserId) -> bool {
        self.plan == plan.id() && self.seen_as == Self::seen_as(plan) && self.actor == actor
    }

    /// The inbox entries of version `number` of `plan`; `summary` is its "what changed" line.
    pub(crate) fn entries(
        &self,
        plan: &Plan,
        number: u32,
        summary: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<InboxEntry> {
        let excerpt = match summary {
            Some(s) if !s.is_empty() => format!("Version {number}: {s}"),
            _ => format!("Version {number} of {}", plan.title()),
        };
        self.recipients
            .iter()
            .map(|&user| {
                InboxEntry::new(
                    user,
                    NoticeKind::Version,
                    plan.id(),
                    Some(self.actor),
                    &excerpt,
                    now,
                )
                .on_version(number)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = InboxCursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: NotificationId::new(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        for bad in ["", "x.y", "12", "12.not-a-uuid"] {
            assert!(matches!(
                decode_cursor(bad),
                Err(InboxError::Invalid("invalid_cursor", _))
            ));
        }
    }
}
