use planpush_identity::{User, UserId};
use planpush_plans::*;
use planpush_versions::*;

use super::{t, user};
use crate::Ports;

fn index(entries: &[(&str, u8)]) -> SectionIndex {
    SectionIndex::new(
        entries
            .iter()
            .map(|(a, h)| SectionEntry {
                anchor: AnchorId::parse(a).unwrap(),
                title: format!("Title {a}"),
                hash: ContentHash::from_bytes([*h; 32]),
            })
            .collect(),
    )
    .unwrap()
}

/// Pushes a new plan with one version through the port, as the push use case does.
pub async fn new_plan(
    p: &Ports,
    owner: &User,
    slug: &str,
    vis: Visibility,
    at: i64,
) -> (Plan, Version) {
    let html = format!("<h1>{slug}</h1>");
    new_plan_of(p, owner, slug, vis, at, &html, index(&[("a", 1)])).await
}

/// [`new_plan`] whose first version is `html` with `sections` (its search text is read from
/// `html`).
pub async fn new_plan_of(
    p: &Ports,
    owner: &User,
    slug: &str,
    vis: Visibility,
    at: i64,
    html: &str,
    sections: SectionIndex,
) -> (Plan, Version) {
    let mut plan = Plan::new(
        Slug::parse(slug).unwrap(),
        &format!("Plan {slug}"),
        owner.id,
        vis,
        t(at),
    )
    .unwrap();
    let v = Version::new(
        None,
        NewVersion {
            plan_id: plan.id(),
            title: plan.title().to_owned(),
            format: SourceFormat::Html,
            source: html.into(),
            html: html.into(),
            sections,
            pushed_by: owner.id,
            pushed_at: t(at),
        },
    );
    let title = plan.title().to_owned();
    plan.record_version(1, &title, t(at)).unwrap();
    p.versions
        .commit(
            Commit::NewPlan {
                plan: &plan,
                version: &v,
                text: &planpush_document::text_units(&v.html),
            },
            &[],
        )
        .await
        .unwrap();
    (plan, v)
}

async fn push_next(
    p: &Ports,
    plan: &mut Plan,
    prev: &Version,
    by: UserId,
    sections: SectionIndex,
    at: i64,
) -> Result<Version, VersionRepoError> {
    let v = Version::new(
        Some(&prev.head()),
        NewVersion {
            plan_id: plan.id(),
            title: "Next title".to_owned(),
            format: SourceFormat::Markdown,
            source: format!("# v{at}").into(),
            html: format!("<h1>v{at}</h1>").into(),
            sections,
            pushed_by: by,
            pushed_at: t(at),
        },
    );
    let text = planpush_document::text_units(&v.html);
    commit_next(p, plan, &v, &text).await?;
    Ok(v)
}

/// Commits `v` as the next version of `plan` (and records it on `plan`), as the push use case does.
async fn commit_next(
    p: &Ports,
    plan: &mut Plan,
    v: &Version,
    text: &[TextUnit],
) -> Result<(), VersionRepoError> {
    let mut updated = plan.clone();
    updated
        .record_version(v.meta.number.get(), &v.meta.title, v.meta.pushed_at)
        .unwrap();
    p.versions
        .commit(
            Commit::NextVersion {
                plan: &updated,
                version: v,
                text,
            },
            &[],
        )
        .await?;
    *plan = updated;
    Ok(())
}

pub async fn plans_new_plan_commit(p: &Ports) {
    let ada = user(p, "ada").await;
    let (plan, v1) = new_plan(p, &ada, "auth-redesign", Visibility::Private, 0).await;
    assert_eq!(p.plans.get(plan.id()).await.unwrap(), plan);
    assert_eq!(
        p.plans.find_by_slug(plan.slug()).await.unwrap(),
        Some(plan.clone())
    );
    assert_eq!(
        p.versions
            .get(plan.id(), VersionNumber::FIRST)
            .await
            .unwrap(),
        v1
    );
    assert_eq!(
        p.versions.latest(plan.id()).await.unwrap(),
        Some(v1.clone())
    );
    // `head` is `latest` without the HTML.
    assert_eq!(p.versions.head(plan.id()).await.unwrap(), Some(v1.head()));

    // the same slug again: refused, and nothing of the second push is stored
    let mut dup = Plan::new(
        plan.slug().clone(),
        "Other",
        ada.id,
        Visibility::Published,
        t(5),
    )
    .unwrap();
    dup.record_version(1, "Other", t(5)).unwrap();
    let dv = Version::new(
        None,
        NewVersion {
            plan_id: dup.id(),
            title: "Other".to_owned(),
            format: SourceFormat::Html,
            source: "x".into(),
            html: "x".into(),
            sections: SectionIndex::default(),
            pushed_by: ada.id,
            pushed_at: t(5),
        },
    );
    assert!(
        matches!(p.versions.commit(Commit::NewPlan { plan: &dup, version: &dv, text: &[] }, &[]).await, Err(VersionRepoError::SlugTaken(s)) if &s == plan.slug())
    );
    assert!(matches!(
        p.plans.get(dup.id()).await,
        Err(PlanRepoError::NotFound)
    ));
    assert_eq!(p.versions.latest(dup.id()).await.unwrap(), None);
    assert!(matches!(
        p.plans.get(PlanId::new()).await,
        Err(PlanRepoError::NotFound)
    ));
    assert_eq!(
        p.plans
            .find_by_slug(&Slug::parse("nope").unwrap())
            .await
            .unwrap(),
        None
    );
}

