//! Personal API tokens: `GET`/`POST /api/tokens`, `DELETE /api/tokens/{id}`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use planpush_identity::{ApiToken, TokenId};
use serde::Deserialize;
use serde_json::json;

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

async fn list(state: web::Data<AppState>, ApiUser(p): ApiUser) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.list_personal(&p).await?;
    Ok(HttpResponse::Ok().json(json!({"tokens": tokens.iter().map(view).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct CreateBody {
    label: String,
}

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
