use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_identity::{
    DeviceGrant, DeviceGrantId, DeviceGrantRecord, DeviceGrantRepository, DeviceRepoError,
    DeviceStatus, TokenHash, UserCode, UserId,
};

use crate::dialect::write_tx;
use crate::rows::{corrupt, count, db, ots, outc, ts, utc, uuid};
use crate::schema::device_grants as d;
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = d, treat_none_as_null = true)]
struct GrantRow {
    id: String,
    device_code_hash: String,
    user_code: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    interval_secs: i32,
    last_polled_at: Option<NaiveDateTime>,
    status: String,
    user_id: Option<String>,
    decided_at: Option<NaiveDateTime>,
}

fn status_columns(s: &DeviceStatus) -> (&'static str, Option<String>, Option<NaiveDateTime>) {
    match s {
        DeviceStatus::Pending => ("pending", None, None),
        DeviceStatus::Approved { user_id, at } => {
            ("approved", Some(user_id.to_string()), Some(ts(*at)))
        }
        DeviceStatus::Denied { at } => ("denied", None, Some(ts(*at))),
        DeviceStatus::Consumed { at } => ("consumed", None, Some(ts(*at))),
    }
}

impl From<&DeviceGrant> for GrantRow {
    fn from(g: &DeviceGrant) -> Self {
        let g = g.to_record();
        let (status, user_id, decided_at) = status_columns(&g.status);
        Self {
            id: g.id.to_string(),
            device_code_hash: g.device_code_hash.to_hex(),
            user_code: g.user_code.to_string(),
            created_at: ts(g.created_at),
            expires_at: ts(g.expires_at),
            interval_secs: i32::try_from(g.interval_secs).unwrap_or(i32::MAX),
            last_polled_at: ots(g.last_polled_at),
            status: status.to_owned(),
            user_id,
            decided_at,
        }
    }
}

impl TryFrom<GrantRow> for DeviceGrant {
    type Error = anyhow::Error;
    fn try_from(r: GrantRow) -> anyhow::Result<Self> {
        let at = || {
            r.decided_at
                .map(utc)
                .ok_or_else(|| corrupt("device grant", "decision without time"))
        };
        let status = match r.status.as_str() {
            "pending" => DeviceStatus::Pending,
            "approved" => {
                let user = r
                    .user_id
                    .as_deref()
                    .ok_or_else(|| corrupt("device grant", "approval without user"))?;
                DeviceStatus::Approved {
                    user_id: UserId::from_uuid(uuid(user)?),
                    at: at()?,
                }
            }
            "denied" => DeviceStatus::Denied { at: at()? },
            "consumed" => DeviceStatus::Consumed { at: at()? },
            other => return Err(corrupt("device grant status", other)),
        };
        DeviceGrant::restore(DeviceGrantRecord {
            id: DeviceGrantId::from_uuid(uuid(&r.id)?),
            device_code_hash: TokenHash::from_hex(&r.device_code_hash)
                .map_err(|e| corrupt("device code hash", e))?,
            user_code: UserCode::parse(&r.user_code).map_err(|e| corrupt("user code", e))?,
            created_at: utc(r.created_at),
            expires_at: utc(r.expires_at),
            interval_secs: u32::try_from(r.interval_secs)
                .map_err(|e| corrupt("poll interval", e))?,
            last_polled_at: outc(r.last_polled_at),
            status,
        })
        .map_err(|e| corrupt("device grant", e))
    }
}

fn first(
    conn: &mut DbConnection,
    q: d::BoxedQuery<'static, crate::connection::Db>,
) -> Result<Option<DeviceGrant>, DeviceRepoError> {
    let row: Option<GrantRow> = q
        .select(GrantRow::as_select())
        .first(conn)
        .optional()
        .map_err(db::<DeviceRepoError>)?;
    row.map(DeviceGrant::try_from)
        .transpose()
        .map_err(DeviceRepoError::Unknown)
}

#[async_trait]
impl DeviceGrantRepository for Store {
    async fn insert(&self, grant: &DeviceGrant) -> Result<(), DeviceRepoError> {
        let row = GrantRow::from(grant);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let clash: i64 = d::table
                    .filter(
                        d::user_code
                            .eq(&row.user_code)
                            .and(d::expires_at.gt(row.created_at)),
                    )
                    .count()
                    .get_result(conn)
                    .map_err(db::<DeviceRepoError>)?;
                if clash > 0 {
                    return Err(DeviceRepoError::Conflict);
                }
                diesel::insert_into(d::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(db::<DeviceRepoError>)?;
                Ok(())
            })
        })
        .await
    }

    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceGrant>, DeviceRepoError> {
        let hex = hash.to_hex();
        self.run(move |conn| {
            first(
                conn,
                d::table.filter(d::device_code_hash.eq(hex)).into_boxed(),
            )
        })
        .await
    }

    async fn find_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, DeviceRepoError> {
        let code = code.to_string();
        self.run(move |conn| {
            first(
                conn,
                d::table
                    .filter(d::user_code.eq(code))
                    .order(d::created_at.desc())
                    .into_boxed(),
            )
        })
        .await
    }

    async fn save_if_status(
        &self,
        grant: &DeviceGrant,
        expected: DeviceStatus,
    ) -> Result<(), DeviceRepoError> {
        let row = GrantRow::from(grant);
        let (exp_status, _, _) = status_columns(&expected);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                // One compare-and-set: the row changes only if its status is still the expected
                // one, and the updated-row count says whether this call won. (Reading first and
                // ignoring the count let two polls of an approved grant both mint on PostgreSQL,
                // where the loser's update waits for the winner, then matches nothing.)
                let n = diesel::update(
                    d::table
                        .find(row.id.clone())
                        .filter(d::status.eq(exp_status)),
                )
                .set(&row)
                .execute(conn)
                .map_err(db::<DeviceRepoError>)?;
                if n == 1 {
                    return Ok(());
                }
                match first(conn, d::table.find(row.id.clone()).into_boxed())? {
                    Some(_) => Err(DeviceRepoError::Conflict),
                    None => Err(DeviceRepoError::NotFound),
                }
            })
        })
        .await
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, DeviceRepoError> {
        self.run(move |conn| {
            Ok(count(
                diesel::delete(d::table.filter(d::expires_at.lt(ts(before))))
                    .execute(conn)
                    .map_err(db::<DeviceRepoError>)?,
            ))
        })
        .await
    }

    async fn get(&self, id: DeviceGrantId) -> Result<DeviceGrant, DeviceRepoError> {
        self.run(move |conn| {
            first(conn, d::table.find(id.to_string()).into_boxed())?
                .ok_or(DeviceRepoError::NotFound)
        })
        .await
    }
}
