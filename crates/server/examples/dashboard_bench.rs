//! The dashboard at team scale, as people meet it: the release server binary with 2,000 plans,
//! 20,000 comment threads and 1,000,000 audit events, on SQLite and (when `PLANPUSH_TEST_PG_URL`
//! is set) PostgreSQL.
//!
//! - `GET /dashboard` as an admin (every tab, every plan): server time to the last byte;
//! - `GET /api/audit` pages over the million events: the first page, a page deep in the log (by
//!   cursor), and filtered by actor, by action, by target and by a date range;
//! - in Chromium (SQLite run only): the client-side filter and sort of the 2,000-row plans list,
//!   timed with `performance.now()` inside the page, layout included.
//!
//! Run by `cargo xtask bench dashboard`, which builds the release server first and passes its path
//! in `PLANPUSH_SERVER_BIN`. The data is written through the store's ports (the same code the
//! server runs), then the server is started on the same database.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench_support::{Server, free_port, wait_for};
use chrono::{TimeDelta, Utc};
use planpush_app::Ports;
use planpush_audit::{AuditAction, AuditEvent, Cursor};
use planpush_comments::{Comment, CommentBody};
use planpush_identity::{ExternalIdentity, Provider, User, UserId};
use planpush_plans::{Plan, Slug, Visibility};
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_versions::{AnchorId, Commit, NewVersion, SourceFormat, Version, VersionNumber};

const PLANS: usize = 2_000;
const COMMENTS: usize = 20_000;
const EVENTS: usize = 1_000_000;
const RUNS: usize = 15;

/// Median and worst of `RUNS` timed GETs (after one warm-up), checking the status.
fn time_get(server: &Server, path: &str, cookie: &str) -> (f64, f64, usize) {
    let (status, _, body) = server.call("GET", path, &[("Cookie", cookie)], "");
    assert_eq!(status, 200, "{path}: {body}");
    let mut ms = vec![];
    for _ in 0..RUNS {
        let t = Instant::now();
        let (status, _, _) = server.call("GET", path, &[("Cookie", cookie)], "");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1], body.len())
}

fn doc(n: usize) -> String {
    format!(
        "<h1>Plan {n}</h1><section data-anchor=\"overview\"><h2>Overview</h2><p>Plan number {n}.</p></section><section data-anchor=\"risks\"><h2>Risks</h2><p>None yet.</p></section>"
    )
}

