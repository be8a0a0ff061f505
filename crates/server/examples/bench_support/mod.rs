//! What the HTTP benchmarks share: the release server on a temporary SQLite database, raw HTTP/1.1
//! calls, dev sign-in, and the fixture scaled to a size.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod scaled;
pub mod scripts;

pub const FIXTURE: &str = include_str!("../../../../fixtures/auth-service-redesign.html");

/// The fixture repeated (anchors and ids made unique per copy) until it is at least `bytes` long.
pub fn scaled(bytes: usize) -> String {
    scaled::scaled_from(FIXTURE, bytes)
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The highest anonymous and file-backed resident memory seen so far, in KB (sampled).
    peaks: Arc<[AtomicU64; 2]>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port` (at most a minute).
pub fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Server {
    /// The server on SQLite in `dir`.
    pub fn start(bin: &str, dir: &Path) -> Self {
        Self::start_with(bin, dir, None)
    }

    /// The server in `dir`, on `database_url` when given (else SQLite in `dir`).
    pub fn start_with(bin: &str, dir: &Path, database_url: Option<&str>) -> Self {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg("serve").current_dir(dir).env_clear().envs([
            ("SECRET_KEY", "b".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("RUST_LOG", "warn".into()),
        ]);
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        // Allocator settings to compare are passed on (else the server picks its own).
        for key in ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the server binary");
        wait_for(port);
        let peaks = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let (sampled, pid) = (peaks.clone(), child.id());
        // The kernel keeps only the peak of the sum (VmHWM): its parts are sampled until the
        // process is gone.
        std::thread::spawn(move || {
            while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                for (i, key) in ["RssAnon:", "RssFile:"].iter().enumerate() {
                    sampled[i].fetch_max(status_kb(&status, key) as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { child, port, peaks }
    }

    /// One HTTP/1.1 exchange: `(status, headers, body)`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        // Compressed answers are bytes, not text: read them as such (callers use headers then).
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let out = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        (
            head[9..12].parse().unwrap(),
            head.to_owned(),
            body.to_owned(),
        )
    }

    /// Signs `login` in with the dev provider: `(session cookie, API token)`.
    pub fn sign_in(&self, login: &str) -> (String, String) {
        let origin = self.url("");
        let (status, head, _) = self.call(
            "POST",
            "/auth/dev",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", &origin),
            ],
            &format!("login={login}&redirect_to=/"),
        );
        assert_eq!(status, 303, "dev sign-in: {head}");
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let (status, _, body) = self.call(
            "POST",
            "/api/tokens",
            &[
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", "application/json"),
            ],
            r#"{"label":"bench"}"#,
        );
        assert_eq!(status, 201, "token: {body}");
        let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (cookie, token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Peak and current resident memory in MB.
    pub fn rss(&self) -> (f64, f64) {
        (self.status_mb("VmHWM:"), self.status_mb("VmRSS:"))
    }

    /// Resident memory now in MB: anonymous (the heap and stacks) and file-backed (the
    /// executable's and libraries' pages the kernel has mapped, shared and reclaimable).
    pub fn rss_split(&self) -> (f64, f64) {
        (self.status_mb("RssAnon:"), self.status_mb("RssFile:"))
    }

    /// The highest anonymous and file-backed resident memory seen so far in MB (sampled every
    /// 20 ms; each may have peaked at a different moment, so they can add up to more than `rss`).
    pub fn peak_split(&self) -> (f64, f64) {
        let mb = |i: usize| self.peaks[i].load(Ordering::Relaxed) as f64 / 1024.0;
        (mb(0), mb(1))
    }

    fn status_mb(&self, key: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status_kb(&status, key) / 1024.0
    }
}

/// The value of `key` (in KB) in a `/proc/<pid>/status` text, 0 when absent.
fn status_kb(status: &str, key: &str) -> f64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}
