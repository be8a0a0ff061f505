//! Two real `planpush-server` processes on one PostgreSQL database, as behind a load balancer:
//! live events, `Last-Event-ID` replay, revocations, deactivations, role changes, the page cache,
//! rate limits and the Slack outbox all cross between them, and keep crossing after the listener
//! connections are killed.
//!
//! PostgreSQL comes from `PLANPUSH_TEST_PG_URL`; with `CI` set a missing URL fails the test.
//!
//! Changes made on one process reach the other through `LISTEN/NOTIFY` a few milliseconds after the
//! commit, so the checks on the other process retry for up to [`CROSSING`] and print how long the
//! crossing took.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use serde_json::{Value, json};

use crate::slack::FakeSlack;
use crate::support::{BIN, Running, dev_login, free_port, push, raw, wait_for};

/// The longest a change may take to reach the other process.
const CROSSING: Duration = Duration::from_secs(2);

/// The test server's admin URL, `None` outside CI without one (skipped with a note).
fn pg_admin_url() -> Option<String> {
    match std::env::var("PLANPUSH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("PLANPUSH_TEST_PG_URL is not set: the multi-process test must run in CI")
        }
        _ => {
            eprintln!("note: PLANPUSH_TEST_PG_URL is not set; skipping the multi-process test");
            None
        }
    }
}

/// A fresh database on the test server, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin_url: String) -> Self {
        let name = format!("pp_multi_{:x}", rand_u64());
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PLANPUSH_TEST_PG_URL: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url.as_str(), String::new()),
        };
        let root = &base[..base.rfind('/').unwrap()];
        let url = format!("{root}/{name}{query}");
        Self {
            admin_url,
            name,
            url,
        }
    }

    fn admin(&self) -> PgConnection {
        PgConnection::establish(&self.admin_url).unwrap()
    }

    /// The backend pids of the server processes' listener connections.
    fn listeners(&self) -> Vec<i32> {
        #[derive(diesel::QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        diesel::sql_query(format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND application_name = '{}'",
            self.name,
            planpush_store::cluster::LISTENER_NAME
        ))
        .load::<Pid>(&mut self.admin())
        .unwrap()
        .into_iter()
        .map(|p| p.pid)
        .collect()
    }

    fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut c = PgConnection::establish(&self.url).unwrap();
        diesel::sql_query(sql).get_result::<N>(&mut c).unwrap().n
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// Starts one server process on `db` (not waiting for it).
fn spawn(db: &Database, port: u16, slack_port: u16) -> Running {
    spawn_with(db, port, slack_port, &[])
}

/// [`spawn`] with more (or overriding) environment variables.
fn spawn_with(db: &Database, port: u16, slack_port: u16, extra: &[(&str, String)]) -> Running {
    let log = std::env::temp_dir().join(format!("{}-{port}.log", db.name));
    let child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            // Both processes sit behind one address in production; here each has its own.
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("DATABASE_URL", db.url.clone()),
            (
                "SLACK_WEBHOOK_URL",
                format!("http://127.0.0.1:{slack_port}/services/T000/B000/XXXX"),
            ),
            ("SLACK_TIMEOUT_MS", "2000".into()),
            ("NOTIFY_BURST_WINDOW_MS", "0".into()),
            // Both workers poll hard, so they race for every message.
            ("OUTBOX_POLL_INTERVAL_MS", "10".into()),
            ("RUST_LOG", "info".into()),
        ])
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Running(child)
}

