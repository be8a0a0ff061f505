//! Notifications over the fakes: what is written to the outbox with pushes and comments, and how
//! the delivery worker retries, gives up and audits. Time is injected; nothing sleeps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use planpush_app::{
    AuthMethod, CommentChange, Comments, Deliveries, Delivery, DeliveryError, DeliverySettings,
    NewComment, Notification, Notifications, Notifier, OutboxMessage, PlanRef, Ports, Principal,
    Push, PushRequest, SectionChange, SectionChangeKind, WordChange,
};
use planpush_audit::{AuditAction, AuditFilter};
use planpush_document::SanitizeOptions;
use planpush_identity::{ExternalIdentity, Provider, User};
use planpush_plans::Visibility;
use planpush_roles::Role;
use planpush_versions::SourceFormat;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(s)
}

async fn principal(ports: &Ports, login: &str, role: Role) -> Principal {
    let u = User::new(login, t(0)).unwrap();
    ports
        .users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    Principal {
        user_id: u.id,
        login: login.into(),
        roles: vec![role],
        method: AuthMethod::Session,
    }
}

fn md(body: &str, visibility: Option<Visibility>, session: Option<String>) -> PushRequest {
    PushRequest {
        body: body.into(),
        format: SourceFormat::Markdown,
        name: None,
        session_id: session,
        visibility,
    }
}

const V1: &str = "# Auth Redesign\n\n## Flow\n\nClient → Gateway\n\n## Decisions\n\n- JWT\n";
const V2: &str = "# Auth Redesign\n\n## Flow\n\nClient → Gateway → Auth\n\n## Risks\n\n- drift\n";

fn services(ports: &Ports, notify: Notifications) -> (Push, Comments) {
    let push = Push::new(
        ports.clone(),
        SanitizeOptions::default(),
        Arc::new(planpush_app::fake::FakeDiagrams::default()),
    )
    .with_notifications(notify.clone());
    (
        push,
        Comments::new(ports.clone()).with_notifications(notify),
    )
}

async fn written(ports: &Ports) -> Vec<Notification> {
    ports
        .outbox
        .due(t(1_000_000), 1000)
        .await
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m.channel, "slack");
            Notification::from_json(&m.payload).unwrap()
        })
        .collect()
}

fn section(anchor: &str, title: &str, change: SectionChangeKind) -> SectionChange {
    SectionChange {
        anchor: anchor.into(),
        title: title.into(),
        change,
        words: None,
    }
}

