use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_identity::{SessionRepoError, TokenHash, UserId, WebSession, WebSessionRepository};

use crate::Store;
use crate::dialect::is_unique_violation;
use crate::rows::{corrupt, count, db, ts, utc, uuid};
use crate::schema::web_sessions as s;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = s, treat_none_as_null = true)]
struct SessionRow {
    key_hash: String,
    user_id: Option<String>,
    data: String,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

impl From<&WebSession> for SessionRow {
    fn from(w: &WebSession) -> Self {
        Self {
            key_hash: w.key_hash.to_hex(),
            user_id: w.user_id.map(|u| u.to_string()),
            data: w.data.clone(),
            created_at: ts(w.created_at),
            last_seen_at: ts(w.last_seen_at),
            expires_at: ts(w.expires_at),
        }
    }
}

impl TryFrom<SessionRow> for WebSession {
    type Error = anyhow::Error;
    fn try_from(r: SessionRow) -> anyhow::Result<Self> {
        Ok(WebSession {
            key_hash: TokenHash::from_hex(&r.key_hash)
                .map_err(|e| corrupt("session key hash", e))?,
            user_id: r
                .user_id
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(UserId::from_uuid),
            data: r.data,
            created_at: utc(r.created_at),
            last_seen_at: utc(r.last_seen_at),
            expires_at: utc(r.expires_at),
        })
    }
}

#[async_trait]
impl WebSessionRepository for Store {
    async fn insert(&self, session: &WebSession) -> Result<(), SessionRepoError> {
        let row = SessionRow::from(session);
        self.run(move |conn| {
            diesel::insert_into(s::table)
                .values(&row)
                .execute(conn)
                .map(|_| ())
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        SessionRepoError::Duplicate
                    } else {
                        db(e)
                    }
                })
        })
        .await
    }

    async fn get_live(
        &self,
        key_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, SessionRepoError> {
        let hex = key_hash.to_hex();
        self.run(move |conn| {
            let row: Option<SessionRow> = s::table
                .find(hex)
                .filter(s::expires_at.gt(ts(now)))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<SessionRepoError>)?;
            row.map(WebSession::try_from)
                .transpose()
                .map_err(SessionRepoError::Unknown)
        })
        .await
    }

    async fn update(&self, session: &WebSession) -> Result<(), SessionRepoError> {
        let row = SessionRow::from(session);
        self.run(move |conn| {
            let n = diesel::update(s::table.find(row.key_hash.clone()))
                .set(&row)
                .execute(conn)
                .map_err(db::<SessionRepoError>)?;
            if n == 0 {
                Err(SessionRepoError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn delete(&self, key_hash: &TokenHash) -> Result<(), SessionRepoError> {
        let hex = key_hash.to_hex();
        self.run(move |conn| {
            diesel::delete(s::table.find(hex))
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn delete_for_user(&self, user_id: UserId) -> Result<u64, SessionRepoError> {
        self.run(move |conn| {
            Ok(count(
                diesel::delete(s::table.filter(s::user_id.eq(user_id.to_string())))
                    .execute(conn)
                    .map_err(db::<SessionRepoError>)?,
            ))
        })
        .await
    }

    async fn list_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebSession>, SessionRepoError> {
        self.run(move |conn| {
            let rows: Vec<SessionRow> = s::table
                .filter(
                    s::user_id
                        .eq(user_id.to_string())
                        .and(s::expires_at.gt(ts(now))),
                )
                .order((s::last_seen_at.desc(), s::key_hash))
                .select(SessionRow::as_select())
                .load(conn)
                .map_err(db::<SessionRepoError>)?;
            rows.into_iter()
                .map(WebSession::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(SessionRepoError::Unknown)
        })
        .await
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, SessionRepoError> {
        self.run(move |conn| {
            Ok(count(
                diesel::delete(s::table.filter(s::expires_at.le(ts(now))))
                    .execute(conn)
                    .map_err(db::<SessionRepoError>)?,
            ))
        })
        .await
    }
}