/// 20 members, 2,000 plans (every 3rd published, every 10th archived), 20,000 threads, 1,000,000
/// audit events spread over 100 days. Returns the admin's id and a cursor half-way down the log.
async fn seed(ports: &Ports, admin: UserId) -> (Cursor, String) {
    let started = Instant::now();
    let mut members = vec![admin];
    for i in 0..19 {
        let u = User::new(&format!("member{i}"), Utc::now()).unwrap();
        ports
            .users
            .create(
                &u,
                &ExternalIdentity::new(Provider::Dev, &format!("member{i}")).unwrap(),
            )
            .await
            .unwrap();
        members.push(u.id);
    }
    let mut plans = vec![];
    let base = Utc::now() - TimeDelta::days(100);
    for n in 0..PLANS {
        let owner = members[n % members.len()];
        let at = base + TimeDelta::minutes(n as i64 * 60);
        let vis = if n % 3 == 0 {
            Visibility::Published
        } else {
            Visibility::Private
        };
        let title = format!(
            "Plan {n}: {} service",
            ["auth", "billing", "search", "sync"][n % 4]
        );
        let mut plan = Plan::new(
            Slug::parse(&format!("plan-{n}")).unwrap(),
            &title,
            owner,
            vis,
            at,
        )
        .unwrap();
        plan.record_version(1, &title, at).unwrap();
        let html = doc(n);
        let idx = planpush_document::section_index(&html);
        let v = Version::new(
            None,
            NewVersion {
                plan_id: plan.id(),
                title: title.to_owned(),
                format: SourceFormat::Html,
                source: html.as_str().into(),
                html: html.into(),
                sections: idx,
                pushed_by: owner,
                pushed_at: at,
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
        if n % 10 == 0 {
            plan.set_archived(true, at).unwrap();
            ports.plans.update(&plan).await.unwrap();
        }
        plans.push(plan.id());
    }
    eprintln!("dashboard bench: {PLANS} plans in {:?}", started.elapsed());
    let ports2 = ports.clone();
    let mut tasks = tokio::task::JoinSet::new();
    let per = COMMENTS / 4;
    for t in 0..4 {
        let ports = ports2.clone();
        let plans = plans.clone();
        let members = members.clone();
        tasks.spawn(async move {
            for i in t * per..(t + 1) * per {
                let c = Comment::thread(
                    plans[i % plans.len()],
                    members[i % members.len()],
                    VersionNumber::new(1).unwrap(),
                    AnchorId::parse(if i % 2 == 0 { "overview" } else { "risks" }).unwrap(),
                    None,
                    CommentBody::parse(&format!("Comment {i}: what about the failure modes here?"))
                        .unwrap(),
                    base + TimeDelta::seconds(i as i64 * 400),
                );
                ports.comments.insert(&c, &[]).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    eprintln!(
        "dashboard bench: {COMMENTS} comments after {:?}",
        started.elapsed()
    );
    let actions = [
        AuditAction::PlanPushed,
        AuditAction::CommentCreated,
        AuditAction::SignIn,
        AuditAction::PlanPublished,
        AuditAction::TokenCreated,
    ];
    let step = 100 * 86_400_000_000i64 / EVENTS as i64; // microseconds between events
    let mut middle = None;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..EVENTS {
        let at = base + TimeDelta::microseconds(step * i as i64);
        let e = AuditEvent::new(
            actions[i % actions.len()],
            Some(members[i % members.len()]),
            at,
        )
        .target("plan", plans[i % plans.len()])
        .detail("n", i);
        if i == EVENTS / 2 {
            middle = Some(e.cursor());
        }
        batch.push(e);
        if batch.len() == 10_000 {
            ports.audit_sink.record(&batch).await.unwrap();
            batch.clear();
        }
    }
    ports.audit_sink.record(&batch).await.unwrap();
    eprintln!(
        "dashboard bench: {EVENTS} audit events after {:?}",
        started.elapsed()
    );
    (middle.unwrap(), format!("plan:{}", plans[7]))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Client-side filter and sort timings in Chromium: `(median filter ms, worst filter ms, sort ms)`.
async fn browser(server: &Server, shots: &Path) -> Option<(f64, f64, f64)> {
    let have = |c: &str| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("chromium") || !have("chromedriver") {
        eprintln!("dashboard bench: no chromium/chromedriver; the client-side numbers are skipped");
        return None;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    let caps = serde_json::json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1400"]}});
    let c = fantoccini::ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", server.port);
    c.goto(&format!("{base}/auth/login?redirect_to=/dashboard"))
        .await
        .unwrap();
    c.find(fantoccini::Locator::Id("login"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    c.find(fantoccini::Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for _ in 0..100 {
        let ready = c
            .execute("return !!window.ppDashboardApplyPlans", vec![])
            .await
            .unwrap();
        if ready == serde_json::Value::Bool(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let filter = r#"const q = arguments[0]; const s = document.getElementById('plans-search');
        const t0 = performance.now(); s.value = q; s.dispatchEvent(new Event('input'));
        void document.body.offsetHeight; return performance.now() - t0;"#;
    let mut ms = vec![];
    for q in [
        "plan 1",
        "billing",
        "plan 1999",
        "zzz",
        "search service",
        "",
        "auth",
        "plan 42",
        "sync",
        "",
    ] {
        let v = c.execute(filter, vec![serde_json::json!(q)]).await.unwrap();
        ms.push(v.as_f64().unwrap());
    }
    let rows = c
        .execute(
            "return document.querySelectorAll('tr.dash-plan').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.as_u64(),
        Some(PLANS as u64),
        "every plan is in the page"
    );
    let sort = r#"const s = document.getElementById('plans-sort'); const t0 = performance.now();
        s.value = 'title'; s.dispatchEvent(new Event('change')); void document.body.offsetHeight;
        return performance.now() - t0;"#;
    let sort_ms = c.execute(sort, vec![]).await.unwrap().as_f64().unwrap();
    std::fs::create_dir_all(shots).unwrap();
    std::fs::write(
        shots.join("dashboard-2000-plans.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.close().await.unwrap();
    let _ = driver.kill();
    let _ = driver.wait();
    ms.sort_by(f64::total_cmp);
    Some((ms[ms.len() / 2], ms[ms.len() - 1], sort_ms))
}

async fn run(
    bin: &str,
    label: &str,
    target: DbTarget,
    url: Option<&str>,
    dir: &Path,
    out: &mut String,
    with_browser: bool,
) {
    let store = Store::open(target, &StoreOptions::default()).unwrap();
    store.migrate().unwrap();
    // The first to sign in becomes admin: sign in once through the server, then seed.
    let server = Server::start_with(bin, dir, url);
    let cookie = server.sign_in("admin").0;
    let ports = store.ports();
    let admin = ports.users.list().await.unwrap()[0].id;
    let (middle, target) = seed(&ports, admin).await;
    drop(server);
    // A fresh process: nothing warm but what a restart keeps.
    let server = Server::start_with(bin, dir, url);
    let cookie = {
        let _ = cookie;
        server.sign_in("admin").0
    };
    let (med, worst, bytes) = time_get(&server, "/dashboard", &cookie);
    out.push_str(&format!(
        "| {label} | `GET /dashboard` (admin: {PLANS} plans, {COMMENTS} threads, activity + audit tabs) | {med:.1} | {worst:.1} | {} KB |\n",
        bytes / 1024
    ));
    let day = (Utc::now() - TimeDelta::days(50))
        .format("%Y-%m-%d")
        .to_string();
    let pages = [
        ("first page", "/api/audit?limit=50".to_owned()),
        (
            "deep page (cursor at event 500,000)",
            format!("/api/audit?limit=50&cursor={}", enc(&middle.encode())),
        ),
        ("by actor", "/api/audit?limit=50&actor=member3".to_owned()),
        (
            "by actor, deep",
            format!(
                "/api/audit?limit=50&actor=member3&cursor={}",
                enc(&middle.encode())
            ),
        ),
        (
            "by action",
            "/api/audit?limit=50&action=plan.published".to_owned(),
        ),
        (
            "by target",
            format!("/api/audit?limit=50&target={}", enc(&target)),
        ),
        (
            "by date range (one day)",
            format!("/api/audit?limit=50&from={day}&to={day}"),
        ),
        (
            "by actor and action",
            "/api/audit?limit=50&actor=member3&action=plan.published".to_owned(),
        ),
        (
            "by actor and action, no match at all",
            "/api/audit?limit=50&actor=member3&action=auth.sign_in".to_owned(),
        ),
    ];
    for (what, path) in pages {
        let (med, worst, _) = time_get(&server, &path, &cookie);
        out.push_str(&format!(
            "| {label} | `GET /api/audit` {what}, {EVENTS} events | {med:.1} | {worst:.1} | |\n"
        ));
    }
    if with_browser {
        let shots = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| Path::new("target").to_path_buf(), Into::into)
            .join("screenshots");
        if let Some((med, worst, sort)) = browser(&server, &shots).await {
            out.push_str(&format!(
                "| Chromium | client-side filter of the {PLANS}-row plans list (10 queries, layout included) | {med:.1} | {worst:.1} | |\n"
            ));
            out.push_str(&format!(
                "| Chromium | client-side sort by title | {sort:.1} | {sort:.1} | |\n"
            ));
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = std::env::var("PLANPUSH_SERVER_BIN")
        .unwrap_or_else(|_| "target/release/planpush-server".into());
    let mut out = String::from(
        "| Backend | What | median ms | worst ms | size |\n|---|---|---:|---:|---:|\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    run(
        &bin,
        "SQLite",
        DbTarget::Sqlite(db.clone()),
        Some(&format!("sqlite://{}", db.display())),
        dir.path(),
        &mut out,
        true,
    )
    .await;
    match std::env::var("PLANPUSH_TEST_PG_URL") {
        Ok(pg) => {
            let name = "planpush_dashboard_bench";
            let status = Command::new("psql")
                .arg(&pg)
                .args([
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {name}"),
                    "-c",
                    &format!("CREATE DATABASE {name}"),
                ])
                .status()
                .expect("psql is needed to create the benchmark database");
            assert!(status.success());
            let mut url = url::Url::parse(&pg).unwrap();
            url.set_path(&format!("/{name}"));
            let pg_dir = tempfile::tempdir().unwrap();
            run(
                &bin,
                "PostgreSQL",
                DbTarget::Postgres(url.to_string()),
                Some(url.as_str()),
                pg_dir.path(),
                &mut out,
                false,
            )
            .await;
        }
        Err(_) => eprintln!("dashboard bench: PLANPUSH_TEST_PG_URL is not set; PostgreSQL skipped"),
    }
    out.push_str("\nTimes are to the last byte over loopback HTTP, one request at a time, after one warm-up request, on a freshly started server. The audit pages stay flat because every filter has an index ending in `(at DESC, id DESC)` (`audit_log_at`, `audit_log_actor`, `audit_log_action`, `audit_log_target`, and `audit_log_actor_action` for both together) and the cursor is a range on `at` the planners seek to.\n");
    print!("{out}");
}