/// Retries `check` until it holds or [`CROSSING`] passes; returns how long it took.
fn crossing(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            let took = start.elapsed();
            eprintln!("multiprocess: {what}: {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < CROSSING,
            "{what}: not seen on the other process within {CROSSING:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get(port: u16, path: &str, auth: (&str, &str)) -> (u16, String) {
    let (status, _, _, body) = raw(port, "GET", path, &[auth], "");
    (status, body)
}

fn json_call(port: u16, method: &str, path: &str, cookie: &str, body: &Value) -> (u16, Value) {
    let origin = format!("http://127.0.0.1:{port}");
    let (status, _, _, answer) = raw(
        port,
        method,
        path,
        &[
            ("Origin", &origin),
            ("Cookie", cookie),
            ("Content-Type", "application/json"),
        ],
        &body.to_string(),
    );
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

fn me(port: u16, token: &str) -> Value {
    let (status, body) = get(port, "/api/auth/me", ("Authorization", &bearer(token)));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Frame {
    id: Option<String>,
    event: String,
    data: Value,
}

/// A live-events stream read over plain HTTP/1.1 (chunked).
struct Sse {
    s: TcpStream,
    raw: Vec<u8>,
    text: String,
    headers_done: bool,
    closed: bool,
}

impl Sse {
    fn open(port: u16, slug: &str, token: &str, last_event_id: Option<&str>) -> Self {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut req = format!(
            "GET /p/{slug}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
        );
        if let Some(id) = last_event_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Self {
            s,
            raw: vec![],
            text: String::new(),
            headers_done: false,
            closed: false,
        }
    }

    /// Moves complete chunks from `raw` to `text`.
    fn decode(&mut self) {
        if !self.headers_done {
            let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_string();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            self.raw.drain(..end + 4);
            self.headers_done = true;
        }
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&self.raw[..eol]).unwrap().trim(), 16)
                    .unwrap();
            if size == 0 {
                self.closed = true;
                return;
            }
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            let chunk = String::from_utf8(self.raw[eol + 2..eol + 2 + size].to_vec()).unwrap();
            self.text.push_str(&chunk);
            self.raw.drain(..eol + 2 + size + 2);
        }
    }

    /// The next event (comments skipped), or `None` if the stream ended or `wait` passed.
    fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = Instant::now() + wait;
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    event: String::new(),
                    data: Value::Null,
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        frame.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        frame.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        frame.data = serde_json::from_str(v).unwrap();
                    }
                }
                if !frame.event.is_empty() {
                    return Some(frame);
                }
            }
            if self.closed || Instant::now() > deadline {
                return None;
            }
            let mut buf = [0u8; 8192];
            match self.s.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.raw.extend_from_slice(&buf[..n]);
                    self.decode();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Events up to and including the first named `name`.
    fn until(&mut self, name: &str) -> Vec<Frame> {
        let mut seen = vec![];
        loop {
            let f = self
                .next(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("no {name:?} event; got {seen:?}"));
            let done = f.event == name;
            seen.push(f);
            if done {
                return seen;
            }
        }
    }
}

fn doc(n: u32) -> String {
    format!("# Shared plan\n\n## Rollout\n\nStep {n}.\n\n## Risks\n\n- drift {n}\n")
}

