//! `GET /api/search?q=`: full-text search over what the caller may see.

use actix_web::{HttpResponse, web};
use planpush_app::SearchResult;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiUser;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/search", web::get().to(search));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// The words to find (all of them, in any order).
    q: Option<String>,
    /// Include archived plans (default: no).
    archived: Option<bool>,
    /// At most this many results (1–50, default 20).
    limit: Option<usize>,
}

fn result_json(state: &AppState, r: &SearchResult) -> serde_json::Value {
    json!({
        "kind": r.kind.as_str(),
        "session_id": r.plan_id,
        "name": r.slug,
        "plan_title": r.plan_title,
        "title": r.title,
        "anchor": r.anchor,
        "comment_id": r.comment_id,
        "path": r.path,
        "url": format!("{}{}", state.settings.base_url, r.path),
        "snippet_html": r.snippet_html,
        "visibility": r.visibility.as_str(),
        "archived": r.archived,
        "rank": r.rank,
    })
}

#[utoipa::path(
    get, path = "/api/search", operation_id = "search", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(SearchParams),
    responses((status = 200, description = "Ranked matches in plan titles, sections and comments the caller may see", body = super::openapi::SearchResults), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema)),
)]
async fn search(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    q: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let text = q.q.as_deref().unwrap_or_default();
    let results = state
        .search
        .search(&p, text, q.archived.unwrap_or(false), q.limit.unwrap_or(20))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "query": text,
        "results": results.iter().map(|r| result_json(&state, r)).collect::<Vec<_>>(),
    })))
}