#[tokio::test]
async fn pushes_comments_and_resolutions_of_a_published_plan_are_written_to_the_outbox() {
    let ports = planpush_app::fake::ports();
    let (push, comments) = services(&ports, Notifications::to("slack"));
    let ada = principal(&ports, "ada", Role::Developer).await;
    let bob = principal(&ports, "bob", Role::Qa).await;

    let first = push
        .push(&ada, md(V1, None, None), None, t(1))
        .await
        .unwrap();
    let id = first.plan.id().to_string();
    push.push(&ada, md(V2, None, Some(id.clone())), None, t(2))
        .await
        .unwrap();
    // Identical content stores nothing and notifies nobody.
    push.push(&ada, md(V2, None, Some(id.clone())), None, t(3))
        .await
        .unwrap();

    let thread = comments
        .create(
            &bob,
            first.plan.id(),
            NewComment {
                body: "Why <b>three</b> hops & not two?".into(),
                anchor: Some("flow".into()),
                quote: Some(("Gateway → Auth".into(), "Client → ".into(), "".into())),
                parent_id: None,
            },
            None,
            t(4),
        )
        .await
        .unwrap();
    let thread_id = thread.comment.id().to_string();
    let reply = comments
        .create(
            &ada,
            first.plan.id(),
            NewComment {
                body: "Auth validates.".into(),
                parent_id: Some(thread_id.clone()),
                ..NewComment::default()
            },
            None,
            t(5),
        )
        .await
        .unwrap();
    // An edit notifies nobody; resolving does, once; resolving again changes nothing.
    for change in [
        CommentChange {
            body: Some("Why three hops?".into()),
            resolved: None,
        },
        CommentChange {
            body: None,
            resolved: Some(true),
        },
        CommentChange {
            body: None,
            resolved: Some(true),
        },
    ] {
        comments
            .update(&bob, &thread_id, change, None, t(6))
            .await
            .unwrap();
    }

    let plan = PlanRef {
        slug: "auth-redesign".into(),
        title: "Auth Redesign".into(),
    };
    assert_eq!(
        written(&ports).await,
        [
            Notification::VersionPushed {
                plan: plan.clone(),
                version: 1,
                by: "ada".into(),
                sections: vec![
                    section("flow", "Flow", SectionChangeKind::Added),
                    section("decisions", "Decisions", SectionChangeKind::Added),
                ],
                more_sections: 0,
                summary: None,
                typed: vec![],
            },
            Notification::VersionPushed {
                plan: plan.clone(),
                version: 2,
                by: "ada".into(),
                sections: vec![
                    section("risks", "Risks", SectionChangeKind::Added),
                    SectionChange {
                        words: Some(WordChange {
                            inserted: 2,
                            deleted: 0
                        }),
                        ..section("flow", "Flow", SectionChangeKind::Changed)
                    },
                    section("decisions", "Decisions", SectionChangeKind::Removed),
                ],
                more_sections: 0,
                summary: Some("Sections: 1 added, 1 changed (+2 −0 words), 1 removed.".into()),
                // Plain section changes are the `sections` lines, not repeated as typed ones.
                typed: vec![],
            },
            Notification::CommentCreated {
                plan: plan.clone(),
                comment_id: thread_id.clone(),
                by: "bob".into(),
                anchor: "flow".into(),
                section: Some("Flow".into()),
                quote: Some("Gateway → Auth".into()),
                body: "Why <b>three</b> hops & not two?".into(),
                reply: false,
            },
            Notification::CommentCreated {
                plan: plan.clone(),
                comment_id: reply.comment.id().to_string(),
                by: "ada".into(),
                anchor: "flow".into(),
                section: Some("Flow".into()),
                quote: Some("Gateway → Auth".into()),
                body: "Auth validates.".into(),
                reply: true,
            },
            Notification::CommentResolved {
                plan,
                comment_id: thread_id,
                by: "bob".into(),
                anchor: "flow".into(),
                section: Some("Flow".into()),
                body: "Why three hops?".into(),
            },
        ]
    );
}

#[tokio::test]
async fn private_plans_and_unconfigured_servers_write_nothing() {
    for (notify, visibility) in [
        (Notifications::to("slack"), Some(Visibility::Private)),
        (Notifications::off(), None),
    ] {
        let ports = planpush_app::fake::ports();
        let (push, comments) = services(&ports, notify);
        let ada = principal(&ports, "ada", Role::Developer).await;
        let first = push
            .push(&ada, md(V1, visibility, None), None, t(1))
            .await
            .unwrap();
        push.push(
            &ada,
            md(V2, None, Some(first.plan.id().to_string())),
            None,
            t(2),
        )
        .await
        .unwrap();
        let c = comments
            .create(
                &ada,
                first.plan.id(),
                NewComment {
                    body: "secret".into(),
                    anchor: Some("flow".into()),
                    ..NewComment::default()
                },
                None,
                t(3),
            )
            .await
            .unwrap();
        comments
            .update(
                &ada,
                &c.comment.id().to_string(),
                CommentChange {
                    body: None,
                    resolved: Some(true),
                },
                None,
                t(4),
            )
            .await
            .unwrap();
        assert_eq!(written(&ports).await, [], "{visibility:?}");
    }
}

/// A notifier answering from a script (then succeeding), recording every attempt.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    attempts: Mutex<Vec<(String, u32)>>,
}

