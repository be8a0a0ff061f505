//! `AUTH_PROVIDER=okta` end to end against a REAL OpenID Provider: npm `oidc-provider` (certified)
//! run by `crates/server/tests/oidc/provider.mjs` on 127.0.0.1, and the real server binary. A small
//! cookie-keeping HTTP client walks the browser's path: PlanPush → the provider's authorization
//! endpoint → its (non-interactive) login → back to `/auth/callback`.
//!
//! Covered: a bootstrap admin's first sign-in, an unmapped user (no session), an unverified e-mail
//! that looks like a bootstrap admin (no session), mappings created over the admin API, a mapped
//! user, a user whose groups change between two sign-ins (sso grants follow, manual grants stay),
//! a mapping change applied to a signed-in user's next request, key rotation at the provider
//! between two sign-ins, a replayed callback, a code injected into another browser's sign-in
//! (PKCE), single logout reaching the provider's end-session endpoint, and the GitHub and dev
//! routes answering 404.
//!
//! The provider needs `npm ci` in `crates/server/tests/oidc` (`.ci/run` does it). Without it the
//! test fails under `CI=true` and is reported and skipped elsewhere.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{BIN, Running, free_port, wait_for};

const CLIENT_ID: &str = "planpush-e2e";
const CLIENT_SECRET: &str = "a-client-secret-for-the-e2e-test";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether the provider's npm packages are installed (fails loudly in CI when they are not).
pub(crate) fn provider_available() -> bool {
    let installed = provider_dir()
        .join("node_modules/oidc-provider/package.json")
        .exists();
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    match (node, installed) {
        (true, true) => true,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "the OIDC provider is required in CI: node and `npm ci` in crates/server/tests/oidc (.ci/run does it)"
        ),
        _ => {
            eprintln!(
                "note: node or crates/server/tests/oidc/node_modules missing (run `npm ci` there); skipping the OIDC test"
            );
            false
        }
    }
}

/// The provider process and its issuer URL.
pub(crate) struct Op {
    _child: Running,
    pub issuer: String,
    pub port: u16,
}

pub(crate) fn start_provider(base: &str) -> Op {
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(provider_dir())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URI", format!("{base}/auth/callback"))
        .env("POST_LOGOUT_REDIRECT_URI", base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep draining both pipes: a closed pipe would kill the provider at its next log line.
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !line.contains("WARNING") {
                eprintln!("provider: {line}");
            }
        }
    });
    let stdout = child.stdout.take().unwrap();
    let child = Running(child);
    // Read on a thread, so that a provider that never says it listens fails the test in 30 s
    // instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.strip_prefix("listening ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(i.trim().to_owned());
            }
        }
    });
    let issuer = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the provider did not say it listens within 30 s (or exited)");
    let port = url::Url::parse(&issuer).unwrap().port().unwrap();
    Op {
        _child: child,
        issuer,
        port,
    }
}

/// One HTTP/1.1 exchange on 127.0.0.1: `(status, headers (lower-case names), body)`.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
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
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let out = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, headers, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A browser: one cookie jar per port, redirects followed by the caller.
#[derive(Default, Clone)]
pub(crate) struct Browser {
    jars: HashMap<u16, HashMap<String, String>>,
}

pub(crate) struct Answer {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Browser {
    pub fn request(
        &mut self,
        url: &str,
        method: &str,
        extra: &[(&str, String)],
        body: &str,
    ) -> Answer {
        let u = url::Url::parse(url).unwrap();
        let port = u.port().unwrap();
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        let jar = self.jars.entry(port).or_default();
        let mut headers: Vec<(&str, String)> = extra.to_vec();
        if !jar.is_empty() {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.push(("Cookie", cookie));
        }
        let (status, hs, body) = exchange(port, method, &path, &headers, body);
        let mut location = String::new();
        for (k, v) in hs {
            if k == "set-cookie" {
                let pair = v.split(';').next().unwrap_or_default();
                let expired = v.to_lowercase().contains("max-age=0")
                    || v.to_lowercase().contains("expires=thu, 01 jan 1970");
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() || expired {
                        jar.remove(name.trim());
                    } else {
                        jar.insert(name.trim().to_owned(), value.to_owned());
                    }
                }
            } else if k == "location" {
                location = v;
            }
        }
        // Relative redirects resolve against the request URL.
        if !location.is_empty() {
            location = u.join(&location).unwrap().to_string();
        }
        Answer {
            status,
            location,
            body,
        }
    }

    pub fn get(&mut self, url: &str) -> Answer {
        self.request(url, "GET", &[], "")
    }

