//! The end-to-end run behind `cargo xtask e2e`: the real binaries as a person uses them.
//!
//! 1. start `planpush-server serve` (dev sign-in, SQLite in a temporary data dir, a free port);
//! 2. a reviewer signs in over HTTP; `planpush login` runs the device flow and the reviewer
//!    approves its code at `/activate`;
//! 3. `planpush push` the Markdown fixture, then the HTML fixture under the same name;
//! 4. a real browser (chromium through chromedriver) signs in, opens `/p/<name>` and sees the
//!    document at version 2 (a screenshot lands in `$PLANPUSH_E2E_OUT`);
//! 5. a comment through the API; `planpush comments` prints it;
//! 6. another push prints the change set;
//! 7. the browser shows version 3 and the comment in the sidebar (a second screenshot).
//!
//! `cargo xtask e2e` builds both binaries and passes their paths in `PLANPUSH_SERVER_BIN` and
//! `PLANPUSH_CLI_BIN`. Every process started here is killed when the run ends, failed or not.
//! Without chromium/chromedriver the browser step fails under `CI=true` and is skipped (loudly)
//! elsewhere.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::{ClientBuilder, Locator};
use serde_json::Value;

const NAME: &str = "auth-service-redesign";
const MARKDOWN: &str = include_str!("../../../fixtures/auth-service-redesign.md");
const HTML: &str = include_str!("../../../fixtures/auth-service-redesign.html");
const STEPS: usize = 10;

/// A child process killed on drop, so nothing outlives the run.
struct Killed(Child, &'static str);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        eprintln!("e2e: stopped {}", self.1);
    }
}

fn step(n: usize, what: &str) {
    eprintln!("\ne2e: [{n}/{STEPS}] {what}");
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        ensure!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn bin(var: &str) -> Result<PathBuf> {
    let path = PathBuf::from(
        std::env::var_os(var)
            .with_context(|| format!("{var} is not set (run `cargo xtask e2e`)"))?,
    );
    ensure!(path.exists(), "{var}={} does not exist", path.display());
    Ok(path)
}

/// One HTTP/1.1 exchange: `(status, set-cookie pair, body)`.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, Option<String>, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).context("no HTTP status")?.parse()?;
    let cookie = out.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("set-cookie")
            .then(|| v.trim().split(';').next().unwrap_or("").to_owned())
    });
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, cookie, body))
}

struct Cli {
    bin: PathBuf,
    config: PathBuf,
    project: PathBuf,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .current_dir(&self.project)
            .env("PLANPUSH_CONFIG_DIR", &self.config)
            .env("PLANPUSH_NO_BROWSER", "1")
            .env_remove("PLANPUSH_SERVER")
            .env_remove("PLANPUSH_TOKEN");
        c
    }

    /// Runs `planpush args`, echoes its output, fails on a non-zero exit.
    fn run(&self, args: &[&str]) -> Result<String> {
        eprintln!("e2e: $ planpush {}", args.join(" "));
        let out: Output = self.command(args).output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in stdout.lines() {
            eprintln!("e2e:   | {line}");
        }
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            eprintln!("e2e:   ! {line}");
        }
        ensure!(
            out.status.success(),
            "`planpush {}` failed ({})",
            args.join(" "),
            out.status
        );
        Ok(stdout)
    }
}

