//! `GET /p/{slug}/export`: any version as one HTML file or as Markdown, with comments on request,
//! visible exactly like the page; a Markdown export pushed again has the same sections.

use actix_web::http::{Method, StatusCode, header};
use planpush_roles::Role;
use serde_json::json;

use crate::harness::{Browser, Mode, test_app};

fn push_req(token: &str, name: &str, ct: &str, body: &str, private: bool) -> actix_http::Request {
    let mut req = actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, ct))
        .insert_header(("x-session-name", name));
    if private {
        req = req.insert_header(("x-visibility", "private"));
    }
    req.set_payload(body.to_owned()).to_request()
}

const MD1: &str = "# Export me\n\n## Flow\n\nFirst text.\n";
const MD2: &str = "# Export me\n\n## Flow\n\nSecond text with a [link](https://example.com/x).\n\n## Data model\n\n| Field | Type |\n|---|---|\n| id | uuid |\n";

const HTML: &str = r#"<h1>Html plan</h1><p>Intro.</p>
<section data-anchor="architecture"><h2>Architecture</h2><pre class="mermaid">flowchart LR
  A --> B</pre><div class="pp-card" data-anchor="card-a"><h3>Card</h3><p>Card text</p></div></section>
<section data-anchor="endpoints"><h2>Endpoints &amp; more</h2><table><tr><th>Method</th><th>Path</th></tr><tr><td>GET</td><td>/x</td></tr></table></section>
<section data-anchor="risks"><h2>Risks</h2><ul><li>drift</li></ul></section>"#;

#[actix_web::test]
async fn exports_are_self_contained_and_follow_page_visibility() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    for body in [MD1, MD2] {
        let res = app
            .call(
                &mut Browser::default(),
                push_req(&token, "exp", "text/markdown", body, false),
            )
            .await;
        assert!(res.status.is_success(), "{}", res.body);
    }
    let id = app.get(&mut ada, "/api/sessions").await.json()["sessions"][0]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = app
        .send(
            &mut bob,
            Method::POST,
            &format!("/api/sessions/{id}/comments"),
            None,
            Some(json!({"body": "Why <b>uuid</b>?", "anchor": "data-model"})),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);

    // Markdown: a Markdown push is its own source, any version.
    let md = app.get(&mut bob, "/p/exp/export?format=md").await;
    assert_eq!(md.status, StatusCode::OK, "{}", md.body);
    assert_eq!(md.body, MD2);
    assert!(
        md.headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    assert_eq!(
        md.headers
            .get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap(),
        "attachment; filename=\"exp-v2.md\""
    );
    assert_eq!(
        app.get(&mut bob, "/p/exp/export?format=md&v=1").await.body,
        MD1
    );
    let with = app
        .get(&mut bob, "/p/exp/export?format=md&comments=all")
        .await
        .body;
    assert!(with.starts_with(MD2), "{with}");
    assert!(
        with.contains("# Comments (1)") && with.contains("**bob** on `#data-model`"),
        "{with}"
    );
    assert!(with.contains("Why <b>uuid</b>?"), "{with}");

    // HTML: one file, the stylesheet inline, no script, nothing fetched.
    let html = app.get(&mut bob, "/p/exp/export").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        html.headers
            .get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap(),
        "attachment; filename=\"exp-v2.html\""
    );
    let body = &html.body;
    assert!(body.starts_with("<!DOCTYPE html>"));
    assert!(
        body.contains("<style>") && body.contains("@media print"),
        "the stylesheet inline"
    );
    assert!(!body.to_lowercase().contains("<script"), "no script");
    assert!(
        !body.contains("<link") && !body.contains(" src=\"http"),
        "nothing to fetch"
    );
    assert!(body.contains("Second text with a"));
    assert!(
        body.contains("Exported from <a href=\"http://planpush.test/p/exp?v=2\">"),
        "{body}"
    );
    assert!(
        !body.contains("id=\"pp-comments\""),
        "no comments unless asked"
    );
    let open = app
        .get(&mut bob, "/p/exp/export?comments=open&v=2")
        .await
        .body;
    assert!(open.contains("Open comments (1)"), "{open}");
    assert!(
        open.contains("Why &lt;b&gt;uuid&lt;/b&gt;?"),
        "comment bodies are escaped: {open}"
    );
    let v1 = app.get(&mut bob, "/p/exp/export?v=1").await.body;
    assert!(v1.contains("First text.") && !v1.contains("Second text"));

    // The page's menu links to them.
    let page = app.get(&mut bob, "/p/exp").await.body;
    assert!(
        page.contains(r#"href="/p/exp/export?v=2&amp;format=html""#),
        "{page}"
    );
    assert!(page.contains(r#"href="/p/exp/export?v=2&amp;format=md""#));

    // Visibility and bad input.
    app.call(
        &mut Browser::default(),
        push_req(&token, "private-one", "text/markdown", MD1, true),
    )
    .await;
    assert_eq!(
        app.get(&mut bob, "/p/private-one/export").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&mut ada, "/p/private-one/export").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&mut bob, "/p/nope/export").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&mut bob, "/p/exp/export?v=9").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = app.get(&mut bob, "/p/exp/export?format=pdf").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"], "invalid_format");
    let bad = app.get(&mut bob, "/p/exp/export?comments=some").await;
    assert_eq!(bad.json()["error"], "invalid_comments");
    assert_eq!(
        app.get(&mut Browser::default(), "/p/exp/export")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn an_html_plan_exported_as_markdown_pushes_back_to_the_same_sections() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let res = app
        .call(
            &mut Browser::default(),
            push_req(&token, "html-plan", "text/html", HTML, false),
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    let md = app.get(&mut ada, "/p/html-plan/export?format=md").await;
    assert_eq!(md.status, StatusCode::OK);
    assert!(
        md.body.contains("## Endpoints & more {#endpoints}"),
        "{}",
        md.body
    );
    assert!(
        md.body.contains("```mermaid\nflowchart LR\n  A --> B\n```"),
        "Mermaid kept: {}",
        md.body
    );
    assert!(md.body.contains("| GET | /x |"), "{}", md.body);
    let again = app
        .call(
            &mut Browser::default(),
            push_req(&token, "md-again", "text/markdown", &md.body, false),
        )
        .await;
    assert!(again.status.is_success(), "{}", again.body);
    let sections = |html: &str| -> Vec<(String, String)> {
        planpush_document::text_units(html)
            .into_iter()
            .filter_map(|u| Some((u.anchor?.to_string(), u.title)))
            .collect()
    };
    let latest = |name: &'static str| {
        let ports = app.ports.clone();
        async move {
            let plan = ports
                .plans
                .find_by_slug(&planpush_plans::Slug::parse(name).unwrap())
                .await
                .unwrap()
                .unwrap();
            ports.versions.latest(plan.id()).await.unwrap().unwrap()
        }
    };
    let (a, b) = (latest("html-plan").await, latest("md-again").await);
    assert_eq!(sections(&b.html), sections(&a.html));
    assert_eq!(
        sections(&a.html)
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>(),
        ["architecture", "endpoints", "risks"]
    );
    assert_eq!(a.meta.title, b.meta.title);
}