pub async fn versions_next_version_commit(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (mut plan, v1) = new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let v2 = push_next(p, &mut plan, &v1, bob.id, index(&[("a", 2), ("b", 1)]), 10)
        .await
        .unwrap();
    assert_eq!(v2.meta.number.get(), 2);
    assert_eq!(v2.meta.changes.added, [AnchorId::parse("b").unwrap()]);
    assert_eq!(v2.meta.changes.changed, [AnchorId::parse("a").unwrap()]);
    let stored = p.plans.get(plan.id()).await.unwrap();
    assert_eq!(
        (
            stored.current_version(),
            stored.title(),
            stored.updated_at()
        ),
        (2, "Next title", t(10))
    );
    assert_eq!(p.versions.get(plan.id(), v2.meta.number).await.unwrap(), v2);
    assert_eq!(p.versions.head(plan.id()).await.unwrap(), Some(v2.head()));
    assert_eq!(
        p.versions.latest(plan.id()).await.unwrap(),
        Some(v2.clone())
    );

    // a concurrent push that also computed "version 2" loses
    let mut racer = {
        let mut r = plan.to_record();
        r.current_version = 1;
        Plan::restore(r).unwrap()
    };
    assert!(matches!(
        push_next(p, &mut racer, &v1, ada.id, index(&[]), 11).await,
        Err(VersionRepoError::Conflict)
    ));
    assert_eq!(
        p.versions.history(plan.id()).await.unwrap().len(),
        2,
        "the loser stored nothing"
    );

    let metas = p.versions.history(plan.id()).await.unwrap();
    assert_eq!(metas, [v1.meta.clone(), v2.meta.clone()]);
    assert!(matches!(
        p.versions
            .get(plan.id(), VersionNumber::new(3).unwrap())
            .await,
        Err(VersionRepoError::NotFound)
    ));

    let mut ghost = Plan::new(
        Slug::parse("ghost").unwrap(),
        "G",
        ada.id,
        Visibility::Published,
        t(0),
    )
    .unwrap();
    assert!(matches!(
        push_next(p, &mut ghost, &v1, ada.id, index(&[]), 12).await,
        Err(VersionRepoError::PlanNotFound)
    ));

    // a push that read the plan before it was deleted stores nothing on it
    let (mut doomed, d1) = new_plan(p, &ada, "doomed", Visibility::Published, 13).await;
    let mut deleted = doomed.clone();
    deleted.delete(t(14)).unwrap();
    p.plans.update(&deleted).await.unwrap();
    assert!(matches!(
        push_next(p, &mut doomed, &d1, ada.id, index(&[]), 15).await,
        Err(VersionRepoError::PlanNotFound)
    ));
    assert_eq!(p.versions.history(doomed.id()).await.unwrap().len(), 1);
}

