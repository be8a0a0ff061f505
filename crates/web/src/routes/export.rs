//! `GET /p/{slug}/export?v=N&format=html|md&comments=open|all`: a version as one file.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use planpush_app::{ExportComments, export_markdown};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::ApiUser;
use crate::ratelimit::{Budget, LimitKey};
use crate::routes::limit_key;
use crate::{AppState, views};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{slug}/export", web::get().to(export));
}

#[derive(Deserialize)]
struct ExportQuery {
    v: Option<u32>,
    format: Option<String>,
    comments: Option<String>,
}

/// Visibility as for the page (a plan the caller may not see, or an unknown or expired version,
/// is `404`); each export draws from the caller's `render` budget. The answer is an attachment:
/// the HTML file carries its stylesheet inline, which this origin's CSP would not apply, so it
/// is meant to be saved and opened as a file.
async fn export(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    slug: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let markdown = match q.format.as_deref().unwrap_or("html") {
        "html" => false,
        "md" | "markdown" => true,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_format",
                "format must be html or md",
            ));
        }
    };
    let comments = match q.comments.as_deref().unwrap_or("") {
        "" | "none" => None,
        "open" => Some(ExportComments::Open),
        "all" => Some(ExportComments::All),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_comments",
                "comments must be open or all",
            ));
        }
    };
    limit_key(&state, Budget::Render, LimitKey::User(p.user_id)).await?;
    let e = state.plans.export(&p, &slug, q.v, comments).await?;
    let base = state.settings.base_url.as_str();
    let (body, content_type, ext) = if markdown {
        (
            export_markdown(&e, base),
            "text/markdown; charset=utf-8",
            "md",
        )
    } else {
        (
            views::export_page(&e, base).into_string(),
            "text/html; charset=utf-8",
            "html",
        )
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.{ext}\"", e.file_stem()),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(body))
}
