use planpush_audit::*;
use planpush_identity::UserId;

use super::t;
use crate::Ports;

async fn all_pages(p: &Ports, f: &AuditFilter, limit: u32) -> Vec<Vec<AuditEvent>> {
    let mut pages = vec![];
    let mut after = None;
    loop {
        let page = p.audit_query.page(f, after, limit).await.unwrap();
        let next = page.next;
        pages.push(page.events);
        match next {
            Some(c) => after = Some(c),
            None => return pages,
        }
        assert!(pages.len() < 100, "pagination does not terminate");
    }
}

pub async fn audit_record_and_page(p: &Ports) {
    let actor = UserId::new();
    // five events, two sharing an instant (the id breaks the tie)
    let events: Vec<AuditEvent> = [0, 1, 1, 2, 3]
        .iter()
        .map(|s| {
            AuditEvent::new(AuditAction::PlanPushed, Some(actor), t(*s))
                .target("plan", "p1")
                .detail("version", *s)
                .ip("10.0.0.1".parse().ok())
        })
        .collect();
    p.audit_sink.record(&events[..2]).await.unwrap();
    p.audit_sink.record(&events[2..]).await.unwrap();
    p.audit_sink.record(&[]).await.unwrap();

    let mut want = events.clone();
    want.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    let one = p
        .audit_query
        .page(&AuditFilter::default(), None, 1000)
        .await
        .unwrap();
    assert_eq!(one.events, want, "newest first, everything round-trips");
    assert_eq!(one.next, None);

    let pages = all_pages(p, &AuditFilter::default(), 2).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), want, "pages neither skip nor repeat");
    let exact = all_pages(p, &AuditFilter::default(), 5).await;
    assert_eq!(
        exact.len(),
        1,
        "no empty trailing page when the count divides evenly"
    );
}

pub async fn audit_filters(p: &Ports) {
    let (ada, bob) = (UserId::new(), UserId::new());
    let ev = |a, actor, at, target: &str| AuditEvent::new(a, actor, t(at)).target("plan", target);
    let events = vec![
        ev(AuditAction::PlanPushed, Some(ada), 10, "one"),
        ev(AuditAction::PlanPublished, Some(ada), 20, "one"),
        ev(AuditAction::PlanPushed, Some(bob), 30, "two"),
        ev(AuditAction::SignIn, Some(bob), 40, "x"),
        ev(AuditAction::NotificationDropped, None, 50, "two"),
    ];
    p.audit_sink.record(&events).await.unwrap();
    let count = |f: AuditFilter| async move { all_pages(p, &f, 2).await.concat().len() };
    assert_eq!(
        count(AuditFilter {
            actor: Some(ada),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(AuditFilter {
            action: Some(AuditAction::PlanPushed),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(AuditFilter {
            target: Some("plan:two".into()),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(AuditFilter {
            from: Some(t(20)),
            to: Some(t(40)),
            ..Default::default()
        })
        .await,
        2,
        "from inclusive, to exclusive"
    );
    assert_eq!(
        count(AuditFilter {
            actor: Some(bob),
            action: Some(AuditAction::PlanPushed),
            from: Some(t(30)),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(AuditFilter {
            actor: Some(UserId::new()),
            ..Default::default()
        })
        .await,
        0
    );
}
