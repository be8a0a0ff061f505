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

/// `METRICS_ADDR`: `/metrics` is served on that listener (and only `/metrics`), and the main port
/// answers it `404` even to loopback; without it, the main port serves loopback as before.
#[test]
fn metrics_addr_moves_metrics_to_its_own_listener() {
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("METRICS_ADDR", format!("127.0.0.1:{metrics_port}")),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = crate::support::Running(child);
    crate::support::wait_for(port);
    crate::support::wait_for(metrics_port);

    let (status, _, _, _) = raw(port, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    let (status, _, _, body) = raw(port, "GET", "/metrics", &[], "");
    assert_eq!(
        status, 404,
        "the main port no longer serves metrics: {body}"
    );

    let (status, _, _, body) = raw(metrics_port, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("planpush_http_requests_total")
            && body.contains("route=\"/healthz\"")
            && body.contains("route=\"/metrics\",status=\"404\""),
        "the main port's requests are counted: {body}"
    );
    // Nothing else is served there: no API, no pages, no health.
    for path in ["/healthz", "/api/auth/me", "/"] {
        let (status, _, _, _) = raw(metrics_port, "GET", path, &[], "");
        assert_eq!(status, 404, "{path} on the metrics listener");
    }

    // Without METRICS_ADDR: the main port serves loopback.
    let (other_dir, other) = (tempfile::tempdir().unwrap(), free_port());
    let _plain = dev_server(other_dir.path(), other);
    let (status, _, _, body) = raw(other, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
}

/// Starts `serve` on `port` with `SECRET_KEY=key` and `SECRET_KEY_PREVIOUS=previous` (when set).
fn server_with_keys(
    dir: &std::path::Path,
    port: u16,
    key: &str,
    previous: Option<&str>,
) -> crate::support::Running {
    use std::process::Stdio;
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .current_dir(dir)
        .env_clear()
        .envs([
            ("SECRET_KEY", key.to_owned()),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(previous) = previous {
        cmd.env("SECRET_KEY_PREVIOUS", previous);
    }
    let running = crate::support::Running(cmd.spawn().unwrap());
    crate::support::wait_for(port);
    running
}

/// Who a session cookie signs in, or the status when it signs in no one.
fn whoami(port: u16, cookie: &str) -> Result<String, u16> {
    let (status, _, _, body) = raw(port, "GET", "/api/auth/me", &[("Cookie", cookie)], "");
    if status != 200 {
        return Err(status);
    }
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    Ok(me["login"].as_str().unwrap().to_owned())
}

/// Rotating `SECRET_KEY` with the old key in `SECRET_KEY_PREVIOUS`: a session cookie made under
/// the old key still signs in, and its first answer re-seals it under the new key (the re-sealed
/// cookie works once the old key is dropped); a cookie under a key the server does not know, or
/// under the old key once it is dropped, signs in no one.
#[test]
fn secret_key_rotation_keeps_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (old, new, stranger) = ("o".repeat(40), "n".repeat(40), "s".repeat(40));

    let server = server_with_keys(dir.path(), port, &old, None);
    let (old_cookie, token) = dev_login(port, "ada");
    assert_eq!(whoami(port, &old_cookie).as_deref(), Ok("ada"));
    drop(server);
    let other_dir = tempfile::tempdir().unwrap();
    let stranger_server = server_with_keys(other_dir.path(), port, &stranger, None);
    let (stranger_cookie, _) = dev_login(port, "ada");
    drop(stranger_server);

    // Rotated: the new key, the old one accepted for reading.
    let server = server_with_keys(dir.path(), port, &new, Some(&old));
    let (status, _, set, body) = raw(port, "GET", "/api/auth/me", &[("Cookie", &old_cookie)], "");
    assert_eq!(status, 200, "the old key's cookie still signs in: {body}");
    let resealed = set.expect("the answer re-seals the cookie under the new key");
    assert!(resealed.starts_with("planpush_session="), "{resealed}");
    assert_ne!(resealed, old_cookie);
    assert_eq!(whoami(port, &resealed).as_deref(), Ok("ada"));
    assert_eq!(
        whoami(port, &stranger_cookie),
        Err(401),
        "a cookie sealed under an unknown key"
    );
    // A cookie made now is sealed under the new key; API tokens never depended on the key.
    let (fresh_cookie, _) = dev_login(port, "ben");
    let auth = format!("Bearer {token}");
    let (status, _, _, _) = raw(port, "GET", "/api/auth/me", &[("Authorization", &auth)], "");
    assert_eq!(status, 200);
    drop(server);

    // The old key dropped: re-sealed and new cookies work, the old cookie does not.
    let _server = server_with_keys(dir.path(), port, &new, None);
    assert_eq!(whoami(port, &resealed).as_deref(), Ok("ada"));
    assert_eq!(whoami(port, &fresh_cookie).as_deref(), Ok("ben"));
    assert_eq!(whoami(port, &old_cookie), Err(401));
}

/// A bad `SECRET_KEY_PREVIOUS` stops start-up with one line naming it, and never echoes a key.
#[test]
fn bad_previous_secret_keys_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("SECRET_KEY_PREVIOUS", "hunter2-too-short".into()),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = stderr(&out);
    assert!(
        line.starts_with("planpush-server: SECRET_KEY_PREVIOUS: key 1"),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
}

/// SIGTERM: the server drains, stops its background work, closes the database pool — SQLite then
/// checkpoints and removes its write-ahead log, which it does only when the last connection
/// closes — logs it, and exits 0 well within the bound.
#[test]
fn sigterm_closes_the_pool_and_exits_in_bounded_time() {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

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
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::wait_for(port);
    let (_, token) = dev_login(port, "ada");
    push(
        port,
        &token,
        "text/markdown",
        "wal",
        "# Wal\n\n## One\n\ntext\n",
    );
    let wal = dir.path().join("data/planpush.db-wal");
    assert!(wal.exists(), "the database runs in WAL mode while serving");

    let asked = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(code.success(), "{code:?}\n{log}");
    let order: Vec<usize> = ["stopping", "database pool closed", "stopped"]
        .iter()
        .map(|line| {
            log.find(line)
                .unwrap_or_else(|| panic!("no {line:?} in\n{log}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{log}");
    assert!(
        !wal.exists(),
        "the write-ahead log is checkpointed away when the last connection closes"
    );
}
