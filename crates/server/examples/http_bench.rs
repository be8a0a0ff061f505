//! The server under HTTP load, as people meet it: the release binary on SQLite with `wrk` as the
//! load generator on the same machine.
//!
//! - pushes of a ~50 KB HTML document (the fixture scaled up): latency at concurrency 1 and
//!   throughput at concurrency 8, every push a new version;
//! - `GET /p/{slug}` of a ~100 KB page by a signed-in reader at concurrency 16: uncompressed,
//!   gzip and brotli; with 10 plans in the database and again with 10,000;
//! - the server's resident memory (peak) over the whole run.
//!
//! Run by `cargo xtask bench`, which builds the release server first and passes its path in
//! `PLANPUSH_SERVER_BIN`. Needs `wrk` (Debian: `apt install wrk`).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "bench_support/mod.rs"]
mod bench_support;
use bench_support::{FIXTURE, Server, scaled};

/// A wrk run's summary.
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

const REPORT_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"#;

fn wrk(
    dir: &Path,
    url: &str,
    connections: u32,
    seconds: u32,
    headers: &[String],
    script: &str,
) -> Run {
    let path = dir.join(format!("bench-{connections}-{}.lua", script.len()));
    std::fs::write(&path, format!("{script}\n{REPORT_LUA}")).unwrap();
    let threads = connections.min(2);
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
    .arg(&path);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk is needed: apt install wrk");
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
        rps: n[0] / (n[1] / 1e6),
        p50_ms: n[2] / 1000.0,
        p99_ms: n[3] / 1000.0,
        errors: n[4] as u64,
    }
}

fn push_script(doc_path: &Path, token: &str, name: &str) -> String {
    format!(
        r#"
local f = io.open("{doc}", "rb"); local base = f:read("*a"); f:close()
local id = 0
local n = 0
setup = function(thread) id = id + 1; thread:set("tid", id) end
init = function(args) math.randomseed(os.time() + (tid or 0)) end
request = function()
  n = n + 1
  local body = base .. "<section data-anchor=\"bench-tail\"><h2>Push</h2><p>" .. (tid or 0) .. "-" .. n .. "-" .. math.random(1, 1000000000) .. "</p></section>"
  return wrk.format("POST", "/api/push", {{["Content-Type"] = "text/html", ["Authorization"] = "Bearer {token}", ["X-Session-Name"] = "{name}"}}, body)
end
"#,
        doc = doc_path.display()
    )
}

fn main() {
    let bin = std::env::var("PLANPUSH_SERVER_BIN").expect(
        "PLANPUSH_SERVER_BIN: the release planpush-server binary (cargo xtask bench sets it)",
    );
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("http_bench: wrk is not installed (Debian: apt install wrk)");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&bin, dir.path());

    // A reader and pusher: dev sign-in (the first user, so admin), then an API token.
    let (cookie, token) = server.sign_in("bench");
    let bearer = format!("Bearer {token}");

    let push_doc = scaled(50 * 1024);
    let page_doc = scaled(100 * 1024);
    let push_path = dir.path().join("push.html");
    std::fs::write(&push_path, &push_doc).unwrap();
    let push = |name: &str, doc: &str| {
        let (status, _, body) = server.call(
            "POST",
            "/api/push",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "text/html"),
                ("X-Session-Name", name),
            ],
            doc,
        );
        assert!(
            status == 200 || status == 201,
            "push {name}: {status} {body}"
        );
    };

    // Ten plans, one of them the ~100 KB page that is read.
    push("big-page", &page_doc);
    for i in 1..10 {
        push(&format!("plan-{i}"), FIXTURE);
    }
    let (status, head, page) = server.call("GET", "/p/big-page", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{head}");
    let page_kb = page.len() as f64 / 1024.0;
    let sized = |enc: &str| {
        let (_, head, _) = server.call(
            "GET",
            "/p/big-page",
            &[("Cookie", &cookie), ("Accept-Encoding", enc)],
            "",
        );
        head.lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0.0, |b| b / 1024.0)
    };
    let (gzip_kb, br_kb) = (sized("gzip"), sized("br"));

    let mut rows = Vec::new();
    let mut row = |what: String, r: &Run, target: &str| {
        eprintln!(
            "{what}: {:.0}/s p50 {:.2} ms p99 {:.2} ms",
            r.rps, r.p50_ms, r.p99_ms
        );
        rows.push(format!(
            "| {what} | {:.0} | {:.2} | {:.2} | {} | {target} |",
            r.rps, r.p50_ms, r.p99_ms, r.errors
        ));
    };

    // Pushes: every request a new version of one ~50 KB plan.
    let script = push_script(&push_path, &token, "bench-push");
    let r = wrk(dir.path(), &server.url("/"), 1, 5, &[], &script);
    row(
        format!("push ~{} KB HTML, c=1", push_doc.len() / 1024),
        &r,
        "p50 ≤ 5 ms",
    );
    let r = wrk(dir.path(), &server.url("/"), 8, 10, &[], &script);
    row(
        format!("push ~{} KB HTML, c=8", push_doc.len() / 1024),
        &r,
        "≥ 700/s",
    );

    let get = |plans: &str, rows: &mut dyn FnMut(String, &Run, &str)| {
        let url = server.url("/p/big-page");
        for (label, enc, target) in [
            ("uncompressed", None, "≥ 10,000/s, p99 ≤ 10 ms"),
            ("gzip", Some("gzip"), "≥ 20,000/s, p99 ≤ 10 ms"),
            ("brotli", Some("br"), "≥ 20,000/s, p99 ≤ 10 ms"),
        ] {
            let mut headers = vec![format!("Cookie: {cookie}")];
            if let Some(e) = enc {
                headers.push(format!("Accept-Encoding: {e}"));
            }
            let r = wrk(dir.path(), &url, 16, 10, &headers, "");
            rows(
                format!("GET ~{page_kb:.0} KB page, {label}, c=16, {plans} plans"),
                &r,
                target,
            );
        }
    };
    get("10", &mut row);

    // 9,990 more plans (small documents, eight at a time), then the same reads again.
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let push = &push;
            s.spawn(move || {
                for i in (10 + t..10_000).step_by(8) {
                    push(
                        &format!("plan-{i}"),
                        &format!("<h1>Plan {i}</h1><section data-anchor=\"a\"><h2>A</h2><p>{i}</p></section>"),
                    );
                }
            });
        }
    });
    eprintln!(
        "added 9,990 plans in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    get("10,000", &mut row);
    let (peak, now) = server.rss();

    println!(
        "| Load (wrk, 2 threads, same 2 cores) | requests/s | p50 ms | p99 ms | errors | target |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!(
        "Page sizes: {page_kb:.0} KB as HTML, {gzip_kb:.1} KB gzip, {br_kb:.1} KB brotli. Server resident memory: peak {peak:.1} MB over the whole run (target ≤ 40 MB), {now:.1} MB at the end."
    );
}
