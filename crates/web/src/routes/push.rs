//! `POST /api/push`: the CLI's and the plugin's way to create or update a plan.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use planpush_app::{MAX_DOCUMENT_BYTES, PushRequest};
use planpush_plans::Visibility;
use planpush_versions::SourceFormat;
use serde_json::json;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/push", web::post().to(push));
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The document format from `Content-Type` (and `X-Content-Format` for `text/plain`).
fn format(req: &HttpRequest) -> Result<SourceFormat, ApiError> {
    let ct = header_str(req, header::CONTENT_TYPE.as_str()).unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let explicit = header_str(req, "x-content-format").map(str::to_ascii_lowercase);
    match (mime.as_str(), explicit.as_deref()) {
        ("text/html", _) => Ok(SourceFormat::Html),
        ("text/markdown" | "text/x-markdown", _) => Ok(SourceFormat::Markdown),
        ("text/plain", Some("markdown" | "md")) => Ok(SourceFormat::Markdown),
        ("text/plain", Some("html")) => Ok(SourceFormat::Html),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send text/html or text/markdown (or text/plain with X-Content-Format: markdown); got {:?}",
                if ct.is_empty() { "nothing" } else { ct }
            ),
        )),
    }
}

async fn read_body(mut payload: web::Payload) -> Result<String, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "document_too_large",
                "the document is larger than 4 MB",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("invalid_encoding", "the document must be UTF-8"))
}

#[utoipa::path(
    post, path = "/api/push", operation_id = "push", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(
        ("X-Session-Name" = Option<String>, Header, description = "The plan's name (its slug in `/p/{name}`); a new plan when unknown"),
        ("X-Session-Id" = Option<String>, Header, description = "Update this plan (its `session_id`)"),
        ("X-Visibility" = Option<String>, Header, description = "`private` or `published`"),
        ("X-Content-Format" = Option<String>, Header, description = "`markdown` or `html`, with `Content-Type: text/plain`"),
    ),
    request_body(description = "The document, at most 4 MB of UTF-8", content(
        (String = "text/html"),
        (String = "text/markdown"),
        (String = "text/plain"),
    )),
    responses(
        (status = 201, description = "A new plan (version 1)", body = super::openapi::PushResult),
        (status = 200, description = "A new version, or nothing new (`created_version: false`)", body = super::openapi::PushResult),
        (status = 400, description = "`empty_document`, `invalid_session_name`, `invalid_session_id`, `invalid_visibility`, `invalid_encoding`", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "`forbidden` (the role may not push) or `not_session_owner`", body = super::openapi::ErrorSchema), (status = 404, description = "`session_not_found` (an `X-Session-Id` the caller cannot see)", body = super::openapi::ErrorSchema),
        (status = 409, description = "`session_name_taken` (with `suggestion`), or `session_busy`: other pushes took the version number, retry after `Retry-After`", body = super::openapi::ErrorSchema),
        (status = 413, description = "Larger than 4 MB", body = super::openapi::ErrorSchema),
        (status = 415, description = "Not HTML or Markdown", body = super::openapi::ErrorSchema),
        (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema),
        (status = 503, description = "`server_busy`: the render pool is full (`RENDER_THREADS`, `RENDER_QUEUE`); nothing was stored, retry after `Retry-After`", body = super::openapi::ErrorSchema),
    ),
)]
async fn push(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    payload: web::Payload,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let format = format(&req)?;
    let visibility = match header_str(&req, "x-visibility") {
        Some(v) => Some(
            Visibility::parse(&v.to_ascii_lowercase())
                .map_err(|e| ApiError::bad_request("invalid_visibility", e.to_string()))?,
        ),
        None => None,
    };
    let body = read_body(payload).await?;
    let bytes = body.len() as u64;
    let request = PushRequest {
        body,
        format,
        name: header_str(&req, "x-session-name").map(str::to_owned),
        session_id: header_str(&req, "x-session-id").map(str::to_owned),
        visibility,
    };
    let (out, addressed) = state
        .push
        .push_addressing(
            &p,
            request,
            header_str(&req, "x-addresses"),
            client_ip(&req, &state),
            now,
        )
        .await?;
    if out.created_version {
        let result = if out.version.get() == 1 {
            "created"
        } else {
            "updated"
        };
        metrics::counter!(crate::metrics::PUSHES, "result" => result).increment(1);
        metrics::counter!(crate::metrics::PUSH_BYTES).increment(bytes);
    }
    let status = if out.created_version && out.version.get() == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let names = |v: &[planpush_versions::AnchorId]| {
        v.iter().map(|a| a.as_str().to_owned()).collect::<Vec<_>>()
    };
    Ok(HttpResponse::build(status).json(json!({
        "session_id": out.plan.id(),
        "name": out.plan.slug().as_str(),
        "url": format!("{}/p/{}", state.settings.base_url, out.plan.slug()),
        "version": out.version.get(),
        "created_version": out.created_version,
        "visibility": out.plan.visibility().as_str(),
        "changes": {"added": names(&out.changes.added), "removed": names(&out.changes.removed), "changed": names(&out.changes.changed), "typed": typed_json(&out.typed)},
        "summary": out.summary,
        "addressed": addressed.marked,
        "addresses_ignored": addressed.ignored,
    })))
}

/// The push answer's `changes.typed`: each change with its sentence as `text` (what the CLI and
/// agents show).
pub(crate) fn typed_json(typed: &[planpush_document::TypedChange]) -> Vec<serde_json::Value> {
    typed
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("text".into(), c.sentence().into());
            }
            v
        })
        .collect()
}
