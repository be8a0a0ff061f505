use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use planpush_app::{
    InfraError, KvStore, Outbox, OutboxMessage, OutboxMessageId, Readiness, WEBHOOKS_CHANNEL,
};

use crate::DbConnection;
use crate::Store;
use crate::dialect::{on_backend, write_tx};
use crate::rows::{count, db, ots, outc, ts, utc, uuid};
use crate::schema::{kv, outbox as o};

#[async_trait]
impl KvStore for Store {
    async fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, InfraError> {
        let key = key.to_owned();
        self.run(move |conn| {
            kv::table
                .find(key)
                .filter(kv::expires_at.is_null().or(kv::expires_at.gt(ts(now))))
                .select(kv::value)
                .first(conn)
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), InfraError> {
        let (key, value, exp) = (key.to_owned(), value.to_vec(), ots(expires_at));
        self.run(move |conn| {
            let row = (
                kv::key.eq(&key),
                kv::value.eq(&value),
                kv::expires_at.eq(exp),
            );
            on_backend!(conn, |c| diesel::insert_into(kv::table)
                .values(row)
                .on_conflict(kv::key)
                .do_update()
                .set((
                    kv::value.eq(excluded(kv::value)),
                    kv::expires_at.eq(excluded(kv::expires_at))
                ))
                .execute(c))
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), InfraError> {
        let key = key.to_owned();
        self.run(move |conn| {
            diesel::delete(kv::table.find(key))
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, InfraError> {
        self.run(move |conn| {
            Ok(count(
                diesel::delete(kv::table.filter(kv::expires_at.le(ts(now))))
                    .execute(conn)
                    .map_err(db::<InfraError>)?,
            ))
        })
        .await
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = o)]
pub(crate) struct OutboxRow {
    id: String,
    channel: String,
    payload: String,
    created_at: NaiveDateTime,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_error: Option<String>,
    delivered_at: Option<NaiveDateTime>,
    gave_up_at: Option<NaiveDateTime>,
}

impl From<&OutboxMessage> for OutboxRow {
    fn from(m: &OutboxMessage) -> Self {
        Self {
            id: m.id.to_string(),
            channel: m.channel.clone(),
            payload: m.payload.clone(),
            created_at: ts(m.created_at),
            attempts: i32::try_from(m.attempts).unwrap_or(i32::MAX),
            next_attempt_at: ts(m.next_attempt_at),
            last_error: m.last_error.clone(),
            delivered_at: ots(m.delivered_at),
            gave_up_at: ots(m.gave_up_at),
        }
    }
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = anyhow::Error;
    fn try_from(r: OutboxRow) -> anyhow::Result<Self> {
        Ok(OutboxMessage {
            id: OutboxMessageId::from_uuid(uuid(&r.id)?),
            channel: r.channel,
            payload: r.payload,
            created_at: utc(r.created_at),
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            next_attempt_at: utc(r.next_attempt_at),
            last_error: r.last_error,
            delivered_at: outc(r.delivered_at),
            gave_up_at: outc(r.gave_up_at),
        })
    }
}

/// Writes outbox messages inside the caller's transaction (a push, a comment), one row each.
///
/// A message to fan out to the webhooks ([`WEBHOOKS_CHANNEL`]) is written only while a hook is
/// registered, as the same transaction sees it: without one it would cost a delivery round (claim,
/// fan-out to nobody) and a row per push for nothing, and it made the delivery worker fall behind
/// a push flood. A hook registered later was not there when the event happened.
pub(crate) fn insert_outbox(
    conn: &mut DbConnection,
    rows: &[OutboxRow],
) -> Result<(), diesel::result::Error> {
    let mut hooks_registered = None;
    for row in rows {
        if row.channel == WEBHOOKS_CHANNEL {
            let registered = match hooks_registered {
                Some(known) => known,
                None => *hooks_registered.insert(
                    diesel::select(diesel::dsl::exists(
                        crate::schema::webhooks::table.select(crate::schema::webhooks::id),
                    ))
                    .get_result::<bool>(conn)?,
                ),
            };
            if !registered {
                continue;
            }
        }
        diesel::insert_into(o::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The messages due at `now`, oldest first (at most `limit`): what [`Outbox::due`] lists and
/// [`Outbox::claim`] takes. It walks the `outbox_pending` index in creation order and stops at
/// `limit`, so its cost does not grow with a backlog (it used to sort every due message on each
/// claim: a backlog of 2,000 made a claim cost more than a push; see the test below).
fn due_rows(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxRow>, diesel::result::Error> {
    o::table
        .filter(
            o::delivered_at
                .is_null()
                .and(o::gave_up_at.is_null())
                .and(o::next_attempt_at.le(ts(now))),
        )
        .order((o::created_at.asc(), o::id.asc()))
        .limit(i64::from(limit))
        .select(OutboxRow::as_select())
        .load(conn)
}

/// Rows for [`insert_outbox`].
pub(crate) fn outbox_rows(messages: &[OutboxMessage]) -> Vec<OutboxRow> {
    messages.iter().map(OutboxRow::from).collect()
}

fn found(n: usize) -> Result<(), InfraError> {
    if n == 0 {
        Err(InfraError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait]
impl Outbox for Store {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<(), InfraError> {
        let row = OutboxRow::from(message);
        self.run(move |conn| {
            diesel::insert_into(o::table)
                .values(&row)
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxMessage>, InfraError> {
        self.run(move |conn| {
            let rows = due_rows(conn, now, limit).map_err(db::<InfraError>)?;
            rows.into_iter()
                .map(OutboxMessage::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(InfraError::Unknown)
        })
        .await
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, InfraError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let rows = due_rows(conn, now, limit).map_err(db::<InfraError>)?;
                let mut claimed = Vec::with_capacity(rows.len());
                for mut row in rows {
                    // Compare-and-set on `next_attempt_at`: of two workers (or processes) that read
                    // the same row, only the first update matches; the other skips it.
                    let n = diesel::update(
                        o::table
                            .find(&row.id)
                            .filter(o::next_attempt_at.eq(row.next_attempt_at))
                            .filter(o::delivered_at.is_null())
                            .filter(o::gave_up_at.is_null()),
                    )
                    .set((
                        o::attempts.eq(o::attempts + 1),
                        o::next_attempt_at.eq(ts(lease_until)),
                    ))
                    .execute(conn)
                    .map_err(db::<InfraError>)?;
                    if n == 1 {
                        row.attempts = row.attempts.saturating_add(1);
                        row.next_attempt_at = ts(lease_until);
                        claimed.push(OutboxMessage::try_from(row).map_err(InfraError::Unknown)?);
                    }
                }
                Ok(claimed)
            })
        })
        .await
    }

    async fn mark_delivered(
        &self,
        id: OutboxMessageId,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        self.run(move |conn| {
            found(
                diesel::update(o::table.find(id.to_string()))
                    .set(o::delivered_at.eq(ts(now)))
                    .execute(conn)
                    .map_err(db::<InfraError>)?,
            )
        })
        .await
    }

    async fn mark_failed(
        &self,
        id: OutboxMessageId,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let error = error.to_owned();
        self.run(move |conn| {
            found(
                diesel::update(o::table.find(id.to_string()))
                    .set((
                        o::last_error.eq(error),
                        o::next_attempt_at.eq(ts(next_attempt_at)),
                    ))
                    .execute(conn)
                    .map_err(db::<InfraError>)?,
            )
        })
        .await
    }

    async fn fan_out(
        &self,
        id: OutboxMessageId,
        messages: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<bool, InfraError> {
        let rows = outbox_rows(messages);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let exists = o::table
                    .find(id.to_string())
                    .count()
                    .get_result::<i64>(conn)
                    .map_err(db::<InfraError>)?;
                if exists == 0 {
                    return Err(InfraError::NotFound);
                }
                // Only the first of two workers finds it pending; the other writes nothing.
                let n = diesel::update(
                    o::table
                        .find(id.to_string())
                        .filter(o::delivered_at.is_null())
                        .filter(o::gave_up_at.is_null()),
                )
                .set(o::delivered_at.eq(ts(now)))
                .execute(conn)
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

    async fn absorb(
        &self,
        id: OutboxMessageId,
        payload: &str,
        absorbed: &[(OutboxMessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<bool, InfraError> {
        let payload = payload.to_owned();
        let absorbed = absorbed.to_vec();
        self.run(move |conn| {
            // Rolled back as a whole when any absorbed message was taken meanwhile.
            enum Outcome {
                Taken,
                Failed(InfraError),
            }
            impl From<anyhow::Error> for Outcome {
                fn from(e: anyhow::Error) -> Self {
                    Outcome::Failed(InfraError::Unknown(e))
                }
            }
            let result = write_tx(conn, |conn| {
                let n = diesel::update(o::table.find(id.to_string()))
                    .set(o::payload.eq(&payload))
                    .execute(conn)
                    .map_err(|e| Outcome::Failed(db(e)))?;
                if n == 0 {
                    return Err(Outcome::Failed(InfraError::NotFound));
                }
                for (a, due) in &absorbed {
                    // Compare-and-set, like a claim: only a message no worker has touched.
                    let n = diesel::update(
                        o::table
                            .find(a.to_string())
                            .filter(o::attempts.eq(0))
                            .filter(o::delivered_at.is_null())
                            .filter(o::gave_up_at.is_null())
                            .filter(o::next_attempt_at.eq(ts(*due))),
                    )
                    .set(o::delivered_at.eq(ts(now)))
                    .execute(conn)
                    .map_err(|e| Outcome::Failed(db(e)))?;
                    if n == 0 {
                        return Err(Outcome::Taken);
                    }
                }
                Ok(())
            });
            match result {
                Ok(()) => Ok(true),
                Err(Outcome::Taken) => Ok(false),
                Err(Outcome::Failed(e)) => Err(e),
            }
        })
        .await
    }

    async fn recent(&self, channel: &str, limit: u32) -> Result<Vec<OutboxMessage>, InfraError> {
        let channel = channel.to_owned();
        self.run(move |conn| {
            let rows: Vec<OutboxRow> = o::table
                .filter(o::channel.eq(channel))
                .order((o::created_at.desc(), o::id.desc()))
                .limit(i64::from(limit))
                .select(OutboxRow::as_select())
                .load(conn)
                .map_err(db::<InfraError>)?;
            rows.into_iter()
                .map(OutboxMessage::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(InfraError::Unknown)
        })
        .await
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, InfraError> {
        self.run(move |conn| {
            diesel::delete(
                o::table.filter(
                    o::delivered_at
                        .lt(ts(before))
                        .or(o::gave_up_at.lt(ts(before))),
                ),
            )
            .execute(conn)
            .map(count)
            .map_err(db)
        })
        .await
    }

    async fn give_up(
        &self,
        id: OutboxMessageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let error = error.to_owned();
        self.run(move |conn| {
            found(
                diesel::update(o::table.find(id.to_string()))
                    .set((o::last_error.eq(error), o::gave_up_at.eq(ts(now))))
                    .execute(conn)
                    .map_err(db::<InfraError>)?,
            )
        })
        .await
    }
}

#[async_trait]
impl Readiness for Store {
    async fn check(&self) -> Result<(), InfraError> {
        self.run(move |conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Connection, InstrumentationEvent};
    use diesel::sqlite::SqliteConnection;

    use super::*;
    use crate::{DbTarget, StoreOptions};

    #[derive(QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    /// The query `claim` and `due` run, as SQLite plans it: down the `outbox_pending` index in
    /// creation order, with no sort of every due message.
    #[test]
    fn due_messages_are_read_in_index_order_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let store = Store::open(DbTarget::Sqlite(path.clone()), &StoreOptions::default()).unwrap();
        store.migrate().unwrap();

        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut conn =
            DbConnection::Sqlite(SqliteConnection::establish(&path.to_string_lossy()).unwrap());
        conn.set_instrumentation({
            let seen = seen.clone();
            move |e: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = e {
                    seen.lock().unwrap().push(query.to_string());
                }
            }
        });
        let now = Utc::now();
        due_rows(&mut conn, now, 1).unwrap();
        let sql = seen.lock().unwrap().pop().expect("the query was seen");
        let sql = sql.split(" -- binds").next().unwrap();

        let DbConnection::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .bind::<diesel::sql_types::Timestamp, _>(ts(now))
            .bind::<diesel::sql_types::BigInt, _>(1i64)
            .load::<PlanLine>(c)
            .unwrap()
            .into_iter()
            .map(|l| l.detail)
            .collect();
        assert!(
            plan.iter()
                .any(|l| l.contains("USING INDEX outbox_pending")),
            "{sql}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|l| l.contains("TEMP B-TREE")),
            "{sql}: {plan:?}"
        );
    }
}
