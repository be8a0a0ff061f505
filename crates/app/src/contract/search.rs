use planpush_comments::*;
use planpush_plans::{Plan, PlanScope, Slug, Visibility};
use planpush_versions::*;

use super::{t, user};
use crate::{Ports, SEARCH_CANDIDATES, SearchHit, SearchKind, SearchQuery};

/// Commits a version of `plan` with `html` (a new plan when `prev` is `None`), as a push does.
async fn push_html(
    p: &Ports,
    plan: &mut Plan,
    prev: Option<&Version>,
    html: &str,
    at: i64,
) -> Version {
    let v = Version::new(
        prev.map(Version::head).as_ref(),
        NewVersion {
            plan_id: plan.id(),
            title: plan.title().to_owned(),
            format: SourceFormat::Html,
            source: html.into(),
            html: html.into(),
            sections: SectionIndex::default(),
            pushed_by: plan.owner_id(),
            pushed_at: t(at),
        },
    );
    let title = plan.title().to_owned();
    plan.record_version(v.meta.number.get(), &title, t(at))
        .unwrap();
    let text = planpush_document::text_units(&v.html);
    let commit = match prev {
        None => Commit::NewPlan {
            plan,
            version: &v,
            text: &text,
        },
        Some(_) => Commit::NextVersion {
            plan,
            version: &v,
            text: &text,
        },
    };
    p.versions.commit(commit, &[]).await.unwrap();
    v
}

async fn find(p: &Ports, words: &str, scope: PlanScope, archived: bool) -> Vec<SearchHit> {
    p.search
        .search(&SearchQuery {
            terms: words.split(' ').map(str::to_owned).collect(),
            scope,
            include_archived: archived,
            limit: 50,
            candidates: SEARCH_CANDIDATES,
        })
        .await
        .unwrap()
}

/// `(slug, kind, anchor)` of each hit, sorted (ranking is checked separately).
fn keys(hits: &[SearchHit]) -> Vec<(String, &'static str, Option<String>)> {
    let mut k: Vec<_> = hits
        .iter()
        .map(|h| (h.slug.clone(), h.kind.as_str(), h.anchor.clone()))
        .collect();
    k.sort();
    k
}

fn key(
    slug: &str,
    kind: &'static str,
    anchor: Option<&str>,
) -> (String, &'static str, Option<String>) {
    (slug.to_owned(), kind, anchor.map(str::to_owned))
}

const DOC: &str = r#"<h1>Zebra crossing</h1><p>Intro about quokkas.</p>
<section data-anchor="flow"><h2>Flow</h2><p>The zebra &amp; the <b>gateway</b> rotate tokens.</p></section>
<section data-anchor="risks"><h2>Risks</h2><p>Nothing striped here.</p></section>"#;