pub async fn plans_update_and_slugs(p: &Ports) {
    let ada = user(p, "ada").await;
    let (mut plan, _) = new_plan(p, &ada, "one", Visibility::Private, 0).await;
    let (other, _) = new_plan(p, &ada, "two", Visibility::Private, 1).await;
    plan.publish(t(5)).unwrap();
    plan.set_archived(true, t(6)).unwrap();
    p.plans.update(&plan).await.unwrap();
    assert_eq!(p.plans.get(plan.id()).await.unwrap(), plan);

    let renamed = {
        let mut r = plan.to_record();
        r.slug = other.slug().clone();
        Plan::restore(r).unwrap()
    };
    assert!(matches!(
        p.plans.update(&renamed).await,
        Err(PlanRepoError::SlugTaken(_))
    ));
    let stale = {
        let mut r = plan.to_record();
        r.current_version = 99;
        Plan::restore(r).unwrap()
    };
    p.plans.update(&stale).await.unwrap();
    assert_eq!(
        p.plans.get(plan.id()).await.unwrap().current_version(),
        1,
        "update never moves the version counter"
    );

    // deleting frees the slug; the deleted plan is still readable by id
    let mut gone = other.clone();
    gone.delete(t(7)).unwrap();
    p.plans.update(&gone).await.unwrap();
    assert_eq!(p.plans.find_by_slug(other.slug()).await.unwrap(), None);
    assert_eq!(
        p.plans.get(other.id()).await.unwrap().deleted_at(),
        Some(t(7))
    );
    let (reborn, _) = new_plan(p, &ada, "two", Visibility::Published, 8).await;
    assert_eq!(
        p.plans
            .find_by_slug(other.slug())
            .await
            .unwrap()
            .map(|p| p.id()),
        Some(reborn.id())
    );

    let ghost = Plan::new(
        Slug::parse("ghost").unwrap(),
        "G",
        ada.id,
        Visibility::Published,
        t(0),
    )
    .unwrap();
    assert!(matches!(
        p.plans.update(&ghost).await,
        Err(PlanRepoError::NotFound)
    ));
}

pub async fn plans_list_scopes(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (a_priv, _) = new_plan(p, &ada, "a-private", Visibility::Private, 1).await;
    let (a_pub, _) = new_plan(p, &ada, "a-published", Visibility::Published, 2).await;
    let (b_priv, _) = new_plan(p, &bob, "b-private", Visibility::Private, 3).await;
    let (mut b_arch, _) = new_plan(p, &bob, "b-archived", Visibility::Published, 4).await;
    b_arch.set_archived(true, t(5)).unwrap();
    p.plans.update(&b_arch).await.unwrap();
    let (mut b_del, _) = new_plan(p, &bob, "b-deleted", Visibility::Published, 6).await;
    b_del.delete(t(7)).unwrap();
    p.plans.update(&b_del).await.unwrap();

    let ids = |v: Vec<Plan>| {
        v.into_iter()
            .map(|p| p.slug().to_string())
            .collect::<Vec<_>>()
    };
    let list = |scope, include_archived| {
        p.plans.list(PlanFilter {
            scope,
            include_archived,
        })
    };
    assert_eq!(
        ids(list(PlanScope::All, false).await.unwrap()),
        ["b-private", "a-published", "a-private"],
        "newest first"
    );
    assert_eq!(
        ids(list(PlanScope::All, true).await.unwrap()),
        ["b-archived", "b-private", "a-published", "a-private"]
    );
    assert_eq!(
        ids(list(PlanScope::OwnedOrPublished(ada.id), true)
            .await
            .unwrap()),
        ["b-archived", "a-published", "a-private"]
    );
    assert_eq!(
        ids(list(PlanScope::OwnedOrPublished(bob.id), false)
            .await
            .unwrap()),
        ["b-private", "a-published"]
    );
    assert_eq!(
        ids(list(PlanScope::OwnedBy(bob.id), true).await.unwrap()),
        ["b-archived", "b-private"]
    );
    let _ = (a_priv, a_pub, b_priv);
}

pub async fn versions_purge_keeps_current_and_metadata(p: &Ports) {
    let ada = user(p, "ada").await;
    let (mut plan, v1) = new_plan(p, &ada, "p", Visibility::Published, 0).await;
    let v2 = push_next(p, &mut plan, &v1, ada.id, index(&[("a", 2)]), 100)
        .await
        .unwrap();
    let v3 = push_next(p, &mut plan, &v2, ada.id, index(&[("a", 3)]), 200)
        .await
        .unwrap();
    let (lonely, l1) = new_plan(p, &ada, "lonely", Visibility::Published, 0).await;

    assert_eq!(
        p.versions.purge_before(t(150), t(1000)).await.unwrap(),
        2,
        "v1 and v2 of p; never a current version"
    );
    assert_eq!(
        p.versions.purge_before(t(150), t(1001)).await.unwrap(),
        0,
        "idempotent"
    );
    assert!(matches!(
        p.versions.get(plan.id(), v1.meta.number).await,
        Err(VersionRepoError::NotFound)
    ));
    assert!(matches!(
        p.versions.get(plan.id(), v2.meta.number).await,
        Err(VersionRepoError::NotFound)
    ));
    assert_eq!(p.versions.get(plan.id(), v3.meta.number).await.unwrap(), v3);
    assert_eq!(
        p.versions.get(lonely.id(), l1.meta.number).await.unwrap(),
        l1
    );
    let history = p.versions.history(plan.id()).await.unwrap();
    assert_eq!(
        history.iter().map(|m| m.purged_at).collect::<Vec<_>>(),
        [Some(t(1000)), Some(t(1000)), None]
    );
    assert_eq!(history[1].changes, v2.meta.changes, "what changed stays");
    assert_eq!(history[0].pushed_by, ada.id);

    // A slice of the history: the same metadata, oldest first, expired versions included.
    let n = |n: u32| VersionNumber::new(n).unwrap();
    let numbers = |metas: Vec<planpush_versions::VersionMeta>| {
        metas.iter().map(|m| m.number.get()).collect::<Vec<_>>()
    };
    let slice = p.versions.history_between(plan.id(), n(2), n(3)).await;
    assert_eq!(slice.unwrap(), history[1..]);
    let one = p.versions.history_between(plan.id(), n(1), n(1)).await;
    assert_eq!(numbers(one.unwrap()), [1]);
    let open = p
        .versions
        .history_between(plan.id(), n(3), VersionNumber::MAX);
    assert_eq!(numbers(open.await.unwrap()), [3]);
    let beyond = p.versions.history_between(plan.id(), n(4), n(9)).await;
    assert_eq!(numbers(beyond.unwrap()), Vec::<u32>::new());
    let other = p.versions.history_between(lonely.id(), n(1), n(3)).await;
    assert_eq!(numbers(other.unwrap()), [1], "only the plan's own");
}

