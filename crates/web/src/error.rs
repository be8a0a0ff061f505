//! Error policy: every failure a client can act on has a stable snake_case code and a message fit
//! to show; failures it cannot act on are logged in full and answered with a generic message, never
//! their text.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
}

/// Builds a JSON error response.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: code,
        message,
    })
}
