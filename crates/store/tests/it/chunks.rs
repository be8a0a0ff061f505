//! A version's texts (HTML, source, section index) are stored as chunks of its plan: what one push writes, what retention
//! frees, and the way back (`down.sql`) to whole texts — on both backends.

use std::sync::Arc;

use planpush_app::Ports;
use planpush_app::contract::{t, user};
use planpush_identity::User;
use planpush_plans::{Plan, Slug, Visibility};
use planpush_store::Store;
use planpush_versions::{
    AnchorId, Commit, ContentHash, NewVersion, SectionEntry, SectionIndex, SourceFormat, Staged,
    Version,
};

use crate::support::{pg_store, sqlite_store};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    t: Option<String>,
}

fn chunks_stored(store: &Store) -> i64 {
    store
        .raw_query::<Count>("SELECT COUNT(*) AS n FROM version_chunks")
        .unwrap()[0]
        .n
}

/// ~120 KB of the fixture (each copy's anchors its own), with multi-byte characters.
fn document() -> String {
    let page = include_str!("../../../../fixtures/auth-service-redesign.html");
    let copies: String = (0..12)
        .map(|i| page.replace("data-anchor=\"", &format!("data-anchor=\"c{i}-")))
        .collect();
    format!("{copies}<p>Größe · 日本語 · 🚀</p>")
}

/// `doc` with a last section that says `n`: what a push changing one section sends.
fn with_tail(doc: &str, n: u32) -> String {
    format!("{doc}<section data-anchor=\"tail\"><h2>Tail</h2><p>push {n} ✓</p></section>")
}

fn sections(n: u8) -> SectionIndex {
    SectionIndex::new(vec![SectionEntry {
        anchor: AnchorId::parse("tail").unwrap(),
        title: "Tail".into(),
        hash: ContentHash::from_bytes([n; 32]),
    }])
    .unwrap()
}

/// Commits `html` (and a source that differs from it) as the next version of `plan`.
async fn push(
    p: &Ports,
    plan: &mut Option<Plan>,
    prev: Option<&Version>,
    ada: &User,
    html: String,
    at: i64,
) -> Version {
    push_staged(p, plan, prev, ada, html, at, |_| Staged::default()).await
}

/// [`push`], with what `stage` stages for the version.
async fn push_staged(
    p: &Ports,
    plan: &mut Option<Plan>,
    prev: Option<&Version>,
    ada: &User,
    html: String,
    at: i64,
    stage: impl FnOnce(&Version) -> Staged,
) -> Version {
    let owner = ada.id;
    let current = plan.clone().unwrap_or_else(|| {
        Plan::new(
            Slug::parse("chunked").unwrap(),
            "Chunked",
            owner,
            Visibility::Published,
            t(at),
        )
        .unwrap()
    });
    let v = Version::new(
        prev.map(Version::head).as_ref(),
        NewVersion {
            plan_id: current.id(),
            title: "Chunked".into(),
            format: SourceFormat::Html,
            source: format!("<!-- as sent -->{html}").into(),
            html: html.into(),
            sections: sections(u8::try_from(at % 250).unwrap_or(0)),
            pushed_by: owner,
            pushed_at: t(at),
        },
    );
    let mut next = current.clone();
    next.record_version(v.meta.number.get(), "Chunked", t(at))
        .unwrap();
    let commit = match prev {
        None => Commit::NewPlan {
            plan: &next,
            version: &v,
            text: &[],
        },
        Some(_) => Commit::NextVersion {
            plan: &next,
            version: &v,
            text: &[],
        },
    };
    let staged = stage(&v);
    p.versions
        .commit_staged(commit, &staged, &[], &[], &[])
        .await
        .unwrap();
    *plan = Some(next);
    v
}

