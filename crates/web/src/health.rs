use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::error::json_error;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "The process serves requests", body = crate::routes::openapi::Health)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers too.
#[utoipa::path(
    get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = crate::routes::openapi::Health),
        (status = 503, description = "The database is not reachable (`not_ready`)", body = crate::routes::openapi::ErrorSchema),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.health.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = ?e.0, "readiness check failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready", &e.to_string())
        }
    }
}
