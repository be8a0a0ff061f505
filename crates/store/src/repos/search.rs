//! The search index (`app::SearchRepository`): SQLite FTS5 or PostgreSQL `tsvector` over
//! `search_entries`, written inside the version and comment transactions by [`index_plan`] and
//! [`index_comment`]. Queries join `plans` for visibility, so lifecycle changes need no writes here.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use planpush_app::{InfraError, SearchHit, SearchKind, SearchQuery, SearchRepository};
use planpush_identity::UserId;
use planpush_plans::{PlanId, PlanScope, Visibility};
use planpush_versions::TextUnit;
use std::collections::HashMap;

use crate::dialect::{insert_rows, write_tx};
use crate::rows::{corrupt, db, uuid};
use crate::schema::{plans as p, search_entries as se};
use crate::{DbConnection, Store};

#[derive(Insertable)]
// NULL, not DEFAULT, for `None`: one multi-row statement on SQLite (see `insert_rows!`).
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = se)]
struct NewEntry {
    plan_id: String,
    kind: &'static str,
    anchor: Option<String>,
    comment_id: Option<String>,
    title: String,
    body: String,
}

/// Brings `plan_id`'s title and section entries in step with `units` (its current version's
/// searchable text). Called inside the transaction that commits the version.
///
/// Only what changed is written: an entry whose kind, anchor, title and text are unchanged keeps
/// its row, so a push that changes one section of forty deletes and inserts one entry instead of
/// forty (every FTS write tokenizes the text, and SQLite's write lock is held meanwhile).
pub(crate) fn index_plan(
    conn: &mut DbConnection,
    plan_id: &str,
    plan_title: &str,
    units: &[TextUnit],
) -> QueryResult<()> {
    let loose = units
        .iter()
        .find(|u| u.anchor.is_none())
        .map_or(String::new(), |u| u.text.clone());
    let mut wanted = vec![NewEntry {
        plan_id: plan_id.to_owned(),
        kind: SearchKind::Plan.as_str(),
        anchor: None,
        comment_id: None,
        title: plan_title.to_owned(),
        body: loose,
    }];
    wanted.extend(units.iter().filter_map(|u| {
        Some(NewEntry {
            plan_id: plan_id.to_owned(),
            kind: SearchKind::Section.as_str(),
            anchor: Some(u.anchor.as_ref()?.to_string()),
            comment_id: None,
            title: u.title.clone(),
            body: u.text.clone(),
        })
    }));
    let existing: Vec<(i64, String, Option<String>, String, String)> = se::table
        .filter(
            se::plan_id
                .eq(plan_id)
                .and(se::kind.eq("plan").or(se::kind.eq("section"))),
        )
        .select((se::id, se::kind, se::anchor, se::title, se::body))
        .load(conn)?;
    // (kind, anchor) → the stored entries' (id, title, text).
    type Stored<'a> = Vec<(i64, &'a str, &'a str)>;
    let mut by_key: HashMap<(&str, Option<&str>), Stored<'_>> = HashMap::new();
    for (id, kind, anchor, title, body) in &existing {
        by_key
            .entry((kind.as_str(), anchor.as_deref()))
            .or_default()
            .push((*id, title.as_str(), body.as_str()));
    }
    // Whether each wanted entry is new (no stored entry with its key and text is left for it).
    let new: Vec<bool> = wanted
        .iter()
        .map(|entry| {
            let kept = by_key
                .get_mut(&(entry.kind, entry.anchor.as_deref()))
                .and_then(|rows| {
                    let i = rows
                        .iter()
                        .position(|(_, t, b)| *t == entry.title && *b == entry.body)?;
                    Some(rows.swap_remove(i))
                });
            kept.is_none()
        })
        .collect();
    let stale: Vec<i64> = by_key
        .into_values()
        .flatten()
        .map(|(id, _, _)| id)
        .collect();
    let fresh: Vec<NewEntry> = wanted
        .into_iter()
        .zip(new)
        .filter_map(|(entry, new)| new.then_some(entry))
        .collect();
    for chunk in stale.chunks(500) {
        match chunk {
            // One entry (the section a push changed): a statement diesel keeps prepared.
            [id] => diesel::delete(se::table.filter(se::id.eq(id))).execute(conn)?,
            _ => diesel::delete(se::table.filter(se::id.eq_any(chunk))).execute(conn)?,
        };
    }
    insert_rows!(conn, se::table, fresh, 100)
}