/// A push stages its version's texts before its turn: the commit writes what it would have
/// written itself, and texts staged for another version are not used.
async fn staged_texts_are_written_as_unstaged_ones_and_stale_ones_ignored(store: Arc<Store>) {
    store.migrate().unwrap();
    let p = store.ports();
    let ada = user(&p, "ada").await;
    let doc = document();
    let stage = |v: &Version| p.versions.stage(&v.html, &v.source, &v.sections);
    let mut plan = None;
    let v1 = push_staged(&p, &mut plan, None, &ada, with_tail(&doc, 1), 0, stage).await;
    let first = chunks_stored(&store);
    // Staged for version 1's texts, committed with version 2's.
    let stale = stage(&v1);
    let v2 = push_staged(
        &p,
        &mut plan,
        Some(&v1),
        &ada,
        with_tail(&doc, 2),
        100,
        |_| stale,
    )
    .await;
    let v3 = push(&p, &mut plan, Some(&v2), &ada, with_tail(&doc, 3), 200).await;
    let v4 = push_staged(
        &p,
        &mut plan,
        Some(&v3),
        &ada,
        with_tail(&doc, 4),
        300,
        stage,
    )
    .await;
    let plan = plan.unwrap();
    for v in [&v1, &v2, &v3, &v4] {
        assert_eq!(&p.versions.get(plan.id(), v.meta.number).await.unwrap(), v);
    }
    // Staged or not, a text is cut where the store cuts it: three one-section pushes add only
    // their last chunks (a staged text cut otherwise would add all of its own).
    let added = chunks_stored(&store) - first;
    assert!(
        added <= 3 * 4,
        "three one-section pushes wrote {added} chunks"
    );
}

async fn a_one_section_push_writes_a_few_chunks_and_retention_frees_the_rest(store: Arc<Store>) {
    store.migrate().unwrap();
    let p = store.ports();
    let ada = user(&p, "ada").await;
    let doc = document();
    let mut plan = None;
    let v1 = push(&p, &mut plan, None, &ada, with_tail(&doc, 1), 0).await;
    let first = chunks_stored(&store);
    assert!(
        first >= 20,
        "a ~120 KB document (and its source, which shares most of it) in {first} chunks"
    );
    let mut prev = v1;
    let mut pushed = vec![];
    for n in 2..=5 {
        let v = push(
            &p,
            &mut plan,
            Some(&prev),
            &ada,
            with_tail(&doc, n),
            i64::from(n) * 100,
        )
        .await;
        pushed.push(v.clone());
        prev = v;
    }
    let after = chunks_stored(&store);
    assert!(
        after - first <= 4 * 4,
        "four one-section pushes wrote {} chunks (their HTML's and source's last ones)",
        after - first
    );
    let plan = plan.unwrap();
    for v in &pushed {
        assert_eq!(&p.versions.get(plan.id(), v.meta.number).await.unwrap(), v);
    }

    // Retention purges versions 1–4: the chunks only they listed go, the shared ones stay.
    assert_eq!(p.versions.purge_before(t(450), t(1000)).await.unwrap(), 4);
    let kept = chunks_stored(&store);
    assert_eq!(
        kept, first,
        "the current version's chunks, no more: as many as one version of the document has"
    );
    assert_eq!(
        p.versions.latest(plan.id()).await.unwrap().as_ref(),
        pushed.last()
    );

    // Back to an older text: the chunks of its HTML and source are held (listed by version 5,
    // not by version 6 it follows), so none is written again (a second insert would break the
    // chunks' key) and it reads back whole. The helper's section index differs per push: its
    // one chunk is new.
    let mut plan = Some(plan);
    let v6 = push(&p, &mut plan, Some(&prev), &ada, with_tail(&doc, 6), 600).await;
    let with_v6 = chunks_stored(&store);
    let v7 = push(&p, &mut plan, Some(&v6), &ada, with_tail(&doc, 5), 700).await;
    assert_eq!(
        chunks_stored(&store),
        with_v6 + 1,
        "version 5's HTML and source chunks were re-used"
    );
    let plan_id = plan.unwrap().id();
    assert_eq!(p.versions.get(plan_id, v7.meta.number).await.unwrap(), v7);
    assert_eq!(v7.source, prev.source);
    assert_eq!(v7.html, prev.html);
}

