//! E-mail through a real SMTP server on 127.0.0.1 (aiosmtpd): the outbox worker delivers, the
//! messages are read back and parsed by an independent implementation (Python's `email`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

// `hold`, `release` and `wait_holding` serve the server's kill -9 test (same file, by path).
#[allow(dead_code)]
mod sink;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use planpush_app::contract::{new_plan, t};
use planpush_app::fake::ListInbox;
use planpush_app::{
    AccessCache, AuthMethod, Deliveries, Delivery, DeliverySettings, EMAIL_CHANNEL, EmailMode,
    EmailNotifier, Emails, InboxItem, NotificationKind, OutboxMessage, Ports, Principal,
    UnsubscribeKeys,
};
use planpush_identity::{Email, ExternalIdentity, Provider, User, UserId};
use planpush_mail::{LinkKeys, SmtpMailer};
use planpush_plans::{Plan, Visibility};
use planpush_roles::{GrantOrigin, Role};
use serde_json::Value;
use sink::{Sink, header, python};

const BASE: &str = "https://planpush.example.com";
const SECRET: &[u8] = b"a secret key of at least thirty-two bytes!";

struct World {
    ports: Ports,
    emails: Emails,
    inbox: Arc<ListInbox>,
    worker: Deliveries,
    ada: User,
    ben: User,
    plan: Plan,
}

async fn person(p: &Ports, login: &str, email: &str, name: Option<&str>) -> User {
    let mut u = User::new(login, t(0)).unwrap();
    u.email = Some(Email::parse(email).unwrap());
    u.name = name.map(str::to_owned);
    p.users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    p.roles
        .replace_grants(u.id, GrantOrigin::Manual, &[Role::Developer], None, t(0))
        .await
        .unwrap();
    u
}

async fn world(sink: &Sink) -> World {
    let ports = planpush_app::fake::ports();
    let inbox = Arc::new(ListInbox::default());
    let mailer = SmtpMailer::new(
        &sink.url(),
        "PlanPush <planpush@example.com>",
        BASE,
        Duration::from_secs(5),
    )
    .unwrap();
    let emails = Emails::new(
        ports.clone(),
        Arc::new(AccessCache::new(ports.clone())),
        BASE,
    )
    .with_keys(Arc::new(LinkKeys::new(SECRET, &[])))
    .with_delivery(inbox.clone(), Arc::new(mailer));
    let worker = Deliveries::new(
        ports.clone(),
        Arc::new(EmailNotifier::new(emails.clone())),
        DeliverySettings {
            lease: chrono::Duration::seconds(30),
            retry_base: chrono::Duration::seconds(5),
            max_attempts: 8,
        },
    );
    let ada = person(&ports, "ada", "ada@example.com", Some("Ada L.")).await;
    let ben = person(&ports, "ben", "ben@example.com", Some("Ben <B> & Co")).await;
    let (plan, _) = new_plan(&ports, &ada, "auth-redesign", Visibility::Published, 1).await;
    World {
        ports,
        emails,
        inbox,
        worker,
        ada,
        ben,
        plan,
    }
}

fn item(id: &str, to: UserId, plan: &Plan, kind: NotificationKind, at: i64) -> InboxItem {
    InboxItem {
        id: id.into(),
        recipient: to,
        kind,
        plan: plan.id(),
        actor: Some("ada".into()),
        excerpt: Some("@ben is <b>this</b> & \"that\" right?".into()),
        anchor: Some("token-flow".into()),
        comment: Some("c-1".into()),
        version: Some(2),
        created_at: t(at),
        read_at: None,
    }
}

