use chrono::Duration;

use super::t;
use crate::{InfraError, OutboxMessage, OutboxMessageId, Ports};

pub async fn kv_contract(p: &Ports) {
    p.kv.put("mermaid:abc", b"<svg/>", None).await.unwrap();
    p.kv.put("rate:1.2.3.4", b"7", Some(t(60))).await.unwrap();
    assert_eq!(
        p.kv.get("mermaid:abc", t(0)).await.unwrap().as_deref(),
        Some(&b"<svg/>"[..])
    );
    assert_eq!(
        p.kv.get("rate:1.2.3.4", t(59)).await.unwrap().as_deref(),
        Some(&b"7"[..])
    );
    assert_eq!(
        p.kv.get("rate:1.2.3.4", t(60)).await.unwrap(),
        None,
        "expired at its instant"
    );
    p.kv.put("mermaid:abc", &[0, 159, 146, 150], Some(t(100)))
        .await
        .unwrap();
    assert_eq!(
        p.kv.get("mermaid:abc", t(0)).await.unwrap(),
        Some(vec![0, 159, 146, 150]),
        "binary-safe replace"
    );
    assert_eq!(p.kv.purge_expired(t(100)).await.unwrap(), 2);
    assert_eq!(p.kv.get("mermaid:abc", t(0)).await.unwrap(), None);
    p.kv.put("k", b"v", None).await.unwrap();
    p.kv.delete("k").await.unwrap();
    p.kv.delete("k").await.unwrap();
    assert_eq!(p.kv.get("k", t(0)).await.unwrap(), None);
}

