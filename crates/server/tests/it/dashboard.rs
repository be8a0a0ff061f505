//! `/dashboard` in a real browser (Debian chromium + chromedriver) against the real server:
//!
//! - for each role, the tabs and actions one sees;
//! - search, filter and sort of the plans, client-side;
//! - the archive toggle and the publish confirmation;
//! - a personal token created in the page, used over plain HTTP, revoked, then refused;
//! - an admin deactivates a member who has the dashboard open; the member's next action sends them
//!   to sign-in; the last-admin rule shows as a message;
//! - an admin adds a webhook in the page (its secret shown once), sends a test delivery that a
//!   receiver on 127.0.0.1 gets, sees it in the hook's log, and deletes the hook;
//! - screenshots of every tab, light and dark, and one at phone width, in
//!   `$CARGO_TARGET_TMPDIR/screenshots/` (the test fails if a screenshot is blank).

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::browser::{driver, sign_in, tools, until};
use crate::support::{dev_login, dev_server, free_port, push, raw};

/// Pushes a private plan (pushes are published unless `X-Visibility: private`).
fn push_private(port: u16, token: &str, name: &str, body: &str) -> Value {
    let auth = format!("Bearer {token}");
    let (status, _, _, answer) = raw(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &auth),
            ("Content-Type", "text/markdown"),
            ("X-Session-Name", name),
            ("X-Visibility", "private"),
        ],
        body,
    );
    assert!(status == 200 || status == 201, "{status} {answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["visibility"], "private");
    v
}

