//! Sign-off per version over the fakes: requests, verdicts, which approvals a new version keeps
//! (and the rule that says why), who may do what, the audit trail and the outbox.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{
    AuthMethod, Comments, NewComment, Notification, Notifications, Ports, Principal, Push,
    PushRequest, ReviewError, ReviewRequestInput, Reviews,
};
use planpush_audit::{AuditAction, AuditFilter};
use planpush_document::SanitizeOptions;
use planpush_identity::{ExternalIdentity, Provider, User};
use planpush_reviews::{Rule, SignOff};
use planpush_roles::{GrantOrigin, Role};
use planpush_versions::SourceFormat;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(s)
}

async fn member(ports: &Ports, login: &str, role: Role) -> Principal {
    let u = User::new(login, t(0)).unwrap();
    ports
        .users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    ports
        .roles
        .replace_grants(u.id, GrantOrigin::Manual, &[role], None, t(0))
        .await
        .unwrap();
    Principal {
        user_id: u.id,
        login: login.into(),
        roles: vec![role],
        method: AuthMethod::Session,
    }
}

const V1: &str = r#"<h1>Auth</h1>
<section data-anchor="decisions"><h2>Key Decisions</h2><ul class="pp-decisions">
<li data-anchor="d-store"><span class="pp-badge pp-open">Open</span> Redis vs PostgreSQL</li></ul></section>
<section data-anchor="risks"><h2>Risks</h2><div class="pp-risk pp-low" data-anchor="risk-skew"><strong>Clock skew</strong></div></section>"#;

fn html(body: &str, session: Option<String>) -> PushRequest {
    PushRequest {
        body: body.into(),
        format: SourceFormat::Html,
        name: Some("auth".into()),
        session_id: session,
        visibility: None,
    }
}

fn state_of<'a>(s: &'a planpush_app::ReviewStatus, login: &str) -> &'a SignOff {
    &s.reviewers
        .iter()
        .find(|r| r.login == login)
        .unwrap_or_else(|| panic!("{login} in {s:?}"))
        .sign_off
}

