//! Instant offboarding (issue 12, item 4): when access ends — deactivation, sign-out everywhere,
//! sign-out, a revoked token, a demotion that hides a private plan — every open live stream of the
//! user (or of that credential, or of the plans they may no longer see) closes within a second,
//! the page's next request is refused and the tokens answer 401.

use std::time::{Duration, Instant};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use planpush_plans::Visibility;
use planpush_roles::Role;
use serde_json::json;

use crate::events::{Sse, subscribe_as};
use crate::harness::{Browser, Mode, TestApp, plan, test_app};

/// How long a stream may stay open after access ended.
const WITHIN: Duration = Duration::from_secs(1);

/// Reads the stream until it ends; the events seen and how long it took. Panics if it is still
/// open after [`WITHIN`].
async fn closes_within<B: MessageBody>(sse: &mut Sse<B>) -> Vec<String> {
    let started = Instant::now();
    let mut names = vec![];
    loop {
        let left = WITHIN.saturating_sub(started.elapsed());
        match actix_web::rt::time::timeout(left, sse.next()).await {
            Ok(Some(f)) => names.push(f.name),
            Ok(None) => return names,
            Err(_) => panic!("the stream is still open after {WITHIN:?} (saw {names:?})"),
        }
    }
}

/// Asserts the stream stays open (no end, no `signed_out`) for a little while.
async fn stays_open<B: MessageBody>(sse: &mut Sse<B>) {
    match actix_web::rt::time::timeout(Duration::from_millis(300), sse.next()).await {
        Err(_) => {}
        Ok(Some(f)) => assert_ne!(f.name, "signed_out", "a stream that should stay open"),
        Ok(None) => panic!("a stream that should stay open ended"),
    }
}

/// A CLI login through the device flow: (access token, refresh token).
async fn cli_login<S, B>(app: &TestApp<S>, b: &mut Browser) -> (String, String)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut cli = Browser {
        cookie: None,
        ip: b.ip,
    };
    let start = app
        .send(&mut cli, Method::POST, "/api/auth/device", None, None)
        .await
        .json();
    let approved = app
        .activate(b, start["user_code"].as_str().unwrap(), "approve")
        .await;
    assert!(approved.status.is_success(), "{}", approved.body);
    let pair = app
        .send(
            &mut cli,
            Method::POST,
            "/api/auth/device/token",
            None,
            Some(json!({"device_code": start["device_code"]})),
        )
        .await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.body);
    let pair = pair.json();
    (
        pair["access_token"].as_str().unwrap().to_owned(),
        pair["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Whether a Bearer token is accepted.
async fn token_status<S, B>(app: &TestApp<S>, token: &str) -> StatusCode
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.send(
        &mut Browser::default(),
        Method::GET,
        "/api/auth/me",
        Some(token),
        None,
    )
    .await
    .status
}

/// A member with an open plan page, a live stream from the page (cookie), one from the CLI and
/// one from a personal token, plus those tokens.
struct Member<B> {
    id: planpush_identity::UserId,
    browser: Browser,
    page_stream: Sse<B>,
    cli_stream: Sse<B>,
    personal_stream: Sse<B>,
    cli_access: String,
    personal: String,
    personal_id: String,
}

async fn member<S, B>(app: &TestApp<S>, login: &str, slug: &str) -> Member<B>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (mut browser, id) = app.user_with(login, &[Role::Developer]).await;
    assert_eq!(
        app.get(&mut browser, &format!("/p/{slug}")).await.status,
        StatusCode::OK
    );
    let (cli_access, _refresh) = cli_login(app, &mut browser).await;
    let created = app
        .send(
            &mut browser,
            Method::POST,
            "/api/tokens",
            None,
            Some(json!({"label": "laptop"})),
        )
        .await
        .json();
    let personal = created["token"].as_str().unwrap().to_owned();
    let personal_id = created["id"].as_str().unwrap().to_owned();
    let nobody = Browser::default();
    let open = |bearer: Option<String>, b: Browser| async move {
        let (status, sse) = subscribe_as(app, &b, bearer.as_deref(), slug, None).await;
        assert_eq!(status, StatusCode::OK);
        let mut sse = sse.unwrap();
        sse.until("ready").await;
        sse
    };
    let page_stream = open(None, browser.clone()).await;
    let cli_stream = open(Some(cli_access.clone()), nobody.clone()).await;
    let personal_stream = open(Some(personal.clone()), nobody).await;
    Member {
        id,
        browser,
        page_stream,
        cli_stream,
        personal_stream,
        cli_access,
        personal,
        personal_id,
    }
}

