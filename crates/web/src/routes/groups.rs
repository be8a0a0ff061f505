//! Identity-provider group → role mappings (admins): `GET`/`POST`/`DELETE /api/admin/group-mappings`.

use actix_web::{HttpRequest, HttpResponse, web};
use planpush_roles::GroupMapping;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/group-mappings", web::get().to(list))
        .route("/api/admin/group-mappings", web::post().to(add))
        .route("/api/admin/group-mappings", web::delete().to(remove));
}

fn mapping_json(m: &GroupMapping) -> serde_json::Value {
    json!({"group": m.group.as_str(), "role": m.role})
}

/// `GET /api/admin/group-mappings` → `{"mappings": [{group, role}]}`.
#[utoipa::path(
    get, path = "/api/admin/group-mappings", operation_id = "list_group_mappings", tag = "groups", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Every mapping", body = super::openapi::GroupMappingList), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema)),
)]
async fn list(state: web::Data<AppState>, ApiUser(p): ApiUser) -> Result<HttpResponse, ApiError> {
    let mappings = state.groups.mappings(&p).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"mappings": mappings.iter().map(mapping_json).collect::<Vec<_>>()})))
}

/// `{group, role}`, as a JSON body (POST) or as query parameters (DELETE; a body works too).
/// An identity-provider group and the role its members get.
#[derive(Deserialize, ToSchema)]
#[schema(as = GroupMappingInput)]
struct MappingInput {
    group: String,
    role: String,
}

/// `POST /api/admin/group-mappings {group, role}` → `201 {group, role}`.
#[utoipa::path(
    post, path = "/api/admin/group-mappings", operation_id = "add_group_mapping", tag = "groups", security(("bearer" = []), ("session" = [])),
    request_body = MappingInput,
    responses((status = 201, description = "The mapping (members of the group are reconciled at once)", body = super::openapi::GroupMapping), (status = 400, description = "Invalid group or role", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema)),
)]
async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    body: web::Json<MappingInput>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let m = state
        .groups
        .add_mapping(&p, &body.group, &body.role, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::Created().json(mapping_json(&m)))
}

/// `DELETE /api/admin/group-mappings?group=&role=` (or the same as a JSON body) → `204`.
#[utoipa::path(
    delete, path = "/api/admin/group-mappings", operation_id = "remove_group_mapping", tag = "groups", security(("bearer" = []), ("session" = [])),
    params(
        ("group" = Option<String>, Query, description = "The group (or send a JSON body `{group, role}`)"),
        ("role" = Option<String>, Query, description = "The role"),
    ),
    request_body(content = Option<MappingInput>, description = "Instead of the query parameters"),
    responses((status = 204, description = "Removed"), (status = 400, description = "`invalid_mapping`: neither query nor body names it", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No mapping that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    query: web::Query<std::collections::HashMap<String, String>>,
    body: Option<web::Json<MappingInput>>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let input = match (body, query.get("group"), query.get("role")) {
        (Some(b), _, _) => b.into_inner(),
        (None, Some(group), Some(role)) => MappingInput {
            group: group.clone(),
            role: role.clone(),
        },
        _ => {
            return Err(ApiError::bad_request(
                "invalid_mapping",
                "name the mapping to delete: ?group=…&role=… or a JSON body {group, role}",
            ));
        }
    };
    state
        .groups
        .remove_mapping(&p, &input.group, &input.role, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
