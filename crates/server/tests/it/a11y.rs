//! One check for every page the real-browser tests open, so no page regresses:
//!
//! - **accessibility**: axe-core (from npm, `node_modules/axe-core`, installed by `.ci/run`) is
//!   injected into the page and runs its WCAG 2.0/2.1 A and AA rules, in the light and the dark
//!   theme; any violation fails with the rule, its help text and the offending elements;
//! - **no console errors** and **no failed requests**: chromedriver's browser log (every `SEVERE`
//!   entry: `console.error`, uncaught exceptions, CSP violations, failed loads such as a missing
//!   `/favicon.ico`) and the page's resource timings (any response ≥ 400).
//!
//! Without axe-core the checks are skipped with a note; under `CI=true` that is a failure.

use std::time::Duration;

use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::Value;

/// The WCAG rules checked: 2.0 and 2.1, levels A and AA.
const WCAG_TAGS: &[&str] = &["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// axe-core, ready to inject.
pub(crate) struct Audit {
    axe: String,
}

/// chromedriver's browser log (`POST /session/{id}/se/log {"type": "browser"}`): the entries
/// since the last read.
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
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// The `SEVERE` entries of the browser log since the last read, minus `allowed` ones.
async fn severe_log(c: &Client, allowed: &dyn Fn(&str) -> bool) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.unwrap();
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .filter(|m| !allowed(m))
        .collect()
}

impl Audit {
    /// axe-core from `node_modules`, or `None` (after a note) when it is not installed — which is
    /// a failure under `CI=true`.
    pub(crate) fn load() -> Option<Audit> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../node_modules/axe-core/axe.min.js");
        match std::fs::read_to_string(&path) {
            Ok(axe) => Some(Audit { axe }),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "axe-core is required in CI ({}: {e}); .ci/run installs it with npm",
                path.display()
            ),
            Err(e) => {
                eprintln!(
                    "note: axe-core not installed ({}: {e}); skipping the accessibility checks \
                     (npm install --no-save axe-core, or run .ci/run)",
                    path.display()
                );
                None
            }
        }
    }

    /// Forgets what the browser logged so far (call before navigating to the page to check).
    pub(crate) async fn reset(&self, c: &Client) {
        let _ = c.issue_cmd(BrowserLog).await.unwrap();
    }

    /// Opens `url` and checks it in both themes. `status` is what the document itself answers
    /// (a 404 page logs its own load as failed; nothing else may fail).
    pub(crate) async fn page(&self, c: &Client, url: &str, status: u16, what: &str) {
        self.reset(c).await;
        c.goto(url).await.unwrap();
        self.settle(c).await;
        let own = url.to_owned();
        self.clean(c, what, &move |m: &str| {
            status >= 400 && m.starts_with(&own) && m.contains(&format!("status of {status}"))
        })
        .await;
        for theme in ["light", "dark"] {
            self.theme(c, theme).await;
            self.axe(c, &format!("{what} ({theme})")).await;
        }
        self.theme(c, "light").await;
    }

    /// Checks the page as it is now (theme included): nothing logged since the last check or
    /// reset, no failed request, no WCAG violation.
    pub(crate) async fn current(&self, c: &Client, what: &str) {
        self.current_allowing(c, what, &|_: &str| false).await;
    }

    /// As [`Audit::current`], ignoring the log entries `allowed` picks (a page that answers with
    /// a deliberate error status logs its own load).
    pub(crate) async fn current_allowing(
        &self,
        c: &Client,
        what: &str,
        allowed: &dyn Fn(&str) -> bool,
    ) {
        self.settle(c).await;
        self.clean(c, what, allowed).await;
        self.axe(c, what).await;
    }

    /// Sets the theme the way the page's theme button does.
    pub(crate) async fn theme(&self, c: &Client, theme: &str) {
        c.execute(
            &format!("document.documentElement.setAttribute('data-theme', '{theme}')"),
            vec![],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn settle(&self, c: &Client) {
        for _ in 0..50 {
            let ready = c
                .execute("return document.readyState", vec![])
                .await
                .unwrap();
            if ready == "complete" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the page's script finish its fetches (comments, the viewer) before judging.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    async fn clean(&self, c: &Client, what: &str, allowed: &dyn Fn(&str) -> bool) {
        let errors = severe_log(c, allowed).await;
        assert!(
            errors.is_empty(),
            "{what}: the browser logged errors:\n{}",
            errors.join("\n")
        );
        let failed = c
            .execute(
                "return performance.getEntriesByType('resource')
                   .filter(e => e.responseStatus >= 400)
                   .map(e => e.name + ' → ' + e.responseStatus)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            failed,
            Value::Array(vec![]),
            "{what}: requests failed: {failed}"
        );
    }

    async fn axe(&self, c: &Client, what: &str) {
        let present = c
            .execute("return typeof window.axe === 'object'", vec![])
            .await
            .unwrap();
        if present != Value::Bool(true) {
            // WebDriver scripts run outside the page's CSP, so axe needs no exception in it.
            c.execute(&self.axe, vec![]).await.unwrap();
        }
        let tags = serde_json::to_string(WCAG_TAGS).unwrap();
        let violations = c
            .execute_async(
                &format!(
                    r#"const done = arguments[arguments.length - 1];
                       axe.run(document, {{ runOnly: {{ type: 'tag', values: {tags} }}, resultTypes: ['violations'] }})
                         .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + '\n    ' +
                           v.nodes.slice(0, 6).map(n => n.target.join(' ') + ' — ' +
                             (n.failureSummary || '').split('\n').slice(1, 2).join(' ').trim()).join('\n    '))))
                         .catch(e => done(['axe failed: ' + e]));"#
                ),
                vec![],
            )
            .await
            .unwrap();
        let violations: Vec<String> = violations
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert!(
            violations.is_empty(),
            "{what}: WCAG 2.1 AA violations:\n{}",
            violations.join("\n")
        );
    }
}

