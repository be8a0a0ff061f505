//! Plans: the page `/p/{slug}` and the lifecycle API `/api/sessions…`.

use actix_web::http::header::HeaderValue;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use planpush_app::{PlanError, PlanInfo, Principal, can_see};
use planpush_plans::{Plan, PlanId};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::{ApiUser, MaybeUser, client_ip};
use crate::headers::PRIVATE_NO_CACHE;
use crate::page_cache::{CachedPage, Encoding, RenderKey, Rendered};
use crate::ratelimit::{Budget, LimitKey};
use crate::routes::limit_key;
use crate::{AppState, views};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{slug}", web::get().to(page))
        .route("/p/{slug}/history", web::get().to(history))
        .route("/api/sessions", web::get().to(list))
        .route("/api/sessions/{id}", web::get().to(info))
        .route("/api/sessions/{id}", web::delete().to(delete))
        .route("/api/sessions/{id}/publish", web::post().to(publish))
        .route("/api/sessions/{id}/archive", web::patch().to(archive))
        .route("/api/sessions/{id}/text", web::get().to(text));
}

pub(super) fn html_page(status: StatusCode, markup: maud::Markup) -> HttpResponse {
    html_bytes(status, markup.into_string())
}

fn html_bytes(status: StatusCode, html: String) -> HttpResponse {
    page_headers(status)
        .insert_header((header::CACHE_CONTROL, PRIVATE_NO_CACHE))
        .body(html)
}

/// A page's content type; the CSP and the other page headers are added by the wrapper around
/// every route (`crate::headers`).
fn page_headers(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type(HeaderValue::from_static("text/html; charset=utf-8"));
    b
}

fn not_found() -> HttpResponse {
    html_page(
        StatusCode::NOT_FOUND,
        views::message(
            "Plan not found",
            "There is no plan here, or you do not have access to it.",
            Some(("/", "Home")),
        ),
    )
}

fn error_page(e: PlanError) -> HttpResponse {
    match e {
        PlanError::Unknown(e) => {
            let _ = ApiError::internal(e);
            html_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                views::message("Something went wrong", "Try again in a moment.", None),
            )
        }
        _ => not_found(),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    v: Option<u32>,
    diff: Option<u32>,
}

/// `GET /p/{slug}[?v=N]`. Unknown, deleted and invisible plans get the same 404 page.
async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: MaybeUser,
    slug: web::Path<String>,
    q: web::Query<PageQuery>,
    Now(now): Now,
) -> HttpResponse {
    let Some(p) = user.0 else {
        let back = req
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |pq| pq.to_string());
        let target = format!(
            "/auth/login?redirect_to={}",
            url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .finish();
    };
    let (v, diff) = (q.v, q.diff);
    if v.is_none() && diff.is_none() {
        return latest(&req, &state, &p, &slug, now).await;
    }
    let key = RenderKey {
        slug: slug.to_string(),
        v,
        diff,
    };
    // Older versions and diffs are rendered once per version (pair) for everyone allowed to see
    // the plan; a render that is not cached yet draws from the reader's render budget.
    let rendered = state
        .pages
        .rendered(&key, || render(&state, &p, &slug, v, diff))
        .await;
    match rendered {
        Ok(Some(r)) if can_see(&p, &r.plan) => {
            if diff.is_none() {
                state.plans.seen(&p, &r.plan, r.shown, now).await;
            }
            html_bytes(StatusCode::OK, r.html.clone())
        }
        Ok(_) => not_found(),
        Err(RenderError::Plan(e)) => error_page(e),
        Err(RenderError::Limited(e)) => html_page(
            StatusCode::TOO_MANY_REQUESTS,
            views::message("Slow down", &e.message, None),
        ),
    }
}

