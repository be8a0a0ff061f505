use chrono::TimeZone;
use planpush_document::typed_changes;

use super::*;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0)
        .single()
        .unwrap_or_default()
}
fn a(s: &str) -> AnchorId {
    AnchorId::parse(s).unwrap_or_else(|_| panic!("{s}"))
}

const V1: &str = r#"<section data-anchor="decisions"><h2>Decisions</h2><ul class="pp-decisions">
<li data-anchor="d-store"><span class="pp-badge pp-open">Open</span> Redis vs PostgreSQL</li></ul></section>
<section data-anchor="risks"><h2>Risks</h2><div class="pp-risk pp-low" data-anchor="risk-skew"><strong>Skew</strong></div></section>"#;

fn approved_v1(scope: &[&str]) -> Review {
    let mut r = Review::request(
        PlanId::new(),
        UserId::new(),
        UserId::new(),
        1,
        scope.iter().map(|s| a(s)).collect(),
        t(0),
    );
    r.decision =
        Some(Decision::new(Verdict::Approved, 1, None, t(1)).unwrap_or_else(|e| panic!("{e}")));
    r
}

#[test]
fn the_keep_rule_case_by_case() {
    // v2 accepts the decision; nothing else changes.
    let v2 = V1.replace(
        r#"<span class="pp-badge pp-open">Open</span>"#,
        r#"<span class="pp-badge pp-accepted">Accepted</span>"#,
    );
    let changes = typed_changes(V1, &v2);
    assert_eq!(changes.len(), 1);
    let none = BTreeSet::new();
    let cases: Vec<(&str, Review, BTreeSet<AnchorId>, SignOff)> = vec![
        (
            "asked to review the risks only, commented nowhere: kept",
            approved_v1(&["risks"]),
            none.clone(),
            SignOff::Approved {
                version: 1,
                rule: Rule::Untouched { changes: 1 },
            },
        ),
        (
            "asked to review the decisions: reset",
            approved_v1(&["decisions"]),
            none.clone(),
            SignOff::Pending {
                reset: Some(Rule::TouchesScope {
                    anchor: "decisions".into(),
                    change: "Decision “Redis vs PostgreSQL”: Open → Accepted".into(),
                }),
            },
        ),
        (
            "asked about the risks but commented on the decision: reset",
            approved_v1(&["risks"]),
            [a("d-store")].into(),
            SignOff::Pending {
                reset: Some(Rule::TouchesComment {
                    anchor: "d-store".into(),
                    change: "Decision “Redis vs PostgreSQL”: Open → Accepted".into(),
                }),
            },
        ),
        (
            "asked to review the whole plan: any change resets",
            approved_v1(&[]),
            [a("risks")].into(),
            SignOff::Pending {
                reset: Some(Rule::WholePlan {
                    change: "Decision “Redis vs PostgreSQL”: Open → Accepted".into(),
                }),
            },
        ),
    ];
    for (name, review, commented, want) in cases {
        assert_eq!(
            sign_off(&review, 2, Some(&changes), &commented),
            want,
            "{name}"
        );
    }
    // The same version; an expired one; no decision; changes requested.
    let whole = approved_v1(&[]);
    assert_eq!(
        sign_off(&whole, 1, None, &none),
        SignOff::Approved {
            version: 1,
            rule: Rule::SameVersion
        }
    );
    assert_eq!(
        sign_off(&whole, 2, Some(&[]), &none),
        SignOff::Approved {
            version: 1,
            rule: Rule::SameVersion
        },
        "a version identical in the plan's terms keeps it"
    );
    assert_eq!(
        sign_off(&whole, 2, None, &none),
        SignOff::Pending {
            reset: Some(Rule::Expired)
        }
    );
    let mut asked = whole.clone();
    asked.decision = None;
    assert_eq!(
        sign_off(&asked, 2, None, &none),
        SignOff::Pending { reset: None }
    );
    asked.decision = Some(
        Decision::new(Verdict::ChangesRequested, 1, Some("Say why Redis."), t(2))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(
        sign_off(&asked, 3, None, &none),
        SignOff::ChangesRequested { version: 1 }
    );
    assert!(
        Rule::Untouched { changes: 2 }
            .explain(1, 2)
            .starts_with("approval of v1 kept for v2: the 2 changes since touch nothing")
    );
}

#[test]
fn decisions_are_checked() {
    assert_eq!(
        Decision::new(Verdict::ChangesRequested, 1, Some("  "), t(0)),
        Err(ReviewInputError::CommentRequired)
    );
    assert_eq!(
        Decision::new(
            Verdict::Approved,
            1,
            Some(&"x".repeat(MAX_REVIEW_COMMENT + 1)),
            t(0)
        ),
        Err(ReviewInputError::CommentTooLong)
    );
    let ok = Decision::new(Verdict::Approved, 1, Some("  fine "), t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.comment.as_deref(), Some("fine"));
    assert_eq!(Verdict::parse("approve"), Ok(Verdict::Approved));
    assert_eq!(
        Verdict::parse("request_changes"),
        Ok(Verdict::ChangesRequested)
    );
    assert_eq!(Verdict::parse("maybe"), Err(ReviewInputError::Verdict));
}

#[tokio::test]
async fn the_fake_repository_renews_requests_and_refuses_unknown_reviewers() {
    let repo = fake::FakeReviews::default();
    let r = approved_v1(&["risks"]);
    repo.request(&r).await.unwrap_or_else(|e| panic!("{e}"));
    let got = repo
        .for_plan(r.plan_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got[0].decision, None, "a request starts undecided");
    let d = Decision::new(Verdict::Approved, 1, None, t(3)).unwrap_or_else(|e| panic!("{e}"));
    repo.decide(r.plan_id, r.reviewer, &d)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        repo.for_reviewer(r.reviewer)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .decision,
        Some(d.clone())
    );
    assert!(matches!(
        repo.decide(r.plan_id, UserId::new(), &d).await,
        Err(ReviewRepoError::NotFound)
    ));
    repo.request(&r).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        repo.for_plan(r.plan_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .decision,
        None,
        "a renewed request clears the decision"
    );
}
