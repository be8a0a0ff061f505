//! Does a second server process add page throughput? `GET /p/{slug}` (a ~100 KB published plan,
//! signed-in reader) from ONE release server process, then from TWO processes on the same
//! PostgreSQL database, with `wrk` as the load generator on the same machine:
//!
//! - one process: one `wrk` (2 threads, 16 connections) against it;
//! - two processes: two `wrk`s at once (1 thread, 8 connections each), one per process — the
//!   load split evenly, as a round-robin proxy would, without a proxy's own cost in the numbers;
//! - each with gzip (what browsers ask for) and uncompressed;
//! - resident memory of each process: idle (started, page cached) and its peak under load.
//!
//! Run by `cargo xtask bench scale`, which builds the release server and passes its path in
//! `PLANPUSH_SERVER_BIN`. Needs `wrk` (Debian: `apt install wrk`), `psql` and PostgreSQL at
//! `PLANPUSH_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); it creates and
//! drops the database `planpush_scale_bench`. `SCALE_BENCH_SECONDS` sets each run's length (10).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "bench_support/mod.rs"]
mod bench_support;
use bench_support::scripts::REPORT_LUA;
use bench_support::{Server, scaled};

const DB: &str = "planpush_scale_bench";

/// One wrk run's summary.
#[derive(Clone, Copy)]
struct Run {
    requests: f64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Starts wrk against `url`; `wait()` on the handle gives its summary.
fn wrk(
    dir: &Path,
    url: &str,
    threads: u32,
    connections: u32,
    seconds: u32,
    headers: &[String],
) -> std::process::Child {
    let script = dir.join("report.lua");
    std::fs::write(&script, REPORT_LUA).unwrap();
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        &threads.to_string(),
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
        "--timeout",
        "5s",
        "-s",
    ])
    .arg(&script);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wrk is needed: apt install wrk")
}

fn summary(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("WRK "))
        .unwrap_or_else(|| panic!("wrk said: {text}{}", String::from_utf8_lossy(&out.stderr)));
    let n: Vec<f64> = line[4..]
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Run {
        requests: n[0],
        seconds: n[1] / 1e6,
        p50_ms: n[2] / 1000.0,
        p99_ms: n[3] / 1000.0,
        errors: n[4] as u64,
    }
}

/// Samples the current RSS (MB) of `pids` every 100 ms until stopped; returns each one's peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<f64>>,
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

