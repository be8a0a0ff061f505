//! SCIM 2.0 at `/scim/v2` (RFC 7644) for Okta and Microsoft Entra ID: Users, Groups, discovery
//! documents and `.search`. Every request carries `Authorization: Bearer <SCIM_AUTH_TOKEN>`; the
//! whole endpoint answers `404` while `SCIM_AUTH_TOKEN` is unset. Bodies are read as JSON whether
//! sent as `application/scim+json` or `application/json`; answers are `application/scim+json`,
//! errors in the SCIM Error schema (`status` as a string).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use planpush_scim::resource::ListQuery;
use planpush_scim::{ResourceKind, ScimError, ScimType};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::clock::Now;
use crate::extract::client_ip;
use crate::ratelimit::{Budget, LimitKey};

/// The SCIM media type.
pub(crate) const SCIM_JSON: &str = "application/scim+json";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // Each resource answers other methods with `405` (after the bearer check).
    cfg.service(
        web::scope("/scim/v2")
            .service(
                web::resource("/ServiceProviderConfig")
                    .route(web::get().to(service_provider_config))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes")
                    .route(web::get().to(resource_types))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes/{id}")
                    .route(web::get().to(resource_type))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Schemas")
                    .route(web::get().to(schemas))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Schemas/{id}")
                    .route(web::get().to(schema))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/.search")
                    .route(web::post().to(search_all))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users")
                    .route(web::get().to(list_users))
                    .route(web::post().to(create_user))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users/.search")
                    .route(web::post().to(search_users))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users/{id}")
                    .route(web::get().to(get_user))
                    .route(web::put().to(replace_user))
                    .route(web::patch().to(patch_user))
                    .route(web::delete().to(delete_user))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups")
                    .route(web::get().to(list_groups))
                    .route(web::post().to(create_group))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups/.search")
                    .route(web::post().to(search_groups))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups/{id}")
                    .route(web::get().to(get_group))
                    .route(web::put().to(replace_group))
                    .route(web::patch().to(patch_group))
                    .route(web::delete().to(delete_group))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found)),
    );
}

/// A SCIM error response.
#[derive(Debug)]
pub(crate) struct ScimFailure {
    error: ScimError,
    retry_after: Option<u64>,
}

impl From<ScimError> for ScimFailure {
    fn from(error: ScimError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ScimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for ScimFailure {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(SCIM_JSON);
        if self.error.status == 401 {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scim\""));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.body(self.error.to_json().to_string())
    }
}

type Answer = Result<HttpResponse, ScimFailure>;

fn ok(status: StatusCode, body: &Value) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.content_type(SCIM_JSON);
    if status == StatusCode::CREATED
        && let Some(loc) = body["meta"]["location"].as_str()
    {
        res.insert_header((header::LOCATION, loc.to_owned()));
    }
    res.body(body.to_string())
}

/// The bearer check and the per-token budget, before anything else.
async fn guard(req: &HttpRequest, state: &AppState) -> Result<(), ScimFailure> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    state.scim.authenticate(auth)?;
    let digest: [u8; 32] = Sha256::digest(auth.unwrap_or_default().as_bytes()).into();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    state
        .limits
        .check(Budget::Scim, LimitKey::Token(key))
        .await
        .map_err(|wait| ScimFailure {
            error: ScimError::new(429, None, "too many SCIM requests; slow down"),
            retry_after: Some(wait.as_secs().max(1)),
        })
}

/// A JSON body, whatever JSON media type it was sent as.
fn json_body(req: &HttpRequest, body: &web::Bytes) -> Result<Value, ScimFailure> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.is_empty() && essence != SCIM_JSON && essence != "application/json" {
        return Err(
            ScimError::new(415, None, "send application/scim+json or application/json").into(),
        );
    }
    serde_json::from_slice(body).map_err(|e| {
        ScimError::bad(
            ScimType::InvalidSyntax,
            format!("the body is not valid JSON: {e}"),
        )
        .into()
    })
}

type Params = web::Query<Vec<(String, String)>>;

async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    guard(&req, &state).await?;
    Err(ScimError::not_found("no such SCIM endpoint").into())
}

async fn method_not_allowed(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    guard(&req, &state).await?;
    Err(ScimError::new(405, None, format!("{} is not supported here", req.method())).into())
}

async fn service_provider_config(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    guard(&req, &state).await?;
    Ok(ok(StatusCode::OK, &state.scim.service_provider_config()))
}

async fn resource_types(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    guard(&req, &state).await?;
    Ok(ok(StatusCode::OK, &state.scim.resource_types(None)?))
}

