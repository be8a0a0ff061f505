//! Sign-off per version in the real browser, with two reviewers: the owner asks from the page,
//! one reviewer approves, the other requests changes (with a comment); a new version resets the
//! approval of the whole plan and leaves the one whose scope it did not touch (the keep rule),
//! live, with the rule named on each line.

use fantoccini::{Client, Locator};

use crate::a11y::Audit;
use crate::browser::{driver, sign_in, tools, until};
use crate::support::{dev_login, dev_server, free_port, push, raw};

const V1: &str = r#"<h1>Auth</h1>
<section data-anchor="decisions"><h2>Key Decisions</h2><ul class="pp-decisions">
<li data-anchor="d-store"><span class="pp-badge pp-open">Open</span> Redis vs PostgreSQL</li></ul></section>
<section data-anchor="risks"><h2>Risks</h2><div class="pp-risk pp-low" data-anchor="risk-skew"><strong>Clock skew</strong><p class="pp-mitigation">Mitigation: leeway.</p></div></section>"#;

async fn as_user(c: &Client, base: &str, login: &str) {
    c.delete_all_cookies().await.unwrap();
    sign_in(c, base, login, "/p/auth").await;
    until(
        c,
        "document.querySelector('.pp-signoff') && !document.querySelector('.pp-signoff').hidden",
    )
    .await;
}

async fn state(c: &Client, login: &str) -> serde_json::Value {
    c.execute(
        &format!(
            "const li = document.querySelector('.pp-signoff li[data-login=\"{login}\"]');
             return li ? {{state: li.dataset.state, rule: li.dataset.rule || null, text: li.textContent}} : null;"
        ),
        vec![],
    )
    .await
    .unwrap()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_sign_off_and_a_new_version_resets_or_keeps_their_approvals() {
    if !tools() {
        return;
    }
    let audit = Audit::load();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, ada) = dev_login(port, "ada");
    dev_login(port, "bob");
    dev_login(port, "carol");
    let id = push(port, &ada, "text/html", "auth", V1)["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // carol is asked about the risks only (the API; the page's form asks for the whole plan).
    let auth = format!("Bearer {ada}");
    let (status, _, _, body) = raw(
        port,
        "POST",
        &format!("/api/sessions/{id}/reviews"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"reviewers":["carol"],"anchors":["risks"]}"#,
    );
    assert_eq!(status, 200, "{body}");

    let (_driver, c) = driver().await;
    if let Some(a) = &audit {
        a.reset(&c).await;
    }
    // ada asks bob from the page.
    as_user(&c, &base, "ada").await;
    c.find(Locator::Css(".pp-signoff-ask input"))
        .await
        .unwrap()
        .send_keys("bob")
        .await
        .unwrap();
    click(&c, ".pp-signoff-ask button[type=submit]").await;
    until(
        &c,
        "document.querySelector('.pp-signoff li[data-login=\"bob\"]')",
    )
    .await;
    assert_eq!(state(&c, "bob").await["state"], "pending");
    assert!(
        c.find(Locator::Css(".pp-signoff-approve")).await.is_err(),
        "ada was not asked: no verdict buttons"
    );
    if let Some(a) = &audit {
        a.current(&c, "plan page with its sign-off").await;
    }

    // bob approves v1.
    as_user(&c, &base, "bob").await;
    click(&c, ".pp-signoff-approve").await;
    until(
        &c,
        "document.querySelector('.pp-signoff li[data-login=\"bob\"][data-state=\"approved\"]')",
    )
    .await;
    // carol requests changes, saying which.
    as_user(&c, &base, "carol").await;
    click(&c, ".pp-signoff-changes").await;
    c.find(Locator::Css(".pp-signoff-form textarea"))
        .await
        .unwrap()
        .send_keys("Say what the leeway is.")
        .await
        .unwrap();
    click(&c, ".pp-signoff-form button[type=submit]").await;
    until(&c, "document.querySelector('.pp-signoff li[data-login=\"carol\"][data-state=\"changes_requested\"]')").await;
    let carol = state(&c, "carol").await;
    assert!(
        carol["text"]
            .as_str()
            .unwrap()
            .contains("Say what the leeway is."),
        "{carol}"
    );
    assert!(
        c.find(Locator::Css(".pp-signoff-head"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("1 of 2 approved v1, 1 requested changes")
    );

    // v2 answers carol (the risk's mitigation): bob's approval of the whole plan is reset.
    let v2 = V1.replace("Mitigation: leeway.", "Mitigation: 30 s leeway.");
    push(port, &ada, "text/html", "auth", &v2);
    until(
        &c,
        "document.querySelector('.pp-signoff li[data-login=\"bob\"][data-state=\"pending\"]')",
    )
    .await;
    let bob = state(&c, "bob").await;
    assert_eq!(bob["rule"], "whole_plan", "{bob}");
    assert!(
        bob["text"]
            .as_str()
            .unwrap()
            .contains("approval of v1 reset by v2"),
        "{bob}"
    );
    // carol approves v2, then bob does.
    c.refresh().await.unwrap();
    until(&c, "document.querySelector('.pp-signoff-approve')").await;
    click(&c, ".pp-signoff-approve").await;
    until(
        &c,
        "document.querySelector('.pp-signoff li[data-login=\"carol\"][data-state=\"approved\"]')",
    )
    .await;
    as_user(&c, &base, "bob").await;
    click(&c, ".pp-signoff-approve").await;
    until(
        &c,
        "document.querySelector('.pp-signoff-head').textContent.includes('2 of 2 approved v2')",
    )
    .await;

    // v3 accepts the decision, seen live by carol: bob's approval resets, carol's is kept (her
    // scope, the risks, is untouched and she commented nowhere).
    as_user(&c, &base, "carol").await;
    let v3 = v2.replace(
        r#"<span class="pp-badge pp-open">Open</span>"#,
        r#"<span class="pp-badge pp-accepted">Accepted</span>"#,
    );
    push(port, &ada, "text/html", "auth", &v3);
    until(
        &c,
        "document.querySelector('.pp-signoff-head').textContent.includes('1 of 2 approved v3')",
    )
    .await;
    let bob = state(&c, "bob").await;
    assert_eq!(
        (bob["state"].as_str(), bob["rule"].as_str()),
        (Some("pending"), Some("whole_plan")),
        "{bob}"
    );
    assert!(
        bob["text"]
            .as_str()
            .unwrap()
            .contains("Decision “Redis vs PostgreSQL”: Open → Accepted"),
        "the change that reset it is named: {bob}"
    );
    let carol = state(&c, "carol").await;
    assert_eq!(
        (carol["state"].as_str(), carol["rule"].as_str()),
        (Some("approved"), Some("untouched")),
        "{carol}"
    );
    assert!(
        carol["text"]
            .as_str()
            .unwrap()
            .contains("approval of v2 kept for v3"),
        "{carol}"
    );
    if let Some(a) = &audit {
        a.current(&c, "plan page after a live update of its sign-off")
            .await;
    }
    // bob's dashboard: the plan is waiting on him (his approval was reset); not on carol's.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "bob", "/dashboard").await;
    let waiting = until(&c, "document.querySelector('.dash-waiting li') && document.querySelector('.dash-waiting li').textContent").await;
    assert!(
        waiting
            .as_str()
            .unwrap()
            .contains("Auth — asked by ada (v1): approval of v2 reset by v3"),
        "{waiting}"
    );
    if let Some(a) = &audit {
        a.current(&c, "dashboard with a review waiting").await;
    }
    c.close().await.unwrap();
}
