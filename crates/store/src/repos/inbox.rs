use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_identity::UserId;
use planpush_inbox::{
    EmailNotice, FollowState, InboxEntry, InboxItem, InboxQuery, InboxRepoError, InboxRepository,
    NoticeKind, NotificationId, ReadTarget,
};
use planpush_plans::PlanId;

use crate::dialect::write_tx;
use crate::rows::{corrupt, count, db, ots, outc, ts, utc, uuid};
use crate::schema::{notifications as n, plan_follows as f, plans as p, users as u};
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = n)]
pub(crate) struct NotificationRow {
    id: String,
    recipient_id: String,
    kind: String,
    plan_id: String,
    comment_id: Option<String>,
    version: Option<i32>,
    actor_id: Option<String>,
    excerpt: String,
    created_at: NaiveDateTime,
    read_at: Option<NaiveDateTime>,
}

impl From<&InboxEntry> for NotificationRow {
    fn from(e: &InboxEntry) -> Self {
        Self {
            id: e.id.to_string(),
            recipient_id: e.recipient.to_string(),
            kind: e.kind.as_str().to_owned(),
            plan_id: e.plan_id.to_string(),
            comment_id: e.comment_id.map(|c| c.to_string()),
            version: e.version.map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
            actor_id: e.actor.map(|a| a.to_string()),
            excerpt: e.excerpt.clone(),
            created_at: ts(e.created_at),
            read_at: ots(e.read_at),
        }
    }
}

impl TryFrom<NotificationRow> for InboxEntry {
    type Error = anyhow::Error;
    fn try_from(r: NotificationRow) -> anyhow::Result<Self> {
        Ok(Self {
            id: NotificationId::from_uuid(uuid(&r.id)?),
            recipient: UserId::from_uuid(uuid(&r.recipient_id)?),
            kind: NoticeKind::parse(&r.kind)
                .ok_or_else(|| corrupt("notification kind", &r.kind))?,
            plan_id: PlanId::from_uuid(uuid(&r.plan_id)?),
            comment_id: r.comment_id.as_deref().map(uuid).transpose()?,
            version: r
                .version
                .map(|v| u32::try_from(v).map_err(|e| corrupt("notification version", e)))
                .transpose()?,
            actor: r
                .actor_id
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(UserId::from_uuid),
            excerpt: r.excerpt,
            created_at: utc(r.created_at),
            read_at: outc(r.read_at),
        })
    }
}

/// Rows for [`insert_inbox`].
pub(crate) fn inbox_rows(entries: &[InboxEntry]) -> Vec<NotificationRow> {
    entries.iter().map(NotificationRow::from).collect()
}

