//! The caller's inbox: `GET /api/notifications`, `POST /api/notifications/read`; following or
//! muting a plan: `GET`/`PUT /api/sessions/{id}/subscription`; whom a comment can mention:
//! `GET /api/sessions/{id}/members`.

use actix_web::{HttpResponse, web};
use planpush_app::{InboxPage, InboxView, PlanSubscription};
use planpush_inbox::FollowState;
use planpush_plans::PlanId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::ApiUser;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/notifications", web::get().to(list))
        .route("/api/notifications/read", web::post().to(read))
        .route(
            "/api/sessions/{id}/subscription",
            web::get().to(subscription),
        )
        .route("/api/sessions/{id}/subscription", web::put().to(subscribe))
        .route("/api/sessions/{id}/members", web::get().to(members));
}

fn plan_id(raw: &str) -> Result<PlanId, ApiError> {
    PlanId::parse(raw)
        .map_err(|_| ApiError::not_found("session_not_found", "no session with this id or name"))
}

/// One notification.
#[derive(Serialize, ToSchema)]
#[schema(as = Notification)]
pub(crate) struct NotificationJson {
    #[schema(format = Uuid)]
    id: String,
    /// `mention`, `reply` (on a thread of yours or a plan you own), `comment` (a new thread on a
    /// plan you own or follow) or `version` (a new version of a plan you follow).
    kind: String,
    #[schema(format = Uuid)]
    session_id: String,
    /// The plan's name (slug) and title.
    name: String,
    title: String,
    #[schema(format = Uuid)]
    comment_id: Option<String>,
    version: Option<u32>,
    /// Who did it.
    actor: Option<String>,
    /// The comment's text or the version's "what changed" line, cut.
    excerpt: String,
    /// Where it leads: `/p/<name>#comment-<id>` or `/p/<name>?v=<n>`.
    link: String,
    created_at: chrono::DateTime<chrono::Utc>,
    read: bool,
}

/// A page of the caller's notifications.
#[derive(Serialize, ToSchema)]
pub(crate) struct NotificationPage {
    notifications: Vec<NotificationJson>,
    /// Unread notifications in all.
    unread: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

pub(crate) fn notification_json(v: &InboxView) -> Value {
    let e = &v.item.entry;
    json!({
        "id": e.id,
        "kind": e.kind.as_str(),
        "session_id": e.plan_id,
        "name": v.item.plan_slug,
        "title": v.item.plan_title,
        "comment_id": e.comment_id,
        "version": e.version,
        "actor": v.item.actor_login,
        "excerpt": e.excerpt,
        "link": v.link,
        "created_at": e.created_at,
        "read": e.is_read(),
    })
}

fn page_json(page: &InboxPage) -> Value {
    json!({
        "notifications": page.items.iter().map(notification_json).collect::<Vec<_>>(),
        "unread": page.unread,
        "next_cursor": page.next_cursor,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `true`: only unread notifications.
    unread: Option<bool>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many (default 30, at most 100).
    limit: Option<u32>,
}

#[utoipa::path(
    get, path = "/api/notifications", operation_id = "list_notifications", tag = "notifications", security(("bearer" = []), ("session" = [])),
    params(ListQuery),
    responses((status = 200, description = "The caller's notifications, newest first, and their unread count", body = NotificationPage), (status = 400, description = "`invalid_cursor`", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn list(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .inbox
        .list(
            &p,
            q.unread.unwrap_or(false),
            q.cursor.as_deref(),
            q.limit.unwrap_or(30),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page_json(&page)))
}

/// Which notifications to mark read: `ids`, or `all: true`.
#[derive(Deserialize, ToSchema)]
#[schema(as = MarkRead)]
pub(crate) struct ReadBody {
    /// Ids of the caller's notifications (other ids are ignored).
    ids: Option<Vec<String>>,
    /// Every unread notification of the caller.
    #[serde(default)]
    all: bool,
}

/// What is left unread.
#[derive(Serialize, ToSchema)]
pub(crate) struct UnreadCount {
    unread: u64,
}

#[utoipa::path(
    post, path = "/api/notifications/read", operation_id = "read_notifications", tag = "notifications", security(("bearer" = []), ("session" = [])),
    request_body = ReadBody,
    responses((status = 200, description = "Marked; how many are left unread", body = UnreadCount), (status = 400, description = "`invalid_request` (neither `ids` nor `all`), `invalid_notification_id`", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn read(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    body: web::Json<ReadBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let unread = state
        .inbox
        .mark_read(&p, body.ids.as_deref(), body.all, now)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "unread": unread })))
}

/// The caller's relation to a plan.
#[derive(Serialize, ToSchema)]
#[schema(as = Subscription)]
pub(crate) struct SubscriptionJson {
    /// The explicit choice: `following`, `muted` or `none`.
    state: String,
    /// Whether the caller is told of new versions.
    following: bool,
    /// Why: `muted`, `following`, `owner`, `commented` or `none`.
    reason: String,
}

fn subscription_json(s: &PlanSubscription) -> Value {
    json!({
        "state": s.state.map_or("none", FollowState::as_str),
        "following": s.following,
        "reason": s.reason,
    })
}

#[utoipa::path(
    get, path = "/api/sessions/{id}/subscription", operation_id = "get_subscription", tag = "notifications", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 200, description = "Whether the caller follows or muted the plan", body = SubscriptionJson), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn subscription(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state.inbox.subscription(&p, plan_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(subscription_json(&s)))
}

/// The caller's choice for a plan.
#[derive(Deserialize, ToSchema)]
#[schema(as = SubscriptionChoice)]
pub(crate) struct SubscriptionBody {
    /// `following` (told of new versions and new threads), `muted` (told of nothing from this
    /// plan, mentions included) or `none` (the default: following plans one owns or commented on).
    state: String,
}

#[utoipa::path(
    put, path = "/api/sessions/{id}/subscription", operation_id = "set_subscription", tag = "notifications", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    request_body = SubscriptionBody,
    responses((status = 200, description = "The caller's relation to the plan now", body = SubscriptionJson), (status = 400, description = "`invalid_state`", body = super::openapi::ErrorSchema), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn subscribe(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    body: web::Json<SubscriptionBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let choice = match body.state.as_str() {
        "none" => None,
        s => Some(FollowState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                format!("state must be following, muted or none; got {s:?}"),
            )
        })?),
    };
    let s = state
        .inbox
        .subscribe(&p, plan_id(&id)?, choice, now)
        .await?;
    Ok(HttpResponse::Ok().json(subscription_json(&s)))
}

/// Someone a comment on the plan can mention.
#[derive(Serialize, ToSchema)]
#[schema(as = PlanMember)]
pub(crate) struct MemberJson {
    #[schema(format = Uuid)]
    id: String,
    login: String,
    name: Option<String>,
}

/// The people who may see a plan.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlanMemberList {
    members: Vec<MemberJson>,
}

#[utoipa::path(
    get, path = "/api/sessions/{id}/members", operation_id = "plan_members", tag = "notifications", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 200, description = "Active members who may see the plan (mention candidates), by login", body = PlanMemberList), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn members(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let people = state.inbox.members(&p, plan_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(json!({
        "members": people.iter().map(|m| json!({"id": m.id, "login": m.login, "name": m.name})).collect::<Vec<_>>(),
    })))
}