impl Scripted {
    fn new(script: Vec<Result<(), DeliveryError>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            attempts: Mutex::default(),
        })
    }
    fn attempts(&self) -> Vec<(String, u32)> {
        self.attempts.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for Scripted {
    fn channel(&self) -> &str {
        "slack"
    }
    async fn deliver(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        self.attempts
            .lock()
            .unwrap()
            .push((m.payload.clone(), m.attempts));
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

fn settings(max_attempts: u32) -> DeliverySettings {
    DeliverySettings {
        lease: Duration::seconds(30),
        retry_base: Duration::seconds(5),
        max_attempts,
    }
}

async fn enqueue(ports: &Ports, text: &str, at: i64) -> OutboxMessage {
    let m = OutboxMessage::new("slack", format!(r#"{{"text":"{text}"}}"#), t(at));
    ports.outbox.enqueue(&m).await.unwrap();
    m
}

async fn dropped(ports: &Ports) -> Vec<serde_json::Value> {
    ports
        .audit_query
        .page(
            &AuditFilter {
                action: Some(AuditAction::NotificationDropped),
                ..AuditFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| {
            serde_json::json!({ "target": e.target, "details": e.details, "actor": e.actor.map(|a| a.to_string()) })
        })
        .collect()
}

fn retry(e: &str) -> Result<(), DeliveryError> {
    Err(DeliveryError::Retryable(e.into()))
}

#[tokio::test]
async fn failures_are_retried_with_exponential_backoff_then_delivered_once() {
    let ports = planpush_app::fake::ports();
    let slack = Scripted::new(vec![
        retry("HTTP 500"),
        retry("HTTP 503"),
        retry("timed out"),
    ]);
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(8));
    let a = enqueue(&ports, "a", 0).await;
    let b = enqueue(&ports, "b", 1).await;

    let outcome = |r: Option<(OutboxMessage, Delivery)>| r.map(|(m, d)| (m.id, d));
    // Oldest first; each failure waits 5 s, 10 s, 20 s from the attempt.
    assert_eq!(
        outcome(worker.deliver_next(t(1)).await.unwrap()),
        Some((a.id, Delivery::Retrying(t(6))))
    );
    assert_eq!(
        outcome(worker.deliver_next(t(1)).await.unwrap()),
        Some((b.id, Delivery::Retrying(t(6))))
    );
    assert_eq!(outcome(worker.deliver_next(t(5)).await.unwrap()), None);
    assert_eq!(
        outcome(worker.deliver_next(t(6)).await.unwrap()),
        Some((a.id, Delivery::Retrying(t(16))))
    );
    assert_eq!(
        outcome(worker.deliver_next(t(6)).await.unwrap()),
        Some((b.id, Delivery::Delivered))
    );
    assert_eq!(outcome(worker.deliver_next(t(15)).await.unwrap()), None);
    assert_eq!(
        outcome(worker.deliver_next(t(16)).await.unwrap()),
        Some((a.id, Delivery::Delivered))
    );
    assert_eq!(
        outcome(worker.deliver_next(t(100_000)).await.unwrap()),
        None
    );

    assert_eq!(
        slack.attempts(),
        [
            (a.payload.clone(), 1),
            (b.payload.clone(), 1),
            (a.payload.clone(), 2),
            (b.payload.clone(), 2),
            (a.payload.clone(), 3),
        ]
    );
    assert!(ports.outbox.due(t(100_000), 10).await.unwrap().is_empty());
    assert_eq!(dropped(&ports).await, Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn a_message_failing_every_attempt_is_given_up_and_audited() {
    let ports = planpush_app::fake::ports();
    let slack = Scripted::new((0..10).map(|_| retry("HTTP 500")).collect());
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(3));
    let m = enqueue(&ports, "a", 0).await;
    let mut outcomes = vec![];
    let mut now = t(0);
    while let Some((_, d)) = worker.deliver_next(now).await.unwrap() {
        if let Delivery::Retrying(next) = d {
            now = next;
        }
        outcomes.push(d);
    }
    assert_eq!(
        outcomes,
        [
            Delivery::Retrying(t(5)),
            Delivery::Retrying(t(15)),
            Delivery::GaveUp
        ]
    );
    assert_eq!(slack.attempts().len(), 3, "exactly max_attempts attempts");
    assert!(worker.deliver_next(t(1_000_000)).await.unwrap().is_none());
    assert_eq!(
        dropped(&ports).await,
        [serde_json::json!({
            "target": format!("notification:{}", m.id),
            "details": {"channel": "slack", "attempts": 3, "error": "HTTP 500"},
            "actor": null,
        })]
    );
}

#[tokio::test]
async fn permanent_errors_and_unknown_channels_are_given_up_at_once() {
    let ports = planpush_app::fake::ports();
    let slack = Scripted::new(vec![Err(DeliveryError::Permanent(
        "HTTP 404: no_service".into(),
    ))]);
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(8));
    let gone = enqueue(&ports, "gone", 0).await;
    let teams = OutboxMessage::new("teams", "{}".into(), t(1));
    ports.outbox.enqueue(&teams).await.unwrap();
    for at in [2, 3] {
        assert!(matches!(
            worker.deliver_next(t(at)).await.unwrap(),
            Some((_, Delivery::GaveUp))
        ));
    }
    assert!(worker.deliver_next(t(1_000_000)).await.unwrap().is_none());
    assert_eq!(
        slack.attempts().len(),
        1,
        "the unknown channel is never sent"
    );
    let events = dropped(&ports).await;
    let targets: Vec<_> = events.iter().map(|e| e["target"].clone()).collect();
    assert_eq!(
        targets,
        [
            serde_json::json!(format!("notification:{}", teams.id)),
            serde_json::json!(format!("notification:{}", gone.id)),
        ],
        "newest first"
    );
    assert_eq!(
        events[1]["details"]["error"],
        serde_json::json!("HTTP 404: no_service")
    );
}

#[tokio::test]
async fn a_worker_dying_mid_attempt_leaves_the_message_to_the_next_one_after_its_lease() {
    let ports = planpush_app::fake::ports();
    let m = enqueue(&ports, "a", 0).await;
    // A worker claimed it and died before any outcome was recorded.
    let claimed = ports.outbox.claim(t(1), t(31), 1).await.unwrap();
    assert_eq!(claimed.len(), 1);

    let slack = Scripted::new(vec![]);
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(8));
    assert!(
        worker.deliver_next(t(30)).await.unwrap().is_none(),
        "leased: not sent twice at once"
    );
    let (again, d) = worker.deliver_next(t(31)).await.unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts, d),
        (m.id, 2, Delivery::Delivered)
    );
    assert_eq!(slack.attempts().len(), 1);

    // Attempts that keep dying are bounded too: the message is given up without another send.
    let stuck = enqueue(&ports, "stuck", 100).await;
    for i in 0..3 {
        ports
            .outbox
            .claim(t(100 + 30 * i), t(130 + 30 * i), 1)
            .await
            .unwrap();
    }
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(3));
    let (m, d) = worker.deliver_next(t(190)).await.unwrap().unwrap();
    assert_eq!((m.id, d), (stuck.id, Delivery::GaveUp));
    assert_eq!(slack.attempts().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_hint_longer_than_the_backoff_is_honoured() {
    let ports = planpush_app::fake::ports();
    let limited = |secs| {
        Err(DeliveryError::RateLimited {
            error: "HTTP 429: rate_limited".into(),
            retry_after: Duration::seconds(secs),
        })
    };
    let slack = Scripted::new(vec![limited(60), limited(1)]);
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(8));
    let m = enqueue(&ports, "a", 0).await;
    let (_, d) = worker.deliver_next(t(0)).await.unwrap().unwrap();
    assert_eq!(d, Delivery::Retrying(t(60)), "the hint, being longer");
    let (_, d) = worker.deliver_next(t(60)).await.unwrap().unwrap();
    assert_eq!(
        d,
        Delivery::Retrying(t(70)),
        "the backoff (10 s), being longer"
    );
    let (again, d) = worker.deliver_next(t(70)).await.unwrap().unwrap();
    assert_eq!((again.id, d), (m.id, Delivery::Delivered));
    assert_eq!(ports.outbox.due(t(0), 1).await.unwrap(), [], "nothing left");
}

#[tokio::test]
async fn the_sweeper_deletes_finished_notifications_after_thirty_days_and_never_pending_ones() {
    let ports = planpush_app::fake::ports();
    let worker = Deliveries::new(ports.clone(), Scripted::new(vec![]), settings(8));
    let done = enqueue(&ports, "done", 0).await;
    worker.deliver_next(t(0)).await.unwrap().unwrap();
    let pending = enqueue(&ports, "pending", 1).await;
    let maintenance =
        planpush_app::Maintenance::new(ports.clone(), planpush_versions::RetentionPolicy::days(90));
    let day = 86_400;
    assert_eq!(
        maintenance.sweep(t(29 * day)).await.unwrap().notifications,
        0
    );
    assert_eq!(
        maintenance.sweep(t(31 * day)).await.unwrap().notifications,
        1
    );
    let left = ports.outbox.due(t(31 * day), 10).await.unwrap();
    assert_eq!(left.iter().map(|m| m.id).collect::<Vec<_>>(), [pending.id]);
    assert_ne!(done.id, pending.id);
}

#[tokio::test]
async fn a_thread_toggled_repeatedly_is_announced_once_per_window() {
    let ports = planpush_app::fake::ports();
    let (push, comments) = services(&ports, Notifications::to("slack"));
    let ada = principal(&ports, "ada", Role::Developer).await;
    let bob = principal(&ports, "bob", Role::Qa).await;
    let first = push
        .push(&ada, md(V1, None, None), None, t(1))
        .await
        .unwrap();
    let thread = comments
        .create(
            &bob,
            first.plan.id(),
            NewComment {
                body: "Why?".into(),
                anchor: Some("flow".into()),
                ..NewComment::default()
            },
            None,
            t(2),
        )
        .await
        .unwrap();
    let id = thread.comment.id().to_string();
    let toggle = |resolved: bool, at: i64| {
        let comments = comments.clone();
        let bob = bob.clone();
        let id = id.clone();
        async move {
            comments
                .update(
                    &bob,
                    &id,
                    CommentChange {
                        body: None,
                        resolved: Some(resolved),
                    },
                    None,
                    t(at),
                )
                .await
                .unwrap();
        }
    };
    let resolved = |all: Vec<Notification>| {
        all.into_iter()
            .filter(|n| matches!(n, Notification::CommentResolved { .. }))
            .count()
    };
    // Resolve, reopen, resolve, … ten times within the window: one message for the channel.
    for i in 0..10 {
        toggle(i % 2 == 0, 10 + i).await;
    }
    assert_eq!(resolved(written(&ports).await), 1);
    // Every change is still audited.
    let audited = ports
        .audit_query
        .page(&AuditFilter::default(), None, 1000)
        .await
        .unwrap()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.action,
                AuditAction::CommentResolved | AuditAction::CommentReopened
            )
        })
        .count();
    assert_eq!(audited, 10);
    // After the window, resolving again is news again.
    let later = 10 + planpush_app::RESOLVE_NOTIFY_WINDOW.num_seconds() + 1;
    toggle(true, later).await;
    assert_eq!(resolved(written(&ports).await), 2);
}

