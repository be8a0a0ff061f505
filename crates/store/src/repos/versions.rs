use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_app::OutboxMessage;
use planpush_audit::AuditEvent;
use planpush_identity::UserId;
use planpush_plans::{PlanId, PlanRepoError};
use planpush_versions::{
    Commit, SectionIndex, SourceFormat, Staged, Text, Version, VersionHead, VersionMeta,
    VersionNumber, VersionRepoError, VersionRepository,
};

use crate::dialect::write_tx;
use crate::repos::audit::{audit_rows, insert_audit};
use crate::repos::chunks::{self, Chunked};
use crate::repos::inbox::{inbox_rows, insert_inbox};
use crate::repos::infra::{insert_outbox, outbox_rows};
use crate::repos::plans::insert_plan;
use crate::repos::search::index_plan;
use crate::rows::{corrupt, count, db, outc, ts, utc, uuid};
use crate::schema::{plans as p, versions as v};
use crate::{DbConnection, Store};

/// A version as it is written: its texts as lists of chunks (see [`chunks`]); `html`, `source`
/// and `sections` are left empty (they hold the texts of versions written before chunks).
#[derive(Insertable)]
#[diesel(table_name = v)]
struct NewRow {
    plan_id: String,
    number: i32,
    title: String,
    format: String,
    html_chunks: String,
    source_chunks: String,
    sections_chunks: String,
    changes: String,
    pushed_by: String,
    pushed_at: NaiveDateTime,
}

/// A version to write, with the chunks its lists name.
struct Written {
    row: NewRow,
    texts: std::sync::Arc<Texts>,
}

/// A version's three texts cut into chunks (the section index as JSON): what
/// [`VersionRepository::stage`] prepares before a push's turn, or the commit itself.
struct Texts {
    html: Chunked,
    source: Chunked,
    sections: Chunked,
    /// The index `sections` was written from, to tell whether these texts are a version's.
    index: SectionIndex,
}

impl Texts {
    fn of(html: &Text, source: &Text, index: &SectionIndex) -> Result<Self, VersionRepoError> {
        let sections =
            serde_json::to_string(index).map_err(|e| VersionRepoError::Unknown(e.into()))?;
        Ok(Self {
            html: Chunked::of(html.clone()),
            source: Chunked::of(source.clone()),
            sections: Chunked::of(sections.into()),
            index: index.clone(),
        })
    }

    /// Whether these are `x`'s texts.
    fn are_of(&self, x: &Version) -> bool {
        self.index == x.sections && self.html.is(&x.html) && self.source.is(&x.source)
    }
}

impl Written {
    /// Inserts the row and the chunks it names that the plan does not hold yet; `previous`, the
    /// plan's version this one follows, if any.
    fn insert(
        &self,
        conn: &mut DbConnection,
        previous: Option<i32>,
    ) -> Result<(), VersionRepoError> {
        chunks::put(
            conn,
            &self.row.plan_id,
            previous,
            &[&self.texts.html, &self.texts.source, &self.texts.sections],
        )
        .map_err(db::<VersionRepoError>)?;
        diesel::insert_into(v::table)
            .values(&self.row)
            .execute(conn)
            .map_err(db::<VersionRepoError>)?;
        Ok(())
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct MetaRow {
    plan_id: String,
    number: i32,
    title: String,
    format: String,
    changes: String,
    pushed_by: String,
    pushed_at: NaiveDateTime,
    purged_at: Option<NaiveDateTime>,
}

/// A stored text: whole (written before chunks), or the list of its chunks; neither once purged.
#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct HtmlCols {
    html: Option<String>,
    html_chunks: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct SourceCols {
    source: Option<String>,
    source_chunks: Option<String>,
}

/// The section index (JSON): a long document's is ~40 KB, most of it the same from one version
/// to the next.
#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct SectionsCols {
    sections: Option<String>,
    sections_chunks: Option<String>,
}

/// Where a stored text is: whole, or behind a list of chunks.
enum Stored {
    Whole(String),
    Listed(String),
}

impl Stored {
    fn of(whole: Option<String>, list: Option<String>) -> anyhow::Result<Self> {
        match (whole, list) {
            (Some(text), _) => Ok(Stored::Whole(text)),
            (None, Some(list)) => Ok(Stored::Listed(list)),
            (None, None) => Err(corrupt("version", "content missing")),
        }
    }
}

/// The texts of `stored`, whole: the listed ones read from the plan's chunks in one query.
fn texts<const N: usize>(
    conn: &mut DbConnection,
    plan: &str,
    stored: [Stored; N],
) -> anyhow::Result<[String; N]> {
    let lists: Vec<&str> = stored
        .iter()
        .filter_map(|s| match s {
            Stored::Listed(list) => Some(list.as_str()),
            Stored::Whole(_) => None,
        })
        .collect();
    let mut read = if lists.is_empty() {
        vec![]
    } else {
        chunks::assemble(conn, plan, &lists)?
    }
    .into_iter();
    Ok(stored.map(|s| match s {
        Stored::Whole(text) => text,
        Stored::Listed(_) => read.next().unwrap_or_default(),
    }))
}

/// [`VersionHead`]'s columns: everything but the HTML.
#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct HeadRow {
    #[diesel(embed)]
    meta: MetaRow,
    #[diesel(embed)]
    source: SourceCols,
    #[diesel(embed)]
    sections: SectionsCols,
}

