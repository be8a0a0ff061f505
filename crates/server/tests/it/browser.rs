//! A real browser (Debian chromium + chromedriver, driven over WebDriver) against the real server.
//!
//! - Documents full of script-injection attempts are pushed; every payload would set `window.__xss`
//!   or change the title. The page is loaded twice: as served (sanitizer + CSP) and as a local file
//!   without any CSP (the sanitizer alone). Neither may run a single payload.
//! - Screenshots of the Auth Service Redesign fixture, light and dark, land in
//!   `target/screenshots/`.
//!
//! Chromium and chromedriver come from Debian (`.ci/run` installs them). Without them the test
//! fails in CI and reports and skips elsewhere.

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

use crate::support::{Running, dev_login, dev_server, free_port, push, wait_for};

const PAYLOADS: &[&str] = &[
    r#"<img src=x onerror="window.__xss='img-onerror'">"#,
    r#"<svg onload="window.__xss='svg-onload'"><rect width="1" height="1"></rect></svg>"#,
    r#"<script>window.__xss='script'</script>"#,
    r#"<iframe srcdoc="<script>parent.__xss='srcdoc'</script>"></iframe>"#,
    r#"<details open ontoggle="window.__xss='ontoggle'"><summary>x</summary></details>"#,
    r#"<input autofocus onfocus="window.__xss='onfocus'">"#,
    r#"<body onload="window.__xss='body-onload'">"#,
    r#"<math><mtext><table><mglyph><style><img src=x onerror="window.__xss='mxss-mglyph'">"#,
    r#"<form><math><mtext></form><form><mglyph><svg><mtext><style><path id="</style><img onerror=window.__xss='mxss-form' src>">"#,
    r#"<svg></p><style><a id="</style><img src=1 onerror=window.__xss='mxss-svg-style'>">"#,
    r#"<noscript><p title="</noscript><img src=x onerror=window.__xss='noscript'>">"#,
    r#"<xmp><p title="</xmp><img src=x onerror=window.__xss='xmp'>">"#,
    r#"<noembed><p title="</noembed><img src=x onerror=window.__xss='noembed'>">"#,
    r#"<noframes><p title="</noframes><img src=x onerror=window.__xss='noframes'>">"#,
    r#"<svg><animate onbegin="window.__xss='animate'" attributeName="x" dur="1s"></animate></svg>"#,
    r#"<svg><set onbegin="window.__xss='set'" attributeName="x" to="1"></set></svg>"#,
    r#"<svg><foreignObject><img src=x onerror="window.__xss='foreignobject'"></foreignObject></svg>"#,
    r#"<object data="javascript:window.__xss='object'"></object><embed src="javascript:window.__xss='embed'">"#,
    r#"<meta http-equiv="refresh" content="0;url=javascript:window.__xss='meta'">"#,
    r#"<base href="javascript:window.__xss='base'//">"#,
    r#"<a id="clickme" href="jav&#x09;ascript:window.__xss='tab-link'">click</a>"#,
    r#"<a id="clickme2" href=" &#14; javascript:window.__xss='ctrl-link'">click</a>"#,
    r#"<svg><a><set attributeName="href" to="javascript:window.__xss='svg-set-href'"></set><text id="clickme3" x="0" y="15">click</text></a></svg>"#,
    r#"<div style="background:url(javascript:window.__xss='style')">x</div>"#,
    r#"<img src="x" onerror="window.__xss='quoted'" //"#,
];

pub(crate) fn tools() -> bool {
    let have = |c: &str| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    match (have("chromium"), have("chromedriver")) {
        (true, true) => true,
        _ if std::env::var_os("CI").is_some() => {
            panic!("chromium and chromedriver are required in CI (.ci/run installs them)")
        }
        _ => {
            eprintln!("note: chromium/chromedriver not installed; skipping the browser test");
            false
        }
    }
}

