//! Signed outgoing webhooks end to end: the real `planpush-server` binary, an admin registering a
//! hook that points at a fake receiver on 127.0.0.1 (the recording fake of `slack.rs`), and every
//! delivery's signature checked by PyPI's `standardwebhooks` (`tests/webhooks/verify.py`), an
//! implementation independent of ours.
//!
//! The verifier's Python comes from `PLANPUSH_WEBHOOKS_PYTHON` (`.ci/run` installs it in a venv).
//! Without it the signature checks are skipped with a warning (and fail under `CI=true`); the rest
//! of the test still runs.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::slack::{Answer, FakeSlack, Received, V1, V2, api, push_private, server_with};
use crate::support::{dev_login, free_port, push, python_with, raw};

const VERIFY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/verify.py");

fn python() -> Option<String> {
    python_with(
        "PLANPUSH_WEBHOOKS_PYTHON",
        "standardwebhooks",
        "standardwebhooks",
    )
}

/// What `standardwebhooks` says of each delivery (`{"ok", "type"}` or `{"ok": false, "error"}`).
fn verify(py: &str, secret: &str, deliveries: &[(Vec<(String, String)>, String)]) -> Vec<Value> {
    let input = json!({
        "secret": secret,
        "deliveries": deliveries.iter().map(|(headers, body)| json!({
            "headers": headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<serde_json::Map<String, Value>>(),
            "body": body,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(py)
        .arg(VERIFY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn as_delivery(r: &Received) -> (Vec<(String, String)>, String) {
    let headers = r
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("webhook-"))
        .cloned()
        .collect();
    (headers, String::from_utf8(r.raw.clone()).unwrap())
}

#[test]
fn signed_webhooks_are_retried_logged_tested_and_verified_independently_and_never_leak_private_plans()
 {
    let py = python();
    // The first two POSTs fail (5xx): the first delivery is retried with the same id.
    let (fake, fake_port) = FakeSlack::start(vec![Answer::Status(500), Answer::Status(503)]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server_with(
        dir.path(),
        port,
        1500,
        &[("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8".to_owned())],
    );
    let (ada_cookie, ada) = dev_login(port, "ada"); // first sign-in: admin
    let (_, bob) = dev_login(port, "bob");
    let hook_url = format!("http://127.0.0.1:{fake_port}/hooks/planpush");
    let input = json!({"url": hook_url, "events": ["plan.version_created", "plan.published", "comment.created"]});

    // Admins only.
    let (status, _) = api(port, &bob, "GET", "/api/admin/webhooks", "");
    assert_eq!(status, 403);
    let (status, _) = api(
        port,
        &bob,
        "POST",
        "/api/admin/webhooks",
        &input.to_string(),
    );
    assert_eq!(status, 403);

    // SSRF: internal addresses (not in WEBHOOK_ALLOWED_NETWORKS), plain http to a non-loopback
    // host, credentials, other schemes; unknown events.
    for (url, why) in [
        ("https://10.0.0.1/hook", "internal"),
        ("https://169.254.169.254/latest/meta-data", "internal"),
        ("https://192.168.1.10/hook", "internal"),
        ("https://[fd00::1]/hook", "internal"),
        ("https://[::ffff:10.0.0.1]/hook", "internal"),
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://user:pw@example.com/hook", "password"),
        ("example.com/hook", "valid"),
    ] {
        let (status, e) = api(
            port,
            &ada,
            "POST",
            "/api/admin/webhooks",
            &json!({"url": url}).to_string(),
        );
        assert_eq!(status, 400, "{url}: {e}");
        assert_eq!(e["error"], "invalid_webhook", "{url}: {e}");
        assert!(e["message"].as_str().unwrap().contains(why), "{url}: {e}");
    }
    let (status, e) = api(
        port,
        &ada,
        "POST",
        "/api/admin/webhooks",
        &json!({"url": hook_url, "events": ["plan.exploded"]}).to_string(),
    );
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_webhook")),
        "{e}"
    );

    let (status, hook) = api(
        port,
        &ada,
        "POST",
        "/api/admin/webhooks",
        &input.to_string(),
    );
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(
        hook["events"],
        json!(["plan.version_created", "plan.published", "comment.created"])
    );
    let (status, list) = api(port, &ada, "GET", "/api/admin/webhooks", "");
    assert_eq!(status, 200);
    assert!(
        !list.to_string().contains(&secret[6..]),
        "the secret is shown once only"
    );
    assert_eq!(list["webhooks"][0]["url"], hook_url);

    // A private plan: a version, a comment, a resolution — nothing may leave.
    let private = push_private(port, &ada, "secret-plan", V1);
    let sid = private["session_id"].as_str().unwrap().to_owned();
    let (status, c) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/comments"),
        r#"{"body":"confidential","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201, "{c}");

    // A published plan: its first version fails twice (500, 503), then is delivered.
    let first = push(port, &ada, "text/markdown", "launch", V1);
    let id = first["session_id"].as_str().unwrap().to_owned();
    fake.wait("three attempts", |st| st.received.len() >= 3);
    let attempts = fake.received();
    assert_eq!(
        attempts.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [Some(500), Some(503), Some(200)]
    );
    let webhook_id = attempts[0].header("webhook-id").unwrap().to_owned();
    for r in &attempts {
        assert_eq!(r.path, "/hooks/planpush");
        assert_eq!(
            r.header("webhook-id"),
            Some(webhook_id.as_str()),
            "one id for every attempt"
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body["id"], webhook_id.as_str());
        assert_eq!(r.body["type"], "plan.version_created");
        assert_eq!(r.body["data"]["plan"]["slug"], "launch");
        assert_eq!(r.body["data"]["version"], 1);
        assert_eq!(
            r.body["data"]["url"],
            format!("http://127.0.0.1:{port}/p/launch?v=1")
        );
        assert!(r.header("webhook-signature").unwrap().starts_with("v1,"));
    }

    // A comment (subscribed), its resolution (not subscribed), then the private plan published.
    let (status, thread) = api(
        port,
        &bob,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        r#"{"body":"Why two steps?","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap();
    let (status, _) = api(
        port,
        &bob,
        "PATCH",
        &format!("/api/comments/{tid}"),
        r#"{"resolved":true}"#,
    );
    assert_eq!(status, 200);
    let (status, published) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/publish"),
        "",
    );
    assert_eq!(status, 200, "{published}");
    let posted = fake.wait_posted(3);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(fake.posted().len(), 3, "{:#?}", fake.received());
    let types: Vec<&str> = posted
        .iter()
        .map(|r| r.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["plan.version_created", "comment.created", "plan.published"]
    );
    assert_eq!(posted[1].body["data"]["body"], "Why two steps?");
    assert_eq!(posted[1].body["data"]["plan"]["slug"], "launch");
    assert_eq!(posted[2].body["data"]["plan"]["slug"], "secret-plan");
    assert_eq!(posted[2].body["data"]["by"], "ada");
    let everything: String = fake
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.raw).into_owned())
        .collect();
    assert!(
        !everything.contains("confidential"),
        "nothing of the private plan's activity"
    );
    let ids: BTreeSet<&str> = posted
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "one id per delivery");

    // The delivery log: newest first, the retried one with its attempts and last error.
    let (_, list) = api(port, &ada, "GET", "/api/admin/webhooks", "");
    let log = list["webhooks"][0]["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(log.len(), 3, "{log:#?}");
    let first_log = log.iter().find(|d| d["id"] == webhook_id.as_str()).unwrap();
    assert_eq!(first_log["status"], "delivered");
    assert_eq!(first_log["attempts"], 3);
    assert_eq!(first_log["event"], "plan.version_created");
    assert!(
        first_log["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"),
        "{first_log}"
    );
    assert!(first_log["next_attempt_at"].is_null());
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:#?}");

    // The dashboard shows the tab, the hook and its log.
    let (status, _, _, page) = raw(port, "GET", "/dashboard", &[("Cookie", &ada_cookie)], "");
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="pane-webhooks""#));
    assert!(page.contains(&hook_url));
    assert!(page.contains("plan.version_created"));

    // "Send test": a signed webhook.test delivery, logged like the others.
    let (status, queued) = api(
        port,
        &ada,
        "POST",
        &format!("/api/admin/webhooks/{hook_id}/test"),
        "",
    );
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["delivery"]["event"], "webhook.test");
    let posted = fake.wait_posted(4);
    let test = &posted[3];
    assert_eq!(test.body["type"], "webhook.test");
    assert_eq!(test.header("webhook-id"), queued["delivery"]["id"].as_str());

    // The independent verification: every attempt (failed ones too) verifies with the secret;
    // a changed body, another secret, or a missing signature does not.
    if let Some(py) = &py {
        let all: Vec<_> = fake.received().iter().map(as_delivery).collect();
        assert_eq!(all.len(), 6);
        let results = verify(py, &secret, &all);
        for (r, got) in all.iter().zip(&results) {
            assert_eq!(got["ok"], true, "{got} for {}", r.1);
        }
        let types: Vec<&str> = results
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "plan.version_created",
                "plan.version_created",
                "plan.version_created",
                "comment.created",
                "plan.published",
                "webhook.test"
            ]
        );
        let (headers, body) = all[3].clone();
        let tampered = (
            headers.clone(),
            body.replace("Why two steps?", "Why one step?"),
        );
        let unsigned = (
            headers
                .iter()
                .filter(|(k, _)| k != "webhook-signature")
                .cloned()
                .collect(),
            body.clone(),
        );
        let refused = verify(py, &secret, &[tampered, unsigned]);
        assert!(refused.iter().all(|r| r["ok"] == false), "{refused:?}");
        let other = verify(
            py,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            &[(headers, body)],
        );
        assert_eq!(other[0]["ok"], false, "{other:?}");
    }

    // Deleted: nothing more is sent.
    let (status, _) = api(
        port,
        &ada,
        "DELETE",
        &format!("/api/admin/webhooks/{hook_id}"),
        "",
    );
    assert_eq!(status, 204);
    let (status, _) = api(
        port,
        &ada,
        "DELETE",
        &format!("/api/admin/webhooks/{hook_id}"),
        "",
    );
    assert_eq!(status, 404);
    push(port, &ada, "text/markdown", "launch", V2);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fake.received().len(), 6, "{:#?}", fake.received());
    let (_, list) = api(port, &ada, "GET", "/api/admin/webhooks", "");
    assert_eq!(list["webhooks"], json!([]));
}

/// kill -9 while a hook's receiver holds a delivery unanswered: after a restart on the same data
/// every event reaches the hook exactly once when deduplicated by `webhook-id` (the interrupted one
/// is retried under its id, the same body), and the fan-out itself is never repeated.
#[test]
fn killed_mid_delivery_and_restarted_each_event_reaches_the_hook_once_per_id() {
    // The first request is held until the server dies.
    let (fake, fake_port) = FakeSlack::start(vec![Answer::Hold]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars = [("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1".to_owned())];
    let mut first = server_with(dir.path(), port, 3000, &vars);
    let (_, ada) = dev_login(port, "ada");
    let (status, hook) = api(
        port,
        &ada,
        "POST",
        "/api/admin/webhooks",
        &json!({"url": format!("http://127.0.0.1:{fake_port}/in")}).to_string(),
    );
    assert_eq!(status, 201, "{hook}");
    let plan = push(port, &ada, "text/markdown", "launch", V1);
    let id = plan["session_id"].as_str().unwrap().to_owned();
    fake.wait("the held request", |st| st.holding == 1);
    push(port, &ada, "text/markdown", "launch", V2);
    let (status, _) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        r#"{"body":"Rollback tested?","anchor":"rollback"}"#,
    );
    assert_eq!(status, 201);

    first.0.kill().unwrap();
    first.0.wait().unwrap();
    fake.wait("the held request to be dropped", |st| {
        st.holding == 0 && st.received.iter().any(|r| r.answered.is_none())
    });
    let aborted = fake.received();
    assert_eq!(aborted.len(), 1);
    let aborted_id = aborted[0].header("webhook-id").unwrap().to_owned();

    // Restarted: the held delivery is retried once its lease (2 × 3 s) ends; the others follow.
    let _second = server_with(dir.path(), port, 3000, &vars);
    let posted = fake.wait_posted(3);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(fake.posted().len(), posted.len(), "{:#?}", fake.received());
    let mut types: Vec<(String, i64)> = posted
        .iter()
        .map(|r| {
            (
                r.body["type"].as_str().unwrap().to_owned(),
                r.body["data"]["version"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("comment.created".to_owned(), 0),
            ("plan.version_created".to_owned(), 1),
            ("plan.version_created".to_owned(), 2),
        ]
    );
    let ids: BTreeSet<&str> = posted
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "one delivery per event");
    let retried: Vec<_> = posted
        .iter()
        .filter(|r| r.header("webhook-id") == Some(aborted_id.as_str()))
        .collect();
    assert_eq!(retried.len(), 1, "the interrupted delivery, under its id");
    assert_eq!(retried[0].raw, aborted[0].raw, "the same body");
}
