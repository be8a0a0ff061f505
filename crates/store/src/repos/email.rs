use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_app::{
    EmailMode, EmailPreference, EmailPreferenceRepository, InfraError, OutboxMessage,
};
use planpush_identity::UserId;

use crate::Store;
use crate::dialect::write_tx;
use crate::repos::infra::{insert_outbox, outbox_rows};
use crate::rows::{corrupt, db, ots, outc, ts, utc, uuid};
use crate::schema::email_preferences as e;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = e)]
struct PreferenceRow {
    user_id: String,
    mode: String,
    last_digest_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

fn mode(s: &str) -> anyhow::Result<EmailMode> {
    EmailMode::parse(s).ok_or_else(|| corrupt("email_preferences.mode", s))
}

#[async_trait]
impl EmailPreferenceRepository for Store {
    async fn get(&self, user: UserId) -> Result<Option<EmailPreference>, InfraError> {
        self.run(move |conn| {
            let row: Option<PreferenceRow> = e::table
                .find(user.to_string())
                .select(PreferenceRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<InfraError>)?;
            row.map(|r| {
                Ok(EmailPreference {
                    mode: mode(&r.mode)?,
                    last_digest_at: outc(r.last_digest_at),
                    updated_at: utc(r.updated_at),
                })
            })
            .transpose()
            .map_err(InfraError::Unknown)
        })
        .await
    }

    async fn set_mode(
        &self,
        user: UserId,
        new: EmailMode,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let id = user.to_string();
                let old: Option<(String, Option<NaiveDateTime>)> = e::table
                    .find(&id)
                    .select((e::mode, e::last_digest_at))
                    .first(conn)
                    .optional()
                    .map_err(db::<InfraError>)?;
                let last = match &old {
                    Some((m, last)) if m == EmailMode::Daily.as_str() => *last,
                    _ if new == EmailMode::Daily => Some(ts(now)),
                    Some((_, last)) => *last,
                    None => None,
                };
                if old.is_some() {
                    diesel::update(e::table.find(&id))
                        .set((
                            e::mode.eq(new.as_str()),
                            e::last_digest_at.eq(last),
                            e::updated_at.eq(ts(now)),
                        ))
                        .execute(conn)
                        .map_err(db::<InfraError>)?;
                } else {
                    diesel::insert_into(e::table)
                        .values(PreferenceRow {
                            user_id: id,
                            mode: new.as_str().to_owned(),
                            last_digest_at: last,
                            updated_at: ts(now),
                        })
                        .execute(conn)
                        .map_err(db::<InfraError>)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn daily(&self) -> Result<Vec<(UserId, Option<DateTime<Utc>>)>, InfraError> {
        self.run(move |conn| {
            let rows: Vec<(String, Option<NaiveDateTime>)> = e::table
                .filter(e::mode.eq(EmailMode::Daily.as_str()))
                .order(e::user_id.asc())
                .select((e::user_id, e::last_digest_at))
                .load(conn)
                .map_err(db::<InfraError>)?;
            rows.into_iter()
                .map(|(u, last)| Ok((UserId::from_uuid(uuid(&u)?), outc(last))))
                .collect::<anyhow::Result<_>>()
                .map_err(InfraError::Unknown)
        })
        .await
    }

    async fn record_digest(
        &self,
        user: UserId,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        message: Option<&OutboxMessage>,
    ) -> Result<bool, InfraError> {
        let rows = outbox_rows(&message.cloned().into_iter().collect::<Vec<_>>());
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let mine = e::table
                    .filter(e::user_id.eq(user.to_string()))
                    .filter(e::mode.eq(EmailMode::Daily.as_str()));
                let n = match ots(previous) {
                    Some(p) => diesel::update(mine.filter(e::last_digest_at.eq(p)))
                        .set(e::last_digest_at.eq(ts(now)))
                        .execute(conn),
                    None => diesel::update(mine.filter(e::last_digest_at.is_null()))
                        .set(e::last_digest_at.eq(ts(now)))
                        .execute(conn),
                }
                .map_err(db::<InfraError>)?;
                if n == 0 {
                    return Ok(false);
                }
                insert_outbox(conn, &rows).map_err(db::<InfraError>)?;
                Ok(true)
            })
        })
        .await
    }
}