/// Titles, sections and comments are found by word prefix, only in plans the scope covers, never
/// in deleted plans, in archived ones only on request; a new version replaces the old text and a
/// comment edit or deletion is reflected at once.
pub async fn search_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let mut open = Plan::new(
        Slug::parse("open").unwrap(),
        "Zebra crossing",
        ada.id,
        Visibility::Published,
        t(0),
    )
    .unwrap();
    let v1 = push_html(p, &mut open, None, DOC, 1).await;
    let mut secret = Plan::new(
        Slug::parse("secret").unwrap(),
        "Secret",
        ada.id,
        Visibility::Private,
        t(0),
    )
    .unwrap();
    push_html(
        p,
        &mut secret,
        None,
        r#"<section data-anchor="s"><h2>S</h2><p>zebra secret</p></section>"#,
        2,
    )
    .await;
    let mut thread = Comment::thread(
        open.id(),
        bob.id,
        VersionNumber::FIRST,
        AnchorId::parse("flow").unwrap(),
        None,
        CommentBody::parse("Does the zebra need a <script>giraffe</script>?").unwrap(),
        t(3),
    );
    p.comments.insert(&thread, &[]).await.unwrap();

    // Bob sees the published plan's title, section and comment; not Ada's private plan.
    let bob_scope = PlanScope::OwnedOrPublished(bob.id);
    assert_eq!(
        keys(&find(p, "zeb", bob_scope, false).await),
        [
            key("open", "comment", Some("flow")),
            key("open", "plan", None),
            key("open", "section", Some("flow")),
        ]
    );
    let comment = find(p, "giraffe", bob_scope, false).await;
    assert_eq!(comment.len(), 1);
    assert_eq!(comment[0].comment_id, Some(thread.id().to_string()));
    assert_eq!(
        comment[0].text,
        "Does the zebra need a <script>giraffe</script>?"
    );
    let section = find(p, "gateway rotate", bob_scope, false).await;
    assert_eq!(keys(&section), [key("open", "section", Some("flow"))]);
    assert_eq!(section[0].title, "Flow");
    assert_eq!(section[0].plan_title, "Zebra crossing");
    assert!(
        section[0]
            .text
            .contains("The zebra & the gateway rotate tokens."),
        "{}",
        section[0].text
    );
    // Words are split at punctuation the same way on every backend.
    let mut paths = Plan::new(
        Slug::parse("paths").unwrap(),
        "Paths",
        ada.id,
        Visibility::Published,
        t(0),
    )
    .unwrap();
    push_html(p, &mut paths, None, r#"<section data-anchor="api"><h2>API</h2><p>Call /api/heronpush with x-heron-token.</p></section>"#, 2).await;
    for q in ["heronpush", "api heronpush", "heron token"] {
        assert_eq!(
            keys(&find(p, q, bob_scope, false).await),
            [key("paths", "section", Some("api"))],
            "{q}"
        );
    }
    // Every term must match; the intro text belongs to the plan's own entry.
    assert!(
        find(p, "gateway striped", bob_scope, false)
            .await
            .is_empty()
    );
    assert_eq!(
        keys(&find(p, "quokkas", bob_scope, false).await),
        [key("open", "plan", None)]
    );
    assert!(
        find(p, "secret", bob_scope, false).await.is_empty(),
        "a private plan's words"
    );
    // Its owner and the "all" scope find it.
    for scope in [
        PlanScope::OwnedOrPublished(ada.id),
        PlanScope::All,
        PlanScope::OwnedBy(ada.id),
    ] {
        assert_eq!(
            keys(&find(p, "secret", scope, false).await),
            [
                key("secret", "plan", None),
                key("secret", "section", Some("s"))
            ],
            "{scope:?}"
        );
    }
    assert!(
        find(p, "secret", PlanScope::OwnedBy(bob.id), false)
            .await
            .is_empty()
    );
    // A title match outranks a body match.
    let ranked = find(p, "zebra", PlanScope::All, false).await;
    assert_eq!(ranked[0].kind, SearchKind::Plan, "{ranked:?}");
    assert!(ranked.windows(2).all(|w| w[0].rank >= w[1].rank));
    assert_eq!(find(p, "zebra", PlanScope::All, false).await.len(), 4);
    let limited = p
        .search
        .search(&SearchQuery {
            terms: vec!["zebra".into()],
            scope: PlanScope::All,
            include_archived: false,
            limit: 2,
            candidates: SEARCH_CANDIDATES,
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);

    // A new version replaces the section text.
    let flow = r#"<h1>Zebra crossing</h1><section data-anchor="flow"><h2>Flow</h2><p>Only okapis now.</p></section>"#;
    let v2 = push_html(p, &mut open, Some(&v1), flow, 4).await;
    assert!(find(p, "gateway", bob_scope, false).await.is_empty());
    assert!(find(p, "quokkas", bob_scope, false).await.is_empty());
    assert_eq!(
        keys(&find(p, "okapi", bob_scope, false).await),
        [key("open", "section", Some("flow"))]
    );
    // A version that keeps a section as it was and adds one (only changed entries are written):
    // the unchanged section is found once, the new one at once, the removed loose text never.
    let walrus =
        format!(r#"{flow}<section data-anchor="risks"><h2>Risks</h2><p>Walruses.</p></section>"#);
    push_html(p, &mut open, Some(&v2), &walrus, 4).await;
    assert_eq!(
        keys(&find(p, "okapi", bob_scope, false).await),
        [key("open", "section", Some("flow"))]
    );
    assert_eq!(
        keys(&find(p, "walrus", bob_scope, false).await),
        [key("open", "section", Some("risks"))]
    );
    assert_eq!(
        keys(&find(p, "zebra", bob_scope, false).await),
        [
            key("open", "comment", Some("flow")),
            key("open", "plan", None)
        ]
    );

    // Comment edits and deletions.
    thread
        .edit(
            bob.id,
            CommentBody::parse("Now about pelicans").unwrap(),
            t(5),
        )
        .unwrap();
    p.comments.update(&thread, &[]).await.unwrap();
    assert!(find(p, "giraffe", bob_scope, false).await.is_empty());
    assert_eq!(find(p, "pelican", bob_scope, false).await.len(), 1);
    thread.delete(bob.id, t(6)).unwrap();
    p.comments.update(&thread, &[]).await.unwrap();
    assert!(find(p, "pelican", bob_scope, false).await.is_empty());
    assert!(find(p, "deleted", bob_scope, false).await.is_empty());

    // Archived: only on request. Deleted: never.
    open.set_archived(true, t(7)).unwrap();
    p.plans.update(&open).await.unwrap();
    assert!(find(p, "okapi", bob_scope, false).await.is_empty());
    assert_eq!(find(p, "okapi", bob_scope, true).await.len(), 1);
    assert!(find(p, "okapi", bob_scope, true).await[0].archived);
    secret.delete(t(8)).unwrap();
    p.plans.update(&secret).await.unwrap();
    assert!(find(p, "secret", PlanScope::All, true).await.is_empty());
    // Publishing makes a plan's words findable by everyone at once.
    let mut later = Plan::new(
        Slug::parse("later").unwrap(),
        "Later",
        ada.id,
        Visibility::Private,
        t(9),
    )
    .unwrap();
    push_html(p, &mut later, None, "<p>narwhal</p>", 9).await;
    assert!(find(p, "narwhal", bob_scope, false).await.is_empty());
    later.publish(t(10)).unwrap();
    p.plans.update(&later).await.unwrap();
    assert_eq!(find(p, "narwhal", bob_scope, false).await.len(), 1);
    // No terms, no hits.
    assert!(
        p.search
            .search(&SearchQuery {
                terms: vec![],
                scope: PlanScope::All,
                include_archived: true,
                limit: 10,
                candidates: SEARCH_CANDIDATES,
            })
            .await
            .unwrap()
            .is_empty()
    );

    ranking_and_candidates(p, &ada, &bob).await;
}

async fn find_among(
    p: &Ports,
    words: &str,
    scope: PlanScope,
    limit: usize,
    candidates: usize,
) -> Vec<SearchHit> {
    p.search
        .search(&SearchQuery {
            terms: words.split(' ').map(str::to_owned).collect(),
            scope,
            include_archived: false,
            limit,
            candidates,
        })
        .await
        .unwrap()
}

/// More occurrences and a title match rank higher; with fewer candidates than matches, only
/// entries the caller may see are candidates (a private plan's many newer matches never crowd out
/// a published plan's), and at most `candidates` are ranked.
async fn ranking_and_candidates(
    p: &Ports,
    ada: &planpush_identity::User,
    bob: &planpush_identity::User,
) {
    let mut herd = Plan::new(
        Slug::parse("herd").unwrap(),
        "Yak herd",
        bob.id,
        Visibility::Published,
        t(20),
    )
    .unwrap();
    push_html(
        p,
        &mut herd,
        None,
        r#"<section data-anchor="one"><h2>One</h2><p>A yak grazes on the hill above the old stone barn today.</p></section>
<section data-anchor="many"><h2>Many</h2><p>Yak after yak after yak grazes on the hill above the barn.</p></section>"#,
        21,
    )
    .await;
    let ranked = find(p, "yak", PlanScope::OwnedOrPublished(ada.id), false).await;
    assert_eq!(
        ranked
            .iter()
            .map(|h| (h.kind.as_str(), h.anchor.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("plan", None),
            ("section", Some("many")),
            ("section", Some("one"))
        ],
        "{ranked:?}"
    );
    assert!(
        ranked.windows(2).all(|w| w[0].rank > w[1].rank),
        "{ranked:?}"
    );

    // Ada's private plan, indexed later, matches many more times.
    let mut pen = Plan::new(
        Slug::parse("pen").unwrap(),
        "Pen",
        ada.id,
        Visibility::Private,
        t(22),
    )
    .unwrap();
    let sections: String = (0..12)
        .map(|i| format!(r#"<section data-anchor="y{i}"><h2>Yak {i}</h2><p>yak yak</p></section>"#))
        .collect();
    push_html(p, &mut pen, None, &sections, 23).await;
    let bob_scope = PlanScope::OwnedOrPublished(bob.id);
    for candidates in [1, 2, 3, 50] {
        let hits = find_among(p, "yak", bob_scope, candidates, candidates).await;
        assert_eq!(hits.len(), candidates.min(3), "{candidates}: {hits:?}");
        assert!(
            hits.iter().all(|h| h.slug == "herd"),
            "{candidates}: {hits:?}"
        );
    }
    // The limit is at least the candidates.
    assert_eq!(find_among(p, "yak", bob_scope, 3, 1).await.len(), 3);
    // Ada sees both plans; at most `candidates` are ranked, best first.
    let ada_scope = PlanScope::OwnedOrPublished(ada.id);
    assert_eq!(find_among(p, "yak", ada_scope, 50, 50).await.len(), 15);
    let few = find_among(p, "yak", ada_scope, 5, 5).await;
    assert_eq!(few.len(), 5, "{few:?}");
    assert!(few.windows(2).all(|w| w[0].rank >= w[1].rank), "{few:?}");
    assert!(
        find_among(p, "yak", PlanScope::OwnedBy(bob.id), 50, 2)
            .await
            .iter()
            .all(|h| h.slug == "herd")
    );
}
