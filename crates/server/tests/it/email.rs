//! E-mail end to end: the real `planpush-server` binary with `SMTP_URL` pointing at a real SMTP
//! server on 127.0.0.1 (aiosmtpd, `crates/mail/tests/smtp_sink.py`). A mention becomes an e-mail
//! (after the relay refused it once); its one-click unsubscribe link works without a session; after
//! it, mentions send nothing.

use std::time::Duration;

use crate::slack::{V1, api};
use crate::support::{dev_login, dev_server_with, free_port, push, raw};

#[path = "../../../mail/tests/it/sink.rs"]
#[allow(dead_code)]
mod sink;

use sink::{Sink, header, python};

/// Gives `login` an e-mail address (dev sign-in has none) through the store, as an identity
/// provider's profile would.
fn set_email(dir: &std::path::Path, login: &str, address: &str) {
    let store = planpush_store::Store::open(
        planpush_store::DbTarget::Sqlite(dir.join("data/planpush.db")),
        &planpush_store::StoreOptions::default(),
    )
    .unwrap();
    let ports = store.ports();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut user = ports
            .users
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.login == login)
            .unwrap();
        user.email = Some(planpush_identity::Email::parse(address).unwrap());
        ports.users.update(&user).await.unwrap();
    });
}

#[test]
fn a_mention_is_mailed_and_its_unsubscribe_link_works_without_signing_in() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = sink.url();
    let _server = dev_server_with(
        dir.path(),
        port,
        &[
            ("SMTP_URL", smtp.as_str()),
            ("SMTP_FROM", "PlanPush <planpush@example.com>"),
            ("OUTBOX_POLL_INTERVAL_MS", "50"),
            ("OUTBOX_RETRY_BASE_MS", "300"),
        ],
    );
    let (_, ada) = dev_login(port, "ada");
    let (ben_cookie, ben) = dev_login(port, "ben");
    set_email(dir.path(), "ben", "ben@example.com");
    let plan = push(port, &ada, "text/markdown", "launch", V1);
    let sid = plan["session_id"].as_str().unwrap().to_owned();

    // The relay refuses at first: retried with backoff, delivered once it accepts.
    sink.refuse("451 4.3.0 try again later");
    let (status, comment) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/comments"),
        r#"{"body":"@ben can you check <b>this</b> & that?","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201, "{comment}");
    std::thread::sleep(Duration::from_millis(800));
    assert!(sink.messages().is_empty());
    sink.accept();
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "one e-mail");
    let mail = &got[0];
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ben@example.com"]));
    assert_eq!(header(mail, "from"), "PlanPush <planpush@example.com>");
    assert!(
        header(mail, "subject").starts_with("ada mentioned you on “"),
        "{mail}"
    );
    assert_eq!(
        header(mail, "list-unsubscribe-post"),
        "List-Unsubscribe=One-Click"
    );
    let base = format!("http://127.0.0.1:{port}");
    let text = mail["text"].as_str().unwrap();
    let comment_id = comment["id"].as_str().unwrap();
    assert!(
        text.contains(&format!("{base}/p/launch#comment-{comment_id}")),
        "{text}"
    );
    assert!(text.contains("can you check <b>this</b> & that?"), "{text}");
    let html = mail["html"].as_str().unwrap();
    assert!(
        html.contains("can you check &lt;b&gt;this&lt;/b&gt; &amp; that?"),
        "{html}"
    );

    // The one-click link, without a session: GET shows a page, POST (as a mail provider sends it,
    // no cookie, no Origin) turns e-mail off.
    let list = header(mail, "list-unsubscribe");
    let link = list.trim_start_matches('<').trim_end_matches('>');
    let path = link.strip_prefix(&base).unwrap().to_owned();
    let (status, _, cookie, page) = raw(port, "GET", &path, &[], "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<strong>ben</strong>"), "{page}");
    assert!(cookie.is_none());
    let forged = format!("{}A", &path[..path.len() - 1]);
    let forged = if forged == path {
        format!("{}B", &path[..path.len() - 1])
    } else {
        forged
    };
    let (status, _, _, _) = raw(
        port,
        "POST",
        &forged,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "List-Unsubscribe=One-Click",
    );
    assert_eq!(status, 404);
    let (status, _, _, page) = raw(
        port,
        "POST",
        &path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "List-Unsubscribe=One-Click",
    );
    assert_eq!(status, 200, "{page}");
    let (_, prefs) = api(port, &ben, "GET", "/api/me/email-preferences", "");
    assert_eq!(prefs["mode"], "off", "{prefs}");
    assert_eq!(prefs["enabled"], true);
    let _ = ben_cookie;

    // Off: the next mention sends nothing.
    let (status, _) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/comments"),
        r#"{"body":"@ben and this?","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(sink.messages().len(), 1);
}

/// kill -9 while the relay holds its reply to an e-mail: the message was never accepted, and after
/// a restart on the same data it is sent again once its lease ran out — exactly once — and the
/// next e-mail once too.
#[test]
fn killed_mid_delivery_and_restarted_each_email_is_accepted_exactly_once() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = sink.url();
    let vars = [
        ("SMTP_URL", smtp.as_str()),
        ("SMTP_FROM", "PlanPush <planpush@example.com>"),
        ("OUTBOX_POLL_INTERVAL_MS", "50"),
        ("OUTBOX_RETRY_BASE_MS", "300"),
        // Each attempt is bounded by this; its lease is twice as long.
        ("SLACK_TIMEOUT_MS", "2000"),
    ];
    let mut first = dev_server_with(dir.path(), port, &vars);
    let (_, ada) = dev_login(port, "ada");
    let (_, _ben) = dev_login(port, "ben");
    set_email(dir.path(), "ben", "ben@example.com");
    let plan = push(port, &ada, "text/markdown", "launch", V1);
    let sid = plan["session_id"].as_str().unwrap().to_owned();

    sink.hold();
    let (status, body) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/comments"),
        r#"{"body":"@ben first question","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201, "{body}");
    sink.wait_holding();
    // kill -9 while the relay holds its reply.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    sink.release();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sink.messages().is_empty(),
        "a message whose sender died is not accepted"
    );

    // Restarted: the interrupted e-mail goes out again after its lease (2 × 2 s), once.
    let _second = dev_server_with(dir.path(), port, &vars);
    let (status, body) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/comments"),
        r#"{"body":"@ben second question","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while sink.messages().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Time for a wrong second copy to arrive, had there been one.
    std::thread::sleep(Duration::from_millis(1500));
    let got = sink.messages();
    assert_eq!(got.len(), 2, "{got:#?}");
    let texts: Vec<&str> = got.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("first question"))
            .count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("second question"))
            .count(),
        1,
        "{texts:?}"
    );
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|m| header(m, "message-id")).collect();
    assert_eq!(ids.len(), 2, "each e-mail its own Message-ID");
}