/// A [`Scripted`] notifier for another channel.
struct OnChannel(&'static str, Arc<Scripted>);

#[async_trait]
impl Notifier for OnChannel {
    fn channel(&self) -> &str {
        self.0
    }
    async fn deliver(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        self.1.deliver(m).await
    }
}

#[tokio::test]
async fn every_configured_channel_gets_its_own_message_and_its_own_retries() {
    let ports = planpush_app::fake::ports();
    let notify = Notifications::to("slack")
        .and("teams")
        .and("discord")
        .and("teams");
    assert_eq!(notify.channels(), ["slack", "teams", "discord"]);
    let (push, _) = services(&ports, notify.clone());
    let ada = principal(&ports, "ada", Role::Developer).await;
    // A private plan: nothing on any channel.
    push.push(&ada, md(V1, Some(Visibility::Private), None), None, t(1))
        .await
        .unwrap();
    assert_eq!(ports.outbox.due(t(100), 100).await.unwrap(), []);
    // A published one: one message per channel, the same payload.
    push.push(&ada, md(V1, None, None), None, t(2))
        .await
        .unwrap();
    let due = ports.outbox.due(t(100), 100).await.unwrap();
    let mut channels: Vec<&str> = due.iter().map(|m| m.channel.as_str()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["discord", "slack", "teams"]);
    assert!(due.iter().all(|m| m.payload == due[0].payload));

    // One worker drives the three notifiers; Teams fails once and is retried alone.
    let slack = Scripted::new(vec![]);
    let teams = Scripted::new(vec![retry("HTTP 502")]);
    let discord = Scripted::new(vec![]);
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(8))
        .with(Arc::new(OnChannel("teams", teams.clone())))
        .with(Arc::new(OnChannel("discord", discord.clone())));
    assert_eq!(worker.channels(), ["slack", "teams", "discord"]);
    let mut outcomes = vec![];
    while let Some((m, d)) = worker.deliver_next(t(3)).await.unwrap() {
        outcomes.push((m.channel, d));
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        outcomes,
        [
            ("discord".to_owned(), Delivery::Delivered),
            ("slack".to_owned(), Delivery::Delivered),
            ("teams".to_owned(), Delivery::Retrying(t(8))),
        ]
    );
    let (m, d) = worker.deliver_next(t(8)).await.unwrap().unwrap();
    assert_eq!((m.channel.as_str(), d), ("teams", Delivery::Delivered));
    assert_eq!(worker.deliver_next(t(100)).await.unwrap(), None);
    assert_eq!(
        (
            slack.attempts().len(),
            teams.attempts().len(),
            discord.attempts().len()
        ),
        (1, 2, 1)
    );

    // A message for a channel no notifier delivers (configuration removed) is given up, audited.
    ports
        .outbox
        .enqueue(&OutboxMessage::new("email", "{}".into(), t(200)))
        .await
        .unwrap();
    let (_, d) = worker.deliver_next(t(200)).await.unwrap().unwrap();
    assert_eq!(d, Delivery::GaveUp);
    assert_eq!(dropped(&ports).await.len(), 1);
}

