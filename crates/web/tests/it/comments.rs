//! Comments through the API: threads on anchors and on quoted text, replies, edits, soft deletes,
//! resolve/reopen, filters, limits, privacy, and threads following their text across pushes.

use actix_web::http::{Method, StatusCode, header};
use planpush_roles::Role;
use serde_json::{Value, json};

use crate::harness::{Browser, Mode, test_app};

const V1: &str = "# Auth\n\n## Flow\n\nThe client sends the refresh token to the gateway, which forwards it to the token service.\n\n## Storage\n\nRefresh tokens are stored hashed with SHA-256 in PostgreSQL.\n\n## Risks\n\nToken theft from a laptop.\n";

fn push_req(token: &str, body: &str, private: bool) -> actix_http::Request {
    let mut req = actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", "auth"));
    if private {
        req = req.insert_header(("x-visibility", "private"));
    }
    req.set_payload(body.to_owned()).to_request()
}

fn by_id<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

#[actix_web::test]
async fn threads_replies_edits_resolution_and_filters() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut quinn, _) = app.user_with("quinn", &[Role::Qa]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1, false))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");

    // A thread on quoted text, by QA (everyone who can see a plan may comment).
    let res = app
        .send(&mut quinn, Method::POST, &url, None, Some(json!({
            "body": "Why not **rotate** on every use? <script>x</script>",
            "anchor": "flow",
            "quote": {"exact": "refresh token to the gateway", "prefix": "The client sends the ", "suffix": ", which forwards"}
        })))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let thread = res.json();
    assert_eq!(thread["anchor"], "flow");
    assert_eq!(thread["anchor_state"], "anchored");
    assert_eq!(thread["state"], "open");
    assert_eq!(thread["version"], 1);
    assert_eq!(thread["author"]["login"], "quinn");
    assert_eq!(thread["quote"]["exact"], "refresh token to the gateway");
    let tid = thread["id"].as_str().unwrap().to_owned();

    // A reply; a reply to a reply is refused.
    let reply = app
        .send(
            &mut ada,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "We do.", "parent_id": tid})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let rid = reply.json()["id"].as_str().unwrap().to_owned();
    let nested = app
        .send(
            &mut ada,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "x", "parent_id": rid})),
        )
        .await;
    assert_eq!(nested.status, StatusCode::BAD_REQUEST);
    assert_eq!(nested.json()["error"], "nested_reply");

    // A second thread on another section, then filters.
    let other = app
        .send(
            &mut ada,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "Which hash?", "anchor": "storage"})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let oid = other.json()["id"].as_str().unwrap().to_owned();
    let list = app.get(&mut ada, &url).await.json();
    assert_eq!(list["comments"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(by_id(&list, &tid)["replies"][0]["body"], "We do.");
    let flow_only = app
        .get(&mut ada, &format!("{url}?anchor=flow"))
        .await
        .json();
    assert_eq!(flow_only["comments"].as_array().unwrap().len(), 1);

    // Resolve by someone else; then only in resolved; reopen.
    let resolved = app
        .send(
            &mut quinn,
            Method::PATCH,
            &format!("/api/comments/{oid}"),
            None,
            Some(json!({"resolved": true})),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.json()["state"], "resolved");
    assert_eq!(resolved.json()["resolved_by"]["login"], "quinn");
    let open = app.get(&mut ada, &url).await.json();
    assert_eq!(open["comments"].as_array().unwrap().len(), 1);
    let done = app
        .get(&mut ada, &format!("{url}?state=resolved"))
        .await
        .json();
    assert_eq!(done["comments"][0]["id"], oid.as_str());
    assert_eq!(
        app.get(&mut ada, &format!("{url}?state=all")).await.json()["comments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get(&mut ada, &format!("{url}?state=maybe"))
            .await
            .json()["error"],
        "invalid_state"
    );
    let reopened = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/comments/{oid}"),
            None,
            Some(json!({"resolved": false})),
        )
        .await;
    assert_eq!(reopened.json()["state"], "open");
    assert!(reopened.json()["resolved_by"].is_null());

    // Edit and delete: one's own only; a deleted comment shows as deleted.
    let not_mine = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/comments/{tid}"),
            None,
            Some(json!({"body": "changed"})),
        )
        .await;
    assert_eq!(not_mine.status, StatusCode::FORBIDDEN);
    let edited = app
        .send(
            &mut quinn,
            Method::PATCH,
            &format!("/api/comments/{tid}"),
            None,
            Some(json!({"body": "Rotate on every use?"})),
        )
        .await;
    assert_eq!(edited.json()["body"], "Rotate on every use?");
    assert!(!edited.json()["edited_at"].is_null());
    assert_eq!(
        app.send(
            &mut quinn,
            Method::DELETE,
            &format!("/api/comments/{rid}"),
            None,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(
            &mut ada,
            Method::DELETE,
            &format!("/api/comments/{rid}"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let list = app.get(&mut ada, &url).await.json();
    let gone = &by_id(&list, &tid)["replies"][0];
    assert_eq!(gone["deleted"], true);
    assert_eq!(gone["body"], "(deleted)");
    assert_eq!(
        app.send(
            &mut ada,
            Method::PATCH,
            &format!("/api/comments/{rid}"),
            None,
            Some(json!({"body": "again"}))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
}

#[actix_web::test]
async fn bad_input_gets_clear_errors_and_writes_nothing() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1, false))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");
    let cases = [
        (
            json!({"body": "x".repeat(4001), "anchor": "flow"}),
            "comment_too_long",
        ),
        (json!({"body": "   ", "anchor": "flow"}), "empty_comment"),
        (
            json!({"body": "hi", "anchor": "no-such-section"}),
            "unknown_anchor",
        ),
        (json!({"body": "hi"}), "unknown_anchor"),
        (
            json!({"body": "hi", "anchor": "flow", "quote": {"exact": ""}}),
            "invalid_quote",
        ),
        (
            json!({"body": "hi", "parent_id": "not-an-id"}),
            "invalid_parent",
        ),
    ];
    for (body, code) in cases {
        let res = app
            .send(&mut ada, Method::POST, &url, None, Some(body.clone()))
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_eq!(res.json()["error"], code, "{body}");
        assert!(!res.json()["message"].as_str().unwrap().is_empty());
    }
    let list = app.get(&mut ada, &format!("{url}?state=all")).await.json();
    assert_eq!(
        list["comments"].as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
    assert_eq!(
        app.get(&mut ada, "/api/comments/whatever").await.status,
        StatusCode::NOT_FOUND,
        "no GET route on a single comment"
    );
    let res = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/comments/{}", uuid_like()),
            None,
            Some(json!({"resolved": true})),
        )
        .await;
    assert_eq!(res.json()["error"], "comment_not_found");
}

fn uuid_like() -> &'static str {
    "6f1c2d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f"
}

#[actix_web::test]
async fn private_plans_hide_their_comments() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let (mut pm, _) = app.user_with("pat", &[Role::ProjectManager]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1, true))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");
    let res = app
        .send(
            &mut ada,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "note to self", "anchor": "flow"})),
        )
        .await;
    let cid = res.json()["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (Method::GET, url.clone(), None),
        (
            Method::POST,
            url.clone(),
            Some(json!({"body": "hi", "anchor": "flow"})),
        ),
        (
            Method::PATCH,
            format!("/api/comments/{cid}"),
            Some(json!({"resolved": true})),
        ),
        (Method::DELETE, format!("/api/comments/{cid}"), None),
    ] {
        let res = app.send(&mut bob, method.clone(), &path, None, body).await;
        assert_eq!(
            res.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            res.body
        );
    }
    assert_eq!(
        app.get(&mut pm, &url).await.status,
        StatusCode::OK,
        "a PM sees private plans"
    );
}

