use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_app::OutboxMessage;
use planpush_comments::{
    AnchorState, Comment, CommentBody, CommentFilter, CommentId, CommentRecord, CommentRepoError,
    CommentRepository, FoundBy, Resolution, StateFilter, TextQuote,
};
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_versions::{AnchorId, VersionNumber};

use crate::dialect::write_tx;
use crate::repos::inbox::{inbox_rows, insert_inbox};
use crate::repos::infra::{insert_outbox, outbox_rows};
use crate::rows::{corrupt, db, ots, outc, ts, utc, uuid};
use crate::schema::comments as c;
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = c, treat_none_as_null = true)]
struct CommentRow {
    id: String,
    plan_id: String,
    parent_id: Option<String>,
    author_id: String,
    made_on: i32,
    anchor: String,
    quote_exact: Option<String>,
    quote_prefix: Option<String>,
    quote_suffix: Option<String>,
    body: String,
    state: String,
    moved_to: Option<String>,
    created_at: NaiveDateTime,
    edited_at: Option<NaiveDateTime>,
    deleted_at: Option<NaiveDateTime>,
    resolved_by: Option<String>,
    resolved_at: Option<NaiveDateTime>,
    moved_by: Option<String>,
    addressed_in: Option<i32>,
}

fn state_columns(s: &AnchorState) -> (&'static str, Option<String>, Option<String>) {
    match s {
        AnchorState::Moved { to, by } => ("moved", Some(to.to_string()), Some(by.as_str().into())),
        _ => (s.as_str(), None, None),
    }
}

impl From<&Comment> for CommentRow {
    fn from(x: &Comment) -> Self {
        let (state, moved_to, moved_by) = state_columns(x.state());
        Self {
            id: x.id().to_string(),
            plan_id: x.plan_id().to_string(),
            parent_id: x.parent_id().map(|p| p.to_string()),
            author_id: x.author_id().to_string(),
            made_on: i32::try_from(x.made_on().get()).unwrap_or(i32::MAX),
            anchor: x.anchor().to_string(),
            quote_exact: x.quote().as_ref().map(|q| q.exact().to_owned()),
            quote_prefix: x.quote().as_ref().map(|q| q.prefix().to_owned()),
            quote_suffix: x.quote().as_ref().map(|q| q.suffix().to_owned()),
            body: x.body().as_str().to_owned(),
            state: state.to_owned(),
            moved_to,
            created_at: ts(x.created_at()),
            edited_at: ots(x.edited_at()),
            deleted_at: ots(x.deleted_at()),
            resolved_by: x.resolution().map(|r| r.by.to_string()),
            resolved_at: x.resolution().map(|r| ts(r.at)),
            moved_by,
            addressed_in: x
                .addressed_in()
                .map(|v| i32::try_from(v.get()).unwrap_or(i32::MAX)),
        }
    }
}

impl TryFrom<CommentRow> for Comment {
    type Error = anyhow::Error;
    fn try_from(r: CommentRow) -> anyhow::Result<Self> {
        let anchor = |s: &str| AnchorId::parse(s).map_err(|e| corrupt("anchor", e));
        let state = match (r.state.as_str(), r.moved_to.as_deref()) {
            ("anchored", _) => AnchorState::Anchored,
            ("changed", _) => AnchorState::Changed,
            // Rows moved before `moved_by` existed were all found by their quote.
            ("moved", Some(to)) => AnchorState::Moved {
                to: anchor(to)?,
                by: match r.moved_by.as_deref() {
                    None => FoundBy::Quote,
                    Some(by) => FoundBy::parse(by).ok_or_else(|| corrupt("moved_by", by))?,
                },
            },
            ("orphaned", _) => AnchorState::Orphaned,
            (other, _) => return Err(corrupt("anchor state", other)),
        };
        let quote = match (r.quote_exact, r.quote_prefix, r.quote_suffix) {
            (Some(e), p, s) => Some(
                TextQuote::new(&e, p.as_deref().unwrap_or(""), s.as_deref().unwrap_or(""))
                    .map_err(|e| corrupt("quote", e))?,
            ),
            _ => None,
        };
        let resolution = match (r.resolved_by, r.resolved_at) {
            (Some(by), Some(at)) => Some(Resolution {
                by: UserId::from_uuid(uuid(&by)?),
                at: utc(at),
            }),
            _ => None,
        };
        Comment::restore(CommentRecord {
            id: CommentId::from_uuid(uuid(&r.id)?),
            plan_id: PlanId::from_uuid(uuid(&r.plan_id)?),
            parent_id: r
                .parent_id
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(CommentId::from_uuid),
            author_id: UserId::from_uuid(uuid(&r.author_id)?),
            made_on: u32::try_from(r.made_on)
                .ok()
                .and_then(|n| VersionNumber::new(n).ok())
                .ok_or_else(|| corrupt("version", r.made_on))?,
            anchor: anchor(&r.anchor)?,
            quote,
            body: CommentBody::parse(&r.body).map_err(|e| corrupt("comment body", e))?,
            state,
            created_at: utc(r.created_at),
            edited_at: outc(r.edited_at),
            deleted_at: outc(r.deleted_at),
            resolution,
            addressed_in: r
                .addressed_in
                .map(|v| {
                    u32::try_from(v)
                        .ok()
                        .and_then(|n| VersionNumber::new(n).ok())
                        .ok_or_else(|| corrupt("addressed_in", v))
                })
                .transpose()?,
        })
        .map_err(|e| corrupt("comment", e))
    }
}

