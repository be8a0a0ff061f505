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

/// A push's audit record rides on its commit: written with the version, and not at all when the
/// commit is refused (a conflicting version number, a slug taken).
pub async fn audit_written_with_version_commits(p: &Ports) {
    use planpush_plans::{Plan, Visibility};
    use planpush_versions::{Commit, NewVersion, SourceFormat, Staged, Version, VersionRepoError};

    let ada = super::user(p, "ada").await;
    let (plan, v1) = super::plans::new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let pushed = |at: i64| {
        AuditEvent::new(AuditAction::PlanPushed, Some(ada.id), t(at))
            .target("plan", plan.id())
            .ip("10.0.0.2".parse().ok())
            .detail("version", 2)
    };
    let v2 = Version::new(
        Some(&v1.head()),
        NewVersion {
            plan_id: plan.id(),
            title: "Two".to_owned(),
            format: SourceFormat::Html,
            source: "<h1>two</h1>".into(),
            html: "<h1>two</h1>".into(),
            sections: v1.sections.clone(),
            pushed_by: ada.id,
            pushed_at: t(10),
        },
    );
    let mut next = plan.clone();
    next.record_version(2, "Two", t(10)).unwrap();
    let commit = |plan| Commit::NextVersion {
        plan,
        version: &v2,
        text: &[],
    };
    let written = pushed(10);
    p.versions
        .commit_staged(
            commit(&next),
            &Staged::default(),
            &[],
            &[],
            std::slice::from_ref(&written),
        )
        .await
        .unwrap();
    // Version 2 again: refused, and its record with it.
    let stale = p
        .versions
        .commit_staged(commit(&plan), &Staged::default(), &[], &[], &[pushed(11)])
        .await;
    assert!(
        matches!(stale, Err(VersionRepoError::Conflict)),
        "{stale:?}"
    );
    // A new plan under a slug that is taken: refused, and its record with it.
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
            sections: Default::default(),
            pushed_by: ada.id,
            pushed_at: t(12),
        },
    );
    let taken = p
        .versions
        .commit_staged(
            Commit::NewPlan {
                plan: &dup,
                version: &dv,
                text: &[],
            },
            &Staged::default(),
            &[],
            &[],
            &[pushed(12)],
        )
        .await;
    assert!(
        matches!(taken, Err(VersionRepoError::SlugTaken(_))),
        "{taken:?}"
    );
    let all = p
        .audit_query
        .page(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.events, [written], "exactly the committed push's record");
}
