//! Plan pages and the lifecycle API, and the plan rows of the authorization matrix: every route ×
//! role × owner/non-owner × private/published, expected status generated from the matrix.

use actix_web::http::{Method, StatusCode, header};
use chrono::Utc;
use planpush_plans::Visibility;
use planpush_roles::{Capability, Ownership, Role, allowed};

use crate::harness::{Browser, Mode, plan, test_app};

#[actix_web::test]
async fn the_plan_page_its_versions_and_its_headers() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let push = |body: &'static str| {
        actix_web::test::TestRequest::post()
            .uri("/api/push")
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .insert_header((header::CONTENT_TYPE, "text/markdown"))
            .insert_header(("x-session-name", "auth-redesign"))
            .set_payload(body)
            .to_request()
    };
    app.call(
        &mut Browser::default(),
        push("# Auth & <b>Sessions</b>\n\n## Flow\n\nv1 text <script>alert(1)</script>\n"),
    )
    .await;
    app.call(
        &mut Browser::default(),
        push("# Auth & <b>Sessions</b>\n\n## Flow\n\nv2 text\n"),
    )
    .await;

    let res = app.get(&mut ada, "/p/auth-redesign").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.body.contains("v2 text") && res.body.contains("· v2"),
        "{}",
        res.body
    );
    assert!(
        res.body.contains("<h1>Auth &amp; Sessions</h1>") && !res.body.contains("&amp;amp;"),
        "the title is text, escaped exactly once: {}",
        res.body
    );
    let csp = res
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for d in [
        "default-src 'none'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(d), "{d} missing from {csp}");
    }
    let scripts: Vec<&str> = res.body.split("<script").skip(1).collect();
    assert!(
        !scripts.is_empty()
            && scripts
                .iter()
                .all(|s| (s.starts_with(" src=\"/assets/plan.")
                    || s.starts_with(" src=\"/assets/inbox."))
                    && s.contains("></script>")),
        "only our own external script: {scripts:?}"
    );
    assert!(
        !res.body.contains("alert(1)"),
        "the author's script is gone"
    );
    let css = res
        .body
        .split("href=\"/assets/plan.")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let asset = app
        .get(&mut Browser::default(), &format!("/assets/plan.{css}"))
        .await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(
        asset
            .headers
            .get(header::CACHE_CONTROL)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    // Subresource Integrity: the script tag names the hash of exactly the bytes served.
    let script = scripts[0];
    let src = script
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let integrity = script
        .split("integrity=\"")
        .nth(1)
        .expect("an integrity attribute")
        .split('"')
        .next()
        .unwrap();
    let js = app.get(&mut Browser::default(), src).await;
    assert_eq!(js.status, StatusCode::OK);
    use base64::Engine;
    use sha2::Digest;
    let want = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&js.bytes))
    );
    assert_eq!(integrity, want);
    assert_eq!(
        app.get(&mut Browser::default(), "/assets/plan.0000.css")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let old = app.get(&mut ada, "/p/auth-redesign?v=1").await;
    assert!(
        old.body.contains("You are viewing version 1 of 2")
            && old.body.contains("v1 text")
            && !old.body.contains("alert(1)"),
        "{}",
        old.body
    );
    assert_eq!(
        app.get(&mut ada, "/p/auth-redesign?v=9").await.status,
        StatusCode::NOT_FOUND
    );
    let anon = app.get(&mut Browser::default(), "/p/auth-redesign").await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(
        anon.location()
            .starts_with("/auth/login?redirect_to=%2Fp%2Fauth-redesign")
    );
    let _ = ada_id;
}

