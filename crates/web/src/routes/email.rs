//! E-mail: the caller's preference (`GET`/`PUT /api/me/email-preferences`) and the one-click
//! unsubscribe page (`GET`/`POST /unsubscribe/{token}`).
//!
//! The unsubscribe routes take no session: the signed token is the authority, and all it can do is
//! turn e-mail off for the user it names. `POST` is what RFC 8058 one-click clients send (no
//! cookie, no `Origin` of ours), so it is not subject to the same-origin rule for session-cookie
//! requests; that rule is untouched for every other route, because it lives in the session
//! extractor, which these routes do not use.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use planpush_app::{EmailMode, EmailSettings, UnsubscribeError};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::ApiUser;
use crate::views;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/me/email-preferences", web::get().to(get_preferences))
        .route("/api/me/email-preferences", web::put().to(put_preferences))
        .route("/unsubscribe/{token}", web::get().to(unsubscribe_page))
        .route("/unsubscribe/{token}", web::post().to(unsubscribe));
}

fn settings_json(s: &EmailSettings) -> serde_json::Value {
    json!({
        "mode": s.mode.as_str(),
        "address": s.address,
        "enabled": s.enabled,
        "modes": EmailMode::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
    })
}

#[utoipa::path(
    get, path = "/api/me/email-preferences", operation_id = "get_email_preferences", tag = "email", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller's e-mail preference", body = super::openapi::EmailPreferences), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn get_preferences(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .emails
        .settings(&p)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(settings_json(&s)))
}

/// A new e-mail preference.
#[derive(Deserialize, ToSchema)]
#[schema(as = EmailPreferenceChange)]
struct PreferenceBody {
    /// `immediate` (one e-mail per notification), `daily` (one digest a day) or `off`.
    mode: String,
}

#[utoipa::path(
    put, path = "/api/me/email-preferences", operation_id = "set_email_preferences", tag = "email", security(("bearer" = []), ("session" = [])),
    request_body = PreferenceBody,
    responses(
        (status = 200, description = "The caller's e-mail preference after the change", body = super::openapi::EmailPreferences),
        (status = 400, description = "`invalid_email_mode`", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "`cross_origin`: a session-cookie request from another site", body = super::openapi::ErrorSchema),
    ),
)]
async fn put_preferences(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    body: web::Json<PreferenceBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let mode = EmailMode::parse(&body.mode).ok_or_else(|| {
        ApiError::bad_request("invalid_email_mode", "mode must be immediate, daily or off")
    })?;
    let s = state
        .emails
        .set_mode(&p, mode, now)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(settings_json(&s)))
}

fn page(status: StatusCode, markup: maud::Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // The token is in the URL: never send it on as a referrer.
        .insert_header(("referrer-policy", "no-referrer"))
        .body(markup.into_string())
}

fn refused(e: UnsubscribeError) -> HttpResponse {
    match e {
        UnsubscribeError::InvalidToken => page(StatusCode::NOT_FOUND, views::unsubscribe_invalid()),
        UnsubscribeError::Unknown(e) => {
            let e = ApiError::internal(e);
            page(
                e.status,
                views::message("Something went wrong", &e.message, None),
            )
        }
    }
}

/// `GET /unsubscribe/{token}`: who the link is for and a button; nothing changes yet (mail
/// scanners follow links).
async fn unsubscribe_page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match state.emails.unsubscribe_target(&token).await {
        Ok(target) => page(StatusCode::OK, views::unsubscribe_confirm(&target, &token)),
        Err(e) => refused(e),
    }
}

/// `POST /unsubscribe/{token}`: the button, or an RFC 8058 one-click request
/// (`List-Unsubscribe=One-Click` in the body, which is not needed).
async fn unsubscribe(
    state: web::Data<AppState>,
    token: web::Path<String>,
    Now(now): Now,
) -> HttpResponse {
    match state.emails.unsubscribe(&token, now).await {
        Ok(target) => page(StatusCode::OK, views::unsubscribed(&target)),
        Err(e) => refused(e),
    }
}