/// `GET /p/{slug}/history`: every version of the plan (the plan page lists the newest
/// [`planpush_app::HISTORY_IN_PAGE`]). Not cached; each render draws from the reader's render budget.
async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: MaybeUser,
    slug: web::Path<String>,
) -> HttpResponse {
    let Some(p) = user.0 else {
        let back = req.uri().path().to_owned();
        let target = format!(
            "/auth/login?redirect_to={}",
            url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .finish();
    };
    if let Err(e) = limit_key(&state, Budget::Render, LimitKey::User(p.user_id)).await {
        return html_page(
            StatusCode::TOO_MANY_REQUESTS,
            views::message("Slow down", &e.message, None),
        );
    }
    match state.plans.history_page(&p, &slug).await {
        Ok(page) => html_page(StatusCode::OK, views::history_page(&page)),
        Err(e) => error_page(e),
    }
}

/// Why an older version or a diff was not rendered.
enum RenderError {
    Plan(PlanError),
    Limited(ApiError),
}

/// Renders `?v=N`, `?v=N&diff=M` or `?diff=M` (against the latest version). `Ok(None)`: not found
/// for this reader (not cached; another reader renders for themselves).
async fn render(
    state: &AppState,
    p: &Principal,
    slug: &str,
    v: Option<u32>,
    diff: Option<u32>,
) -> Result<Option<Arc<Rendered>>, RenderError> {
    limit_key(state, Budget::Render, LimitKey::User(p.user_id))
        .await
        .map_err(RenderError::Limited)?;
    let found = match (v, diff) {
        // `?diff=M` alone compares with the latest version: still one app call.
        (to, Some(from)) => state.plans.diff(p, slug, to, from).await.map(|d| Rendered {
            shown: d.to.get(),
            html: views::diff_page(&d).into_string(),
            plan: d.plan,
        }),
        (v, None) => state.plans.page(p, slug, v).await.map(|page| Rendered {
            shown: page.shown.get(),
            html: views::plan_page(&page).into_string(),
            plan: page.plan,
        }),
    };
    match found {
        Ok(r) => Ok(Some(Arc::new(r))),
        Err(PlanError::Unknown(e)) => Err(RenderError::Plan(PlanError::Unknown(e))),
        Err(PlanError::VersionNotFound | PlanError::NotFound | PlanError::Forbidden(_)) => Ok(None),
    }
}

/// The latest version: rendered and compressed once, then served from memory to everyone allowed
/// to see it (the check runs on every request).
async fn latest(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    slug: &str,
    now: DateTime<Utc>,
) -> HttpResponse {
    let loaded = state
        .pages
        .latest(slug, || async move {
            match state.plans.page(p, slug, None).await {
                // Rendering and compressing (brotli and gzip) run off the async workers, once per
                // change however many readers wait for it (the cache's loader is single-flight).
                // Readers wait only for the render: the page is compressed after it is cached, on
                // the process's one compressor thread, unless a newer page has replaced it by then
                // (pushes faster than compression would otherwise queue a compression of every
                // version on the blocking threads, each with its own encoder's memory).
                Ok(page) => {
                    let rendered = web::block(move || {
                        let html = views::plan_page(&page).into_string();
                        Arc::new(CachedPage::new(page.plan, html))
                    })
                    .await
                    .map_err(|e| PlanError::Unknown(anyhow::anyhow!("rendering a page: {e}")))?;
                    CachedPage::compress_later(Arc::downgrade(&rendered), &state.compressor);
                    Ok(Some(rendered))
                }
                Err(PlanError::Unknown(e)) => Err(PlanError::Unknown(e)),
                Err(_) => Ok(None),
            }
        })
        .await;
    let cached = match loaded {
        Ok(Some(cached)) => cached,
        Ok(None) => return not_found(),
        Err(e) => return error_page(e),
    };
    // Authorization is not cached with the bytes: asked on every request, of the cached plan.
    if !can_see(p, &cached.plan) {
        return not_found();
    }
    state
        .plans
        .seen(p, &cached.plan, cached.plan.current_version(), now)
        .await;
    let etag = &cached.etag;
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == etag);
    if fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.clone()))
            .finish();
    }
    let encoding = Encoding::negotiate(
        req.headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let (encoding, body) = cached.body(encoding);
    page_headers(StatusCode::OK)
        .insert_header((header::CACHE_CONTROL, PRIVATE_NO_CACHE))
        .insert_header((header::ETAG, etag.clone()))
        .insert_header((header::VARY, "Accept-Encoding"))
        // Set even for `identity`, so the compression middleware leaves the bytes alone.
        .insert_header((header::CONTENT_ENCODING, encoding.header()))
        .body(body)
}

