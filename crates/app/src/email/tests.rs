#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use chrono::Duration;
use planpush_identity::{Email, ExternalIdentity, Provider};
use planpush_plans::Visibility;
use planpush_roles::{GrantOrigin, Role};

use super::*;
use crate::contract::{new_plan, t};
use crate::fake::ListInbox;

/// Accepts `signed:<user>` only: enough to tell the use case's checks apart from the adapter's
/// cryptography (tested in the `mail` crate).
struct PlainKeys;

impl UnsubscribeKeys for PlainKeys {
    fn sign(&self, user: UserId) -> String {
        format!("signed:{user}")
    }
    fn verify(&self, token: &str) -> Option<UserId> {
        UserId::parse(token.strip_prefix("signed:")?).ok()
    }
}

#[derive(Default)]
struct Outgoing(Mutex<Vec<Mail>>);

#[async_trait]
impl Mailer for Outgoing {
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

struct World {
    ports: Ports,
    emails: Emails,
    inbox: Arc<ListInbox>,
    sent: Arc<Outgoing>,
}

async fn person(p: &Ports, login: &str, email: Option<&str>, role: Role) -> User {
    let mut u = User::new(login, t(0)).unwrap();
    u.email = email.map(|e| Email::parse(e).unwrap());
    p.users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    p.roles
        .replace_grants(u.id, GrantOrigin::Manual, &[role], None, t(0))
        .await
        .unwrap();
    u
}

fn world() -> World {
    let ports = crate::fake::ports();
    let inbox = Arc::new(ListInbox::default());
    let sent = Arc::new(Outgoing::default());
    let emails = Emails::new(
        ports.clone(),
        Arc::new(AccessCache::new(ports.clone())),
        "https://pp.example.com/",
    )
    .with_keys(Arc::new(PlainKeys))
    .with_delivery(inbox.clone(), sent.clone());
    World {
        ports,
        emails,
        inbox,
        sent,
    }
}

fn mention(id: &str, to: &User, plan: &Plan, at: i64) -> InboxItem {
    InboxItem {
        id: id.into(),
        recipient: to.id,
        kind: NotificationKind::Mention,
        plan: plan.id(),
        actor: Some("ada".into()),
        excerpt: Some("@ben can you check <this>?".into()),
        anchor: Some("auth flow".into()),
        comment: Some("c1".into()),
        version: None,
        created_at: t(at),
        read_at: None,
    }
}

fn one(id: &str) -> OutboxMessage {
    OutboxMessage::new(
        EMAIL_CHANNEL,
        format!(r#"{{"notification_id":"{id}"}}"#),
        t(100),
    )
}

#[tokio::test]
async fn immediate_mail_has_deep_links_and_an_unsubscribe_link() {
    let w = world();
    let ada = person(&w.ports, "ada", Some("ada@example.com"), Role::Developer).await;
    let ben = person(&w.ports, "ben", Some("ben@example.com"), Role::Developer).await;
    let (plan, _) = new_plan(&w.ports, &ada, "auth", Visibility::Published, 1).await;
    w.inbox.push(mention("n1", &ben, &plan, 10));
    let message = one("n1");
    let notifier = EmailNotifier::new(w.emails.clone());
    notifier.deliver(&message).await.unwrap();
    let sent = w.sent.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.to, "ben@example.com");
    assert_eq!(m.id, message.id.to_string());
    assert_eq!(m.subject, "ada mentioned you on “Plan auth”");
    assert_eq!(
        m.groups[0].items[0].link,
        "https://pp.example.com/p/auth#auth%20flow"
    );
    assert_eq!(m.groups[0].plan_link, "https://pp.example.com/p/auth");
    assert_eq!(
        m.unsubscribe_link,
        format!("https://pp.example.com/unsubscribe/signed:{}", ben.id)
    );
    assert_eq!(
        m.groups[0].items[0].excerpt.as_deref(),
        Some("@ben can you check <this>?")
    );
}

#[tokio::test]
async fn daily_and_off_send_nothing_now() {
    let w = world();
    let ada = person(&w.ports, "ada", Some("ada@example.com"), Role::Developer).await;
    let ben = person(&w.ports, "ben", Some("ben@example.com"), Role::Developer).await;
    let (plan, _) = new_plan(&w.ports, &ada, "auth", Visibility::Published, 1).await;
    w.inbox.push(mention("n1", &ben, &plan, 10));
    let p = w.emails.access.principal(ben.id, AuthMethod::Session).await;
    let ben_p = p.unwrap().unwrap();
    for mode in [EmailMode::Daily, EmailMode::Off] {
        w.emails.set_mode(&ben_p, mode, t(5)).await.unwrap();
        assert_eq!(
            w.emails.compose(&one("n1")).await.unwrap(),
            None,
            "{mode:?}"
        );
    }
    w.emails
        .set_mode(&ben_p, EmailMode::Immediate, t(6))
        .await
        .unwrap();
    assert!(w.emails.compose(&one("n1")).await.unwrap().is_some());
    // An unknown notification (deleted since) is dropped too.
    assert_eq!(w.emails.compose(&one("gone")).await.unwrap(), None);
}

#[tokio::test]
async fn private_plans_only_reach_those_who_may_see_them() {
    let w = world();
    let ada = person(&w.ports, "ada", Some("ada@example.com"), Role::Developer).await;
    let ben = person(&w.ports, "ben", Some("ben@example.com"), Role::Developer).await;
    let (plan, _) = new_plan(&w.ports, &ada, "secret", Visibility::Private, 1).await;
    // Ben may not see Ada's private plan: nothing, not even the title.
    w.inbox.push(mention("to-ben", &ben, &plan, 10));
    assert_eq!(w.emails.compose(&one("to-ben")).await.unwrap(), None);
    // Ada owns it.
    w.inbox.push(mention("to-ada", &ada, &plan, 10));
    assert!(w.emails.compose(&one("to-ada")).await.unwrap().is_some());
}

#[tokio::test]
async fn no_address_or_deactivated_sends_nothing() {
    let w = world();
    let ada = person(&w.ports, "ada", Some("ada@example.com"), Role::Developer).await;
    let ben = person(&w.ports, "ben", None, Role::Developer).await;
    let mut cleo = person(&w.ports, "cleo", Some("cleo@example.com"), Role::Developer).await;
    let (plan, _) = new_plan(&w.ports, &ada, "auth", Visibility::Published, 1).await;
    w.inbox.push(mention("to-ben", &ben, &plan, 10));
    w.inbox.push(mention("to-cleo", &cleo, &plan, 10));
    assert_eq!(w.emails.compose(&one("to-ben")).await.unwrap(), None);
    assert!(w.emails.compose(&one("to-cleo")).await.unwrap().is_some());
    cleo.deactivated_at = Some(t(20));
    w.ports.users.update(&cleo).await.unwrap();
    let fresh = Emails::new(
        w.ports.clone(),
        Arc::new(AccessCache::new(w.ports.clone())),
        "https://pp.example.com",
    )
    .with_keys(Arc::new(PlainKeys))
    .with_delivery(w.inbox.clone(), w.sent.clone());
    assert_eq!(fresh.compose(&one("to-cleo")).await.unwrap(), None);
}

#[tokio::test]
async fn unreadable_payload_is_permanent() {
    let w = world();
    let m = OutboxMessage::new(EMAIL_CHANNEL, "{}".into(), t(0));
    assert!(matches!(
        w.emails.compose(&m).await,
        Err(DeliveryError::Permanent(_))
    ));
}

#[tokio::test]
async fn digests_are_enqueued_once_a_day_with_unread_items_only() {
    let w = world();
    let ada = person(&w.ports, "ada", Some("ada@example.com"), Role::Developer).await;
    let ben = person(&w.ports, "ben", Some("ben@example.com"), Role::Developer).await;
    let (auth, _) = new_plan(&w.ports, &ada, "auth", Visibility::Published, 1).await;
    let (db, _) = new_plan(&w.ports, &ada, "db", Visibility::Published, 1).await;
    let ben_p = Principal {
        user_id: ben.id,
        login: "ben".into(),
        roles: vec![Role::Developer],
        method: AuthMethod::Session,
    };
    let day = Duration::days(1).num_seconds();
    w.emails
        .set_mode(&ben_p, EmailMode::Daily, t(1000))
        .await
        .unwrap();
    w.inbox.push(mention("before", &ben, &auth, 999));
    w.inbox.push(mention("a1", &ben, &auth, 1001));
    w.inbox.push(mention("d1", &ben, &db, 1002));
    w.inbox.push(mention("read", &ben, &db, 1003));
    w.inbox.mark_read("read", t(1004));
    // Not due before a day has passed.
    assert_eq!(w.emails.run_digests(t(1000 + day - 1)).await.unwrap(), 0);
    assert_eq!(w.emails.run_digests(t(1000 + day)).await.unwrap(), 1);
    // Run again (another process, a tick later): nothing more.
    assert_eq!(w.emails.run_digests(t(1000 + day)).await.unwrap(), 0);
    assert_eq!(w.emails.run_digests(t(1000 + day + 60)).await.unwrap(), 0);
    let queued = w.ports.outbox.due(t(1000 + 2 * day), 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    let payload: EmailPayload = serde_json::from_str(&queued[0].payload).unwrap();
    let EmailPayload::Digest { digest } = payload else {
        panic!("{payload:?}")
    };
    assert_eq!(digest.notification_ids, ["d1", "a1"]);
    assert_eq!((digest.since, digest.until), (t(1000), t(1000 + day)));
    let mail = w.emails.compose(&queued[0]).await.unwrap().unwrap();
    assert_eq!(mail.subject, "PlanPush daily digest: 2 notifications");
    let titles: Vec<_> = mail.groups.iter().map(|g| g.plan_title.as_str()).collect();
    assert_eq!(titles, ["Plan db", "Plan auth"]);
    // A quiet day: the cut-off moves, no e-mail.
    assert_eq!(w.emails.run_digests(t(1000 + 2 * day)).await.unwrap(), 0);
    assert_eq!(
        w.ports
            .outbox
            .due(t(1000 + 3 * day), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    w.inbox.push(mention("a2", &ben, &auth, 1000 + 2 * day + 5));
    assert_eq!(w.emails.run_digests(t(1000 + 3 * day)).await.unwrap(), 1);
    // Unsubscribed after the digest was queued: it is dropped.
    w.emails
        .unsubscribe(&format!("signed:{}", ben.id), t(1000 + 3 * day))
        .await
        .unwrap();
    for m in w.ports.outbox.due(t(1000 + 4 * day), 10).await.unwrap() {
        assert_eq!(w.emails.compose(&m).await.unwrap(), None);
    }
}

#[tokio::test]
async fn unsubscribe_needs_a_valid_token() {
    let w = world();
    let ben = person(&w.ports, "ben", Some("ben@example.com"), Role::Developer).await;
    let token = format!("signed:{}", ben.id);
    let target = w.emails.unsubscribe_target(&token).await.unwrap();
    assert_eq!(
        (target.login.as_str(), target.mode),
        ("ben", EmailMode::Immediate)
    );
    assert!(matches!(
        w.emails.unsubscribe("forged", t(1)).await,
        Err(UnsubscribeError::InvalidToken)
    ));
    assert!(matches!(
        w.emails
            .unsubscribe(&format!("signed:{}", UserId::new()), t(1))
            .await,
        Err(UnsubscribeError::InvalidToken)
    ));
    let done = w.emails.unsubscribe(&token, t(1)).await.unwrap();
    assert_eq!(done.mode, EmailMode::Off);
    assert_eq!(
        w.ports
            .email_preferences
            .get(ben.id)
            .await
            .unwrap()
            .unwrap()
            .mode,
        EmailMode::Off
    );
    // Without keys no link is valid.
    let keyless = Emails::new(
        w.ports.clone(),
        Arc::new(AccessCache::new(w.ports.clone())),
        "https://pp.example.com",
    );
    assert!(matches!(
        keyless.unsubscribe_target(&token).await,
        Err(UnsubscribeError::InvalidToken)
    ));
}
