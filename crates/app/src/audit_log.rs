//! Reading the audit log: who may see which events, filters from user input, keyset pages and
//! streamed exports.
//!
//! Admins and project managers (`ViewAudit`) see and filter everything; everyone else sees their
//! own events only, and asking for someone else's is refused (never silently narrowed).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use planpush_audit::{AuditAction, AuditEvent, AuditFilter, AuditPage, Cursor};
use planpush_identity::{User, UserId};
use planpush_roles::{Capability, Ownership};

use crate::{Ports, Principal};

/// The largest page a caller may ask for.
pub const AUDIT_PAGE_MAX: u32 = 200;
/// How many events an export reads per round trip.
const EXPORT_BATCH: u32 = 1000;

/// Errors of the audit-log use cases.
#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error("only admins and project managers can see other people's audit events")]
    Forbidden,
    /// A filter or cursor that cannot be understood: `(field, message)`.
    #[error("{0}: {1}")]
    BadInput(&'static str, String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Filters as a person types them (every field optional, blank means "any").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQueryInput {
    /// A login or a user id.
    pub actor: Option<String>,
    /// An action name (`plan.published`).
    pub action: Option<String>,
    /// An exact target (`plan:<id>`, `user:<id>`, `token:<id>`).
    pub target: Option<String>,
    /// `YYYY-MM-DD` (from the start of that day, UTC) or RFC 3339.
    pub from: Option<String>,
    /// `YYYY-MM-DD` (through the end of that day, UTC) or RFC 3339 (exclusive).
    pub to: Option<String>,
    /// The `next` cursor of a previous page.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// An event with the names a person reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub event: AuditEvent,
    /// The actor's login; `None` for the system.
    pub actor_login: Option<String>,
    /// What the target is, in words (pages only; exports keep the raw `kind:id`).
    pub target_label: Option<TargetLabel>,
}

/// An event's target as a person reads it: a member's login, a plan's title, a comment's first
/// words — with the page to open, when the reader may see it. `None` (the raw id is shown) for
/// kinds without a name, and for plans and comments the reader may not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLabel {
    pub text: String,
    pub href: Option<String>,
}

/// How many words of a comment name it.
const COMMENT_WORDS: usize = 8;

/// One page of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLogPage {
    pub entries: Vec<AuditEntry>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// Whether the caller sees everyone's events (`false`: their own only).
    pub everyone: bool,
}

/// A filtered export being read batch by batch (keyset, so a million events never sit in memory).
pub struct AuditExport {
    ports: Ports,
    filter: AuditFilter,
    after: Option<Cursor>,
    done: bool,
    logins: HashMap<UserId, String>,
}

impl AuditExport {
    /// The next batch of events, newest first; `None` when the export is complete.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<AuditEntry>>, AuditLogError> {
        if self.done {
            return Ok(None);
        }
        let AuditPage { events, next } = self
            .ports
            .audit_query
            .page(&self.filter, self.after, EXPORT_BATCH)
            .await
            .map_err(anyhow::Error::from)?;
        self.done = next.is_none();
        self.after = next;
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            events
                .into_iter()
                .map(|event| entry(&self.logins, event))
                .collect(),
        ))
    }
}

fn entry(logins: &HashMap<UserId, String>, event: AuditEvent) -> AuditEntry {
    let actor_login = event.actor.and_then(|a| logins.get(&a).cloned());
    AuditEntry {
        event,
        actor_login,
        target_label: None,
    }
}