fn plan_json(state: &AppState, p: &Plan) -> serde_json::Value {
    json!({
        "session_id": p.id(),
        "name": p.slug().as_str(),
        "title": p.title(),
        "url": format!("{}/p/{}", state.settings.base_url, p.slug()),
        "owner_id": p.owner_id(),
        "visibility": p.visibility().as_str(),
        "version": p.current_version(),
        "created_at": p.created_at(),
        "updated_at": p.updated_at(),
        "published_at": p.published_at(),
        "archived": p.archived_at().is_some(),
        "archived_at": p.archived_at(),
    })
}

fn plan_id(raw: &str) -> Result<PlanId, ApiError> {
    PlanId::parse(raw)
        .map_err(|_| ApiError::not_found("session_not_found", "no session with this id or name"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// List archived plans instead of active ones.
    archived: Option<bool>,
}

#[utoipa::path(
    get, path = "/api/sessions", operation_id = "list_plans", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(ListQuery),
    responses((status = 200, description = "The plans the caller may see", body = super::openapi::PlanList), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn list(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let plans = state.plans.list(&p, q.archived.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"sessions": plans.iter().map(|x| plan_json(&state, x)).collect::<Vec<_>>()})))
}

#[utoipa::path(
    get, path = "/api/sessions/{id}", operation_id = "get_plan", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 200, description = "The plan, its versions and open comment count", body = super::openapi::PlanInfo), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn info(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let PlanInfo {
        plan,
        history,
        open_comments,
    } = state.plans.info(&p, plan_id(&id)?).await?;
    let mut body = plan_json(&state, &plan);
    body["open_comments"] = open_comments.into();
    body["versions"] = history
        .iter()
        .map(|m| json!({"version": m.number.get(), "title": m.title, "pushed_by": m.pushed_by, "pushed_at": m.pushed_at, "expired": m.purged_at.is_some(), "changes": {"added": m.changes.added, "removed": m.changes.removed, "changed": m.changes.changed}}))
        .collect::<Vec<_>>()
        .into();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    post, path = "/api/sessions/{id}/publish", operation_id = "publish_plan", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 200, description = "The published plan", body = super::openapi::Plan), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn publish(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let plan = state
        .plans
        .publish(&p, plan_id(&id)?, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::Ok().json(plan_json(&state, &plan)))
}

#[derive(Deserialize, ToSchema)]
struct ArchiveBody {
    archived: bool,
}

#[utoipa::path(
    patch, path = "/api/sessions/{id}/archive", operation_id = "archive_plan", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    request_body = ArchiveBody,
    responses((status = 200, description = "The plan after the change", body = super::openapi::Plan), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn archive(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    body: web::Json<ArchiveBody>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let plan = state
        .plans
        .set_archived(
            &p,
            plan_id(&id)?,
            body.archived,
            client_ip(&req, &state),
            now,
        )
        .await?;
    Ok(HttpResponse::Ok().json(plan_json(&state, &plan)))
}

#[utoipa::path(
    delete, path = "/api/sessions/{id}", operation_id = "delete_plan", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 403, description = "The caller's roles do not allow it", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    state
        .plans
        .delete(&p, plan_id(&id)?, client_ip(&req, &state), now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TextQuery {
    /// The version to read (default: the latest).
    v: Option<u32>,
}

/// `GET /api/sessions/{id}/text?v=N`: a version as text per section (what agents read).
#[utoipa::path(
    get, path = "/api/sessions/{id}/text", operation_id = "get_plan_text", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`"), TextQuery),
    responses((status = 200, description = "The version as Markdown-like text, one entry per section", body = super::openapi::PlanText), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see, or no such version", body = super::openapi::ErrorSchema)),
)]
async fn text(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    q: web::Query<TextQuery>,
) -> Result<HttpResponse, ApiError> {
    let t = state.plans.text(&p, plan_id(&id)?, q.v).await?;
    let url = format!("{}/p/{}", state.settings.base_url, t.plan.slug());
    Ok(HttpResponse::Ok().json(json!({
        "session_id": t.plan.id(),
        "name": t.plan.slug().as_str(),
        "title": t.title,
        "url": url,
        "version": t.version.get(),
        "latest_version": t.plan.current_version(),
        "sections": t.sections.iter().map(|s| json!({
            "anchor": s.anchor.as_str(),
            "title": s.title,
            "text": s.text,
            "url": format!("{url}?v={}#{}", t.version.get(), s.anchor),
        })).collect::<Vec<_>>(),
    })))
}