#[tokio::test]
async fn approvals_reset_or_are_kept_by_the_typed_changes_since() {
    let ports = planpush_app::fake::ports();
    let notify = Notifications::to("slack");
    let push = Push::new(
        ports.clone(),
        SanitizeOptions::default(),
        Arc::new(planpush_app::fake::FakeDiagrams::default()),
    );
    let reviews = Reviews::new(ports.clone()).with_notifications(notify);
    let comments = Comments::new(ports.clone());
    let ada = member(&ports, "ada", Role::Developer).await;
    let bob = member(&ports, "bob", Role::Qa).await;
    let carol = member(&ports, "carol", Role::Developer).await;
    let dan = member(&ports, "dan", Role::Qa).await;

    let first = push.push(&ada, html(V1, None), None, t(1)).await.unwrap();
    let id = first.plan.id();
    let session = Some(id.to_string());

    // Who may ask: whoever may publish (the owner here); others may not.
    let refused = reviews
        .request(
            &bob,
            id,
            ReviewRequestInput {
                reviewers: vec!["carol".into()],
                ..Default::default()
            },
            None,
            t(2),
        )
        .await;
    assert!(
        matches!(refused, Err(ReviewError::Forbidden(_))),
        "{refused:?}"
    );
    let unknown = reviews
        .request(
            &ada,
            id,
            ReviewRequestInput {
                reviewers: vec!["nobody".into()],
                ..Default::default()
            },
            None,
            t(2),
        )
        .await;
    assert!(
        matches!(unknown, Err(ReviewError::Invalid(_))),
        "{unknown:?}"
    );

    // bob reviews the whole plan; carol only the risks; the QA role (bob and dan) too.
    reviews
        .request(
            &ada,
            id,
            ReviewRequestInput {
                reviewers: vec!["@bob".into()],
                ..Default::default()
            },
            None,
            t(3),
        )
        .await
        .unwrap();
    reviews
        .request(
            &ada,
            id,
            ReviewRequestInput {
                reviewers: vec!["carol".into()],
                anchors: vec!["risks".into()],
                ..Default::default()
            },
            None,
            t(4),
        )
        .await
        .unwrap();
    let status = reviews
        .request(
            &ada,
            id,
            ReviewRequestInput {
                role: Some("qa".into()),
                ..Default::default()
            },
            None,
            t(5),
        )
        .await
        .unwrap();
    let logins: Vec<&str> = status.reviewers.iter().map(|r| r.login.as_str()).collect();
    assert_eq!(logins.len(), 3, "{logins:?}");
    assert!(logins.contains(&"dan") && logins.contains(&"bob") && logins.contains(&"carol"));
    assert_eq!(status.headline(), "0 of 3 approved v1");

    // Only those asked decide; changes need a comment.
    let not_asked = reviews
        .decide(&ada, id, "approved", None, None, None, t(6))
        .await;
    assert!(
        matches!(not_asked, Err(ReviewError::Forbidden(_))),
        "{not_asked:?}"
    );
    let bare = reviews
        .decide(&dan, id, "changes_requested", None, None, None, t(6))
        .await;
    assert!(matches!(bare, Err(ReviewError::Invalid(_))), "{bare:?}");

    reviews
        .decide(&bob, id, "approved", None, None, None, t(7))
        .await
        .unwrap();
    reviews
        .decide(
            &carol,
            id,
            "approved",
            None,
            Some("Risks are fine."),
            None,
            t(8),
        )
        .await
        .unwrap();
    let s = reviews
        .decide(
            &dan,
            id,
            "changes_requested",
            None,
            Some("Say why Redis."),
            None,
            t(9),
        )
        .await
        .unwrap();
    assert_eq!(s.headline(), "2 of 3 approved v1, 1 requested changes");
    assert_eq!(
        *state_of(&s, "bob"),
        SignOff::Approved {
            version: 1,
            rule: Rule::SameVersion
        }
    );

    // v2 accepts the decision: bob (whole plan) is reset, carol (risks only) keeps hers.
    let v2 = V1.replace(
        r#"<span class="pp-badge pp-open">Open</span>"#,
        r#"<span class="pp-badge pp-accepted">Accepted</span>"#,
    );
    push.push(&ada, html(&v2, session.clone()), None, t(10))
        .await
        .unwrap();
    let s = reviews.status(&carol, id).await.unwrap();
    assert_eq!(s.current, 2);
    assert_eq!(
        *state_of(&s, "bob"),
        SignOff::Pending {
            reset: Some(Rule::WholePlan {
                change: "Decision “Redis vs PostgreSQL”: Open → Accepted".into()
            })
        }
    );
    assert_eq!(
        *state_of(&s, "carol"),
        SignOff::Approved {
            version: 1,
            rule: Rule::Untouched { changes: 1 }
        }
    );
    let carol_line = s.reviewers.iter().find(|r| r.login == "carol").unwrap();
    assert!(
        carol_line
            .explanation
            .starts_with("approval of v1 kept for v2: the 1 change since touch nothing"),
        "{}",
        carol_line.explanation
    );
    assert_eq!(
        *state_of(&s, "dan"),
        SignOff::ChangesRequested { version: 1 }
    );

    // carol comments on the risk; v3 changes its level: now hers is reset too, by that rule.
    comments
        .create(
            &carol,
            id,
            NewComment {
                body: "Is skew really low?".into(),
                anchor: Some("risk-skew".into()),
                ..NewComment::default()
            },
            None,
            t(11),
        )
        .await
        .unwrap();
    let v3 = v2.replace(r#"class="pp-risk pp-low""#, r#"class="pp-risk pp-high""#);
    push.push(&ada, html(&v3, session.clone()), None, t(12))
        .await
        .unwrap();
    let s = reviews.status(&ada, id).await.unwrap();
    assert_eq!(
        *state_of(&s, "carol"),
        SignOff::Pending {
            reset: Some(Rule::TouchesComment {
                anchor: "risk-skew".into(),
                change: "Risk “Clock skew”: Low → High".into()
            })
        }
    );
    // The dashboard's "waiting on you" for bob and carol; not for dan, whose word stands.
    assert_eq!(reviews.waiting_on(&bob).await.unwrap().len(), 1);
    assert_eq!(reviews.waiting_on(&carol).await.unwrap().len(), 1);
    assert!(reviews.waiting_on(&dan).await.unwrap().is_empty());

    // Audited, and notified through the outbox.
    let audit = ports
        .audit_query
        .page(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let actions: Vec<AuditAction> = audit.events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::ReviewRequested)
            .count(),
        3
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::ReviewApproved)
            .count(),
        2
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::ReviewChangesRequested)
            .count(),
        1
    );
    let due = ports.outbox.due(t(100), 100).await.unwrap();
    let kinds: Vec<Notification> = due
        .iter()
        .map(|m| Notification::from_json(&m.payload).unwrap())
        .filter(|n| {
            matches!(
                n,
                Notification::ReviewRequested { .. } | Notification::ReviewDecided { .. }
            )
        })
        .collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert!(kinds.contains(&Notification::ReviewDecided {
        plan: planpush_app::PlanRef {
            slug: "auth".into(),
            title: "Auth".into()
        },
        version: 1,
        by: "dan".into(),
        verdict: "changes_requested".into(),
        comment: Some("Say why Redis.".into()),
    }));
}
