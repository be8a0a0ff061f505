//! `POST /api/push` over HTTP: formats, headers, errors and the response contract.

use actix_web::http::{StatusCode, header};
use actix_web::test;
use planpush_roles::Role;

use crate::harness::{Browser, Mode, test_app};

const DOC: &str = "# Auth Service Redesign\n\n## Authentication Flow\n\nClient → Gateway\n\n## Key Decisions\n\n- JWT\n";

fn push_req(
    token: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> actix_http::Request {
    let mut req = test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, content_type.to_owned()))
        .set_payload(body.to_owned());
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    req.to_request()
}

#[actix_web::test]
async fn push_create_update_and_errors() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let mut cli = Browser::default();

    let res = app
        .call(
            &mut cli,
            push_req(
                &token,
                "text/markdown",
                DOC,
                &[("x-session-name", "auth-redesign")],
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let body = res.json();
    assert_eq!(
        body["url"],
        format!("{}/p/auth-redesign", crate::harness::BASE)
    );
    assert_eq!(body["version"], 1);
    assert_eq!(
        body["changes"]["added"],
        serde_json::json!(["authentication-flow", "key-decisions"])
    );
    let id = body["session_id"].as_str().unwrap().to_owned();

    let edited = DOC.replace("- JWT", "- JWT + refresh");
    let res = app
        .call(
            &mut cli,
            push_req(
                &token,
                "text/plain",
                &edited,
                &[("x-session-id", &id), ("x-content-format", "markdown")],
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        (
            res.json()["version"].clone(),
            res.json()["changes"]["changed"].clone()
        ),
        (serde_json::json!(2), serde_json::json!(["key-decisions"]))
    );

    let same = app
        .call(
            &mut cli,
            push_req(&token, "text/markdown", &edited, &[("x-session-id", &id)]),
        )
        .await
        .json();
    assert_eq!(
        (same["version"].clone(), same["created_version"].clone()),
        (serde_json::json!(2), serde_json::json!(false))
    );

    let private = app
        .call(
            &mut cli,
            push_req(
                &token,
                "text/html",
                "<h1>Secret plan</h1>",
                &[("x-visibility", "private")],
            ),
        )
        .await
        .json();
    assert_eq!(
        (private["name"].as_str(), private["visibility"].as_str()),
        (Some("secret-plan"), Some("private"))
    );

    // (content type, body, headers, expected status, expected error code)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        StatusCode,
        &'a str,
    );
    let cases: &[Case] = &[
        (
            "application/json",
            "{}",
            &[],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "text/plain",
            "# x",
            &[],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "text/markdown",
            "  \n",
            &[],
            StatusCode::BAD_REQUEST,
            "empty_document",
        ),
        (
            "text/markdown",
            DOC,
            &[("x-session-name", "Bad Name!")],
            StatusCode::BAD_REQUEST,
            "invalid_session_name",
        ),
        (
            "text/markdown",
            DOC,
            &[("x-session-id", "not-a-uuid")],
            StatusCode::BAD_REQUEST,
            "invalid_session_id",
        ),
        (
            "text/markdown",
            DOC,
            &[("x-session-id", "6f9619ff-8b86-d011-b42d-00cf4fc964ff")],
            StatusCode::NOT_FOUND,
            "session_not_found",
        ),
        (
            "text/markdown",
            DOC,
            &[("x-visibility", "secret")],
            StatusCode::BAD_REQUEST,
            "invalid_visibility",
        ),
    ];
    for (ct, body, headers, status, code) in cases {
        let res = app
            .call(&mut cli, push_req(&token, ct, body, headers))
            .await;
        assert_eq!(
            (res.status, res.json()["error"].as_str()),
            (*status, Some(*code)),
            "{ct} {headers:?}: {}",
            res.body
        );
    }
    let huge = "x".repeat(planpush_app::MAX_DOCUMENT_BYTES + 1);
    let res = app
        .call(&mut cli, push_req(&token, "text/markdown", &huge, &[]))
        .await;
    assert_eq!(
        (res.status, res.json()["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("document_too_large"))
    );
}

#[actix_web::test]
async fn names_taken_by_others_get_a_suggestion_and_qa_cannot_push() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let (mut qa, _) = app.user_with("qa", &[Role::Qa]).await;
    let mk = |b: &mut Browser| b.clone();
    let tok = |app_body: serde_json::Value| app_body["token"].as_str().unwrap().to_owned();
    let a = tok(app
        .send(
            &mut ada,
            actix_web::http::Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "a"})),
        )
        .await
        .json());
    let b = tok(app
        .send(
            &mut bob,
            actix_web::http::Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "b"})),
        )
        .await
        .json());
    let q = tok(app
        .send(
            &mut qa,
            actix_web::http::Method::POST,
            "/api/tokens",
            None,
            Some(serde_json::json!({"label": "q"})),
        )
        .await
        .json());
    let mut cli = mk(&mut Browser::default());
    app.call(
        &mut cli,
        push_req(&a, "text/markdown", DOC, &[("x-session-name", "auth")]),
    )
    .await;
    let res = app
        .call(
            &mut cli,
            push_req(&b, "text/markdown", DOC, &[("x-session-name", "auth")]),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(
        (
            res.json()["error"].as_str(),
            res.json()["suggestion"].as_str()
        ),
        (Some("session_name_taken"), Some("auth-2"))
    );
    let res = app
        .call(&mut cli, push_req(&q, "text/markdown", DOC, &[]))
        .await;
    assert_eq!(
        (res.status, res.json()["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let res = app
        .call(
            &mut Browser::default(),
            test::TestRequest::post()
                .uri("/api/push")
                .insert_header((header::CONTENT_TYPE, "text/markdown"))
                .set_payload(DOC)
                .to_request(),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

/// Item 5 of the security review: `X-Session-Name` must not confirm that another developer's
/// private plan exists. A hidden name answers like a free one (`201`, a plan created), under the
/// caller's own variant of the name, which later pushes under the same name update.
#[actix_web::test]
async fn a_private_plans_name_is_not_an_existence_oracle() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let (mut pm, _) = app.user_with("pm", &[Role::ProjectManager]).await;
    let (a, b, m) = (
        app.token(&mut ada).await,
        app.token(&mut bob).await,
        app.token(&mut pm).await,
    );
    let mut cli = Browser::default();
    let res = app
        .call(
            &mut cli,
            push_req(
                &a,
                "text/markdown",
                DOC,
                &[("x-session-name", "launch"), ("x-visibility", "private")],
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    let hidden = app
        .call(
            &mut cli,
            push_req(&b, "text/markdown", DOC, &[("x-session-name", "launch")]),
        )
        .await;
    let free = app
        .call(
            &mut cli,
            push_req(&b, "text/markdown", DOC, &[("x-session-name", "free-name")]),
        )
        .await;
    assert_eq!(hidden.status, StatusCode::CREATED, "{}", hidden.body);
    assert_eq!(free.status, StatusCode::CREATED, "{}", free.body);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&hidden.json()),
        keys(&free.json()),
        "same answer shape"
    );
    assert_eq!(free.json()["name"], "free-name");
    let name = hidden.json()["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("launch-") && name.len() == "launch-".len() + 6,
        "{name}"
    );
    assert!(hidden.json().get("suggestion").is_none());

    // Pushing again under the same name updates bob's plan, not a new one each time.
    let again = app
        .call(
            &mut cli,
            push_req(
                &b,
                "text/markdown",
                &DOC.replace("JWT", "PASETO"),
                &[("x-session-name", "launch")],
            ),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.json()["session_id"], hidden.json()["session_id"]);
    assert_eq!(again.json()["version"], 2);

    // Ada's plan is untouched and still hers alone.
    let page = app.get(&mut bob, "/p/launch").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);

    // Someone who can see the private plan is told the name is taken, as before.
    let res = app
        .call(
            &mut cli,
            push_req(&m, "text/markdown", DOC, &[("x-session-name", "launch")]),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert_eq!(res.json()["error"], "session_name_taken");
    assert_eq!(res.json()["suggestion"], "launch-2");
    assert!(
        res.json()["request_id"].is_string(),
        "an answer with extra fields keeps the request id: {}",
        res.body
    );
}

/// Item 8: a first heading longer than a title may be is cut, never a 500.
#[actix_web::test]
async fn a_very_long_heading_is_cut_to_a_title() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let heading = "Long ".repeat(200);
    let res = app
        .call(
            &mut Browser::default(),
            push_req(
                &token,
                "text/html",
                &format!("<h1>{heading}</h1><p>body</p>"),
                &[("x-session-name", "long-title")],
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let id = res.json()["session_id"].as_str().unwrap().to_owned();
    let info = app
        .get(&mut ada, &format!("/api/sessions/{id}"))
        .await
        .json();
    let title = info["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), planpush_plans::MAX_TITLE_CHARS);
    assert!(title.starts_with("Long Long") && title.ends_with('…'));
}

/// A push that finds the render pool full is refused at once: `503 server_busy` with
/// `Retry-After`, and nothing stored.
#[actix_web::test]
async fn a_full_render_pool_answers_503_with_retry_after() {
    let pool = planpush_app::CpuPool::new(1, 0).unwrap();
    let app = crate::harness::test_app_pooled(Mode::Dev, None, None, Some(pool.clone())).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let mut cli = Browser::default();
    // Hold the only render thread.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let holder = actix_web::rt::spawn({
        let pool = pool.clone();
        async move {
            pool.run(move || {
                started.send(()).unwrap();
                wait.recv().unwrap();
            })
            .await
        }
    });
    while running.try_recv().is_err() {
        actix_web::rt::task::yield_now().await;
    }
    let res = app
        .call(
            &mut cli,
            push_req(&token, "text/markdown", DOC, &[("x-session-name", "busy")]),
        )
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
    assert_eq!(res.json()["error"], "server_busy");
    assert_eq!(
        res.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();
    // Nothing was stored; with the pool free again (its thread back waiting for work) the same
    // push creates the plan.
    let mut res = None;
    for _ in 0..1000 {
        let r = app
            .call(
                &mut cli,
                push_req(&token, "text/markdown", DOC, &[("x-session-name", "busy")]),
            )
            .await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE {
            res = Some(r);
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let res = res.expect("the pool frees up");
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
}
