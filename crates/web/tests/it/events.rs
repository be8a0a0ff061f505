//! `GET /p/{slug}/events` (Server-Sent Events): order, reconnection with `Last-Event-ID`, gaps,
//! privacy and the end of a deleted plan's streams.

use std::pin::Pin;
use std::time::Duration;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test;
use planpush_roles::Role;
use serde_json::{Value, json};

use crate::harness::{Browser, Mode, TestApp, test_app};

const V1: &str = "# Auth\n\n## Flow\n\nThe client sends the refresh token to the gateway.\n\n## Storage\n\nRefresh tokens are stored hashed.\n";
const V2: &str = "# Auth\n\n## Flow\n\nThe client sends the refresh token to the gateway, which rotates it.\n\n## Storage\n\nRefresh tokens are stored hashed.\n\n## Rollout\n\nBehind a flag.\n";

/// One parsed SSE event.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) data: Value,
}

/// Reads events off a streaming response body.
pub(crate) struct Sse<B> {
    body: Pin<Box<B>>,
    buf: String,
}

impl<B: MessageBody> Sse<B> {
    /// The next event (keep-alives, `retry:` and `presence` skipped), or `None` when the stream
    /// ended.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            let f = self.next_any().await?;
            if f.name != "presence" {
                return Some(f);
            }
        }
    }

    /// The logins in the next `presence` event (other events skipped).
    pub(crate) async fn presence(&mut self) -> Vec<String> {
        loop {
            let f = self.next_any().await.expect("a presence event");
            if f.name == "presence" {
                return f.data["readers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["login"].as_str().unwrap().to_owned())
                    .collect();
            }
        }
    }

    /// The next event of any name.
    async fn next_any(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, None, None);
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        name = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    return Some(Frame { id, name, data });
                }
                continue;
            }
            let chunk = actix_web::rt::time::timeout(
                Duration::from_secs(5),
                std::future::poll_fn(|cx| self.body.as_mut().poll_next(cx)),
            )
            .await
            .expect("an event within 5 s");
            match chunk {
                Some(Ok(bytes)) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Some(Err(_)) => panic!("the event stream failed"),
                None => return None,
            }
        }
    }

    /// Reads events up to and including the next one named `name` (`presence` events skipped).
    pub(crate) async fn until(&mut self, name: &str) -> Vec<Frame> {
        let mut seen = vec![];
        loop {
            let f = self
                .next()
                .await
                .unwrap_or_else(|| panic!("stream ended before {name}: {seen:?}"));
            let done = f.name == name;
            seen.push(f);
            if done {
                return seen;
            }
        }
    }
}

async fn subscribe<S, B>(
    app: &TestApp<S>,
    b: &Browser,
    slug: &str,
    last_event_id: Option<&str>,
) -> (StatusCode, Option<Sse<B>>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    subscribe_as(app, b, None, slug, last_event_id).await
}

/// Opens a plan's event stream as `b` (its cookie) or with a Bearer token.
pub(crate) async fn subscribe_as<S, B>(
    app: &TestApp<S>,
    b: &Browser,
    bearer: Option<&str>,
    slug: &str,
    last_event_id: Option<&str>,
) -> (StatusCode, Option<Sse<B>>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::get()
        .uri(&format!("/p/{slug}/events"))
        .peer_addr(b.ip);
    if let Some(c) = &b.cookie {
        req = req.insert_header((header::COOKIE, c.clone()));
    }
    if let Some(t) = bearer {
        req = req.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
    }
    if let Some(id) = last_event_id {
        req = req.insert_header(("last-event-id", id));
    }
    let res = test::call_service(&app.service, req.to_request()).await;
    let status = res.status();
    if status != StatusCode::OK {
        return (status, None);
    }
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/event-stream"
    );
    assert_eq!(
        res.headers().get(header::CONTENT_ENCODING).unwrap(),
        "identity"
    );
    let sse = Sse {
        body: Box::pin(res.into_body()),
        buf: String::new(),
    };
    (status, Some(sse))
}

