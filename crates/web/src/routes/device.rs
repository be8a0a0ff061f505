//! The CLI's way in (RFC 8628): device authorization, polling, refresh, CLI logout, and the
//! `/activate` page where a signed-in person approves a code.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use planpush_app::{ActivateError, DeviceClient, GrantError, TokenPair};
use planpush_identity::UserCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{limit, limit_key};
use crate::clock::Now;
use crate::error::{ApiError, OAuthError};
use crate::extract::{MaybeUser, client_ip, same_origin};
use crate::ratelimit::{Budget, LimitKey};
use crate::{AppState, views};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/auth/device", web::get().to(device_authorization_get))
        .route("/api/auth/device", web::post().to(device_authorization))
        .route("/api/auth/device/token", web::post().to(device_token))
        .route("/api/auth/token", web::post().to(refresh))
        .route("/api/auth/logout", web::post().to(cli_logout))
        .route("/activate", web::get().to(activate_page))
        .route("/activate", web::post().to(activate));
}

fn tokens_json(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": pair.access_token.expose(),
            "refresh_token": pair.refresh_token.expose(),
            "token_type": "Bearer",
            "expires_in": pair.expires_in,
        }))
}

/// `GET`/`POST /api/auth/device` (RFC 8628 §3.1–3.2).
#[utoipa::path(
    post, path = "/api/auth/device", operation_id = "start_device_flow", tag = "auth",
    responses((status = 200, description = "A device code and the code to type at `verification_uri` (RFC 8628 §3.2)", body = super::openapi::DeviceAuthorization), (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema)),
)]
async fn device_authorization(
    req: HttpRequest,
    state: web::Data<AppState>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    limit(&req, &state, Budget::DeviceStart).await?;
    let client = DeviceClient::new(
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        client_ip(&req, &state),
    );
    let start = state
        .tokens
        .start_device(client, now)
        .await
        .map_err(|e| ApiError::internal(OAuthError(e)))?;
    let base = &state.settings.base_url;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(json!({
        "device_code": start.device_code.expose(),
        "user_code": start.user_code.as_str(),
        "verification_uri": format!("{base}/activate"),
        "verification_uri_complete": format!("{base}/activate?user_code={}", start.user_code),
        "expires_in": start.expires_in,
        "interval": start.interval,
        "login_url": format!("{base}/auth/login"),
        "message": format!("Open {base}/activate and enter {}. If you have never signed in to PlanPush, sign in at {base}/auth/login first.", start.user_code),
    })))
}

/// `GET /api/auth/device`: the same as `POST` (its own function so the API description names
/// each method once).
#[utoipa::path(
    get, path = "/api/auth/device", operation_id = "start_device_flow_get", tag = "auth",
    responses((status = 200, description = "A device code and the code to type at `verification_uri`", body = super::openapi::DeviceAuthorization), (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema)),
)]
async fn device_authorization_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    now: Now,
) -> Result<HttpResponse, ApiError> {
    device_authorization(req, state, now).await
}

/// Both form-encoded (RFC 6749) and JSON bodies are accepted.
#[derive(Deserialize, Default, ToSchema)]
struct GrantBody {
    device_code: Option<String>,
    refresh_token: Option<String>,
}

fn grant_body(req: &HttpRequest, body: &[u8]) -> GrantBody {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        serde_json::from_slice(body).unwrap_or_default()
    } else {
        serde_urlencoded_from(body)
    }
}

fn serde_urlencoded_from(body: &[u8]) -> GrantBody {
    let mut out = GrantBody::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "device_code" => out.device_code = Some(v.into_owned()),
            "refresh_token" => out.refresh_token = Some(v.into_owned()),
            _ => {}
        }
    }
    out
}

