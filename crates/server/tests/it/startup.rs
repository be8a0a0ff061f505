//! The binary as an operator meets it: bad configuration stops start-up with one clear line; a good
//! one migrates, serves /healthz and /readyz, and stops gracefully on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BIN, Running, dev_login, free_port, raw, wait_for};

fn secret() -> String {
    "k".repeat(40)
}

/// Runs the binary in an empty directory with only the given variables set.
fn run(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn good_vars(port: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SECRET_KEY", secret()),
        ("BASE_URL", format!("http://127.0.0.1:{port}")),
        ("AUTH_PROVIDER", "dev".into()),
        ("BIND_ADDR", "127.0.0.1".into()),
        ("PORT", port.into()),
    ]
}

#[test]
fn bad_configuration_stops_with_one_line_naming_the_variable() {
    let s = secret();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "SECRET_KEY"),
        (vec![("SECRET_KEY", "too-short")], "SECRET_KEY"),
        (vec![("SECRET_KEY", &s)], "BASE_URL"),
        (
            vec![("SECRET_KEY", &s), ("BASE_URL", "not a url")],
            "BASE_URL",
        ),
        (
            vec![("SECRET_KEY", &s), ("BASE_URL", "ftp://example.com")],
            "BASE_URL",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "ldap"),
            ],
            "AUTH_PROVIDER",
        ),
        (
            vec![("SECRET_KEY", &s), ("BASE_URL", "https://pp.example.com")],
            "GITHUB_CLIENT_ID",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "dev"),
            ],
            "AUTH_PROVIDER",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "http://127.0.0.1:3000"),
                ("AUTH_PROVIDER", "dev"),
                ("BIND_ADDR", "127.0.0.1"),
                ("PORT", "70000"),
            ],
            "PORT",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "http://127.0.0.1:3000"),
                ("AUTH_PROVIDER", "dev"),
                ("BIND_ADDR", "127.0.0.1"),
                ("SESSION_IDLE_TIMEOUT", "soon"),
            ],
            "SESSION_IDLE_TIMEOUT",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "http://127.0.0.1:3000"),
                ("AUTH_PROVIDER", "dev"),
                ("BIND_ADDR", "127.0.0.1"),
                ("DATABASE_URL", "mysql://x@h/db"),
            ],
            "DATABASE_URL",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "http://127.0.0.1:3000"),
                ("AUTH_PROVIDER", "dev"),
                ("BIND_ADDR", "127.0.0.1"),
                ("SLACK_WEBHOOK_URL", "http://hooks.example.com/x"),
            ],
            "SLACK_WEBHOOK_URL",
        ),
        // AUTH_PROVIDER=okta: each variable of the mode, one line each.
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "okta"),
            ],
            "OKTA_ISSUER",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "okta"),
                ("OKTA_ISSUER", "http://acme.okta.com/oauth2/default"),
            ],
            "OKTA_ISSUER",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "okta"),
                ("OKTA_ISSUER", "https://acme.okta.com/oauth2/default"),
            ],
            "OKTA_CLIENT_ID",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "okta"),
                ("OKTA_ISSUER", "https://acme.okta.com/oauth2/default"),
                ("OKTA_CLIENT_ID", "0oa123"),
            ],
            "OKTA_CLIENT_SECRET",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "okta"),
                ("OKTA_ISSUER", "https://acme.okta.com/oauth2/default"),
                ("OKTA_CLIENT_ID", "0oa123"),
                ("OKTA_CLIENT_SECRET", "s3cret"),
                ("INITIAL_ADMIN_EMAILS", "alice@example.com, bob"),
            ],
            "INITIAL_ADMIN_EMAILS",
        ),
        (
            vec![
                ("SECRET_KEY", &s),
                ("BASE_URL", "https://pp.example.com"),
                ("AUTH_PROVIDER", "okta"),
                ("OKTA_ISSUER", "https://acme.okta.com/oauth2/default"),
                ("OKTA_CLIENT_ID", "0oa123"),
                ("OKTA_CLIENT_SECRET", "s3cret"),
                ("POST_LOGOUT_REDIRECT_URI", "/signed-out"),
            ],
            "POST_LOGOUT_REDIRECT_URI",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (vars, var) in cases {
        let out = run(dir.path(), &["serve"], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "exactly one line for {var}: {stderr}"
        );
        assert!(
            stderr.starts_with(&format!("planpush-server: {var}: ")),
            "{stderr}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing is written before the configuration is valid"
    );
}

#[test]
fn an_unreachable_oidc_issuer_stops_start_up_naming_okta_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dead = free_port();
    let issuer = format!("http://127.0.0.1:{dead}/oauth2/default");
    let out = run(
        dir.path(),
        &["serve"],
        &[
            ("SECRET_KEY", &secret()),
            ("BASE_URL", &format!("http://127.0.0.1:{port}")),
            ("BIND_ADDR", "127.0.0.1"),
            ("PORT", &port.to_string()),
            ("AUTH_PROVIDER", "okta"),
            ("OKTA_ISSUER", &issuer),
            ("OKTA_CLIENT_ID", "0oa123"),
            ("OKTA_CLIENT_SECRET", "s3cret"),
            ("RUST_LOG", "off"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "planpush-server: OKTA_ISSUER: discovery at {issuer}/.well-known/openid-configuration failed"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"));
}

#[test]
fn an_unreachable_database_is_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = good_vars("3000");
    vars.push((
        "DATABASE_URL",
        "postgres://planpush:hunter2@127.0.0.1:1/planpush".into(),
    ));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(dir.path(), &["migrate"], &vars);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("planpush-server: "))
        .unwrap_or_default();
    assert!(
        line.starts_with("planpush-server: DATABASE_URL: cannot open database"),
        "{stderr}"
    );
    assert!(
        line.contains("Connection refused") || line.contains("connection"),
        "the driver's reason is kept: {line}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password is not printed: {stderr}"
    );
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn migrate_then_serve_then_stop_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars = good_vars(&port.to_string());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let out = run(dir.path(), &["migrate"], &vars);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("data/planpush.db").exists(),
        "SQLite under DATA_DIR by default"
    );

    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    // Killed if a failed assertion below ends the test before it stops the server itself.
    let mut server = Running(cmd.spawn().unwrap());
    let child = &mut server.0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Some(r) = get(port, "/healthz") {
            break r;
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The server started itself again in place (same process) with two malloc arenas per core,
    // fixed mmap and trim thresholds, no tcache and no fast bins. glibc (2.36) cuts the variable
    // at each `:` in place as it reads it, so in `/proc/PID/environ` the tunables after the first
    // are entries of their own: read with every separator as `:`.
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    let environ = format!(":{}:", String::from_utf8_lossy(&environ).replace('\0', ":"));
    let cores = std::thread::available_parallelism().unwrap().get();
    let expected = format!(
        ":GLIBC_TUNABLES=glibc.malloc.arena_max={}:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0:",
        2 * cores
    );
    assert!(environ.contains(&expected), "{environ}");
    // Every answer, JSON included, forbids MIME sniffing (the CSP's `script-src 'self'` relies on it).
    let me = get(port, "/api/auth/me").unwrap();
    assert!(me.starts_with("HTTP/1.1 401"), "{me}");
    assert!(
        me.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{me}"
    );
    let ready = get(port, "/readyz").unwrap();
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("\"ready\""),
        "{ready}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(code.success(), "graceful exit: {code:?} {stderr}");
    assert!(
        stderr.contains("AUTH_PROVIDER=dev"),
        "the dev provider is announced loudly: {stderr}"
    );
    assert!(get(port, "/healthz").is_none(), "the port is released");
}

/// `planpush-server demo` on a fresh directory: a sample plan in three versions with comments,
/// a private secret, the URL printed; run again, it reuses everything and seeds nothing twice.
#[test]
fn the_demo_seeds_once_and_prints_where_to_go() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data");
    let run = |port: u16| {
        let child = Command::new(BIN)
            .args(["demo", "--port", &port.to_string(), "--data-dir"])
            .arg(&data)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(port);
        Running(child)
    };
    let port = free_port();
    let mut first = run(port);
    let (cookie, _) = dev_login(port, "visitor");
    let (status, _, _, page) = raw(
        port,
        "GET",
        "/p/auth-service-redesign",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        page.contains("Auth Service Redesign") && page.contains("v3"),
        "{page}"
    );
    let (_, _, _, list) = raw(port, "GET", "/api/sessions", &[("Cookie", &cookie)], "");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = list["sessions"][0]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, _, _, comments) = raw(
        port,
        "GET",
        &format!("/api/sessions/{id}/comments?state=all"),
        &[("Cookie", &cookie)],
        "",
    );
    let comments: serde_json::Value = serde_json::from_str(&comments).unwrap();
    let threads = comments["comments"].as_array().unwrap();
    assert_eq!(threads.len(), 4, "{comments}");
    assert!(threads.iter().any(|t| t["state"] == "resolved"));
    assert!(
        threads
            .iter()
            .any(|t| t["anchor_state"] == "changed" && t["state"] == "open")
    );
    assert!(
        threads
            .iter()
            .any(|t| !t["replies"].as_array().unwrap().is_empty())
    );
    let _ = first.0.kill();
    let mut out = String::new();
    first
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/p/auth-service-redesign")),
        "{out}"
    );
    assert!(
        out.contains(&format!("planpush login --server http://127.0.0.1:{port}")),
        "{out}"
    );
    drop(first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let port = free_port();
    let _second = run(port);
    let (cookie, _) = dev_login(port, "visitor");
    let (_, _, _, list) = raw(port, "GET", "/api/sessions", &[("Cookie", &cookie)], "");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["sessions"][0]["version"], 3, "nothing seeded twice");
}