#[actix_web::test]
async fn threads_follow_their_text_across_pushes() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1, false))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");
    let mut post = async |body: Value| {
        app.send(&mut ada, Method::POST, &url, None, Some(body))
            .await
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let on_flow = post(json!({"body": "a", "anchor": "flow", "quote": {"exact": "refresh token to the gateway", "prefix": "The client sends the ", "suffix": ", which forwards"}})).await;
    let on_storage = post(json!({"body": "b", "anchor": "storage", "quote": {"exact": "stored hashed with SHA-256", "prefix": "Refresh tokens are ", "suffix": " in PostgreSQL."}})).await;
    let on_risks = post(json!({"body": "c", "anchor": "risks"})).await;
    let untouched = post(json!({"body": "d", "anchor": "storage"})).await;

    // v2: "Flow" renamed (its anchor changes), "Risks" deleted, "Storage" edited.
    let v2 = V1
        .replace("## Flow", "## Request flow")
        .replace("Token theft from a laptop.\n", "")
        .replace("## Risks\n\n", "")
        .replace("in PostgreSQL", "in PostgreSQL 16");
    let res = app
        .call(&mut Browser::default(), push_req(&token, &v2, false))
        .await;
    assert_eq!(res.json()["version"], 2, "{}", res.body);
    let list = app.get(&mut ada, &url).await.json();
    assert_eq!(
        list["comments"].as_array().unwrap().len(),
        4,
        "no comment is lost: {list}"
    );
    assert_eq!(by_id(&list, &on_flow)["anchor_state"], "moved");
    assert_eq!(by_id(&list, &on_flow)["moved_to"], "request-flow");
    assert_eq!(by_id(&list, &on_storage)["anchor_state"], "changed");
    assert_eq!(by_id(&list, &on_risks)["anchor_state"], "orphaned");
    assert_eq!(
        by_id(&list, &on_risks)["version"],
        1,
        "linked to the version it was written on"
    );
    assert_eq!(by_id(&list, &untouched)["anchor_state"], "changed");
    let moved = app
        .get(&mut ada, &format!("{url}?anchor=request-flow"))
        .await
        .json();
    assert_eq!(
        moved["comments"].as_array().unwrap().len(),
        1,
        "the anchor filter follows moves"
    );
}

