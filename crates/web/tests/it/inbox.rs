//! The inbox through the API: a mention reaches the person mentioned (and shows as a mention),
//! a mention of someone who may not see a private plan does not (and stays plain text), the
//! bell's list and count, marking read one's own only, following and muting, mention candidates.

use actix_web::http::{Method, StatusCode};
use planpush_plans::Visibility;
use planpush_roles::Role;
use serde_json::{Value, json};

use crate::harness::{Mode, plan, test_app};

fn ids(page: &Value) -> Vec<String> {
    page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn mentions_reach_the_inbox_and_only_its_owner_reads_or_marks_it() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let (mut carol, _) = app.user_with("carol", &[Role::Qa]).await;
    let p = plan(&app.ports, ada_id, "auth", Visibility::Published).await;
    let comments = format!("/api/sessions/{}/comments", p.id());

    let res = app
        .send(
            &mut bob,
            Method::POST,
            &comments,
            None,
            Some(json!({"body": "@carol can you check? cc @nobody", "anchor": "flow"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let thread = res.json();
    assert_eq!(thread["mentions"], json!(["carol"]));

    // carol: one unread mention, linked to the comment.
    let page = app.get(&mut carol, "/api/notifications").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = page.json();
    assert_eq!(page["unread"], 1);
    let n = &page["notifications"][0];
    assert_eq!(n["kind"], "mention");
    assert_eq!(n["actor"], "bob");
    assert_eq!(n["name"], "auth");
    assert_eq!(n["title"], "Plan auth");
    assert_eq!(n["read"], false);
    assert_eq!(n["comment_id"], thread["id"]);
    assert_eq!(
        n["link"],
        format!("/p/auth#comment-{}", thread["id"].as_str().unwrap())
    );
    assert_eq!(n["excerpt"], "@carol can you check? cc @nobody");
    let carols = n["id"].as_str().unwrap().to_owned();

    // ada (the owner) hears of the new thread; bob (the actor) of nothing.
    let ada_page = app.get(&mut ada, "/api/notifications").await.json();
    assert_eq!(ada_page["notifications"][0]["kind"], "comment");
    let adas = ada_page["notifications"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&mut bob, "/api/notifications").await.json()["unread"],
        0
    );

    // bob cannot see or mark carol's: his list is empty and marking her id changes nothing.
    let res = app
        .send(
            &mut bob,
            Method::POST,
            "/api/notifications/read",
            None,
            Some(json!({"ids": [carols]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["unread"], 0);
    assert_eq!(
        app.get(&mut carol, "/api/notifications?unread=true")
            .await
            .json()["unread"],
        1
    );
    let res = app
        .send(
            &mut bob,
            Method::POST,
            "/api/notifications/read",
            None,
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        app.get(&mut ada, "/api/notifications").await.json()["unread"],
        1
    );

    // carol marks hers read; the unread filter then shows nothing.
    let res = app
        .send(
            &mut carol,
            Method::POST,
            "/api/notifications/read",
            None,
            Some(json!({"ids": [carols, adas]})),
        )
        .await;
    assert_eq!(res.json()["unread"], 0);
    assert!(
        ids(&app
            .get(&mut carol, "/api/notifications?unread=true")
            .await
            .json())
        .is_empty()
    );
    assert_eq!(
        app.get(&mut carol, "/api/notifications").await.json()["notifications"][0]["read"],
        true
    );
    assert_eq!(
        app.get(&mut ada, "/api/notifications").await.json()["unread"],
        1,
        "carol's request did not mark ada's"
    );

    // Bad input is a clear 400.
    for body in [json!({}), json!({"ids": ["nope"]})] {
        let res = app
            .send(
                &mut carol,
                Method::POST,
                "/api/notifications/read",
                None,
                Some(body),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    }
    let res = app
        .get(&mut carol, "/api/notifications?cursor=garbage")
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_cursor");
}

#[actix_web::test]
async fn a_mention_of_someone_who_cannot_see_a_private_plan_does_not_leak_it() {
    let app = test_app(Mode::Dev).await;
    let (_, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let (mut pm, _) = app.user_with("pm", &[Role::ProjectManager]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let p = plan(&app.ports, ada_id, "secret", Visibility::Private).await;
    let res = app
        .send(
            &mut pm,
            Method::POST,
            &format!("/api/sessions/{}/comments", p.id()),
            None,
            Some(json!({"body": "@bob have a look", "anchor": "flow"})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "the comment saves: {}",
        res.body
    );
    assert_eq!(
        res.json()["mentions"],
        json!([]),
        "the mention stays plain text"
    );
    let page = app.get(&mut bob, "/api/notifications").await.json();
    assert_eq!(page["unread"], 0);
    assert!(ids(&page).is_empty());
    // Nor do the members of the plan list him.
    let members = app
        .get(&mut pm, &format!("/api/sessions/{}/members", p.id()))
        .await
        .json();
    let logins: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["login"].as_str().unwrap())
        .collect();
    assert!(
        logins.contains(&"ada") && logins.contains(&"pm"),
        "{logins:?}"
    );
    assert!(!logins.contains(&"bob"), "{logins:?}");
}

#[actix_web::test]
async fn follow_and_mute_a_plan() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let p = plan(&app.ports, ada_id, "auth", Visibility::Published).await;
    let url = format!("/api/sessions/{}/subscription", p.id());
    assert_eq!(
        app.get(&mut ada, &url).await.json(),
        json!({"state": "none", "following": true, "reason": "owner"})
    );
    assert_eq!(
        app.get(&mut bob, &url).await.json(),
        json!({"state": "none", "following": false, "reason": "none"})
    );
    let res = app
        .send(
            &mut bob,
            Method::PUT,
            &url,
            None,
            Some(json!({"state": "following"})),
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"state": "following", "following": true, "reason": "following"})
    );
    let res = app
        .send(
            &mut ada,
            Method::PUT,
            &url,
            None,
            Some(json!({"state": "muted"})),
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"state": "muted", "following": false, "reason": "muted"})
    );
    // Muted: bob's comment mentioning ada tells her nothing.
    app.send(
        &mut bob,
        Method::POST,
        &format!("/api/sessions/{}/comments", p.id()),
        None,
        Some(json!({"body": "@ada ping", "anchor": "flow"})),
    )
    .await;
    assert_eq!(
        app.get(&mut ada, "/api/notifications").await.json()["unread"],
        0
    );
    let res = app
        .send(
            &mut ada,
            Method::PUT,
            &url,
            None,
            Some(json!({"state": "loud"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = app
        .send(
            &mut ada,
            Method::PUT,
            &url,
            None,
            Some(json!({"state": "none"})),
        )
        .await;
    assert_eq!(res.json()["reason"], "owner");
}

#[actix_web::test]
async fn pages_of_notifications_follow_the_cursor() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let p = plan(&app.ports, ada_id, "auth", Visibility::Published).await;
    for i in 0..5 {
        let res = app
            .send(
                &mut bob,
                Method::POST,
                &format!("/api/sessions/{}/comments", p.id()),
                None,
                Some(json!({"body": format!("note {i}"), "anchor": "flow"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let first = app.get(&mut ada, "/api/notifications?limit=2").await.json();
    assert_eq!(first["unread"], 5);
    let mut seen = ids(&first);
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = app
            .get(&mut ada, &format!("/api/notifications?limit=2&cursor={c}"))
            .await
            .json();
        seen.extend(ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);
}
