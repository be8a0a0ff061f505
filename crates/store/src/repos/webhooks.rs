use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_app::{InfraError, Webhook, WebhookEvent, WebhookId, WebhookRepository, hook_channel};
use planpush_identity::UserId;

use crate::Store;
use crate::dialect::write_tx;
use crate::rows::{db, ts, utc, uuid};
use crate::schema::{outbox as o, webhooks as w};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = w)]
struct WebhookRow {
    id: String,
    url: String,
    events: String,
    sealed_secret: String,
    created_by: Option<String>,
    created_at: NaiveDateTime,
}

impl From<&Webhook> for WebhookRow {
    fn from(h: &Webhook) -> Self {
        Self {
            id: h.id.to_string(),
            url: h.url.clone(),
            events: h
                .events
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(","),
            sealed_secret: h.sealed_secret.clone(),
            created_by: h.created_by.map(|u| u.to_string()),
            created_at: ts(h.created_at),
        }
    }
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = anyhow::Error;
    fn try_from(r: WebhookRow) -> anyhow::Result<Self> {
        let events = r
            .events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| WebhookEvent::parse(e).ok_or_else(|| anyhow::anyhow!("unknown event {e:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Webhook {
            id: WebhookId::from_uuid(uuid(&r.id)?),
            url: r.url,
            events,
            sealed_secret: r.sealed_secret,
            created_by: r
                .created_by
                .as_deref()
                .map(|u| uuid(u).map(UserId::from_uuid))
                .transpose()?,
            created_at: utc(r.created_at),
        })
    }
}

#[async_trait]
impl WebhookRepository for Store {
    async fn insert(&self, hook: &Webhook) -> Result<(), InfraError> {
        let row = WebhookRow::from(hook);
        self.run(move |conn| {
            diesel::insert_into(w::table)
                .values(&row)
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Webhook>, InfraError> {
        self.run(move |conn| {
            let rows: Vec<WebhookRow> = w::table
                .order((w::created_at.asc(), w::id.asc()))
                .select(WebhookRow::as_select())
                .load(conn)
                .map_err(db::<InfraError>)?;
            rows.into_iter()
                .map(Webhook::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(InfraError::Unknown)
        })
        .await
    }

    async fn get(&self, id: WebhookId) -> Result<Webhook, InfraError> {
        self.run(move |conn| {
            let row: Option<WebhookRow> = w::table
                .find(id.to_string())
                .select(WebhookRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<InfraError>)?;
            Webhook::try_from(row.ok_or(InfraError::NotFound)?).map_err(InfraError::Unknown)
        })
        .await
    }

    async fn delete(&self, id: WebhookId) -> Result<(), InfraError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let n = diesel::delete(w::table.find(id.to_string()))
                    .execute(conn)
                    .map_err(db::<InfraError>)?;
                if n == 0 {
                    return Err(InfraError::NotFound);
                }
                diesel::delete(
                    o::table
                        .filter(o::channel.eq(hook_channel(id)))
                        .filter(o::delivered_at.is_null())
                        .filter(o::gave_up_at.is_null()),
                )
                .execute(conn)
                .map_err(db::<InfraError>)?;
                Ok(())
            })
        })
        .await
    }
}
