//! The audit log over the API: `GET /api/audit` (one keyset page) and `GET /api/audit/export`
//! (every matching event, streamed as CSV or JSON lines).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use planpush_app::{AuditEntry, AuditQueryInput};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiUser;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/audit", web::get().to(page))
        .route("/api/audit/export", web::get().to(export));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Only events by this user (login or id).
    actor: Option<String>,
    /// Only this action (e.g. `plan.pushed`).
    action: Option<String>,
    /// Only events on this target (e.g. `plan:<id>`).
    target: Option<String>,
    /// Events at or after this time (RFC 3339 or a date).
    from: Option<String>,
    /// Events up to this time (RFC 3339 or a date).
    to: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size (default 50, at most 200).
    limit: Option<u32>,
    /// Export only: `csv` (default) or `jsonl`.
    format: Option<String>,
}

impl AuditParams {
    fn input(&self) -> AuditQueryInput {
        AuditQueryInput {
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }
}

fn event_json(e: &AuditEntry) -> serde_json::Value {
    json!({
        "id": e.event.id,
        "at": e.event.at,
        "actor_id": e.event.actor,
        "actor_login": e.actor_login,
        "action": e.event.action.as_str(),
        "target": e.event.target,
        "ip": e.event.ip.map(|i| i.to_string()),
        "details": e.event.details,
    })
}

#[utoipa::path(
    get, path = "/api/audit", operation_id = "audit_page", tag = "audit", security(("bearer" = []), ("session" = [])),
    params(AuditParams),
    responses((status = 200, description = "One page of events, newest first", body = super::openapi::AuditPage), (status = 400, description = "`invalid_filter`, `invalid_cursor`, `invalid_limit`", body = super::openapi::ErrorSchema), (status = 403, description = "`actor=` someone else without the audit capability", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn page(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let page = state.audit_log.page(&p, &q.input()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "events": page.entries.iter().map(|e| {
            let mut v = event_json(e);
            // What the target is, for people; exports keep only the raw `kind:id`.
            v["target_label"] = e
                .target_label
                .as_ref()
                .map_or(serde_json::Value::Null, |l| json!({"text": l.text, "href": l.href}));
            v
        }).collect::<Vec<_>>(),
        "next_cursor": page.next,
        "scope": if page.everyone { "all" } else { "own" },
    })))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

/// One CSV field, quoted when it must be (RFC 4180), with formula-leading characters defused so a
/// spreadsheet never evaluates an event's text.
fn csv_field(out: &mut String, s: &str) {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let s = if risky { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&s);
    }
}

fn csv_row(out: &mut String, e: &AuditEntry) {
    let fields = [
        e.event.id.as_uuid().to_string(),
        e.event
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.event.actor.map(|a| a.to_string()).unwrap_or_default(),
        e.actor_login.clone().unwrap_or_default(),
        e.event.action.as_str().to_owned(),
        e.event.target.clone().unwrap_or_default(),
        e.event.ip.map(|i| i.to_string()).unwrap_or_default(),
        e.event.details.to_string(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

#[utoipa::path(
    get, path = "/api/audit/export", operation_id = "audit_export", tag = "audit", security(("bearer" = []), ("session" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "Every matching event, streamed as a download", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "`invalid_format` or an invalid filter", body = super::openapi::ErrorSchema), (status = 403, description = "`actor=` someone else without the audit capability", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema),
    ),
)]
async fn export(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let format = match q.format.as_deref().unwrap_or("csv") {
        "csv" => Format::Csv,
        "jsonl" | "ndjson" => Format::JsonLines,
        other => {
            return Err(ApiError::bad_request(
                "invalid_format",
                format!("unknown format {other:?}: use csv or jsonl"),
            ));
        }
    };
    let export = state.audit_log.export(&p, &q.input()).await?;
    let header_row = (format == Format::Csv)
        .then(|| Bytes::from_static(b"id,at,actor_id,actor_login,action,target,ip,details\r\n"));
    let body = futures_util::stream::unfold(
        (Some(export), header_row),
        move |(export, first)| async move {
            let mut export = export?;
            if let Some(h) = first {
                return Some((Ok::<_, actix_web::Error>(h), (Some(export), None)));
            }
            match export.next_batch().await {
                Ok(Some(batch)) => {
                    let mut out = String::with_capacity(batch.len() * 200);
                    for e in &batch {
                        match format {
                            Format::Csv => csv_row(&mut out, e),
                            Format::JsonLines => {
                                out.push_str(&event_json(e).to_string());
                                out.push('\n');
                            }
                        }
                    }
                    Some((Ok(Bytes::from(out)), (Some(export), None)))
                }
                Ok(None) => None,
                Err(e) => {
                    // Headers are gone; end the body early so the client sees a truncated file.
                    let _ = ApiError::from(e);
                    Some((
                        Err(actix_web::error::ErrorInternalServerError("export failed")),
                        (None, None),
                    ))
                }
            }
        },
    );
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::JsonLines => ("application/x-ndjson", "jsonl"),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"planpush-audit.{ext}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}
