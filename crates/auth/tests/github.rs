//! The GitHub provider against a fake GitHub on 127.0.0.1: the real HTTP requests, every outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use planpush_app::{IdentityProvider, ProviderError};
use planpush_auth::{GithubProvider, GithubSettings};
use planpush_identity::ExternalIdentity;
use serde_json::json;

/// The fake's script and what it saw.
#[derive(Default)]
struct Fake {
    codes: Vec<String>,
    membership: Option<&'static str>,
    seen: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

async fn token(
    fake: web::Data<Shared>,
    form: web::Form<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let mut f = fake.lock().unwrap();
    f.seen.push(format!(
        "token secret={} redirect={}",
        form.get("client_secret").cloned().unwrap_or_default(),
        form.get("redirect_uri").cloned().unwrap_or_default()
    ));
    if form.get("client_secret").map(String::as_str) != Some("s3cret") {
        return HttpResponse::Ok().json(json!({"error": "incorrect_client_credentials"}));
    }
    let code = form.get("code").cloned().unwrap_or_default();
    match f.codes.iter().position(|c| *c == code) {
        Some(i) => {
            f.codes.remove(i);
            HttpResponse::Ok().json(json!({"access_token": "gho_token", "token_type": "bearer", "scope": "read:org,read:user,user:email"}))
        }
        None => HttpResponse::Ok().json(json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})),
    }
}

fn authorized(req: &HttpRequest, fake: &Shared) -> bool {
    let ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some("Bearer gho_token");
    fake.lock()
        .unwrap()
        .seen
        .push(format!("{} auth={ok}", req.path()));
    ok
}

async fn user(req: HttpRequest, fake: web::Data<Shared>) -> HttpResponse {
    if !authorized(&req, &fake) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!({"id": 583231, "login": "octocat", "name": "The Octocat", "avatar_url": "https://avatars.example.com/u/583231"}))
}

async fn emails(req: HttpRequest, fake: web::Data<Shared>) -> HttpResponse {
    if !authorized(&req, &fake) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!([
        {"email": "old@example.com", "primary": false, "verified": true},
        {"email": "unverified@example.com", "primary": true, "verified": false},
        {"email": "Octocat@Example.com", "primary": true, "verified": true},
    ]))
}

async fn membership(
    req: HttpRequest,
    fake: web::Data<Shared>,
    path: web::Path<String>,
) -> HttpResponse {
    if !authorized(&req, &fake) {
        return HttpResponse::Unauthorized().finish();
    }
    match (path.as_str(), fake.lock().unwrap().membership) {
        ("acme", Some(state)) => HttpResponse::Ok().json(json!({"state": state, "role": "member"})),
        _ => HttpResponse::NotFound().json(json!({"message": "Not Found"})),
    }
}

/// Starts the fake on a free loopback port; `prefix` is the API path prefix ("" or "/api/v3").
async fn fake_github(prefix: &'static str, fake: Shared) -> String {
    let data = web::Data::new(fake);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/login/oauth/access_token", web::post().to(token))
            .route(&format!("{prefix}/user"), web::get().to(user))
            .route(&format!("{prefix}/user/emails"), web::get().to(emails))
            .route(
                &format!("{prefix}/user/memberships/orgs/{{org}}"),
                web::get().to(membership),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{addr}")
}

fn provider(web_url: &str, api_url: &str, secret: &str) -> GithubProvider {
    GithubProvider::new(GithubSettings {
        client_id: "Iv1.client".into(),
        client_secret: secret.into(),
        org: "acme".into(),
        web_url: web_url.into(),
        api_url: api_url.into(),
        redirect_uri: "https://planpush.example.com/auth/callback".into(),
    })
    .unwrap()
}

#[actix_web::test]
async fn a_member_signs_in_with_the_numeric_id_and_verified_primary_email() {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        codes: vec!["good".into()],
        membership: Some("active"),
        ..Fake::default()
    }));
    let base = fake_github("", fake.clone()).await;
    let gh = provider(&base, &base, "s3cret");
    let profile = gh.complete("good", "").await.unwrap();
    assert_eq!(profile.identity, ExternalIdentity::github(583231));
    assert_eq!(profile.login, "octocat");
    assert_eq!(profile.name.as_deref(), Some("The Octocat"));
    assert_eq!(
        profile.email.map(|e| e.to_string()).as_deref(),
        Some("octocat@example.com")
    );
    let seen = fake.lock().unwrap().seen.clone();
    assert!(
        seen[0].contains("secret=s3cret")
            && seen[0].contains("redirect=https://planpush.example.com/auth/callback"),
        "{seen:?}"
    );
    assert!(
        seen[1..].iter().all(|s| s.ends_with("auth=true")),
        "API calls carry the token: {seen:?}"
    );

    // Codes are single use.
    assert!(matches!(
        gh.complete("good", "").await,
        Err(ProviderError::Rejected(_))
    ));
}

#[actix_web::test]
async fn non_members_and_pending_invitations_are_not_allowed() {
    for membership in [None, Some("pending")] {
        let fake: Shared = Arc::new(Mutex::new(Fake {
            codes: vec!["c".into()],
            membership,
            ..Fake::default()
        }));
        let base = fake_github("", fake).await;
        match provider(&base, &base, "s3cret").complete("c", "").await {
            Err(ProviderError::NotAllowed(msg)) => assert!(
                msg.contains("not a member of the acme organization"),
                "{msg}"
            ),
            other => panic!("{membership:?}: {:?}", other.map(|p| p.login)),
        }
    }
}

#[actix_web::test]
async fn bad_codes_and_bad_client_secrets_are_rejected() {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        codes: vec!["c".into()],
        membership: Some("active"),
        ..Fake::default()
    }));
    let base = fake_github("", fake).await;
    assert!(matches!(
        provider(&base, &base, "s3cret")
            .complete("forged", "")
            .await,
        Err(ProviderError::Rejected(_))
    ));
    assert!(matches!(
        provider(&base, &base, "wrong").complete("c", "").await,
        Err(ProviderError::Rejected(_))
    ));
}

#[actix_web::test]
async fn github_down_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    assert!(matches!(
        provider(&base, &base, "s3cret").complete("c", "").await,
        Err(ProviderError::Unavailable(_))
    ));
}

#[actix_web::test]
async fn enterprise_server_api_prefix_is_kept() {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        codes: vec!["c".into()],
        membership: Some("active"),
        ..Fake::default()
    }));
    let base = fake_github("/api/v3", fake).await;
    let profile = provider(&base, &format!("{base}/api/v3"), "s3cret")
        .complete("c", "")
        .await
        .unwrap();
    assert_eq!(profile.login, "octocat");
}

#[test]
fn the_authorize_url_carries_client_state_redirect_and_scopes() {
    let gh = provider(
        "https://github.example.com",
        "https://github.example.com/api/v3",
        "s3cret",
    );
    let req = gh.authorize("st4te");
    let url = url::Url::parse(&req.url).unwrap();
    assert_eq!(url.path(), "/login/oauth/authorize");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "Iv1.client");
    assert_eq!(q["state"], "st4te");
    assert_eq!(
        q["redirect_uri"],
        "https://planpush.example.com/auth/callback"
    );
    assert_eq!(q["scope"], "read:user user:email read:org");
    assert!(
        !req.url.contains("s3cret"),
        "the secret never travels in the browser"
    );
}
