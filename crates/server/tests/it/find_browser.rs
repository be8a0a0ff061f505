//! In the real browser: an exported HTML file opened from disk (no script, nothing fetched, the
//! stylesheet and the diagrams inside it, a print layout), and the dashboard's search over
//! everything (ranked results, highlighted snippets, a link to the section).

use fantoccini::Locator;

use crate::a11y::Audit;
use crate::browser::{driver, sign_in, tools, until};
use crate::support::{dev_login, dev_server, free_port, push, raw};

const PLAN: &str = "# Export check\n\nWhy this plan exists.\n\n## Architecture\n\n```mermaid\nflowchart LR\n  Client --> Gateway\n  Gateway --> Auth\n```\n\n## Data model\n\n| Field | Type |\n|---|---|\n| id | uuid |\n\nSee [the RFC](https://www.rfc-editor.org/rfc/rfc6749).\n\n## Risks\n\n- Token theft from a laptop.\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_opens_offline_and_search_finds_everything() {
    if !tools() {
        return;
    }
    let audit = Audit::load();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = dev_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let (_, token) = dev_login(port, "ada");
    let pushed = push(port, &token, "text/markdown", "export-check", PLAN);
    let id = pushed["session_id"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {token}");
    let (status, _, _, body) = raw(
        port,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"body":"Is uuid right for the gateway?","anchor":"data-model"}"#,
    );
    assert_eq!(status, 201, "{body}");

    // The export, saved to a file as a browser would, then opened from disk.
    let (status, _, _, html) = raw(
        port,
        "GET",
        "/p/export-check/export?format=html&comments=all",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200, "{html}");
    let file = dir.path().join("export-check-v1.html");
    std::fs::write(&file, &html).unwrap();

    let (_driver, c) = driver().await;
    if let Some(a) = &audit {
        a.reset(&c).await;
    }
    c.goto(&format!("file://{}", file.display())).await.unwrap();
    until(&c, "document.readyState === 'complete'").await;
    let facts = c
        .execute(
            r#"const doc = document.querySelector('.pp-document');
               const svgs = Array.from(doc.querySelectorAll('.pp-diagram svg'));
               const print = Array.from(document.styleSheets).flatMap(s => Array.from(s.cssRules))
                 .filter(r => r.media && r.media.mediaText === 'print').map(r => r.cssText).join('\n');
               return {
                 scripts: document.scripts.length,
                 fetched: performance.getEntriesByType('resource').map(e => e.name),
                 external: Array.from(document.querySelectorAll('[src],link[href]')).map(e => e.getAttribute('src') || e.getAttribute('href')),
                 diagrams: svgs.length,
                 drawn: svgs.every(s => s.getBoundingClientRect().width > 50 && s.querySelectorAll('text').length > 0),
                 styled: getComputedStyle(document.querySelector('.pp-header')).borderBottomStyle,
                 sections: doc.querySelectorAll('section[data-anchor]').length,
                 appendix: document.querySelector('.pp-appendix') ? document.querySelector('.pp-appendix').textContent : '',
                 breaks: print.includes('break-before: page'),
                 links: print.includes('attr(href)'),
                 sidebarHidden: print.includes('.pp-sidebar'),
               };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(facts["scripts"], 0, "{facts}");
    assert_eq!(
        facts["fetched"],
        serde_json::json!([]),
        "nothing fetched: {facts}"
    );
    assert_eq!(facts["external"], serde_json::json!([]), "{facts}");
    assert_eq!(facts["diagrams"], 1, "{facts}");
    assert_eq!(facts["drawn"], true, "the diagram is drawn: {facts}");
    assert_eq!(facts["styled"], "solid", "the stylesheet applies: {facts}");
    assert_eq!(facts["sections"], 3, "{facts}");
    assert!(
        facts["appendix"]
            .as_str()
            .unwrap()
            .contains("Is uuid right for the gateway?"),
        "{facts}"
    );
    assert_eq!(
        facts["breaks"], true,
        "a page per section when printed: {facts}"
    );
    assert_eq!(facts["links"], true, "links shown when printed: {facts}");
    assert_eq!(facts["sidebarHidden"], true, "{facts}");
    if let Some(a) = &audit {
        a.current(&c, "exported HTML file").await;
    }

    // The dashboard's search box searches everything: sections and comments, highlighted.
    sign_in(&c, &base, "ada", "/dashboard").await;
    c.find(Locator::Id("search-all"))
        .await
        .unwrap()
        .send_keys("gate")
        .await
        .unwrap();
    c.find(Locator::Css("#search-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "document.querySelectorAll('.dash-search-hit').length >= 2",
    )
    .await;
    let hits = c
        .execute(
            r#"return Array.from(document.querySelectorAll('.dash-search-hit')).map(li => ({
                 kind: li.dataset.kind,
                 href: li.querySelector('a').getAttribute('href'),
                 marks: Array.from(li.querySelectorAll('mark')).map(m => m.textContent),
               }));"#,
            vec![],
        )
        .await
        .unwrap();
    let hits = hits.as_array().unwrap();
    assert!(
        hits.iter()
            .any(|h| h["kind"] == "section" && h["href"] == "/p/export-check#architecture"),
        "{hits:?}"
    );
    let comment = hits.iter().find(|h| h["kind"] == "comment").unwrap();
    assert!(
        comment["href"]
            .as_str()
            .unwrap()
            .starts_with("/p/export-check?comment=")
    );
    assert_eq!(comment["marks"], serde_json::json!(["gateway"]));
    if let Some(a) = &audit {
        a.current(&c, "dashboard with search results").await;
    }
    // The comment result opens its thread.
    c.goto(&format!("{base}{}", comment["href"].as_str().unwrap()))
        .await
        .unwrap();
    until(
        &c,
        "!document.getElementById('pp-sidebar').hidden && document.querySelector('.pp-thread.pp-flash, .pp-thread')",
    )
    .await;
    c.close().await.unwrap();
}
