//! Web sign-in through an identity provider, end to end over HTTP.

use actix_web::http::{Method, StatusCode};
use planpush_roles::Role;

use crate::harness::{Browser, Mode, Outcome, test_app};

#[actix_web::test]
async fn first_user_becomes_admin_and_later_users_developers() {
    let app = test_app(Mode::Provider).await;
    let mut ada = Browser::default();
    let res = app.provider_sign_in(&mut ada, 1, "ada").await;
    assert_eq!(
        (res.status, res.location().as_str()),
        (StatusCode::SEE_OTHER, "/after"),
        "back where they started"
    );
    let me = app.get(&mut ada, "/api/auth/me").await.json();
    assert_eq!(me["login"], "ada");
    assert_eq!(me["roles"], serde_json::json!(["admin"]));
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["capability"] == "manage_users")
    );

    let mut bob = Browser::default();
    app.provider_sign_in(&mut bob, 2, "bob").await;
    assert_eq!(
        app.get(&mut bob, "/api/auth/me").await.json()["roles"],
        serde_json::json!(["developer"])
    );
    // The same GitHub account signing in again is the same user, with its login refreshed.
    let mut bob2 = Browser::default();
    app.provider_sign_in(&mut bob2, 2, "bob-renamed").await;
    let me = app.get(&mut bob2, "/api/auth/me").await.json();
    assert_eq!(
        (me["login"].as_str(), me["roles"].clone()),
        (Some("bob-renamed"), serde_json::json!(["developer"]))
    );
    assert_eq!(app.ports.users.count().await.unwrap(), 2);
    let _ = Role::Admin;
}

