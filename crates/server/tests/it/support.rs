//! Running the binary and talking plain HTTP to it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_planpush-server");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Python that can `import` `modules` (a test's independent implementation from PyPI): the one in
/// `var` (a venv `.ci/run` made), else `python3`. Missing, a test is skipped with a warning — and
/// fails under `CI=true`, where `.ci/run` must have installed `package`.
pub fn python_with(var: &str, modules: &str, package: &str) -> Option<String> {
    let candidates = [std::env::var(var).ok(), Some("python3".to_owned())];
    let found = candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", &format!("import {modules}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{package} is required in CI (set {var}; .ci/run installs it)"
        );
        eprintln!("warning: {package} is not installed; skipping the test that needs it");
    }
    found
}

/// A child process killed when the test ends, with every process it started (chromedriver's
/// chromium and its helpers would otherwise outlive the test run).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let descendants = descendants_of(self.0.id());
        let _ = self.0.kill();
        if !descendants.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(descendants.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.0.wait();
    }
}

/// The processes `pid` started, and theirs, from `/proc/<pid>/task/<tid>/children`.
fn descendants_of(pid: u32) -> Vec<u32> {
    let mut found = vec![];
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// Waits until something listens on `port`.
pub fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `planpush-server serve` in dev mode on `port`, data in `dir`.
pub fn dev_server(dir: &std::path::Path, port: u16) -> Running {
    dev_server_with(dir, port, &[])
}

/// [`dev_server`] with more environment variables.
pub fn dev_server_with(dir: &std::path::Path, port: u16, extra: &[(&str, &str)]) -> Running {
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
        ])
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    Running(child)
}

/// One HTTP/1.1 exchange: `(status, location, set-cookie pair, body)`.
pub fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Option<String>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let header = |name: &str| {
        out.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let location = header("location").unwrap_or_default();
    let cookie = header("set-cookie").map(|c| c.split(';').next().unwrap().to_owned());
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, location, cookie, body)
}

/// Signs in with the dev provider; returns the session cookie pair and a fresh API token.
pub fn dev_login(port: u16, login: &str) -> (String, String) {
    let origin = format!("http://127.0.0.1:{port}");
    let (status, _, cookie, _) = raw(
        port,
        "POST",
        "/auth/dev",
        &[
            ("Origin", &origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("login={login}&redirect_to=/"),
    );
    assert_eq!(status, 303);
    let cookie = cookie.unwrap();
    let (status, _, _, body) = raw(
        port,
        "POST",
        "/api/tokens",
        &[
            ("Origin", &origin),
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
        ],
        r#"{"label":"test"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    (cookie, token["token"].as_str().unwrap().to_owned())
}

/// Pushes a document; returns the answer.
pub fn push(
    port: u16,
    token: &str,
    content_type: &str,
    name: &str,
    body: &str,
) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    let (status, _, _, answer) = raw(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &auth),
            ("Content-Type", content_type),
            ("X-Session-Name", name),
        ],
        body,
    );
    assert!(status == 200 || status == 201, "{status} {answer}");
    serde_json::from_str(&answer).unwrap()
}
