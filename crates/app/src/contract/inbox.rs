use planpush_comments::{Comment, CommentBody};
use planpush_identity::{Email, UserId};
use planpush_inbox::*;
use planpush_plans::{PlanId, Visibility};
use planpush_versions::{AnchorId, Commit, NewVersion, SourceFormat, Version, VersionNumber};

use super::plans::new_plan;
use super::{t, user};
use crate::Ports;

fn entry(to: UserId, kind: NoticeKind, plan: PlanId, by: UserId, at: i64) -> InboxEntry {
    InboxEntry::new(
        to,
        kind,
        plan,
        Some(by),
        &format!("{kind:?} at {at}"),
        t(at),
    )
}

fn query(limit: u32) -> InboxQuery {
    InboxQuery {
        unread_only: false,
        after: None,
        limit,
    }
}

/// Inbox entries ride on the comment's and the push's writes; the port lists them newest first
/// with their plan and actor, pages, counts, marks read only the recipient's own, keeps
/// follow/mute choices, and gives e-mail what it needs.
pub async fn inbox_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let mut carol = user(p, "carol").await;
    carol.email = Some(Email::parse("carol@example.com").unwrap());
    p.users.update(&carol).await.unwrap();
    let (plan, v1) = new_plan(p, &ada, "p", Visibility::Published, 0).await;

    // A thread by bob mentioning carol: ada (the owner) and carol hear of it.
    let c1 = Comment::thread(
        plan.id(),
        bob.id,
        VersionNumber::FIRST,
        AnchorId::parse("a").unwrap(),
        None,
        CommentBody::parse("@carol why?").unwrap(),
        t(1),
    );
    let to_ada =
        entry(ada.id, NoticeKind::Comment, plan.id(), bob.id, 1).on_comment(c1.id().as_uuid());
    let to_carol =
        entry(carol.id, NoticeKind::Mention, plan.id(), bob.id, 1).on_comment(c1.id().as_uuid());
    p.comments
        .insert_notifying(&c1, &[], &[to_ada.clone(), to_carol.clone()])
        .await
        .unwrap();
    // carol replies: ada and bob hear of it.
    let c2 = Comment::reply(
        &c1,
        carol.id,
        VersionNumber::FIRST,
        CommentBody::parse("Because.").unwrap(),
        t(2),
    )
    .unwrap();
    let reply_ada =
        entry(ada.id, NoticeKind::Reply, plan.id(), carol.id, 2).on_comment(c2.id().as_uuid());
    let reply_bob =
        entry(bob.id, NoticeKind::Reply, plan.id(), carol.id, 2).on_comment(c2.id().as_uuid());
    p.comments
        .insert_notifying(&c2, &[], &[reply_ada.clone(), reply_bob.clone()])
        .await
        .unwrap();
    // bob pushes version 2: ada hears of it.
    let v2 = Version::new(
        Some(&v1.head()),
        NewVersion {
            plan_id: plan.id(),
            title: plan.title().to_owned(),
            format: SourceFormat::Markdown,
            source: "# v2".into(),
            html: "<h1>v2</h1>".into(),
            sections: v1.sections.clone(),
            pushed_by: bob.id,
            pushed_at: t(3),
        },
    );
    let mut next = plan.clone();
    next.record_version(2, plan.title(), t(3)).unwrap();
    let version_ada = entry(ada.id, NoticeKind::Version, plan.id(), bob.id, 3).on_version(2);
    p.versions
        .commit_notifying(
            Commit::NextVersion {
                plan: &next,
                version: &v2,
                text: &planpush_document::text_units(&v2.html),
            },
            &[],
            std::slice::from_ref(&version_ada),
        )
        .await
        .unwrap();

    // Newest first, with the plan and the actor.
    let all = p.inbox.list(ada.id, &query(10)).await.unwrap();
    let ids: Vec<_> = all.iter().map(|i| i.entry.id).collect();
    assert_eq!(ids, [version_ada.id, reply_ada.id, to_ada.id]);
    assert_eq!(all[0].entry, version_ada);
    assert_eq!(all[0].plan_slug, "p");
    assert_eq!(all[0].plan_title, plan.title());
    assert_eq!(all[0].actor_login.as_deref(), Some("bob"));
    assert_eq!(all[1].actor_login.as_deref(), Some("carol"));
    assert_eq!(all[1].entry.comment_id, Some(c2.id().as_uuid()));

    // Pages: two, then the rest after the second's cursor.
    let first = p.inbox.list(ada.id, &query(2)).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = p
        .inbox
        .list(
            ada.id,
            &InboxQuery {
                after: Some(InboxCursor::of(&first[1].entry)),
                ..query(2)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|i| i.entry.id).collect::<Vec<_>>(),
        [to_ada.id]
    );
    assert_eq!(
        p.inbox.unread_by_plan(ada.id).await.unwrap(),
        [(plan.id(), 3)]
    );

    // Marking read touches only the recipient's own.
    let n = p
        .inbox
        .mark_read(
            ada.id,
            &ReadTarget::Ids(vec![reply_ada.id, reply_bob.id]),
            t(4),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let unread = InboxQuery {
        unread_only: true,
        ..query(10)
    };
    assert_eq!(p.inbox.list(bob.id, &unread).await.unwrap().len(), 1);
    let ada_unread = p.inbox.list(ada.id, &unread).await.unwrap();
    assert_eq!(
        ada_unread.iter().map(|i| i.entry.id).collect::<Vec<_>>(),
        [version_ada.id, to_ada.id]
    );
    let read = p.inbox.list(ada.id, &query(10)).await.unwrap();
    assert_eq!(read[1].entry.read_at, Some(t(4)));
    assert_eq!(
        p.inbox
            .mark_read(ada.id, &ReadTarget::All, t(5))
            .await
            .unwrap(),
        2
    );
    assert!(p.inbox.unread_by_plan(ada.id).await.unwrap().is_empty());
    assert_eq!(
        p.inbox.unread_by_plan(bob.id).await.unwrap(),
        [(plan.id(), 1)]
    );

    // What an e-mail needs.
    let mail = p.inbox.for_email(to_carol.id).await.unwrap();
    assert_eq!(mail.recipient_login, "carol");
    assert_eq!(mail.recipient_email.as_deref(), Some("carol@example.com"));
    assert_eq!(mail.item.entry, to_carol);
    assert_eq!(mail.item.plan_slug, "p");
    assert_eq!(mail.item.actor_login.as_deref(), Some("bob"));
    assert!(matches!(
        p.inbox.for_email(NotificationId::new()).await,
        Err(InboxRepoError::NotFound)
    ));
    let digest = p.inbox.unread_since(bob.id, t(1)).await.unwrap();
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0].item.entry, reply_bob);
    assert_eq!(digest[0].recipient_login, "bob");
    assert!(p.inbox.unread_since(bob.id, t(2)).await.unwrap().is_empty());

    // Follow and mute choices.
    assert_eq!(p.inbox.follow_state(bob.id, plan.id()).await.unwrap(), None);
    p.inbox
        .set_follow(bob.id, plan.id(), Some(FollowState::Following), t(6))
        .await
        .unwrap();
    p.inbox
        .set_follow(carol.id, plan.id(), Some(FollowState::Muted), t(7))
        .await
        .unwrap();
    assert_eq!(
        p.inbox.follows(plan.id()).await.unwrap(),
        [
            (bob.id, FollowState::Following),
            (carol.id, FollowState::Muted)
        ]
    );
    p.inbox
        .set_follow(bob.id, plan.id(), Some(FollowState::Muted), t(8))
        .await
        .unwrap();
    assert_eq!(
        p.inbox.follow_state(bob.id, plan.id()).await.unwrap(),
        Some(FollowState::Muted)
    );
    p.inbox
        .set_follow(carol.id, plan.id(), None, t(9))
        .await
        .unwrap();
    p.inbox
        .set_follow(carol.id, plan.id(), None, t(9))
        .await
        .unwrap();
    assert_eq!(
        p.inbox.follows(plan.id()).await.unwrap(),
        [(bob.id, FollowState::Muted)]
    );

    // A deleted plan's notifications are left out of the inbox (e-mail can still read them).
    let mut gone = next.clone();
    gone.delete(t(10)).unwrap();
    p.plans.update(&gone).await.unwrap();
    assert!(p.inbox.list(ada.id, &query(10)).await.unwrap().is_empty());
    assert!(p.inbox.unread_by_plan(bob.id).await.unwrap().is_empty());
    assert!(p.inbox.unread_since(bob.id, t(0)).await.unwrap().is_empty());
    assert_eq!(
        p.inbox.for_email(to_carol.id).await.unwrap().item.entry,
        to_carol
    );
}