pub async fn outbox_contract(p: &Ports) {
    let a = OutboxMessage::new("slack", r#"{"text":"a"}"#.into(), t(0));
    let b = OutboxMessage::new("slack", r#"{"text":"b"}"#.into(), t(1));
    let c = OutboxMessage::new("slack", r#"{"text":"c"}"#.into(), t(2));
    for m in [&a, &b, &c] {
        p.outbox.enqueue(m).await.unwrap();
    }
    assert_eq!(
        p.outbox.due(t(1), 10).await.unwrap(),
        [a.clone(), b.clone()],
        "only due ones, oldest first"
    );
    assert_eq!(
        p.outbox.due(t(5), 1).await.unwrap(),
        std::slice::from_ref(&a),
        "limit"
    );

    p.outbox
        .mark_failed(a.id, "HTTP 500", t(0) + Duration::seconds(30))
        .await
        .unwrap();
    p.outbox.mark_delivered(b.id, t(6)).await.unwrap();
    p.outbox.give_up(c.id, "HTTP 404", t(7)).await.unwrap();
    assert!(p.outbox.due(t(29), 10).await.unwrap().is_empty());
    let retried = p.outbox.due(t(30), 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        (
            retried[0].id,
            retried[0].attempts,
            retried[0].last_error.as_deref()
        ),
        (a.id, 0, Some("HTTP 500")),
        "attempts are counted by claims, not by mark_failed"
    );

    // Finished messages go when purged; the pending one stays.
    assert_eq!(p.outbox.purge_finished(t(7)).await.unwrap(), 1, "b only");
    assert_eq!(p.outbox.purge_finished(t(8)).await.unwrap(), 1, "c");
    assert_eq!(p.outbox.purge_finished(t(1_000_000)).await.unwrap(), 0);
    assert_eq!(p.outbox.due(t(30), 10).await.unwrap().len(), 1, "a stays");

    let ghost = OutboxMessageId::new();
    assert!(matches!(
        p.outbox.mark_delivered(ghost, t(0)).await,
        Err(InfraError::NotFound)
    ));
    assert!(matches!(
        p.outbox.mark_failed(ghost, "x", t(0)).await,
        Err(InfraError::NotFound)
    ));
    assert!(matches!(
        p.outbox.give_up(ghost, "x", t(0)).await,
        Err(InfraError::NotFound)
    ));
}

pub async fn outbox_claim_leases(p: &Ports) {
    let a = OutboxMessage::new("slack", r#"{"text":"a"}"#.into(), t(0));
    let b = OutboxMessage::new("slack", r#"{"text":"b"}"#.into(), t(1));
    let later = OutboxMessage::new("slack", r#"{"text":"later"}"#.into(), t(100));
    for m in [&a, &b, &later] {
        p.outbox.enqueue(m).await.unwrap();
    }
    let claimed = p.outbox.claim(t(10), t(40), 1).await.unwrap();
    assert_eq!(claimed.len(), 1, "limit");
    assert_eq!(
        (
            claimed[0].id,
            claimed[0].attempts,
            claimed[0].next_attempt_at
        ),
        (a.id, 1, t(40)),
        "oldest first, counted, leased"
    );
    let second = p.outbox.claim(t(10), t(40), 10).await.unwrap();
    assert_eq!(
        second.iter().map(|m| m.id).collect::<Vec<_>>(),
        [b.id],
        "a leased message is not claimed again; a future one not yet"
    );
    assert!(p.outbox.claim(t(39), t(70), 10).await.unwrap().is_empty());
    assert!(p.outbox.due(t(39), 10).await.unwrap().is_empty());

    // The worker holding `a` died: its lease ends and the message is due again.
    p.outbox.mark_delivered(b.id, t(12)).await.unwrap();
    let again = p.outbox.claim(t(40), t(70), 10).await.unwrap();
    assert_eq!(
        again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        [(a.id, 2)]
    );
    p.outbox.mark_delivered(a.id, t(41)).await.unwrap();
    let rest = p.outbox.claim(t(200), t(230), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|m| m.id).collect::<Vec<_>>(),
        [later.id],
        "delivered messages are never claimed"
    );
    p.outbox
        .give_up(later.id, "HTTP 404", t(201))
        .await
        .unwrap();
    assert!(
        p.outbox
            .claim(t(10_000), t(10_030), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn readiness_contract(p: &Ports) {
    p.readiness.check().await.unwrap();
}

pub async fn outbox_fan_out_and_recent(p: &Ports) {
    use crate::{Webhook, WebhookEvent, WebhookId, hook_channel};
    let event = OutboxMessage::new("webhooks", "{}".into(), t(0));
    p.outbox.enqueue(&event).await.unwrap();
    let hook = Webhook {
        id: WebhookId::new(),
        url: "https://hooks.example.com/in".into(),
        events: vec![WebhookEvent::VersionCreated, WebhookEvent::CommentCreated],
        sealed_secret: "sealed".into(),
        created_by: None,
        created_at: t(0),
    };
    p.webhooks.insert(&hook).await.unwrap();
    assert!(p.webhooks.insert(&hook).await.is_err(), "duplicate id");
    assert_eq!(p.webhooks.get(hook.id).await.unwrap(), hook);
    assert_eq!(
        p.webhooks.list().await.unwrap(),
        std::slice::from_ref(&hook)
    );

    let channel = hook_channel(hook.id);
    let one = OutboxMessage::new(&channel, r#"{"n":1}"#.into(), t(0));
    let mut two = OutboxMessage::new(&channel, r#"{"n":2}"#.into(), t(1));
    two.next_attempt_at = t(1);
    assert!(
        p.outbox
            .fan_out(event.id, &[one.clone(), two.clone()], t(2))
            .await
            .unwrap()
    );
    assert!(
        !p.outbox
            .fan_out(event.id, std::slice::from_ref(&one), t(3))
            .await
            .unwrap(),
        "a second fan-out of the same message writes nothing"
    );
    assert!(matches!(
        p.outbox.fan_out(OutboxMessageId::new(), &[], t(3)).await,
        Err(InfraError::NotFound)
    ));
    let due = p.outbox.due(t(5), 10).await.unwrap();
    assert_eq!(due, [one.clone(), two.clone()], "the event is delivered");
    assert_eq!(
        p.outbox.recent(&channel, 10).await.unwrap(),
        [two.clone(), one.clone()],
        "newest first"
    );
    assert_eq!(p.outbox.recent(&channel, 1).await.unwrap(), [two.clone()]);
    assert!(p.outbox.recent("slack", 10).await.unwrap().is_empty());

    // Deleting the hook drops its pending deliveries; delivered ones stay in no one's way.
    p.outbox.mark_delivered(one.id, t(6)).await.unwrap();
    p.webhooks.delete(hook.id).await.unwrap();
    let kept = p.outbox.recent(&channel, 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].id, kept[0].delivered_at), (one.id, Some(t(6))));
    assert!(matches!(
        p.webhooks.delete(hook.id).await,
        Err(InfraError::NotFound)
    ));
    assert!(matches!(
        p.webhooks.get(hook.id).await,
        Err(InfraError::NotFound)
    ));
}

pub async fn outbox_absorb(p: &Ports) {
    let first = OutboxMessage::new("slack", "v1".into(), t(0));
    let mut second = OutboxMessage::new("slack", "v2".into(), t(1));
    second.next_attempt_at = t(31);
    let mut third = OutboxMessage::new("slack", "v3".into(), t(2));
    third.next_attempt_at = t(32);
    for m in [&first, &second, &third] {
        p.outbox.enqueue(m).await.unwrap();
    }
    // A stale due time (the message was claimed or moved meanwhile): nothing changes.
    assert!(
        !p.outbox
            .absorb(
                first.id,
                "v1+v2+v3",
                &[(second.id, t(31)), (third.id, t(99))],
                t(30)
            )
            .await
            .unwrap()
    );
    let all = p.outbox.recent("slack", 10).await.unwrap();
    assert!(all.iter().all(|m| m.delivered_at.is_none()), "{all:?}");
    assert_eq!(all.iter().find(|m| m.id == first.id).unwrap().payload, "v1");
    // Untouched ones are absorbed, and the payload replaced, together.
    assert!(
        p.outbox
            .absorb(
                first.id,
                "v1+v2+v3",
                &[(second.id, t(31)), (third.id, t(32))],
                t(30)
            )
            .await
            .unwrap()
    );
    let due = p.outbox.due(t(100), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].payload.as_str()), (first.id, "v1+v2+v3"));
    // Absorbed ones are finished: absorbing them again fails.
    assert!(
        !p.outbox
            .absorb(first.id, "x", &[(second.id, t(31))], t(40))
            .await
            .unwrap()
    );
    assert!(matches!(
        p.outbox
            .absorb(OutboxMessageId::new(), "x", &[], t(40))
            .await,
        Err(InfraError::NotFound)
    ));
}
