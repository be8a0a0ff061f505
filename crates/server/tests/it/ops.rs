//! Operator commands against the real binary: `healthcheck`, `backup` while serving, a second
//! server on the same SQLite file refused, `restore` refused while serving and then bringing the
//! backed-up state back.

use std::process::{Command, Output};

use crate::support::{BIN, dev_login, dev_server, free_port, push, raw};

fn run(dir: &std::path::Path, port: u16, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
        ])
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plan_names(port: u16, cookie: &str) -> Vec<String> {
    let (status, _, _, body) = raw(port, "GET", "/api/sessions", &[("Cookie", cookie)], "");
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn healthcheck_backup_single_process_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();

    let down = run(dir.path(), port, &["healthcheck"]);
    assert_eq!(down.status.code(), Some(1), "nothing serves yet");
    assert!(stderr(&down).contains("unhealthy"), "{}", stderr(&down));

    let server = dev_server(dir.path(), port);
    let up = run(dir.path(), port, &["healthcheck"]);
    assert!(up.status.success(), "{}", stderr(&up));

    let (cookie, token) = dev_login(port, "ada");
    push(
        port,
        &token,
        "text/markdown",
        "kept",
        "# Kept\n\n## One\n\ntext\n",
    );

    // A second server on the same SQLite file is refused with one line; the first keeps serving.
    let second = run(dir.path(), free_port(), &["serve"]);
    assert_eq!(second.status.code(), Some(1));
    let line = stderr(&second);
    assert!(
        line.contains("DATABASE_URL") && line.contains("another planpush-server"),
        "{line}"
    );

    // Backup while serving; an existing file is never overwritten.
    let backup = dir.path().join("backup.db");
    let out = run(dir.path(), port, &["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(backup.is_file());
    let again = run(dir.path(), port, &["backup", backup.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert!(!dir.path().join("backup.partial").exists());

    push(
        port,
        &token,
        "text/markdown",
        "later",
        "# Later\n\n## Two\n\ntext\n",
    );
    assert_eq!(plan_names(port, &cookie), ["kept", "later"]);

    // Restore is refused while the server holds the database.
    let busy = run(dir.path(), port, &["restore", backup.to_str().unwrap()]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        stderr(&busy).contains("another planpush-server"),
        "{}",
        stderr(&busy)
    );

    drop(server);
    // Not a database: refused, the live database untouched.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not sqlite at all").unwrap();
    let bad = run(dir.path(), port, &["restore", junk.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("restore:"), "{}", stderr(&bad));

    let out = run(dir.path(), port, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let _server = dev_server(dir.path(), port);
    let (cookie, _) = dev_login(port, "ada");
    assert_eq!(
        plan_names(port, &cookie),
        ["kept"],
        "the state of the backup"
    );
}

/// `LOG_FORMAT=json`: one JSON object per line, and the lines of a request carry its id — the one
/// a trusted proxy sent, echoed in `X-Request-Id`.
#[test]
fn json_logs_carry_the_request_id() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("LOG_FORMAT", "json".into()),
            ("TRUSTED_PROXIES", "127.0.0.1".into()),
            ("RUST_LOG", "info,planpush_web=debug".into()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::wait_for(port);
    let (status, _, _, _) = raw(
        port,
        "GET",
        "/api/auth/me",
        &[("X-Request-Id", "ops-check-1")],
        "",
    );
    assert_eq!(status, 401);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every log line is JSON"))
        .collect();
    child.wait().unwrap();
    let of_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == "ops-check-1")
        .collect();
    assert!(
        of_request
            .iter()
            .any(|l| l["fields"]["route"] == "/api/auth/me" && l["fields"]["status"] == 401),
        "{lines:#?}"
    );
}

/// SIGTERM with a browser's live-update stream open: the stream gets a one-second `retry:` and
/// ends at once (so a proxy's next process takes the reconnect), and the server does not wait out
/// its 30-second drain for it.
#[test]
fn sigterm_ends_live_streams_with_a_reconnect_hint() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = dev_server(dir.path(), port);
    let (cookie, token) = dev_login(port, "ada");
    push(
        port,
        &token,
        "text/markdown",
        "live",
        "# Live\n\n## One\n\ntext\n",
    );

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(
            format!(
                "GET /p/live/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("event: ready") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }

    let asked = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut tail = String::new();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => tail.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("the stream did not end: {e}; got {tail:?}"),
        }
    }
    assert!(tail.contains("retry: 1000"), "{tail:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the stream ended {:?} after SIGTERM",
        asked.elapsed()
    );
    let code = loop {
        if let Some(code) = server.0.try_wait().unwrap() {
            break code;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
}
