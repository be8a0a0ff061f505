//! Item 6 of the security review: every page carries the CSP (with `frame-ancestors`), and every
//! answer with private data says it must not be stored by shared caches.

use actix_web::http::{Method, StatusCode, header};
use planpush_plans::Visibility;
use planpush_roles::Role;

use crate::harness::{Browser, Mode, Res, plan, test_app};

fn header(res: &Res, name: header::HeaderName) -> &str {
    res.headers
        .get(&name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn assert_page_headers(what: &str, res: &Res) {
    assert!(
        header(res, header::CONTENT_TYPE).starts_with("text/html"),
        "{what}: not a page ({})",
        res.status
    );
    let csp = header(res, header::CONTENT_SECURITY_POLICY);
    for want in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(want), "{what}: CSP {csp:?} lacks {want}");
    }
    assert_eq!(header(res, header::X_FRAME_OPTIONS), "DENY", "{what}");
    assert_eq!(
        header(res, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff",
        "{what}"
    );
    assert!(
        header(res, header::CACHE_CONTROL).contains("private"),
        "{what}: {:?}",
        header(res, header::CACHE_CONTROL)
    );
}

fn assert_private_json(what: &str, res: &Res) {
    assert_eq!(res.status, StatusCode::OK, "{what}: {}", res.body);
    let cc = header(res, header::CACHE_CONTROL);
    assert!(
        cc.contains("private") && cc.contains("no-store"),
        "{what}: Cache-Control {cc:?}"
    );
}

#[actix_web::test]
async fn every_page_carries_the_csp_and_frame_ancestors() {
    let app = test_app(Mode::Dev).await;
    let mut anon = Browser::default();
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    plan(&app.ports, ada_id, "headers", Visibility::Published).await;

    let mut pages = vec![
        ("home, anonymous", app.get(&mut anon, "/").await),
        ("dev sign-in form", app.get(&mut anon, "/auth/login").await),
        (
            "auth message page (no external sign-in)",
            app.get(&mut anon, "/auth/callback?code=x&state=y").await,
        ),
        ("home, signed in", app.get(&mut ada, "/").await),
        ("activate, entry", app.get(&mut ada, "/activate").await),
        (
            "activate, unknown code",
            app.get(&mut ada, "/activate?user_code=BBBB-BBBB").await,
        ),
        ("plan page", app.get(&mut ada, "/p/headers").await),
        ("plan page, v1", app.get(&mut ada, "/p/headers?v=1").await),
        (
            "diff page",
            app.get(&mut ada, "/p/headers?v=1&diff=1").await,
        ),
        ("missing plan", app.get(&mut ada, "/p/nothing-here").await),
        ("dashboard", app.get(&mut ada, "/dashboard").await),
    ];
    // A refused form post answers with a message page too.
    let mut stranger = Browser::default();
    let req = actix_web::test::TestRequest::post()
        .uri("/auth/dev")
        .insert_header((header::ORIGIN, "https://evil.example.com"))
        .set_form([("login", "eve")])
        .to_request();
    pages.push(("refused sign-in", app.call(&mut stranger, req).await));
    for (what, res) in &pages {
        assert_page_headers(what, res);
    }
}

#[actix_web::test]
async fn private_json_and_revalidations_are_not_stored() {
    let app = test_app(Mode::Dev).await;
    let (mut root, _) = app.user_with("root2", &[Role::Admin]).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let p = plan(&app.ports, ada_id, "cached", Visibility::Private).await;

    assert_private_json("me", &app.get(&mut ada, "/api/auth/me").await);
    assert_private_json("users", &app.get(&mut root, "/api/users").await);
    assert_private_json(
        "session",
        &app.get(&mut ada, &format!("/api/sessions/{}", p.id()))
            .await,
    );
    assert_private_json("sessions", &app.get(&mut ada, "/api/sessions").await);
    let created = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{}/comments", p.id()),
            None,
            Some(serde_json::json!({"body": "hi", "anchor": "flow"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(header(&created, header::CACHE_CONTROL).contains("no-store"));
    assert_private_json(
        "comments",
        &app.get(&mut ada, &format!("/api/sessions/{}/comments", p.id()))
            .await,
    );

    // The 304 of a plan page says it is private, like the 200 it revalidates.
    let first = app.get(&mut ada, "/p/cached").await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = header(&first, header::ETAG).to_owned();
    let req = actix_web::test::TestRequest::get()
        .uri("/p/cached")
        .peer_addr(ada.ip)
        .insert_header((header::COOKIE, ada.cookie.clone().unwrap()))
        .insert_header((header::IF_NONE_MATCH, etag))
        .to_request();
    let not_modified = app.call(&mut ada, req).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    let cc = header(&not_modified, header::CACHE_CONTROL);
    assert!(cc.contains("private"), "304 Cache-Control {cc:?}");
}
