//! E-mail preferences and the digest's cut-off, written with its message in one transaction.

use super::{t, user};
use crate::{EMAIL_CHANNEL, EmailMode, OutboxMessage, Ports};

pub async fn email_preferences_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let ben = user(p, "ben").await;
    let prefs = &p.email_preferences;
    assert_eq!(
        prefs.get(ada.id).await.unwrap(),
        None,
        "no row: the default"
    );

    prefs.set_mode(ada.id, EmailMode::Off, t(10)).await.unwrap();
    let got = prefs.get(ada.id).await.unwrap().unwrap();
    assert_eq!(
        (got.mode, got.last_digest_at, got.updated_at),
        (EmailMode::Off, None, t(10))
    );
    assert!(prefs.daily().await.unwrap().is_empty());

    // Switching to daily starts the digest window.
    prefs
        .set_mode(ada.id, EmailMode::Daily, t(20))
        .await
        .unwrap();
    prefs
        .set_mode(ben.id, EmailMode::Daily, t(30))
        .await
        .unwrap();
    let mut daily = prefs.daily().await.unwrap();
    daily.sort_by_key(|(u, _)| u.to_string());
    let mut want = vec![(ada.id, Some(t(20))), (ben.id, Some(t(30)))];
    want.sort_by_key(|(u, _)| u.to_string());
    assert_eq!(daily, want);
    // Choosing daily again keeps the cut-off.
    prefs
        .set_mode(ada.id, EmailMode::Daily, t(25))
        .await
        .unwrap();
    assert_eq!(
        prefs.get(ada.id).await.unwrap().unwrap().last_digest_at,
        Some(t(20))
    );

    // The digest advances the cut-off and writes its message, once.
    let m = OutboxMessage::new(EMAIL_CHANNEL, r#"{"digest":{}}"#.into(), t(100));
    assert!(
        prefs
            .record_digest(ada.id, Some(t(20)), t(100), Some(&m))
            .await
            .unwrap()
    );
    assert!(
        !prefs
            .record_digest(ada.id, Some(t(20)), t(100), Some(&m))
            .await
            .unwrap()
    );
    assert_eq!(
        prefs.get(ada.id).await.unwrap().unwrap().last_digest_at,
        Some(t(100))
    );
    let due = p.outbox.due(t(1000), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].channel.as_str()), (m.id, EMAIL_CHANNEL));
    // A quiet day: the cut-off moves, no message.
    assert!(
        prefs
            .record_digest(ada.id, Some(t(100)), t(200), None)
            .await
            .unwrap()
    );
    assert_eq!(p.outbox.due(t(1000), 10).await.unwrap().len(), 1);
    // Not daily any more: nothing is written.
    prefs
        .set_mode(ben.id, EmailMode::Immediate, t(40))
        .await
        .unwrap();
    let other = OutboxMessage::new(EMAIL_CHANNEL, "{}".into(), t(100));
    assert!(
        !prefs
            .record_digest(ben.id, Some(t(30)), t(100), Some(&other))
            .await
            .unwrap()
    );
    assert_eq!(p.outbox.due(t(1000), 10).await.unwrap().len(), 1);
}