fn api(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, _, answer) = raw(
        port,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

fn user_id(port: u16, admin: &str, login: &str) -> String {
    let (_, users) = api(port, "GET", "/api/users", admin, "");
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == login)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn set_role(port: u16, admin: &str, login: &str, role: &str) {
    let id = user_id(port, admin, login);
    let (status, body) = api(
        port,
        "PATCH",
        &format!("/api/users/{id}"),
        admin,
        &format!(r#"{{"roles":["{role}"]}}"#),
    );
    assert_eq!(status, 200, "{body}");
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

async fn switch_user(c: &Client, base: &str, login: &str) {
    c.goto(&format!("{base}/auth/login")).await.unwrap();
    c.delete_all_cookies().await.unwrap();
    sign_in(c, base, login, "/dashboard").await;
    until(
        c,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;
}

/// The visible tab labels, and the visible action buttons by kind.
async fn visible(c: &Client) -> (String, Value) {
    let tabs = js(
        c,
        "return Array.from(document.querySelectorAll('.dash-tab')).map(t => t.textContent).join(',')",
    )
    .await;
    let actions = js(
        c,
        r#"const n = {}; document.querySelectorAll('button[data-action]').forEach(b => {
             if (b.offsetParent !== null || b.closest('[hidden]')) n[b.dataset.action] = (n[b.dataset.action] || 0) + 1; });
           return n;"#,
    )
    .await;
    (tabs.as_str().unwrap().to_owned(), actions)
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn open_tab(c: &Client, name: &str) {
    click(c, &format!("#tab-{name}")).await;
    until(
        c,
        &format!("!document.getElementById('pane-{name}').hidden"),
    )
    .await;
}

/// Roles, tabs and screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_its_tabs_and_actions() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, ada) = dev_login(port, "ada"); // the first user: admin
    let (_, pat) = dev_login(port, "pat");
    let (_, ben) = dev_login(port, "ben");
    let (_, _quinn) = dev_login(port, "quinn");
    set_role(port, &ada, "pat", "project_manager");
    set_role(port, &ada, "quinn", "qa");
    let fixture = include_str!("../../../../fixtures/auth-service-redesign.html");
    let auth = push(port, &ada, "text/html", "auth-service-redesign", fixture);
    api(
        port,
        "POST",
        &format!(
            "/api/sessions/{}/publish",
            auth["session_id"].as_str().unwrap()
        ),
        &ada,
        "",
    );
    push_private(
        port,
        &ben,
        "bens-draft",
        "# Ben's draft\n\n## Idea\n\nText.\n",
    );
    push_private(
        port,
        &pat,
        "pats-roadmap",
        "# Pat's roadmap\n\n## Q1\n\nText.\n",
    );
    let id = auth["session_id"].as_str().unwrap();
    let (status, body) = api(
        port,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &ben,
        r#"{"body":"Why **Redis**? We run PostgreSQL already.","anchor":"d-token-store"}"#,
    );
    assert_eq!(status, 201, "{body}");

    let (_driver, c) = driver().await;
    let cases = [
        (
            "ada",
            "Plans,Inbox,Activity,Comments,API tokens,Settings,Members,Groups,Webhooks,Audit log",
            3,
            3,
        ),
        (
            "pat",
            "Plans,Inbox,Activity,Comments,API tokens,Settings,Audit log",
            3,
            0,
        ),
        (
            "ben",
            "Plans,Inbox,Activity,Comments,API tokens,Settings",
            1,
            0,
        ),
        (
            "quinn",
            "Plans,Inbox,Activity,Comments,API tokens,Settings",
            0,
            0,
        ),
    ];
    for (login, want_tabs, archive, delete) in cases {
        switch_user(&c, &base, login).await;
        let (tabs, actions) = visible(&c).await;
        assert_eq!(tabs, want_tabs, "{login}");
        assert_eq!(
            actions["archive"].as_u64().unwrap_or(0),
            archive,
            "{login}: {actions}"
        );
        assert_eq!(
            actions["delete"].as_u64().unwrap_or(0),
            delete,
            "{login}: {actions}"
        );
        let rows = js(
            &c,
            "return document.querySelectorAll('tr.dash-plan').length",
        )
        .await;
        // Everyone sees the published plan; private ones only their owner, admins and PMs.
        let want_rows = match login {
            "ada" | "pat" => 3,
            "ben" => 2,
            _ => 1,
        };
        assert_eq!(rows, want_rows, "{login}");
    }

    // Screenshots of every tab as the admin, light and dark, then the plans at phone width.
    switch_user(&c, &base, "ada").await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // Every tab in both themes also passes the accessibility and console checks.
    let audit = crate::a11y::Audit::load();
    if let Some(a) = &audit {
        a.reset(&c).await;
    }
    for theme in ["light", "dark"] {
        js(
            &c,
            &format!("document.documentElement.setAttribute('data-theme', '{theme}')"),
        )
        .await;
        for tab in [
            "plans", "activity", "comments", "tokens", "members", "groups", "webhooks", "audit",
        ] {
            open_tab(&c, tab).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            if let Some(a) = &audit {
                a.current(&c, &format!("dashboard {tab} tab ({theme})"))
                    .await;
            }
            let png = c.screenshot().await.unwrap();
            assert!(png.len() > 10_000, "a real screenshot");
            std::fs::write(shots.join(format!("dashboard-{tab}-{theme}.png")), png).unwrap();
        }
    }
    c.set_window_size(390, 844).await.unwrap();
    open_tab(&c, "plans").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots.join("dashboard-plans-phone-dark.png"), png).unwrap();
    let overflow = js(
        &c,
        "return document.documentElement.scrollWidth > window.innerWidth + 1",
    )
    .await;
    assert_eq!(overflow, false, "no sideways scrolling on a phone");
    c.close().await.unwrap();
}

/// Search, filter, sort, archive, publish, tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_filter_and_act_tokens_live_and_die() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, ada) = dev_login(port, "ada");
    let (_, ben) = dev_login(port, "ben");
    let mut ids = std::collections::HashMap::new();
    for (token, name, title) in [
        (&ben, "zebra-migration", "Zebra migration"),
        (&ben, "alpha-cache", "Alpha cache"),
        (&ada, "billing-v2", "Billing v2"),
    ] {
        let p = push_private(
            port,
            token,
            name,
            &format!("# {title}\n\n## Part\n\nText.\n"),
        );
        ids.insert(name, p["session_id"].as_str().unwrap().to_owned());
    }
    // Ada's plan is published so Ben sees it; the others stay private.
    api(
        port,
        "POST",
        &format!("/api/sessions/{}/publish", ids["billing-v2"]),
        &ada,
        "",
    );

    let (_driver, c) = driver().await;
    sign_in(&c, &base, "ben", "/dashboard").await;
    until(
        &c,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;
    let shown = "return Array.from(document.querySelectorAll('tr.dash-plan')).filter(r => !r.hidden).map(r => r.querySelector('td a').textContent).join('|')";
    assert_eq!(
        js(&c, shown).await,
        "Billing v2|Alpha cache|Zebra migration"
    );

    // Search, as one types.
    c.find(Locator::Id("plans-search"))
        .await
        .unwrap()
        .send_keys("zeb")
        .await
        .unwrap();
    assert_eq!(js(&c, shown).await, "Zebra migration");
    assert_eq!(
        js(
            &c,
            "return document.getElementById('plans-count').textContent"
        )
        .await,
        "1 of 3 plans"
    );
    js(&c, "const s = document.getElementById('plans-search'); s.value = ''; s.dispatchEvent(new Event('input'))").await;
    // Filter: mine, then by visibility; sort by title.
    let choose = |id: &str, value: &str| {
        format!(
            "const s = document.getElementById('{id}'); s.value = '{value}'; s.dispatchEvent(new Event('change'))"
        )
    };
    js(&c, &choose("plans-scope", "mine")).await;
    assert_eq!(js(&c, shown).await, "Alpha cache|Zebra migration");
    js(&c, &choose("plans-scope", "all")).await;
    js(&c, &choose("plans-visibility", "published")).await;
    assert_eq!(js(&c, shown).await, "Billing v2");
    js(&c, &choose("plans-visibility", "")).await;
    js(&c, &choose("plans-sort", "title")).await;
    assert_eq!(
        js(&c, shown).await,
        "Alpha cache|Billing v2|Zebra migration"
    );
    js(&c, &choose("plans-owner", "ada")).await;
    assert_eq!(js(&c, shown).await, "Billing v2");
    js(&c, &choose("plans-owner", "")).await;
    // Keyboard: the tabs answer the arrow keys.
    c.find(Locator::Id("tab-plans"))
        .await
        .unwrap()
        .send_keys("\u{E014}")
        .await
        .unwrap();
    until(&c, "document.activeElement.id === 'tab-inbox' && !document.getElementById('pane-inbox').hidden").await;
    open_tab(&c, "plans").await;

    // Archive: the row disappears (archived plans are hidden by default) until the toggle.
    let zebra = &ids["zebra-migration"];
    click(&c, &format!("tr[data-id='{zebra}'] [data-action=archive]")).await;
    until(
        &c,
        &format!("document.querySelector(\"tr[data-id='{zebra}']\").hidden"),
    )
    .await;
    let (_, info) = api(port, "GET", &format!("/api/sessions/{zebra}"), &ben, "");
    assert_eq!(info["archived"], true);
    click(&c, "#plans-archived").await;
    until(
        &c,
        &format!("!document.querySelector(\"tr[data-id='{zebra}']\").hidden"),
    )
    .await;
    click(&c, &format!("tr[data-id='{zebra}'] [data-action=archive]")).await;
    until(&c, &format!("document.querySelector(\"tr[data-id='{zebra}'] [data-action=archive]\").textContent === 'Archive'")).await;
    let (_, info) = api(port, "GET", &format!("/api/sessions/{zebra}"), &ben, "");
    assert_eq!(info["archived"], false);

    // Publish asks first; cancelling changes nothing.
    let alpha = &ids["alpha-cache"];
    click(&c, &format!("tr[data-id='{alpha}'] [data-action=publish]")).await;
    until(&c, "document.getElementById('dash-confirm').open").await;
    let text = js(
        &c,
        "return document.getElementById('dash-confirm-text').textContent",
    )
    .await;
    assert!(
        text.as_str().unwrap().contains("cannot be undone"),
        "{text}"
    );
    assert_eq!(
        js(&c, "return document.activeElement.id").await,
        "dash-confirm-cancel",
        "focus starts on the safe choice"
    );
    click(&c, "#dash-confirm-cancel").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, info) = api(port, "GET", &format!("/api/sessions/{alpha}"), &ben, "");
    assert_eq!(info["visibility"], "private");
    click(&c, &format!("tr[data-id='{alpha}'] [data-action=publish]")).await;
    until(&c, "document.getElementById('dash-confirm').open").await;
    click(&c, "#dash-confirm-ok").await;
    until(&c, &format!("document.querySelector(\"tr[data-id='{alpha}'] .dash-visibility\").textContent === 'Published'")).await;
    let (_, info) = api(port, "GET", &format!("/api/sessions/{alpha}"), &ben, "");
    assert_eq!(info["visibility"], "published");
    assert_eq!(
        js(
            &c,
            &format!(
                "return !!document.querySelector(\"tr[data-id='{alpha}'] [data-action=publish]\")"
            )
        )
        .await,
        false,
        "publishing is one-way"
    );

    // A token: created in the page, shown once, works over HTTP, revoked, refused.
    open_tab(&c, "tokens").await;
    c.find(Locator::Id("token-label"))
        .await
        .unwrap()
        .send_keys("deploy script")
        .await
        .unwrap();
    click(&c, "#token-form button[type=submit]").await;
    let secret = until(&c, "document.getElementById('token-secret').value").await;
    let secret = secret.as_str().unwrap().to_owned();
    let (status, me) = api(port, "GET", "/api/auth/me", &secret, "");
    assert_eq!((status, me["login"].as_str()), (200, Some("ben")));
    click(&c, "#token-copy").await;
    let row = until(&c, "Array.from(document.querySelectorAll('tr.dash-token')).find(r => r.cells[0].textContent === 'deploy script')?.dataset.id").await;
    click(
        &c,
        &format!(
            "tr.dash-token[data-id='{}'] [data-action=revoke]",
            row.as_str().unwrap()
        ),
    )
    .await;
    until(&c, "document.getElementById('dash-confirm').open").await;
    click(&c, "#dash-confirm-ok").await;
    until(&c, &format!("document.querySelector(\"tr.dash-token[data-id='{}'] .dash-token-status\").textContent === 'revoked'", row.as_str().unwrap())).await;
    let (status, body) = api(port, "GET", "/api/auth/me", &secret, "");
    assert_eq!(status, 401, "revoked on the next request: {body}");
    // Reload: the secret is never shown again.
    c.refresh().await.unwrap();
    until(
        &c,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;
    let html = c.source().await.unwrap();
    assert!(!html.contains(&secret));
    c.close().await.unwrap();
}

/// Deactivation while the member has the dashboard open, and the last-admin rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_member_is_sent_to_sign_in() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, _ada) = dev_login(port, "ada");
    let (_, ben) = dev_login(port, "ben");
    let plan = push_private(port, &ben, "bens-plan", "# Ben's plan\n\n## A\n\nText.\n");
    let plan_id = plan["session_id"].as_str().unwrap().to_owned();

    let (_d1, member) = driver().await;
    sign_in(&member, &base, "ben", "/dashboard").await;
    until(
        &member,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;

    let (_d2, admin) = driver().await;
    sign_in(&admin, &base, "ada", "/dashboard").await;
    until(
        &admin,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;
    open_tab(&admin, "members").await;
    // The last admin cannot deactivate themselves: a clear message, nothing changes.
    let ada_row = "tr.dash-member[data-login='ada']";
    click(&admin, &format!("{ada_row} [data-action=deactivate]")).await;
    until(&admin, "document.getElementById('dash-confirm').open").await;
    click(&admin, "#dash-confirm-ok").await;
    let msg = until(&admin, "document.getElementById('dash-status').classList.contains('dash-failed') && document.getElementById('dash-status').textContent").await;
    assert!(msg.as_str().unwrap().contains("admin"), "{msg}");
    assert_eq!(
        js(
            &admin,
            &format!("return document.querySelector(\"{ada_row}\").dataset.active")
        )
        .await,
        "true"
    );
    // Demoting the last admin is refused the same way.
    js(
        &admin,
        &format!("document.querySelector(\"{ada_row} input[value=admin]\").checked = false"),
    )
    .await;
    click(&admin, &format!("{ada_row} [data-action=roles]")).await;
    let msg = until(&admin, "document.getElementById('dash-status').classList.contains('dash-failed') && document.getElementById('dash-status').textContent.includes('admin') && document.getElementById('dash-status').textContent").await;
    assert!(!msg.as_str().unwrap().is_empty());

    // Deactivate Ben.
    let ben_row = "tr.dash-member[data-login='ben']";
    click(&admin, &format!("{ben_row} [data-action=deactivate]")).await;
    until(&admin, "document.getElementById('dash-confirm').open").await;
    click(&admin, "#dash-confirm-ok").await;
    until(&admin, &format!("document.querySelector(\"{ben_row} .dash-member-status\").textContent === 'deactivated'")).await;
    let (status, _) = api(port, "GET", "/api/auth/me", &ben, "");
    assert_eq!(status, 401, "his tokens stopped working too");

    // Ben's open dashboard: the next action sends him to sign-in, and the plan is untouched.
    click(
        &member,
        &format!("tr[data-id='{plan_id}'] [data-action=archive]"),
    )
    .await;
    until(&member, "location.pathname === '/auth/login'").await;
    assert!(
        member
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("redirect_to=%2Fdashboard")
    );
    let (_, ada_token) = dev_login(port, "ada");
    let (_, info) = api(
        port,
        "GET",
        &format!("/api/sessions/{plan_id}"),
        &ada_token,
        "",
    );
    assert_eq!(info["archived"], false);
    // Reactivated, he can sign in again.
    click(&admin, &format!("{ben_row} [data-action=reactivate]")).await;
    until(
        &admin,
        &format!(
            "document.querySelector(\"{ben_row} .dash-member-status\").textContent === 'active'"
        ),
    )
    .await;
    sign_in(&member, &base, "ben", "/dashboard").await;
    member.close().await.unwrap();
    admin.close().await.unwrap();
}

/// The Webhooks tab: add (secret shown once), send a test, see the log, delete — in the browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_tests_and_deletes_a_webhook_in_the_page() {
    use crate::slack::FakeSlack;
    if !tools() {
        return;
    }
    let (receiver, receiver_port) = FakeSlack::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = crate::support::dev_server_with(
        dir.path(),
        port,
        &[
            ("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1"),
            ("OUTBOX_POLL_INTERVAL_MS", "50"),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    dev_login(port, "ada"); // the first user: admin
    let (_driver, c) = driver().await;
    switch_user(&c, &base, "ada").await;
    let audit = crate::a11y::Audit::load();
    if let Some(a) = &audit {
        a.reset(&c).await;
    }
    open_tab(&c, "webhooks").await;
    let url = format!("http://127.0.0.1:{receiver_port}/in");
    c.find(Locator::Css("#webhook-url"))
        .await
        .unwrap()
        .send_keys(&url)
        .await
        .unwrap();
    click(&c, "#webhook-form button[type=submit]").await;
    until(&c, "!document.getElementById('webhook-new').hidden && document.querySelector('article.dash-webhook')").await;
    let secret = js(&c, "return document.getElementById('webhook-secret').value").await;
    assert!(secret.as_str().unwrap().starts_with("whsec_"), "{secret}");
    let shown = js(
        &c,
        "return document.querySelector('article.dash-webhook h3').textContent",
    )
    .await;
    assert_eq!(shown, url.as_str());

    click(&c, "article.dash-webhook button[data-action=webhook-test]").await;
    let posted = receiver.wait_posted(1);
    assert_eq!(posted[0].body["type"], "webhook.test");
    assert_eq!(posted[0].path, "/in");
    // The log shows the delivery (queued, then delivered once the page asks again).
    until(&c, "document.querySelector('tr.dash-delivery')").await;
    c.refresh().await.unwrap();
    until(
        &c,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;
    open_tab(&c, "webhooks").await;
    let status = js(
        &c,
        "return document.querySelector('tr.dash-delivery').dataset.status",
    )
    .await;
    assert_eq!(status, "delivered");
    let secret_again = js(
        &c,
        &format!("return document.body.innerHTML.includes({secret})"),
    )
    .await;
    assert_eq!(
        secret_again, false,
        "the secret is not on the page any more"
    );
    if let Some(a) = &audit {
        a.current(&c, "dashboard webhooks tab with a hook").await;
    }

    click(
        &c,
        "article.dash-webhook button[data-action=webhook-delete]",
    )
    .await;
    click(&c, "#dash-confirm-ok").await;
    until(&c, "!document.querySelector('article.dash-webhook') && !document.getElementById('webhooks-empty').hidden").await;
}
