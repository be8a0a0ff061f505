//! The OIDC pages in a real browser (Debian chromium + chromedriver) against the real server and
//! the real OpenID Provider of `oidc_signin.rs`: an unmapped person lands on "access not yet
//! granted"; a bootstrap admin opens Dashboard → Groups and adds and removes a mapping with the
//! page's own script. Neither page may log a console error (a CSP violation, a script error).

use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::browser::{tools, until};
use crate::oidc_signin::{accounts, okta_server, provider_available, start_provider};
use crate::support::{Running, free_port, wait_for};

/// chromedriver's log endpoint (`goog:loggingPrefs` must ask for browser logs).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// Console entries at level SEVERE since the last call, except the two the browser logs by itself:
/// the refusal page's own status (a deliberate 403) and the missing favicon.
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.unwrap();
    log.as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["level"] == "SEVERE")
                .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                .filter(|m| {
                    let own_status = m.contains("/auth/callback?")
                        && m.contains("status of 403")
                        && !m.contains("/assets/");
                    !own_status && !m.contains("/favicon.ico ")
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn chromium() -> (Running, Client) {
    let driver_port = free_port();
    let driver = Running(
        std::process::Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(driver_port);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let caps = json!({
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1100,1400"]
        }
    });
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap();
    (driver, c)
}

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
    let (_driver, c) = chromium().await;

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
    assert_eq!(console_errors(&c).await, Vec::<String>::new());
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(console_errors(&c).await, Vec::<String>::new());
    c.close().await.unwrap();
}