/// `down.sql` writes every text back whole before it drops the chunks; the store reads versions
/// written whole (before chunks) as it always did.
async fn down_restores_whole_texts_which_are_still_read(store: Arc<Store>) {
    store.migrate().unwrap();
    let p = store.ports();
    let ada = user(&p, "ada").await;
    let doc = document();
    let mut plan = None;
    let v1 = push(&p, &mut plan, None, &ada, with_tail(&doc, 1), 0).await;
    let v2 = push(&p, &mut plan, Some(&v1), &ada, with_tail(&doc, 2), 100).await;
    let stored_whole = |number: u32| {
        store
            .raw_query::<Text>(&format!(
                "SELECT html AS t FROM versions WHERE number = {number}"
            ))
            .unwrap()
            .remove(0)
            .t
    };
    assert_eq!(stored_whole(2), None, "written as chunks");

    // Reverted down to the chunks' migration (on SQLite a later one only changes FTS5 settings).
    let reverted = std::iter::repeat_with(|| store.revert_last_migration().unwrap())
        .find(|version| version.as_str() <= "20261203000200")
        .unwrap();
    assert!(reverted.ends_with("000200"), "{reverted}");
    assert_eq!(stored_whole(1).as_deref(), Some(&*v1.html));
    assert_eq!(stored_whole(2).as_deref(), Some(&*v2.html));
    let source: Vec<Text> = store
        .raw_query("SELECT source AS t FROM versions WHERE number = 2")
        .unwrap();
    assert_eq!(source[0].t.as_deref(), Some(&*v2.source));
    let sections: Vec<Text> = store
        .raw_query("SELECT sections AS t FROM versions WHERE number = 2")
        .unwrap();
    assert_eq!(
        sections[0].t.as_deref(),
        Some(serde_json::to_string(&v2.sections).unwrap().as_str())
    );

    // Up again: the whole texts are read as they are, and new versions are chunked.
    store.migrate().unwrap();
    let plan_id = plan.as_ref().unwrap().id();
    assert_eq!(p.versions.get(plan_id, v1.meta.number).await.unwrap(), v1);
    assert_eq!(p.versions.get(plan_id, v2.meta.number).await.unwrap(), v2);
    assert_eq!(
        p.versions.head(plan_id).await.unwrap().unwrap().source,
        *v2.source
    );
    let v3 = push(&p, &mut plan, Some(&v2), &ada, with_tail(&doc, 3), 200).await;
    assert_eq!(p.versions.get(plan_id, v3.meta.number).await.unwrap(), v3);
    assert!(chunks_stored(&store) > 0);
}

#[tokio::test]
async fn sqlite_one_section_push_writes_a_few_chunks() {
    let (store, _guard) = sqlite_store();
    a_one_section_push_writes_a_few_chunks_and_retention_frees_the_rest(store).await;
}

#[tokio::test]
async fn postgres_one_section_push_writes_a_few_chunks() {
    let Some((store, _guard)) = pg_store() else {
        return;
    };
    a_one_section_push_writes_a_few_chunks_and_retention_frees_the_rest(store).await;
}

#[tokio::test]
async fn sqlite_staged_texts_are_written_as_unstaged_ones() {
    let (store, _guard) = sqlite_store();
    staged_texts_are_written_as_unstaged_ones_and_stale_ones_ignored(store).await;
}

#[tokio::test]
async fn postgres_staged_texts_are_written_as_unstaged_ones() {
    let Some((store, _guard)) = pg_store() else {
        return;
    };
    staged_texts_are_written_as_unstaged_ones_and_stale_ones_ignored(store).await;
}

#[tokio::test]
async fn sqlite_down_restores_whole_texts() {
    let (store, _guard) = sqlite_store();
    down_restores_whole_texts_which_are_still_read(store).await;
}

#[tokio::test]
async fn postgres_down_restores_whole_texts() {
    let Some((store, _guard)) = pg_store() else {
        return;
    };
    down_restores_whole_texts_which_are_still_read(store).await;
}