fn push(token: &str, name: &str, body: &str, private: bool) -> Request {
    let mut req = test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", name));
    if private {
        req = req.insert_header(("x-visibility", "private"));
    }
    req.set_payload(body.to_owned()).to_request()
}

fn names(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|f| f.name.as_str()).collect()
}

#[actix_web::test]
async fn viewers_get_versions_and_comment_activity_in_order() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut quinn, _) = app.user_with("quinn", &[Role::Qa]).await;
    let token = app.token(&mut ada).await;
    let res = app
        .call(&mut Browser::default(), push(&token, "auth", V1, false))
        .await;
    let plan = res.json()["session_id"].as_str().unwrap().to_owned();

    let (status, sse) = subscribe(&app, &quinn, "auth", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut sse = sse.unwrap();
    let ready = sse.until("ready").await;
    assert_eq!(names(&ready), ["ready"]);
    assert_eq!(ready[0].data["version"], 1);
    let start = ready[0].id.clone().unwrap();

    // A push, a comment, a reply, a resolve: in that order, with increasing ids.
    let res = app
        .call(&mut Browser::default(), push(&token, "auth", V2, false))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let url = format!("/api/sessions/{plan}/comments");
    let thread = app
        .send(
            &mut quinn,
            Method::POST,
            &url,
            None,
            Some(json!({"body": "Why rotate?", "anchor": "flow"})),
        )
        .await
        .json();
    let thread_id = thread["id"].as_str().unwrap().to_owned();
    app.send(
        &mut ada,
        Method::POST,
        &url,
        None,
        Some(json!({"body": "Theft.", "parent_id": thread_id})),
    )
    .await;
    app.send(
        &mut ada,
        Method::PATCH,
        &format!("/api/comments/{thread_id}"),
        None,
        Some(json!({"resolved": true})),
    )
    .await;

    let version = sse.next().await.unwrap();
    assert_eq!(version.name, "version");
    assert_eq!(version.data["version"], 2);
    assert_eq!(version.data["title"], "Auth");
    assert_eq!(version.data["pushed_by"]["login"], "ada");
    assert_eq!(version.data["changes"]["added"], json!(["rollout"]));
    assert_eq!(version.data["changes"]["changed"], json!(["flow"]));
    assert_eq!(version.data["changes"]["removed"], json!([]));
    // What changed in the plan's terms, one sentence each, for the banner.
    let typed = version.data["typed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        typed
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.ends_with(" added")))
            && typed
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.ends_with(": text changed"))),
        "{typed:?}"
    );
    let created = sse.next().await.unwrap();
    assert_eq!(
        (
            created.name.as_str(),
            &created.data["activity"],
            &created.data["anchor"]
        ),
        ("comment", &json!("created"), &json!("flow"))
    );
    assert_eq!(created.data["comment_id"], thread_id.as_str());
    assert_eq!(created.data["by"]["login"], "quinn");
    let replied = sse.next().await.unwrap();
    assert_eq!(replied.data["activity"], "replied");
    assert_eq!(replied.data["thread_id"], thread_id.as_str());
    let resolved = sse.next().await.unwrap();
    assert_eq!(resolved.data["activity"], "resolved");
    assert_eq!(resolved.data["by"]["login"], "ada");

    let seq = |id: &Option<String>| -> u64 {
        id.as_deref()
            .unwrap()
            .split('-')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let ids: Vec<u64> = [&version, &created, &replied, &resolved]
        .iter()
        .map(|f| seq(&f.id))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(seq(&Some(start)) < ids[0]);
}

