use planpush_comments::*;
use planpush_plans::Visibility;
use planpush_versions::{AnchorId, VersionNumber};

use super::plans::new_plan;
use super::{t, user};
use crate::Ports;

fn anchor(s: &str) -> AnchorId {
    AnchorId::parse(s).unwrap()
}
fn body(s: &str) -> CommentBody {
    CommentBody::parse(s).unwrap()
}

pub async fn comments_crud_and_filters(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (plan, _) = new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let quote = TextQuote::new("rotate refresh tokens", "we will ", " on every use").unwrap();
    let mut a = Comment::thread(
        plan.id(),
        ada.id,
        VersionNumber::FIRST,
        anchor("auth-flow"),
        Some(quote),
        body("Why **rotate**?"),
        t(1),
    );
    let b = Comment::thread(
        plan.id(),
        bob.id,
        VersionNumber::FIRST,
        anchor("data-model"),
        None,
        body("PK?"),
        t(2),
    );
    let reply = Comment::reply(
        &a,
        bob.id,
        VersionNumber::FIRST,
        body("Reuse detection."),
        t(3),
    )
    .unwrap();
    for c in [&a, &b, &reply] {
        p.comments.insert(c, &[]).await.unwrap();
    }
    assert_eq!(p.comments.get(a.id()).await.unwrap(), a);
    assert_eq!(p.comments.get(reply.id()).await.unwrap(), reply);
    assert!(matches!(
        p.comments.get(CommentId::new()).await,
        Err(CommentRepoError::NotFound)
    ));
    assert_eq!(p.comments.count_open(plan.id()).await.unwrap(), 2);

    a.resolve(bob.id, t(4)).unwrap();
    a.edit(ada.id, body("Why rotate at all?"), t(5)).unwrap();
    p.comments.update(&a, &[]).await.unwrap();
    assert_eq!(p.comments.get(a.id()).await.unwrap(), a);
    assert_eq!(p.comments.count_open(plan.id()).await.unwrap(), 1);

    let ids = |v: Vec<Comment>| v.into_iter().map(|c| c.id()).collect::<Vec<_>>();
    let plan_id = plan.id();
    let list = |state, anchor: Option<AnchorId>| {
        let f = CommentFilter { state, anchor };
        let comments = p.comments.clone();
        async move { comments.list(plan_id, &f).await.unwrap() }
    };
    assert_eq!(
        ids(list(StateFilter::All, None).await),
        [a.id(), b.id(), reply.id()],
        "oldest first"
    );
    assert_eq!(ids(list(StateFilter::Open, None).await), [b.id()]);
    assert_eq!(
        ids(list(StateFilter::Resolved, None).await),
        [a.id(), reply.id()],
        "replies follow their thread"
    );
    assert_eq!(
        ids(list(StateFilter::All, Some(anchor("auth-flow"))).await),
        [a.id(), reply.id()]
    );
    assert!(
        list(StateFilter::All, Some(anchor("nowhere")))
            .await
            .is_empty()
    );

    let mut b2 = b.clone();
    b2.delete(bob.id, t(6)).unwrap();
    p.comments.update(&b2, &[]).await.unwrap();
    assert_eq!(p.comments.get(b.id()).await.unwrap(), b2);
    assert_eq!(
        p.comments.count_open(plan.id()).await.unwrap(),
        0,
        "deleted threads are not open work"
    );
    let ghost = Comment::thread(
        plan.id(),
        ada.id,
        VersionNumber::FIRST,
        anchor("x"),
        None,
        body("x"),
        t(0),
    );
    assert!(matches!(
        p.comments.update(&ghost, &[]).await,
        Err(CommentRepoError::NotFound)
    ));
}

