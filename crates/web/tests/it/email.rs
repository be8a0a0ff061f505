//! E-mail preferences (`/api/me/email-preferences`) and one-click unsubscribe (`/unsubscribe/…`).

use actix_web::http::{Method, StatusCode, header};
use actix_web::test;
use planpush_app::{EmailMode, UnsubscribeKeys};
use planpush_roles::Role;
use serde_json::json;

use crate::harness::{BASE, Browser, Mode, test_app};

fn keys() -> planpush_mail::LinkKeys {
    planpush_mail::LinkKeys::new(&[7; 64], &[])
}

#[actix_web::test]
async fn preferences_default_to_immediate_and_change() {
    let app = test_app(Mode::Dev).await;
    let (mut b, _) = app.user_with("ben", &[Role::Developer]).await;
    let res = app.get(&mut b, "/api/me/email-preferences").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.json(),
        json!({"mode": "immediate", "address": null, "enabled": false, "modes": ["immediate", "daily", "off"]})
    );
    let res = app
        .send(
            &mut b,
            Method::PUT,
            "/api/me/email-preferences",
            None,
            Some(json!({"mode": "daily"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["mode"], "daily");
    assert_eq!(
        app.get(&mut b, "/api/me/email-preferences").await.json()["mode"],
        "daily"
    );
    // The dashboard's Settings tab shows it.
    let page = app.get(&mut b, "/dashboard?tab=settings").await;
    assert!(
        page.body
            .contains(r#"id="email-daily" value="daily" checked"#),
        "{}",
        page.body
    );
    let res = app
        .send(
            &mut b,
            Method::PUT,
            "/api/me/email-preferences",
            None,
            Some(json!({"mode": "weekly"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_email_mode");
}

#[actix_web::test]
async fn changing_preferences_with_a_session_still_needs_our_origin() {
    let app = test_app(Mode::Dev).await;
    let (b, id) = app.user_with("ben", &[Role::Developer]).await;
    let req = test::TestRequest::put()
        .uri("/api/me/email-preferences")
        .peer_addr(b.ip)
        .insert_header((header::COOKIE, b.cookie.clone().unwrap()))
        .insert_header((header::ORIGIN, "https://evil.example.com"))
        .set_json(json!({"mode": "off"}))
        .to_request();
    let res = app.call(&mut b.clone(), req).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.json()["error"], "cross_origin");
    assert_eq!(app.ports.email_preferences.get(id).await.unwrap(), None);
}

#[actix_web::test]
async fn the_unsubscribe_link_works_without_signing_in() {
    let app = test_app(Mode::Dev).await;
    let (_, ben) = app.user_with("ben", &[Role::Developer]).await;
    let path = format!("/unsubscribe/{}", keys().sign(ben));
    let mut anon = Browser::default();
    // The page names the account and asks; a GET changes nothing (scanners follow links).
    let page = app.get(&mut anon, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<strong>ben</strong>"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!(r#"<form method="post" action="{path}">"#)),
        "{}",
        page.body
    );
    assert_eq!(page.headers.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(app.ports.email_preferences.get(ben).await.unwrap(), None);
    // RFC 8058 one-click: a POST from the mail provider, no cookie, no Origin, a form body.
    let req = test::TestRequest::post()
        .uri(&path)
        .peer_addr(anon.ip)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload("List-Unsubscribe=One-Click")
        .to_request();
    let res = app.call(&mut anon, req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("id=\"unsubscribe-done\""), "{}", res.body);
    assert!(anon.cookie.is_none(), "no session is started");
    assert_eq!(
        app.ports
            .email_preferences
            .get(ben)
            .await
            .unwrap()
            .unwrap()
            .mode,
        EmailMode::Off
    );
    // Again: still fine (idempotent), and the page says it is already off.
    let page = app.get(&mut anon, &path).await;
    assert!(page.body.contains("unsubscribe-already"), "{}", page.body);
    let res = app.send(&mut anon, Method::POST, &path, None, None).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[actix_web::test]
async fn forged_or_altered_unsubscribe_links_are_refused() {
    let app = test_app(Mode::Dev).await;
    let (_, ben) = app.user_with("ben", &[Role::Developer]).await;
    let (_, ada) = app.user_with("ada", &[Role::Developer]).await;
    let good = keys().sign(ben);
    let (_, tag) = good.split_once('.').unwrap();
    let (ada_part, _) = keys()
        .sign(ada)
        .split_once('.')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let other_server = planpush_mail::LinkKeys::new(&[8; 64], &[]).sign(ben);
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let cases = [
        format!("{ada_part}.{tag}"),
        other_server,
        String::from_utf8(flipped).unwrap(),
        "not-a-token".into(),
    ];
    let mut anon = Browser::default();
    for token in &cases {
        for method in [Method::GET, Method::POST] {
            let res = app
                .send(
                    &mut anon,
                    method.clone(),
                    &format!("/unsubscribe/{token}"),
                    None,
                    None,
                )
                .await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{method} {token}");
            assert!(res.body.contains("Link not valid"), "{}", res.body);
        }
    }
    assert_eq!(app.ports.email_preferences.get(ben).await.unwrap(), None);
    assert_eq!(app.ports.email_preferences.get(ada).await.unwrap(), None);
    let _ = BASE;
}
