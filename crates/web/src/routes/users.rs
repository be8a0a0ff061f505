//! The current user (`/api/auth/me`) and members administration (`/api/users`).

use actix_web::{HttpRequest, HttpResponse, web};
use planpush_app::{Member, MemberChange};
use planpush_identity::UserId;
use planpush_roles::{Capability, Ownership, Role};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

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
#[utoipa::path(
    get, path = "/api/auth/me", operation_id = "whoami", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller", body = super::openapi::Me), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
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

#[utoipa::path(
    get, path = "/api/users", operation_id = "list_users", tag = "users", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Every member", body = super::openapi::MemberList), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema)),
)]
async fn list(state: web::Data<AppState>, ApiUser(p): ApiUser) -> Result<HttpResponse, ApiError> {
    let members = state.admin.list(&p).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"users": members.iter().map(member_json).collect::<Vec<_>>()})))
}

/// A change to a member: absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[schema(as = MemberChange)]
struct UpdateBody {
    /// The complete set of manual roles: `admin`, `pm`, `developer`, `qa`.
    roles: Option<Vec<String>>,
    active: Option<bool>,
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| ApiError::not_found("user_not_found", "user not found"))
}

/// `PATCH /api/users/{id} {roles?, active?}`.
#[utoipa::path(
    patch, path = "/api/users/{id}", operation_id = "update_user", tag = "users", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The member after the change", body = super::openapi::Member),
        (status = 400, description = "`invalid_role`", body = super::openapi::ErrorSchema), (status = 409, description = "`last_admin`: the result would leave no active admin (nothing is written)", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No user that the caller may see", body = super::openapi::ErrorSchema),
    ),
)]
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
#[utoipa::path(
    delete, path = "/api/users/{id}/sessions", operation_id = "end_user_sessions", tag = "users", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "How many web sessions ended", body = super::openapi::SessionsEnded), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No user that the caller may see", body = super::openapi::ErrorSchema)),
)]
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