#[test]
fn two_processes_on_one_postgresql_serve_one_team() {
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let db = Database::create(admin_url);
    let (slack, slack_port) = FakeSlack::start(vec![]);
    let (pa, pb) = (free_port(), free_port());
    // Started together: one migrates, the other waits for it (an advisory lock).
    let _a = spawn(&db, pa, slack_port);
    let _b = spawn(&db, pb, slack_port);
    wait_for(pa);
    wait_for(pb);
    assert_eq!(
        db.listeners().len(),
        2,
        "one listener connection per process"
    );

    let first_sign_in = Instant::now();
    let mut refills = 0;
    let (ada_cookie, ada) = dev_login(pa, "ada"); // first user: admin
    let (_, ben) = dev_login(pb, "ben");
    let (cleo_cookie, cleo) = dev_login(pa, "cleo");
    let (_, dan) = dev_login(pb, "dan");
    let sign_ins = 4;
    let mut pushes = 0;

    // 1. A viewer on B sees a push made on A, live.
    let shared = push(pa, &ada, "text/markdown", "shared", &doc(1))["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    pushes += 1;
    let mut on_b = Sse::open(pb, "shared", &ben, None);
    let ready = on_b.until("ready");
    let mut on_a = Sse::open(pa, "shared", &ada, None);
    on_a.until("ready");
    let start = Instant::now();
    push(pa, &ada, "text/markdown", "shared", &doc(2));
    pushes += 1;
    let on_b_frames = on_b.until("version");
    let v2 = on_b_frames.last().unwrap();
    eprintln!(
        "multiprocess: push on A → event on B: {:?}",
        start.elapsed()
    );
    assert_eq!(v2.data["version"], 2, "{v2:?}");
    assert_ne!(v2.id, ready.last().unwrap().id);
    let v2_on_a = on_a.until("version");
    assert_eq!(
        v2_on_a.last().unwrap().id,
        v2.id,
        "one numbering for all processes"
    );

    // 1b. Presence crosses processes: ben's stream on B was told (a `presence` event) that ada
    // opened the plan on A, and either process lists both readers (one shared table).
    assert!(
        on_b_frames.iter().any(|f| {
            let readers = f.data["readers"].to_string();
            f.event == "presence" && readers.contains("\"ada\"") && readers.contains("\"ben\"")
        }),
        "ben on B heard of ada on A: {on_b_frames:?}"
    );
    for port in [pa, pb] {
        let (status, body) = get(
            port,
            &format!("/api/sessions/{shared}/presence"),
            ("Authorization", &bearer(&ben)),
        );
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("\"ada\"") && body.contains("\"ben\""),
            "{body}"
        );
    }

    // 2. The page cache on B: warm it, push on A, B serves the new version.
    let page = |port: u16| get(port, "/p/shared", ("Cookie", &ada_cookie));
    let (status, body) = page(pb);
    assert_eq!(status, 200);
    assert!(body.contains("Step 2."));
    assert!(page(pb).1.contains("Step 2."), "served from B's cache");
    push(pa, &ada, "text/markdown", "shared", &doc(3));
    pushes += 1;
    crossing("page cache on B after a push on A", || {
        page(pb).1.contains("Step 3.")
    });
    let v3 = on_b.until("version");
    let v3_id = v3.last().unwrap().id.clone().unwrap();

    // 3. Last-Event-ID across processes: a browser that saw version 2 on A reconnects to B and
    // gets version 3 replayed from the database (no resync).
    let mut replayed = Sse::open(pb, "shared", &ben, v2_on_a.last().unwrap().id.as_deref());
    let frames = replayed.until("ready");
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(names, ["version", "ready"], "{frames:?}");
    assert_eq!(frames[0].data["version"], 3);
    assert_eq!(frames[0].id.as_deref(), Some(v3_id.as_str()));
    // And the other way round.
    let mut back = Sse::open(pa, "shared", &ben, v2.id.as_deref());
    assert_eq!(back.until("ready")[0].data["version"], 3);

    // 4. A token revoked on A is refused on B (whose cache knew it as valid).
    let (id, cleo_b) = dev_login_token(pa, &cleo_cookie, "second");
    assert_eq!(me(pb, &cleo_b)["login"], "cleo");
    let (status, _) = json_call(
        pa,
        "DELETE",
        &format!("/api/tokens/{id}"),
        &cleo_cookie,
        &Value::Null,
    );
    assert_eq!(status, 204);
    crossing("token revoked on A refused on B", || {
        get(pb, "/api/auth/me", ("Authorization", &bearer(&cleo_b))).0 == 401
    });

    // 5. A session signed out on A is refused on B.
    assert_eq!(get(pb, "/api/auth/me", ("Cookie", &cleo_cookie)).0, 200);
    let origin = format!("http://127.0.0.1:{pa}");
    let (status, ..) = raw(
        pa,
        "POST",
        "/auth/logout",
        &[("Origin", &origin), ("Cookie", &cleo_cookie)],
        "",
    );
    assert_eq!(status, 303);
    crossing("session signed out on A refused on B", || {
        get(pb, "/api/auth/me", ("Cookie", &cleo_cookie)).0 == 401
    });
    assert_eq!(
        me(pb, &cleo)["login"],
        "cleo",
        "her other token still works"
    );

    // 6. A role change on A is honoured by B: Dan (developer) cannot see Ada's private plan,
    // then can as a PM, then cannot again.
    let secret = push_private(pa, &ada, "secret", &doc(1));
    // (Private plans notify nobody: no Slack message.)
    let secret_path = format!("/api/sessions/{secret}");
    let dan_id = me(pb, &dan)["id"].as_str().unwrap().to_owned();
    let sees = |port: u16| get(port, &secret_path, ("Authorization", &bearer(&dan))).0;
    assert_eq!(sees(pb), 404);
    let set_roles = |roles: Value| {
        let (status, body) = json_call(
            pa,
            "PATCH",
            &format!("/api/users/{dan_id}"),
            &ada_cookie,
            &json!({ "roles": roles }),
        );
        assert_eq!(status, 200, "{body}");
    };
    set_roles(json!(["pm"]));
    crossing("role granted on A honoured on B", || sees(pb) == 200);
    set_roles(json!(["developer"]));
    crossing("role removed on A honoured on B", || sees(pb) == 404);

    // 7. Deactivation on A closes Ben's stream on B and refuses his next request there.
    let ben_id = me(pb, &ben)["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let (status, body) = json_call(
        pa,
        "PATCH",
        &format!("/api/users/{ben_id}"),
        &ada_cookie,
        &json!({ "active": false }),
    );
    assert_eq!(status, 200, "{body}");
    let ended = on_b.until("signed_out");
    eprintln!(
        "multiprocess: deactivation on A → stream on B closed: {:?}",
        start.elapsed()
    );
    assert_eq!(ended.last().unwrap().event, "signed_out");
    assert!(
        on_b.next(Duration::from_secs(2)).is_none() && on_b.closed,
        "the stream ended"
    );
    crossing("deactivated on A refused on B", || {
        get(pb, "/api/auth/me", ("Authorization", &bearer(&ben))).0 == 401
    });

    // 8. The listeners' connections are killed: both processes reconnect, and changes made
    // meanwhile still arrive (events replayed from the cursor, caches voided).
    let before = db.listeners();
    let mut watching = Sse::open(pb, "shared", &dan, None);
    watching.until("ready");
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND application_name = '{}'",
        db.name,
        planpush_store::cluster::LISTENER_NAME
    ))
    .execute(&mut db.admin())
    .unwrap();
    push(pa, &ada, "text/markdown", "shared", &doc(4));
    pushes += 1;
    let v4 = watching.until("version");
    assert_eq!(
        v4.last().unwrap().data["version"],
        4,
        "caught up after reconnecting"
    );
    crossing("both listeners reconnected", || {
        let now = db.listeners();
        now.len() == 2 && now.iter().all(|p| !before.contains(p))
    });
    push(pa, &ada, "text/markdown", "shared", &doc(5));
    pushes += 1;
    assert_eq!(watching.until("version").last().unwrap().data["version"], 5);
    set_roles(json!(["pm"]));
    crossing("role change after reconnecting", || sees(pb) == 200);

    // `grant-admin`, run beside the servers, reaches them too: Dan may list the members on B.
    let members = || get(pb, "/api/users", ("Authorization", &bearer(&dan))).0;
    assert_eq!(members(), 403, "a PM cannot manage users");
    let out = Command::new(BIN)
        .args(["grant-admin", "--login", "dan"])
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", "http://127.0.0.1:1".to_owned()),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("DATABASE_URL", db.url.clone()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    crossing("grant-admin beside the servers honoured on B", || {
        members() == 200
    });

    // 9. Rate limits hold across processes: the sign-in budget (30 per 15 minutes per address)
    // is spent once for both, whichever process answers.
    let mut allowed = sign_ins;
    let refused = loop {
        let since_first_sign_in = first_sign_in.elapsed();
        let port = if allowed % 2 == 0 { pa } else { pb };
        let origin = format!("http://127.0.0.1:{port}");
        let (status, ..) = raw(
            port,
            "POST",
            "/auth/dev",
            &[
                ("Origin", &origin),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "login=eve&redirect_to=/",
        );
        match status {
            303 => allowed += 1,
            429 => break port,
            other => panic!("sign-in answered {other}"),
        }
        assert!(allowed <= 40, "no limit after {allowed} sign-ins");
        // One request refills every 30 s: a slow run may earn one or two more.
        refills = since_first_sign_in.as_secs() / 30;
    };
    assert!(
        (30..=30 + refills).contains(&allowed),
        "one budget of 30 for both processes, not one each: {allowed} sign-ins passed"
    );
    let other = if refused == pa { pb } else { pa };
    let origin = format!("http://127.0.0.1:{other}");
    let (status, ..) = raw(
        other,
        "POST",
        "/auth/dev",
        &[
            ("Origin", &origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "login=eve&redirect_to=/",
    );
    assert_eq!(status, 429, "the other process refuses too");

    // 10. The outbox: both processes' workers race for every message; each is posted once.
    for n in 6..16 {
        push(
            if n % 2 == 0 { pa } else { pb },
            &ada,
            "text/markdown",
            "shared",
            &doc(n),
        );
        pushes += 1;
    }
    let posted = slack.wait_posted(pushes);
    std::thread::sleep(Duration::from_millis(500));
    let received = slack.received();
    let deliveries: HashSet<&str> = received.iter().map(|r| r.delivery.as_str()).collect();
    assert_eq!(posted.len(), pushes, "{received:#?}");
    assert_eq!(received.len(), pushes, "nothing sent twice: {received:#?}");
    assert_eq!(deliveries.len(), pushes);
    assert_eq!(
        db.count(
            // Slack's rows (each event also leaves one on the webhooks channel).
            "SELECT count(*) AS n FROM outbox \
             WHERE channel = 'slack' AND delivered_at IS NOT NULL AND attempts = 1"
        ),
        pushes as i64
    );
}

/// A second API token for the user of `cookie`: `(id, token)`.
fn dev_login_token(port: u16, cookie: &str, label: &str) -> (String, String) {
    let (status, body) = json_call(
        port,
        "POST",
        "/api/tokens",
        cookie,
        &json!({ "label": label }),
    );
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

fn push_private(port: u16, token: &str, name: &str, body: &str) -> String {
    let auth = bearer(token);
    let (status, _, _, answer) = raw(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &auth),
            ("Content-Type", "text/markdown"),
            ("X-Session-Name", name),
            ("X-Visibility", "private"),
        ],
        body,
    );
    assert!(status == 200 || status == 201, "{status} {answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    v["session_id"].as_str().unwrap().to_owned()
}

/// `nginx` from `PATH` or `/usr/sbin`; `None` outside CI without it (skipped with a note).
fn nginx_binary() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([std::path::PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file());
    match found {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "nginx is not installed: the proxy test must run in CI (apt install nginx-light)"
            )
        }
        None => {
            eprintln!("note: nginx is not installed; skipping the proxy test");
            None
        }
    }
}

