//! Live updates in a real browser: two people on one plan. One pushes a new version through the
//! API; the other's page replaces only what changed, in place, without a reload — unchanged parts
//! stay the very same DOM nodes, the reader's scroll position holds — and the comment badge follows
//! its thread to the renamed anchor.

use std::time::Duration;

use fantoccini::Client;
use serde_json::json;

use crate::browser::{driver, sign_in, tools, until};
use crate::support::{dev_login, dev_server, free_port, push};

async fn eval(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_updates_open_pages_in_place() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let (_, ada_token) = dev_login(port, "ada");
    let (_, ben_token) = dev_login(port, "ben");
    let fixture = include_str!("../../../../fixtures/auth-service-redesign.html");
    let plan = push(port, &ada_token, "text/html", "live", fixture);
    let id = plan["session_id"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {ben_token}");
    let (status, _, _, body) = crate::support::raw(
        port,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"body":"Do we alert on this?","anchor":"risk-revocation","quote":{"exact":"rotation on every use","prefix":"Mitigation: ","suffix":", reuse revokes the family."}}"#,
    );
    assert_eq!(status, 201, "{body}");

    let base = format!("http://127.0.0.1:{port}");
    let (_driver_a, ada) = driver().await;
    let (_driver_b, ben) = driver().await;
    sign_in(&ada, &base, "ada", "/p/live").await;
    sign_in(&ben, &base, "ben", "/p/live").await;
    let badge = "document.querySelector('[data-anchor=\"risk-revocation\"] .pp-comment-badge')?.textContent";
    assert_eq!(until(&ben, badge).await, "1");

    // Ben reads the data model; his page remembers things a reload would forget.
    eval(
        &ben,
        r#"window.__sameDocument = true;
           document.querySelector('[data-anchor="decisions"]').__kept = true;
           document.querySelector('[data-anchor="data-model"]').scrollIntoView();
           window.__pinTop = document.querySelector('[data-anchor="data-model"]').getBoundingClientRect().top;"#,
    )
    .await;
    // Let the stream connect before pushing (a late connection catches up anyway).
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Ada pushes version 2 from her page through the API: a paragraph more in the first section
    // (above Ben's reading position), the revocation risk renamed, a new FAQ section.
    let v2 = fixture
        .replacen(
            "<h2>Authentication Flow</h2>",
            "<h2>Authentication Flow</h2>\n  <p>NEW: refresh tokens rotate on every use, and a reused one revokes its family.</p>\n  <p>Access tokens live for five minutes.</p>",
            1,
        )
        .replace(
            "data-anchor=\"risk-revocation\"",
            "data-anchor=\"risk-stolen-tokens\"",
        )
        + "\n<section data-anchor=\"faq\"><h2>FAQ</h2><p>Why JWT? Gateways verify locally.</p></section>\n";
    let status = ada
        .execute(
            "return fetch('/api/push', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'text/html', 'X-Session-Name': 'live'}, body: arguments[0]}).then(r => r.status)",
            vec![json!(v2)],
        )
        .await
        .unwrap();
    assert_eq!(status, 200);

    // Ben's page, without a reload.
    let changed = until(
        &ben,
        "document.querySelector('[data-anchor=\"auth-flow\"]').textContent.includes('NEW: refresh tokens rotate')",
    )
    .await;
    assert_eq!(changed, true);
    assert_eq!(
        eval(&ben, "return window.__sameDocument === true").await,
        true,
        "no reload"
    );
    assert_eq!(
        eval(
            &ben,
            "return document.querySelector('[data-anchor=\"decisions\"]').__kept === true"
        )
        .await,
        true,
        "an unchanged section is the same element"
    );
    assert_eq!(
        eval(
            &ben,
            "return document.querySelector('.pp-document').dataset.version"
        )
        .await,
        "2"
    );
    assert!(
        eval(&ben, "return document.querySelector('[data-anchor=\"faq\"]')?.previousElementSibling?.dataset.anchor").await
            == "risks",
        "the added section lands where the new version has it"
    );
    let moved = "document.querySelector('[data-anchor=\"risk-stolen-tokens\"] .pp-comment-badge')?.textContent";
    assert_eq!(
        until(&ben, moved).await,
        "1",
        "the badge followed its thread"
    );
    assert_eq!(
        eval(
            &ben,
            "return document.querySelectorAll('[data-anchor=\"risk-revocation\"]').length"
        )
        .await,
        0
    );
    let notice = until(&ben, "document.querySelector('.pp-live')?.textContent").await;
    let notice = notice.as_str().unwrap();
    assert!(notice.starts_with("ada pushed version 2"), "{notice}");
    let drift = eval(
        &ben,
        "return Math.abs(document.querySelector('[data-anchor=\"data-model\"]').getBoundingClientRect().top - window.__pinTop)",
    )
    .await;
    assert!(
        drift.as_f64().unwrap() < 2.0,
        "scroll position kept (moved {drift} px)"
    );
    // The header follows the new version too.
    let meta = eval(
        &ben,
        "return document.querySelector('.pp-meta').textContent",
    )
    .await;
    assert!(meta.as_str().unwrap().contains("v2"), "{meta}");

    // Comment activity reaches the other page as well: Ada resolves Ben's thread there.
    let threads: serde_json::Value = serde_json::from_str(
        &crate::support::raw(
            port,
            "GET",
            &format!("/api/sessions/{id}/comments"),
            &[("Authorization", &auth)],
            "",
        )
        .3,
    )
    .unwrap();
    let thread = threads["comments"][0]["id"].as_str().unwrap().to_owned();
    let status = ada
        .execute(
            "return fetch('/api/comments/' + arguments[0], {method: 'PATCH', credentials: 'same-origin', headers: {'Content-Type': 'application/json'}, body: '{\"resolved\":true}'}).then(r => r.status)",
            vec![json!(thread)],
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    until(
        &ben,
        "!document.querySelector('[data-anchor=\"risk-stolen-tokens\"] .pp-comment-badge') && document.querySelector('.pp-comments-toggle .pp-count').textContent === '0'",
    )
    .await;

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    eval(&ben, "window.scrollTo(0, 0)").await;
    std::fs::write(
        shots.join("live-update.png"),
        ben.screenshot().await.unwrap(),
    )
    .unwrap();
    ada.close().await.unwrap();
    ben.close().await.unwrap();
}

/// Instant offboarding in a real browser against the real binary: a member has a plan page open
/// (its live stream connected) and an API token; an admin deactivates them. Within a second the
/// page is told (`signed_out` closes the stream and shows the notice), its next request goes to
/// sign-in, and the token answers 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_reaches_an_open_page_within_a_second() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let (_, ada_token) = dev_login(port, "ada");
    let (_, ben_token) = dev_login(port, "ben");
    push(
        port,
        &ada_token,
        "text/markdown",
        "offboarding",
        "# Offboarding\n\n## Flow\n\nAccess ends at once.\n",
    );
    let ben_auth = format!("Bearer {ben_token}");
    let (status, _, _, me) = crate::support::raw(
        port,
        "GET",
        "/api/auth/me",
        &[("Authorization", &ben_auth)],
        "",
    );
    assert_eq!(status, 200, "{me}");
    let ben_id = serde_json::from_str::<serde_json::Value>(&me).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let base = format!("http://127.0.0.1:{port}");
    let (_driver, ben) = driver().await;
    sign_in(&ben, &base, "ben", "/p/offboarding").await;
    // Let the stream connect.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let notice = "return !!document.querySelector('.pp-live') && document.querySelector('.pp-live').textContent.includes('signed out')";
    assert_eq!(eval(&ben, notice).await, false);

    let ada_auth = format!("Bearer {ada_token}");
    let started = std::time::Instant::now();
    let (status, _, _, body) = crate::support::raw(
        port,
        "PATCH",
        &format!("/api/users/{ben_id}"),
        &[
            ("Authorization", &ada_auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"active":false}"#,
    );
    assert_eq!(status, 200, "{body}");
    loop {
        if eval(&ben, notice).await == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the open page was not told within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The page's next request is refused (sent to sign in); the token is dead.
    ben.goto(&format!("{base}/p/offboarding")).await.unwrap();
    let url = ben.current_url().await.unwrap();
    assert!(url.path().starts_with("/auth/login"), "{url}");
    let (status, _, _, _) = crate::support::raw(
        port,
        "GET",
        "/api/auth/me",
        &[("Authorization", &ben_auth)],
        "",
    );
    assert_eq!(status, 401);
}