fn main() -> Result<()> {
    let started = Instant::now();
    let server_bin = bin("PLANPUSH_SERVER_BIN")?;
    let cli_bin = bin("PLANPUSH_CLI_BIN")?;
    let out_dir = std::env::var_os("PLANPUSH_E2E_OUT")
        .map_or_else(|| std::env::temp_dir().join("planpush-e2e"), PathBuf::from);
    std::fs::create_dir_all(&out_dir)?;
    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    std::fs::create_dir_all(&data)?;

    step(
        1,
        "start planpush-server (dev sign-in, SQLite, temporary data dir)",
    );
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log_path = work.path().join("server.log");
    let log = std::fs::File::create(&log_path)?;
    let _server = Killed(
        Command::new(&server_bin)
            .arg("serve")
            .current_dir(&data)
            .env_clear()
            .envs([
                ("SECRET_KEY", "e2e-secret-".repeat(4)),
                ("BASE_URL", base.clone()),
                ("AUTH_PROVIDER", "dev".into()),
                ("BIND_ADDR", "127.0.0.1".into()),
                ("PORT", port.to_string()),
            ])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start planpush-server")?,
        "planpush-server",
    );
    let result = run(port, &base, &cli_bin, work.path(), &out_dir);
    if result.is_err() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!("\ne2e: the server's last log lines:");
        for line in tail.into_iter().rev() {
            eprintln!("e2e:   {line}");
        }
    }
    result?;
    eprintln!("\ne2e: passed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn run(port: u16, base: &str, cli_bin: &Path, work: &Path, out_dir: &Path) -> Result<()> {
    wait_for(port, "planpush-server")?;
    let (status, _, body) = http(port, "GET", "/healthz", &[], "")?;
    ensure!(status == 200, "GET /healthz answered {status}: {body}");
    eprintln!("e2e: listening on {base}");

    step(2, "a reviewer signs in (dev sign-in over HTTP)");
    let (status, cookie, _) = http(
        port,
        "POST",
        "/auth/dev",
        &[
            ("Origin", base),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "login=reviewer&redirect_to=/",
    )?;
    ensure!(status == 303, "dev sign-in answered {status}");
    let cookie = cookie.context("dev sign-in set no cookie")?;
    eprintln!("e2e: signed in as reviewer");

    step(
        3,
        "planpush login: device flow, code approved at /activate by the reviewer",
    );
    let project = work.join("project");
    std::fs::create_dir_all(project.join(".git"))?;
    let cli = Cli {
        bin: cli_bin.to_path_buf(),
        config: work.join("config"),
        project: project.clone(),
    };
    eprintln!("e2e: $ planpush login --server {base}");
    let mut login = cli
        .command(&["login", "--server", base])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(login.stderr.take().context("no stderr")?).lines();
    let code = loop {
        let Some(line) = lines.next() else {
            bail!("planpush login ended without showing a code");
        };
        let line = line?;
        eprintln!("e2e:   ! {line}");
        let t = line.trim();
        if t.len() == 9
            && t.as_bytes()[4] == b'-'
            && t.chars().all(|c| c == '-' || c.is_ascii_uppercase())
        {
            break t.to_owned();
        }
    };
    let (status, _, page) = http(
        port,
        "POST",
        "/activate",
        &[
            ("Origin", base),
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("user_code={code}&action=approve&confirm=yes"),
    )?;
    ensure!(
        status == 200 && page.contains("Device approved"),
        "approving {code} answered {status}"
    );
    eprintln!("e2e: the reviewer approved {code}");
    for line in lines.map_while(Result::ok) {
        eprintln!("e2e:   ! {line}");
    }
    let out = login.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("e2e:   | {}", stdout.trim());
    ensure!(
        out.status.success(),
        "planpush login failed ({})",
        out.status
    );
    ensure!(
        stdout.contains("as reviewer"),
        "login did not say who: {stdout}"
    );
    cli.run(&["whoami"])?;

    step(4, "planpush push the Markdown fixture");
    std::fs::create_dir_all(project.join(".planpush"))?;
    std::fs::write(project.join(".planpush/plan.md"), MARKDOWN)?;
    let first = cli.run(&["push", ".planpush/plan.md", "--name", NAME])?;
    ensure!(
        first.contains(&format!("Created {NAME} version 1")),
        "unexpected: {first}"
    );

    step(5, "planpush push the HTML fixture under the same name");
    std::fs::write(project.join(".planpush/plan.html"), HTML)?;
    let second: Value = serde_json::from_str(&cli.run(&[
        "push",
        ".planpush/plan.html",
        "--name",
        NAME,
        "--json",
    ])?)?;
    ensure!(second["version"] == 2, "expected version 2: {second}");
    let session_id = second["session_id"]
        .as_str()
        .context("no session_id")?
        .to_owned();
    let memory = std::fs::read_to_string(project.join(".planpush/sessions.json"))?;
    ensure!(
        memory.contains(&session_id),
        "the project did not remember the plan: {memory}"
    );

    step(
        6,
        "a real browser opens /p/<name> and sees the document at version 2",
    );
    let with_browser = browser_available()?;
    if with_browser {
        let shot = out_dir.join("plan.png");
        in_browser(base, &shot, None)?;
        eprintln!("e2e: screenshot: {}", shot.display());
    }

    step(7, "a comment through the API");
    let body = "Batches of 10k still hurt the primary at peak; can we pause on replica lag?";
    let (status, _, answer) = http(
        port,
        "POST",
        &format!("/api/sessions/{session_id}/comments"),
        &[
            ("Origin", base),
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
        ],
        &serde_json::json!({"body": body, "anchor": "risk-migration"}).to_string(),
    )?;
    ensure!(status == 201, "commenting answered {status}: {answer}");
    eprintln!("e2e: reviewer commented on risk-migration");

    step(8, "planpush comments prints it");
    let listed = cli.run(&["comments", NAME])?;
    ensure!(
        listed.contains(body) && listed.contains("[risk-migration] @reviewer"),
        "the comment is missing: {listed}"
    );

    step(9, "another push shows the change set");
    let third_doc = HTML.replace(
        "Mitigation: batches of 10k with a sleep, run off-peak.",
        "Mitigation: batches of 5k, paused while replica lag is over 2 s, run off-peak.",
    );
    ensure!(
        third_doc != HTML,
        "the fixture changed; update the e2e edit"
    );
    std::fs::write(project.join(".planpush/plan.html"), third_doc)?;
    let third = cli.run(&["push", ".planpush/plan.html", "--name", NAME])?;
    ensure!(
        third.contains(&format!("Pushed {NAME} version 3")),
        "unexpected: {third}"
    );
    ensure!(
        third.contains("Changed: ") && third.contains("risk"),
        "no change set: {third}"
    );

    step(
        10,
        "the browser shows version 3 and the comment in the sidebar",
    );
    if with_browser {
        let shot = out_dir.join("plan-comments.png");
        in_browser(base, &shot, Some(body))?;
        eprintln!("e2e: screenshot: {}", shot.display());
    }
    Ok(())
}

fn in_browser(base: &str, shot: &Path, comment: Option<&str>) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(browser(base, shot, comment))
}

fn browser_available() -> Result<bool> {
    let have = |c: &str| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have("chromium") && have("chromedriver") {
        return Ok(true);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        bail!("chromium and chromedriver are required in CI (.ci/run installs them)");
    }
    eprintln!("e2e: WARNING: chromium/chromedriver not installed: the browser step is SKIPPED");
    Ok(false)
}

/// Signs in as a reader, opens the plan and checks it: version 2 with its history; or, once
/// `comment` was made, version 3 with that comment in the opened sidebar.
async fn browser(base: &str, shot: &Path, comment: Option<&str>) -> Result<()> {
    let driver_port = free_port()?;
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start chromedriver")?,
        "chromedriver",
    );
    wait_for(driver_port, "chromedriver")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1200,1500"]
        }
    });
    let caps = caps.as_object().context("capabilities")?.clone();
    let c = ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .context("could not open a browser session through chromedriver")?;
    let result = async {
        let target = format!("/p/{NAME}");
        c.goto(&format!("{base}/auth/login?redirect_to={target}"))
            .await?;
        c.find(Locator::Id("login"))
            .await?
            .send_keys("reader")
            .await?;
        c.find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !c.current_url().await?.as_str().ends_with(&target) {
            ensure!(
                Instant::now() < deadline,
                "the browser was not sent back to {target}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The address changes when the navigation commits, before the page is parsed: wait for
        // the header itself.
        let title = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(".pp-header h1"))
            .await?
            .text()
            .await?;
        ensure!(
            title.contains("Auth Service Redesign"),
            "the page title is {title:?}"
        );
        let version = if comment.is_some() { "3" } else { "2" };
        let meta = c.find(Locator::Css(".pp-meta")).await?.text().await?;
        ensure!(
            meta.contains(&format!("v{version}")),
            "the page does not show version {version}: {meta:?}"
        );
        let article = c.find(Locator::Css("article.pp-document")).await?;
        ensure!(
            article.attr("data-version").await?.as_deref() == Some(version),
            "the document shown is not version {version}"
        );
        let text = article.text().await?;
        ensure!(
            text.contains("Risks"),
            "the document's sections are missing"
        );
        let history = c.find(Locator::Css(".pp-history")).await?.text().await?;
        ensure!(
            history.contains("v2") && history.contains("v1"),
            "history: {history:?}"
        );
        eprintln!("e2e: the browser sees {title:?}, {}", meta.trim());
        if let Some(body) = comment {
            c.find(Locator::Css(".pp-comments-toggle"))
                .await?
                .click()
                .await?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let threads = c.find(Locator::Css(".pp-threads")).await?.text().await?;
                if threads.contains(body) {
                    eprintln!("e2e: the sidebar shows the comment");
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "the sidebar does not show the comment: {threads:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = c.screenshot().await?;
        ensure!(png.len() > 10_000, "the screenshot is suspiciously small");
        std::fs::write(shot, png)?;
        Ok(())
    }
    .await;
    let _ = c.close().await;
    result
}