fn push_html(token: &str, body: &str) -> actix_http::Request {
    actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/html"))
        .insert_header(("x-session-name", "checkout"))
        .set_payload(body.to_owned())
        .to_request()
}

/// Issue 17: a regeneration renamed every anchor and reordered the sections; threads on whole
/// elements (no quote) follow their elements through the real push, and say how they were found.
#[actix_web::test]
async fn element_threads_follow_their_elements_when_every_anchor_is_renamed() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let v1 = r#"<h1>Checkout</h1>
<section data-anchor="architecture"><h2>Architecture</h2><div class="pp-card" data-anchor="card-pay"><h3>Payments</h3><p>Owns payment intents.</p></div><div class="pp-card" data-anchor="card-web"><h3>Web</h3><p>Calls payments instead of writing orders.</p></div></section>
<section data-anchor="rollout"><h2>Rollout</h2><p>Ship behind a flag to five percent of traffic, watch error rates for a week, then ramp to everyone.</p></section>
<section data-anchor="gone"><h2>Gone</h2><p>Nothing like this survives.</p></section>"#;
    let pushed = app
        .call(&mut Browser::default(), push_html(&token, v1))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");
    let mut post = async |anchor: &str| {
        app.send(
            &mut ada,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "x", "anchor": anchor})),
        )
        .await
        .json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let on_card = post("card-pay").await;
    let on_rollout = post("rollout").await;
    let on_gone = post("gone").await;
    let v2 = r#"<h1>Checkout</h1>
<section data-anchor="release"><h2>Rollout</h2><p>Ship behind a flag to five percent of traffic, watch the error rates for one week, then ramp to everyone.</p></section>
<section data-anchor="design"><h2>Architecture</h2><div class="pp-card" data-anchor="svc-payments"><h3>Payments</h3><p>Owns payment intents.</p></div><div class="pp-card" data-anchor="svc-web"><h3>Web</h3><p>Calls payments instead of writing orders.</p></div></section>"#;
    let res = app
        .call(&mut Browser::default(), push_html(&token, v2))
        .await;
    assert_eq!(res.json()["version"], 2, "{}", res.body);
    let list = app.get(&mut ada, &url).await.json();
    let card = by_id(&list, &on_card);
    assert_eq!(
        (&card["anchor_state"], &card["moved_to"], &card["moved_by"]),
        (
            &json!("moved"),
            &json!("svc-payments"),
            &json!("same_content")
        ),
        "{list}"
    );
    let rollout = by_id(&list, &on_rollout);
    assert_eq!(
        (&rollout["moved_to"], &rollout["moved_by"]),
        (&json!("release"), &json!("similar_content")),
        "{list}"
    );
    assert_eq!(by_id(&list, &on_gone)["anchor_state"], "orphaned");
    // The next push keeps them there (their moved-to elements are unchanged).
    let v3 = v2.replace("Owns payment intents.", "Owns payment intents and refunds.");
    app.call(&mut Browser::default(), push_html(&token, &v3))
        .await;
    let list = app.get(&mut ada, &url).await.json();
    assert_eq!(by_id(&list, &on_card)["moved_to"], "svc-payments", "{list}");
    assert_eq!(by_id(&list, &on_rollout)["moved_to"], "release", "{list}");
}

#[actix_web::test]
async fn comment_writing_is_rate_limited_per_user() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1, false))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");
    for i in 0..planpush_web::ratelimit::COMMENTS_PER_15_MIN {
        let res = app
            .send(
                &mut ada,
                Method::POST,
                &url,
                None,
                Some(json!({"body": format!("n{i}"), "anchor": "flow"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "comment {i}");
    }
    let res = app
        .send(
            &mut ada,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "one more", "anchor": "flow"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers.get(header::RETRY_AFTER).is_some());
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let res = app
        .send(
            &mut bob,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "mine", "anchor": "flow"})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "another user has their own budget"
    );
}

