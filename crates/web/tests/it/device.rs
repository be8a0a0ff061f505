//! RFC 8628 over HTTP: happy path, every error, refresh rotation and reuse.

use actix_web::http::{Method, StatusCode};
use actix_web::test;
use planpush_roles::Role;

use crate::harness::{Browser, Mode, test_app};

async fn poll<S, B>(app: &crate::harness::TestApp<S>, device_code: &str) -> crate::harness::Res
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let req = test::TestRequest::post()
        .uri("/api/auth/device/token")
        .peer_addr("198.51.100.50:1".parse().unwrap())
        .set_form([
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ])
        .to_request();
    app.call(&mut Browser::default(), req).await
}

#[actix_web::test]
async fn device_login_happy_path_and_rfc_errors() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let mut cli = Browser {
        ip: "198.51.100.50:1".parse().unwrap(),
        ..Browser::default()
    };

    let start = app
        .send(&mut cli, Method::POST, "/api/auth/device", None, None)
        .await
        .json();
    let (device_code, user_code) = (
        start["device_code"].as_str().unwrap().to_owned(),
        start["user_code"].as_str().unwrap().to_owned(),
    );
    assert_eq!(start["interval"], 5);
    assert_eq!(start["expires_in"], 900);
    assert!(
        start["verification_uri"]
            .as_str()
            .unwrap()
            .ends_with("/activate")
    );
    assert!(
        start["login_url"]
            .as_str()
            .unwrap()
            .ends_with("/auth/login"),
        "names where to sign in first"
    );
    assert_eq!(user_code.len(), 9);

    let res = poll(&app, &device_code).await;
    assert_eq!(
        (res.status, res.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    let res = poll(&app, &device_code).await;
    assert_eq!(res.json()["error"], "slow_down");
    assert_eq!(res.json()["interval"], 10);

    // The /activate page wants a signed-in person.
    let anon = app
        .get(
            &mut Browser::default(),
            &format!("/activate?user_code={user_code}"),
        )
        .await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(
        anon.location()
            .starts_with("/auth/login?redirect_to=%2Factivate"),
        "{}",
        anon.location()
    );
    let page = app
        .get(&mut ada, &format!("/activate?user_code={user_code}"))
        .await;
    assert!(page.body.contains(&user_code) && page.body.contains("ada"));

    let typed = user_code.to_lowercase().replace('-', "");
    let res = app.activate(&mut ada, &typed, "approve").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Device approved"));

    let tokens = poll_until_approved(&app, &device_code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(
        app.send(&mut cli, Method::GET, "/api/auth/me", Some(&access), None)
            .await
            .json()["login"],
        "ada"
    );
    // A consumed device code cannot mint a second set of tokens.
    assert_eq!(
        poll(&app, &device_code).await.json()["error"],
        "expired_token"
    );
    assert_eq!(
        poll(&app, "pp_dc_unknown").await.json()["error"],
        "invalid_grant"
    );
}

/// Polls, tolerating `slow_down` from the interval the test cannot wait out in real time.
async fn poll_until_approved<S, B>(
    app: &crate::harness::TestApp<S>,
    device_code: &str,
) -> serde_json::Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    // The client waits out its polling interval: the requests' clock moves on.
    app.time.advance(chrono::Duration::seconds(60));
    let res = poll(app, device_code).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

#[actix_web::test]
async fn denied_codes_answer_access_denied() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Qa]).await;
    let start = app
        .send(
            &mut Browser::default(),
            Method::POST,
            "/api/auth/device",
            None,
            None,
        )
        .await
        .json();
    let res = app
        .activate(&mut ada, start["user_code"].as_str().unwrap(), "deny")
        .await;
    assert!(res.body.contains("Device denied"));
    assert_eq!(
        poll(&app, start["device_code"].as_str().unwrap())
            .await
            .json()["error"],
        "access_denied"
    );
    let wrong = app.get(&mut ada, "/activate?user_code=BBBB-BBBB").await;
    assert_eq!(
        wrong.status,
        StatusCode::BAD_REQUEST,
        "an unknown code has nothing to confirm"
    );
    assert!(
        wrong.body.contains("role=\"alert\"") && !wrong.body.contains("value=\"approve\""),
        "{}",
        wrong.body
    );
}

