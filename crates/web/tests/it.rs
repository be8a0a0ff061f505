//! The web layer over fake ports, in-process.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use actix_web::{App, test};
use planpush_app::{Health, InfraError, Readiness};
use planpush_web::{AppState, configure};

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
    let app = test::init_service(App::new().configure(configure(AppState {
        health: Health::new(planpush_app::fake::ports()),
    })))
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), 200);
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn readyz_reports_an_unreachable_database_without_details() {
    let mut ports = planpush_app::fake::ports();
    ports.readiness = Arc::new(Down);
    let app = test::init_service(App::new().configure(configure(AppState {
        health: Health::new(ports),
    })))
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["error"], "not_ready");
    assert!(
        !body["message"].as_str().unwrap().contains("secret"),
        "{body}"
    );
}
