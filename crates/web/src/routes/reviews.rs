//! Sign-off per version: `/api/sessions/{id}/reviews` (status, request) and
//! `/api/sessions/{id}/reviews/verdict` (approve or request changes).

use actix_web::{HttpRequest, HttpResponse, web};
use planpush_app::{Principal, ReviewRequestInput, ReviewStatus};
use planpush_plans::PlanId;
use planpush_reviews::SignOff;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/sessions/{id}/reviews", web::get().to(status))
        .route("/api/sessions/{id}/reviews", web::post().to(request))
        .route("/api/sessions/{id}/reviews/verdict", web::post().to(decide));
}

fn plan_id(raw: &str) -> Result<PlanId, ApiError> {
    PlanId::parse(raw)
        .map_err(|_| ApiError::not_found("session_not_found", "no session with this id or name"))
}

/// One reviewer's standing for the current version.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReviewerJson {
    login: String,
    /// `pending`, `approved` or `changes_requested`.
    state: String,
    /// The version approved or found wanting (absent while pending).
    version: Option<u32>,
    /// Which rule applied: `same_version`, `untouched` (an approval kept), `touches_comment`,
    /// `touches_scope`, `whole_plan`, `expired` (an approval reset); absent otherwise.
    rule: Option<String>,
    /// The standing in a sentence, naming the rule and the change that decided it.
    explanation: String,
    requested_by: String,
    requested_version: u32,
    /// Anchors the reviewer was asked to review; empty: the whole plan.
    anchors: Vec<String>,
    comment: Option<String>,
    decided_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A plan's sign-off for its current version.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReviewStatusJson {
    #[schema(format = Uuid)]
    session_id: String,
    name: String,
    /// The current version.
    version: u32,
    /// "2 of 3 approved v4" or "no review requested".
    headline: String,
    reviewers: Vec<ReviewerJson>,
    you: YouJson,
}

/// The caller's part.
#[derive(Serialize, ToSchema)]
pub(crate) struct YouJson {
    login: String,
    /// The caller was asked to review this plan (and may give a verdict).
    reviewer: bool,
    /// The caller may ask others (whoever may publish the plan).
    may_request: bool,
}

fn rule_name(s: &SignOff) -> Option<String> {
    let rule = match s {
        SignOff::Approved { rule, .. } | SignOff::Pending { reset: Some(rule) } => rule,
        _ => return None,
    };
    serde_json::to_value(rule)
        .ok()
        .and_then(|v| v["rule"].as_str().map(str::to_owned))
}

/// `you`: whether the caller was asked (and so gets the verdict buttons) and may ask others.
pub(crate) fn status_json(s: &ReviewStatus, p: &Principal) -> serde_json::Value {
    json!({
        "you": {
            "login": p.login,
            "reviewer": s.reviewers.iter().any(|r| r.user_id == p.user_id),
            "may_request": s.may_request(p),
        },
        "session_id": s.plan.id(),
        "name": s.plan.slug().as_str(),
        "version": s.current,
        "headline": s.headline(),
        "reviewers": s.reviewers.iter().map(|r| json!({
            "login": r.login,
            "state": r.sign_off.state(),
            "version": match r.sign_off {
                SignOff::Approved { version, .. } | SignOff::ChangesRequested { version } => Some(version),
                SignOff::Pending { .. } => None,
            },
            "rule": rule_name(&r.sign_off),
            "explanation": r.explanation,
            "requested_by": r.requested_by,
            "requested_version": r.requested_version,
            "anchors": r.scope.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "comment": r.comment,
            "decided_at": r.decided_at,
        })).collect::<Vec<_>>(),
    })
}

#[utoipa::path(
    get, path = "/api/sessions/{id}/reviews", operation_id = "review_status", tag = "reviews", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 200, description = "Every reviewer's standing for the current version", body = ReviewStatusJson), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn status(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state.reviews.status(&p, plan_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(status_json(&s, &p)))
}

/// Who should review which version.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ReviewRequestBody {
    /// Logins of the reviewers.
    #[serde(default)]
    reviewers: Vec<String>,
    /// Everyone holding this role too: `admin`, `project_manager`, `developer`, `qa`.
    role: Option<String>,
    /// The version to review (default: the current one).
    version: Option<u32>,
    /// Anchors to review (default: the whole plan). An approval is kept through later versions
    /// whose typed changes touch none of them and nothing the reviewer commented on.
    #[serde(default)]
    anchors: Vec<String>,
}

#[utoipa::path(
    post, path = "/api/sessions/{id}/reviews", operation_id = "request_review", tag = "reviews", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    request_body = ReviewRequestBody,
    responses((status = 200, description = "The sign-off after the request", body = ReviewStatusJson), (status = 400, description = "`invalid_review`: no reviewer, an unknown login or role, a reviewer who cannot see the plan, a bad anchor", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "Only whoever may publish the plan requests reviews", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see, or no such version", body = super::openapi::ErrorSchema)),
)]
async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    body: web::Json<ReviewRequestBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let s = state
        .reviews
        .request(
            &p,
            plan_id(&id)?,
            ReviewRequestInput {
                reviewers: body.reviewers,
                role: body.role,
                version: body.version,
                anchors: body.anchors,
            },
            client_ip(&req, &state),
            now,
        )
        .await?;
    Ok(HttpResponse::Ok().json(status_json(&s, &p)))
}

/// A reviewer's verdict.
#[derive(Deserialize, ToSchema)]
pub(crate) struct VerdictBody {
    /// `approved` or `changes_requested`.
    verdict: String,
    /// The version judged (default: the current one).
    version: Option<u32>,
    /// Required when requesting changes (at most 4,000 characters).
    comment: Option<String>,
}

#[utoipa::path(
    post, path = "/api/sessions/{id}/reviews/verdict", operation_id = "review_verdict", tag = "reviews", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    request_body = VerdictBody,
    responses((status = 200, description = "The sign-off after the verdict", body = ReviewStatusJson), (status = 400, description = "`invalid_review`: a bad verdict, requesting changes without a comment, a comment too long", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller was not asked to review this plan", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see, or no such version", body = super::openapi::ErrorSchema)),
)]
async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    body: web::Json<VerdictBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .reviews
        .decide(
            &p,
            plan_id(&id)?,
            &body.verdict,
            body.version,
            body.comment.as_deref(),
            client_ip(&req, &state),
            now,
        )
        .await?;
    Ok(HttpResponse::Ok().json(status_json(&s, &p)))
}
