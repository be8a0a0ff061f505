//! Every identity action leaves an audit event, written before the response.

use actix_web::http::Method;
use planpush_audit::{AuditAction, AuditFilter};
use planpush_roles::Role;

use crate::harness::{Browser, Mode, Outcome, test_app};

#[actix_web::test]
async fn identity_actions_are_audited() {
    let app = test_app(Mode::Provider).await;
    let mut root = Browser::default();
    app.provider_sign_in(&mut root, 1, "root").await;
    let mut bob = Browser::default();
    app.provider_sign_in(&mut bob, 2, "bob").await;
    let bob_id = app.get(&mut bob, "/api/auth/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // denied sign-in
    let mut stranger = Browser::default();
    let start = app.get(&mut stranger, "/auth/login").await;
    let state = start.location().split("state=").nth(1).unwrap().to_owned();
    app.provider.expect("nm", Outcome::NotMember);
    app.get(
        &mut stranger,
        &format!("/auth/callback?code=nm&state={state}"),
    )
    .await;

    // tokens, roles, deactivation, sign-out everywhere
    let tok = app
        .send(
            &mut bob,
            Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "x"})),
        )
        .await
        .json();
    app.send(
        &mut bob,
        Method::DELETE,
        &format!("/api/tokens/{}", tok["id"].as_str().unwrap()),
        None,
        None,
    )
    .await;
    app.send(
        &mut root,
        Method::PATCH,
        &format!("/api/users/{bob_id}"),
        None,
        Some(serde_json::json!({"roles": ["project_manager"]})),
    )
    .await;
    app.send(
        &mut root,
        Method::PATCH,
        &format!("/api/users/{bob_id}"),
        None,
        Some(serde_json::json!({"active": false})),
    )
    .await;
    app.send(
        &mut root,
        Method::PATCH,
        &format!("/api/users/{bob_id}"),
        None,
        Some(serde_json::json!({"active": true})),
    )
    .await;
    app.send(
        &mut root,
        Method::DELETE,
        &format!("/api/users/{bob_id}/sessions"),
        None,
        None,
    )
    .await;
    app.send(&mut root, Method::POST, "/auth/logout", None, None)
        .await;

    let page = app
        .ports
        .audit_query
        .page(&AuditFilter::default(), None, 1000)
        .await
        .unwrap();
    let actions: Vec<AuditAction> = page.events.iter().rev().map(|e| e.action).collect();
    for want in [
        AuditAction::SignIn,
        AuditAction::SignInDenied,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::GrantAdded,
        AuditAction::GrantRemoved,
        AuditAction::RoleChanged,
        AuditAction::UserDeactivated,
        AuditAction::UserReactivated,
        AuditAction::SignOutEverywhere,
        AuditAction::SignOut,
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let denied = page
        .events
        .iter()
        .find(|e| e.action == AuditAction::SignInDenied)
        .unwrap();
    assert!(denied.ip.is_some(), "the client address is recorded");
    let _ = Role::Admin;
}