const V3: &str =
    "# Auth Redesign\n\n## Flow\n\nClient → Gateway → Auth → DB\n\n## Rollout\n\nCanary.\n";

#[tokio::test]
async fn a_burst_of_pushes_is_told_once_naming_its_versions_and_webhooks_get_every_version() {
    let ports = planpush_app::fake::ports();
    let window = Duration::seconds(30);
    let notify = Notifications::to("slack")
        .and("webhooks")
        .with_burst(window);
    let (push, _) = services(&ports, notify);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let bob = principal(&ports, "bob", Role::Admin).await;
    // Without a registered hook, nothing is written on the webhooks channel (tested below).
    ports
        .webhooks
        .insert(&planpush_app::Webhook {
            id: planpush_app::WebhookId::new(),
            url: "https://hooks.example.com/in".into(),
            events: vec![planpush_app::WebhookEvent::VersionCreated],
            sealed_secret: "sealed".into(),
            created_by: None,
            created_at: t(0),
        })
        .await
        .unwrap();
    let first = push
        .push(&ada, md(V1, None, None), None, t(0))
        .await
        .unwrap();
    let sid = Some(first.plan.id().to_string());
    push.push(&ada, md(V2, None, sid.clone()), None, t(5))
        .await
        .unwrap();
    push.push(&bob, md(V3, None, sid.clone()), None, t(12))
        .await
        .unwrap();
    // Webhooks are never delayed; the chat messages wait for their window.
    let due = ports.outbox.due(t(1), 100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].channel, "webhooks");

    let slack = Scripted::new(vec![]);
    let worker = Deliveries::new(ports.clone(), slack.clone(), settings(8))
        .with(Arc::new(OnChannel("webhooks", Scripted::new(vec![]))))
        .with_burst(window);
    while worker.deliver_next(t(29)).await.unwrap().is_some() {}
    assert!(slack.attempts().is_empty(), "still inside the window");
    let (m, d) = worker.deliver_next(t(30)).await.unwrap().unwrap();
    assert_eq!((m.channel.as_str(), d), ("slack", Delivery::Delivered));
    assert_eq!(worker.deliver_next(t(100)).await.unwrap(), None, "absorbed");
    let sent = slack.attempts();
    assert_eq!(sent.len(), 1);
    let n = Notification::from_json(&sent[0].0).unwrap();
    assert_eq!(
        n,
        Notification::VersionsPushed {
            plan: PlanRef {
                slug: "auth-redesign".into(),
                title: "Auth Redesign".into()
            },
            versions: vec![1, 2, 3],
            by: vec!["ada".into(), "bob".into()],
            // Added in the burst stays added (Flow changed later); added then removed is gone
            // (Decisions, Risks): the list reads like one version from nothing to version 3.
            sections: vec![
                section("flow", "Flow", SectionChangeKind::Added),
                section("rollout", "Rollout", SectionChangeKind::Added),
            ],
            more_sections: 0,
        }
    );
    // The stored row carries what was sent (a retry would send the same).
    let row = ports.outbox.recent("slack", 10).await.unwrap();
    assert_eq!(row.len(), 3);
    assert_eq!(row.iter().filter(|r| r.payload == sent[0].0).count(), 1);
    assert!(row.iter().all(|r| r.delivered_at.is_some()));

    // A push after the window is its own message again.
    push.push(&ada, md(V1, None, sid), None, t(200))
        .await
        .unwrap();
    while worker.deliver_next(t(230)).await.unwrap().is_some() {}
    let sent = slack.attempts();
    assert_eq!(sent.len(), 2);
    assert!(matches!(
        Notification::from_json(&sent[1].0).unwrap(),
        Notification::VersionPushed { version: 4, .. }
    ));
}