async fn member(p: &Ports, login: &str, role: planpush_roles::Role) -> crate::Principal {
    let u = user(p, login).await;
    p.roles
        .replace_grants(
            u.id,
            planpush_roles::GrantOrigin::Manual,
            &[role],
            None,
            t(0),
        )
        .await
        .unwrap();
    crate::Principal {
        user_id: u.id,
        login: login.into(),
        roles: vec![role],
        method: crate::AuthMethod::Session,
    }
}

/// `(recipient login, kind)` of every notification written at `at`, sorted.
async fn written_at(p: &Ports, people: &[&crate::Principal], at: i64) -> Vec<(String, NoticeKind)> {
    let mut out = vec![];
    for who in people {
        for i in p.inbox.list(who.user_id, &query(100)).await.unwrap() {
            if i.entry.created_at == t(at) {
                out.push((who.login.clone(), i.entry.kind));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn says(pairs: &[(&str, NoticeKind)]) -> Vec<(String, NoticeKind)> {
    pairs.iter().map(|(l, k)| ((*l).to_owned(), *k)).collect()
}

/// The comment and push use cases write exactly the expected inbox entries (and, with e-mail
/// on, one `email` outbox message each) in their own transaction: mentions, replies to thread
/// participants and the owner, new versions to followers; each person once, never the actor,
/// never someone who muted the plan, never someone who may not see it — whose `@login` then
/// stays plain text.
pub async fn inbox_written_with_comments_and_pushes(p: &Ports) {
    use planpush_roles::Role;

    use crate::{Comments, NewComment, Notifications, Push, PushRequest};
    let notify = Notifications::off().with_email(true);
    let push = Push::new(
        p.clone(),
        planpush_document::SanitizeOptions::default(),
        std::sync::Arc::new(crate::fake::FakeDiagrams::default()),
    )
    .with_notifications(notify.clone());
    let comments = Comments::new(p.clone()).with_notifications(notify);
    let ada = member(p, "ada", Role::Developer).await;
    let bob = member(p, "bob", Role::Developer).await;
    let carol = member(p, "carol", Role::Qa).await;
    let pm = member(p, "pm", Role::ProjectManager).await;
    let everyone = [&ada, &bob, &carol, &pm];
    let md = |body: &str, vis: Visibility, session: Option<String>| PushRequest {
        body: body.into(),
        format: SourceFormat::Markdown,
        name: None,
        session_id: session,
        visibility: Some(vis),
    };
    let plan = push
        .push(
            &ada,
            md("# P\n\n## Flow\n\nA\n", Visibility::Published, None),
            None,
            t(1),
        )
        .await
        .unwrap()
        .plan;
    let say = |body: &str, parent: Option<String>| NewComment {
        body: body.into(),
        anchor: parent.is_none().then(|| "flow".to_owned()),
        quote: None,
        parent_id: parent,
    };

    // bob's thread mentions carol, the owner (once, as a mention), himself and nobody known.
    let thread = comments
        .create(
            &bob,
            plan.id(),
            say("@carol @Ada @bob @nobody: why?", None),
            None,
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(
        written_at(p, &everyone, 2).await,
        says(&[("ada", NoticeKind::Mention), ("carol", NoticeKind::Mention)])
    );
    assert_eq!(thread.mentions, ["carol", "ada", "bob"]);
    let mails: Vec<String> = p
        .outbox
        .due(t(1_000), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.channel == crate::EMAIL_CHANNEL)
        .map(|m| m.payload)
        .collect();
    let mut expected: Vec<String> = vec![];
    for who in [&ada, &carol] {
        for i in p.inbox.list(who.user_id, &query(10)).await.unwrap() {
            expected.push(format!(r#"{{"notification_id":"{}"}}"#, i.entry.id));
        }
    }
    let mut mails_sorted = mails.clone();
    mails_sorted.sort();
    expected.sort();
    assert_eq!(mails_sorted, expected);

    // carol replies: the thread's author and the owner hear of it, carol does not.
    let tid = thread.comment.id().to_string();
    comments
        .create(
            &carol,
            plan.id(),
            say("Because.", Some(tid.clone())),
            None,
            t(3),
        )
        .await
        .unwrap();
    assert_eq!(
        written_at(p, &everyone, 3).await,
        says(&[("ada", NoticeKind::Reply), ("bob", NoticeKind::Reply)])
    );

    // carol mutes the plan: a reply mentioning her reaches only the owner.
    p.inbox
        .set_follow(carol.user_id, plan.id(), Some(FollowState::Muted), t(3))
        .await
        .unwrap();
    comments
        .create(&bob, plan.id(), say("@carol again", Some(tid)), None, t(4))
        .await
        .unwrap();
    assert_eq!(
        written_at(p, &everyone, 4).await,
        says(&[("ada", NoticeKind::Reply)])
    );

    // pm follows with the button; ada pushes v2: followers (bob commented, pm follows) hear of
    // it; carol muted it, ada pushed it.
    p.inbox
        .set_follow(pm.user_id, plan.id(), Some(FollowState::Following), t(4))
        .await
        .unwrap();
    push.push(
        &ada,
        md(
            "# P\n\n## Flow\n\nB\n",
            Visibility::Published,
            Some(plan.id().to_string()),
        ),
        None,
        t(5),
    )
    .await
    .unwrap();
    assert_eq!(
        written_at(p, &everyone, 5).await,
        says(&[("bob", NoticeKind::Version), ("pm", NoticeKind::Version)])
    );
    let v = &p.inbox.list(bob.user_id, &query(1)).await.unwrap()[0];
    assert_eq!(v.entry.version, Some(2));
    assert_eq!(crate::link_of(v), format!("/p/{}?v=2", plan.slug()));

    // A private plan of ada: pm may see it, bob may not. pm's mention of bob notifies nobody and
    // stays plain text; the owner hears of it.
    let secret = push
        .push(
            &ada,
            md("# S\n\n## Flow\n\nA\n", Visibility::Private, None),
            None,
            t(6),
        )
        .await
        .unwrap()
        .plan;
    let c = comments
        .create(&pm, secret.id(), say("@bob @ada look", None), None, t(7))
        .await
        .unwrap();
    assert_eq!(
        written_at(p, &everyone, 7).await,
        says(&[("ada", NoticeKind::Mention)])
    );
    assert_eq!(c.mentions, ["ada"]);
    let listed = comments
        .list(&ada, secret.id(), planpush_comments::StateFilter::All, None)
        .await
        .unwrap();
    assert_eq!(listed[0].comment.mentions, ["ada"]);
    let to_ada = &p.inbox.list(ada.user_id, &query(1)).await.unwrap()[0];
    assert_eq!(
        crate::link_of(to_ada),
        format!("/p/{}#comment-{}", secret.slug(), c.comment.id())
    );
}

/// A comment write that fails writes no inbox entry and no outbox message.
pub async fn inbox_nothing_when_the_comment_write_fails(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (plan, _) = new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let c = Comment::thread(
        plan.id(),
        bob.id,
        VersionNumber::FIRST,
        AnchorId::parse("a").unwrap(),
        None,
        CommentBody::parse("@ada hi").unwrap(),
        t(1),
    );
    p.comments.insert(&c, &[]).await.unwrap();
    // The same comment again: refused, and with it everything of its transaction.
    let e = entry(ada.id, NoticeKind::Mention, plan.id(), bob.id, 2).on_comment(c.id().as_uuid());
    let m = planpush_outbox::OutboxMessage::new("email", "{}".into(), t(2));
    assert!(p.comments.insert_notifying(&c, &[m], &[e]).await.is_err());
    assert!(p.inbox.list(ada.id, &query(10)).await.unwrap().is_empty());
    assert!(p.outbox.due(t(100), 10).await.unwrap().is_empty());
}
