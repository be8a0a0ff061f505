//! `ReviewRepository`: one row per plan and reviewer; a renewed request clears the decision.

use planpush_plans::Visibility;
use planpush_reviews::{Decision, Review, ReviewRepoError, Verdict};
use planpush_versions::AnchorId;

use super::{new_plan, t, user};
use crate::Ports;

pub async fn reviews_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let carol = user(p, "carol").await;
    let (plan, _) = new_plan(p, &ada, "auth", Visibility::Published, 1).await;
    let (other, _) = new_plan(p, &ada, "other", Visibility::Published, 2).await;
    let scoped = Review::request(
        plan.id(),
        bob.id,
        ada.id,
        1,
        vec![
            AnchorId::parse("risks").unwrap(),
            AnchorId::parse("decisions").unwrap(),
        ],
        t(3),
    );
    p.reviews.request(&scoped).await.unwrap();
    let whole = Review::request(plan.id(), carol.id, ada.id, 1, vec![], t(4));
    p.reviews.request(&whole).await.unwrap();
    p.reviews
        .request(&Review::request(
            other.id(),
            bob.id,
            ada.id,
            1,
            vec![],
            t(5),
        ))
        .await
        .unwrap();

    let got = p.reviews.for_plan(plan.id()).await.unwrap();
    assert_eq!(
        got,
        vec![scoped.clone(), whole.clone()],
        "oldest request first, scope sorted"
    );
    assert_eq!(got[0].scope[0].as_str(), "decisions");

    let approved = Decision::new(Verdict::Approved, 1, None, t(6)).unwrap();
    p.reviews
        .decide(plan.id(), bob.id, &approved)
        .await
        .unwrap();
    let changes = Decision::new(Verdict::ChangesRequested, 1, Some("Say why."), t(7)).unwrap();
    p.reviews
        .decide(plan.id(), carol.id, &changes)
        .await
        .unwrap();
    let got = p.reviews.for_plan(plan.id()).await.unwrap();
    assert_eq!(got[0].decision, Some(approved.clone()));
    assert_eq!(got[1].decision, Some(changes));
    assert!(matches!(
        p.reviews.decide(plan.id(), ada.id, &approved).await,
        Err(ReviewRepoError::NotFound)
    ));

    let bobs = p.reviews.for_reviewer(bob.id).await.unwrap();
    assert_eq!(
        bobs.iter().map(|r| r.plan_id).collect::<Vec<_>>(),
        [other.id(), plan.id()],
        "newest request first"
    );

    // Asking again replaces the request and clears the decision.
    let again = Review::request(plan.id(), bob.id, ada.id, 2, vec![], t(8));
    p.reviews.request(&again).await.unwrap();
    let got = p.reviews.for_plan(plan.id()).await.unwrap();
    let bob_row = got.iter().find(|r| r.reviewer == bob.id).unwrap();
    assert_eq!(*bob_row, again);
    assert_eq!(got.len(), 2);
}