/// Writes inbox entries inside the caller's transaction (the comment's or the push's).
pub(crate) fn insert_inbox(
    conn: &mut DbConnection,
    rows: &[NotificationRow],
) -> Result<(), diesel::result::Error> {
    for row in rows {
        diesel::insert_into(n::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Notification rows with their plan's slug and title, turned into items (actor logins looked
/// up in one more query).
fn items(
    conn: &mut DbConnection,
    rows: Vec<(NotificationRow, String, String)>,
) -> Result<Vec<InboxItem>, InboxRepoError> {
    let actors: Vec<String> = rows
        .iter()
        .filter_map(|(r, _, _)| r.actor_id.clone())
        .collect();
    let logins: HashMap<String, String> = if actors.is_empty() {
        HashMap::new()
    } else {
        u::table
            .filter(u::id.eq_any(&actors))
            .select((u::id, u::login))
            .load::<(String, String)>(conn)
            .map_err(db::<InboxRepoError>)?
            .into_iter()
            .collect()
    };
    rows.into_iter()
        .map(|(r, slug, title)| {
            let actor_login = r.actor_id.as_ref().and_then(|a| logins.get(a).cloned());
            Ok(InboxItem {
                entry: InboxEntry::try_from(r)?,
                plan_slug: slug,
                plan_title: title,
                actor_login,
            })
        })
        .collect::<anyhow::Result<_>>()
        .map_err(InboxRepoError::Unknown)
}

/// Items with their recipients' login and address.
fn email_notices(
    conn: &mut DbConnection,
    items: Vec<InboxItem>,
) -> Result<Vec<EmailNotice>, InboxRepoError> {
    let ids: Vec<String> = items
        .iter()
        .map(|i| i.entry.recipient.to_string())
        .collect();
    let people: HashMap<String, (String, Option<String>)> = u::table
        .filter(u::id.eq_any(&ids))
        .select((u::id, u::login, u::email))
        .load::<(String, String, Option<String>)>(conn)
        .map_err(db::<InboxRepoError>)?
        .into_iter()
        .map(|(id, login, email)| (id, (login, email)))
        .collect();
    items
        .into_iter()
        .map(|item| {
            let (login, email) = people
                .get(&item.entry.recipient.to_string())
                .cloned()
                .ok_or_else(|| {
                    InboxRepoError::Unknown(corrupt("notification recipient", "missing"))
                })?;
            Ok(EmailNotice {
                item,
                recipient_login: login,
                recipient_email: email,
            })
        })
        .collect()
}

#[async_trait]
impl InboxRepository for Store {
    async fn list(
        &self,
        recipient: UserId,
        query: &InboxQuery,
    ) -> Result<Vec<InboxItem>, InboxRepoError> {
        let (who, q) = (recipient.to_string(), *query);
        self.run(move |conn| {
            let mut sql = n::table
                .inner_join(p::table)
                .filter(n::recipient_id.eq(who))
                .filter(p::deleted_at.is_null())
                .select((NotificationRow::as_select(), p::slug, p::title))
                .order((n::created_at.desc(), n::id.desc()))
                .limit(i64::from(q.limit))
                .into_boxed();
            if q.unread_only {
                sql = sql.filter(n::read_at.is_null());
            }
            if let Some(c) = q.after {
                let (at, id) = (ts(c.created_at), c.id.to_string());
                sql = sql.filter(
                    n::created_at
                        .lt(at)
                        .or(n::created_at.eq(at).and(n::id.lt(id))),
                );
            }
            let rows: Vec<(NotificationRow, String, String)> =
                sql.load(conn).map_err(db::<InboxRepoError>)?;
            items(conn, rows)
        })
        .await
    }

    async fn unread_by_plan(
        &self,
        recipient: UserId,
    ) -> Result<Vec<(PlanId, u64)>, InboxRepoError> {
        let who = recipient.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, i64)> = n::table
                .inner_join(p::table)
                .filter(n::recipient_id.eq(who))
                .filter(n::read_at.is_null())
                .filter(p::deleted_at.is_null())
                .group_by(n::plan_id)
                .select((n::plan_id, diesel::dsl::count_star()))
                .order(n::plan_id.asc())
                .load(conn)
                .map_err(db::<InboxRepoError>)?;
            rows.into_iter()
                .map(|(plan, k)| {
                    Ok((
                        PlanId::from_uuid(uuid(&plan)?),
                        u64::try_from(k).unwrap_or(0),
                    ))
                })
                .collect::<anyhow::Result<_>>()
                .map_err(InboxRepoError::Unknown)
        })
        .await
    }

    async fn mark_read(
        &self,
        recipient: UserId,
        which: &ReadTarget,
        now: DateTime<Utc>,
    ) -> Result<u64, InboxRepoError> {
        let who = recipient.to_string();
        let ids: Option<Vec<String>> = match which {
            ReadTarget::All => None,
            ReadTarget::Ids(ids) => Some(ids.iter().map(ToString::to_string).collect()),
        };
        self.run(move |conn| {
            let mine = n::table
                .filter(n::recipient_id.eq(who))
                .filter(n::read_at.is_null());
            let changed = match ids {
                None => diesel::update(mine)
                    .set(n::read_at.eq(Some(ts(now))))
                    .execute(conn),
                Some(ids) if ids.is_empty() => Ok(0),
                Some(ids) => diesel::update(mine.filter(n::id.eq_any(ids)))
                    .set(n::read_at.eq(Some(ts(now))))
                    .execute(conn),
            }
            .map_err(db::<InboxRepoError>)?;
            Ok(count(changed))
        })
        .await
    }

    async fn follow_state(
        &self,
        user: UserId,
        plan: PlanId,
    ) -> Result<Option<FollowState>, InboxRepoError> {
        let (user, plan) = (user.to_string(), plan.to_string());
        self.run(move |conn| {
            let s: Option<String> = f::table
                .find((user, plan))
                .select(f::state)
                .first(conn)
                .optional()
                .map_err(db::<InboxRepoError>)?;
            s.map(|s| {
                FollowState::parse(&s)
                    .ok_or_else(|| InboxRepoError::Unknown(corrupt("follow state", s)))
            })
            .transpose()
        })
        .await
    }

    async fn set_follow(
        &self,
        user: UserId,
        plan: PlanId,
        state: Option<FollowState>,
        now: DateTime<Utc>,
    ) -> Result<(), InboxRepoError> {
        let (user, plan) = (user.to_string(), plan.to_string());
        self.run(move |conn| {
            write_tx(conn, |conn| {
                diesel::delete(f::table.find((&user, &plan)))
                    .execute(conn)
                    .map_err(db::<InboxRepoError>)?;
                if let Some(s) = state {
                    diesel::insert_into(f::table)
                        .values((
                            f::user_id.eq(&user),
                            f::plan_id.eq(&plan),
                            f::state.eq(s.as_str()),
                            f::created_at.eq(ts(now)),
                        ))
                        .execute(conn)
                        .map_err(db::<InboxRepoError>)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn follows(&self, plan: PlanId) -> Result<Vec<(UserId, FollowState)>, InboxRepoError> {
        let plan = plan.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, String)> = f::table
                .filter(f::plan_id.eq(plan))
                .select((f::user_id, f::state))
                .order(f::created_at.asc())
                .load(conn)
                .map_err(db::<InboxRepoError>)?;
            rows.into_iter()
                .map(|(u, s)| {
                    Ok((
                        UserId::from_uuid(uuid(&u)?),
                        FollowState::parse(&s).ok_or_else(|| corrupt("follow state", &s))?,
                    ))
                })
                .collect::<anyhow::Result<_>>()
                .map_err(InboxRepoError::Unknown)
        })
        .await
    }

    async fn for_email(&self, id: NotificationId) -> Result<EmailNotice, InboxRepoError> {
        let id = id.to_string();
        self.run(move |conn| {
            let rows: Vec<(NotificationRow, String, String)> = n::table
                .inner_join(p::table)
                .filter(n::id.eq(id))
                .select((NotificationRow::as_select(), p::slug, p::title))
                .load(conn)
                .map_err(db::<InboxRepoError>)?;
            let found = items(conn, rows)?;
            email_notices(conn, found)?
                .pop()
                .ok_or(InboxRepoError::NotFound)
        })
        .await
    }

    async fn unread_since(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<EmailNotice>, InboxRepoError> {
        let who = user.to_string();
        self.run(move |conn| {
            let rows: Vec<(NotificationRow, String, String)> = n::table
                .inner_join(p::table)
                .filter(n::recipient_id.eq(who))
                .filter(n::read_at.is_null())
                .filter(n::created_at.gt(ts(since)))
                .filter(p::deleted_at.is_null())
                .select((NotificationRow::as_select(), p::slug, p::title))
                .order((n::created_at.asc(), n::id.asc()))
                .load(conn)
                .map_err(db::<InboxRepoError>)?;
            let found = items(conn, rows)?;
            email_notices(conn, found)
        })
        .await
    }
}