impl HeadRow {
    fn read(self, conn: &mut DbConnection) -> anyhow::Result<VersionHead> {
        let stored = [
            Stored::of(self.source.source, self.source.source_chunks)?,
            Stored::of(self.sections.sections, self.sections.sections_chunks)?,
        ];
        let [source, sections] = texts(conn, &self.meta.plan_id, stored)?;
        Ok(VersionHead {
            meta: VersionMeta::try_from(self.meta)?,
            source,
            sections: serde_json::from_str(&sections).map_err(|e| corrupt("section index", e))?,
        })
    }
}

/// A whole version's columns.
#[derive(Queryable, Selectable)]
#[diesel(table_name = v)]
struct VersionRow {
    #[diesel(embed)]
    meta: MetaRow,
    #[diesel(embed)]
    html: HtmlCols,
    #[diesel(embed)]
    source: SourceCols,
    #[diesel(embed)]
    sections: SectionsCols,
}

impl VersionRow {
    fn read(self, conn: &mut DbConnection) -> anyhow::Result<Version> {
        let stored = [
            Stored::of(self.html.html, self.html.html_chunks)?,
            Stored::of(self.source.source, self.source.source_chunks)?,
            Stored::of(self.sections.sections, self.sections.sections_chunks)?,
        ];
        let [html, source, sections] = texts(conn, &self.meta.plan_id, stored)?;
        Ok(Version {
            meta: VersionMeta::try_from(self.meta)?,
            source: source.into(),
            html: html.into(),
            sections: serde_json::from_str(&sections).map_err(|e| corrupt("section index", e))?,
        })
    }
}

/// The HTML of version `number` of `plan`; `None` when there is no such version or it was purged.
pub(crate) fn html_of(
    conn: &mut DbConnection,
    plan: &str,
    number: i32,
) -> anyhow::Result<Option<String>> {
    let cols: Option<HtmlCols> = v::table
        .filter(v::plan_id.eq(plan).and(v::number.eq(number)))
        .select(HtmlCols::as_select())
        .first(conn)
        .optional()?;
    let Some(HtmlCols { html, html_chunks }) = cols else {
        return Ok(None);
    };
    if html.is_none() && html_chunks.is_none() {
        return Ok(None);
    }
    let [html] = texts(conn, plan, [Stored::of(html, html_chunks)?])?;
    Ok(Some(html))
}