/// The first words of a comment, `…` when cut.
fn first_words(body: &str) -> String {
    let words: Vec<&str> = body.split_whitespace().collect();
    let mut text = words
        .iter()
        .take(COMMENT_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if words.len() > COMMENT_WORDS {
        text.push('…');
    }
    format!("“{text}”")
}

/// Names the targets of one page of events for `p` (bounded by the page size: one read per
/// distinct plan or comment).
async fn label_targets(
    ports: &Ports,
    p: &Principal,
    logins: &HashMap<UserId, String>,
    entries: &mut [AuditEntry],
) -> Result<(), AuditLogError> {
    use planpush_plans::{Plan, PlanId};
    use std::collections::hash_map::Entry;
    let mut plans: HashMap<PlanId, Option<Plan>> = HashMap::new();
    let mut comments: HashMap<planpush_comments::CommentId, Option<planpush_comments::Comment>> =
        HashMap::new();
    // A plan's title may be shown when the reader can see it, or owned it / sees private plans
    // (a deleted plan: named, not linked).
    let named = |plan: &Plan| {
        crate::can_see(p, plan)
            || (plan.is_deleted()
                && (plan.owner_id() == p.user_id
                    || p.can(Capability::ViewOthersPrivate, Ownership::Others)))
    };
    for e in entries.iter_mut() {
        let Some((kind, id)) = e.event.target.as_deref().and_then(|t| t.split_once(':')) else {
            continue;
        };
        e.target_label = match kind {
            "user" => UserId::parse(id)
                .ok()
                .and_then(|u| logins.get(&u))
                .map(|login| TargetLabel {
                    text: format!("@{login}"),
                    href: None,
                }),
            "plan" => {
                let Ok(plan_id) = PlanId::parse(id) else {
                    continue;
                };
                if let Entry::Vacant(slot) = plans.entry(plan_id) {
                    slot.insert(load_plan(ports, plan_id).await?);
                }
                plans
                    .get(&plan_id)
                    .and_then(Option::as_ref)
                    .filter(|plan| named(plan))
                    .map(plan_label)
            }
            "comment" => {
                let Ok(comment_id) = planpush_comments::CommentId::parse(id) else {
                    continue;
                };
                if let Entry::Vacant(slot) = comments.entry(comment_id) {
                    slot.insert(match ports.comments.get(comment_id).await {
                        Ok(c) => Some(c),
                        Err(planpush_comments::CommentRepoError::NotFound) => None,
                        Err(e) => return Err(AuditLogError::Unknown(e.into())),
                    });
                }
                let Some(c) = comments.get(&comment_id).and_then(Option::as_ref) else {
                    continue;
                };
                if let Entry::Vacant(slot) = plans.entry(c.plan_id()) {
                    slot.insert(load_plan(ports, c.plan_id()).await?);
                }
                plans
                    .get(&c.plan_id())
                    .and_then(Option::as_ref)
                    .filter(|plan| crate::can_see(p, plan))
                    .map(|plan| TargetLabel {
                        text: if c.is_deleted() {
                            "(a deleted comment)".into()
                        } else {
                            first_words(c.body().as_str())
                        },
                        href: Some(format!(
                            "/p/{}#thread-{}",
                            plan.slug(),
                            c.parent_id().unwrap_or(c.id())
                        )),
                    })
            }
            _ => None,
        };
    }
    Ok(())
}

/// A plan by id; `None` when it does not exist.
async fn load_plan(
    ports: &Ports,
    id: planpush_plans::PlanId,
) -> Result<Option<planpush_plans::Plan>, AuditLogError> {
    match ports.plans.get(id).await {
        Ok(plan) => Ok(Some(plan)),
        Err(planpush_plans::PlanRepoError::NotFound) => Ok(None),
        Err(e) => Err(AuditLogError::Unknown(e.into())),
    }
}

fn plan_label(plan: &planpush_plans::Plan) -> TargetLabel {
    if plan.is_deleted() {
        TargetLabel {
            text: format!("{} (deleted)", plan.title()),
            href: None,
        }
    } else {
        TargetLabel {
            text: plan.title().to_owned(),
            href: Some(format!("/p/{}", plan.slug())),
        }
    }
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_time(
    field: &'static str,
    s: &str,
    end_of_day: bool,
) -> Result<DateTime<Utc>, AuditLogError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        AuditLogError::BadInput(field, "use a date (YYYY-MM-DD) or an RFC 3339 time".into())
    })?;
    let start = d.and_time(NaiveTime::MIN).and_utc();
    Ok(if end_of_day {
        start + TimeDelta::days(1)
    } else {
        start
    })
}

/// Reads the audit log for people.
#[derive(Clone)]
pub struct AuditLog {
    ports: Ports,
}

impl AuditLog {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    async fn logins(&self) -> Result<(Vec<User>, HashMap<UserId, String>), AuditLogError> {
        let users = self.ports.users.list().await.map_err(anyhow::Error::from)?;
        let map = users.iter().map(|u| (u.id, u.login.clone())).collect();
        Ok((users, map))
    }

