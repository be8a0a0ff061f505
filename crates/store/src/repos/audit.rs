use std::net::IpAddr;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_audit::{
    AuditError, AuditEvent, AuditFilter, AuditId, AuditPage, AuditQuery, AuditSink, Cursor,
};
use planpush_identity::UserId;

use crate::dialect::{insert_rows, write_tx};
use crate::rows::{corrupt, db, ts, utc, uuid};
use crate::schema::audit_log as a;
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable)]
// NULL, not DEFAULT, for `None`: one multi-row statement on SQLite (see `insert_rows!`).
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = a)]
pub(crate) struct AuditRow {
    id: String,
    at: NaiveDateTime,
    actor_id: Option<String>,
    action: String,
    target: Option<String>,
    ip: Option<String>,
    details: String,
}

impl From<&AuditEvent> for AuditRow {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.as_uuid().to_string(),
            at: ts(e.at),
            actor_id: e.actor.map(|u| u.to_string()),
            action: e.action.as_str().to_owned(),
            target: e.target.clone(),
            ip: e.ip.map(|ip| ip.to_string()),
            details: e.details.to_string(),
        }
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = anyhow::Error;
    fn try_from(r: AuditRow) -> anyhow::Result<Self> {
        Ok(AuditEvent {
            id: AuditId::from_uuid(uuid(&r.id)?),
            at: utc(r.at),
            actor: r
                .actor_id
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(UserId::from_uuid),
            action: r.action.parse().map_err(|e| corrupt("audit action", e))?,
            target: r.target,
            ip: r
                .ip
                .as_deref()
                .map(str::parse::<IpAddr>)
                .transpose()
                .map_err(|e| corrupt("ip", e))?,
            details: serde_json::from_str(&r.details).map_err(|e| corrupt("audit details", e))?,
        })
    }
}

/// `events` as rows, for [`insert_audit`].
pub(crate) fn audit_rows(events: &[AuditEvent]) -> Vec<AuditRow> {
    events.iter().map(AuditRow::from).collect()
}

/// Writes audit rows in the caller's transaction (the sink's own, or a push's commit).
pub(crate) fn insert_audit(conn: &mut DbConnection, rows: &[AuditRow]) -> diesel::QueryResult<()> {
    insert_rows!(conn, a::table, rows, 500)
}

#[async_trait]
impl AuditSink for Store {
    async fn record(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = audit_rows(events);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                insert_audit(conn, &rows).map_err(db::<AuditError>)
            })
        })
        .await
    }
}

#[async_trait]
impl AuditQuery for Store {
    async fn page(
        &self,
        filter: &AuditFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<AuditPage, AuditError> {
        let filter = filter.clone();
        let limit = limit.clamp(1, 1000);
        self.run(move |conn| {
            let mut q = a::table.into_boxed();
            if let Some(u) = filter.actor {
                q = q.filter(a::actor_id.eq(u.to_string()));
            }
            if let Some(act) = filter.action {
                q = q.filter(a::action.eq(act.as_str()));
            }
            if let Some(t) = filter.target {
                q = q.filter(a::target.eq(t));
            }
            if let Some(f) = filter.from {
                q = q.filter(a::at.ge(ts(f)));
            }
            if let Some(t) = filter.to {
                q = q.filter(a::at.lt(ts(t)));
            }
            if let Some(c) = after {
                let (at, id) = (ts(c.at), c.id.as_uuid().to_string());
                // `at <= cursor` first: a plain range both planners seek to in the
                // `(…, at DESC, id DESC)` indexes, so a deep page costs the same as the first.
                q = q.filter(a::at.le(at)).filter(a::at.lt(at).or(a::id.lt(id)));
            }
            let rows: Vec<AuditRow> = q
                .order((a::at.desc(), a::id.desc()))
                .limit(i64::from(limit) + 1)
                .select(AuditRow::as_select())
                .load(conn)
                .map_err(db::<AuditError>)?;
            let mut events = rows
                .into_iter()
                .map(AuditEvent::try_from)
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(AuditError::Unknown)?;
            let more = events.len() > limit as usize;
            events.truncate(limit as usize);
            let next = if more {
                events.last().map(AuditEvent::cursor)
            } else {
                None
            };
            Ok(AuditPage { events, next })
        })
        .await
    }
}
