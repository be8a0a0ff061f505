//! Full-text search latency on SQLite (FTS5) and PostgreSQL (`tsvector`): 2,000 plans × 40
//! sections and 20,000 comments, searched through `app::Search` (the index query, the visibility
//! join, snippets) as a developer (published plans and their own) and as an admin (everything).
//! Run by `cargo xtask bench search`, which records the table in docs/benchmarks.md.
//!
//! Usage: search_bench [--pg URL] [--plans N] [--comments N] [--queries N] [--only sqlite|pg]
//! [--keep DIR]
//!
//! `--keep DIR` leaves the filled SQLite file (`DIR/search.db`) and PostgreSQL schema
//! (`pp_search_bench_keep`) in place, to study query plans with `sqlite3` or `psql`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use planpush_app::{AuthMethod, Ports, Principal, Search};
use planpush_comments::{Comment, CommentBody};
use planpush_identity::{ExternalIdentity, Provider, User, UserId};
use planpush_plans::{Plan, Slug, Visibility};
use planpush_roles::Role;
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_versions::{
    AnchorId, Commit, NewVersion, SectionIndex, SourceFormat, Version, VersionNumber,
};

struct Args {
    pg: Option<String>,
    plans: usize,
    comments: usize,
    queries: usize,
    only: Option<String>,
    keep: Option<std::path::PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        pg: std::env::var("PLANPUSH_TEST_PG_URL").ok(),
        plans: 2000,
        comments: 20_000,
        queries: 200,
        only: None,
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--pg" => a.pg = Some(v),
            "--plans" => a.plans = v.parse().expect("--plans N"),
            "--comments" => a.comments = v.parse().expect("--comments N"),
            "--queries" => a.queries = v.parse().expect("--queries N"),
            "--only" => a.only = Some(v),
            "--keep" => a.keep = Some(v.into()),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// A small deterministic generator (xorshift), so both backends index the same text.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const VOCABULARY: usize = 3000;

/// Word `i` of the vocabulary: two or three syllables, distinct for every `i`.
fn word(i: usize) -> String {
    const S: [&str; 16] = [
        "ka", "to", "ri", "mu", "sen", "lo", "pa", "ve", "dor", "ni", "qua", "xi", "bel", "fu",
        "gan", "hy",
    ];
    let mut w = String::new();
    let mut n = i + 16;
    while n > 0 {
        w.push_str(S[n % 16]);
        n /= 16;
    }
    w
}

/// A word drawn with a Zipf-like law: rank 1 is in nearly every section, rank 3,000 is rare.
fn zipf(rng: &mut Rng) -> usize {
    ((VOCABULARY as f64).powf(rng.unit()) as usize).saturating_sub(1)
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| word(zipf(rng)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A plan of 40 sections of about 100 words each (~30 KB of HTML).
fn doc(rng: &mut Rng, i: usize) -> String {
    let mut html = format!(
        "<h1>Plan {i} {}</h1><p>{}</p>",
        sentence(rng, 3),
        sentence(rng, 20)
    );
    for s in 0..40 {
        html.push_str(&format!(
            "<section data-anchor=\"s{s}\"><h2>{}</h2><p>{}</p><ul><li>{}</li><li>{}</li></ul></section>",
            sentence(rng, 3),
            sentence(rng, 70),
            sentence(rng, 12),
            sentence(rng, 12)
        ));
    }
    html
}

async fn user(ports: &Ports, login: &str) -> UserId {
    let u = User::new(login, Utc::now()).unwrap();
    ports
        .users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    u.id
}

/// 2,000 plans (one in five private, one in ten archived) by 10 owners, 20,000 comments.
async fn fill(ports: &Arc<Ports>, a: &Args) -> Vec<UserId> {
    let mut owners = vec![];
    for i in 0..10 {
        owners.push(user(ports, &format!("owner{i}")).await);
    }
    let owners = Arc::new(owners);
    let start = Instant::now();
    let mut tasks = vec![];
    let workers = 4;
    for w in 0..workers {
        let (ports, owners) = (ports.clone(), owners.clone());
        let (plans, comments) = (a.plans, a.comments);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
            for i in (w..plans).step_by(workers) {
                let owner = owners[i % owners.len()];
                let vis = if i % 5 == 0 {
                    Visibility::Private
                } else {
                    Visibility::Published
                };
                let now = Utc::now();
                let mut plan = Plan::new(
                    Slug::parse(&format!("plan-{i}")).unwrap(),
                    &format!("Plan {i}"),
                    owner,
                    vis,
                    now,
                )
                .unwrap();
                plan.record_version(1, &format!("Plan {i}"), now).unwrap();
                let html = doc(&mut rng, i);
                let v = Version::new(
                    None,
                    NewVersion {
                        plan_id: plan.id(),
                        title: plan.title().to_owned(),
                        format: SourceFormat::Html,
                        source: html.as_str().into(),
                        html: html.into(),
                        sections: SectionIndex::default(),
                        pushed_by: owner,
                        pushed_at: now,
                    },
                );
                ports
                    .versions
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
                for c in 0..comments / plans {
                    let body = CommentBody::parse(&sentence(&mut rng, 25)).unwrap();
                    let thread = Comment::thread(
                        plan.id(),
                        owners[(i + c) % owners.len()],
                        VersionNumber::FIRST,
                        AnchorId::parse(&format!("s{}", c % 40)).unwrap(),
                        None,
                        body,
                        now,
                    );
                    ports.comments.insert(&thread, &[]).await.unwrap();
                }
                if i % 10 == 3 {
                    plan.set_archived(true, now).unwrap();
                    ports.plans.update(&plan).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!(
        "indexed {} plans and {} comments in {:.1} s",
        a.plans,
        a.comments,
        start.elapsed().as_secs_f64()
    );
    owners.to_vec()
}

/// Makes one query of a class.
type QueryMaker = Box<dyn Fn(&mut Rng) -> String>;

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(name: &str, ports: Ports, a: &Args, after_fill: impl Fn()) {
    let ports = Arc::new(ports);
    let owners = fill(&ports, a).await;
    after_fill();
    let search = Search::new((*ports).clone());
    let as_role = |role: Role| Principal {
        user_id: owners[1],
        login: "owner1".into(),
        roles: vec![role],
        method: AuthMethod::Session,
    };
    let mut rng = Rng(42);
    // Query classes: the words a reader types, from very common to rare, two words, a prefix.
    let classes: Vec<(&str, QueryMaker)> = vec![
        (
            "common word (rank 1–20)",
            Box::new(|r: &mut Rng| word((r.next() % 20) as usize)),
        ),
        (
            "medium word (rank 100–300)",
            Box::new(|r: &mut Rng| word(100 + (r.next() % 200) as usize)),
        ),
        (
            "rare word (rank 1000–3000)",
            Box::new(|r: &mut Rng| word(1000 + (r.next() % 2000) as usize)),
        ),
        (
            "two words (medium + medium)",
            Box::new(|r: &mut Rng| {
                format!(
                    "{} {}",
                    word(100 + (r.next() % 200) as usize),
                    word(100 + (r.next() % 200) as usize)
                )
            }),
        ),
        (
            "prefix (first 3 letters)",
            Box::new(|r: &mut Rng| {
                word(100 + (r.next() % 200) as usize)
                    .chars()
                    .take(3)
                    .collect()
            }),
        ),
    ];
    let mut all = vec![];
    for (label, make) in &classes {
        for role in [Role::Developer, Role::Admin] {
            let p = as_role(role);
            let mut lat = vec![];
            let mut hits = 0;
            for _ in 0..a.queries {
                let q = make(&mut rng);
                let s = Instant::now();
                let found = search.search(&p, &q, false, 20).await.unwrap();
                lat.push(s.elapsed());
                hits += found.len();
            }
            all.extend(lat.iter().copied());
            println!(
                "| {name} | {label} | {} | {:.1} | {:.2} ms | {:.2} ms |",
                if role == Role::Admin {
                    "admin (all plans)"
                } else {
                    "developer (published + own)"
                },
                hits as f64 / a.queries as f64,
                ms(pct(lat.clone(), 0.5)),
                ms(pct(lat, 0.99)),
            );
        }
    }
    println!(
        "| {name} | **all queries** | both | | {:.2} ms | **{:.2} ms** |",
        ms(pct(all.clone(), 0.5)),
        ms(pct(all, 0.99))
    );
}

fn admin(url: &str, sql: &str) {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    diesel::pg::PgConnection::establish(url)
        .unwrap()
        .batch_execute(sql)
        .unwrap();
}

#[tokio::main]
async fn main() {
    let a = args();
    let options = StoreOptions {
        max_connections: 6,
        ..StoreOptions::default()
    };
    println!(
        "{} plans × 40 sections ({} entries) and {} comments; {} queries per row, 20 results each, snippets included.\n",
        a.plans,
        a.plans * 41,
        a.comments,
        a.queries
    );
    println!("| backend | query | as | results | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let wants = |backend: &str| a.only.as_deref().is_none_or(|o| o == backend);
    if wants("sqlite") {
        let db = a.keep.as_deref().unwrap_or(dir.path()).join("search.db");
        let _ = std::fs::remove_file(&db);
        let store = Store::open(DbTarget::Sqlite(db), &options).unwrap();
        store.migrate().unwrap();
        run("SQLite FTS5", store.ports(), &a, || {}).await;
        drop(store);
    }
    match &a.pg {
        Some(url) if wants("pg") => {
            let schema = if a.keep.is_some() {
                "pp_search_bench_keep".to_owned()
            } else {
                format!("pp_search_bench_{}", std::process::id())
            };
            admin(
                url,
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
            );
            let sep = if url.contains('?') { '&' } else { '?' };
            let store = Store::open(
                DbTarget::Postgres(format!("{url}{sep}options=-csearch_path%3D{schema}")),
                &options,
            )
            .unwrap();
            store.migrate().unwrap();
            // Planner statistics after the bulk load, as autovacuum would have them on a live server.
            let analyze = || {
                admin(
                    url,
                    &format!("ANALYZE {schema}.search_entries; ANALYZE {schema}.plans"),
                )
            };
            run("PostgreSQL tsvector", store.ports(), &a, analyze).await;
            drop(store);
            if a.keep.is_none() {
                admin(url, &format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
        Some(_) => {}
        None => eprintln!("PostgreSQL skipped: pass --pg URL or set PLANPUSH_TEST_PG_URL"),
    }
}