/// `x` as it is written: its texts from `staged` when they were staged for it, else cut here.
fn written(x: &Version, staged: &Staged) -> Result<Written, VersionRepoError> {
    let json = |e: serde_json::Error| VersionRepoError::Unknown(e.into());
    let texts = match staged.get::<Texts>().filter(|t| t.are_of(x)) {
        Some(texts) => texts,
        None => std::sync::Arc::new(Texts::of(&x.html, &x.source, &x.sections)?),
    };
    Ok(Written {
        row: NewRow {
            plan_id: x.meta.plan_id.to_string(),
            number: number_col(x.meta.number),
            title: x.meta.title.clone(),
            format: x.meta.format.as_str().to_owned(),
            html_chunks: texts.html.list.clone(),
            source_chunks: texts.source.list.clone(),
            sections_chunks: texts.sections.list.clone(),
            changes: serde_json::to_string(&x.meta.changes).map_err(json)?,
            pushed_by: x.meta.pushed_by.to_string(),
            pushed_at: ts(x.meta.pushed_at),
        },
        texts,
    })
}

fn number_col(n: VersionNumber) -> i32 {
    i32::try_from(n.get()).unwrap_or(i32::MAX)
}

impl TryFrom<MetaRow> for VersionMeta {
    type Error = anyhow::Error;
    fn try_from(r: MetaRow) -> anyhow::Result<Self> {
        Ok(VersionMeta {
            plan_id: PlanId::from_uuid(uuid(&r.plan_id)?),
            number: u32::try_from(r.number)
                .ok()
                .and_then(|n| VersionNumber::new(n).ok())
                .ok_or_else(|| corrupt("version number", r.number))?,
            title: r.title,
            format: SourceFormat::parse(&r.format).map_err(|e| corrupt("format", e))?,
            changes: serde_json::from_str(&r.changes).map_err(|e| corrupt("change set", e))?,
            pushed_by: UserId::from_uuid(uuid(&r.pushed_by)?),
            pushed_at: utc(r.pushed_at),
            purged_at: outc(r.purged_at),
        })
    }
}

fn plan_err(e: PlanRepoError) -> VersionRepoError {
    match e {
        PlanRepoError::NotFound => VersionRepoError::PlanNotFound,
        PlanRepoError::SlugTaken(s) => VersionRepoError::SlugTaken(s),
        PlanRepoError::Unknown(e) => VersionRepoError::Unknown(e),
    }
}

fn load_one(
    conn: &mut DbConnection,
    q: v::BoxedQuery<'static, crate::connection::Db>,
) -> Result<Option<Version>, VersionRepoError> {
    let row: Option<VersionRow> = q
        .filter(v::purged_at.is_null())
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
        .map_err(db::<VersionRepoError>)?;
    row.map(|r| r.read(conn))
        .transpose()
        .map_err(VersionRepoError::Unknown)
}

#[async_trait]
impl VersionRepository for Store {
    fn stage(&self, html: &Text, source: &Text, sections: &SectionIndex) -> Staged {
        // A failure (the index not serializable) is met again, and answered, by the commit.
        Texts::of(html, source, sections).map_or_else(|_| Staged::default(), Staged::new)
    }