impl RssSampler {
    fn start(pids: Vec<u32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let peaks = Mutex::new(vec![0.0f64; pids.len()]);
            while !flag.load(Ordering::Relaxed) {
                let mut p = peaks.lock().unwrap();
                for (i, pid) in pids.iter().enumerate() {
                    p[i] = p[i].max(rss_mb(*pid));
                }
                drop(p);
                std::thread::sleep(Duration::from_millis(100));
            }
            peaks.into_inner().unwrap()
        });
        Self { stop, thread }
    }
    fn finish(self) -> Vec<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn main() {
    let bin = std::env::var("PLANPUSH_SERVER_BIN")
        .expect("PLANPUSH_SERVER_BIN: the release planpush-server (cargo xtask bench scale)");
    let pg = std::env::var("PLANPUSH_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let seconds: u32 = std::env::var("SCALE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let psql = |sql: &str| {
        let status = Command::new("psql")
            .arg(&pg)
            .args(["-q", "-c", sql])
            .status()
            .expect("psql is needed to create the benchmark database");
        assert!(status.success(), "{sql}");
    };
    psql(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"));
    psql(&format!("CREATE DATABASE {DB}"));
    let mut url = url::Url::parse(&pg).unwrap();
    url.set_path(&format!("/{DB}"));
    let url = url.to_string();

    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    // The first process migrates the database; the second finds it migrated.
    let a = Server::start_with(&bin, dirs[0].path(), Some(&url));
    let b = Server::start_with(&bin, dirs[1].path(), Some(&url));
    let (cookie, token) = a.sign_in("reader");
    let doc = scaled(100_000);
    let (status, _, body) = a.call(
        "POST",
        "/api/push",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "text/html"),
            ("X-Session-Name", "scale"),
        ],
        &doc,
    );
    assert_eq!(status, 201, "push: {body}");
    // The session made on A signs in on B: one database, one SECRET_KEY.
    let mut page_bytes = 0;
    for server in [&a, &b] {
        for _ in 0..3 {
            let (status, _, page) = server.call("GET", "/p/scale", &[("Cookie", &cookie)], "");
            assert_eq!(status, 200, "GET /p/scale on port {}", server.port);
            page_bytes = page.len();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle = [rss_mb(a.child.id()), rss_mb(b.child.id())];

    let work = tempfile::tempdir().unwrap();
    let cookie_header = format!("Cookie: {cookie}");
    let mut rows = String::new();
    let mut peaks = [0.0f64; 2];
    let mut results = Vec::new();
    for (label, encoding) in [("gzip", Some("gzip")), ("uncompressed", None)] {
        let mut headers = vec![cookie_header.clone()];
        if let Some(enc) = encoding {
            headers.push(format!("Accept-Encoding: {enc}"));
        }
        // One process: all 16 connections to A.
        let sampler = RssSampler::start(vec![a.child.id(), b.child.id()]);
        let one = summary(wrk(
            work.path(),
            &a.url("/p/scale"),
            2,
            16,
            seconds,
            &headers,
        ));
        let p = sampler.finish();
        peaks[0] = peaks[0].max(p[0]);
        std::thread::sleep(Duration::from_secs(2));
        // Two processes: 8 connections to each, at the same time.
        let sampler = RssSampler::start(vec![a.child.id(), b.child.id()]);
        let runs = [&a, &b].map(|s| wrk(work.path(), &s.url("/p/scale"), 1, 8, seconds, &headers));
        let [ra, rb] = runs.map(summary);
        let p = sampler.finish();
        peaks[0] = peaks[0].max(p[0]);
        peaks[1] = peaks[1].max(p[1]);
        let two_rps = ra.requests / ra.seconds + rb.requests / rb.seconds;
        let one_rps = one.requests / one.seconds;
        rows.push_str(&format!(
            "| GET ~{} KB page, {label}, c=16 | 1 | {:.0} | {:.2} | {:.2} | {} |\n",
            page_bytes / 1000,
            one_rps,
            one.p50_ms,
            one.p99_ms,
            one.errors,
        ));
        rows.push_str(&format!(
            "| GET ~{} KB page, {label}, c=8 + 8 | 2 | {:.0} ({:.0} + {:.0}) | {:.2} / {:.2} | {:.2} / {:.2} | {} |\n",
            page_bytes / 1000,
            two_rps,
            ra.requests / ra.seconds,
            rb.requests / rb.seconds,
            ra.p50_ms,
            rb.p50_ms,
            ra.p99_ms,
            rb.p99_ms,
            ra.errors + rb.errors,
        ));
        results.push((label, one_rps, two_rps));
        std::thread::sleep(Duration::from_secs(2));
    }
    drop((a, b));
    psql(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"));

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "| Load (wrk on the same {cores} cores, {seconds} s each) | processes | requests/s | p50 ms | p99 ms | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    print!("{rows}");
    println!();
    let ratios: Vec<String> = results
        .iter()
        .map(|(label, one, two)| format!("{label} ×{:.2}", two / one))
        .collect();
    println!(
        "Two processes against one: {}. With two processes the p50/p99 columns give each process's own wrk.",
        ratios.join(", ")
    );
    println!(
        "Resident memory per process (PostgreSQL, one ~{} KB plan cached): idle {:.1} / {:.1} MB; peak under load {:.1} / {:.1} MB (process A served both phases, B only the two-process one).",
        page_bytes / 1000,
        idle[0],
        idle[1],
        peaks[0],
        peaks[1],
    );
}
