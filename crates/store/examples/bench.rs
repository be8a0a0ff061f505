//! Repository throughput on SQLite and PostgreSQL: version inserts (a push's write) and plan reads
//! (a page view's reads), through the pool, at a fixed concurrency. Run by `cargo xtask bench`,
//! which records the table in docs/benchmarks.md.
//!
//! Usage: bench [--pg URL] [--pushes N] [--reads N] [--concurrency C]

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use planpush_app::Ports;
use planpush_identity::{ExternalIdentity, Provider, User, UserId};
use planpush_plans::{Plan, PlanId, Slug, Visibility};
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_versions::{
    AnchorId, Commit, ContentHash, NewVersion, SectionEntry, SectionIndex, SourceFormat, Version,
    VersionRepoError,
};

struct Args {
    pg: Option<String>,
    pushes: usize,
    reads: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        pg: std::env::var("PLANPUSH_TEST_PG_URL").ok(),
        pushes: 2000,
        reads: 20000,
        concurrency: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--pg" => a.pg = Some(v),
            "--pushes" => a.pushes = v.parse().expect("--pushes N"),
            "--reads" => a.reads = v.parse().expect("--reads N"),
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency C"),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// A ~50 KB document with 40 sections, like the Auth Service Redesign fixture.
fn doc(i: usize) -> (String, SectionIndex) {
    let mut html = String::new();
    let mut entries = vec![];
    for s in 0..40 {
        html.push_str(&format!(
            "<section data-anchor=\"s{s}\"><h2>Section {s}</h2><p>{}</p></section>",
            "lorem ipsum dolor sit amet ".repeat(45)
        ));
        let mut h = [0u8; 32];
        h[0] = s as u8;
        h[1] = (i % 7 == s % 7) as u8;
        entries.push(SectionEntry {
            anchor: AnchorId::parse(&format!("s{s}")).unwrap(),
            title: format!("Section {s}"),
            hash: ContentHash::from_bytes(h),
        });
    }
    (html, SectionIndex::new(entries).unwrap())
}

async fn setup(ports: &Ports, plans: usize) -> (UserId, Vec<(PlanId, Slug)>) {
    let user = User::new("bench", Utc::now()).unwrap();
    ports
        .users
        .create(
            &user,
            &ExternalIdentity::new(Provider::Dev, "bench").unwrap(),
        )
        .await
        .unwrap();
    let mut out = vec![];
    for n in 0..plans {
        let now = Utc::now();
        let slug = Slug::parse(&format!("bench-{n}")).unwrap();
        let mut plan =
            Plan::new(slug.clone(), "Bench", user.id, Visibility::Published, now).unwrap();
        plan.record_version(1, "Bench", now).unwrap();
        let (html, idx) = doc(0);
        let v = Version::new(
            None,
            NewVersion {
                plan_id: plan.id(),
                title: "Bench".to_owned(),
                format: SourceFormat::Html,
                source: html.as_str().into(),
                html: html.into(),
                sections: idx,
                pushed_by: user.id,
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
        out.push((plan.id(), slug));
    }
    (user.id, out)
}

async fn push(ports: &Ports, plan: PlanId, by: UserId, i: usize) {
    loop {
        let current = ports.plans.get(plan).await.unwrap();
        let latest = ports.versions.latest(plan).await.unwrap().unwrap();
        let (html, idx) = doc(i);
        let now = Utc::now();
        let v = Version::new(
            Some(&latest.head()),
            NewVersion {
                plan_id: plan,
                title: "Bench".to_owned(),
                format: SourceFormat::Html,
                source: html.as_str().into(),
                html: html.into(),
                sections: idx,
                pushed_by: by,
                pushed_at: now,
            },
        );
        let mut next = current.clone();
        next.record_version(v.meta.number.get(), "Bench", now)
            .unwrap();
        match ports
            .versions
            .commit(
                Commit::NextVersion {
                    plan: &next,
                    version: &v,
                    text: &planpush_document::text_units(&v.html),
                },
                &[],
            )
            .await
        {
            Ok(()) => return,
            Err(VersionRepoError::Conflict) => continue,
            Err(e) => panic!("{e:#}"),
        }
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

async fn run(name: &str, ports: Ports, a: &Args) {
    let ports = Arc::new(ports);
    let plans = a.concurrency * 4;
    let (user, plans) = setup(&ports, plans).await;
    let plans = Arc::new(plans);

    // Writes: each task pushes to its own plans, so the numbers measure the database, not retries.
    let start = Instant::now();
    let per_task = a.pushes / a.concurrency;
    let mut tasks = vec![];
    for t in 0..a.concurrency {
        let (ports, plans) = (ports.clone(), plans.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            for i in 0..per_task {
                let (plan, _) = plans[t * 4 + i % 4];
                let s = Instant::now();
                push(&ports, plan, user, i).await;
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let writes = lat.len() as f64 / secs;
    let (w50, w99) = (pct(lat.clone(), 0.5), pct(lat, 0.99));

    // Reads: what a page view needs: plan by slug, then its latest version.
    let start = Instant::now();
    let per_task = a.reads / a.concurrency;
    let mut tasks = vec![];
    for t in 0..a.concurrency {
        let (ports, plans) = (ports.clone(), plans.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            for i in 0..per_task {
                let (_, slug) = &plans[(t * 31 + i * 7) % plans.len()];
                let s = Instant::now();
                let plan = ports.plans.find_by_slug(slug).await.unwrap().unwrap();
                let v = ports.versions.latest(plan.id()).await.unwrap().unwrap();
                assert!(!v.html.is_empty());
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut rlat = vec![];
    for t in tasks {
        rlat.extend(t.await.unwrap());
    }
    let rsecs = start.elapsed().as_secs_f64();
    let reads = rlat.len() as f64 / rsecs;
    let (r50, r99) = (pct(rlat.clone(), 0.5), pct(rlat, 0.99));
    println!(
        "| {name} | {:.0} pushes/s | {:.2} ms | {:.2} ms | {:.0} page reads/s | {:.2} ms | {:.2} ms |",
        writes,
        w50.as_secs_f64() * 1e3,
        w99.as_secs_f64() * 1e3,
        reads,
        r50.as_secs_f64() * 1e3,
        r99.as_secs_f64() * 1e3
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
        max_connections: a.concurrency as u32 + 2,
        ..StoreOptions::default()
    };
    println!(
        "| backend | version inserts | p50 | p99 | reads (plan + latest version) | p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(DbTarget::Sqlite(dir.path().join("bench.db")), &options).unwrap();
    store.migrate().unwrap();
    run("SQLite (WAL, synchronous=NORMAL)", store.ports(), &a).await;
    match &a.pg {
        Some(url) => {
            let schema = format!("pp_bench_{}", std::process::id());
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
            run("PostgreSQL 15 (local, TCP)", store.ports(), &a).await;
            drop(store);
            admin(url, &format!("DROP SCHEMA {schema} CASCADE"));
        }
        None => eprintln!("PostgreSQL skipped: pass --pg URL or set PLANPUSH_TEST_PG_URL"),
    }
}
