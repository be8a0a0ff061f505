//! Comments: `GET`/`POST /api/sessions/{id}/comments`, `PATCH`/`DELETE /api/comments/{id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use planpush_app::{CommentChange, CommentView, NewComment, Person, Principal, Thread};
use planpush_comments::{AnchorState, StateFilter};
use planpush_plans::PlanId;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::limit_key;
use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, client_ip};
use crate::ratelimit::{Budget, LimitKey};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/sessions/{id}/comments", web::get().to(list))
        .route("/api/sessions/{id}/comments", web::post().to(create))
        .route("/api/comments/{id}", web::patch().to(update))
        .route("/api/comments/{id}", web::delete().to(delete));
}

fn person(p: &Person) -> Value {
    json!({"id": p.id, "login": p.login, "name": p.name})
}

/// One comment as the API shows it. The body is the author's text; pages render it escaped.
pub(crate) fn comment_json(v: &CommentView) -> Value {
    let c = &v.comment;
    let (anchor_state, moved_to, moved_by) = match &c.state() {
        AnchorState::Moved { to, by } => ("moved", Some(to.as_str()), Some(by.as_str())),
        s => (s.as_str(), None, None),
    };
    json!({
        "id": c.id(),
        "parent_id": c.parent_id(),
        "anchor": c.anchor().as_str(),
        "anchor_state": anchor_state,
        "moved_to": moved_to,
        "moved_by": moved_by,
        "addressed_in": c.addressed_in().map(|v| v.get()),
        "quote": c.quote().as_ref().map(|q| json!({"exact": q.exact(), "prefix": q.prefix(), "suffix": q.suffix()})),
        "body": c.body().as_str(),
        "author": person(&v.author),
        "version": c.made_on().get(),
        "created_at": c.created_at(),
        "edited_at": c.edited_at(),
        "deleted": c.deleted_at().is_some(),
        "state": if c.is_open() { "open" } else { "resolved" },
        "resolved_by": v.resolved_by.as_ref().map(person),
        "resolved_at": c.resolution().map(|r| r.at),
        "mentions": v.mentions,
    })
}

fn thread_json(t: &Thread) -> Value {
    let mut v = comment_json(&t.comment);
    v["replies"] = t
        .replies
        .iter()
        .map(comment_json)
        .collect::<Vec<_>>()
        .into();
    v
}

fn plan_id(raw: &str) -> Result<PlanId, ApiError> {
    PlanId::parse(raw)
        .map_err(|_| ApiError::not_found("session_not_found", "no session with this id or name"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `open` (default), `resolved` or `all`.
    state: Option<String>,
    /// Only threads on this section anchor.
    anchor: Option<String>,
}

#[utoipa::path(
    get, path = "/api/sessions/{id}/comments", operation_id = "list_comments", tag = "comments", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`"), ListQuery),
    responses((status = 200, description = "Threads with their replies", body = super::openapi::ThreadList), (status = 400, description = "`invalid_state`", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn list(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = match q.state.as_deref() {
        None | Some("open") => StateFilter::Open,
        Some("resolved") => StateFilter::Resolved,
        Some("all") => StateFilter::All,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!("state must be open, resolved or all; got {other:?}"),
            ));
        }
    };
    let threads = state
        .comments
        .list(&p, plan_id(&id)?, filter, q.anchor.as_deref())
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({"comments": threads.iter().map(thread_json).collect::<Vec<_>>()})))
}

/// The selected text a comment is about, with some context (W3C text quote selector).
#[derive(Deserialize, ToSchema)]
#[schema(as = QuoteInput)]
struct QuoteBody {
    exact: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
}

/// A new comment (or, with `parent_id`, a reply).
#[derive(Deserialize, ToSchema)]
#[schema(as = NewComment)]
struct CreateBody {
    body: String,
    anchor: Option<String>,
    quote: Option<QuoteBody>,
    parent_id: Option<String>,
}

async fn per_user(state: &AppState, p: &Principal, budget: Budget) -> Result<(), ApiError> {
    limit_key(state, budget, LimitKey::User(p.user_id)).await
}

#[utoipa::path(
    post, path = "/api/sessions/{id}/comments", operation_id = "create_comment", tag = "comments", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The new comment or reply", body = super::openapi::Comment),
        (status = 400, description = "Empty or too long body, unknown anchor or parent", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema), (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema),
    ),
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    body: web::Json<CreateBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    per_user(&state, &p, Budget::Comment).await?;
    let body = body.into_inner();
    let input = NewComment {
        body: body.body,
        anchor: body.anchor,
        quote: body.quote.map(|q| (q.exact, q.prefix, q.suffix)),
        parent_id: body.parent_id,
    };
    let view = state
        .comments
        .create(&p, plan_id(&id)?, input, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::Created().json(comment_json(&view)))
}

/// An edit of the body, or resolving (`true`) / reopening (`false`) a thread.
#[derive(Deserialize, ToSchema)]
#[schema(as = CommentChange)]
struct UpdateBody {
    body: Option<String>,
    resolved: Option<bool>,
}

#[utoipa::path(
    patch, path = "/api/comments/{id}", operation_id = "update_comment", tag = "comments", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The comment's id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The comment after the change", body = super::openapi::Comment),
        (status = 400, description = "Nothing to change, or an invalid body", body = super::openapi::ErrorSchema), (status = 409, description = "`conflict`: the comment is deleted", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No comment that the caller may see", body = super::openapi::ErrorSchema), (status = 429, description = "Rate limited; `Retry-After` says when to try again", body = super::openapi::ErrorSchema),
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
    if body.body.is_some() {
        per_user(&state, &p, Budget::Comment).await?;
    }
    // Each resolve or reopen of a published plan's thread is an audit row, a live event and
    // possibly a Slack message: toggling has its own budget.
    if body.resolved.is_some() {
        per_user(&state, &p, Budget::CommentState).await?;
    }
    let body = body.into_inner();
    let change = CommentChange {
        body: body.body,
        resolved: body.resolved,
    };
    let view = state
        .comments
        .update(&p, &id, change, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::Ok().json(comment_json(&view)))
}

#[utoipa::path(
    delete, path = "/api/comments/{id}", operation_id = "delete_comment", tag = "comments", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The comment's id")),
    responses((status = 204, description = "Deleted (its replies stay, under a deleted placeholder)"), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No comment that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    state
        .comments
        .delete(&p, &id, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