#[actix_web::test]
async fn non_members_get_a_clear_page_and_no_session() {
    let app = test_app(Mode::Provider).await;
    let mut b = Browser::default();
    let start = app.get(&mut b, "/auth/login").await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    app.provider.expect("c1", Outcome::NotMember);
    let res = app
        .get(&mut b, &format!("/auth/callback?code=c1&state={state}"))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(
        res.body.contains("not a member of the acme organization"),
        "{}",
        res.body
    );
    assert_eq!(
        app.get(&mut b, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.ports.users.count().await.unwrap(),
        0,
        "no user was created"
    );
}

#[actix_web::test]
async fn denied_consent_is_a_clear_page() {
    let app = test_app(Mode::Provider).await;
    let mut b = Browser::default();
    let start = app.get(&mut b, "/auth/login").await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    let res = app
        .get(
            &mut b,
            &format!("/auth/callback?error=access_denied&state={state}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("declined"), "{}", res.body);
    assert_eq!(
        app.get(&mut b, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn state_is_single_use_and_bound_to_the_browser() {
    let app = test_app(Mode::Provider).await;
    // Replay: the same state twice.
    let mut b = Browser::default();
    let start = app.get(&mut b, "/auth/login").await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    app.provider.expect(
        "c1",
        Outcome::Ok {
            id: 1,
            login: "ada".into(),
        },
    );
    app.provider.expect(
        "c2",
        Outcome::Ok {
            id: 1,
            login: "ada".into(),
        },
    );
    assert_eq!(
        app.get(&mut b, &format!("/auth/callback?code=c1&state={state}"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let replay = app
        .get(&mut b, &format!("/auth/callback?code=c2&state={state}"))
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);

    // Another browser presenting a state it was never given.
    let mut victim = Browser::default();
    let start = app.get(&mut victim, "/auth/login").await;
    let victims_state = start.location().split("state=").nth(1).unwrap().to_owned();
    let mut attacker = Browser::default();
    app.get(&mut attacker, "/auth/login").await;
    app.provider.expect(
        "c3",
        Outcome::Ok {
            id: 9,
            login: "mallory".into(),
        },
    );
    let res = app
        .get(
            &mut attacker,
            &format!("/auth/callback?code=c3&state={victims_state}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = app
        .get(
            &mut Browser::default(),
            &format!("/auth/callback?code=c3&state={victims_state}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "no session, no state");
}

#[actix_web::test]
async fn redirect_targets_stay_on_this_server() {
    let app = test_app(Mode::Provider).await;
    let mut b = Browser::default();
    let start = app
        .get(&mut b, "/auth/login?redirect_to=https://evil.example.com/")
        .await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    app.provider.expect(
        "c",
        Outcome::Ok {
            id: 1,
            login: "ada".into(),
        },
    );
    let res = app
        .get(&mut b, &format!("/auth/callback?code=c&state={state}"))
        .await;
    assert_eq!(res.location(), "/");
}

#[actix_web::test]
async fn deactivated_users_cannot_sign_in() {
    let app = test_app(Mode::Provider).await;
    let mut admin = Browser::default();
    app.provider_sign_in(&mut admin, 1, "root").await;
    let mut bob = Browser::default();
    app.provider_sign_in(&mut bob, 2, "bob").await;
    let bob_id = app.get(&mut bob, "/api/auth/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .send(
            &mut admin,
            Method::PATCH,
            &format!("/api/users/{bob_id}"),
            None,
            Some(serde_json::json!({"active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let mut again = Browser::default();
    let res = app.provider_sign_in(&mut again, 2, "bob").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("deactivated"));
    assert_eq!(
        app.get(&mut again, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn github_routes_answer_404_in_dev_mode_and_dev_routes_in_provider_mode() {
    let app = test_app(Mode::Provider).await;
    let res = app.dev_sign_in(&mut Browser::default(), "ada").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let dev = test_app(Mode::Dev).await;
    let res = dev
        .get(&mut Browser::default(), "/auth/callback?code=x&state=y")
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// Item 8: `?error=` comes from whoever sent the browser to the callback; the audit log keeps it
/// bounded, without control characters, apart from our own reason and marked as provider-supplied.
#[actix_web::test]
async fn a_provider_error_is_bounded_and_marked_in_the_audit_log() {
    let app = test_app(Mode::Provider).await;
    let mut b = Browser::default();
    let start = app.get(&mut b, "/auth/login").await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    let huge = format!("evil%0A{}", "x".repeat(20_000));
    let res = app
        .get(
            &mut b,
            &format!("/auth/callback?error={huge}&state={state}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let page = app
        .ports
        .audit_query
        .page(&planpush_audit::AuditFilter::default(), None, 10)
        .await
        .unwrap();
    let denied = page
        .events
        .iter()
        .find(|e| e.action == planpush_audit::AuditAction::SignInDenied)
        .expect("the refusal is audited");
    let error = denied.details["provider_error"].as_str().unwrap();
    assert_eq!(
        error.chars().count(),
        planpush_app::PROVIDER_ERROR_MAX_CHARS,
        "{error}"
    );
    assert!(
        error.starts_with("evilxxx") && !error.contains('\n'),
        "{error}"
    );
    assert_eq!(denied.details["provider_supplied"], true);
    assert!(
        !denied.details["reason"].as_str().unwrap().contains("xxx"),
        "our reason does not carry the provider's text"
    );
}

#[actix_web::test]
async fn sign_out_ends_the_session_then_goes_to_the_providers_end_session() {
    use planpush_app::SingleLogout;
    let app = test_app(Mode::Provider).await;
    app.provider
        .logout_with(SingleLogout::Redirect("https://idp.test/logout?x=1".into()));
    let mut ada = Browser::default();
    app.provider_sign_in(&mut ada, 1, "ada").await;
    // The hint lives in the server-side session row, never in the cookie.
    assert!(!ada.cookie.clone().unwrap_or_default().contains("hint-1"));
    let res = app
        .send(&mut ada, Method::POST, "/auth/logout", None, None)
        .await;
    assert_eq!(
        (res.status, res.location().as_str()),
        (StatusCode::SEE_OTHER, "https://idp.test/logout?x=1")
    );
    let calls = app.provider.logout_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].0.as_deref(),
        Some("hint-1"),
        "the sign-in's ID token"
    );
    assert_eq!(calls[0].1.len(), 32, "a fresh random state");
    assert_eq!(
        app.get(&mut ada, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "the session ended before leaving"
    );
}

#[actix_web::test]
async fn without_an_end_session_endpoint_the_local_sign_out_completes_and_says_so() {
    use planpush_app::SingleLogout;
    let app = test_app(Mode::Provider).await;
    app.provider.logout_with(SingleLogout::Unsupported);
    let mut ada = Browser::default();
    app.provider_sign_in(&mut ada, 1, "ada").await;
    let res = app
        .send(&mut ada, Method::POST, "/auth/logout", None, None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.contains("signed-out-local"), "{}", res.body);
    assert!(res.body.contains("may still be signed in"));
    assert_eq!(
        app.get(&mut ada, "/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}