pub(crate) async fn browser(driver_port: u16) -> Client {
    // Two TLS backends end up in the dependency graph; the WebDriver client needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let caps = serde_json::json!({
        // Console errors and failed loads, read by `a11y::Audit` through chromedriver's log.
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,1400"]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap()
}

/// chromedriver on a free port and a browser session through it.
pub(crate) async fn driver() -> (Running, Client) {
    let driver_port = free_port();
    let driver = Running(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(driver_port);
    let c = browser(driver_port).await;
    (driver, c)
}

/// Signs in the way a person does: the dev sign-in form, then back to `to`.
pub(crate) async fn sign_in(c: &Client, base: &str, login: &str, to: &str) {
    c.goto(&format!("{base}/auth/login?redirect_to={to}"))
        .await
        .unwrap();
    c.find(fantoccini::Locator::Id("login"))
        .await
        .unwrap()
        .send_keys(login)
        .await
        .unwrap();
    c.find(fantoccini::Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        c.current_url().await.unwrap().as_str().ends_with(to),
        "signed in and sent back"
    );
}

async fn hit(c: &Client) -> Option<String> {
    let v = c
        .execute("return window.__xss || null", vec![])
        .await
        .unwrap();
    v.as_str().map(str::to_owned)
}

/// Clicks the elements that would run a `javascript:` URL if one had survived.
async fn click_links(c: &Client) {
    for id in ["clickme", "clickme2", "clickme3"] {
        if let Ok(e) = c.find(fantoccini::Locator::Id(id)).await {
            let _ = e.click().await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_payload_runs_and_the_fixture_looks_right() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let (cookie, token) = dev_login(port, "ada");
    let xss: String = PAYLOADS
        .iter()
        .enumerate()
        .map(|(i, p)| format!("<section data-anchor=\"p{i}\"><h2>Payload {i}</h2>{p}</section>\n"))
        .collect();
    push(
        port,
        &token,
        "text/html",
        "xss",
        &format!("<h1>XSS corpus</h1>{xss}"),
    );
    push(
        port,
        &token,
        "text/markdown",
        "xss-md",
        &format!(
            "# XSS in Markdown\n\n## Raw HTML\n\n{}\n\n[link](javascript:window.__xss='md-link')\n",
            PAYLOADS.join("\n\n")
        ),
    );
    push(
        port,
        &token,
        "text/html",
        "auth-service-redesign",
        include_str!("../../../../fixtures/auth-service-redesign.html"),
    );

    let (_driver, c) = driver().await;
    let base = format!("http://127.0.0.1:{port}");
    sign_in(&c, &base, "ada", "/p/xss").await;
    let _ = &cookie;

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for slug in ["xss", "xss-md"] {
        // As served: sanitizer and CSP together.
        c.goto(&format!("{base}/p/{slug}")).await.unwrap();
        assert!(
            c.source().await.unwrap().contains("Payload 0") || slug == "xss-md",
            "the page rendered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        click_links(&c).await;
        c.goto(&format!("{base}/p/{slug}")).await.unwrap();
        assert_eq!(
            hit(&c).await,
            None,
            "{slug}: a payload ran on the served page"
        );

        // The sanitizer alone: the same markup from a file, with no CSP at all.
        let html = c.source().await.unwrap();
        let file = dir.path().join(format!("{slug}.html"));
        std::fs::write(&file, html).unwrap();
        c.goto(&format!("file://{}", file.display())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            hit(&c).await,
            None,
            "{slug}: a payload survived sanitization"
        );
        click_links(&c).await;
        assert_eq!(
            hit(&c).await,
            None,
            "{slug}: a link ran script when clicked"
        );
    }

    // The control: the same check catches a payload when nothing protects the page.
    let control = dir.path().join("control.html");
    std::fs::write(&control, PAYLOADS[0]).unwrap();
    c.goto(&format!("file://{}", control.display()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hit(&c).await.as_deref(),
        Some("img-onerror"),
        "the detector works"
    );

    for theme in ["light", "dark"] {
        c.goto(&format!("{base}/p/auth-service-redesign"))
            .await
            .unwrap();
        c.execute(
            &format!("document.documentElement.setAttribute('data-theme', '{theme}')"),
            vec![],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = c.screenshot().await.unwrap();
        assert!(png.len() > 10_000, "a real screenshot");
        std::fs::write(
            shots.join(format!("auth-service-redesign-{theme}.png")),
            png,
        )
        .unwrap();
    }
    c.close().await.unwrap();
}

/// Waits until `script` (an expression) is truthy in the page, or fails after a few seconds.
pub(crate) async fn until(c: &Client, script: &str) -> serde_json::Value {
    for _ in 0..50 {
        let v = c
            .execute(&format!("return ({script}) || null"), vec![])
            .await
            .unwrap();
        if !v.is_null() && v != serde_json::Value::Bool(false) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never true: {script}");
}

/// Comments on the page: a badge where a teammate commented, the sidebar, commenting on selected
/// text, and the badge following its text after a push renames the anchor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_on_the_page() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let (_, ada_token) = dev_login(port, "ada");
    let (_, ben_token) = dev_login(port, "ben");
    let fixture = include_str!("../../../../fixtures/auth-service-redesign.html");
    let plan = push(port, &ada_token, "text/html", "auth", fixture);
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
        r#"{"body":"Why **Redis**? We run PostgreSQL already.","anchor":"d-token-store"}"#,
    );
    assert_eq!(status, 201, "{body}");

    let (_driver, c) = driver().await;
    let base = format!("http://127.0.0.1:{port}");
    sign_in(&c, &base, "ada", "/p/auth").await;
    let badge = until(
        &c,
        "document.querySelector('[data-anchor=\"d-token-store\"] .pp-comment-badge')?.textContent",
    )
    .await;
    assert_eq!(badge, "1");
    assert_eq!(
        until(
            &c,
            "document.querySelector('.pp-comments-toggle .pp-count').textContent"
        )
        .await,
        "1"
    );
    c.find(fantoccini::Locator::Css(
        "[data-anchor=\"d-token-store\"] .pp-comment-badge",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let shown = until(&c, "!document.getElementById('pp-sidebar').hidden && document.querySelector('.pp-thread strong')?.textContent").await;
    assert_eq!(shown, "ben");
    let text = until(
        &c,
        "document.querySelector('.pp-thread .pp-comment-body')?.innerHTML",
    )
    .await;
    assert_eq!(
        text, "<p>Why <strong>Redis</strong>? We run PostgreSQL already.</p>",
        "escaped text with a Markdown subset"
    );

    // Select words in a risk card and comment on them.
    c.execute(
        r#"const el = document.querySelector('[data-anchor="risk-revocation"] .pp-mitigation');
           const t = el.firstChild; const at = t.textContent.indexOf('rotation on every use');
           const r = document.createRange(); r.setStart(t, at); r.setEnd(t, at + 'rotation on every use'.length);
           const s = getSelection(); s.removeAllRanges(); s.addRange(r);"#,
        vec![],
    )
    .await
    .unwrap();
    until(&c, "!document.querySelector('.pp-select-comment').hidden").await;
    c.find(fantoccini::Locator::Css(".pp-select-comment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let ta = c
        .find(fantoccini::Locator::Css(".pp-composer-slot textarea"))
        .await
        .unwrap();
    ta.send_keys("Do we alert on family revocation?")
        .await
        .unwrap();
    c.find(fantoccini::Locator::Css(
        ".pp-composer-slot button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    until(
        &c,
        "document.querySelector('[data-anchor=\"risk-revocation\"] .pp-comment-badge')",
    )
    .await;
    let (_, _, _, list) = crate::support::raw(
        port,
        "GET",
        &format!("/api/sessions/{id}/comments"),
        &[("Authorization", &auth)],
        "",
    );
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mine = list["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["anchor"] == "risk-revocation")
        .unwrap()
        .clone();
    assert_eq!(mine["quote"]["exact"], "rotation on every use");
    let prefix = mine["quote"]["prefix"].as_str().unwrap();
    assert!(
        prefix.ends_with("Mitigation: ") && prefix.chars().count() <= 32,
        "{prefix:?}"
    );
    assert_eq!(mine["author"]["login"], "ada");

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    c.execute(
        "document.querySelector('[data-filter=all]').click()",
        vec![],
    )
    .await
    .unwrap();
    for theme in ["light", "dark"] {
        c.execute(
            &format!("document.documentElement.setAttribute('data-theme', '{theme}')"),
            vec![],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::write(
            shots.join(format!("comments-{theme}.png")),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }

    // A new version renames the risk's anchor: the thread moves with its text.
    push(
        port,
        &ada_token,
        "text/html",
        "auth",
        &fixture.replace(
            "data-anchor=\"risk-revocation\"",
            "data-anchor=\"risk-stolen-tokens\"",
        ),
    );
    c.refresh().await.unwrap();
    until(
        &c,
        "document.querySelector('[data-anchor=\"risk-stolen-tokens\"] .pp-comment-badge')",
    )
    .await;
    c.close().await.unwrap();
}

/// Issue 17: a thread a version addressed says so on the page, linked to that version's diff of
/// its section; `#thread-<id>` (the dashboard's links) opens the thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_addressed_thread_links_to_what_changed() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let (_, ada_token) = dev_login(port, "ada");
    let (_, ben_token) = dev_login(port, "ben");
    let v1 = "<h1>Auth</h1><section data-anchor=\"goal\"><h2>Goal</h2><p>Short-lived tokens.</p></section><section data-anchor=\"risks\"><h2>Risks</h2><p>Replay.</p></section>";
    let plan = push(port, &ada_token, "text/html", "auth", v1);
    let id = plan["session_id"].as_str().unwrap().to_owned();
    let ben = format!("Bearer {ben_token}");
    let (status, _, _, body) = crate::support::raw(
        port,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &[
            ("Authorization", &ben),
            ("Content-Type", "application/json"),
        ],
        r#"{"body":"What stops a replay?","anchor":"risks"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let thread: serde_json::Value = serde_json::from_str(&body).unwrap();
    let thread = thread["id"].as_str().unwrap().to_owned();
    let ada = format!("Bearer {ada_token}");
    let (status, _, _, body) = crate::support::raw(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &ada),
            ("Content-Type", "text/html"),
            ("X-Session-Name", "auth"),
            ("X-Addresses", &thread),
        ],
        &v1.replace(
            "Replay.",
            "Replay: a reused refresh token revokes its family.",
        ),
    );
    assert_eq!(status, 200, "{body}");

    let (_driver, c) = driver().await;
    let base = format!("http://127.0.0.1:{port}");
    sign_in(&c, &base, "ada", "/").await;
    c.goto(&format!("{base}/p/auth#thread-{thread}"))
        .await
        .unwrap();
    let href = until(
        &c,
        &format!("!document.getElementById('pp-sidebar').hidden && document.querySelector('#thread-{thread} a.pp-addressed')?.getAttribute('href')"),
    )
    .await;
    assert_eq!(href, "/p/auth?v=2&diff=1#pp-diff-risks");
    assert_eq!(
        until(
            &c,
            &format!("document.querySelector('#thread-{thread} a.pp-addressed').textContent")
        )
        .await,
        "Addressed in v2"
    );
    // The open thread with its link: no console error, no failed request, WCAG 2.1 AA.
    if let Some(audit) = crate::a11y::Audit::load() {
        audit
            .current(&c, "a plan page with an addressed thread open")
            .await;
    }
    c.find(fantoccini::Locator::Css(&format!(
        "#thread-{thread} a.pp-addressed"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let changed = until(
        &c,
        "location.search === '?v=2&diff=1' && document.getElementById('pp-diff-risks')?.className",
    )
    .await;
    assert_eq!(changed, "pp-diff pp-diff-changed");
    c.close().await.unwrap();
}