/// Writes (or removes, for a deleted comment) one comment's entry. Called inside the transaction
/// that writes the comment.
pub(crate) fn index_comment(
    conn: &mut DbConnection,
    comment_id: &str,
    plan_id: &str,
    anchor: &str,
    body: &str,
    deleted: bool,
) -> QueryResult<()> {
    diesel::delete(se::table.filter(se::comment_id.eq(comment_id))).execute(conn)?;
    if deleted {
        return Ok(());
    }
    diesel::insert_into(se::table)
        .values(NewEntry {
            plan_id: plan_id.to_owned(),
            kind: SearchKind::Comment.as_str(),
            anchor: Some(anchor.to_owned()),
            comment_id: Some(comment_id.to_owned()),
            title: String::new(),
            body: body.to_owned(),
        })
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    anchor: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    comment_id: Option<String>,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Text)]
    plan_id: String,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    plan_title: String,
    #[diesel(sql_type = Text)]
    visibility: String,
    #[diesel(sql_type = Text)]
    owner_id: String,
    #[diesel(sql_type = Bool)]
    archived: bool,
    #[diesel(sql_type = Double)]
    rank: f64,
}

const COLUMNS: &str = "e.kind AS kind, e.anchor AS anchor, e.comment_id AS comment_id, \
    e.title AS title, e.body AS body, p.id AS plan_id, p.slug AS slug, p.title AS plan_title, \
    p.visibility AS visibility, p.owner_id AS owner_id, (p.archived_at IS NOT NULL) AS archived";

/// `?1` match expression, `?2` include archived, `?3` scope (`all` | `published` | `own`), `?4`
/// the viewer, `?5` limit, `?6` candidates. Titles weigh four times the body in `bm25`.
///
/// A common word or a short prefix matches most of the index, and `bm25` over every match (then a
/// sort) cost hundreds of milliseconds. So the innermost query walks the matches newest first
/// (`ORDER BY rowid DESC`, which FTS5 answers from its lists without scoring), keeps the first
/// `?6` that the caller may see (visibility checked row by row on the plan's primary key, so what
/// the caller cannot see never takes a candidate's place) and scores only those; the middle one
/// keeps the best `?5`, and the outer one reads their texts.
fn sqlite_sql() -> String {
    format!(
        "SELECT {COLUMNS}, top.rank AS rank FROM (\
           SELECT id, rank FROM (\
             SELECT search_fts.rowid AS id, -bm25(search_fts, 4.0, 1.0) AS rank \
             FROM search_fts JOIN search_entries e ON e.id = search_fts.rowid \
             JOIN plans p ON p.id = e.plan_id \
             WHERE search_fts MATCH ?1 AND p.deleted_at IS NULL AND (?2 OR p.archived_at IS NULL) \
             AND (?3 = 'all' OR p.owner_id = ?4 OR (?3 = 'published' AND p.visibility = 'published')) \
             ORDER BY search_fts.rowid DESC LIMIT ?6) \
           ORDER BY rank DESC LIMIT ?5) top \
         JOIN search_entries e ON e.id = top.id JOIN plans p ON p.id = e.plan_id \
         ORDER BY top.rank DESC"
    )
}

/// The same with PostgreSQL placeholders; `ts_rank` weighs titles (A) 1.0 and bodies (B) 0.4.
/// The newest `$6` visible matches (the planner walks the primary key backwards for a common word,
/// or takes the GIN index's matches for a rare one), ranked, the best `$5` kept, then their texts.
fn pg_sql() -> String {
    format!(
        "SELECT {COLUMNS}, top.rank AS rank FROM (\
           SELECT c.id AS id, ts_rank(c.tsv, q)::float8 AS rank FROM (\
             SELECT e.id AS id, e.tsv AS tsv \
             FROM search_entries e JOIN plans p ON p.id = e.plan_id \
             WHERE e.tsv @@ to_tsquery('simple', $1) AND p.deleted_at IS NULL \
             AND ($2 OR p.archived_at IS NULL) \
             AND ($3 = 'all' OR p.owner_id = $4 OR ($3 = 'published' AND p.visibility = 'published')) \
             ORDER BY e.id DESC LIMIT $6) c, to_tsquery('simple', $1) q \
           ORDER BY rank DESC LIMIT $5) top \
         JOIN search_entries e ON e.id = top.id JOIN plans p ON p.id = e.plan_id \
         ORDER BY top.rank DESC"
    )
}

