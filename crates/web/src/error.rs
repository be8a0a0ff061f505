//! Error policy: every failure a client can act on has a stable snake_case code and a message fit
//! to show; failures it cannot act on are logged in full with a request id and answered with a
//! generic message, never their text.
//!
//! This module is the one mapping from `app` errors to HTTP: every `From<…Error> for ApiError`
//! lives here, so a status or code is decided once whichever route the error comes from.
//! Answers that carry more than `error` and `message` (a push's `suggestion`) add fields with
//! [`ApiError::with`].

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use planpush_app::{
    ActivateError, AdminError, AuditLogError, BearerError, CommentError, GrantError,
    GroupMappingError, PlanError, PushError, SignInError, TokenError, WebhookError,
};
use serde::Serialize;

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
    /// The request's id (also in `X-Request-Id`), to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}

/// Builds a JSON error response.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let id = crate::request_id::current();
    HttpResponse::build(status).json(ErrorBody {
        error: code,
        message,
        request_id: id.as_deref(),
    })
}

/// An API failure: status, code and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (rate limits).
    pub retry_after: Option<u64>,
    /// Fields added to the JSON body next to `error` and `message`.
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            extra: vec![],
        }
    }
    /// The same error with one more field in its JSON body.
    pub fn with(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.push((key, value.into()));
        self
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// `429 rate_limited` with `Retry-After` (whole seconds, at least one).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs().max(1);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {secs} seconds"),
        );
        e.retry_after = Some(secs);
        e
    }
    /// An unexpected failure: logged (inside the request's span, so with its id) with a reference
    /// the client can quote — the request id — and never shown.
    pub fn internal(e: impl std::fmt::Debug) -> Self {
        let reference = crate::request_id::current().map_or_else(
            || hex::encode(rand::random::<[u8; 6]>()),
            |id| id.to_string(),
        );
        tracing::error!(error = ?e, reference, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("something went wrong on the server (reference {reference})"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = if self.extra.is_empty() {
            json_error(self.status, self.code, &self.message)
        } else {
            let id = crate::request_id::current();
            let mut body = serde_json::to_value(ErrorBody {
                error: self.code,
                message: &self.message,
                request_id: id.as_deref(),
            })
            .unwrap_or_default();
            for (k, v) in &self.extra {
                body[*k] = v.clone();
            }
            HttpResponse::build(self.status).json(body)
        };
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

impl From<BearerError> for ApiError {
    fn from(e: BearerError) -> Self {
        match e {
            BearerError::Unknown(e) => Self::internal(e),
            e => Self::unauthorized(e.to_string()),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::BadLabel(m) => Self::bad_request("invalid_label", m),
            TokenError::NotFound => Self::not_found("token_not_found", "token not found"),
            TokenError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            AdminError::NotFound => Self::not_found("user_not_found", "user not found"),
            AdminError::BadRequest(m) => Self::bad_request("invalid_request", m),
            AdminError::LastAdmin(e) => {
                Self::new(StatusCode::CONFLICT, "last_admin", e.to_string())
            }
            AdminError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Deactivated => {
                Self::new(StatusCode::FORBIDDEN, "deactivated", e.to_string())
            }
            SignInError::NoAccess { .. } => {
                Self::new(StatusCode::FORBIDDEN, "access_not_granted", e.to_string())
            }
            SignInError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            WebhookError::BadRequest(m) => Self::bad_request("invalid_webhook", m),
            WebhookError::NotFound => Self::not_found("webhook_not_found", e.to_string()),
            WebhookError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhooks_unavailable",
                e.to_string(),
            ),
            WebhookError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<GroupMappingError> for ApiError {
    fn from(e: GroupMappingError) -> Self {
        match e {
            GroupMappingError::Forbidden => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            GroupMappingError::BadRequest(m) => Self::bad_request("invalid_mapping", m),
            GroupMappingError::NotFound => Self::not_found("mapping_not_found", e.to_string()),
            GroupMappingError::LastAdmin(e) => {
                Self::new(StatusCode::CONFLICT, "last_admin", e.to_string())
            }
            GroupMappingError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<ActivateError> for ApiError {
    fn from(e: ActivateError) -> Self {
        match e {
            ActivateError::Unknown(e) => Self::internal(e),
            ActivateError::UnknownCode => Self::not_found("unknown_user_code", e.to_string()),
            ActivateError::Decision(d) => Self::bad_request("code_not_pending", d.to_string()),
        }
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        let msg = e.to_string();
        match e {
            PushError::Empty => Self::bad_request("empty_document", msg),
            PushError::TooLarge(_) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large", msg)
            }
            PushError::InvalidName(_) => Self::bad_request("invalid_session_name", msg),
            PushError::InvalidSessionId => Self::bad_request("invalid_session_id", msg),
            PushError::InvalidAddresses(_) => Self::bad_request("invalid_addresses", msg),
            PushError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            PushError::SessionNotFound => Self::not_found("session_not_found", msg),
            PushError::NotSessionOwner => {
                Self::new(StatusCode::FORBIDDEN, "not_session_owner", msg)
            }
            PushError::NameTaken { suggestion, .. } => {
                Self::new(StatusCode::CONFLICT, "session_name_taken", msg)
                    .with("suggestion", suggestion.as_str())
            }
            PushError::Busy => {
                let mut e = Self::new(StatusCode::CONFLICT, "session_busy", msg);
                e.retry_after = Some(1);
                e
            }
            // The render pool is full: nothing was done; try again in a second.
            PushError::Overloaded => {
                let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", msg);
                e.retry_after = Some(1);
                e
            }
            PushError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::NotFound => Self::not_found("session_not_found", e.to_string()),
            PlanError::VersionNotFound => Self::not_found("version_not_found", e.to_string()),
            PlanError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            PlanError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<planpush_app::ReviewError> for ApiError {
    fn from(e: planpush_app::ReviewError) -> Self {
        use planpush_app::ReviewError;
        match e {
            ReviewError::NotFound => Self::not_found("session_not_found", e.to_string()),
            ReviewError::VersionNotFound => Self::not_found("version_not_found", e.to_string()),
            ReviewError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            ReviewError::Invalid(m) => Self::bad_request("invalid_review", m),
            ReviewError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<planpush_app::SearchError> for ApiError {
    fn from(e: planpush_app::SearchError) -> Self {
        use planpush_app::SearchError;
        match e {
            SearchError::Empty => Self::bad_request("empty_query", e.to_string()),
            SearchError::TooLong => Self::bad_request("query_too_long", e.to_string()),
            SearchError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<planpush_app::InboxError> for ApiError {
    fn from(e: planpush_app::InboxError) -> Self {
        use planpush_app::InboxError;
        match e {
            InboxError::PlanNotFound => Self::not_found("session_not_found", e.to_string()),
            InboxError::Invalid(code, m) => Self::bad_request(code, m),
            InboxError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<CommentError> for ApiError {
    fn from(e: CommentError) -> Self {
        match e {
            CommentError::PlanNotFound => Self::not_found("session_not_found", e.to_string()),
            CommentError::NotFound => Self::not_found("comment_not_found", e.to_string()),
            CommentError::Invalid(code, m) => Self::bad_request(code, m),
            CommentError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            CommentError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            CommentError::Unknown(e) => Self::internal(e),
        }
    }
}

impl From<AuditLogError> for ApiError {
    fn from(e: AuditLogError) -> Self {
        match e {
            AuditLogError::Forbidden => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            AuditLogError::BadInput(field, _) => {
                let code = match field {
                    "cursor" => "invalid_cursor",
                    "limit" => "invalid_limit",
                    _ => "invalid_filter",
                };
                Self::bad_request(code, e.to_string())
            }
            AuditLogError::Unknown(e) => Self::internal(e),
        }
    }
}

/// RFC 6749 §5.2 / RFC 8628 §3.5 answers: status 400 with `error`, plus our `message` and the RFC's
/// `error_description` (and the new `interval` for `slow_down`).
#[derive(Debug)]
pub struct OAuthError(pub GrantError);

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            GrantError::Unknown(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GrantError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
    fn error_response(&self) -> HttpResponse {
        if let GrantError::Unknown(e) = &self.0 {
            return ApiError::internal(e).error_response();
        }
        if let GrantError::RateLimited { wait } = &self.0 {
            return ApiError::rate_limited(*wait).error_response();
        }
        let message = self.0.to_string();
        let mut body = serde_json::json!({"error": self.0.code(), "message": message, "error_description": message});
        if let GrantError::SlowDown { interval } = self.0 {
            body["interval"] = interval.into();
        }
        HttpResponse::build(self.status_code()).json(body)
    }
}