    /// Turns typed filters into a scoped [`AuditFilter`]: the caller's own events unless they may
    /// view the audit log.
    fn filter(
        p: &Principal,
        users: &[User],
        q: &AuditQueryInput,
    ) -> Result<(AuditFilter, bool), AuditLogError> {
        let everyone = p.can(Capability::ViewAudit, Ownership::Others);
        // Scope first, then resolve: someone who may only read their own events learns nothing
        // about who else exists — any actor but themselves is the same `Forbidden`, whether or
        // not such a member exists.
        if !everyone {
            return match blank(&q.actor) {
                None => Ok(Some(p.user_id)),
                Some(a)
                    if UserId::parse(a).ok() == Some(p.user_id)
                        || a.eq_ignore_ascii_case(&p.login) =>
                {
                    Ok(Some(p.user_id))
                }
                Some(_) => Err(AuditLogError::Forbidden),
            }
            .and_then(|actor| Self::rest(actor, q, everyone));
        }
        let actor = match blank(&q.actor) {
            None => None,
            Some(a) => {
                let by_id = UserId::parse(a).ok();
                let matching: Vec<&User> = users
                    .iter()
                    .filter(|u| Some(u.id) == by_id || u.login.eq_ignore_ascii_case(a))
                    .collect();
                match matching.as_slice() {
                    [one] => Some(one.id),
                    [] => {
                        return Err(AuditLogError::BadInput(
                            "actor",
                            format!("no member is called {a:?}"),
                        ));
                    }
                    _ => {
                        return Err(AuditLogError::BadInput(
                            "actor",
                            format!("several members are called {a:?}; use the user id"),
                        ));
                    }
                }
            }
        };
        Self::rest(actor, q, everyone)
    }

    /// The filters other than the actor.
    fn rest(
        actor: Option<UserId>,
        q: &AuditQueryInput,
        everyone: bool,
    ) -> Result<(AuditFilter, bool), AuditLogError> {
        let action = blank(&q.action)
            .map(|a| {
                a.parse::<AuditAction>()
                    .map_err(|_| AuditLogError::BadInput("action", format!("unknown action {a:?}")))
            })
            .transpose()?;
        let from = blank(&q.from)
            .map(|s| parse_time("from", s, false))
            .transpose()?;
        let to = blank(&q.to)
            .map(|s| parse_time("to", s, true))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(AuditLogError::BadInput(
                "to",
                "the end of the range must be after its start".into(),
            ));
        }
        Ok((
            AuditFilter {
                actor,
                action,
                target: blank(&q.target).map(str::to_owned),
                from,
                to,
            },
            everyone,
        ))
    }

    /// One page of the log, newest first.
    pub async fn page(
        &self,
        p: &Principal,
        q: &AuditQueryInput,
    ) -> Result<AuditLogPage, AuditLogError> {
        let (users, logins) = self.logins().await?;
        let (filter, everyone) = Self::filter(p, &users, q)?;
        let after = blank(&q.cursor)
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| AuditLogError::BadInput("cursor", e.to_string()))?;
        let limit = q.limit.unwrap_or(50);
        if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
            return Err(AuditLogError::BadInput(
                "limit",
                format!("between 1 and {AUDIT_PAGE_MAX}"),
            ));
        }
        let AuditPage { events, next } = self
            .ports
            .audit_query
            .page(&filter, after, limit)
            .await
            .map_err(anyhow::Error::from)?;
        let mut entries: Vec<AuditEntry> = events.into_iter().map(|e| entry(&logins, e)).collect();
        label_targets(&self.ports, p, &logins, &mut entries).await?;
        Ok(AuditLogPage {
            entries,
            next: next.map(|c| c.encode()),
            everyone,
        })
    }

    /// Every event matching the filters (scoped like [`AuditLog::page`]), read in batches.
    pub async fn export(
        &self,
        p: &Principal,
        q: &AuditQueryInput,
    ) -> Result<AuditExport, AuditLogError> {
        let (users, logins) = self.logins().await?;
        let (filter, _) = Self::filter(p, &users, q)?;
        Ok(AuditExport {
            ports: self.ports.clone(),
            filter,
            after: None,
            done: false,
            logins,
        })
    }
}
