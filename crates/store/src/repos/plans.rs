use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_identity::UserId;
use planpush_plans::{
    Plan, PlanFilter, PlanId, PlanRecord, PlanRepoError, PlanRepository, PlanScope, PlanView,
    PlanViewRepoError, PlanViewRepository, Slug, Visibility,
};

use crate::dialect::{is_unique_violation, on_backend, write_tx};
use crate::rows::{corrupt, db, ots, outc, ts, utc, uuid};
use crate::schema::{plan_views as pv, plans as p};
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = p)]
pub(crate) struct PlanRow {
    id: String,
    slug: String,
    title: String,
    owner_id: String,
    visibility: String,
    current_version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    published_at: Option<NaiveDateTime>,
    archived_at: Option<NaiveDateTime>,
    deleted_at: Option<NaiveDateTime>,
}

/// The columns a plan update may write: everything but the id, owner, creation and version counter.
#[derive(AsChangeset)]
#[diesel(table_name = p, treat_none_as_null = true)]
struct PlanChanges<'a> {
    slug: &'a str,
    title: &'a str,
    visibility: &'a str,
    updated_at: NaiveDateTime,
    published_at: Option<NaiveDateTime>,
    archived_at: Option<NaiveDateTime>,
    deleted_at: Option<NaiveDateTime>,
}

impl From<&Plan> for PlanRow {
    fn from(x: &Plan) -> Self {
        Self {
            id: x.id().to_string(),
            slug: x.slug().to_string(),
            title: x.title().to_owned(),
            owner_id: x.owner_id().to_string(),
            visibility: x.visibility().as_str().to_owned(),
            current_version: i32::try_from(x.current_version()).unwrap_or(i32::MAX),
            created_at: ts(x.created_at()),
            updated_at: ts(x.updated_at()),
            published_at: ots(x.published_at()),
            archived_at: ots(x.archived_at()),
            deleted_at: ots(x.deleted_at()),
        }
    }
}

impl TryFrom<PlanRow> for Plan {
    type Error = anyhow::Error;
    fn try_from(r: PlanRow) -> anyhow::Result<Self> {
        Plan::restore(PlanRecord {
            id: PlanId::from_uuid(uuid(&r.id)?),
            slug: Slug::parse(&r.slug).map_err(|e| corrupt("slug", e))?,
            title: r.title,
            owner_id: UserId::from_uuid(uuid(&r.owner_id)?),
            visibility: Visibility::parse(&r.visibility).map_err(|e| corrupt("visibility", e))?,
            current_version: u32::try_from(r.current_version).map_err(|e| corrupt("version", e))?,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            published_at: outc(r.published_at),
            archived_at: outc(r.archived_at),
            deleted_at: outc(r.deleted_at),
        })
        .map_err(|e| corrupt("plan", e))
    }
}

/// Inserts a plan row, reporting a live-slug clash as `SlugTaken`.
pub(crate) fn insert_plan(conn: &mut DbConnection, plan: &Plan) -> Result<(), PlanRepoError> {
    diesel::insert_into(p::table)
        .values(PlanRow::from(plan))
        .execute(conn)
        .map(|_| ())
        .map_err(|e| {
            if is_unique_violation(&e) {
                PlanRepoError::SlugTaken(plan.slug().clone())
            } else {
                db(e)
            }
        })
}

fn load(
    conn: &mut DbConnection,
    q: p::BoxedQuery<'static, crate::connection::Db>,
) -> Result<Vec<Plan>, PlanRepoError> {
    let rows: Vec<PlanRow> = q
        .select(PlanRow::as_select())
        .load(conn)
        .map_err(db::<PlanRepoError>)?;
    rows.into_iter()
        .map(Plan::try_from)
        .collect::<anyhow::Result<_>>()
        .map_err(PlanRepoError::Unknown)
}