/// Issue 19: a thread a push says it addresses waits for its commenter, who confirms (resolves) or
/// reopens it; the comments API, the plan's author's and the commenter's dashboards say who is
/// waited on.
#[actix_web::test]
async fn addressed_threads_wait_for_the_commenter_to_confirm_or_reopen() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut quinn, _) = app.user_with("quinn", &[Role::Qa]).await;
    let token = app.token(&mut ada).await;
    let pushed = app
        .call(&mut Browser::default(), push_req(&token, V1, false))
        .await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/comments");
    let mut ids = vec![];
    for (anchor, body) in [
        ("flow", "Rotate on every use?"),
        ("storage", "Which hash, really?"),
        ("risks", "What about stolen laptops?"),
    ] {
        let res = app
            .send(
                &mut quinn,
                Method::POST,
                &url,
                None,
                Some(json!({"body": body, "anchor": anchor})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        ids.push(res.json()["id"].as_str().unwrap().to_owned());
    }
    let [confirmed, reopened, unanswered] = <[String; 3]>::try_from(ids).unwrap();

    // Before any push addresses them, all three wait on ada (the plan's author), none on quinn.
    let dash = app.get(&mut ada, "/dashboard").await.body;
    for id in [&confirmed, &reopened, &unanswered] {
        assert!(
            dash.contains(&format!("<li data-thread=\"{id}\">")),
            "{dash}"
        );
    }
    assert!(!dash.contains("dash-waiting-confirm"), "{dash}");
    let dash = app.get(&mut quinn, "/dashboard").await.body;
    assert!(!dash.contains("dash-waiting"), "{dash}");

    // v2 says it addresses two of them.
    let v2 = V1.replace("SHA-256", "Argon2id").replace("every", "each");
    let req = actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", "auth"))
        .insert_header(("x-addresses", format!("{confirmed},{reopened}")))
        .set_payload(v2)
        .to_request();
    let res = app.call(&mut Browser::default(), req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["addressed"], json!([confirmed, reopened]));

    let list = app.get(&mut ada, &format!("{url}?state=all")).await.json();
    for id in [&confirmed, &reopened] {
        let t = by_id(&list, id);
        assert_eq!(t["state"], "open");
        assert_eq!(t["addressed_in"], 2);
        assert_eq!(t["awaiting_confirmation"], 2);
        assert_eq!(t["waiting_for"]["login"], "quinn");
    }
    let t = by_id(&list, &unanswered);
    assert_eq!(t["awaiting_confirmation"], Value::Null);
    assert_eq!(t["waiting_for"], Value::Null);

    // Now the two wait on quinn; only the unanswered one still waits on ada.
    let dash = app.get(&mut quinn, "/dashboard").await.body;
    let confirm = dash
        .split("dash-waiting-confirm")
        .nth(1)
        .unwrap_or_else(|| panic!("{dash}"));
    for id in [&confirmed, &reopened] {
        assert!(confirm.contains(&format!("data-thread=\"{id}\"")), "{dash}");
    }
    assert!(confirm.contains("addressed in v2"), "{dash}");
    let dash = app.get(&mut ada, "/dashboard").await.body;
    let answer = dash.split("dash-waiting-answer").nth(1).unwrap();
    assert!(answer.contains(&format!("data-thread=\"{unanswered}\"")));
    assert!(!answer.contains(&format!("data-thread=\"{confirmed}\"")));
    assert!(!answer.contains(&format!("data-thread=\"{reopened}\"")));

    // addressed → confirmed: quinn resolves; the record of what answered it stays.
    let res = app
        .send(
            &mut quinn,
            Method::PATCH,
            &format!("/api/comments/{confirmed}"),
            None,
            Some(json!({"resolved": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let t = res.json();
    assert_eq!(
        (&t["state"], &t["addressed_in"], &t["awaiting_confirmation"]),
        (&json!("resolved"), &json!(2), &Value::Null)
    );

    // addressed → reopened: quinn says it was not; open again, not addressed, waiting on ada.
    let res = app
        .send(
            &mut quinn,
            Method::PATCH,
            &format!("/api/comments/{reopened}"),
            None,
            Some(json!({"resolved": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let t = res.json();
    assert_eq!(
        (&t["state"], &t["addressed_in"], &t["awaiting_confirmation"]),
        (&json!("open"), &Value::Null, &Value::Null)
    );
    let dash = app.get(&mut quinn, "/dashboard").await.body;
    assert!(!dash.contains("dash-waiting"), "{dash}");
    let dash = app.get(&mut ada, "/dashboard").await.body;
    let answer = dash.split("dash-waiting-answer").nth(1).unwrap();
    assert!(answer.contains(&format!("data-thread=\"{reopened}\"")));
    assert!(!answer.contains(&format!("data-thread=\"{confirmed}\"")));

    // Both were audited.
    let audit = app
        .get(&mut quinn, "/api/audit?action=comment.reopened")
        .await
        .json();
    assert!(audit.to_string().contains(&reopened), "{audit}");
}