/// The shipped `deploy/nginx.conf`, made runnable on loopback: the upstream names the two test
/// processes, the TLS server listens on plain HTTP at `port`, the port-80 redirect is dropped.
/// Everything else (the SSE location, proxy headers, body limit) is tested as shipped.
fn shipped_nginx_conf(port: u16, upstreams: [u16; 2]) -> String {
    let shipped = include_str!("../../../../deploy/nginx.conf");
    let (main, _redirect) = shipped
        .rsplit_once("server {\n    listen 80;")
        .expect("deploy/nginx.conf ends with the port-80 redirect server");
    let mut upstream_lines = upstreams
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};"));
    let mut out = String::new();
    for line in main.lines() {
        let t = line.trim();
        if t.starts_with("server 127.0.0.1:") {
            out.push_str(&upstream_lines.next().expect("two upstream servers"));
        } else if t.starts_with("listen 443") {
            out.push_str(&format!("    listen 127.0.0.1:{port};"));
        } else if t.starts_with("ssl_certificate") {
            continue;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(
        upstream_lines.next().is_none(),
        "the upstream lists two servers"
    );
    out
}

/// nginx in the foreground with `site` in its http block; killed at the end of the test.
fn start_nginx(bin: &std::path::Path, dir: &std::path::Path, site: &str, port: u16) -> Running {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nuser root root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin)
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_for(port);
    running
}