#[actix_web::test]
async fn reconnecting_with_last_event_id_misses_nothing() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let res = app
        .call(&mut Browser::default(), push(&token, "auth", V1, false))
        .await;
    let plan = res.json()["session_id"].as_str().unwrap().to_owned();

    let (_, sse) = subscribe(&app, &ada, "auth", None).await;
    let mut sse = sse.unwrap();
    let last = sse.until("ready").await[0].id.clone().unwrap();
    drop(sse); // the connection drops

    // While disconnected: a new version and a comment.
    app.call(&mut Browser::default(), push(&token, "auth", V2, false))
        .await;
    let url = format!("/api/sessions/{plan}/comments");
    app.send(
        &mut ada,
        Method::POST,
        &url,
        None,
        Some(json!({"body": "Note", "anchor": "rollout"})),
    )
    .await;

    let (_, sse) = subscribe(&app, &ada, "auth", Some(&last)).await;
    let mut sse = sse.unwrap();
    let got = sse.until("ready").await;
    assert_eq!(names(&got), ["version", "comment", "ready"]);
    assert_eq!(got[0].data["version"], 2);
    assert_eq!(got[2].data["version"], 2);
    // `ready` carries the id of the last replayed event: reconnecting again replays nothing.
    assert_eq!(got[2].id, got[1].id);
    let (_, sse) = subscribe(&app, &ada, "auth", got[2].id.as_deref()).await;
    assert_eq!(names(&sse.unwrap().until("ready").await), ["ready"]);

    // An id from another server process (or garbage) cannot be replayed: the viewer re-reads.
    for stale in ["abcdef-3", "not-an-id"] {
        let (_, sse) = subscribe(&app, &ada, "auth", Some(stale)).await;
        let got = sse.unwrap().until("ready").await;
        assert_eq!(names(&got), ["resync", "ready"], "{stale}");
        assert_eq!(got[0].data["version"], 2);
    }
}