async fn enqueue_one(w: &World, id: &str, at: DateTime<Utc>) -> OutboxMessage {
    let m = OutboxMessage::new(
        EMAIL_CHANNEL,
        format!(r#"{{"notification_id":"{id}"}}"#),
        at,
    );
    w.ports.outbox.enqueue(&m).await.unwrap();
    m
}

fn principal(u: &User) -> Principal {
    Principal {
        user_id: u.id,
        login: u.login.clone(),
        roles: vec![Role::Developer],
        method: AuthMethod::Session,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_email_has_both_bodies_deep_links_and_one_click_unsubscribe() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let w = world(&sink).await;
    w.inbox
        .push(item("n1", w.ben.id, &w.plan, NotificationKind::Mention, 10));
    let m = enqueue_one(&w, "n1", t(10)).await;
    let (_, outcome) = w.worker.deliver_next(t(11)).await.unwrap().unwrap();
    assert_eq!(outcome, Delivery::Delivered);
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1);
    let mail = &got[0];
    assert_eq!(mail["mail_from"], "planpush@example.com");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ben@example.com"]));
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert_eq!(header(mail, "from"), "PlanPush <planpush@example.com>");
    assert_eq!(header(mail, "to"), "\"Ben <B> & Co\" <ben@example.com>");
    assert_eq!(
        header(mail, "subject"),
        "ada mentioned you on “Plan auth-redesign”"
    );
    assert_eq!(
        header(mail, "message-id"),
        format!("<{}@planpush.example.com>", m.id)
    );
    let unsubscribe = header(mail, "list-unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://planpush.example.com/unsubscribe/")
            && unsubscribe.ends_with('>'),
        "{unsubscribe}"
    );
    assert_eq!(
        header(mail, "list-unsubscribe-post"),
        "List-Unsubscribe=One-Click"
    );
    // The link's token names Ben, and only Ben.
    let link = &unsubscribe[1..unsubscribe.len() - 1];
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(LinkKeys::new(SECRET, &[]).verify(token), Some(w.ben.id));
    assert_ne!(LinkKeys::new(SECRET, &[]).verify(token), Some(w.ada.id));

    let text = mail["text"].as_str().unwrap();
    let deep = "https://planpush.example.com/p/auth-redesign#token-flow";
    assert!(text.contains(deep), "{text}");
    assert!(
        text.contains("> @ben is <b>this</b> & \"that\" right?"),
        "{text}"
    );
    assert!(text.contains(link), "{text}");
    let html = mail["html"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"{deep}\"")), "{html}");
    assert!(
        html.contains("@ben is &lt;b&gt;this&lt;/b&gt; &amp; &quot;that&quot; right?"),
        "{html}"
    );
    assert!(!html.contains("<b>this"), "{html}");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_by_the_server_then_retried_until_accepted() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let w = world(&sink).await;
    w.inbox
        .push(item("n1", w.ben.id, &w.plan, NotificationKind::Reply, 10));
    enqueue_one(&w, "n1", t(10)).await;

    sink.refuse("451 4.3.0 try again later");
    let (m, outcome) = w.worker.deliver_next(t(11)).await.unwrap().unwrap();
    assert_eq!(outcome, Delivery::Retrying(t(16)), "first retry after 5 s");
    let stored = w.ports.outbox.recent(EMAIL_CHANNEL, 1).await.unwrap();
    let error = stored[0].last_error.clone().unwrap();
    assert!(error.contains("451"), "{error}");
    assert_eq!(m.attempts, 1);
    // Not due before its backoff.
    assert!(w.worker.deliver_next(t(15)).await.unwrap().is_none());

    sink.refuse("554 5.7.1 relay refused");
    let (_, outcome) = w.worker.deliver_next(t(16)).await.unwrap().unwrap();
    assert_eq!(outcome, Delivery::Retrying(t(26)), "then after 10 s");
    assert!(sink.messages().is_empty());

    sink.accept();
    let (m, outcome) = w.worker.deliver_next(t(26)).await.unwrap().unwrap();
    assert_eq!(outcome, Delivery::Delivered);
    assert_eq!(m.attempts, 3);
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(
        header(&got[0], "subject"),
        "ada replied on “Plan auth-redesign”"
    );
    assert!(w.worker.deliver_next(t(1000)).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_retried() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let w = world(&sink).await;
    drop(sink);
    w.inbox
        .push(item("n1", w.ben.id, &w.plan, NotificationKind::Mention, 10));
    enqueue_one(&w, "n1", t(10)).await;
    let (_, outcome) = w.worker.deliver_next(t(11)).await.unwrap().unwrap();
    assert_eq!(outcome, Delivery::Retrying(t(16)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preference_off_or_daily_sends_nothing_immediately() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let w = world(&sink).await;
    w.emails
        .set_mode(&principal(&w.ben), EmailMode::Off, t(5))
        .await
        .unwrap();
    w.emails
        .set_mode(&principal(&w.ada), EmailMode::Daily, t(5))
        .await
        .unwrap();
    w.inbox.push(item(
        "to-ben",
        w.ben.id,
        &w.plan,
        NotificationKind::Mention,
        10,
    ));
    w.inbox.push(item(
        "to-ada",
        w.ada.id,
        &w.plan,
        NotificationKind::Reply,
        10,
    ));
    enqueue_one(&w, "to-ben", t(10)).await;
    enqueue_one(&w, "to-ada", t(10)).await;
    for _ in 0..2 {
        let (_, outcome) = w.worker.deliver_next(t(11)).await.unwrap().unwrap();
        assert_eq!(outcome, Delivery::Delivered, "handled: nothing to send");
    }
    assert!(w.worker.deliver_next(t(11)).await.unwrap().is_none());
    // Give a wrongly sent message time to arrive.
    std::thread::sleep(Duration::from_millis(300));
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_is_one_email_grouped_per_plan() {
    let Some(py) = python() else { return };
    let sink = Sink::start(&py);
    let w = world(&sink).await;
    let (db, _) = new_plan(&w.ports, &w.ada, "db-migration", Visibility::Published, 1).await;
    let (secret, _) = new_plan(&w.ports, &w.ada, "secret", Visibility::Private, 1).await;
    w.emails
        .set_mode(&principal(&w.ben), EmailMode::Daily, t(100))
        .await
        .unwrap();
    let day = 86_400;
    w.inbox.push(item(
        "a1",
        w.ben.id,
        &w.plan,
        NotificationKind::Mention,
        200,
    ));
    w.inbox
        .push(item("d1", w.ben.id, &db, NotificationKind::Reply, 300));
    w.inbox.push(item(
        "a2",
        w.ben.id,
        &w.plan,
        NotificationKind::Version,
        400,
    ));
    // A private plan Ben may not see: never in his e-mail.
    w.inbox.push(item(
        "s1",
        w.ben.id,
        &secret,
        NotificationKind::Mention,
        250,
    ));
    // Their immediate messages are dropped (Ben chose daily).
    for id in ["a1", "d1", "a2"] {
        enqueue_one(&w, id, t(400)).await;
    }
    while let Some((_, o)) = w.worker.deliver_next(t(500)).await.unwrap() {
        assert_eq!(o, Delivery::Delivered);
    }
    assert!(sink.messages().is_empty());

    assert_eq!(w.emails.run_digests(t(100 + day)).await.unwrap(), 1);
    assert_eq!(w.emails.run_digests(t(100 + day)).await.unwrap(), 0, "once");
    let (_, outcome) = w.worker.deliver_next(t(100 + day)).await.unwrap().unwrap();
    assert_eq!(outcome, Delivery::Delivered);
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1);
    let mail: &Value = &got[0];
    // The private plan's item was assembled (it is Ben's) but not told: three remain.
    assert_eq!(
        header(mail, "subject"),
        "PlanPush daily digest: 3 notifications"
    );
    let text = mail["text"].as_str().unwrap();
    let auth = text.find("Plan auth-redesign").unwrap();
    let dbm = text.find("Plan db-migration").unwrap();
    assert!(auth < dbm, "the plan with the newest item first:\n{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("ada pushed version 2"), "{text}");
    assert!(
        text.contains("https://planpush.example.com/p/auth-redesign?v=2#token-flow"),
        "{text}"
    );
    let a1 = text.find("ada mentioned you").unwrap();
    let a2 = text.find("ada pushed version 2").unwrap();
    assert!(a1 < a2, "oldest first within a plan:\n{text}");
    assert!(mail["html"].as_str().unwrap().contains("Plan db-migration"));
    assert!(header(mail, "list-unsubscribe").contains("/unsubscribe/"));
}
