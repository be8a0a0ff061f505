//! The `planpush` CLI as the assistant runs it: a new process every time, against the release
//! server on loopback (SQLite).
//!
//! - `planpush --version`: process start-up alone (target ≤ 20 ms);
//! - `planpush push` of a ~50 KB HTML document (the Auth Service Redesign fixture scaled up), every
//!   run a new version of the same plan, with stored credentials read from the config dir and the
//!   project memory read and rewritten (target ≤ 150 ms wall, process start included).
//!
//! Run by `cargo xtask bench cli`, which builds both release binaries and passes their paths in
//! `PLANPUSH_SERVER_BIN` and `PLANPUSH_CLI_BIN`. Prints a Markdown table on stdout.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench_support::{Server, scaled};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Runs `make()` `n` times after `warmup` unmeasured runs; wall time of each whole process.
fn measure(n: usize, warmup: usize, mut make: impl FnMut(usize) -> Command) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let mut c = make(i);
        let t = Instant::now();
        let out = c.output().unwrap();
        let elapsed = t.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if i >= warmup {
            times.push(elapsed);
        }
    }
    times.sort();
    times
}

fn main() {
    let server_bin =
        PathBuf::from(std::env::var("PLANPUSH_SERVER_BIN").expect("PLANPUSH_SERVER_BIN"));
    let cli_bin = PathBuf::from(std::env::var("PLANPUSH_CLI_BIN").expect("PLANPUSH_CLI_BIN"));
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(server_bin.to_str().unwrap(), work.path());
    let base = server.url("");
    // A signed-in developer; the CLI's credentials file holds a personal token as its access token
    // (valid far beyond the run), so no refresh happens while measuring.
    let (_, token) = server.sign_in("bench");
    let config = work.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("credentials.json"),
        serde_json::json!({"default_server": base, "servers": {base.clone(): {
            "login": "bench", "access_token": token, "access_expires_at": u64::MAX / 2,
            "refresh_token": "unused"}}})
        .to_string(),
    )
    .unwrap();
    let project = work.path().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    let doc = scaled(50_000);
    let file = project.join("plan.html");
    let cli = |args: &[&str], dir: &Path| {
        let mut c = Command::new(&cli_bin);
        c.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PLANPUSH_CONFIG_DIR", &config)
            .env("PLANPUSH_NO_BROWSER", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };

    let version = measure(200, 20, |_| cli(&["--version"], &project));
    // Every push a new version: one paragraph differs each time.
    let push = measure(50, 5, |i| {
        std::fs::write(&file, doc.replace("</h1>", &format!("</h1><p>run {i}</p>"))).unwrap();
        cli(&["push", "plan.html", "--name", "bench-plan"], &project)
    });
    let memory = std::fs::read_to_string(project.join(".planpush/sessions.json")).unwrap();
    assert!(memory.contains("bench-plan"), "the pushes were remembered");

    println!("| command | runs | p50 | p95 | max | target |");
    println!("|---|---|---|---|---|---|");
    for (what, times, target) in [
        ("`planpush --version`", &version, "≤ 20 ms"),
        (
            &*format!(
                "`planpush push` ({} KB HTML, a new version each run)",
                doc.len() / 1000
            ),
            &push,
            "≤ 150 ms",
        ),
    ] {
        println!(
            "| {what} | {} | {} | {} | {} | {target} |",
            times.len(),
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.95)),
            ms(*times.last().unwrap()),
        );
    }
    let size = std::fs::metadata(&cli_bin).map(|m| m.len()).unwrap_or(0);
    println!(
        "\nRelease binary size: {:.1} MB.",
        size as f64 / 1_048_576.0
    );
}
