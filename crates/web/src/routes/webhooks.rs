//! Outgoing webhooks (admins): `GET`/`POST /api/admin/webhooks`, `DELETE /api/admin/webhooks/{id}`,
//! `POST /api/admin/webhooks/{id}/test`.

use actix_web::{HttpRequest, HttpResponse, web};
use planpush_app::{NewWebhook, Webhook, WebhookDelivery, WebhookEvent, WebhookId, WebhookView};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/webhooks", web::get().to(list))
        .route("/api/admin/webhooks", web::post().to(create))
        .route("/api/admin/webhooks/{id}", web::delete().to(delete))
        .route("/api/admin/webhooks/{id}/test", web::post().to(test));
}

fn hook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| ApiError::not_found("webhook_not_found", "no such webhook"))
}

pub(crate) fn delivery_json(d: &WebhookDelivery) -> Value {
    let m = &d.message;
    json!({
        "id": m.id.to_string(),
        "event": d.event,
        "status": d.status(),
        "attempts": m.attempts,
        "created_at": m.created_at,
        "next_attempt_at": (m.delivered_at.is_none() && m.gave_up_at.is_none()).then_some(m.next_attempt_at),
        "delivered_at": m.delivered_at,
        "gave_up_at": m.gave_up_at,
        "last_error": m.last_error,
    })
}

fn hook_json(h: &Webhook) -> Value {
    json!({
        "id": h.id.to_string(),
        "url": h.url,
        "events": h.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "created_at": h.created_at,
    })
}

pub(crate) fn view_json(v: &WebhookView) -> Value {
    let mut out = hook_json(&v.hook);
    if let Value::Object(map) = &mut out {
        map.insert(
            "deliveries".into(),
            v.deliveries.iter().map(delivery_json).collect(),
        );
    }
    out
}

/// `GET /api/admin/webhooks` → `{"webhooks": [...], "events": [...]}`.
#[utoipa::path(
    get, path = "/api/admin/webhooks", operation_id = "list_webhooks", tag = "webhooks", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Every hook with its recent deliveries (newest first), and the events a hook can subscribe to", body = super::openapi::WebhookList), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema)),
)]
async fn list(state: web::Data<AppState>, ApiUser(p): ApiUser) -> Result<HttpResponse, ApiError> {
    let hooks = state.webhooks.list(&p).await?;
    Ok(HttpResponse::Ok().json(json!({
        "webhooks": hooks.iter().map(view_json).collect::<Vec<_>>(),
        "events": WebhookEvent::ALL.map(WebhookEvent::as_str),
    })))
}

/// A hook to register: where to send, and which events (all when omitted or empty).
#[derive(Deserialize, ToSchema)]
#[schema(as = WebhookInput)]
struct WebhookInput {
    /// `https://…` (plain `http://` only to a loopback host); internal addresses are refused
    /// unless `WEBHOOK_ALLOWED_NETWORKS` allows them.
    url: String,
    /// Event names: `plan.version_created`, `plan.published`, `comment.created`, `comment.resolved`.
    #[serde(default)]
    events: Vec<String>,
}

/// `POST /api/admin/webhooks {url, events}` → `201 {id, url, events, created_at, secret}`.
#[utoipa::path(
    post, path = "/api/admin/webhooks", operation_id = "create_webhook", tag = "webhooks", security(("bearer" = []), ("session" = [])),
    request_body = WebhookInput,
    responses((status = 201, description = "The hook, with its signing secret (`whsec_…`), shown this once only", body = super::openapi::WebhookCreated), (status = 400, description = "`invalid_webhook`: a refused URL (scheme, credentials, internal address) or an unknown event", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema)),
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    body: web::Json<WebhookInput>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let input = NewWebhook {
        url: body.url.clone(),
        events: body.events.clone(),
    };
    let (hook, secret) = state
        .webhooks
        .create(&p, &input, client_ip(&req, &state), now)
        .await?;
    let mut out = hook_json(&hook);
    if let Value::Object(map) = &mut out {
        map.insert("secret".into(), Value::String(secret));
    }
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(out))
}

/// `DELETE /api/admin/webhooks/{id}` → `204` (its pending deliveries are dropped).
#[utoipa::path(
    delete, path = "/api/admin/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The hook's id")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No such webhook", body = super::openapi::ErrorSchema)),
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    state
        .webhooks
        .delete(&p, hook_id(&id)?, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/admin/webhooks/{id}/test` → `202 {delivery}`: a signed `webhook.test` event is queued.
#[utoipa::path(
    post, path = "/api/admin/webhooks/{id}/test", operation_id = "test_webhook", tag = "webhooks", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The hook's id")),
    responses((status = 202, description = "The test delivery, queued (it appears in the hook's delivery log)", body = super::openapi::WebhookDeliveryQueued), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No such webhook", body = super::openapi::ErrorSchema)),
)]
async fn test(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.webhooks.send_test(&p, hook_id(&id)?, now).await?;
    Ok(HttpResponse::Accepted().json(json!({"delivery": delivery_json(&delivery)})))
}
