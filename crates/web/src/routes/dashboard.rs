//! `/dashboard`: the team dashboard page.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use planpush_app::AuditQueryInput;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::MaybeUser;
use crate::{AppState, dashboard_view, views};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(page));
}

/// `?tab=` and the Audit log tab's filters.
#[derive(Deserialize)]
pub(super) struct DashboardQuery {
    tab: Option<String>,
    archived: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: MaybeUser,
    q: web::Query<DashboardQuery>,
) -> HttpResponse {
    let Some(p) = user.0 else {
        let back = req
            .uri()
            .path_and_query()
            .map_or("/dashboard".to_owned(), |pq| pq.to_string());
        let target = format!(
            "/auth/login?redirect_to={}",
            url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .finish();
    };
    let q = q.into_inner();
    let audit = AuditQueryInput {
        actor: q.actor,
        action: q.action,
        target: q.target,
        from: q.from,
        to: q.to,
        cursor: q.cursor,
        limit: None,
    };
    match state.dashboard.view(&p, &audit).await {
        Ok(view) => {
            let tab = dashboard_view::tab_or_default(q.tab.as_deref(), &view);
            let archived = q
                .archived
                .as_deref()
                .is_some_and(|a| a == "1" || a == "true");
            super::plans::html_page(
                StatusCode::OK,
                dashboard_view::dashboard(&view, tab, archived),
            )
        }
        Err(e) => {
            let _ = ApiError::internal(e);
            super::plans::html_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                views::message("Something went wrong", "Try again in a moment.", None),
            )
        }
    }
}