    /// A JSON API call with this browser's cookie (and the same-origin `Origin` a page sends).
    pub fn api(&mut self, base: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let a = self.request(
            &format!("{base}{path}"),
            method,
            &[
                ("Origin", base.to_owned()),
                ("Content-Type", "application/json".to_owned()),
            ],
            &text,
        );
        (
            a.status,
            serde_json::from_str(&a.body).unwrap_or(Value::Null),
        )
    }

    pub fn me(&mut self, base: &str) -> (u16, Value) {
        self.api(base, "GET", "/api/auth/me", Value::Null)
    }
}

fn op_post(op: &Op, path: &str, body: Value) {
    let (status, _, text) = exchange(
        op.port,
        "POST",
        path,
        &[("Content-Type", "application/json".to_owned())],
        &body.to_string(),
    );
    assert_eq!(status, 200, "{path}: {text}");
}

fn op_log(op: &Op) -> Value {
    let (_, _, text) = exchange(op.port, "GET", "/test/log", &[], "");
    serde_json::from_str(&text).unwrap()
}

/// Starts a sign-in in `b` and walks the provider's side; returns the callback URL the provider
/// sends the browser to (not yet visited).
pub(crate) fn to_callback(
    b: &mut Browser,
    base: &str,
    op: &Op,
    sub: &str,
    redirect_to: &str,
) -> String {
    op_post(op, "/test/login-as", json!({"sub": sub}));
    let a = b.get(&format!("{base}/auth/login?redirect_to={redirect_to}"));
    assert_eq!(a.status, 302, "{}", a.body);
    assert!(
        a.location.starts_with(&format!("{}/auth?", op.issuer)),
        "{}",
        a.location
    );
    let q: HashMap<String, String> = url::Url::parse(&a.location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q["scope"].split(' ').any(|s| s == "groups"),
        "{}",
        q["scope"]
    );
    assert!(!q["nonce"].is_empty() && !q["state"].is_empty());
    let mut next = a.location;
    for _ in 0..10 {
        if next.starts_with(base) {
            return next;
        }
        let a = b.get(&next);
        assert!(
            (300..400).contains(&a.status),
            "the provider answered {} at {next}: {}",
            a.status,
            a.body
        );
        next = a.location;
    }
    panic!("too many redirects at the provider");
}

/// A whole sign-in; returns the callback's answer.
pub(crate) fn sign_in(b: &mut Browser, base: &str, op: &Op, sub: &str) -> Answer {
    let callback = to_callback(b, base, op, sub, "/dashboard");
    b.get(&callback)
}

