//! Rate-limit budgets (issue 14, item 1, and item 9 for renders): separate budgets per purpose,
//! refresh counted per token family, IPv6 keyed by /64, resolve/reopen limited, and older
//! versions and diffs rendered once per version pair with a per-user budget for new renders.

use actix_web::http::{Method, StatusCode, header};
use planpush_app::Budget;
use planpush_roles::Role;
use serde_json::json;

use crate::harness::{Browser, Mode, test_app};

const V1: &str =
    "# Auth\n\n## Flow\n\nThe client sends the refresh token.\n\n## Storage\n\nHashed.\n";
const V2: &str =
    "# Auth\n\n## Flow\n\nThe client sends the refresh token, rotated.\n\n## Storage\n\nHashed.\n";

fn push_req(token: &str, body: &str) -> actix_http::Request {
    actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", "auth"))
        .set_payload(body.to_owned())
        .to_request()
}

#[actix_web::test]
async fn refresh_is_counted_per_token_family_not_per_address() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    // Two CLIs behind one address (one office NAT).
    let mut office = Browser::default();
    let mut refresh = vec![];
    for _ in 0..2 {
        let start = app
            .send(&mut office, Method::POST, "/api/auth/device", None, None)
            .await
            .json();
        app.activate(&mut ada, start["user_code"].as_str().unwrap(), "approve")
            .await;
        let pair = app
            .send(
                &mut office,
                Method::POST,
                "/api/auth/device/token",
                None,
                Some(json!({"device_code": start["device_code"]})),
            )
            .await
            .json();
        refresh.push(pair["refresh_token"].as_str().unwrap().to_owned());
    }
    let per_family = Budget::Refresh.per_15_min();
    let mut current = refresh[0].clone();
    for i in 0..per_family {
        let res = app
            .send(
                &mut office,
                Method::POST,
                "/api/auth/token",
                None,
                Some(json!({"refresh_token": current})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "refresh {i}: {}", res.body);
        current = res.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    let res = app
        .send(
            &mut office,
            Method::POST,
            "/api/auth/token",
            None,
            Some(json!({"refresh_token": current})),
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(res.json()["error"], "rate_limited");
    assert!(res.headers.get(header::RETRY_AFTER).is_some());
    // The other family, same address, is not affected; nor is signing in from that address.
    let res = app
        .send(
            &mut office,
            Method::POST,
            "/api/auth/token",
            None,
            Some(json!({"refresh_token": refresh[1]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        app.dev_sign_in(&mut office, "bob").await.status,
        StatusCode::SEE_OTHER
    );
    // The limited family's refresh token was not spent by the refused call.
    app.clock.advance(std::time::Duration::from_secs(15 * 60));
    let res = app
        .send(
            &mut office,
            Method::POST,
            "/api/auth/token",
            None,
            Some(json!({"refresh_token": current})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[actix_web::test]
async fn a_page_spending_device_starts_cannot_lock_an_office_out_of_sign_in() {
    let app = test_app(Mode::Dev).await;
    let mut office = Browser::default();
    loop {
        let res = app
            .send(&mut office, Method::POST, "/api/auth/device", None, None)
            .await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(res.status, StatusCode::OK);
    }
    assert_eq!(
        app.dev_sign_in(&mut office, "ada").await.status,
        StatusCode::SEE_OTHER,
        "sign-in has its own budget"
    );
}

#[actix_web::test]
async fn ipv6_clients_are_keyed_by_their_64() {
    let app = test_app(Mode::Dev).await;
    let budget = Budget::DeviceStart.per_15_min();
    for i in 0..budget {
        let mut b = Browser {
            cookie: None,
            ip: format!("[2001:db8:7:7:{:x}::1]:4000", i + 1)
                .parse()
                .unwrap(),
        };
        let res = app
            .send(&mut b, Method::POST, "/api/auth/device", None, None)
            .await;
        assert_eq!(res.status, StatusCode::OK, "request {i}");
    }
    let mut rotated = Browser {
        cookie: None,
        ip: "[2001:db8:7:7:ffff:ffff:ffff:1]:4000".parse().unwrap(),
    };
    assert_eq!(
        app.send(&mut rotated, Method::POST, "/api/auth/device", None, None)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "a new address in the same /64 buys no new budget"
    );
    let mut neighbour = Browser {
        cookie: None,
        ip: "[2001:db8:7:8::1]:4000".parse().unwrap(),
    };
    assert_eq!(
        app.send(&mut neighbour, Method::POST, "/api/auth/device", None, None)
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn resolving_and_reopening_is_rate_limited_per_user() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let created = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{plan}/comments"),
            None,
            Some(json!({"body": "why?", "anchor": "flow"})),
        )
        .await
        .json();
    let url = format!("/api/comments/{}", created["id"].as_str().unwrap());
    let budget = Budget::CommentState.per_15_min();
    for i in 0..budget {
        let res = app
            .send(
                &mut ada,
                Method::PATCH,
                &url,
                None,
                Some(json!({"resolved": i % 2 == 0})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "toggle {i}: {}", res.body);
    }
    let res = app
        .send(
            &mut ada,
            Method::PATCH,
            &url,
            None,
            Some(json!({"resolved": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    // Editing the text is another budget.
    let res = app
        .send(
            &mut ada,
            Method::PATCH,
            &url,
            None,
            Some(json!({"body": "why not?"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[actix_web::test]
async fn diffs_are_rendered_once_per_pair_and_new_renders_are_budgeted() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    app.call(&mut Browser::default(), push_req(&token, V1))
        .await;
    let res = app
        .call(&mut Browser::default(), push_req(&token, V2))
        .await;
    assert_eq!(res.json()["version"], 2, "{}", res.body);
    let budget = Budget::Render.per_15_min();
    // The same diff, many times more than the render budget: rendered once, served from memory.
    let first = app.get(&mut ada, "/p/auth?v=2&diff=1").await;
    assert_eq!(first.status, StatusCode::OK);
    for i in 0..budget + 10 {
        let res = app.get(&mut ada, "/p/auth?v=2&diff=1").await;
        assert_eq!(res.status, StatusCode::OK, "repeat {i}");
        assert_eq!(res.body, first.body);
    }
    // New pairs cost a render each: a reader cannot buy unbounded CPU.
    let mut limited = None;
    for from in 0..=budget + 1 {
        let res = app
            .get(&mut ada, &format!("/p/auth?v={}&diff={from}", from + 3))
            .await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(from);
            break;
        }
    }
    assert!(limited.is_some(), "new renders are limited");
    // Another reader's budget is their own, and cached renders are still served.
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    assert_eq!(
        app.get(&mut bob, "/p/auth?v=1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&mut ada, "/p/auth?v=2&diff=1").await.status,
        StatusCode::OK
    );
    // A push voids the plan's renders (the page cache listens to the plan's events).
    let before = app.get(&mut bob, "/p/auth?diff=1").await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(!before.body.contains("rotated once"));
    let v3 = "# Auth\n\n## Flow\n\nThe client sends the refresh token, rotated once.\n";
    app.call(&mut Browser::default(), push_req(&token, v3))
        .await;
    let after = app.get(&mut bob, "/p/auth?diff=1").await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(after.body.contains("rotated once"), "{}", after.body);
}

#[actix_web::test]
async fn cross_site_sign_outs_do_not_spend_the_sign_out_budget() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    for _ in 0..Budget::SignOut.per_15_min() + 5 {
        let req = actix_web::test::TestRequest::post()
            .uri("/auth/logout")
            .peer_addr(ada.ip)
            .insert_header((header::ORIGIN, "https://evil.example"))
            .to_request();
        let res = app.call(&mut Browser::default(), req).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
    }
    let res = app
        .send(&mut ada, Method::POST, "/auth/logout", None, None)
        .await;
    assert!(res.status.is_redirection(), "{} {}", res.status, res.body);
}

#[actix_web::test]
async fn embedded_sign_in_requests_do_not_spend_the_sign_in_budget() {
    let app = test_app(Mode::Provider).await;
    let mut office = Browser::default();
    // Another site's page makes its visitors' browsers load our sign-in as images and frames.
    for dest in ["image", "iframe", "empty", "script"]
        .iter()
        .cycle()
        .take(2 * Budget::SignIn.per_15_min() as usize)
    {
        let req = actix_web::test::TestRequest::get()
            .uri("/auth/login")
            .peer_addr(office.ip)
            .insert_header(("sec-fetch-dest", *dest))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_request();
        assert_eq!(
            app.call(&mut Browser::default(), req).await.status,
            StatusCode::FORBIDDEN
        );
    }
    // A real navigation from that office still signs in.
    let req = actix_web::test::TestRequest::get()
        .uri("/auth/login")
        .peer_addr(office.ip)
        .insert_header(("sec-fetch-dest", "document"))
        .to_request();
    assert_eq!(app.call(&mut office, req).await.status, StatusCode::FOUND);
}
