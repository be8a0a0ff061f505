//! What changed in the plan's terms: the push answer's `changes.typed`, the diff page's list and
//! the live `version` event.

use actix_web::http::{StatusCode, header};
use planpush_roles::Role;

use crate::harness::{Browser, Mode, test_app};

const V1: &str = r#"<h1>Auth</h1>
<section data-anchor="decisions"><h2>Key Decisions</h2><ul class="pp-decisions">
<li data-anchor="d-store"><span class="pp-badge pp-open">Open</span> Redis vs PostgreSQL</li></ul></section>
<section data-anchor="api"><h2>API</h2>
<div class="pp-endpoint"><span class="pp-method">GET</span><code>/api/auth/me</code><span>Current user</span></div></section>"#;

fn push(token: &str, body: &str) -> actix_http::Request {
    actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/html"))
        .insert_header(("x-session-name", "auth"))
        .set_payload(body.to_owned())
        .to_request()
}

#[actix_web::test]
async fn a_new_version_says_what_changed_in_the_plans_terms() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let mut cli = Browser::default();
    let first = app.call(&mut cli, push(&token, V1)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.json()["changes"]["typed"], serde_json::json!([]));
    // A thread on the decision: the change to it will list it.
    let id = first.json()["session_id"].as_str().unwrap().to_owned();
    let thread = app
        .send(
            &mut ada,
            actix_web::http::Method::POST,
            &format!("/api/sessions/{id}/comments"),
            None,
            Some(serde_json::json!({"body": "Why Redis at all?", "anchor": "d-store"})),
        )
        .await;
    assert_eq!(thread.status, StatusCode::CREATED, "{}", thread.body);
    let thread_id = thread.json()["id"].as_str().unwrap().to_owned();

    let v2 = V1
        .replace(
            r#"<span class="pp-badge pp-open">Open</span> Redis"#,
            r#"<span class="pp-badge pp-accepted">Accepted</span> Redis"#,
        )
        .replace(
            "</section>\n<section",
            "</section>\n<section data-anchor=\"faq\"><h2>FAQ</h2><p>Why?</p></section>\n<section",
        )
        + r#"<div class="pp-endpoint"><span class="pp-method">DELETE</span><code>/api/auth/sessions</code><span>Revoke <span class="pp-badge pp-breaking">Breaking</span></span></div>"#;
    let res = app.call(&mut cli, push(&token, &v2)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let typed = res.json()["changes"]["typed"].clone();
    assert_eq!(
        typed[0],
        serde_json::json!({"kind": "decision", "change": "status", "label": "Redis vs PostgreSQL",
            "from": "Open", "to": "Accepted", "anchors": ["decisions", "d-store"],
            "text": "Decision “Redis vs PostgreSQL”: Open → Accepted"}),
        "{typed}"
    );
    let texts: Vec<&str> = typed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Decision “Redis vs PostgreSQL”: Open → Accepted",
            "Endpoint DELETE /api/auth/sessions added (Breaking)",
            "Section “FAQ” added",
        ]
    );

    // The diff page leads with the same list, each line linking to its section's row.
    let page = app.get(&mut ada, "/p/auth?v=2&diff=1").await;
    assert_eq!(page.status, StatusCode::OK);
    let typed_block = page
        .body
        .split(r#"<div class="pp-typed">"#)
        .nth(1)
        .expect("the typed list")
        .split("</div>")
        .next()
        .unwrap();
    assert!(
        typed_block.contains("Changed: 1 decision, 1 endpoint, 1 section."),
        "{typed_block}"
    );
    assert!(
        typed_block.contains(
            r##"<a href="#pp-diff-decisions">Decision “Redis vs PostgreSQL”: Open → Accepted</a>"##
        ),
        "{typed_block}"
    );
    // The change lists the open thread on its element, linking to it.
    assert!(
        typed_block.contains(&format!(
            r#"<li data-thread="{thread_id}"><a href="/p/auth?comment={thread_id}#d-store">Open thread: “Why Redis at all?”</a></li>"#
        )),
        "{typed_block}"
    );
    assert!(
        page.body.find(r#"class="pp-typed""#) < page.body.find("Sections: "),
        "the plan's terms come first"
    );
    // Two equal versions: nothing in the plan's terms.
    let same = app.get(&mut ada, "/p/auth?v=2&diff=2").await;
    assert!(
        same.body
            .contains("Nothing changed in the plan&#39;s terms.")
            || same.body.contains("Nothing changed in the plan's terms."),
        "{}",
        same.body
    );
}
