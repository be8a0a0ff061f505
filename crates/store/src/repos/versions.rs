use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_app::OutboxMessage;
use planpush_identity::UserId;
use planpush_plans::{PlanId, PlanRepoError};
use planpush_versions::{
    Commit, SourceFormat, Version, VersionHead, VersionMeta, VersionNumber, VersionRepoError,
    VersionRepository,
};

use crate::dialect::write_tx;
use crate::repos::inbox::{inbox_rows, insert_inbox};
use crate::repos::infra::{insert_outbox, outbox_rows};
use crate::repos::plans::insert_plan;
use crate::repos::search::index_plan;
use crate::rows::{corrupt, count, db, outc, ts, utc, uuid};
use crate::schema::{plans as p, versions as v};
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = v)]
struct VersionRow {
    plan_id: String,
    number: i32,
    title: String,
    format: String,
    source: Option<String>,
    html: Option<String>,
    sections: Option<String>,
    changes: String,
    pushed_by: String,
    pushed_at: NaiveDateTime,
    purged_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct MetaRow {
    plan_id: String,
    number: i32,
    title: String,
    format: String,
    changes: String,
    pushed_by: String,
    pushed_at: NaiveDateTime,
    purged_at: Option<NaiveDateTime>,
}

/// [`VersionHead`]'s columns: everything but the HTML.
#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct HeadRow {
    #[diesel(embed)]
    meta: MetaRow,
    source: Option<String>,
    sections: Option<String>,
}

impl TryFrom<HeadRow> for VersionHead {
    type Error = anyhow::Error;
    fn try_from(r: HeadRow) -> anyhow::Result<Self> {
        let (Some(source), Some(sections)) = (r.source, r.sections) else {
            return Err(corrupt("version", "content missing"));
        };
        Ok(VersionHead {
            meta: VersionMeta::try_from(r.meta)?,
            source,
            sections: serde_json::from_str(&sections).map_err(|e| corrupt("section index", e))?,
        })
    }
}

fn version_row(x: &Version) -> Result<VersionRow, VersionRepoError> {
    let json = |e: serde_json::Error| VersionRepoError::Unknown(e.into());
    Ok(VersionRow {
        plan_id: x.meta.plan_id.to_string(),
        number: number_col(x.meta.number),
        title: x.meta.title.clone(),
        format: x.meta.format.as_str().to_owned(),
        source: Some(x.source.clone()),
        html: Some(x.html.clone()),
        sections: Some(serde_json::to_string(&x.sections).map_err(json)?),
        changes: serde_json::to_string(&x.meta.changes).map_err(json)?,
        pushed_by: x.meta.pushed_by.to_string(),
        pushed_at: ts(x.meta.pushed_at),
        purged_at: None,
    })
}

fn number_col(n: VersionNumber) -> i32 {
    i32::try_from(n.get()).unwrap_or(i32::MAX)
}

impl TryFrom<MetaRow> for VersionMeta {
    type Error = anyhow::Error;
    fn try_from(r: MetaRow) -> anyhow::Result<Self> {
        Ok(VersionMeta {
            plan_id: PlanId::from_uuid(uuid(&r.plan_id)?),
            number: u32::try_from(r.number)
                .ok()
                .and_then(|n| VersionNumber::new(n).ok())
                .ok_or_else(|| corrupt("version number", r.number))?,
            title: r.title,
            format: SourceFormat::parse(&r.format).map_err(|e| corrupt("format", e))?,
            changes: serde_json::from_str(&r.changes).map_err(|e| corrupt("change set", e))?,
            pushed_by: UserId::from_uuid(uuid(&r.pushed_by)?),
            pushed_at: utc(r.pushed_at),
            purged_at: outc(r.purged_at),
        })
    }
}

impl TryFrom<VersionRow> for Version {
    type Error = anyhow::Error;
    fn try_from(r: VersionRow) -> anyhow::Result<Self> {
        let (Some(source), Some(html), Some(sections)) = (r.source, r.html, r.sections) else {
            return Err(corrupt("version", "content missing"));
        };
        let meta = VersionMeta::try_from(MetaRow {
            plan_id: r.plan_id,
            number: r.number,
            title: r.title,
            format: r.format,
            changes: r.changes,
            pushed_by: r.pushed_by,
            pushed_at: r.pushed_at,
            purged_at: r.purged_at,
        })?;
        Ok(Version {
            meta,
            source,
            html,
            sections: serde_json::from_str(&sections).map_err(|e| corrupt("section index", e))?,
        })
    }
}

fn plan_err(e: PlanRepoError) -> VersionRepoError {
    match e {
        PlanRepoError::NotFound => VersionRepoError::PlanNotFound,
        PlanRepoError::SlugTaken(s) => VersionRepoError::SlugTaken(s),
        PlanRepoError::Unknown(e) => VersionRepoError::Unknown(e),
    }
}

fn load_one(
    conn: &mut DbConnection,
    q: v::BoxedQuery<'static, crate::connection::Db>,
) -> Result<Option<Version>, VersionRepoError> {
    let row: Option<VersionRow> = q
        .filter(v::purged_at.is_null())
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
        .map_err(db::<VersionRepoError>)?;
    row.map(Version::try_from)
        .transpose()
        .map_err(VersionRepoError::Unknown)
}

