//! Presence in the real browser, with two browser sessions: each reader sees the other in the
//! plan's header, live; a reader who leaves disappears from the other's; and someone who may not
//! see a private plan neither joins its readers nor learns who reads it.

use crate::a11y::Audit;
use crate::browser::{driver, sign_in, tools, until};
use crate::support::{dev_login, dev_server, free_port, push, raw};

const PLAN: &str =
    r#"<h1>Auth</h1><section data-anchor="flow"><h2>Flow</h2><p>Tokens rotate.</p></section>"#;

/// The logins the header shows as reading now (`null` while the line is hidden).
const READERS: &str = "(() => { const p = document.getElementById('pp-presence'); \
     return p && !p.hidden ? Array.from(p.querySelectorAll('.pp-reader')).map(r => r.dataset.login).join(',') : null; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_readers_see_each_other_and_a_private_plan_shows_nobody_to_outsiders() {
    if !tools() {
        return;
    }
    let audit = Audit::load();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, ada) = dev_login(port, "ada");
    let (_, bob) = dev_login(port, "bob");
    push(port, &ada, "text/html", "auth", PLAN);
    let auth = format!("Bearer {ada}");
    let (status, _, _, body) = raw(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &auth),
            ("Content-Type", "text/html"),
            ("X-Session-Name", "secret"),
            ("X-Visibility", "private"),
        ],
        PLAN,
    );
    assert_eq!(status, 201, "{body}");
    let secret = serde_json::from_str::<serde_json::Value>(&body).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_da, a) = driver().await;
    let (_db, b) = driver().await;
    if let Some(x) = &audit {
        x.reset(&a).await;
    }
    sign_in(&a, &base, "ada", "/p/auth").await;
    sign_in(&b, &base, "bob", "/p/auth").await;
    // Each sees the other, live (neither page was reloaded).
    assert_eq!(
        until(&a, &format!("{READERS} === 'bob' && {READERS}")).await,
        "bob"
    );
    assert_eq!(
        until(&b, &format!("{READERS} === 'ada' && {READERS}")).await,
        "ada"
    );
    let line = a
        .execute(
            "return document.getElementById('pp-presence').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(line, "Reading now: bob and you");
    if let Some(x) = &audit {
        x.current(&a, "plan page with a reader present").await;
    }

    // bob leaves (his page closes its stream on `pagehide`, even when the browser keeps the page
    // in its back/forward cache): ada's header says nobody else reads it.
    b.goto(&format!("{base}/dashboard")).await.unwrap();
    let gone = std::time::Instant::now();
    loop {
        let hidden = a
            .execute(
                "return document.getElementById('pp-presence').hidden",
                vec![],
            )
            .await
            .unwrap();
        if hidden == serde_json::Value::Bool(true) {
            break;
        }
        assert!(
            gone.elapsed() < std::time::Duration::from_secs(10),
            "bob never left ada's header"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    eprintln!("bob's departure reached ada after {:?}", gone.elapsed());

    // ada reads her private plan; bob, who may not see it, gets the 404 page and joins nobody.
    a.goto(&format!("{base}/p/secret")).await.unwrap();
    until(&a, "document.querySelector('.pp-document')").await;
    b.goto(&format!("{base}/p/secret")).await.unwrap();
    let title = b.title().await.unwrap();
    assert!(!title.contains("Auth"), "bob sees no private plan: {title}");
    assert!(
        b.find(fantoccini::Locator::Id("pp-presence"))
            .await
            .is_err(),
        "no presence on a plan bob cannot see"
    );
    let bob_auth = format!("Bearer {bob}");
    let (status, _, _, _) = raw(
        port,
        "GET",
        &format!("/api/sessions/{secret}/presence"),
        &[("Authorization", &bob_auth)],
        "",
    );
    assert_eq!(status, 404);
    // bob back on the published plan: ada, on her private one, is not shown to him, and he is
    // not shown to her.
    b.goto(&format!("{base}/p/auth")).await.unwrap();
    until(&b, "document.querySelector('.pp-document')").await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        b.execute(&format!("return {READERS}"), vec![])
            .await
            .unwrap(),
        serde_json::Value::Null
    );
    assert_eq!(
        a.execute(&format!("return {READERS}"), vec![])
            .await
            .unwrap(),
        serde_json::Value::Null
    );
    let (status, _, _, body) = raw(
        port,
        "GET",
        &format!("/api/sessions/{secret}/presence"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    let readers: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readers["readers"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(readers["readers"][0]["login"], "ada");
    a.close().await.unwrap();
    b.close().await.unwrap();
}