pub async fn comments_set_states(p: &Ports) {
    let ada = user(p, "ada").await;
    let (plan, _) = new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let a = Comment::thread(
        plan.id(),
        ada.id,
        VersionNumber::FIRST,
        anchor("old"),
        None,
        body("a"),
        t(1),
    );
    let b = Comment::thread(
        plan.id(),
        ada.id,
        VersionNumber::FIRST,
        anchor("b"),
        None,
        body("b"),
        t(2),
    );
    let r = Comment::reply(&a, ada.id, VersionNumber::FIRST, body("r"), t(3)).unwrap();
    for c in [&a, &b, &r] {
        p.comments.insert(c, &[]).await.unwrap();
    }
    let moved = AnchorState::Moved {
        to: anchor("new"),
        by: planpush_comments::FoundBy::SimilarContent,
    };
    p.comments
        .set_states(&[(a.id(), moved.clone()), (b.id(), AnchorState::Changed)])
        .await
        .unwrap();
    assert_eq!(p.comments.get(a.id()).await.unwrap().state(), &moved);
    assert_eq!(
        p.comments.get(r.id()).await.unwrap().state(),
        &moved,
        "replies follow their thread"
    );
    assert_eq!(
        p.comments.get(b.id()).await.unwrap().state(),
        &AnchorState::Changed
    );
    let f = CommentFilter {
        state: StateFilter::All,
        anchor: Some(anchor("new")),
    };
    assert_eq!(
        p.comments.list(plan.id(), &f).await.unwrap().len(),
        2,
        "found under the anchor it moved to"
    );

    let res = p
        .comments
        .set_states(&[
            (b.id(), AnchorState::Orphaned),
            (CommentId::new(), AnchorState::Anchored),
        ])
        .await;
    assert!(matches!(res, Err(CommentRepoError::NotFound)));
    assert_eq!(
        p.comments.get(b.id()).await.unwrap().state(),
        &AnchorState::Changed,
        "all or nothing"
    );
}

/// The dashboard's two queries: open counts for every plan at once, and the threads involving a
/// user (written by them or on their plans), newest first, limited.
pub async fn comments_dashboard_queries(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (adas, _) = new_plan(p, &ada, "adas", Visibility::Published, 0).await;
    let (bobs, _) = new_plan(p, &bob, "bobs", Visibility::Published, 0).await;
    let (quiet, _) = new_plan(p, &bob, "quiet", Visibility::Published, 0).await;
    let thread = |plan, author, at| {
        Comment::thread(
            plan,
            author,
            VersionNumber::FIRST,
            anchor("flow"),
            None,
            body("x"),
            t(at),
        )
    };
    let on_adas_by_bob = thread(adas.id(), bob.id, 1);
    let on_bobs_by_ada = thread(bobs.id(), ada.id, 2);
    let on_bobs_by_bob = thread(bobs.id(), bob.id, 3);
    let mut resolved = thread(adas.id(), ada.id, 4);
    resolved.resolve(bob.id, t(5)).unwrap();
    let mut deleted = thread(bobs.id(), ada.id, 6);
    deleted.delete(ada.id, t(7)).unwrap();
    let reply = Comment::reply(
        &on_bobs_by_bob,
        ada.id,
        VersionNumber::FIRST,
        body("r"),
        t(8),
    )
    .unwrap();
    for c in [
        &on_adas_by_bob,
        &on_bobs_by_ada,
        &on_bobs_by_bob,
        &resolved,
        &deleted,
        &reply,
    ] {
        p.comments.insert(c, &[]).await.unwrap();
    }
    let mut counts = p.comments.open_counts().await.unwrap();
    counts.sort();
    let mut want = vec![(adas.id(), 1), (bobs.id(), 2)];
    want.sort();
    assert_eq!(
        counts, want,
        "open live threads only; plans without any are absent"
    );
    assert!(!counts.iter().any(|(id, _)| *id == quiet.id()));

    let ids = |v: Vec<Comment>| v.into_iter().map(|c| c.id()).collect::<Vec<_>>();
    let got = p
        .comments
        .threads_involving(ada.id, &[adas.id()], 10)
        .await
        .unwrap();
    assert_eq!(
        ids(got),
        [resolved.id(), on_bobs_by_ada.id(), on_adas_by_bob.id()],
        "newest first; live threads only, no replies"
    );
    let got = p
        .comments
        .threads_involving(ada.id, &[adas.id()], 2)
        .await
        .unwrap();
    assert_eq!(ids(got), [resolved.id(), on_bobs_by_ada.id()]);
    let got = p.comments.threads_involving(bob.id, &[], 10).await.unwrap();
    assert_eq!(ids(got), [on_bobs_by_bob.id(), on_adas_by_bob.id()]);
}
