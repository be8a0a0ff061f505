//! The authorization matrix test, generated from the capability matrix itself: every route × every
//! role (and anonymous) → the expected status. Later issues add their routes (with owner/non-owner
//! and private/published variants) to `ROUTES`.

use actix_web::http::{Method, StatusCode};
use planpush_roles::{Capability, Ownership, Role, allowed};

use crate::harness::{Browser, Mode, test_app};

/// A route and what it requires.
struct Route {
    method: Method,
    /// `{self}` is the caller's id, `{other}` another user's.
    path: &'static str,
    body: Option<&'static str>,
    /// `None`: any signed-in user.
    needs: Option<(Capability, Ownership)>,
    ok: StatusCode,
}

const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/auth/me",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::GET,
        path: "/api/tokens",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::POST,
        path: "/api/tokens",
        body: Some(r#"{"label":"matrix"}"#),
        needs: None,
        ok: StatusCode::CREATED,
    },
    Route {
        method: Method::GET,
        path: "/api/users",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::OK,
    },
    Route {
        method: Method::PATCH,
        path: "/api/users/{other}",
        body: Some(r#"{"roles":["qa"]}"#),
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::OK,
    },
    Route {
        method: Method::DELETE,
        path: "/api/users/{other}/sessions",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::OK,
    },
    Route {
        method: Method::DELETE,
        path: "/api/users/{self}/sessions",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
];

#[actix_web::test]
async fn every_route_for_every_role() {
    let mut failures = vec![];
    for role in [
        None,
        Some(Role::Admin),
        Some(Role::ProjectManager),
        Some(Role::Developer),
        Some(Role::Qa),
    ] {
        for route in ROUTES {
            // A fresh app per case: some routes change state (sign-outs, role changes).
            let app = test_app(Mode::Dev).await;
            let (_, other) = app.user_with("other", &[Role::Developer]).await;
            let (mut b, me) = match role {
                Some(r) => app.user_with("caller", &[r]).await,
                None => (Browser::default(), other),
            };
            let path = route
                .path
                .replace("{self}", &me.to_string())
                .replace("{other}", &other.to_string());
            let body = route.body.map(|b| serde_json::from_str(b).unwrap());
            let res = app
                .send(&mut b, route.method.clone(), &path, None, body)
                .await;
            let want = match (role, route.needs) {
                (None, _) => StatusCode::UNAUTHORIZED,
                (Some(_), None) => route.ok,
                (Some(r), Some((cap, own))) if allowed(&[r], cap, own) => route.ok,
                (Some(_), Some(_)) => StatusCode::FORBIDDEN,
            };
            if res.status != want {
                failures.push(format!(
                    "{} {} as {role:?}: got {} want {want} ({})",
                    route.method, route.path, res.status, res.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
