//! The current user (`/api/auth/me`) and members administration (`/api/users`).

use actix_web::{HttpRequest, HttpResponse, web};
use planpush_app::{Member, MemberChange};
use planpush_identity::UserId;
use planpush_roles::{Capability, Ownership, Role};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/auth/me", web::get().to(me))
        .route("/api/users", web::get().to(list))
        .route("/api/users/{id}", web::patch().to(update))
        .route(
            "/api/users/{id}/sessions",
            web::delete().to(sign_out_everywhere),
        );
}

fn member_json(m: &Member) -> serde_json::Value {
    json!({
        "id": m.user.id,
        "login": m.user.login,
        "name": m.user.name,
        "email": m.user.email.as_ref().map(|e| e.as_str()),
        "avatar_url": m.user.avatar_url,
        "active": m.user.is_active(),
        "origin": m.origin.as_str(),
        "created_at": m.user.created_at,
        "last_login_at": m.user.last_login_at,
        "roles": m.roles(),
        "grants": m.grants.iter().map(|g| json!({"role": g.role, "origin": g.origin, "granted_at": g.granted_at})).collect::<Vec<_>>(),
    })
}

/// `GET /api/auth/me`: who I am, my roles and permissions, my active browser sessions.
async fn me(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let me = state.admin.profile(&p, now).await?;
    let permissions: Vec<serde_json::Value> = Capability::ALL
        .iter()
        .filter(|c| p.can(**c, Ownership::Own))
        .map(|c| json!({"capability": c.as_str(), "scope": if p.can(*c, Ownership::Others) { "any" } else { "own" }}))
        .collect();
    let mut body = member_json(&me.member);
    body["permissions"] = permissions.into();
    body["sessions"] = me.sessions.iter().map(|s| json!({"created_at": s.created_at, "last_seen_at": s.last_seen_at, "expires_at": s.expires_at})).collect::<Vec<_>>().into();
    Ok(HttpResponse::Ok().json(body))
}

async fn list(state: web::Data<AppState>, ApiUser(p): ApiUser) -> Result<HttpResponse, ApiError> {
    let members = state.admin.list(&p).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"users": members.iter().map(member_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct UpdateBody {
    roles: Option<Vec<String>>,
    active: Option<bool>,
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| ApiError::not_found("user_not_found", "user not found"))
}

/// `PATCH /api/users/{id} {roles?, active?}`.
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    body: web::Json<UpdateBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let roles = match &body.roles {
        Some(roles) => Some(
            roles
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::bad_request("invalid_role", e.to_string()))?,
        ),
        None => None,
    };
    let change = MemberChange {
        roles,
        active: body.active,
    };
    let member = state
        .admin
        .update_member(&p, user_id(&id)?, change, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::Ok().json(member_json(&member)))
}

/// `DELETE /api/users/{id}/sessions`: sign the user out everywhere.
async fn sign_out_everywhere(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let ended = state
        .admin
        .sign_out_everywhere(&p, user_id(&id)?, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"sessions_ended": ended})))
}
