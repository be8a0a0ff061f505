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
    // The audit log: everyone reads their own events; others' need `ViewAudit`.
    Route {
        method: Method::GET,
        path: "/api/audit",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::GET,
        path: "/api/audit?actor={self}",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::GET,
        path: "/api/audit?actor={other}",
        body: None,
        needs: Some((Capability::ViewAudit, Ownership::Others)),
        ok: StatusCode::OK,
    },
    Route {
        method: Method::GET,
        path: "/api/audit/export?format=jsonl",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::GET,
        path: "/api/audit/export?format=csv&actor={other}",
        body: None,
        needs: Some((Capability::ViewAudit, Ownership::Others)),
        ok: StatusCode::OK,
    },
    // The inbox: everyone reads and marks their own (and only their own, see `inbox.rs`).
    Route {
        method: Method::GET,
        path: "/api/notifications",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::GET,
        path: "/api/notifications?unread=true&limit=5",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::POST,
        path: "/api/notifications/read",
        body: Some(r#"{"all":true}"#),
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::POST,
        path: "/api/notifications/read",
        body: Some(r#"{"ids":["00000000-0000-4000-8000-000000000000"]}"#),
        needs: None,
        ok: StatusCode::OK,
    },
    // Identity-provider group → role mappings: admins only.
    Route {
        method: Method::GET,
        path: "/api/admin/group-mappings",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::OK,
    },
    Route {
        method: Method::POST,
        path: "/api/admin/group-mappings",
        body: Some(r#"{"group":"engineering","role":"developer"}"#),
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::CREATED,
    },
    // Authorization comes before existence: admins learn the mapping does not exist (404),
    // everyone else is refused without learning anything (403).
    Route {
        method: Method::DELETE,
        path: "/api/admin/group-mappings?group=engineering&role=developer",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::NOT_FOUND,
    },
    // Outgoing webhooks: admins only (a hook that does not exist is 404 to admins, 403 to others).
    Route {
        method: Method::GET,
        path: "/api/admin/webhooks",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::OK,
    },
    Route {
        method: Method::POST,
        path: "/api/admin/webhooks",
        body: Some(r#"{"url":"https://hooks.example.com/planpush","events":["comment.created"]}"#),
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::CREATED,
    },
    Route {
        method: Method::DELETE,
        path: "/api/admin/webhooks/00000000-0000-4000-8000-000000000000",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::NOT_FOUND,
    },
    Route {
        method: Method::POST,
        path: "/api/admin/webhooks/00000000-0000-4000-8000-000000000000/test",
        body: None,
        needs: Some((Capability::ManageUsers, Ownership::Others)),
        ok: StatusCode::NOT_FOUND,
    },
    // E-mail preferences: everyone their own.
    Route {
        method: Method::GET,
        path: "/api/me/email-preferences",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    Route {
        method: Method::PUT,
        path: "/api/me/email-preferences",
        body: Some(r#"{"mode":"daily"}"#),
        needs: None,
        ok: StatusCode::OK,
    },
];

/// Pages: anonymous visitors are sent to sign-in; every signed-in role gets the page, scoped
/// (which tabs show per role is asserted in `dashboard.rs`).
const PAGES: &[&str] = &[
    "/dashboard",
    "/dashboard?tab=inbox",
    "/dashboard?tab=members",
    "/dashboard?tab=audit",
    "/dashboard?tab=groups",
    "/dashboard?tab=settings",
];

#[actix_web::test]
async fn every_page_for_every_role() {
    let mut failures = vec![];
    for role in [
        None,
        Some(Role::Admin),
        Some(Role::ProjectManager),
        Some(Role::Developer),
        Some(Role::Qa),
    ] {
        let app = test_app(Mode::Dev).await;
        let mut b = match role {
            Some(r) => app.user_with("caller", &[r]).await.0,
            None => Browser::default(),
        };
        for path in PAGES {
            let res = app.get(&mut b, path).await;
            let want = if role.is_some() {
                StatusCode::OK
            } else {
                StatusCode::SEE_OTHER
            };
            if res.status != want || (role.is_none() && !res.location().starts_with("/auth/login"))
            {
                failures.push(format!(
                    "GET {path} as {role:?}: got {} {}",
                    res.status,
                    res.location()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

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

/// The unsubscribe link needs no session, whatever the caller's role: its signed token is the
/// authority, for the user it names only. A forged token is refused for everyone.
#[actix_web::test]
async fn unsubscribe_links_answer_the_token_not_the_role() {
    use planpush_app::UnsubscribeKeys;
    let keys = planpush_mail::LinkKeys::new(&[7; 64], &[]);
    let mut failures = vec![];
    for role in [
        None,
        Some(Role::Admin),
        Some(Role::ProjectManager),
        Some(Role::Developer),
        Some(Role::Qa),
    ] {
        for method in [Method::GET, Method::POST] {
            let app = test_app(Mode::Dev).await;
            let (_, other) = app.user_with("other", &[Role::Developer]).await;
            let (mut b, me) = match role {
                Some(r) => app.user_with("caller", &[r]).await,
                None => (Browser::default(), other),
            };
            let valid = format!("/unsubscribe/{}", keys.sign(other));
            let forged = format!("/unsubscribe/{}", keys.sign(other).replace('.', "x."));
            for (path, want) in [(&forged, StatusCode::NOT_FOUND), (&valid, StatusCode::OK)] {
                let res = app.send(&mut b, method.clone(), path, None, None).await;
                if res.status != want {
                    failures.push(format!("{method} {path} as {role:?}: got {}", res.status));
                }
            }
            let mode = |u| {
                let ports = app.ports.clone();
                async move {
                    ports
                        .email_preferences
                        .get(u)
                        .await
                        .unwrap()
                        .map(|p| p.mode)
                }
            };
            let want_other = (method == Method::POST).then_some(planpush_app::EmailMode::Off);
            if mode(other).await != want_other {
                failures.push(format!(
                    "{method} as {role:?}: other's mode is {:?}",
                    mode(other).await
                ));
            }
            if me != other && mode(me).await.is_some() {
                failures.push(format!("{method} as {role:?}: the caller's mode changed"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// SCIM routes: `(method, path, body)`; `{user}` and `{group}` are existing resources.
const SCIM_ROUTES: &[(Method, &str, Option<&str>)] = &[
    (Method::GET, "/scim/v2/ServiceProviderConfig", None),
    (Method::GET, "/scim/v2/ResourceTypes", None),
    (Method::GET, "/scim/v2/Schemas", None),
    (Method::GET, "/scim/v2/Users", None),
    (
        Method::POST,
        "/scim/v2/Users",
        Some(
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new@example.com"}"#,
        ),
    ),
    (
        Method::POST,
        "/scim/v2/Users/.search",
        Some(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}"#),
    ),
    (
        Method::POST,
        "/scim/v2/.search",
        Some(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}"#),
    ),
    (Method::GET, "/scim/v2/Users/{user}", None),
    (
        Method::PUT,
        "/scim/v2/Users/{user}",
        Some(
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"someone@example.com"}"#,
        ),
    ),
    (
        Method::PATCH,
        "/scim/v2/Users/{user}",
        Some(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}"#,
        ),
    ),
    (Method::DELETE, "/scim/v2/Users/{user}", None),
    (Method::GET, "/scim/v2/Groups", None),
    (
        Method::POST,
        "/scim/v2/Groups",
        Some(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"New"}"#),
    ),
    (Method::GET, "/scim/v2/Groups/{group}", None),
    (
        Method::PUT,
        "/scim/v2/Groups/{group}",
        Some(
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Renamed"}"#,
        ),
    ),
    (
        Method::PATCH,
        "/scim/v2/Groups/{group}",
        Some(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"P"}]}"#,
        ),
    ),
    (Method::DELETE, "/scim/v2/Groups/{group}", None),
];

/// `/scim/v2` answers only its own bearer: no role, session cookie or API token reaches it; with the
/// bearer every route works; with SCIM off every route is 404 whatever is presented.
#[actix_web::test]
async fn scim_routes_need_the_scim_bearer_whatever_the_role() {
    use crate::harness::{SCIM_TOKEN, test_app_scim};
    let mut failures = vec![];
    for role in [
        None,
        Some(Role::Admin),
        Some(Role::ProjectManager),
        Some(Role::Developer),
        Some(Role::Qa),
    ] {
        for (method, path, body) in SCIM_ROUTES {
            let app = test_app_scim(Mode::Dev).await;
            let seed = |p: &str, b: &str| {
                (
                    p.to_owned(),
                    serde_json::from_str::<serde_json::Value>(b).unwrap(),
                )
            };
            let (up, ub) = seed(
                "/scim/v2/Users",
                r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"someone@example.com"}"#,
            );
            let user = app
                .send(
                    &mut Browser::default(),
                    Method::POST,
                    &up,
                    Some(SCIM_TOKEN),
                    Some(ub),
                )
                .await
                .json()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let (gp, gb) = seed(
                "/scim/v2/Groups",
                r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G"}"#,
            );
            let group = app
                .send(
                    &mut Browser::default(),
                    Method::POST,
                    &gp,
                    Some(SCIM_TOKEN),
                    Some(gb),
                )
                .await
                .json()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let path = path.replace("{user}", &user).replace("{group}", &group);
            let body = || body.map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap());
            let (mut b, token) = match role {
                Some(r) => {
                    let (mut b, _) = app.user_with("caller", &[r]).await;
                    let t = app.token(&mut b).await;
                    (b, Some(t))
                }
                None => (Browser::default(), None),
            };
            // Without the SCIM bearer: the session cookie alone, then the caller's own API token.
            let res = app.send(&mut b, method.clone(), &path, None, body()).await;
            if res.status != StatusCode::UNAUTHORIZED {
                failures.push(format!(
                    "{method} {path} as {role:?} with a session: got {}",
                    res.status
                ));
            }
            if let Some(t) = &token {
                let res = app
                    .send(
                        &mut Browser::default(),
                        method.clone(),
                        &path,
                        Some(t),
                        body(),
                    )
                    .await;
                if res.status != StatusCode::UNAUTHORIZED {
                    failures.push(format!(
                        "{method} {path} with {role:?}'s API token: got {}",
                        res.status
                    ));
                }
            }
            // With it.
            let res = app
                .send(
                    &mut Browser::default(),
                    method.clone(),
                    &path,
                    Some(SCIM_TOKEN),
                    body(),
                )
                .await;
            if !res.status.is_success() {
                failures.push(format!(
                    "{method} {path} with the SCIM bearer: got {} ({})",
                    res.status, res.body
                ));
            }
        }
    }
    let off = test_app(Mode::Dev).await;
    for (method, path, body) in SCIM_ROUTES {
        let body = body.map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap());
        let res = off
            .send(
                &mut Browser::default(),
                method.clone(),
                path,
                Some(crate::harness::SCIM_TOKEN),
                body,
            )
            .await;
        if res.status != StatusCode::NOT_FOUND {
            failures.push(format!("{method} {path} with SCIM off: got {}", res.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