/// Item 6 (RFC 8628 §5.4): `/activate` shows what is being approved — the code, the client, when
/// it asked and from where — and approving needs a deliberate confirmation; the link with the
/// code filled in is not a one-click approval.
#[actix_web::test]
async fn activate_shows_the_request_and_needs_a_deliberate_confirm() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let req = actix_web::test::TestRequest::post()
        .uri("/api/auth/device")
        .peer_addr("198.51.100.77:1".parse().unwrap())
        .insert_header((
            actix_web::http::header::USER_AGENT,
            "planpush-cli/9.9.9 <b>",
        ))
        .to_request();
    let start = app.call(&mut Browser::default(), req).await.json();
    let (device_code, user_code) = (
        start["device_code"].as_str().unwrap().to_owned(),
        start["user_code"].as_str().unwrap().to_owned(),
    );

    // Without a code: only a field to type it, nothing to approve.
    let entry = app.get(&mut ada, "/activate").await;
    assert_eq!(entry.status, StatusCode::OK);
    assert!(entry.body.contains("method=\"get\""), "{}", entry.body);
    assert!(!entry.body.contains("value=\"approve\""), "{}", entry.body);

    // With the code (verification_uri_complete): what is being approved, and a required confirm.
    let page = app
        .get(&mut ada, &format!("/activate?user_code={user_code}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for want in [
        user_code.as_str(),
        "planpush-cli/9.9.9 &lt;b&gt;",
        "198.51.100.77",
        "<time datetime=",
        "name=\"confirm\"",
        "required",
        "value=\"approve\"",
    ] {
        assert!(page.body.contains(want), "{want} missing: {}", page.body);
    }

    // Approve without the confirmation: refused, the grant stays pending.
    let res = app
        .activate_form(
            &mut ada,
            &[("user_code", &user_code), ("action", "approve")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("Tick the box"), "{}", res.body);
    assert_eq!(
        poll(&app, &device_code).await.json()["error"],
        "authorization_pending"
    );
    let res = app
        .activate_form(
            &mut ada,
            &[
                ("user_code", &user_code),
                ("action", "approve"),
                ("confirm", "on"),
            ],
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "only the form's own value confirms"
    );

    // Ticked: approved.
    let res = app.activate(&mut ada, &user_code, "approve").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Device approved"));
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let start = app
        .send(
            &mut Browser::default(),
            Method::POST,
            "/api/auth/device",
            None,
            None,
        )
        .await
        .json();
    app.activate(&mut ada, start["user_code"].as_str().unwrap(), "approve")
        .await;
    let first = poll(&app, start["device_code"].as_str().unwrap())
        .await
        .json();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();

    let mut cli = Browser::default();
    let second = app
        .send(
            &mut cli,
            Method::POST,
            "/api/auth/token",
            None,
            Some(serde_json::json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let second = second.json();
    let (a2, r2) = (
        second["access_token"].as_str().unwrap().to_owned(),
        second["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(r1, r2, "rotated");
    assert_eq!(
        app.send(&mut cli, Method::GET, "/api/auth/me", Some(&a2), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.send(&mut cli, Method::GET, "/api/auth/me", Some(&r2), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "refresh tokens are not bearer tokens"
    );

    // Someone replays the spent refresh token: the whole family dies, including the live pair.
    let replay = app
        .send(
            &mut cli,
            Method::POST,
            "/api/auth/token",
            None,
            Some(serde_json::json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(
        (replay.status, replay.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        app.send(
            &mut cli,
            Method::POST,
            "/api/auth/token",
            None,
            Some(serde_json::json!({"refresh_token": r2}))
        )
        .await
        .json()["error"],
        "invalid_grant"
    );
    assert_eq!(
        app.send(&mut cli, Method::GET, "/api/auth/me", Some(&a2), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let missing = app
        .send(
            &mut cli,
            Method::POST,
            "/api/auth/token",
            None,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[actix_web::test]
async fn cli_logout_revokes_the_family() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let start = app
        .send(
            &mut Browser::default(),
            Method::POST,
            "/api/auth/device",
            None,
            None,
        )
        .await
        .json();
    app.activate(&mut ada, start["user_code"].as_str().unwrap(), "approve")
        .await;
    let pair = poll(&app, start["device_code"].as_str().unwrap())
        .await
        .json();
    let mut cli = Browser::default();
    let res = app
        .send(
            &mut cli,
            Method::POST,
            "/api/auth/logout",
            None,
            Some(serde_json::json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(
            &mut cli,
            Method::GET,
            "/api/auth/me",
            Some(pair["access_token"].as_str().unwrap()),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}