#[actix_web::test]
async fn lifecycle_publish_archive_delete() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let (mut boss, _) = app.user_with("boss", &[Role::Admin]).await;
    let p = plan(&app.ports, ada_id, "secret", Visibility::Private).await;
    let id = p.id().to_string();

    let list = app.get(&mut ada, "/api/sessions").await.json();
    assert_eq!(list["sessions"][0]["name"], "secret");
    let res = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{id}/publish"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.json()["visibility"].as_str()),
        (StatusCode::OK, Some("published"))
    );
    let res = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/sessions/{id}/archive"),
            None,
            Some(serde_json::json!({"archived": true})),
        )
        .await;
    assert_eq!(res.json()["archived"], true);
    assert!(
        app.get(&mut ada, "/api/sessions").await.json()["sessions"]
            .as_array()
            .unwrap()
            .is_empty(),
        "archived plans are hidden by default"
    );
    assert_eq!(
        app.get(&mut ada, "/api/sessions?archived=true")
            .await
            .json()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.send(
        &mut ada,
        Method::PATCH,
        &format!("/api/sessions/{id}/archive"),
        None,
        Some(serde_json::json!({"archived": false})),
    )
    .await;
    let info = app
        .get(&mut ada, &format!("/api/sessions/{id}"))
        .await
        .json();
    assert_eq!(
        (
            info["versions"][0]["version"].clone(),
            info["open_comments"].clone()
        ),
        (serde_json::json!(1), serde_json::json!(0))
    );

    assert_eq!(
        app.send(
            &mut ada,
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            None,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(
            &mut boss,
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&mut ada, "/p/secret").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&mut ada, &format!("/api/sessions/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    plan(&app.ports, ada_id, "secret", Visibility::Published).await;
    assert_eq!(
        app.get(&mut ada, "/p/secret").await.status,
        StatusCode::OK,
        "a deleted plan's name is free again"
    );
}

struct PlanRoute {
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
    /// `None`: seeing the plan is enough.
    needs: Option<Capability>,
    ok: StatusCode,
}

const PLAN_ROUTES: &[PlanRoute] = &[
    PlanRoute {
        method: Method::GET,
        path: "/p/{slug}",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::GET,
        path: "/p/{slug}?v=1",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::GET,
        path: "/p/{slug}/events",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::GET,
        path: "/api/sessions/{id}",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::POST,
        path: "/api/sessions/{id}/publish",
        body: None,
        needs: Some(Capability::PublishArchive),
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::PATCH,
        path: "/api/sessions/{id}/archive",
        body: Some(r#"{"archived":true}"#),
        needs: Some(Capability::PublishArchive),
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::DELETE,
        path: "/api/sessions/{id}",
        body: None,
        needs: Some(Capability::DeletePlans),
        ok: StatusCode::NO_CONTENT,
    },
    PlanRoute {
        method: Method::GET,
        path: "/api/sessions/{id}/comments?state=all",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::POST,
        path: "/api/sessions/{id}/comments",
        body: Some(r#"{"body":"looks good","anchor":"flow"}"#),
        needs: Some(Capability::Comment),
        ok: StatusCode::CREATED,
    },
    PlanRoute {
        method: Method::POST,
        path: "/api/sessions/{id}/comments",
        body: Some(r#"{"body":"a reply","parent_id":"{comment}"}"#),
        needs: Some(Capability::Comment),
        ok: StatusCode::CREATED,
    },
    PlanRoute {
        method: Method::PATCH,
        path: "/api/comments/{comment}",
        body: Some(r#"{"resolved":true}"#),
        needs: Some(Capability::Comment),
        ok: StatusCode::OK,
    },
    // Sign-off: whoever sees the plan reads it; whoever may publish it requests reviews; a
    // reviewer who was asked (the caller is, in every case) gives a verdict.
    PlanRoute {
        method: Method::GET,
        path: "/api/sessions/{id}/reviews",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::POST,
        path: "/api/sessions/{id}/reviews",
        body: Some(r#"{"reviewers":["caller"]}"#),
        needs: Some(Capability::PublishArchive),
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::POST,
        path: "/api/sessions/{id}/reviews/verdict",
        body: Some(r#"{"verdict":"approved"}"#),
        needs: None,
        ok: StatusCode::OK,
    },
    // Presence: whoever sees the plan sees who reads it; nobody else learns anything.
    PlanRoute {
        method: Method::GET,
        path: "/api/sessions/{id}/presence",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    // Following and muting, and whom a comment can mention: whoever sees the plan.
    PlanRoute {
        method: Method::GET,
        path: "/api/sessions/{id}/subscription",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::PUT,
        path: "/api/sessions/{id}/subscription",
        body: Some(r#"{"state":"muted"}"#),
        needs: None,
        ok: StatusCode::OK,
    },
    PlanRoute {
        method: Method::GET,
        path: "/api/sessions/{id}/members",
        body: None,
        needs: None,
        ok: StatusCode::OK,
    },
];

#[actix_web::test]
async fn plan_routes_for_every_role_owner_and_visibility() {
    let mut failures = vec![];
    for role in [Role::Admin, Role::ProjectManager, Role::Developer, Role::Qa] {
        for own in [Ownership::Own, Ownership::Others] {
            for vis in [Visibility::Private, Visibility::Published] {
                for route in PLAN_ROUTES {
                    let app = test_app(Mode::Dev).await;
                    let (_, other) = app.user_with("other", &[Role::Developer]).await;
                    let (mut b, me) = app.user_with("caller", &[role]).await;
                    let owner = if own == Ownership::Own { me } else { other };
                    let p = plan(&app.ports, owner, "target", vis).await;
                    // Someone else's thread on the plan.
                    let thread = planpush_comments::Comment::thread(
                        p.id(),
                        other,
                        planpush_versions::VersionNumber::FIRST,
                        planpush_versions::AnchorId::parse("flow").unwrap(),
                        None,
                        planpush_comments::CommentBody::parse("a thread").unwrap(),
                        Utc::now(),
                    );
                    app.ports.comments.insert(&thread, &[]).await.unwrap();
                    // The caller was asked to review it.
                    app.ports
                        .reviews
                        .request(&planpush_reviews::Review::request(
                            p.id(),
                            me,
                            owner,
                            1,
                            vec![],
                            Utc::now(),
                        ))
                        .await
                        .unwrap();
                    let fill = |s: &str| {
                        s.replace("{slug}", "target")
                            .replace("{id}", &p.id().to_string())
                            .replace("{comment}", &thread.id().to_string())
                    };
                    let path = fill(route.path);
                    let visible = vis == Visibility::Published
                        || own == Ownership::Own
                        || allowed(&[role], Capability::ViewOthersPrivate, Ownership::Others);
                    if path.ends_with("/events") {
                        // A live stream never ends: only its status is read.
                        let req = actix_web::test::TestRequest::get()
                            .uri(&path)
                            .peer_addr(b.ip)
                            .insert_header((header::COOKIE, b.cookie.clone().unwrap()))
                            .to_request();
                        let status = actix_web::test::call_service(&app.service, req)
                            .await
                            .status();
                        let want = if visible {
                            route.ok
                        } else {
                            StatusCode::NOT_FOUND
                        };
                        if status != want {
                            failures.push(format!(
                                "GET {path} as {role:?} {own:?} {vis:?}: got {status} want {want}"
                            ));
                        }
                        continue;
                    }
                    let res = app
                        .send(
                            &mut b,
                            route.method.clone(),
                            &path,
                            None,
                            route.body.map(|s| serde_json::from_str(&fill(s)).unwrap()),
                        )
                        .await;
                    let want = match route.needs {
                        _ if !visible => StatusCode::NOT_FOUND,
                        None => route.ok,
                        Some(cap) if allowed(&[role], cap, own) => route.ok,
                        Some(_) => StatusCode::FORBIDDEN,
                    };
                    if res.status != want {
                        failures.push(format!(
                            "{} {} as {role:?} {own:?} {vis:?}: got {} want {want}",
                            route.method, route.path, res.status
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A plan page lists the newest versions and reads only those (its render does not grow with the
/// plan's age); an older version, its diff and `/history` still show what they did.
#[actix_web::test]
async fn a_long_history_in_the_page_and_on_its_own_page() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    for n in 1..=25 {
        let req = actix_web::test::TestRequest::post()
            .uri("/api/push")
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .insert_header((header::CONTENT_TYPE, "text/markdown"))
            .insert_header(("x-session-name", "long"))
            .set_payload(format!("# Long\n\n## Part\n\nversion {n}\n"))
            .to_request();
        app.call(&mut Browser::default(), req).await;
    }
    let listed = |body: &str, n: u32| body.contains(&format!("<li value=\"{n}\">"));
    let page = app.get(&mut ada, "/p/long").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        (6..=25).all(|n| listed(&page.body, n)) && !listed(&page.body, 5),
        "the newest 20: {}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"href="/p/long/history">All 25 versions</a>"#)
            && page
                .body
                .contains(r#"href="/p/long?v=6&amp;diff=5">what changed</a>"#),
        "{}",
        page.body
    );
    // An older version than the page lists: who pushed it and when.
    let old = app.get(&mut ada, "/p/long?v=2").await;
    assert_eq!(old.status, StatusCode::OK);
    assert!(
        old.body.contains("version 2")
            && old
                .body
                .contains("Pushed by <strong>ada</strong> · <time datetime=")
            && old.body.contains("· v2"),
        "{}",
        old.body
    );
    assert_eq!(
        app.get(&mut ada, "/p/long?v=26").await.status,
        StatusCode::NOT_FOUND
    );
    // A diff of an old pair offers that pair in its picker.
    let diff = app.get(&mut ada, "/p/long?v=25&diff=2").await;
    assert_eq!(diff.status, StatusCode::OK);
    assert!(
        diff.body
            .contains(r#"<option value="2" selected>v2</option>"#),
        "{}",
        diff.body
    );
    let all = app.get(&mut ada, "/p/long/history").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(
        (1..=25).all(|n| listed(&all.body, n)) && all.body.contains("25 versions ·"),
        "{}",
        all.body
    );
}

#[actix_web::test]
async fn diff_between_two_versions() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    for body in [
        "# D\n\n## Keep\n\nsame\n\n## Edit\n\nold words\n\n## Drop\n\nbye\n",
        "# D\n\n## Keep\n\nsame\n\n## Edit\n\nnew words\n\n## Fresh\n\nhello\n",
    ] {
        let req = actix_web::test::TestRequest::post()
            .uri("/api/push")
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .insert_header((header::CONTENT_TYPE, "text/markdown"))
            .insert_header(("x-session-name", "d"))
            .set_payload(body)
            .to_request();
        app.call(&mut Browser::default(), req).await;
    }
    let res = app.get(&mut ada, "/p/d?v=2&diff=1").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    for (anchor, label) in [
        ("keep", "Unchanged"),
        ("edit", "Changed"),
        ("drop", "Removed"),
        ("fresh", "Added"),
    ] {
        let row = res
            .body
            .split(&format!("data-diff-anchor=\"{anchor}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("{anchor} missing"));
        let row = row.split("</section>").next().unwrap();
        assert!(row.contains(label), "{anchor}: {row}");
    }
    assert!(res.body.contains("old words") && res.body.contains("new words"));
    // Inside the changed section the words themselves are marked, and a summary leads the page.
    assert!(
        res.body.contains(
            r#"<p><del class="pp-del">old</del> <ins class="pp-ins">new</ins> words</p>"#
        ),
        "{}",
        res.body
    );
    assert!(
        res.body
            .contains("Sections: 1 added, 1 changed (+1 −1 words), 1 removed."),
        "{}",
        res.body
    );
    assert!(res.body.contains(r##"href="#pp-diff-edit""##));
    // Any two versions can be picked from here (and from the history panel of the page).
    assert!(
        res.body
            .contains(r#"<form class="pp-compare" method="get" action="/p/d">"#)
    );
    let page = app.get(&mut ada, "/p/d").await;
    assert!(
        page.body
            .contains(r#"by <span class="pp-pusher">ada</span>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"href="/p/d?v=2&amp;diff=1">what changed</a>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<select id="pp-compare-from" name="diff">"#)
    );
    assert_eq!(
        app.get(&mut ada, "/p/d?diff=1").await.status,
        StatusCode::OK,
        "diff against the latest"
    );
    assert_eq!(
        app.get(&mut ada, "/p/d?v=2&diff=7").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn the_latest_page_is_served_from_memory_yet_always_current_and_checked() {
    use std::io::Read;
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let push = |body: &'static str, private: bool| {
        let mut req = actix_web::test::TestRequest::post()
            .uri("/api/push")
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .insert_header((header::CONTENT_TYPE, "text/markdown"))
            .insert_header(("x-session-name", "cached"));
        if private {
            req = req.insert_header(("x-visibility", "private"));
        }
        req.set_payload(body).to_request()
    };
    let get = |enc: Option<&str>, etag: Option<&str>| {
        let mut req = actix_web::test::TestRequest::get().uri("/p/cached");
        if let Some(e) = enc {
            req = req.insert_header((header::ACCEPT_ENCODING, e.to_owned()));
        }
        if let Some(t) = etag {
            req = req.insert_header((header::IF_NONE_MATCH, t.to_owned()));
        }
        req
    };
    let with = |b: &Browser, r: actix_web::test::TestRequest| {
        r.insert_header((header::COOKIE, b.cookie.clone().unwrap()))
            .to_request()
    };
    let first = app
        .call(
            &mut Browser::default(),
            push("# Cached\n\n## Flow\n\nv1 text\n", true),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);

    // The owner reads (and so fills the cache); another developer still may not see it.
    let page = app
        .call(&mut Browser::default(), with(&ada, get(None, None)))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("v1 text"));
    let hidden = app
        .call(&mut Browser::default(), with(&bob, get(None, None)))
        .await;
    assert_eq!(
        hidden.status,
        StatusCode::NOT_FOUND,
        "a cached page is still checked"
    );

    // A new version is served at once.
    app.call(
        &mut Browser::default(),
        push("# Cached\n\n## Flow\n\nv2 text\n", false),
    )
    .await;
    let page = app
        .call(&mut Browser::default(), with(&ada, get(None, None)))
        .await;
    assert!(
        page.body.contains("v2 text") && !page.body.contains("v1 text"),
        "{}",
        page.body
    );
    assert_eq!(
        page.headers.get(header::CONTENT_ENCODING).unwrap(),
        "identity"
    );

    // Publishing shows it to others at once.
    let id = first.json()["session_id"].as_str().unwrap().to_owned();
    let published = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{id}/publish"),
            None,
            None,
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.body);
    let seen = app
        .call(&mut Browser::default(), with(&bob, get(None, None)))
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(
        seen.body,
        app.call(&mut Browser::default(), with(&ada, get(None, None)))
            .await
            .body,
        "the page holds nothing of its reader"
    );

    // Validators and content codings.
    let etag = seen
        .headers
        .get(header::ETAG)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let again = app
        .call(&mut Browser::default(), with(&bob, get(None, Some(&etag))))
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // The page is compressed right after its render, off the request path (gzip, then brotli):
    // until then a reader who accepts them gets the same page uncompressed, and is told so.
    let mut br = None;
    for _ in 0..200 {
        let r = app
            .call(
                &mut Browser::default(),
                with(&bob, get(Some("gzip, br"), None)),
            )
            .await;
        if r.headers.get(header::CONTENT_ENCODING).unwrap() == "br" {
            br = Some(r);
            break;
        }
        if r.headers.get(header::CONTENT_ENCODING).unwrap() == "identity" {
            assert_eq!(r.body, seen.body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let br = br.expect("the page is compressed within two seconds");
    let gz = app
        .call(
            &mut Browser::default(),
            with(&bob, get(Some("gzip, deflate"), None)),
        )
        .await;
    assert_eq!(gz.headers.get(header::CONTENT_ENCODING).unwrap(), "gzip");
    assert_eq!(gz.headers.get(header::VARY).unwrap(), "Accept-Encoding");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz.bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, seen.body);
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &br.bytes[..], &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), seen.body);
    assert!(br.headers.get(header::CONTENT_SECURITY_POLICY).is_some());
}