async fn resource_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    guard(&req, &state).await?;
    Ok(ok(StatusCode::OK, &state.scim.resource_types(Some(&id))?))
}

async fn schemas(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    guard(&req, &state).await?;
    Ok(ok(StatusCode::OK, &state.scim.schemas(None)?))
}

async fn schema(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    guard(&req, &state).await?;
    Ok(ok(StatusCode::OK, &state.scim.schemas(Some(&id))?))
}

async fn search_all(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Answer {
    guard(&req, &state).await?;
    let q = ListQuery::from_search(&json_body(&req, &body)?, ResourceKind::User)?;
    Ok(ok(StatusCode::OK, &state.scim.search_all(&q).await?))
}

// ------------------------------------------------------------------------------------ Users

async fn list_users(req: HttpRequest, state: web::Data<AppState>, params: Params) -> Answer {
    guard(&req, &state).await?;
    let q = ListQuery::from_params(&params, ResourceKind::User)?;
    Ok(ok(StatusCode::OK, &state.scim.list_users(&q).await?))
}

async fn search_users(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Answer {
    guard(&req, &state).await?;
    let q = ListQuery::from_search(&json_body(&req, &body)?, ResourceKind::User)?;
    Ok(ok(StatusCode::OK, &state.scim.list_users(&q).await?))
}

fn one(params: &Params, kind: ResourceKind) -> Result<planpush_app::ScimQuery, ScimFailure> {
    Ok(planpush_app::ScimQuery::from_params(params, kind)?)
}

async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
    body: web::Bytes,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    let body = json_body(&req, &body)?;
    let q = one(&params, ResourceKind::User)?;
    let user = state
        .scim
        .create_user(body, &q, client_ip(&req, &state), now)
        .await?;
    Ok(ok(StatusCode::CREATED, &user))
}

async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: Params,
) -> Answer {
    guard(&req, &state).await?;
    let q = one(&params, ResourceKind::User)?;
    Ok(ok(StatusCode::OK, &state.scim.get_user(&id, &q).await?))
}

async fn replace_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: Params,
    body: web::Bytes,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    let body = json_body(&req, &body)?;
    let q = one(&params, ResourceKind::User)?;
    let user = state
        .scim
        .replace_user(&id, body, &q, client_ip(&req, &state), now)
        .await?;
    Ok(ok(StatusCode::OK, &user))
}

async fn patch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: Params,
    body: web::Bytes,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    let body = json_body(&req, &body)?;
    let q = one(&params, ResourceKind::User)?;
    let user = state
        .scim
        .patch_user(&id, body, &q, client_ip(&req, &state), now)
        .await?;
    Ok(ok(StatusCode::OK, &user))
}

async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    state
        .scim
        .delete_user(&id, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----------------------------------------------------------------------------------- Groups

async fn list_groups(req: HttpRequest, state: web::Data<AppState>, params: Params) -> Answer {
    guard(&req, &state).await?;
    let q = ListQuery::from_params(&params, ResourceKind::Group)?;
    Ok(ok(StatusCode::OK, &state.scim.list_groups(&q).await?))
}

async fn search_groups(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Answer {
    guard(&req, &state).await?;
    let q = ListQuery::from_search(&json_body(&req, &body)?, ResourceKind::Group)?;
    Ok(ok(StatusCode::OK, &state.scim.list_groups(&q).await?))
}

async fn create_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
    body: web::Bytes,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    let body = json_body(&req, &body)?;
    let q = one(&params, ResourceKind::Group)?;
    let group = state
        .scim
        .create_group(body, &q, client_ip(&req, &state), now)
        .await?;
    Ok(ok(StatusCode::CREATED, &group))
}

async fn get_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: Params,
) -> Answer {
    guard(&req, &state).await?;
    let q = one(&params, ResourceKind::Group)?;
    Ok(ok(StatusCode::OK, &state.scim.get_group(&id, &q).await?))
}

async fn replace_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: Params,
    body: web::Bytes,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    let body = json_body(&req, &body)?;
    let q = one(&params, ResourceKind::Group)?;
    let group = state
        .scim
        .replace_group(&id, body, &q, client_ip(&req, &state), now)
        .await?;
    Ok(ok(StatusCode::OK, &group))
}

async fn patch_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: Params,
    body: web::Bytes,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    let body = json_body(&req, &body)?;
    let q = one(&params, ResourceKind::Group)?;
    let group = state
        .scim
        .patch_group(&id, body, &q, client_ip(&req, &state), now)
        .await?;
    Ok(ok(StatusCode::OK, &group))
}

async fn delete_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Now(now): Now,
) -> Answer {
    guard(&req, &state).await?;
    state
        .scim
        .delete_group(&id, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