async fn admin_browser<S, B>(app: &TestApp<S>) -> Browser
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.user_with("boss", &[Role::Admin]).await.0
}

/// Every stream ends with `signed_out`, the page is refused, both tokens answer 401.
async fn everything_ended<S, B>(app: &TestApp<S>, m: &mut Member<B>, slug: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for sse in [
        &mut m.page_stream,
        &mut m.cli_stream,
        &mut m.personal_stream,
    ] {
        let seen = closes_within(sse).await;
        assert_eq!(
            seen.last().map(String::as_str),
            Some("signed_out"),
            "{seen:?}"
        );
    }
    let page = app.get(&mut m.browser, &format!("/p/{slug}")).await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the page's next request"
    );
    assert!(
        page.location().starts_with("/auth/login"),
        "{}",
        page.location()
    );
    assert_eq!(
        token_status(app, &m.cli_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_status(app, &m.personal).await,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn deactivation_closes_every_stream_within_a_second() {
    let app = test_app(Mode::Dev).await;
    let mut admin = admin_browser(&app).await;
    let (_, owner) = app.user_with("owner", &[Role::Developer]).await;
    plan(&app.ports, owner, "roadmap", Visibility::Published).await;
    let mut m = member(&app, "ada", "roadmap").await;
    let res = app
        .send(
            &mut admin,
            Method::PATCH,
            &format!("/api/users/{}", m.id),
            None,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    everything_ended(&app, &mut m, "roadmap").await;
}

#[actix_web::test]
async fn sign_out_everywhere_closes_every_stream_within_a_second() {
    let app = test_app(Mode::Dev).await;
    let (_, owner) = app.user_with("owner", &[Role::Developer]).await;
    plan(&app.ports, owner, "roadmap", Visibility::Published).await;
    let mut m = member(&app, "ada", "roadmap").await;
    let mut other_tab = m.browser.clone();
    let res = app
        .send(
            &mut other_tab,
            Method::DELETE,
            &format!("/api/users/{}/sessions", m.id),
            None,
            None,
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    everything_ended(&app, &mut m, "roadmap").await;
}

#[actix_web::test]
async fn a_revoked_token_closes_its_streams_only() {
    let app = test_app(Mode::Dev).await;
    let (_, owner) = app.user_with("owner", &[Role::Developer]).await;
    plan(&app.ports, owner, "roadmap", Visibility::Published).await;
    let mut m = member(&app, "ada", "roadmap").await;
    let res = app
        .send(
            &mut m.browser,
            Method::DELETE,
            &format!("/api/tokens/{}", m.personal_id),
            None,
            None,
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    let seen = closes_within(&mut m.personal_stream).await;
    assert_eq!(
        seen.last().map(String::as_str),
        Some("signed_out"),
        "{seen:?}"
    );
    assert_eq!(
        token_status(&app, &m.personal).await,
        StatusCode::UNAUTHORIZED
    );
    // The member's other credentials and their streams stay.
    stays_open(&mut m.page_stream).await;
    stays_open(&mut m.cli_stream).await;
    assert_eq!(token_status(&app, &m.cli_access).await, StatusCode::OK);
}

#[actix_web::test]
async fn cli_logout_closes_the_streams_of_its_token_family() {
    let app = test_app(Mode::Dev).await;
    let (_, owner) = app.user_with("owner", &[Role::Developer]).await;
    plan(&app.ports, owner, "roadmap", Visibility::Published).await;
    let (mut b, _) = app.user_with("ada", &[Role::Developer]).await;
    let (access, refresh) = cli_login(&app, &mut b).await;
    let (_, sse) = subscribe_as(&app, &Browser::default(), Some(&access), "roadmap", None).await;
    let mut sse = sse.unwrap();
    sse.until("ready").await;
    let (_, page) = subscribe_as(&app, &b, None, "roadmap", None).await;
    let mut page = page.unwrap();
    page.until("ready").await;
    let res = app
        .send(
            &mut Browser::default(),
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    let seen = closes_within(&mut sse).await;
    assert_eq!(
        seen.last().map(String::as_str),
        Some("signed_out"),
        "{seen:?}"
    );
    assert_eq!(token_status(&app, &access).await, StatusCode::UNAUTHORIZED);
    stays_open(&mut page).await;
}

#[actix_web::test]
async fn signing_out_closes_that_sessions_streams() {
    let app = test_app(Mode::Dev).await;
    let (_, owner) = app.user_with("owner", &[Role::Developer]).await;
    plan(&app.ports, owner, "roadmap", Visibility::Published).await;
    let mut m = member(&app, "ada", "roadmap").await;
    let req = actix_web::test::TestRequest::post()
        .uri("/auth/logout")
        .peer_addr(m.browser.ip)
        .insert_header((
            actix_web::http::header::COOKIE,
            m.browser.cookie.clone().unwrap(),
        ))
        .insert_header((actix_web::http::header::ORIGIN, crate::harness::BASE))
        .to_request();
    let mut signed_out = m.browser.clone();
    let res = app.call(&mut signed_out, req).await;
    assert!(
        res.status.is_redirection() || res.status.is_success(),
        "{}",
        res.body
    );
    let seen = closes_within(&mut m.page_stream).await;
    assert_eq!(
        seen.last().map(String::as_str),
        Some("signed_out"),
        "{seen:?}"
    );
    // The session is gone: the page's next request (with the old cookie) is refused.
    let page = app.get(&mut m.browser, "/p/roadmap").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // Tokens are not the session's: they and their streams stay.
    stays_open(&mut m.cli_stream).await;
    assert_eq!(token_status(&app, &m.personal).await, StatusCode::OK);
}

#[actix_web::test]
async fn a_demotion_that_hides_a_private_plan_closes_its_streams() {
    let app = test_app(Mode::Dev).await;
    let mut admin = admin_browser(&app).await;
    let (_, owner) = app.user_with("owner", &[Role::Developer]).await;
    plan(&app.ports, owner, "secret", Visibility::Private).await;
    plan(&app.ports, owner, "roadmap", Visibility::Published).await;
    let (mut pm, pm_id) = app.user_with("pm", &[Role::ProjectManager]).await;
    assert_eq!(app.get(&mut pm, "/p/secret").await.status, StatusCode::OK);
    let (_, private) = subscribe_as(&app, &pm, None, "secret", None).await;
    let mut private = private.unwrap();
    private.until("ready").await;
    let (_, public) = subscribe_as(&app, &pm, None, "roadmap", None).await;
    let mut public = public.unwrap();
    public.until("ready").await;

    let res = app
        .send(
            &mut admin,
            Method::PATCH,
            &format!("/api/users/{pm_id}"),
            None,
            Some(json!({"roles": ["qa"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let seen = closes_within(&mut private).await;
    assert_eq!(
        seen.last().map(String::as_str),
        Some("signed_out"),
        "{seen:?}"
    );
    assert_eq!(
        app.get(&mut pm, "/p/secret").await.status,
        StatusCode::NOT_FOUND,
        "the page's next request"
    );
    // A plan they may still see keeps streaming.
    stays_open(&mut public).await;
    assert_eq!(app.get(&mut pm, "/p/roadmap").await.status, StatusCode::OK);
}
