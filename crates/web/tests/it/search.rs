//! `GET /api/search` over the fakes: visibility exactly as the pages (a private plan's words are
//! never found by others; its owner and admins/PMs find them), archived and deleted plans,
//! HTML-safe snippets that link to the section or the comment, bad queries.

use actix_web::http::{Method, StatusCode, header};
use planpush_roles::Role;
use serde_json::{Value, json};

use crate::harness::{Browser, Mode, test_app};

fn push_req(token: &str, name: &str, body: &str, private: bool) -> actix_http::Request {
    let mut req = actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", name));
    if private {
        req = req.insert_header(("x-visibility", "private"));
    }
    req.set_payload(body.to_owned()).to_request()
}

/// `(name, kind, anchor)` of every result.
fn found(res: &Value) -> Vec<(String, String, Option<String>)> {
    let mut v: Vec<_> = res["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{res}"))
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
                r["anchor"].as_str().map(str::to_owned),
            )
        })
        .collect();
    v.sort();
    v
}

fn hit(name: &str, kind: &str, anchor: Option<&str>) -> (String, String, Option<String>) {
    (name.into(), kind.into(), anchor.map(str::to_owned))
}

#[actix_web::test]
async fn search_finds_only_what_the_caller_may_see() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let (mut pam, _) = app.user_with("pam", &[Role::ProjectManager]).await;
    let (mut quinn, _) = app.user_with("quinn", &[Role::Qa]).await;
    let token = app.token(&mut ada).await;
    let open = app
        .call(
            &mut Browser::default(),
            push_req(&token, "open", "# Launch plan\n\nWhy we launch.\n\n## Rollout\n\nCanary first, then the <b>whole</b> fleet.\n\n## Risks\n\nThe pager.\n", false),
        )
        .await
        .json();
    let hush = app
        .call(
            &mut Browser::default(),
            push_req(
                &token,
                "hush",
                "# Hush\n\n## Secret merger\n\nCanary codename quokka.\n",
                true,
            ),
        )
        .await
        .json();
    let open_id = open["session_id"].as_str().unwrap().to_owned();
    let comment = app
        .send(
            &mut quinn,
            Method::POST,
            &format!("/api/sessions/{open_id}/comments"),
            None,
            Some(json!({"body": "Is the canary <script>alert(1)</script> & ready?", "anchor": "rollout"})),
        )
        .await
        .json();

    let search = |q: &str| format!("/api/search?q={}", urlencode(q));
    // Everyone finds the published plan's section and comment; only the owner and a PM the
    // private one.
    let canary = app.get(&mut bob, &search("canary")).await;
    assert_eq!(canary.status, StatusCode::OK, "{}", canary.body);
    assert_eq!(
        found(&canary.json()),
        [
            hit("open", "comment", Some("rollout")),
            hit("open", "section", Some("rollout"))
        ]
    );
    for who in [&mut bob, &mut quinn] {
        let res = app.get(who, &search("quokka")).await.json();
        assert!(found(&res).is_empty(), "a private plan's words: {res}");
        let res = app.get(who, &search("secret merger")).await.json();
        assert!(found(&res).is_empty(), "{res}");
    }
    for who in [&mut ada, &mut pam] {
        let res = app.get(who, &search("quok")).await.json();
        assert_eq!(
            found(&res),
            [hit("hush", "section", Some("secret-merger"))],
            "{res}"
        );
        assert_eq!(res["results"][0]["visibility"], "private");
    }

    // Snippets: escaped, then marked; links to the section and to the comment's thread.
    let res = app.get(&mut bob, &search("canary")).await.json();
    let results = res["results"].as_array().unwrap();
    let c = results.iter().find(|r| r["kind"] == "comment").unwrap();
    assert_eq!(
        c["snippet_html"],
        "Is the <mark>canary</mark> &lt;script&gt;alert(1)&lt;/script&gt; &amp; ready?"
    );
    assert_eq!(
        c["path"],
        format!(
            "/p/open?comment={}#rollout",
            comment["id"].as_str().unwrap()
        )
    );
    assert_eq!(c["comment_id"], comment["id"]);
    let s = results.iter().find(|r| r["kind"] == "section").unwrap();
    assert_eq!(s["path"], "/p/open#rollout");
    assert_eq!(s["title"], "Rollout");
    assert_eq!(s["plan_title"], "Launch plan");
    assert!(s["url"].as_str().unwrap().ends_with("/p/open#rollout"));
    assert_eq!(
        s["snippet_html"],
        "Rollout <mark>Canary</mark> first, then the whole fleet."
    );
    // Titles: the plan itself.
    let res = app.get(&mut bob, &search("launch")).await.json();
    assert_eq!(found(&res)[0], hit("open", "plan", None));
    assert_eq!(res["results"][0]["path"], "/p/open");

    // Archived: only with archived=true. Deleted: never.
    let archive = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/sessions/{open_id}/archive"),
            None,
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(archive.status, StatusCode::OK, "{}", archive.body);
    assert!(found(&app.get(&mut bob, &search("canary")).await.json()).is_empty());
    let res = app
        .get(&mut bob, &format!("{}&archived=true", search("canary")))
        .await
        .json();
    assert_eq!(found(&res).len(), 2, "{res}");
    assert_eq!(res["results"][0]["archived"], true);
    let mut root = Browser::default();
    app.dev_sign_in(&mut root, "root").await;
    let hush_id = hush["session_id"].as_str().unwrap();
    let del = app
        .send(
            &mut root,
            Method::DELETE,
            &format!("/api/sessions/{hush_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.body);
    for who in [&mut ada, &mut pam, &mut root] {
        let res = app
            .get(who, &format!("{}&archived=true", search("quokka")))
            .await
            .json();
        assert!(found(&res).is_empty(), "a deleted plan: {res}");
    }

    // Bad queries and anonymous callers.
    let res = app.get(&mut bob, "/api/search?q=%20-%20").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "empty_query");
    let res = app.get(&mut bob, "/api/search").await;
    assert_eq!(res.json()["error"], "empty_query");
    let res = app.get(&mut bob, &search("a b c d e f g h i")).await;
    assert_eq!(res.json()["error"], "query_too_long");
    assert_eq!(
        app.get(&mut Browser::default(), &search("canary"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
