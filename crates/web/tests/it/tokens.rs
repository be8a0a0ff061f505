//! Personal API tokens over HTTP.

use actix_web::http::{Method, StatusCode};
use planpush_identity::TokenHash;
use planpush_roles::Role;

use crate::harness::{Browser, Mode, test_app};

#[actix_web::test]
async fn create_list_use_and_revoke() {
    let app = test_app(Mode::Dev).await;
    let (mut b, ada) = app.user_with("ada", &[Role::Qa]).await;
    let bad = app
        .send(
            &mut b,
            Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "  "})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_label"))
    );

    let created = app
        .send(
            &mut b,
            Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "laptop"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = created.json();
    let secret = body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pp_pat_"));
    // Only the hash is stored.
    let stored = app
        .ports
        .tokens
        .find_by_hash(&TokenHash::of(secret.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.user_id, ada);

    let list = app.get(&mut b, "/api/tokens").await.json();
    assert_eq!(list["tokens"][0]["label"], "laptop");
    assert!(
        list["tokens"][0].get("token").is_none(),
        "the secret is shown once, at creation"
    );

    let mut cli = Browser::default();
    let me = app
        .send(&mut cli, Method::GET, "/api/auth/me", Some(&secret), None)
        .await;
    assert_eq!(
        (me.status, me.json()["login"].as_str()),
        (StatusCode::OK, Some("ada"))
    );
    assert!(
        app.get(&mut b, "/api/tokens").await.json()["tokens"][0]["last_used_at"].is_string(),
        "use is recorded"
    );

    let id = body["id"].as_str().unwrap();
    assert_eq!(
        app.send(
            &mut b,
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let res = app
        .send(&mut cli, Method::GET, "/api/auth/me", Some(&secret), None)
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "revocation is effective on the next request"
    );
    assert_eq!(res.json()["message"], "the token has been revoked");
}

#[actix_web::test]
async fn nobody_revokes_someone_elses_token() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut eve, _) = app.user_with("eve", &[Role::Admin]).await;
    let id = app
        .send(
            &mut ada,
            Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "x"})),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.send(
            &mut eve,
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(
            &mut eve,
            Method::DELETE,
            "/api/tokens/not-a-uuid",
            None,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn malformed_and_unknown_bearer_tokens_are_401() {
    let app = test_app(Mode::Dev).await;
    let mut b = Browser::default();
    for t in ["pp_pat_0000", "garbage with spaces"] {
        let res = app
            .send(&mut b, Method::GET, "/api/tokens", Some(t), None)
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{t}");
    }
    assert_eq!(
        app.get(&mut b, "/api/tokens").await.status,
        StatusCode::UNAUTHORIZED
    );
}