/// `POST /api/auth/device/token` (RFC 8628 §3.4–3.5).
#[utoipa::path(
    post, path = "/api/auth/device/token", operation_id = "poll_device_token", tag = "auth",
    request_body(description = "`device_code`, form-encoded (RFC 6749) or JSON", content(
        (GrantBody = "application/x-www-form-urlencoded"),
        (GrantBody = "application/json"),
    )),
    responses(
        (status = 200, description = "Approved: access and refresh tokens", body = super::openapi::TokenPair),
        (status = 400, description = "`authorization_pending`, `slow_down`, `expired_token`, `access_denied` (RFC 8628 §3.5) or `invalid_request`", body = super::openapi::OAuthError),
        (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema),
    ),
)]
async fn device_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    Now(now): Now,
) -> Result<HttpResponse, actix_web::Error> {
    limit(&req, &state, Budget::DevicePoll).await?;
    let Some(code) = grant_body(&req, &body).device_code else {
        return Err(ApiError::bad_request("invalid_request", "device_code is required").into());
    };
    match state.tokens.poll_device(&code, now).await {
        Ok(pair) => Ok(tokens_json(pair)),
        Err(e) => Err(OAuthError(e).into()),
    }
}

/// `POST /api/auth/token`: refresh → new access and refresh tokens.
#[utoipa::path(
    post, path = "/api/auth/token", operation_id = "refresh_token", tag = "auth",
    request_body(description = "`refresh_token`, form-encoded or JSON; it rotates on every use", content(
        (GrantBody = "application/x-www-form-urlencoded"),
        (GrantBody = "application/json"),
    )),
    responses(
        (status = 200, description = "New access and refresh tokens (the old refresh token is spent)", body = super::openapi::TokenPair),
        (status = 400, description = "`invalid_grant` (a reused refresh token revokes its whole family) or `invalid_request`", body = super::openapi::OAuthError),
        (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema),
    ),
)]
async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    Now(now): Now,
) -> Result<HttpResponse, actix_web::Error> {
    // Refresh is counted per token family, in `Tokens::refresh` (Budget::Refresh).
    let Some(token) = grant_body(&req, &body).refresh_token else {
        return Err(ApiError::bad_request("invalid_request", "refresh_token is required").into());
    };
    match state
        .tokens
        .refresh(&token, client_ip(&req, &state), now)
        .await
    {
        Ok(pair) => Ok(tokens_json(pair)),
        Err(e) => Err(OAuthError(e).into()),
    }
}

/// `POST /api/auth/logout {refresh_token}`: the CLI signs out; its whole token family is revoked.
#[utoipa::path(
    post, path = "/api/auth/logout", operation_id = "cli_logout", tag = "auth",
    request_body(description = "`refresh_token`, form-encoded or JSON", content(
        (GrantBody = "application/x-www-form-urlencoded"),
        (GrantBody = "application/json"),
    )),
    responses((status = 204, description = "The token's family is revoked (also when it was unknown)")),
)]
async fn cli_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    Now(now): Now,
) -> Result<HttpResponse, actix_web::Error> {
    // Not limited per address (a page could spend it from visitors' browsers and block CLI
    // logouts): it needs a refresh token and costs one indexed lookup, like a refused Bearer.
    let token = grant_body(&req, &body).refresh_token.unwrap_or_default();
    state
        .tokens
        .logout(&token, now)
        .await
        .map_err(|e: GrantError| OAuthError(e))?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ActivateQuery {
    user_code: Option<String>,
}

fn html(status: StatusCode, markup: maud::Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

fn to_login(req: &HttpRequest) -> HttpResponse {
    let back = req
        .uri()
        .path_and_query()
        .map_or("/activate".to_owned(), |p| p.to_string());
    let target = format!(
        "/auth/login?redirect_to={}",
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    );
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish()
}

/// `GET /activate[?user_code=]`: signed-in people type the code, then see what they are about to
/// approve (client, when, from where) and confirm deliberately; others sign in first.
async fn activate_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: MaybeUser,
    q: web::Query<ActivateQuery>,
    Now(now): Now,
) -> HttpResponse {
    let Some(p) = user.0 else {
        return to_login(&req);
    };
    let typed = q.user_code.as_deref().unwrap_or("").trim();
    if typed.is_empty() {
        return html(StatusCode::OK, views::activate_entry(&p.login, "", None));
    }
    // Looking a code up shows who asked for it: as limited as approving one.
    if let Err(e) = limit_key(&state, Budget::Activate, LimitKey::User(p.user_id)).await {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            views::message("Too many attempts", &e.message, None),
        );
    }
    confirm_page(&state, &p.login, typed, StatusCode::OK, None, now).await
}

