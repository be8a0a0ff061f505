//! Routes, one module per area.

mod audit;
mod auth;
mod comments;
mod dashboard;
mod device;
mod email;
mod events;
mod export;
mod groups;
mod inbox;
pub(crate) mod openapi;
mod plans;
mod push;
mod reviews;
mod scim;
mod search;
mod tokens;
mod users;
mod webhooks;

use actix_web::{HttpRequest, web};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::client_ip;
use crate::ratelimit::{Budget, LimitKey};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // Routes are tried in order, each `{…}` pattern a regex match: plan pages, the most requested,
    // come first. Nothing after them is hidden: no other path starts with `/p/`, and their
    // `/api/sessions/{id}` routes match no path another route serves.
    plans::routes(cfg);
    audit::routes(cfg);
    auth::routes(cfg);
    comments::routes(cfg);
    dashboard::routes(cfg);
    device::routes(cfg);
    email::routes(cfg);
    events::routes(cfg);
    push::routes(cfg);
    reviews::routes(cfg);
    crate::assets::routes(cfg);
    tokens::routes(cfg);
    users::routes(cfg);
    groups::routes(cfg);
    inbox::routes(cfg);
    webhooks::routes(cfg);
    scim::routes(cfg);
    search::routes(cfg);
    export::routes(cfg);
    openapi::routes(cfg);
}

/// Draws one request from the client's budget (its address; IPv6 by /64); `429` with
/// `Retry-After` when it is spent.
pub(crate) async fn limit(
    req: &HttpRequest,
    state: &AppState,
    budget: Budget,
) -> Result<(), ApiError> {
    let Some(ip) = client_ip(req, state) else {
        return Ok(());
    };
    limit_key(state, budget, LimitKey::ip(ip)).await
}

/// Draws one request from `key`'s budget.
pub(crate) async fn limit_key(
    state: &AppState,
    budget: Budget,
    key: LimitKey,
) -> Result<(), ApiError> {
    state
        .limits
        .check(budget, key)
        .await
        .map_err(ApiError::rate_limited)
}

/// A same-origin relative path to return to after sign-in; anything else becomes `/`.
pub(crate) fn safe_redirect(target: Option<&str>) -> String {
    match target {
        Some(t)
            if t.starts_with('/')
                && !t.starts_with("//")
                && !t.starts_with("/\\")
                && !t.chars().any(char::is_control) =>
        {
            t.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_redirect;

    #[test]
    fn redirects_stay_on_this_origin() {
        let cases = [
            (Some("/p/auth?v=2"), "/p/auth?v=2"),
            (
                Some("/activate?user_code=WDJB-MJHT"),
                "/activate?user_code=WDJB-MJHT",
            ),
            (Some("https://evil.example.com/"), "/"),
            (Some("//evil.example.com"), "/"),
            (Some("/\\evil.example.com"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some("/x\r\nSet-Cookie: a=b"), "/"),
            (None, "/"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_redirect(input), want, "{input:?}");
        }
    }
}