fn roles(me: &Value) -> Vec<String> {
    me["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn grants(me: &Value) -> Vec<(String, String)> {
    let mut g: Vec<(String, String)> = me["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["role"].as_str().unwrap().to_owned(),
                g["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    g.sort();
    g
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

/// The server in OIDC mode against `op`.
pub(crate) fn okta_server(dir: &std::path::Path, port: u16, issuer: &str, admins: &str) -> Running {
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("AUTH_PROVIDER", "okta".into()),
            ("OKTA_ISSUER", issuer.to_owned()),
            ("OKTA_CLIENT_ID", CLIENT_ID.into()),
            ("OKTA_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("INITIAL_ADMIN_EMAILS", admins.to_owned()),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    wait_for(port);
    Running(child)
}

/// The accounts the provider knows, with their groups.
pub(crate) fn accounts(mover_groups: &[&str]) -> Value {
    json!({
        "root": {"email": "root@example.com", "email_verified": true, "name": "Root Admin", "groups": []},
        "dev1": {"email": "dev1@example.com", "email_verified": true, "name": "Dev One", "groups": ["engineering", "everyone"]},
        "nobody": {"email": "nobody@example.com", "email_verified": true, "groups": ["marketing"]},
        "spoof": {"email": "boss@example.com", "email_verified": false, "groups": ["marketing"]},
        "mover": {"email": "mover@example.com", "email_verified": true, "groups": mover_groups},
    })
}

#[test]
fn okta_sign_in_end_to_end() {
    if !provider_available() {
        return;
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let op = start_provider(&base);
    op_post(&op, "/test/accounts", accounts(&["engineering"]));
    let dir = tempfile::tempdir().unwrap();
    let _server = okta_server(
        dir.path(),
        port,
        &op.issuer,
        "Root@Example.com, boss@example.com",
    );

    // GitHub's and the dev provider's routes do not exist in this mode.
    let mut anon = Browser::default();
    for (method, path, body) in [
        ("GET", "/auth/github", ""),
        ("GET", "/auth/github/callback?code=x&state=y", ""),
        ("POST", "/auth/dev", "login=root&redirect_to=/"),
    ] {
        let a = anon.request(
            &format!("{base}{path}"),
            method,
            &[
                ("Origin", base.clone()),
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            body,
        );
        assert_eq!(a.status, 404, "{method} {path}");
    }
    // The dashboard tile's entry point starts the same flow.
    let a = anon.get(&format!("{base}/auth/initiate_login_uri"));
    assert_eq!(a.status, 302);
    assert!(a.location.starts_with(&format!("{}/auth?", op.issuer)));

    // 1. The bootstrap admin's first sign-in (e-mail matched case-insensitively, verified).
    let mut root = Browser::default();
    let a = sign_in(&mut root, &base, &op, "root");
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, format!("{base}/dashboard").as_str()),
        "{}\nserver log:\n{}",
        a.body,
        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
    );
    let (status, me) = root.me(&base);
    assert_eq!(status, 200);
    assert_eq!(roles(&me), ["admin"]);
    assert_eq!(grants(&me), [pair("admin", "manual")]);
    assert_eq!(me["email"], "root@example.com");

    // 2. Unmapped: "access not yet granted", no session.
    let mut nobody = Browser::default();
    let a = sign_in(&mut nobody, &base, &op, "nobody");
    assert_eq!(a.status, 403);
    assert!(a.body.contains("Access not yet granted"), "{}", a.body);
    assert!(
        a.body.contains("marketing"),
        "the page names the groups seen"
    );
    assert_eq!(nobody.me(&base).0, 401);

    // 3. An unverified e-mail listed in INITIAL_ADMIN_EMAILS makes nobody an admin.
    let mut spoof = Browser::default();
    let a = sign_in(&mut spoof, &base, &op, "spoof");
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(spoof.me(&base).0, 401);

    // 4. The admin maps groups to roles.
    for (group, role) in [("engineering", "developer"), ("qa-team", "qa")] {
        let (status, m) = root.api(
            &base,
            "POST",
            "/api/admin/group-mappings",
            json!({"group": group, "role": role}),
        );
        assert_eq!(status, 201, "{m}");
        assert_eq!(
            (m["group"].as_str(), m["role"].as_str()),
            (Some(group), Some(role))
        );
    }
    let (status, list) = root.api(&base, "GET", "/api/admin/group-mappings", Value::Null);
    assert_eq!(status, 200);
    assert_eq!(
        list["mappings"],
        json!([{"group": "engineering", "role": "developer"}, {"group": "qa-team", "role": "qa"}])
    );

    // 5. A mapped user gets the mapped role as an sso grant.
    let mut dev1 = Browser::default();
    let a = sign_in(&mut dev1, &base, &op, "dev1");
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, me) = dev1.me(&base);
    assert_eq!(grants(&me), [pair("developer", "sso")]);
    // The mapping API is for admins only.
    assert_eq!(
        dev1.api(&base, "GET", "/api/admin/group-mappings", Value::Null)
            .0,
        403
    );

    // 6. Groups change between two sign-ins: sso grants follow, manual grants stay.
    let mut mover = Browser::default();
    assert_eq!(sign_in(&mut mover, &base, &op, "mover").status, 303);
    let (_, me) = mover.me(&base);
    assert_eq!(grants(&me), [pair("developer", "sso")]);
    let id = me["id"].as_str().unwrap().to_owned();
    let (status, m) = root.api(
        &base,
        "PATCH",
        &format!("/api/users/{id}"),
        json!({"roles": ["project_manager"]}),
    );
    assert_eq!(status, 200, "{m}");
    op_post(&op, "/test/accounts", accounts(&["qa-team"]));
    let mut mover2 = Browser::default();
    assert_eq!(sign_in(&mut mover2, &base, &op, "mover").status, 303);
    let (_, me) = mover2.me(&base);
    assert_eq!(
        grants(&me),
        [pair("project_manager", "manual"), pair("qa", "sso")]
    );
    // The first browser's session sees the same roles at once.
    assert_eq!(roles(&mover.me(&base).1), ["project_manager", "qa"]);

    // 7. A mapping change takes effect on a signed-in user's next request.
    let (status, _) = root.api(
        &base,
        "DELETE",
        "/api/admin/group-mappings?group=engineering&role=developer",
        Value::Null,
    );
    assert_eq!(status, 204);
    assert_eq!(dev1.me(&base).1["roles"], json!([]));
    let (status, _) = root.api(
        &base,
        "POST",
        "/api/admin/group-mappings",
        json!({"group": "everyone", "role": "developer"}),
    );
    assert_eq!(status, 201);
    assert_eq!(roles(&dev1.me(&base).1), ["developer"]);
    // Every change was audited.
    let (_, audit) = root.api(
        &base,
        "GET",
        "/api/audit?action=mapping.removed",
        Value::Null,
    );
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(1), "{audit}");
    let (_, audit) = root.api(
        &base,
        "GET",
        "/api/audit?action=user.grant_removed",
        Value::Null,
    );
    let sso_removals = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["origin"] == "sso")
        .count();
    assert!(
        sso_removals >= 2,
        "mover's developer and dev1's developer: {audit}"
    );

    // 8. Key rotation at the provider between two sign-ins signs nobody out.
    let before = op_log(&op)["jwks"].as_u64().unwrap();
    op_post(&op, "/test/rotate", json!({}));
    let mut dev1b = Browser::default();
    let a = sign_in(&mut dev1b, &base, &op, "dev1");
    assert_eq!(a.status, 303, "sign-in after rotation: {}", a.body);
    assert_eq!(roles(&dev1b.me(&base).1), ["developer"]);
    assert!(
        op_log(&op)["jwks"].as_u64().unwrap() > before,
        "the new key was fetched"
    );

    // 9. A replayed callback is refused.
    let mut replay = Browser::default();
    let callback = to_callback(&mut replay, &base, &op, "dev1", "/");
    assert_eq!(replay.get(&callback).status, 303);
    let mut again = replay.clone();
    let a = again.get(&callback);
    assert_eq!(a.status, 400, "{}", a.body);

    // A callback claiming another issuer (RFC 9207 mix-up) is refused before any exchange.
    let mut mixup = Browser::default();
    let cb = url::Url::parse(&to_callback(&mut mixup, &base, &op, "dev1", "/")).unwrap();
    assert!(
        cb.query_pairs()
            .any(|(k, v)| k == "iss" && v == op.issuer.as_str())
    );
    let mut forged = cb.clone();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(cb.query_pairs().filter(|(k, _)| k != "iss"))
        .append_pair("iss", "https://evil.example.com");
    assert_eq!(mixup.get(forged.as_str()).status, 400);
    assert_eq!(mixup.me(&base).0, 401);

    // 10. A code from one browser's sign-in, injected into another browser's sign-in with that
    // browser's own state, is refused: the PKCE verifier (and nonce) do not match.
    let mut victim = Browser::default();
    let stolen = to_callback(&mut victim, &base, &op, "dev1", "/");
    let code = url::Url::parse(&stolen)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut attacker = Browser::default();
    let own = to_callback(&mut attacker, &base, &op, "nobody", "/");
    let state = url::Url::parse(&own)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let a = attacker.get(&format!("{base}/auth/callback?code={code}&state={state}"));
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(attacker.me(&base).0, 401);

    // 11. Single logout: the session ends here and the browser goes to the provider's
    // end-session endpoint, which accepts the hint (a bad one would answer 400).
    let a = dev1.request(
        &format!("{base}/auth/logout"),
        "POST",
        &[("Origin", base.clone())],
        "",
    );
    assert_eq!(a.status, 303);
    assert!(
        a.location
            .starts_with(&format!("{}/session/end?", op.issuer)),
        "{}",
        a.location
    );
    let q: HashMap<String, String> = url::Url::parse(&a.location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["post_logout_redirect_uri"], base);
    assert!(!q["state"].is_empty());
    assert_eq!(q["id_token_hint"].split('.').count(), 3, "an ID token");
    assert_eq!(dev1.me(&base).0, 401, "the server-side session is gone");
    let at_op = dev1.get(&a.location);
    assert_eq!(
        at_op.status, 200,
        "the provider accepted the logout request: {}",
        at_op.body
    );
    // The person confirms at the provider and comes back to POST_LOGOUT_REDIRECT_URI with the state.
    let xsrf = at_op
        .body
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the provider's logout form")
        .to_owned();
    let done = dev1.request(
        &format!("{}/session/end/confirm", op.issuer),
        "POST",
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        &format!("xsrf={xsrf}&logout=yes"),
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let back = url::Url::parse(&done.location).unwrap();
    assert_eq!(
        done.location
            .split('?')
            .next()
            .map(|u| u.trim_end_matches('/')),
        Some(base.as_str())
    );
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "state" && v == q["state"].as_str())
    );
    let log = op_log(&op);
    assert_eq!(log["end_session"][0]["client_id"], CLIENT_ID);
    assert_eq!(
        log["end_session"][0]["id_token_hint"],
        q["id_token_hint"].as_str()
    );

    // The session cookie never carries the ID token: only a session key.
    let cookie = dev1b.jars[&port]
        .get("planpush_session")
        .cloned()
        .unwrap_or_default();
    assert!(!cookie.contains(&q["id_token_hint"][..20]));
    let _ = Instant::now();
}
