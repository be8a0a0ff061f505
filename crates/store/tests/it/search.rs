//! Search entries reach SQLite's FTS5 index as one statement per commit: FTS5 writes its pending
//! terms out as a new segment whenever a statement opens a savepoint, so entries inserted one by
//! one made a segment each, and their merges cost a first push ~11% of its CPU.

use planpush_app::contract::{new_plan_of, user};
use planpush_plans::Visibility;
use planpush_versions::SectionIndex;

use crate::support::sqlite_store;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_new_plan_of_forty_sections_adds_one_fts_segment() {
    let (store, _guard) = sqlite_store();
    store.migrate().unwrap();
    let ports = store.ports();
    let by = user(&ports, "writer").await;
    let segments = || -> i64 {
        let rows: Vec<Count> = store
            .raw_query("SELECT count(DISTINCT segid) AS n FROM search_fts_idx")
            .unwrap();
        rows[0].n
    };
    let before = segments();
    let html: String = (0..40)
        .map(|i| {
            format!(
                "<section data-anchor=\"s{i}\"><h2>Section {i}</h2><p>words of section {i}</p></section>"
            )
        })
        .collect();
    let text = planpush_document::text_units(&html);
    assert_eq!(text.iter().filter(|u| u.anchor.is_some()).count(), 40);
    new_plan_of(
        &ports,
        &by,
        "forty",
        Visibility::Published,
        0,
        &html,
        SectionIndex::default(),
    )
    .await;
    assert_eq!(
        segments() - before,
        1,
        "the plan's 41 search entries are written as one FTS5 segment"
    );
    // And they are found.
    let rows: Vec<Count> = store
        .raw_query("SELECT count(*) AS n FROM search_fts WHERE search_fts MATCH 'section'")
        .unwrap();
    assert_eq!(rows[0].n, 40);
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    k: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    v: i64,
}

/// FTS5 merges a level's segments sixteen at a time (migration `search_merges`): half the levels
/// of its default width of four, so half the merge work per page written; the forced merge of a
/// level waits for 64 segments. Reverting the migration gives FTS5's defaults back (no setting
/// stored).
#[tokio::test]
async fn the_index_merges_sixteen_segments_at_a_time() {
    let (store, _guard) = sqlite_store();
    store.migrate().unwrap();
    let settings = || -> Vec<(String, i64)> {
        let rows: Vec<Setting> = store
            .raw_query(
                "SELECT k, CAST(v AS INTEGER) AS v FROM search_fts_config \
                 WHERE k IN ('automerge', 'crisismerge') ORDER BY k",
            )
            .unwrap();
        rows.into_iter().map(|s| (s.k, s.v)).collect()
    };
    assert_eq!(
        settings(),
        [("automerge".to_owned(), 16), ("crisismerge".to_owned(), 64)]
    );
    assert_eq!(store.revert_last_migration().unwrap(), "20261206000100");
    assert_eq!(settings(), []);
}