#[async_trait]
impl PlanRepository for Store {
    async fn get(&self, id: PlanId) -> Result<Plan, PlanRepoError> {
        self.run(move |conn| {
            load(conn, p::table.find(id.to_string()).into_boxed())?
                .pop()
                .ok_or(PlanRepoError::NotFound)
        })
        .await
    }

    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Plan>, PlanRepoError> {
        let slug = slug.to_string();
        self.run(move |conn| {
            Ok(load(
                conn,
                p::table
                    .filter(p::slug.eq(slug).and(p::deleted_at.is_null()))
                    .into_boxed(),
            )?
            .pop())
        })
        .await
    }

    async fn update(&self, plan: &Plan) -> Result<(), PlanRepoError> {
        let plan = plan.clone();
        self.run(move |conn| {
            let changes = PlanChanges {
                slug: plan.slug().as_str(),
                title: plan.title(),
                visibility: plan.visibility().as_str(),
                updated_at: ts(plan.updated_at()),
                published_at: ots(plan.published_at()),
                archived_at: ots(plan.archived_at()),
                deleted_at: ots(plan.deleted_at()),
            };
            let n = diesel::update(p::table.find(plan.id().to_string()))
                .set(&changes)
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        PlanRepoError::SlugTaken(plan.slug().clone())
                    } else {
                        db(e)
                    }
                })?;
            if n == 0 {
                Err(PlanRepoError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn list(&self, filter: PlanFilter) -> Result<Vec<Plan>, PlanRepoError> {
        self.run(move |conn| {
            let mut q = p::table.filter(p::deleted_at.is_null()).into_boxed();
            if !filter.include_archived {
                q = q.filter(p::archived_at.is_null());
            }
            q = match filter.scope {
                PlanScope::All => q,
                PlanScope::OwnedOrPublished(u) => q.filter(
                    p::owner_id
                        .eq(u.to_string())
                        .or(p::visibility.eq(Visibility::Published.as_str())),
                ),
                PlanScope::OwnedBy(u) => q.filter(p::owner_id.eq(u.to_string())),
            };
            load(conn, q.order((p::updated_at.desc(), p::id.asc())))
        })
        .await
    }
}

#[async_trait]
impl PlanViewRepository for Store {
    async fn record(&self, view: &PlanView) -> Result<(), PlanViewRepoError> {
        let (plan, user) = (view.plan_id.to_string(), view.user_id.to_string());
        let version = i32::try_from(view.version).unwrap_or(i32::MAX);
        let at = ts(view.viewed_at);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let values = (
                    pv::plan_id.eq(&plan),
                    pv::user_id.eq(&user),
                    pv::version.eq(version),
                    pv::viewed_at.eq(at),
                );
                on_backend!(conn, |c| diesel::insert_into(pv::table)
                    .values(values)
                    .on_conflict_do_nothing()
                    .execute(c))
                .map_err(db::<PlanViewRepoError>)?;
                let key = pv::table.filter(pv::plan_id.eq(&plan).and(pv::user_id.eq(&user)));
                diesel::update(key)
                    .set(pv::viewed_at.eq(at))
                    .execute(conn)
                    .map_err(db::<PlanViewRepoError>)?;
                diesel::update(key.filter(pv::version.lt(version)))
                    .set(pv::version.eq(version))
                    .execute(conn)
                    .map_err(db::<PlanViewRepoError>)?;
                Ok(())
            })
        })
        .await
    }

    async fn for_user(&self, user_id: UserId) -> Result<Vec<PlanView>, PlanViewRepoError> {
        self.run(move |conn| {
            let rows: Vec<(String, i32, NaiveDateTime)> = pv::table
                .filter(pv::user_id.eq(user_id.to_string()))
                .select((pv::plan_id, pv::version, pv::viewed_at))
                .load(conn)
                .map_err(db::<PlanViewRepoError>)?;
            rows.into_iter()
                .map(|(plan, version, at)| {
                    Ok(PlanView {
                        plan_id: PlanId::from_uuid(uuid(&plan)?),
                        user_id,
                        version: u32::try_from(version).map_err(|e| corrupt("version", e))?,
                        viewed_at: utc(at),
                    })
                })
                .collect::<anyhow::Result<_>>()
                .map_err(PlanViewRepoError::Unknown)
        })
        .await
    }
}
