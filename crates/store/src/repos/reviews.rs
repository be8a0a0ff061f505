use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_reviews::{Decision, Review, ReviewRepoError, ReviewRepository, Verdict};
use planpush_versions::AnchorId;

use crate::dialect::write_tx;
use crate::rows::{corrupt, db, outc, ts, utc, uuid};
use crate::schema::plan_reviews as r;
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = r)]
struct ReviewRow {
    plan_id: String,
    reviewer_id: String,
    requested_by: String,
    requested_version: i32,
    scope: String,
    requested_at: NaiveDateTime,
    verdict: Option<String>,
    verdict_version: Option<i32>,
    verdict_comment: Option<String>,
    decided_at: Option<NaiveDateTime>,
}

fn version(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl ReviewRow {
    fn new(review: &Review) -> Self {
        let scope: Vec<&str> = review.scope.iter().map(AnchorId::as_str).collect();
        Self {
            plan_id: review.plan_id.to_string(),
            reviewer_id: review.reviewer.to_string(),
            requested_by: review.requested_by.to_string(),
            requested_version: version(review.requested_version),
            scope: serde_json::to_string(&scope).unwrap_or_else(|_| "[]".into()),
            requested_at: ts(review.requested_at),
            verdict: None,
            verdict_version: None,
            verdict_comment: None,
            decided_at: None,
        }
    }

    fn into_domain(self) -> anyhow::Result<Review> {
        let scope: Vec<String> =
            serde_json::from_str(&self.scope).map_err(|e| corrupt("review scope", e))?;
        let scope = scope
            .iter()
            .map(|a| AnchorId::parse(a).map_err(|e| corrupt("review scope", e)))
            .collect::<anyhow::Result<_>>()?;
        let decision = match (self.verdict, self.verdict_version, outc(self.decided_at)) {
            (Some(v), Some(n), Some(at)) => Some(Decision {
                verdict: Verdict::parse(&v).map_err(|e| corrupt("verdict", e))?,
                version: u32::try_from(n).map_err(|e| corrupt("verdict version", e))?,
                comment: self.verdict_comment,
                at,
            }),
            _ => None,
        };
        Ok(Review {
            plan_id: PlanId::from_uuid(uuid(&self.plan_id)?),
            reviewer: UserId::from_uuid(uuid(&self.reviewer_id)?),
            requested_by: UserId::from_uuid(uuid(&self.requested_by)?),
            requested_version: u32::try_from(self.requested_version)
                .map_err(|e| corrupt("requested version", e))?,
            scope,
            requested_at: utc(self.requested_at),
            decision,
        })
    }
}

fn load(
    conn: &mut DbConnection,
    q: r::BoxedQuery<'static, crate::connection::Db>,
) -> Result<Vec<Review>, ReviewRepoError> {
    let rows: Vec<ReviewRow> = q
        .select(ReviewRow::as_select())
        .load(conn)
        .map_err(db::<ReviewRepoError>)?;
    rows.into_iter()
        .map(ReviewRow::into_domain)
        .collect::<anyhow::Result<_>>()
        .map_err(ReviewRepoError::Unknown)
}

#[async_trait]
impl ReviewRepository for Store {
    async fn request(&self, review: &Review) -> Result<(), ReviewRepoError> {
        let row = ReviewRow::new(review);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let key = r::table.filter(
                    r::plan_id
                        .eq(&row.plan_id)
                        .and(r::reviewer_id.eq(&row.reviewer_id)),
                );
                diesel::delete(key)
                    .execute(conn)
                    .map_err(db::<ReviewRepoError>)?;
                crate::dialect::on_backend!(conn, |c| diesel::insert_into(r::table)
                    .values(&row)
                    .execute(c))
                .map_err(db::<ReviewRepoError>)?;
                Ok(())
            })
        })
        .await
    }

    async fn decide(
        &self,
        plan_id: PlanId,
        reviewer: UserId,
        decision: &Decision,
    ) -> Result<(), ReviewRepoError> {
        let (plan, user) = (plan_id.to_string(), reviewer.to_string());
        let d = decision.clone();
        self.run(move |conn| {
            let n =
                diesel::update(r::table.filter(r::plan_id.eq(&plan).and(r::reviewer_id.eq(&user))))
                    .set((
                        r::verdict.eq(Some(d.verdict.as_str())),
                        r::verdict_version.eq(Some(version(d.version))),
                        r::verdict_comment.eq(d.comment.clone()),
                        r::decided_at.eq(Some(ts(d.at))),
                    ))
                    .execute(conn)
                    .map_err(db::<ReviewRepoError>)?;
            if n == 0 {
                Err(ReviewRepoError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn for_plan(&self, plan_id: PlanId) -> Result<Vec<Review>, ReviewRepoError> {
        let plan = plan_id.to_string();
        self.run(move |conn| {
            let q = r::table
                .filter(r::plan_id.eq(plan))
                .order((r::requested_at.asc(), r::reviewer_id.asc()))
                .into_boxed();
            load(conn, q)
        })
        .await
    }

    async fn for_reviewer(&self, reviewer: UserId) -> Result<Vec<Review>, ReviewRepoError> {
        let user = reviewer.to_string();
        self.run(move |conn| {
            let q = r::table
                .filter(r::reviewer_id.eq(user))
                .order((r::requested_at.desc(), r::plan_id.asc()))
                .into_boxed();
            load(conn, q)
        })
        .await
    }
}