fn load(
    conn: &mut DbConnection,
    q: c::BoxedQuery<'static, crate::connection::Db>,
) -> Result<Vec<Comment>, CommentRepoError> {
    let rows: Vec<CommentRow> = q
        .select(CommentRow::as_select())
        .load(conn)
        .map_err(db::<CommentRepoError>)?;
    rows.into_iter()
        .map(Comment::try_from)
        .collect::<anyhow::Result<_>>()
        .map_err(CommentRepoError::Unknown)
}

/// The comment's search entry, in the transaction that writes it.
fn index_row(conn: &mut DbConnection, row: &CommentRow) -> Result<(), CommentRepoError> {
    crate::repos::search::index_comment(
        conn,
        &row.id,
        &row.plan_id,
        &row.anchor,
        &row.body,
        row.deleted_at.is_some(),
    )
    .map_err(db::<CommentRepoError>)
}

#[async_trait]
impl CommentRepository for Store {
    async fn insert_notifying(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
        inbox: &[planpush_inbox::InboxEntry],
    ) -> Result<(), CommentRepoError> {
        let row = CommentRow::from(comment);
        let outbox = outbox_rows(outbox);
        let inbox = inbox_rows(inbox);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                diesel::insert_into(c::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(db::<CommentRepoError>)?;
                index_row(conn, &row)?;
                insert_inbox(conn, &inbox).map_err(db::<CommentRepoError>)?;
                insert_outbox(conn, &outbox).map_err(db::<CommentRepoError>)
            })
        })
        .await
    }

    async fn get(&self, id: CommentId) -> Result<Comment, CommentRepoError> {
        self.run(move |conn| {
            load(conn, c::table.find(id.to_string()).into_boxed())?
                .pop()
                .ok_or(CommentRepoError::NotFound)
        })
        .await
    }

    async fn update(
        &self,
        comment: &Comment,
        outbox: &[OutboxMessage],
    ) -> Result<(), CommentRepoError> {
        let row = CommentRow::from(comment);
        let outbox = outbox_rows(outbox);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let n = diesel::update(c::table.find(row.id.clone()))
                    .set(&row)
                    .execute(conn)
                    .map_err(db::<CommentRepoError>)?;
                if n == 0 {
                    return Err(CommentRepoError::NotFound);
                }
                index_row(conn, &row)?;
                insert_outbox(conn, &outbox).map_err(db::<CommentRepoError>)
            })
        })
        .await
    }

    async fn list(
        &self,
        plan_id: PlanId,
        filter: &CommentFilter,
    ) -> Result<Vec<Comment>, CommentRepoError> {
        let filter = filter.clone();
        self.run(move |conn| {
            // Threads matching the filter, then those threads with their replies, in one ordered read.
            let mut threads = c::table
                .filter(
                    c::plan_id
                        .eq(plan_id.to_string())
                        .and(c::parent_id.is_null()),
                )
                .select(c::id)
                .into_boxed();
            threads = match filter.state {
                StateFilter::Open => threads.filter(c::resolved_at.is_null()),
                StateFilter::Resolved => threads.filter(c::resolved_at.is_not_null()),
                StateFilter::All => threads,
            };
            if let Some(a) = &filter.anchor {
                threads = threads.filter(
                    c::anchor
                        .eq(a.to_string())
                        .or(c::state.eq("moved").and(c::moved_to.eq(a.to_string()))),
                );
            }
            let ids: Vec<String> = threads.load(conn).map_err(db::<CommentRepoError>)?;
            if ids.is_empty() {
                return Ok(vec![]);
            }
            let q = c::table
                .filter(c::plan_id.eq(plan_id.to_string()))
                .filter(c::id.eq_any(ids.clone()).or(c::parent_id.eq_any(ids)))
                .order((c::created_at.asc(), c::id.asc()))
                .into_boxed();
            load(conn, q)
        })
        .await
    }

    async fn set_states(
        &self,
        states: &[(CommentId, AnchorState)],
    ) -> Result<(), CommentRepoError> {
        let states: Vec<(String, &'static str, Option<String>, Option<String>)> = states
            .iter()
            .map(|(id, s)| {
                let (state, moved_to, moved_by) = state_columns(s);
                (id.to_string(), state, moved_to, moved_by)
            })
            .collect();
        self.run(move |conn| {
            write_tx(conn, |conn| {
                for (id, state, moved_to, moved_by) in &states {
                    let n = diesel::update(c::table.filter(c::id.eq(id).or(c::parent_id.eq(id))))
                        .set((
                            c::state.eq(*state),
                            c::moved_to.eq(moved_to),
                            c::moved_by.eq(moved_by),
                        ))
                        .execute(conn)
                        .map_err(db::<CommentRepoError>)?;
                    if n == 0 {
                        return Err(CommentRepoError::NotFound);
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn count_open(&self, plan_id: PlanId) -> Result<u64, CommentRepoError> {
        self.run(move |conn| {
            let n: i64 = c::table
                .filter(c::plan_id.eq(plan_id.to_string()))
                .filter(
                    c::parent_id
                        .is_null()
                        .and(c::resolved_at.is_null())
                        .and(c::deleted_at.is_null()),
                )
                .count()
                .get_result(conn)
                .map_err(db::<CommentRepoError>)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn open_counts(&self) -> Result<Vec<(PlanId, u64)>, CommentRepoError> {
        self.run(move |conn| {
            let rows: Vec<(String, i64)> = c::table
                .filter(
                    c::parent_id
                        .is_null()
                        .and(c::resolved_at.is_null())
                        .and(c::deleted_at.is_null()),
                )
                .group_by(c::plan_id)
                .select((c::plan_id, diesel::dsl::count_star()))
                .load(conn)
                .map_err(db::<CommentRepoError>)?;
            rows.into_iter()
                .map(|(id, n)| Ok((PlanId::from_uuid(uuid(&id)?), u64::try_from(n).unwrap_or(0))))
                .collect::<anyhow::Result<_>>()
                .map_err(CommentRepoError::Unknown)
        })
        .await
    }

    async fn threads_involving(
        &self,
        author: UserId,
        plans: &[PlanId],
        limit: u32,
    ) -> Result<Vec<Comment>, CommentRepoError> {
        let plans: Vec<String> = plans.iter().map(ToString::to_string).collect();
        let limit = i64::from(limit.max(1));
        self.run(move |conn| {
            let mut out = vec![];
            // Bounded IN-lists keep both backends under their bind-parameter limits.
            let chunks: Vec<&[String]> = if plans.is_empty() {
                vec![&[]]
            } else {
                plans.chunks(5000).collect()
            };
            for chunk in chunks {
                let q = c::table
                    .filter(c::parent_id.is_null().and(c::deleted_at.is_null()))
                    .filter(
                        c::author_id
                            .eq(author.to_string())
                            .or(c::plan_id.eq_any(chunk.to_vec())),
                    )
                    .order((c::created_at.desc(), c::id.desc()))
                    .limit(limit)
                    .into_boxed();
                out.extend(load(conn, q)?);
            }
            out.sort_by_key(|x| std::cmp::Reverse((x.created_at(), x.id())));
            out.dedup_by_key(|x| x.id());
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            Ok(out)
        })
        .await
    }
}
