//! Notifications are written in the same transaction as the write that causes them.

use planpush_comments::*;
use planpush_plans::*;
use planpush_versions::*;

use super::plans::new_plan;
use super::{t, user};
use crate::{OutboxMessage, Ports};

fn msg(text: &str, at: i64) -> OutboxMessage {
    OutboxMessage::new("slack", format!(r#"{{"text":"{text}"}}"#), t(at))
}

async fn payloads(p: &Ports) -> Vec<String> {
    p.outbox
        .due(t(1_000_000), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.payload)
        .collect()
}

pub async fn outbox_written_with_commits(p: &Ports) {
    let ada = user(p, "ada").await;
    let (mut plan, v1) = new_plan(p, &ada, "p", Visibility::Published, 0).await;

    // The next version, with its message: both stored.
    let v2 = Version::new(
        Some(&v1.head()),
        NewVersion {
            plan_id: plan.id(),
            title: "Two".to_owned(),
            format: SourceFormat::Html,
            source: "<h1>two</h1>".into(),
            html: "<h1>two</h1>".into(),
            sections: SectionIndex::default(),
            pushed_by: ada.id,
            pushed_at: t(10),
        },
    );
    let mut next = plan.clone();
    next.record_version(2, "Two", t(10)).unwrap();
    let sent = msg("v2", 10);
    p.versions
        .commit(
            Commit::NextVersion {
                plan: &next,
                version: &v2,
                text: &planpush_document::text_units(&v2.html),
            },
            std::slice::from_ref(&sent),
        )
        .await
        .unwrap();
    let stored = p.outbox.due(t(10), 10).await.unwrap();
    assert_eq!(stored, [sent], "stored exactly as given");
    plan = next;

    // A conflicting commit (version 2 again) writes neither the version nor its message.
    let stale = p
        .versions
        .commit(
            Commit::NextVersion {
                plan: &plan,
                version: &v2,
                text: &planpush_document::text_units(&v2.html),
            },
            &[msg("conflict", 11)],
        )
        .await;
    assert!(
        matches!(stale, Err(VersionRepoError::Conflict)),
        "{stale:?}"
    );

    // A refused new plan (slug taken) writes no message either.
    let mut dup = Plan::new(
        plan.slug().clone(),
        "Dup",
        ada.id,
        Visibility::Published,
        t(12),
    )
    .unwrap();
    dup.record_version(1, "Dup", t(12)).unwrap();
    let dv = Version::new(
        None,
        NewVersion {
            plan_id: dup.id(),
            title: "Dup".to_owned(),
            format: SourceFormat::Html,
            source: "x".into(),
            html: "x".into(),
            sections: SectionIndex::default(),
            pushed_by: ada.id,
            pushed_at: t(12),
        },
    );
    let taken = p
        .versions
        .commit(
            Commit::NewPlan {
                plan: &dup,
                version: &dv,
                text: &planpush_document::text_units(&dv.html),
            },
            &[msg("dup", 12)],
        )
        .await;
    assert!(
        matches!(taken, Err(VersionRepoError::SlugTaken(_))),
        "{taken:?}"
    );

    // A new plan with two messages.
    let mut other = Plan::new(
        Slug::parse("other").unwrap(),
        "Other",
        ada.id,
        Visibility::Published,
        t(13),
    )
    .unwrap();
    other.record_version(1, "Other", t(13)).unwrap();
    let ov = Version::new(
        None,
        NewVersion {
            plan_id: other.id(),
            title: "Other".to_owned(),
            format: SourceFormat::Html,
            source: "o".into(),
            html: "o".into(),
            sections: SectionIndex::default(),
            pushed_by: ada.id,
            pushed_at: t(13),
        },
    );
    p.versions
        .commit(
            Commit::NewPlan {
                plan: &other,
                version: &ov,
                text: &planpush_document::text_units(&ov.html),
            },
            &[msg("o1", 13), msg("o2", 14)],
        )
        .await
        .unwrap();
    assert_eq!(
        payloads(p).await,
        [r#"{"text":"v2"}"#, r#"{"text":"o1"}"#, r#"{"text":"o2"}"#]
    );
}

/// An event for the webhooks is written with the commit only while a hook is registered; the
/// other channels' messages regardless.
pub async fn outbox_webhook_events_need_a_hook(p: &Ports) {
    use crate::{WEBHOOKS_CHANNEL, Webhook, WebhookEvent, WebhookId};
    let ada = user(p, "ada").await;
    let (plan, v1) = new_plan(p, &ada, "hooked", Visibility::Published, 0).await;
    let commit = |number: u32, previous: Version, at: i64| {
        let version = Version::new(
            Some(&previous.head()),
            NewVersion {
                plan_id: plan.id(),
                title: format!("V{number}"),
                format: SourceFormat::Html,
                source: format!("<h1>{number}</h1>").into(),
                html: format!("<h1>{number}</h1>").into(),
                sections: SectionIndex::default(),
                pushed_by: ada.id,
                pushed_at: t(at),
            },
        );
        let mut next = plan.clone();
        next.record_version(number, &format!("V{number}"), t(at))
            .unwrap();
        let messages = [
            OutboxMessage::new(WEBHOOKS_CHANNEL, format!(r#"{{"v":{number}}}"#), t(at)),
            msg(&format!("v{number}"), at + 1),
        ];
        async move {
            p.versions
                .commit(
                    Commit::NextVersion {
                        plan: &next,
                        version: &version,
                        text: &planpush_document::text_units(&version.html),
                    },
                    &messages,
                )
                .await
                .unwrap();
            version
        }
    };
    let channels = || async {
        p.outbox
            .due(t(1_000_000), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.channel, m.payload))
            .collect::<Vec<_>>()
    };

    let v2 = commit(2, v1, 10).await;
    assert_eq!(
        channels().await,
        [("slack".to_owned(), r#"{"text":"v2"}"#.to_owned())],
        "no hook: nothing for the webhooks"
    );
    p.webhooks
        .insert(&Webhook {
            id: WebhookId::new(),
            url: "https://hooks.example.com/in".into(),
            events: vec![WebhookEvent::VersionCreated],
            sealed_secret: "sealed".into(),
            created_by: None,
            created_at: t(11),
        })
        .await
        .unwrap();
    commit(3, v2, 20).await;
    assert_eq!(
        channels().await,
        [
            ("slack".to_owned(), r#"{"text":"v2"}"#.to_owned()),
            (WEBHOOKS_CHANNEL.to_owned(), r#"{"v":3}"#.to_owned()),
            ("slack".to_owned(), r#"{"text":"v3"}"#.to_owned()),
        ]
    );
}

pub async fn outbox_written_with_comments(p: &Ports) {
    let ada = user(p, "ada").await;
    let (plan, _) = new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let mut c = Comment::thread(
        plan.id(),
        ada.id,
        VersionNumber::FIRST,
        AnchorId::parse("a").unwrap(),
        None,
        CommentBody::parse("Why?").unwrap(),
        t(1),
    );
    p.comments.insert(&c, &[msg("new", 1)]).await.unwrap();
    c.resolve(ada.id, t(2)).unwrap();
    p.comments.update(&c, &[msg("resolved", 2)]).await.unwrap();
    p.comments.update(&c, &[]).await.unwrap();

    // An update of an unknown comment is refused and writes no message.
    let ghost = Comment::thread(
        plan.id(),
        ada.id,
        VersionNumber::FIRST,
        AnchorId::parse("a").unwrap(),
        None,
        CommentBody::parse("ghost").unwrap(),
        t(3),
    );
    assert!(matches!(
        p.comments.update(&ghost, &[msg("ghost", 3)]).await,
        Err(CommentRepoError::NotFound)
    ));
    assert_eq!(
        payloads(p).await,
        [r#"{"text":"new"}"#, r#"{"text":"resolved"}"#]
    );
}
