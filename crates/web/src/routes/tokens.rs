//! Personal API tokens: `GET`/`POST /api/tokens`, `DELETE /api/tokens/{id}`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use planpush_identity::{ApiToken, TokenId};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/tokens", web::get().to(list))
        .route("/api/tokens", web::post().to(create))
        .route("/api/tokens/{id}", web::delete().to(revoke));
}

fn view(t: &ApiToken) -> serde_json::Value {
    json!({
        "id": t.id,
        "label": t.label,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    })
}

#[utoipa::path(
    get, path = "/api/tokens", operation_id = "list_tokens", tag = "tokens", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller's personal API tokens", body = super::openapi::TokenList), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn list(state: web::Data<AppState>, ApiUser(p): ApiUser) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.list_personal(&p).await?;
    Ok(HttpResponse::Ok().json(json!({"tokens": tokens.iter().map(view).collect::<Vec<_>>()})))
}

/// A new personal API token.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewToken)]
struct CreateBody {
    /// What the token is for (shown in the dashboard).
    label: String,
}

#[utoipa::path(
    post, path = "/api/tokens", operation_id = "create_token", tag = "tokens", security(("bearer" = []), ("session" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The token, with its secret shown this once", body = super::openapi::CreatedToken),
        (status = 400, description = "Invalid label", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema),
    ),
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    body: web::Json<CreateBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let (token, secret) = state
        .tokens
        .create_personal(&p, &body.label, client_ip(&req, &state), now)
        .await?;
    let mut v = view(&token);
    v["token"] = secret.expose().into();
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(v))
}

#[utoipa::path(
    delete, path = "/api/tokens/{id}", operation_id = "revoke_token", tag = "tokens", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked; effective on the next request"), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No token that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let id = TokenId::parse(&id)
        .map_err(|_| ApiError::not_found("token_not_found", "token not found"))?;
    state
        .tokens
        .revoke_personal(&p, id, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
