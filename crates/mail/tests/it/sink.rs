//! A real SMTP server on 127.0.0.1 for tests: PyPI's `aiosmtpd` running `tests/smtp_sink.py`,
//! which stores every accepted message and its parse by Python's `email` package. Its Python comes
//! from `PLANPUSH_MAIL_PYTHON` (`.ci/run` installs aiosmtpd in a venv); in CI a missing aiosmtpd
//! fails the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

// Relative to the crate that includes this module (mail, server): both live in `crates/`.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mail/tests/smtp_sink.py");

/// The Python that has aiosmtpd, or `None` (outside CI) with a warning.
pub fn python() -> Option<String> {
    let candidates = [
        std::env::var("PLANPUSH_MAIL_PYTHON").ok(),
        Some("python3".to_owned()),
    ];
    let found = candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "aiosmtpd is required in CI (set PLANPUSH_MAIL_PYTHON; .ci/run installs it)"
        );
        eprintln!("warning: aiosmtpd is not installed; skipping the SMTP test");
    }
    found
}

/// The running server; killed when dropped.
pub struct Sink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    pub fn start(python: &str) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python)
            .arg(SCRIPT)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut byte = [0u8; 1];
        while std::io::Read::read(&mut out, &mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0] as char);
        }
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("sink said {line:?}"));
        Sink { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every message accepted so far, parsed, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
            .collect()
    }

    /// Waits until `n` messages were accepted (at most five seconds).
    pub fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Answers every message with `reply` (e.g. `451 4.3.0 later`) until [`Sink::accept`].
    pub fn refuse(&self, reply: &str) {
        std::fs::write(self.path().join("refuse"), reply).unwrap();
    }

    pub fn accept(&self) {
        let _ = std::fs::remove_file(self.path().join("refuse"));
    }

    /// Holds the reply to every message (the sender waits) until [`Sink::release`].
    pub fn hold(&self) {
        std::fs::write(self.path().join("hold"), "").unwrap();
    }

    pub fn release(&self) {
        let _ = std::fs::remove_file(self.path().join("hold"));
    }

    /// Waits until a message's reply is being held (at most five seconds).
    pub fn wait_holding(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.path().join("holding").exists() {
            assert!(Instant::now() < deadline, "no message reached the sink");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one value of header `name` (lower case) of a parsed message.
pub fn header<'a>(m: &'a Value, name: &str) -> &'a str {
    let v = m["headers"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name}: {m}"));
    assert_eq!(v.len(), 1, "{name}: {v:?}");
    v[0].as_str().unwrap()
}
