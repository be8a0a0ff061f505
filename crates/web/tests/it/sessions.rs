//! Server-side sessions: fixation, logout, sign-out-everywhere, deactivation immediacy, origin checks.

use actix_web::http::{Method, StatusCode, header};
use actix_web::test;
use planpush_roles::Role;

use crate::harness::{BASE, Browser, Mode, test_app};

#[actix_web::test]
async fn the_session_key_changes_at_sign_in() {
    let app = test_app(Mode::Provider).await;
    let mut b = Browser::default();
    let start = app.get(&mut b, "/auth/login").await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    let pre_login = b
        .cookie
        .clone()
        .expect("the anonymous session holds the sign-in state");
    app.provider.expect(
        "x",
        crate::harness::Outcome::Ok {
            id: 1,
            login: "ada".into(),
        },
    );
    app.get(&mut b, &format!("/auth/callback?code=x&state={state}"))
        .await;
    assert_ne!(
        b.cookie.clone().unwrap(),
        pre_login,
        "a new session key after sign-in"
    );
    assert_eq!(app.get(&mut b, "/api/auth/me").await.status, StatusCode::OK);
    // Whoever planted or copied the pre-login cookie gains nothing.
    let mut fixed = Browser {
        cookie: Some(pre_login),
        ..Browser::default()
    };
    assert_eq!(
        app.get(&mut fixed, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn logout_checks_origin_and_kills_the_row() {
    let app = test_app(Mode::Dev).await;
    let (mut b, _) = app.user_with("ada", &[Role::Developer]).await;
    let stolen = b.clone();
    let cross = test::TestRequest::post()
        .uri("/auth/logout")
        .peer_addr(b.ip)
        .insert_header((header::COOKIE, b.cookie.clone().unwrap()))
        .insert_header((header::ORIGIN, "https://evil.example.com"))
        .to_request();
    assert_eq!(
        app.call(&mut b.clone(), cross).await.status,
        StatusCode::FORBIDDEN
    );
    let no_origin = test::TestRequest::post()
        .uri("/auth/logout")
        .peer_addr(b.ip)
        .insert_header((header::COOKIE, b.cookie.clone().unwrap()))
        .to_request();
    assert_eq!(
        app.call(&mut b.clone(), no_origin).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&mut b, "/api/auth/me").await.status,
        StatusCode::OK,
        "still signed in"
    );

    let res = app
        .send(&mut b, Method::POST, "/auth/logout", None, None)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let mut replay = stolen;
    assert_eq!(
        app.get(&mut replay, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "a copied cookie dies with the row"
    );
}

#[actix_web::test]
async fn cookie_authenticated_writes_need_our_origin() {
    let app = test_app(Mode::Dev).await;
    let (b, _) = app.user_with("ada", &[Role::Developer]).await;
    let req = test::TestRequest::post()
        .uri("/api/tokens")
        .peer_addr(b.ip)
        .insert_header((header::COOKIE, b.cookie.clone().unwrap()))
        .insert_header((header::ORIGIN, "https://evil.example.com"))
        .set_json(serde_json::json!({"label": "x"}))
        .to_request();
    let res = app.call(&mut b.clone(), req).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.json()["error"], "cross_origin");
    let _ = BASE;
}

#[actix_web::test]
async fn sign_out_everywhere_ends_every_browser_and_token() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, _) = app.user_with("boss", &[Role::Admin]).await;
    let (mut laptop, bob) = app.user_with("bob", &[Role::Developer]).await;
    let mut phone = Browser::default();
    app.dev_sign_in(&mut phone, "bob").await;
    let token = app.token(&mut laptop).await;
    assert_eq!(
        app.send(
            &mut Browser::default(),
            Method::GET,
            "/api/auth/me",
            Some(&token),
            None
        )
        .await
        .status,
        StatusCode::OK
    );

    let res = app
        .send(
            &mut admin,
            Method::DELETE,
            &format!("/api/users/{bob}/sessions"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.json()["sessions_ended"],
        3,
        "the harness's first sign-in, the laptop and the phone"
    );
    assert_eq!(
        app.get(&mut laptop, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&mut phone, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(
            &mut Browser::default(),
            Method::GET,
            "/api/auth/me",
            Some(&token),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn deactivation_is_effective_on_the_very_next_request() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, _) = app.user_with("boss", &[Role::Admin]).await;
    let (mut bob_browser, bob) = app.user_with("bob", &[Role::Developer]).await;
    let token = app.token(&mut bob_browser).await;
    // Warm every cache first.
    for _ in 0..3 {
        assert_eq!(
            app.get(&mut bob_browser, "/api/auth/me").await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.send(
                &mut Browser::default(),
                Method::GET,
                "/api/tokens",
                Some(&token),
                None
            )
            .await
            .status,
            StatusCode::OK
        );
    }
    let res = app
        .send(
            &mut admin,
            Method::PATCH,
            &format!("/api/users/{bob}"),
            None,
            Some(serde_json::json!({"active": false})),
        )
        .await;
    assert_eq!(
        (res.status, res.json()["active"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(
        app.get(&mut bob_browser, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(
            &mut Browser::default(),
            Method::GET,
            "/api/tokens",
            Some(&token),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );

    // Reactivation does not resurrect the revoked credentials.
    app.send(
        &mut admin,
        Method::PATCH,
        &format!("/api/users/{bob}"),
        None,
        Some(serde_json::json!({"active": true})),
    )
    .await;
    assert_eq!(
        app.send(
            &mut Browser::default(),
            Method::GET,
            "/api/tokens",
            Some(&token),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn the_last_admin_cannot_be_removed() {
    let app = test_app(Mode::Dev).await;
    let mut root = Browser::default();
    app.dev_sign_in(&mut root, "root").await;
    let root_id = app.get(&mut root, "/api/auth/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for body in [
        serde_json::json!({"roles": ["developer"]}),
        serde_json::json!({"active": false}),
    ] {
        let res = app
            .send(
                &mut root,
                Method::PATCH,
                &format!("/api/users/{root_id}"),
                None,
                Some(body),
            )
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
        assert_eq!(res.json()["error"], "last_admin");
        assert!(
            res.json()["message"]
                .as_str()
                .unwrap()
                .contains("last active admin")
        );
    }
    // With a second admin it works.
    let (_, _) = app.user_with("second", &[Role::Admin]).await;
    let res = app
        .send(
            &mut root,
            Method::PATCH,
            &format!("/api/users/{root_id}"),
            None,
            Some(serde_json::json!({"roles": ["developer"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .send(
            &mut root,
            Method::PATCH,
            &format!("/api/users/{root_id}"),
            None,
            Some(serde_json::json!({"roles": ["admin"]})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::FORBIDDEN,
        "no longer an admin, so no longer allowed"
    );
}

#[actix_web::test]
async fn rate_limit_answers_429_then_resets_and_ignores_spoofed_forwarding_headers() {
    let app = test_app(Mode::Dev).await;
    let mut b = Browser::default();
    for i in 0..planpush_app::Budget::DeviceStart.per_15_min() {
        let req = test::TestRequest::post()
            .uri("/api/auth/device")
            .peer_addr(b.ip)
            .insert_header(("x-forwarded-for", format!("10.0.0.{i}")))
            .to_request();
        assert_eq!(
            app.call(&mut b, req).await.status,
            StatusCode::OK,
            "request {i}"
        );
    }
    let res = app
        .send(&mut b, Method::POST, "/api/auth/device", None, None)
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.json()["error"], "rate_limited");
    assert!(res.headers.get(header::RETRY_AFTER).is_some());
    let mut other = Browser {
        ip: "198.51.100.99:1".parse().unwrap(),
        ..Browser::default()
    };
    assert_eq!(
        app.send(&mut other, Method::POST, "/api/auth/device", None, None)
            .await
            .status,
        StatusCode::OK,
        "per client"
    );
    app.clock.advance(std::time::Duration::from_secs(15 * 60));
    assert_eq!(
        app.send(&mut b, Method::POST, "/api/auth/device", None, None)
            .await
            .status,
        StatusCode::OK,
        "reset"
    );
}

#[actix_web::test]
async fn a_trusted_proxy_forwards_the_client_address() {
    let proxy: std::net::IpAddr = "198.51.100.10".parse().unwrap();
    let app = crate::harness::test_app_with(Mode::Dev, Some(proxy)).await;
    let mut b = Browser::default();
    for i in 0..40 {
        let req = test::TestRequest::post()
            .uri("/api/auth/device")
            .peer_addr(b.ip)
            .insert_header(("x-forwarded-for", format!("203.0.113.{i}, 198.51.100.10")))
            .to_request();
        assert_eq!(
            app.call(&mut b, req).await.status,
            StatusCode::OK,
            "each forwarded client has its own budget ({i})"
        );
    }
}

#[actix_web::test]
async fn session_cookies_are_httponly_lax_and_secure_on_https() {
    use std::sync::Arc;

    use actix_web::{App, test};
    use planpush_identity::SessionPolicy;
    use planpush_web::{AppState, RateLimits, SignInMode, WebSettings, configure};

    for secure in [false, true] {
        let settings = WebSettings {
            base_url: BASE.into(),
            cookie_secure: secure,
            secret_key: vec![3; 64],
            trusted_proxy: Arc::new(|_| false),
            session_policy: SessionPolicy::default(),
            sanitize: Default::default(),
        };
        let state = AppState::new(
            planpush_app::fake::ports(),
            SignInMode::Dev,
            settings,
            RateLimits::new(),
            Arc::new(planpush_app::fake::FakeDiagrams::default()),
        );
        let app = test::init_service(
            App::new()
                .wrap(state.session_middleware())
                .configure(configure(state)),
        )
        .await;
        let req = test::TestRequest::post()
            .uri("/auth/dev")
            .insert_header((header::ORIGIN, BASE))
            .set_form([("login", "ada")])
            .to_request();
        let res = test::call_service(&app, req).await;
        let cookie = res
            .headers()
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("planpush_session="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert_eq!(cookie.contains("Secure"), secure, "{cookie}");
    }
}

/// Roles and state change as one decision: a change refused by the last-admin rule writes
/// nothing, not the roles half of it.
#[actix_web::test]
async fn a_refused_member_change_leaves_nothing_half_done() {
    let app = test_app(Mode::Dev).await;
    let mut root = Browser::default();
    app.dev_sign_in(&mut root, "root").await;
    let root_id = app.get(&mut root, "/api/auth/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .send(
            &mut root,
            Method::PATCH,
            &format!("/api/users/{root_id}"),
            None,
            Some(serde_json::json!({"roles": ["admin", "qa"], "active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert_eq!(res.json()["error"], "last_admin");
    let me = app.get(&mut root, "/api/auth/me").await.json();
    assert_eq!(
        me["roles"],
        serde_json::json!(["admin"]),
        "the roles half of a refused change must not be saved"
    );
    assert_eq!(me["active"], true);

    // Both halves allowed: both applied, in one call.
    let (_, ben) = app.user_with("ben", &[Role::Developer]).await;
    let res = app
        .send(
            &mut root,
            Method::PATCH,
            &format!("/api/users/{ben}"),
            None,
            Some(serde_json::json!({"roles": ["qa"], "active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        (res.json()["roles"].clone(), res.json()["active"].clone()),
        (serde_json::json!(["qa"]), serde_json::json!(false))
    );
}