#[test]
fn merged_sections_follow_their_last_change() {
    use SectionChangeKind::*;
    let n = |v: u32, s: Vec<SectionChange>| Notification::VersionPushed {
        plan: PlanRef {
            slug: "p".into(),
            title: "P".into(),
        },
        version: v,
        by: "ada".into(),
        sections: s,
        more_sections: 0,
        summary: None,
        typed: vec![],
    };
    let merged = planpush_app::merge_versions(&[
        n(
            2,
            vec![
                section("a", "A", Added),
                section("b", "B", Changed),
                section("c", "C", Removed),
                section("d", "D", Changed),
            ],
        ),
        n(
            3,
            vec![
                section("a", "A2", Changed),
                section("c", "C", Added),
                section("d", "D", Removed),
                section("e", "E", Added),
            ],
        ),
        n(4, vec![section("e", "E", Removed)]),
    ])
    .unwrap();
    let Notification::VersionsPushed {
        versions, sections, ..
    } = merged
    else {
        panic!("{merged:?}")
    };
    assert_eq!(versions, [2, 3, 4]);
    assert_eq!(
        sections,
        [
            section("a", "A2", Added),
            section("b", "B", Changed),
            section("c", "C", Changed),
            section("d", "D", Removed),
        ]
    );
    // Another plan's versions are not merged.
    let mut other = n(5, vec![]);
    if let Notification::VersionPushed { plan, .. } = &mut other {
        plan.slug = "q".into();
    }
    assert_eq!(planpush_app::merge_versions(&[n(2, vec![]), other]), None);
}