#[async_trait]
impl VersionRepository for Store {
    async fn commit_notifying<'a>(
        &self,
        commit: Commit<'a>,
        outbox: &[OutboxMessage],
        inbox: &[planpush_inbox::InboxEntry],
    ) -> Result<(), VersionRepoError> {
        let outbox = outbox_rows(outbox);
        let inbox = inbox_rows(inbox);
        match commit {
            Commit::NewPlan {
                plan,
                version,
                text,
            } => {
                let (plan, row, text) = (plan.clone(), version_row(version)?, text.to_vec());
                self.run(move |conn| {
                    write_tx(conn, |conn| {
                        insert_plan(conn, &plan).map_err(plan_err)?;
                        diesel::insert_into(v::table)
                            .values(&row)
                            .execute(conn)
                            .map_err(db::<VersionRepoError>)?;
                        index_plan(conn, &row.plan_id, plan.title(), &text)
                            .map_err(db::<VersionRepoError>)?;
                        insert_inbox(conn, &inbox).map_err(db::<VersionRepoError>)?;
                        insert_outbox(conn, &outbox).map_err(db::<VersionRepoError>)?;
                        Ok(())
                    })
                })
                .await
            }
            Commit::NextVersion {
                plan,
                version,
                text,
            } => {
                let (row, text) = (version_row(version)?, text.to_vec());
                let expected = version.meta.number.previous().map_or(0, number_col);
                let (id, title, updated) = (
                    plan.id().to_string(),
                    plan.title().to_owned(),
                    ts(plan.updated_at()),
                );
                self.run(move |conn| {
                    write_tx(conn, |conn| {
                        // Compare-and-set on the version counter: the first write takes the lock.
                        let n = diesel::update(
                            p::table.find(&id).filter(p::current_version.eq(expected)),
                        )
                        .set((
                            p::current_version.eq(row.number),
                            p::title.eq(&title),
                            p::updated_at.eq(updated),
                        ))
                        .execute(conn)
                        .map_err(db::<VersionRepoError>)?;
                        if n == 0 {
                            let exists: i64 = p::table
                                .filter(p::id.eq(&id))
                                .count()
                                .get_result(conn)
                                .map_err(db::<VersionRepoError>)?;
                            return Err(if exists == 0 {
                                VersionRepoError::PlanNotFound
                            } else {
                                VersionRepoError::Conflict
                            });
                        }
                        diesel::insert_into(v::table)
                            .values(&row)
                            .execute(conn)
                            .map_err(db::<VersionRepoError>)?;
                        index_plan(conn, &id, &title, &text).map_err(db::<VersionRepoError>)?;
                        insert_inbox(conn, &inbox).map_err(db::<VersionRepoError>)?;
                        insert_outbox(conn, &outbox).map_err(db::<VersionRepoError>)?;
                        Ok(())
                    })
                })
                .await
            }
        }
    }

    async fn get(
        &self,
        plan_id: PlanId,
        number: VersionNumber,
    ) -> Result<Version, VersionRepoError> {
        self.run(move |conn| {
            load_one(
                conn,
                v::table
                    .find((plan_id.to_string(), number_col(number)))
                    .into_boxed(),
            )?
            .ok_or(VersionRepoError::NotFound)
        })
        .await
    }

    async fn latest(&self, plan_id: PlanId) -> Result<Option<Version>, VersionRepoError> {
        self.run(move |conn| {
            load_one(
                conn,
                v::table
                    .filter(v::plan_id.eq(plan_id.to_string()))
                    .order(v::number.desc())
                    .into_boxed(),
            )
        })
        .await
    }

    async fn head(&self, plan_id: PlanId) -> Result<Option<VersionHead>, VersionRepoError> {
        self.run(move |conn| {
            let row: Option<HeadRow> = v::table
                .filter(v::plan_id.eq(plan_id.to_string()))
                .filter(v::purged_at.is_null())
                .order(v::number.desc())
                .select(HeadRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<VersionRepoError>)?;
            row.map(VersionHead::try_from)
                .transpose()
                .map_err(VersionRepoError::Unknown)
        })
        .await
    }

    async fn history(&self, plan_id: PlanId) -> Result<Vec<VersionMeta>, VersionRepoError> {
        self.run(move |conn| {
            let rows: Vec<MetaRow> = v::table
                .filter(v::plan_id.eq(plan_id.to_string()))
                .order(v::number.asc())
                .select(MetaRow::as_select())
                .load(conn)
                .map_err(db::<VersionRepoError>)?;
            rows.into_iter()
                .map(VersionMeta::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(VersionRepoError::Unknown)
        })
        .await
    }

    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, VersionRepoError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                // Candidates, excluding each plan's current version.
                let candidates: Vec<(String, i32)> = v::table
                    .inner_join(p::table)
                    .filter(
                        v::pushed_at
                            .lt(ts(cutoff))
                            .and(v::purged_at.is_null())
                            .and(v::number.ne(p::current_version)),
                    )
                    .select((v::plan_id, v::number))
                    .load(conn)
                    .map_err(db::<VersionRepoError>)?;
                for (plan, number) in &candidates {
                    diesel::update(v::table.find((plan, number)))
                        .set((
                            v::source.eq(None::<String>),
                            v::html.eq(None::<String>),
                            v::sections.eq(None::<String>),
                            v::purged_at.eq(ts(now)),
                        ))
                        .execute(conn)
                        .map_err(db::<VersionRepoError>)?;
                }
                Ok(count(candidates.len()))
            })
        })
        .await
    }
}