    async fn commit_staged<'a>(
        &self,
        commit: Commit<'a>,
        staged: &Staged,
        outbox: &[OutboxMessage],
        inbox: &[planpush_inbox::InboxEntry],
        audit: &[AuditEvent],
    ) -> Result<(), VersionRepoError> {
        let outbox = outbox_rows(outbox);
        let inbox = inbox_rows(inbox);
        let audit = audit_rows(audit);
        match commit {
            Commit::NewPlan {
                plan,
                version,
                text,
            } => {
                let (plan, row, text) = (plan.clone(), written(version, staged)?, text.to_vec());
                self.run(move |conn| {
                    write_tx(conn, |conn| {
                        insert_plan(conn, &plan).map_err(plan_err)?;
                        row.insert(conn, None)?;
                        index_plan(conn, &row.row.plan_id, plan.title(), &text)
                            .map_err(db::<VersionRepoError>)?;
                        insert_inbox(conn, &inbox).map_err(db::<VersionRepoError>)?;
                        insert_outbox(conn, &outbox).map_err(db::<VersionRepoError>)?;
                        insert_audit(conn, &audit).map_err(db::<VersionRepoError>)?;
                        Ok(())
                    })
                })
                .await
            }
            Commit::NextVersion {
                plan,
                version,
                text,
            } => {
                let (row, text) = (written(version, staged)?, text.to_vec());
                let expected = version.meta.number.previous().map_or(0, number_col);
                let (id, title, updated) = (
                    plan.id().to_string(),
                    plan.title().to_owned(),
                    ts(plan.updated_at()),
                );
                self.run(move |conn| {
                    write_tx(conn, |conn| {
                        // Compare-and-set on the version counter of the live plan: the first
                        // write takes the lock.
                        let n =
                            diesel::update(p::table.find(&id).filter(
                                p::current_version.eq(expected).and(p::deleted_at.is_null()),
                            ))
                            .set((
                                p::current_version.eq(row.row.number),
                                p::title.eq(&title),
                                p::updated_at.eq(updated),
                            ))
                            .execute(conn)
                            .map_err(db::<VersionRepoError>)?;
                        if n == 0 {
                            let exists: i64 = p::table
                                .filter(p::id.eq(&id).and(p::deleted_at.is_null()))
                                .count()
                                .get_result(conn)
                                .map_err(db::<VersionRepoError>)?;
                            return Err(if exists == 0 {
                                VersionRepoError::PlanNotFound
                            } else {
                                VersionRepoError::Conflict
                            });
                        }
                        // After the compare-and-set: its lock keeps the plan's chunks (see
                        // `chunks::collect`).
                        row.insert(conn, (expected > 0).then_some(expected))?;
                        index_plan(conn, &id, &title, &text).map_err(db::<VersionRepoError>)?;
                        insert_inbox(conn, &inbox).map_err(db::<VersionRepoError>)?;
                        insert_outbox(conn, &outbox).map_err(db::<VersionRepoError>)?;
                        insert_audit(conn, &audit).map_err(db::<VersionRepoError>)?;
                        Ok(())
                    })
                })
                .await
            }
        }
    }

    async fn get(
        &self,
        plan_id: PlanId,
        number: VersionNumber,
    ) -> Result<Version, VersionRepoError> {
        self.run(move |conn| {
            load_one(
                conn,
                v::table
                    .find((plan_id.to_string(), number_col(number)))
                    .into_boxed(),
            )?
            .ok_or(VersionRepoError::NotFound)
        })
        .await
    }

    async fn latest(&self, plan_id: PlanId) -> Result<Option<Version>, VersionRepoError> {
        self.run(move |conn| {
            load_one(
                conn,
                v::table
                    .filter(v::plan_id.eq(plan_id.to_string()))
                    .order(v::number.desc())
                    .into_boxed(),
            )
        })
        .await
    }

    async fn head(&self, plan_id: PlanId) -> Result<Option<VersionHead>, VersionRepoError> {
        self.run(move |conn| {
            let row: Option<HeadRow> = v::table
                .filter(v::plan_id.eq(plan_id.to_string()))
                .filter(v::purged_at.is_null())
                .order(v::number.desc())
                .select(HeadRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<VersionRepoError>)?;
            row.map(|r| r.read(conn))
                .transpose()
                .map_err(VersionRepoError::Unknown)
        })
        .await
    }

    async fn history_between(
        &self,
        plan_id: PlanId,
        first: VersionNumber,
        last: VersionNumber,
    ) -> Result<Vec<VersionMeta>, VersionRepoError> {
        let (first, last) = (number_col(first), number_col(last));
        self.run(move |conn| {
            let rows: Vec<MetaRow> = v::table
                .filter(
                    v::plan_id
                        .eq(plan_id.to_string())
                        .and(v::number.between(first, last)),
                )
                .order(v::number.asc())
                .select(MetaRow::as_select())
                .load(conn)
                .map_err(db::<VersionRepoError>)?;
            rows.into_iter()
                .map(VersionMeta::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(VersionRepoError::Unknown)
        })
        .await
    }

    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, VersionRepoError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                // Candidates, excluding each plan's current version.
                let candidates: Vec<(String, i32)> = v::table
                    .inner_join(p::table)
                    .filter(
                        v::pushed_at
                            .lt(ts(cutoff))
                            .and(v::purged_at.is_null())
                            .and(v::number.ne(p::current_version)),
                    )
                    .select((v::plan_id, v::number))
                    .load(conn)
                    .map_err(db::<VersionRepoError>)?;
                for (plan, number) in &candidates {
                    diesel::update(v::table.find((plan, number)))
                        .set((
                            v::source.eq(None::<String>),
                            v::html.eq(None::<String>),
                            v::sections.eq(None::<String>),
                            v::html_chunks.eq(None::<String>),
                            v::source_chunks.eq(None::<String>),
                            v::sections_chunks.eq(None::<String>),
                            v::purged_at.eq(ts(now)),
                        ))
                        .execute(conn)
                        .map_err(db::<VersionRepoError>)?;
                }
                // Then the chunks that only purged versions listed.
                let plans: std::collections::BTreeSet<&String> =
                    candidates.iter().map(|(plan, _)| plan).collect();
                for plan in plans {
                    chunks::collect(conn, plan).map_err(db::<VersionRepoError>)?;
                }
                Ok(count(candidates.len()))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planpush_identity::UserId;
    use planpush_versions::NewVersion;

    fn version(html: &str) -> Version {
        Version::new(
            None,
            NewVersion {
                plan_id: PlanId::new(),
                title: "T".into(),
                format: SourceFormat::Html,
                source: format!("<!-- sent -->{html}").into(),
                html: html.into(),
                sections: SectionIndex::default(),
                pushed_by: UserId::new(),
                pushed_at: Utc::now(),
            },
        )
    }

    /// The statements a push's commit runs are kept prepared: the commit of a version that
    /// changes one section, after two such commits, prepares nothing that is not kept in the
    /// connection's statement cache (diesel would prepare an insert of a slice of rows or an `IN`
    /// list again at every execution; see `dialect::Cached`), but the plan's compare-and-set: an
    /// `UPDATE`, which diesel never keeps, and which `Cached` cannot keep under `execute`.
    #[tokio::test]
    async fn a_one_section_commit_runs_only_kept_statements() {
        use diesel::connection::InstrumentationEvent;
        use planpush_app::contract::{new_plan_of, t, user};
        use planpush_audit::{AuditAction, AuditEvent};
        use planpush_plans::Visibility;
        use planpush_versions::Commit;
        use std::sync::{Arc, Mutex};

        let dir = tempfile::tempdir().unwrap();
        let options = crate::StoreOptions {
            max_connections: 1,
            ..Default::default()
        };
        let store =
            crate::Store::open(crate::DbTarget::Sqlite(dir.path().join("t.db")), &options).unwrap();
        store.migrate().unwrap();
        // (kept, SQL): a statement put in the cache, or one run.
        let log: Arc<Mutex<Vec<(bool, String)>>> = Arc::default();
        let sink = log.clone();
        store
            .run(move |c| {
                c.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
                    InstrumentationEvent::CacheQuery { sql, .. } => {
                        sink.lock().unwrap().push((true, sql.to_owned()));
                    }
                    InstrumentationEvent::StartQuery { query, .. } => {
                        let text = query.to_string();
                        let sql = text.split(" -- binds: ").next().unwrap_or_default();
                        sink.lock().unwrap().push((false, sql.to_owned()));
                    }
                    _ => {}
                });
                Ok::<_, anyhow::Error>(())
            })
            .await
            .unwrap();
        let ports = store.ports();
        let ada = user(&ports, "ada").await;
        let doc = |n: u32| -> String {
            (0..12)
                .map(|i| {
                    let words = if i == 11 {
                        format!("edit {n}")
                    } else {
                        format!("text {i}")
                    };
                    format!("<section data-anchor=\"s{i}\"><h2>S{i}</h2><p>{words}</p></section>")
                })
                .collect()
        };
        let (mut plan, mut previous) = new_plan_of(
            &ports,
            &ada,
            "kept",
            Visibility::Published,
            0,
            &doc(1),
            SectionIndex::default(),
        )
        .await;
        for n in 2..=4 {
            let html = doc(n);
            let version = Version::new(
                Some(&previous.head()),
                NewVersion {
                    plan_id: plan.id(),
                    title: plan.title().to_owned(),
                    format: SourceFormat::Html,
                    source: html.as_str().into(),
                    html: html.as_str().into(),
                    sections: SectionIndex::default(),
                    pushed_by: ada.id,
                    pushed_at: t(i64::from(n)),
                },
            );
            let title = plan.title().to_owned();
            plan.record_version(n, &title, t(i64::from(n))).unwrap();
            let audit = AuditEvent::new(AuditAction::PlanPushed, Some(ada.id), t(i64::from(n)))
                .target("plan", plan.id());
            if n == 4 {
                log.lock().unwrap().retain(|(kept, _)| *kept);
            }
            ports
                .versions
                .commit_staged(
                    Commit::NextVersion {
                        plan: &plan,
                        version: &version,
                        text: &planpush_document::text_units(&html),
                    },
                    &Staged::default(),
                    &[],
                    &[],
                    &[audit],
                )
                .await
                .unwrap();
            previous = version;
        }
        let log = log.lock().unwrap();
        let kept: std::collections::HashSet<&str> = log
            .iter()
            .filter(|(k, _)| *k)
            .map(|(_, s)| s.as_str())
            .collect();
        let run: Vec<&str> = log
            .iter()
            .filter(|(k, sql)| {
                !k && !["BEGIN", "COMMIT", "UPDATE `plans`"]
                    .iter()
                    .any(|prefix| sql.starts_with(prefix))
            })
            .map(|(_, s)| s.as_str())
            .collect();
        // The statements diesel alone would not keep: the chunks' `IN` list, the stale entry's
        // delete, the changed entry's and the audit record's one-row inserts.
        for form in [
            "SELECT `version_chunks`.`hash` FROM `version_chunks` WHERE",
            "DELETE FROM `search_entries`",
            "INSERT INTO `search_entries`",
            "INSERT INTO `audit_log`",
        ] {
            assert!(
                run.iter().any(|sql| sql.starts_with(form)),
                "the commit ran {form}…: {run:#?}"
            );
        }
        let prepared: Vec<&&str> = run.iter().filter(|sql| !kept.contains(**sql)).collect();
        assert!(prepared.is_empty(), "prepared again: {prepared:#?}");
    }

    #[test]
    fn staged_texts_are_used_only_for_the_version_they_were_staged_for() {
        let store_stage =
            |v: &Version| Staged::new(Texts::of(&v.html, &v.source, &v.sections).unwrap());
        let (a, b) = (version("<p>a</p>"), version("<p>b</p>"));
        let staged = store_stage(&a);
        let texts = staged.get::<Texts>().unwrap();
        assert!(
            texts.html.shares(&a.html) && texts.source.shares(&a.source),
            "the staged texts are the version's, not copies"
        );
        let w = written(&a, &staged).unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&w.texts, &texts),
            "staged texts re-used"
        );
        // The same texts in other allocations are still recognised.
        let mut copy = a.clone();
        (copy.html, copy.source) = (a.html.as_ref().into(), a.source.as_ref().into());
        let w = written(&copy, &staged).unwrap();
        assert!(std::sync::Arc::ptr_eq(&w.texts, &texts), "equal texts");
        let w = written(&b, &staged).unwrap();
        assert!(
            !std::sync::Arc::ptr_eq(&w.texts, &texts),
            "stale: cut again"
        );
        assert!(w.texts.html.is(&b.html) && w.texts.source.is(&b.source));
        let w = written(&b, &Staged::default()).unwrap();
        assert_eq!(
            w.row.html_chunks,
            written(&b, &store_stage(&b)).unwrap().row.html_chunks
        );
    }
}