#[actix_web::test]
async fn private_plans_stream_only_to_those_who_may_see_them() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (ben, _) = app.user_with("ben", &[Role::Developer]).await;
    let (pm, _) = app.user_with("pam", &[Role::ProjectManager]).await;
    let token = app.token(&mut ada).await;
    app.call(&mut Browser::default(), push(&token, "secret", V1, true))
        .await;
    app.call(&mut Browser::default(), push(&token, "open", V1, false))
        .await;

    // Another developer: the same 404 as a plan that does not exist; anonymous: 401.
    assert_eq!(
        subscribe(&app, &ben, "secret", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        subscribe(&app, &ben, "nope", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        subscribe(&app, &Browser::default(), "secret", None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Ben watches the published plan; the private plan's push never reaches him.
    let (_, open) = subscribe(&app, &ben, "open", None).await;
    let mut open = open.unwrap();
    open.until("ready").await;
    let (status, pm_sse) = subscribe(&app, &pm, "secret", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut pm_sse = pm_sse.unwrap();
    pm_sse.until("ready").await;
    app.call(&mut Browser::default(), push(&token, "secret", V2, true))
        .await;
    app.call(&mut Browser::default(), push(&token, "open", V2, false))
        .await;
    let f = open.next().await.unwrap();
    assert_eq!(
        (f.name.as_str(), &f.data["version"]),
        ("version", &json!(2))
    );
    let f = pm_sse.next().await.unwrap();
    assert_eq!(
        (f.name.as_str(), &f.data["version"]),
        ("version", &json!(2))
    );
}

#[actix_web::test]
async fn lifecycle_events_and_deletion_ends_the_stream() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut root, _) = app.user_with("boss", &[Role::Admin]).await;
    let token = app.token(&mut ada).await;
    let res = app
        .call(&mut Browser::default(), push(&token, "auth", V1, true))
        .await;
    let plan = res.json()["session_id"].as_str().unwrap().to_owned();
    let (_, sse) = subscribe(&app, &ada, "auth", None).await;
    let mut sse = sse.unwrap();
    sse.until("ready").await;

    let publish = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{plan}/publish"),
            None,
            None,
        )
        .await;
    assert_eq!(publish.status, StatusCode::OK, "{}", publish.body);
    app.send(
        &mut ada,
        Method::PATCH,
        &format!("/api/sessions/{plan}/archive"),
        None,
        Some(json!({"archived": true})),
    )
    .await;
    let deleted = app
        .send(
            &mut root,
            Method::DELETE,
            &format!("/api/sessions/{plan}"),
            None,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);

    let mut got = vec![];
    while let Some(f) = sse.next().await {
        got.push((
            f.name,
            f.data["activity"].clone(),
            f.data["by"]["login"].clone(),
        ));
    }
    assert_eq!(
        got,
        [
            ("plan".to_owned(), json!("published"), json!("ada")),
            ("plan".to_owned(), json!("archived"), json!("ada")),
            ("plan".to_owned(), json!("deleted"), json!("boss")),
        ]
    );
    // A deleted plan cannot be watched any more.
    assert_eq!(
        subscribe(&app, &ada, "auth", None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Issue 19: who reads a plan now. Each open stream is a reader: arrivals and departures reach
/// every viewer as `presence` events (one entry per person, however many tabs), and
/// `GET /api/sessions/{id}/presence` answers the same; nobody who cannot see a private plan
/// learns who reads it (404 on both, like the page).
#[actix_web::test]
async fn presence_follows_readers_and_stays_within_the_plan() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let (mut pam, _) = app.user_with("pam", &[Role::ProjectManager]).await;
    let token = app.token(&mut ada).await;
    let res = app
        .call(&mut Browser::default(), push(&token, "auth", V1, false))
        .await;
    let plan = res.json()["session_id"].as_str().unwrap().to_owned();
    let url = format!("/api/sessions/{plan}/presence");
    let readers = |v: Value| -> Vec<String> {
        v["readers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["login"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(readers(app.get(&mut bob, &url).await.json()).is_empty());

    let (_, a) = subscribe(&app, &ada, "auth", None).await;
    let mut a = a.unwrap();
    assert_eq!(a.presence().await, ["ada"]);
    let (_, b) = subscribe(&app, &bob, "auth", None).await;
    let mut b = b.unwrap();
    assert_eq!(b.presence().await, ["ada", "bob"]);
    assert_eq!(a.presence().await, ["ada", "bob"]);
    // bob in a second tab: still one bob.
    let (_, b2) = subscribe(&app, &bob, "auth", None).await;
    let mut b2 = b2.unwrap();
    assert_eq!(b2.presence().await, ["ada", "bob"]);
    assert_eq!(a.presence().await, ["ada", "bob"], "the second tab arrived");
    assert_eq!(
        readers(app.get(&mut pam, &url).await.json()),
        ["ada", "bob"]
    );
    // Both of bob's tabs close: ada is told he left.
    drop(b);
    assert_eq!(a.presence().await, ["ada", "bob"], "one tab left");
    drop(b2);
    assert_eq!(a.presence().await, ["ada"]);
    assert_eq!(readers(app.get(&mut bob, &url).await.json()), ["ada"]);

    // A private plan: its readers are visible only to those who may see it.
    let res = app
        .call(&mut Browser::default(), push(&token, "secret", V1, true))
        .await;
    let secret = res.json()["session_id"].as_str().unwrap().to_owned();
    let secret_url = format!("/api/sessions/{secret}/presence");
    let (_, s) = subscribe(&app, &ada, "secret", None).await;
    let mut s = s.unwrap();
    assert_eq!(s.presence().await, ["ada"]);
    let (_, p) = subscribe(&app, &pam, "secret", None).await;
    let mut p = p.unwrap();
    assert_eq!(p.presence().await, ["ada", "pam"]);
    assert_eq!(s.presence().await, ["ada", "pam"]);
    let hidden = app.get(&mut bob, &secret_url).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    assert_eq!(hidden.json()["error"], "session_not_found");
    assert_eq!(
        subscribe(&app, &bob, "secret", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        readers(app.get(&mut ada, &secret_url).await.json()),
        ["ada", "pam"],
        "bob's refused stream made him no reader"
    );
    assert_eq!(
        app.get(&mut Browser::default(), &secret_url).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The published plan's stream never carried the private plan's readers.
    drop(p);
    assert_eq!(s.presence().await, ["ada"]);
    assert_eq!(readers(app.get(&mut bob, &url).await.json()), ["ada"]);
}