/// Large texts come back byte for byte, whatever the store does with them (it may share what
/// versions have in common): three versions of a ~200 KB document with multi-byte characters,
/// each a small edit of the last, then the older two purged.
pub async fn versions_large_texts_round_trip(p: &Ports) {
    let ada = user(p, "ada").await;
    let (mut plan, v1) = new_plan(p, &ada, "large", Visibility::Published, 0).await;
    let page = include_str!("../../../../fixtures/auth-service-redesign.html");
    let base = format!("{}<p>Größe · 日本語 · 🚀</p>", page.repeat(20));
    let edit = |n: usize| {
        let at = (base.len() * n / 4..)
            .find(|&i| base.is_char_boundary(i))
            .unwrap_or(base.len());
        format!("{}<p>edit {n} ✓</p>{}", &base[..at], &base[at..])
    };
    let mut versions = vec![];
    let mut prev = v1;
    for (n, at) in [(1usize, 100i64), (2, 200), (3, 300)] {
        let v = Version::new(
            Some(&prev.head()),
            NewVersion {
                plan_id: plan.id(),
                title: plan.title().to_owned(),
                format: SourceFormat::Html,
                source: format!("<!-- source {n} -->{}", edit(n)).into(),
                html: edit(n).into(),
                sections: index(&[("a", u8::try_from(n).unwrap_or(0))]),
                pushed_by: ada.id,
                pushed_at: t(at),
            },
        );
        commit_next(p, &mut plan, &v, &[]).await.unwrap();
        versions.push(v.clone());
        prev = v;
    }
    for v in &versions {
        let read = p.versions.get(plan.id(), v.meta.number).await.unwrap();
        assert!(
            read.html == v.html && read.source == v.source,
            "v{}",
            v.meta.number.get()
        );
    }
    let head = p.versions.head(plan.id()).await.unwrap().unwrap();
    assert_eq!(*head.source, *versions[2].source);
    assert_eq!(p.versions.purge_before(t(250), t(1000)).await.unwrap(), 3);
    let last = p.versions.latest(plan.id()).await.unwrap().unwrap();
    assert!(last.html == versions[2].html && last.source == versions[2].source);
}

pub async fn plan_views_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let (one, _) = new_plan(p, &ada, "one", Visibility::Published, 0).await;
    let (two, _) = new_plan(p, &ada, "two", Visibility::Published, 0).await;
    let view = |plan: &Plan, version, at| PlanView {
        plan_id: plan.id(),
        user_id: ada.id,
        version,
        viewed_at: t(at),
    };
    p.plan_views.record(&view(&one, 3, 10)).await.unwrap();
    p.plan_views.record(&view(&one, 2, 20)).await.unwrap();
    p.plan_views.record(&view(&two, 1, 30)).await.unwrap();
    let mut got = p.plan_views.for_user(ada.id).await.unwrap();
    got.sort_by_key(|v| v.viewed_at);
    assert_eq!(
        got,
        [view(&one, 3, 20), view(&two, 1, 30)],
        "version never moves backwards"
    );
    assert!(
        p.plan_views
            .for_user(UserId::new())
            .await
            .unwrap()
            .is_empty()
    );
}
