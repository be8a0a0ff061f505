//! Every migration goes up → down → up on both backends, and the schema after each step matches.

use std::sync::Arc;

use planpush_store::Store;

use crate::support::{pg_store, sqlite_store};

fn up_down_up(store: &Arc<Store>) {
    let empty = store.schema_snapshot().unwrap();
    assert!(
        empty.is_empty(),
        "a fresh database has no tables: {empty:?}"
    );
    let mut before = empty;
    let mut applied = 0;
    while let Some(name) = store.migrate_next().unwrap() {
        let after = store.schema_snapshot().unwrap();
        assert_ne!(after, before, "{name} changed nothing");
        let reverted = store.revert_last_migration().unwrap();
        assert_eq!(reverted, name);
        assert_eq!(
            store.schema_snapshot().unwrap(),
            before,
            "down.sql of {name} does not restore the previous schema"
        );
        assert_eq!(
            store.migrate_next().unwrap().as_deref(),
            Some(name.as_str())
        );
        assert_eq!(
            store.schema_snapshot().unwrap(),
            after,
            "up.sql of {name} is not repeatable after its down.sql"
        );
        before = after;
        applied += 1;
    }
    assert!(
        applied >= 3,
        "expected the three initial migrations, applied {applied}"
    );
    assert!(store.migrate().unwrap().is_empty(), "nothing left pending");
}

#[test]
fn sqlite_migrations_up_down_up() {
    let (store, _guard) = sqlite_store();
    up_down_up(&store);
}

#[test]
fn postgres_migrations_up_down_up() {
    let Some((store, _guard)) = pg_store() else {
        return;
    };
    up_down_up(&store);
}

/// The two migration trees must stay in step: same versions, and the same tables and columns.
#[test]
fn both_backends_have_the_same_tables_and_columns() {
    let Some((pg, _g1)) = pg_store() else { return };
    let (lite, _g2) = sqlite_store();
    pg.migrate().unwrap();
    lite.migrate().unwrap();
    let tables = |lines: Vec<String>, prefix: &str| -> std::collections::BTreeSet<String> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|l| {
                l.split([' ', ':', '.'])
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    // SQLite's full-text index is a virtual table (with its shadow tables) where PostgreSQL has
    // a column and a GIN index: a difference of backends, not of schemas.
    let mut sqlite_tables = tables(lite.schema_snapshot().unwrap(), "table ");
    sqlite_tables.retain(|t| !t.starts_with("search_fts"));
    assert_eq!(
        tables(pg.schema_snapshot().unwrap(), "column "),
        sqlite_tables
    );
}