/// The `X-Request-Id` of the answer to `GET path` on `port`.
fn request_id(port: u16, path: &str, cookie: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let id = out
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-request-id")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, id)
}

/// The deployment the operations guide describes: two processes on one PostgreSQL behind nginx
/// with the shipped `deploy/nginx.conf`. People talk only to the proxy; whichever process serves
/// a push, a reader streaming through the proxy sees it live (SSE unbuffered through nginx), pages
/// are served by both, and the proxy's request id is the one the servers log and answer with.
#[test]
fn two_processes_behind_the_shipped_nginx_config_serve_one_team() {
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let Some(nginx) = nginx_binary() else {
        return;
    };
    let db = Database::create(admin_url);
    let (_slack, slack_port) = FakeSlack::start(vec![]);
    let (pa, pb, proxy) = (free_port(), free_port(), free_port());
    let behind = [
        ("BASE_URL", format!("http://127.0.0.1:{proxy}")),
        ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
    ];
    let _a = spawn_with(&db, pa, slack_port, &behind);
    let _b = spawn_with(&db, pb, slack_port, &behind);
    wait_for(pa);
    wait_for(pb);
    let dir = std::env::temp_dir().join(format!("{}-nginx", db.name));
    let _nginx = start_nginx(&nginx, &dir, &shipped_nginx_conf(proxy, [pa, pb]), proxy);

    // Sign-in, tokens and pushes through the proxy (the Origin is the public address).
    let (ada_cookie, ada) = dev_login(proxy, "ada");
    let (_, ben) = dev_login(proxy, "ben");
    push(proxy, &ada, "text/markdown", "proxied", &doc(1));
    let mut reader = Sse::open(proxy, "proxied", &ben, None);
    reader.until("ready");

    // Pushes that certainly land on each process (straight to it) and through the proxy (either):
    // the reader, streaming through nginx, sees every one of them at once, in order.
    for (n, port) in [(2, pa), (3, pb), (4, proxy), (5, proxy)] {
        let start = Instant::now();
        push(port, &ada, "text/markdown", "proxied", &doc(n));
        let frames = reader.until("version");
        assert_eq!(frames.last().unwrap().data["version"], n, "{frames:?}");
        eprintln!(
            "multiprocess: push {n} → event through nginx: {:?}",
            start.elapsed()
        );
        assert!(
            start.elapsed() < CROSSING,
            "the event crossed the proxy late (buffered?)"
        );
    }

    // Pages through the proxy: current on every request, and the request id is nginx's
    // (32 hex digits, trusted from TRUSTED_PROXIES), not one the server made up (16).
    for _ in 0..6 {
        let (status, body) = get(proxy, "/p/proxied", ("Cookie", &ada_cookie));
        assert_eq!(status, 200);
        assert!(body.contains("Step 5."), "a stale page through the proxy");
        let (status, id) = request_id(proxy, "/p/proxied", &ada_cookie);
        assert_eq!(status, 200);
        assert_eq!(
            id.len(),
            32,
            "nginx's $request_id is passed through: {id:?}"
        );
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
    }
    // Straight to a process, the server makes its own id.
    assert_eq!(request_id(pa, "/p/proxied", &ada_cookie).1.len(), 16);
}
