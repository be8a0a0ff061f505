//! [`PresenceRepository`]: one row per open live stream, with an expiry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use planpush_app::{InfraError, PresenceRepository};
use planpush_identity::UserId;
use planpush_plans::PlanId;

use crate::Store;
use crate::dialect::on_backend;
use crate::rows::{count, db, ts, uuid};
use crate::schema::plan_readers as r;

#[async_trait]
impl PresenceRepository for Store {
    async fn upsert(
        &self,
        reader: &str,
        plan: PlanId,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let (reader, plan, user) = (reader.to_owned(), plan.to_string(), user.to_string());
        self.run(move |conn| {
            let row = (
                r::reader_id.eq(&reader),
                r::plan_id.eq(&plan),
                r::user_id.eq(&user),
                r::expires_at.eq(ts(expires_at)),
            );
            on_backend!(conn, |c| diesel::insert_into(r::table)
                .values(row)
                .on_conflict(r::reader_id)
                .do_update()
                .set(r::expires_at.eq(excluded(r::expires_at)))
                .execute(c))
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn remove(&self, reader: &str) -> Result<(), InfraError> {
        let reader = reader.to_owned();
        self.run(move |conn| {
            diesel::delete(r::table.find(reader))
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn readers(&self, plan: PlanId, now: DateTime<Utc>) -> Result<Vec<UserId>, InfraError> {
        let plan = plan.to_string();
        self.run(move |conn| {
            let ids: Vec<String> = r::table
                .filter(r::plan_id.eq(plan))
                .filter(r::expires_at.gt(ts(now)))
                .select(r::user_id)
                .distinct()
                .load(conn)
                .map_err(db::<InfraError>)?;
            ids.iter()
                .map(|s| uuid(s).map(UserId::from_uuid).map_err(InfraError::Unknown))
                .collect()
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, InfraError> {
        self.run(move |conn| {
            Ok(count(
                diesel::delete(r::table.filter(r::expires_at.le(ts(now))))
                    .execute(conn)
                    .map_err(db::<InfraError>)?,
            ))
        })
        .await
    }
}
