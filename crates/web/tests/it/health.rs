use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{App, test};
use planpush_app::{InfraError, Readiness};
use planpush_identity::SessionPolicy;
use planpush_web::{AppState, RateLimits, SignInMode, WebSettings, configure};

use crate::harness::{Browser, Mode, test_app};

struct Down;

#[async_trait::async_trait]
impl Readiness for Down {
    async fn check(&self) -> Result<(), InfraError> {
        Err(InfraError::Unknown(anyhow::anyhow!(
            "connection refused (secret detail)"
        )))
    }
}

#[actix_web::test]
async fn healthz_and_readyz() {
    let app = test_app(Mode::Dev).await;
    let mut b = Browser::default();
    assert_eq!(app.get(&mut b, "/healthz").await.status, StatusCode::OK);
    let ready = app.get(&mut b, "/readyz").await;
    assert_eq!(
        (ready.status, ready.json()["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[actix_web::test]
async fn readyz_reports_an_unreachable_database_without_details() {
    let mut ports = planpush_app::fake::ports();
    ports.readiness = Arc::new(Down);
    let settings = WebSettings {
        base_url: crate::harness::BASE.into(),
        cookie_secure: false,
        secret_key: vec![1; 64],
        trusted_proxy: Arc::new(|_| false),
        session_policy: SessionPolicy::default(),
        sanitize: Default::default(),
    };
    let state = AppState::new(
        ports,
        SignInMode::Dev,
        settings,
        RateLimits::new(),
        Arc::new(planpush_app::fake::FakeDiagrams::default()),
    );
    let app = test::init_service(App::new().configure(configure(state))).await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["error"], "not_ready");
    assert!(!body.to_string().contains("secret"), "{body}");
}