impl TryFrom<HitRow> for SearchHit {
    type Error = anyhow::Error;
    fn try_from(r: HitRow) -> anyhow::Result<Self> {
        Ok(SearchHit {
            plan_id: PlanId::from_uuid(uuid(&r.plan_id)?),
            slug: r.slug,
            plan_title: r.plan_title,
            visibility: Visibility::parse(&r.visibility).map_err(|e| corrupt("visibility", e))?,
            owner_id: UserId::from_uuid(uuid(&r.owner_id)?),
            archived: r.archived,
            kind: SearchKind::parse(&r.kind).ok_or_else(|| corrupt("search kind", &r.kind))?,
            anchor: r.anchor,
            comment_id: r.comment_id,
            title: r.title,
            text: r.body,
            rank: r.rank,
        })
    }
}

#[async_trait]
impl SearchRepository for Store {
    async fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, InfraError> {
        if q.terms.is_empty() {
            return Ok(vec![]);
        }
        let (scope, viewer) = match q.scope {
            PlanScope::All => ("all", String::new()),
            PlanScope::OwnedOrPublished(u) => ("published", u.to_string()),
            PlanScope::OwnedBy(u) => ("own", u.to_string()),
        };
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let candidates = i64::try_from(q.candidates.max(q.limit)).unwrap_or(i64::MAX);
        let (archived, terms) = (q.include_archived, q.terms.clone());
        let rows: Vec<HitRow> = self
            .run(move |conn| match conn {
                DbConnection::Sqlite(c) => {
                    // Terms are letters and digits only; quoted, each is a prefix query.
                    let m = terms
                        .iter()
                        .map(|t| format!("\"{t}\"*"))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    diesel::sql_query(sqlite_sql())
                        .bind::<Text, _>(m)
                        .bind::<Bool, _>(archived)
                        .bind::<Text, _>(scope)
                        .bind::<Text, _>(viewer)
                        .bind::<BigInt, _>(limit)
                        .bind::<BigInt, _>(candidates)
                        .load::<HitRow>(c)
                        .map_err(db::<InfraError>)
                }
                DbConnection::Pg(c) => {
                    let m = terms
                        .iter()
                        .map(|t| format!("{t}:*"))
                        .collect::<Vec<_>>()
                        .join(" & ");
                    diesel::sql_query(pg_sql())
                        .bind::<Text, _>(m)
                        .bind::<Bool, _>(archived)
                        .bind::<Text, _>(scope)
                        .bind::<Text, _>(viewer)
                        .bind::<BigInt, _>(limit)
                        .bind::<BigInt, _>(candidates)
                        .load::<HitRow>(c)
                        .map_err(db::<InfraError>)
                }
            })
            .await?;
        rows.into_iter()
            .map(|r| SearchHit::try_from(r).map_err(InfraError::Unknown))
            .collect()
    }
}

impl Store {
    /// Indexes every live plan that has no search entry yet (plans stored before the search
    /// migration): their current version's text, one transaction per plan. Returns how many.
    /// Run at start-up after the migrations (blocking); idempotent.
    pub fn index_missing_plans(&self) -> anyhow::Result<usize> {
        let mut conn = self.pool.get()?;
        let conn = &mut *conn;
        let missing: Vec<(String, String, i32)> = p::table
            .filter(p::deleted_at.is_null())
            .filter(diesel::dsl::not(diesel::dsl::exists(
                se::table.filter(se::plan_id.eq(p::id).and(se::kind.eq("plan"))),
            )))
            .select((p::id, p::title, p::current_version))
            .load(conn)?;
        let mut done = 0;
        for (id, title, number) in missing {
            let html = crate::repos::versions::html_of(conn, &id, number)?.unwrap_or_default();
            let units = planpush_document::text_units(&html);
            write_tx(conn, |conn| {
                index_plan(conn, &id, &title, &units).map_err(anyhow::Error::from)
            })?;
            done += 1;
        }
        Ok(done)
    }
}