/// The confirmation page for `typed`, or the entry page saying why there is nothing to confirm.
async fn confirm_page(
    state: &AppState,
    login: &str,
    typed: &str,
    status: StatusCode,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> HttpResponse {
    let code = match UserCode::parse(typed) {
        Ok(c) => c,
        Err(e) => {
            return html(
                StatusCode::BAD_REQUEST,
                views::activate_entry(login, typed, Some(&e.to_string())),
            );
        }
    };
    match state.tokens.device_request(&code, now).await {
        Ok(request) => html(status, views::activate_confirm(login, &request, error)),
        Err(ActivateError::Unknown(e)) => {
            tracing::error!(error = ?e, "reading a device request failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                views::message("Something went wrong", "Try again.", None),
            )
        }
        Err(e) => html(
            StatusCode::BAD_REQUEST,
            views::activate_entry(login, code.as_str(), Some(&e.to_string())),
        ),
    }
}

#[derive(Deserialize)]
struct ActivateForm {
    user_code: String,
    action: String,
    /// The confirmation checkbox: approving needs `yes`.
    confirm: Option<String>,
}

/// `POST /activate`: approve (only with the confirmation ticked) or deny.
async fn activate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: MaybeUser,
    form: web::Form<ActivateForm>,
    Now(now): Now,
) -> HttpResponse {
    let Some(p) = user.0 else {
        return to_login(&req);
    };
    if let Err(e) = limit_key(&state, Budget::Activate, LimitKey::User(p.user_id)).await {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            views::message("Too many attempts", &e.message, None),
        );
    }
    if !same_origin(&req, &state.settings.base_url) {
        return html(
            StatusCode::FORBIDDEN,
            views::message("Refused", "Cross-origin approvals are refused.", None),
        );
    }
    let code = match UserCode::parse(&form.user_code) {
        Ok(c) => c,
        Err(e) => {
            return html(
                StatusCode::BAD_REQUEST,
                views::activate_entry(&p.login, &form.user_code, Some(&e.to_string())),
            );
        }
    };
    let approve = match form.action.as_str() {
        "approve" if form.confirm.as_deref() == Some("yes") => true,
        "approve" => {
            return confirm_page(
                &state,
                &p.login,
                code.as_str(),
                StatusCode::BAD_REQUEST,
                Some("Tick the box to confirm that you started this login, then approve."),
                now,
            )
            .await;
        }
        "deny" => false,
        _ => {
            return confirm_page(
                &state,
                &p.login,
                code.as_str(),
                StatusCode::BAD_REQUEST,
                Some("Choose Approve or Deny."),
                now,
            )
            .await;
        }
    };
    match state
        .tokens
        .decide_device(&p, &code, approve, client_ip(&req, &state), now)
        .await
    {
        Ok(()) if approve => html(
            StatusCode::OK,
            views::message(
                "Device approved",
                "You can close this tab: the CLI is signed in as you.",
                None,
            ),
        ),
        Ok(()) => html(
            StatusCode::OK,
            views::message(
                "Device denied",
                "The login was refused. Nothing was signed in.",
                None,
            ),
        ),
        Err(ActivateError::Unknown(e)) => {
            tracing::error!(error = ?e, "activation failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                views::message("Something went wrong", "Try again.", None),
            )
        }
        Err(e) => html(
            StatusCode::BAD_REQUEST,
            views::activate_entry(&p.login, code.as_str(), Some(&e.to_string())),
        ),
    }
}