/// Every kind of HTML page the server serves, in a real browser, light and dark: WCAG 2.1 AA, no
/// console errors, no failed requests. Along the way: the dev sign-in form validates its field
/// (its `pattern` compiles with the `v` flag) and `/activate` approves only with its confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_clean() {
    use crate::browser::{driver, tools, until};
    use crate::support::{dev_login, dev_server_with, free_port, push, raw};
    use fantoccini::Locator;

    if !tools() {
        return;
    }
    let Some(audit) = Audit::load() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A webhook to a closed loopback port: the Webhooks tab shows a delivery log with failures.
    let _server = dev_server_with(
        dir.path(),
        port,
        &[("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")],
    );
    let base = format!("http://127.0.0.1:{port}");
    let (_, token) = dev_login(port, "ada"); // the first user: admin
    let (status, _, _, body) = raw(
        port,
        "POST",
        "/api/admin/webhooks",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        &format!(r#"{{"url":"http://127.0.0.1:{}/closed"}}"#, free_port()),
    );
    assert_eq!(status, 201, "{body}");
    let fixture = include_str!("../../../../fixtures/auth-service-redesign.html");
    push(port, &token, "text/html", "auth", fixture);
    let v2 = push(
        port,
        &token,
        "text/html",
        "auth",
        &fixture.replace("rotation on every use", "rotation on every single use"),
    );
    let id = v2["session_id"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {token}");
    let (status, _, _, body) = raw(
        port,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"body":"Why **Redis**?","anchor":"d-token-store"}"#,
    );
    assert_eq!(status, 201, "{body}");

    let (_driver, c) = driver().await;

    // Signed out.
    audit
        .page(&c, &format!("{base}/"), 200, "home, signed out")
        .await;
    audit
        .page(&c, &format!("{base}/auth/login"), 200, "dev sign-in form")
        .await;
    // The form's pattern is a valid regular expression for the browser, so it validates.
    let validity = c
        .execute(
            r#"const i = document.getElementById('login');
               i.value = 'not a login!'; const bad = i.validity.patternMismatch;
               i.value = 'ada.dev-1_x'; const good = i.validity.valid;
               i.value = ''; return [bad, good];"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        validity,
        serde_json::json!([true, true]),
        "the pattern must reject a bad login and accept a good one"
    );
    audit.reset(&c).await;
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .send_keys("ada")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&c, "location.pathname === '/'").await;
    audit.current(&c, "home, signed in (light)").await;
    audit
        .page(&c, &format!("{base}/"), 200, "home, signed in")
        .await;

    // Plans: latest with the comments sidebar, an older version, a diff, a missing plan.
    audit
        .page(&c, &format!("{base}/p/auth"), 200, "plan page")
        .await;
    c.find(Locator::Css(".pp-comments-toggle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "!document.getElementById('pp-sidebar').hidden && document.querySelector('.pp-thread')",
    )
    .await;
    for theme in ["light", "dark"] {
        audit.theme(&c, theme).await;
        audit
            .current(&c, &format!("plan page with comments ({theme})"))
            .await;
    }
    audit.theme(&c, "light").await;
    audit
        .page(&c, &format!("{base}/p/auth?v=1"), 200, "older version")
        .await;
    audit
        .page(&c, &format!("{base}/p/auth?v=2&diff=1"), 200, "diff")
        .await;
    audit
        .page(
            &c,
            &format!("{base}/p/auth/history"),
            200,
            "version history",
        )
        .await;
    audit
        .page(&c, &format!("{base}/p/no-such-plan"), 404, "missing plan")
        .await;

    // The dashboard, every tab.
    for tab in [
        "plans", "activity", "comments", "tokens", "settings", "members", "groups", "webhooks",
        "audit",
    ] {
        audit
            .page(
                &c,
                &format!("{base}/dashboard?tab={tab}"),
                200,
                &format!("dashboard, {tab}"),
            )
            .await;
    }

    // The one-click unsubscribe page of an e-mail (no session needed), its result, a refused link.
    let (_, _, _, me) = raw(port, "GET", "/api/auth/me", &[("Authorization", &auth)], "");
    let me: Value = serde_json::from_str(&me).unwrap();
    let ada_id = planpush_identity::UserId::parse(me["id"].as_str().unwrap()).unwrap();
    let unsubscribe = planpush_app::UnsubscribeKeys::sign(
        &planpush_mail::LinkKeys::new("k".repeat(40).as_bytes(), &[]),
        ada_id,
    );
    audit
        .page(
            &c,
            &format!("{base}/unsubscribe/{unsubscribe}"),
            200,
            "unsubscribe, confirmation",
        )
        .await;
    audit.reset(&c).await;
    c.find(Locator::Id("unsubscribe-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&c, "document.body.textContent.includes('Unsubscribed')").await;
    audit.current(&c, "unsubscribe, done").await;
    audit
        .page(
            &c,
            &format!("{base}/unsubscribe/not-a-token"),
            404,
            "unsubscribe, invalid link",
        )
        .await;

    // /activate: the entry form, the confirmation with what is being approved, the result page.
    let (status, _, _, start) = raw(port, "POST", "/api/auth/device", &[], "");
    assert_eq!(status, 200, "{start}");
    let start: Value = serde_json::from_str(&start).unwrap();
    let code = start["user_code"].as_str().unwrap().to_owned();
    audit
        .page(&c, &format!("{base}/activate"), 200, "activate, entry")
        .await;
    audit
        .page(
            &c,
            &format!("{base}/activate?user_code={code}"),
            200,
            "activate, confirmation",
        )
        .await;
    let shown = c.source().await.unwrap();
    assert!(
        shown.contains(&code) && shown.contains("127.0.0.1"),
        "{shown}"
    );
    // Approve without ticking the box: the browser does not send it (the box is required)…
    c.find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("user_code="),
        "an unticked approval must not be submitted"
    );
    // …and ticked, it approves.
    c.find(Locator::Id("confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    audit.reset(&c).await;
    c.find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&c, "document.body.textContent.includes('Device approved')").await;
    audit.current(&c, "activate, approved (light)").await;
    audit.theme(&c, "dark").await;
    audit.current(&c, "activate, approved (dark)").await;
    c.close().await.unwrap();
}