#[test]
fn link_identity_attaches_a_provider_account_to_an_existing_user() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = port.to_string();
    let vars = good_vars(&p);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let _server = Running(cmd.spawn().unwrap());
        wait_for(port);
        dev_login(port, "octocat");
    }
    let mut quiet = vars.clone();
    quiet.push(("RUST_LOG", "warn"));
    let link = |login: &str, provider: &str, subject: &str| {
        run(
            dir.path(),
            &[
                "link-identity",
                "--login",
                login,
                "--provider",
                provider,
                "--subject",
                subject,
            ],
            &quiet,
        )
    };
    let issuer = "oidc:https://acme.okta.com/oauth2/default";
    let out = link("octocat", issuer, "00u1a2b3c4");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("linked {issuer} 00u1a2b3c4 to octocat"))
    );
    // Once only; unknown people and providers are named in one line.
    for (login, provider, want) in [
        (
            "octocat",
            issuer,
            "link-identity: this identity already signs in as a user",
        ),
        (
            "nobody",
            issuer,
            "link-identity: no user has the login \"nobody\"",
        ),
        ("octocat", "gitlab", "--provider: "),
    ] {
        let out = link(login, provider, "00u1a2b3c4");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0));
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("planpush-server: {want}")),
            "{stderr}"
        );
    }
}

#[test]
fn grant_admin_gives_an_existing_user_a_manual_admin_grant() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = port.to_string();
    let vars = good_vars(&p);
    let mut vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    let _server = Running(cmd.spawn().unwrap());
    wait_for(port);
    dev_login(port, "first");
    let (cookie, _) = dev_login(port, "second");
    let me = |cookie: &str| {
        let (_, _, _, body) = raw(port, "GET", "/api/auth/me", &[("Cookie", cookie)], "");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["roles"].clone()
    };
    assert_eq!(me(&cookie), serde_json::json!(["developer"]));
    vars.push(("RUST_LOG", "warn"));
    let out = run(dir.path(), &["grant-admin", "--login", "second"], &vars);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The running server sees it within its cache lifetime; a fresh read shows it at once.
    let out = run(dir.path(), &["grant-admin", "--login", "nobody"], &vars);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "planpush-server: grant-admin: no user has the login \"nobody\""
    );
    let (cookie2, _) = dev_login(port, "second");
    assert_eq!(me(&cookie2), serde_json::json!(["admin", "developer"]));
}