/// The resolve/reopen window is configurable and decided from the database: two processes (two
/// `Comments` over the same ports) answering a thread's toggles in turn announce it once per
/// window; a zero window announces every resolution.
#[tokio::test]
async fn the_resolve_window_is_configurable_and_shared_by_every_process() {
    let ports = planpush_app::fake::ports();
    let notify = Notifications::to("slack").with_resolve_window(Duration::seconds(60));
    assert_eq!(notify.resolve_window(), Duration::seconds(60));
    assert_eq!(
        Notifications::to("slack").resolve_window(),
        planpush_app::RESOLVE_NOTIFY_WINDOW
    );
    let (push, one) = services(&ports, notify.clone());
    let (_, other) = services(&ports, notify);
    let ada = principal(&ports, "ada", Role::Developer).await;
    let first = push
        .push(&ada, md(V1, None, None), None, t(1))
        .await
        .unwrap();
    let thread = one
        .create(
            &ada,
            first.plan.id(),
            NewComment {
                body: "Why?".into(),
                anchor: Some("flow".into()),
                ..NewComment::default()
            },
            None,
            t(2),
        )
        .await
        .unwrap();
    let id = thread.comment.id().to_string();
    let toggle = |by: &Comments, resolved: bool, at: i64| {
        let (by, ada, id) = (by.clone(), ada.clone(), id.clone());
        async move {
            by.update(
                &ada,
                &id,
                CommentChange {
                    body: None,
                    resolved: Some(resolved),
                },
                None,
                t(at),
            )
            .await
            .unwrap();
        }
    };
    let resolved = |all: Vec<Notification>| {
        all.into_iter()
            .filter(|n| matches!(n, Notification::CommentResolved { .. }))
            .count()
    };
    toggle(&one, true, 10).await;
    toggle(&other, false, 11).await;
    toggle(&other, true, 12).await;
    toggle(&one, false, 13).await;
    toggle(&one, true, 14).await;
    assert_eq!(
        resolved(written(&ports).await),
        1,
        "one per window, whichever process"
    );
    toggle(&other, false, 69).await;
    toggle(&other, true, 71).await;
    assert_eq!(resolved(written(&ports).await), 2, "the window has passed");

    // A zero window: every resolution is news.
    let (_, eager) = services(
        &ports,
        Notifications::to("slack").with_resolve_window(Duration::zero()),
    );
    toggle(&eager, false, 72).await;
    toggle(&eager, true, 73).await;
    toggle(&eager, false, 74).await;
    toggle(&eager, true, 75).await;
    assert_eq!(resolved(written(&ports).await), 4);
}
