//! The OIDC pages in a real browser (Debian chromium + chromedriver) against the real server and
//! the real OpenID Provider of `oidc_signin.rs`: an unmapped person lands on "access not yet
//! granted"; a bootstrap admin opens Dashboard → Groups and adds and removes a mapping with the
//! page's own script. Both pass the checks every page passes (`a11y::Audit`: no console error, no
//! failed request, no WCAG 2.1 AA violation).

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::{tools, until};
use crate::oidc_signin::{accounts, okta_server, provider_available, start_provider};
use crate::support::free_port;

fn post(port: u16, path: &str, body: Value) {
    let text = body.to_string();
    let (status, ..) = crate::support::raw(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &text,
    );
    assert_eq!(status, 200, "{path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_not_granted_and_the_groups_tab_in_a_real_browser() {
    if !tools() || !provider_available() {
        return;
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let op = start_provider(&base);
    post(op.port, "/test/accounts", accounts(&["engineering"]));
    let dir = tempfile::tempdir().unwrap();
    let _server = okta_server(dir.path(), port, &op.issuer, "root@example.com");
    let (_driver, c) = crate::browser::driver().await;
    // Console errors, failed requests and WCAG 2.1 AA, as for every other page.
    let audit = crate::a11y::Audit::load();

    // An unmapped person: the whole redirect dance in the browser ends on the refusal page.
    post(op.port, "/test/login-as", json!({"sub": "nobody"}));
    c.goto(&format!("{base}/auth/login?redirect_to=/dashboard"))
        .await
        .unwrap();
    until(&c, "document.querySelector('#access-groups')").await;
    let title = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "Access not yet granted");
    let groups = c
        .find(Locator::Id("access-groups"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(groups.contains("marketing"), "{groups}");
    if let Some(a) = &audit {
        // The refusal page answers 403 on purpose, and the browser logs that load.
        let refused = |m: &str| m.contains("/auth/callback?") && m.contains("status of 403");
        a.current_allowing(&c, "access not yet granted", &refused)
            .await;
    }
    // No session: the dashboard sends the browser back to sign-in (and so to the provider).
    let cookies = c.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|k| k.name() != "planpush_session"),
        "no session cookie: {cookies:?}"
    );

    // The bootstrap admin: a fresh browser profile.
    c.delete_all_cookies().await.unwrap();
    post(op.port, "/test/login-as", json!({"sub": "root"}));
    c.goto(&format!(
        "{base}/auth/login?redirect_to=/dashboard%3Ftab%3Dgroups"
    ))
    .await
    .unwrap();
    until(
        &c,
        "document.documentElement.classList.contains('dash-ready')",
    )
    .await;
    until(&c, "!document.getElementById('pane-groups').hidden").await;
    c.find(Locator::Id("mapping-group"))
        .await
        .unwrap()
        .send_keys("engineering")
        .await
        .unwrap();
    c.execute(
        "document.getElementById('mapping-role').value = 'developer'",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css("#mapping-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "document.querySelector('tr.dash-mapping[data-group=\"engineering\"][data-role=\"developer\"]')",
    )
    .await;
    until(
        &c,
        "document.getElementById('dash-status').textContent.includes('Mapped engineering')",
    )
    .await;
    // Reloaded from the server, it is still there.
    c.refresh().await.unwrap();
    until(
        &c,
        "document.querySelector('tr.dash-mapping[data-group=\"engineering\"]')",
    )
    .await;
    // Removing asks first, then the row goes.
    c.find(Locator::Css("button[data-action=unmap]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&c, "document.getElementById('dash-confirm').open").await;
    c.find(Locator::Id("dash-confirm-ok"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&c, "!document.querySelector('tr.dash-mapping')").await;
    if let Some(a) = &audit {
        a.current(&c, "dashboard groups tab after mapping and unmapping")
            .await;
    }
    c.close().await.unwrap();
}
