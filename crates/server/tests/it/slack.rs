//! Slack notifications end to end: the real `planpush-server` binary, with `SLACK_WEBHOOK_URL`
//! pointing at a fake Slack on 127.0.0.1 that receives real HTTP.
//!
//! The fake counts a message as *posted* when it has answered it with 200. A request it is told to
//! hold is never answered: if the client goes away meanwhile, it is recorded as aborted (not
//! posted), as a request Slack never finished receiving.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{BIN, Running, dev_login, free_port, push, raw, wait_for};

/// How the fake answers the next requests (then 200 for every later one).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    Status(u16),
    /// Answer 200 after this many milliseconds.
    Slow(u64),
    /// Never answer; wait until the client disconnects.
    Hold,
}

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) delivery: String,
    pub(crate) path: String,
    pub(crate) body: Value,
    /// The body exactly as sent (signatures are computed over it).
    pub(crate) raw: Vec<u8>,
    /// Every header, names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    /// The status answered, or `None` if the client went away first.
    pub(crate) answered: Option<u16>,
}

impl Received {
    /// The value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub(crate) struct State {
    script: VecDeque<Answer>,
    pub(crate) received: Vec<Received>,
    /// Requests being held right now.
    pub(crate) holding: usize,
}

#[derive(Clone, Default)]
pub(crate) struct FakeSlack {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl FakeSlack {
    pub(crate) fn start(script: Vec<Answer>) -> (Self, u16) {
        let fake = Self::default();
        fake.state.0.lock().unwrap().script = script.into();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let f = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let f = f.clone();
                std::thread::spawn(move || f.handle(stream));
            }
        });
        (fake, port)
    }

    fn handle(&self, mut s: TcpStream) {
        let Some((head, body)) = read_request(&mut s) else {
            return;
        };
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let delivery = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("x-planpush-delivery")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect();
        let raw = body.clone();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer = {
            let (m, _) = &*self.state;
            m.lock().unwrap().script.pop_front()
        };
        let answered = match answer.unwrap_or(Answer::Status(200)) {
            Answer::Status(code) => {
                let text = if code == 200 { "ok" } else { "oops" };
                let reply = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                s.write_all(reply.as_bytes()).ok().map(|_| code)
            }
            Answer::Slow(ms) => {
                self.update(|st| st.holding += 1);
                std::thread::sleep(Duration::from_millis(ms));
                self.update(|st| st.holding -= 1);
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                s.write_all(reply.as_bytes()).ok().map(|_| 200)
            }
            Answer::Hold => {
                self.update(|st| st.holding += 1);
                // Held until the client hangs up (read returns 0 or fails).
                let mut byte = [0u8; 1];
                while let Ok(n) = s.read(&mut byte) {
                    if n == 0 {
                        break;
                    }
                }
                self.update(|st| st.holding -= 1);
                None
            }
        };
        self.update(|st| {
            st.received.push(Received {
                delivery,
                path,
                body,
                raw,
                headers,
                answered,
            })
        });
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let (m, cv) = &*self.state;
        f(&mut m.lock().unwrap());
        cv.notify_all();
    }

    /// Waits (at most 30 s) until `cond` holds.
    pub(crate) fn wait(&self, what: &str, cond: impl Fn(&State) -> bool) {
        let (m, cv) = &*self.state;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut st = m.lock().unwrap();
        while !cond(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}: {:#?}",
                st.received
            );
            st = cv.wait_timeout(st, left).unwrap().0;
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.0.lock().unwrap().received.clone()
    }

    /// The messages answered with 200, in order.
    pub(crate) fn posted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == Some(200))
            .collect()
    }

    pub(crate) fn wait_posted(&self, n: usize) -> Vec<Received> {
        self.wait(&format!("{n} posted messages"), |st| {
            st.received
                .iter()
                .filter(|r| r.answered == Some(200))
                .count()
                >= n
        });
        self.posted()
    }
}

/// Reads one request: head and body (by Content-Length).
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = vec![];
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
    }
}

/// Starts the server with its outbox worker pointed at the fake, tuned for test speed.
fn server(dir: &std::path::Path, port: u16, slack_port: u16, timeout_ms: u32) -> Running {
    server_with(
        dir,
        port,
        timeout_ms,
        &[(
            "SLACK_WEBHOOK_URL",
            format!("http://127.0.0.1:{slack_port}/services/T000/B000/XXXX"),
        )],
    )
}

/// Starts the server with the given webhook variables (`SLACK_WEBHOOK_URL`, `TEAMS_WEBHOOK_URL`,
/// `DISCORD_WEBHOOK_URL`), tuned for test speed.
pub(crate) fn server_with(
    dir: &std::path::Path,
    port: u16,
    timeout_ms: u32,
    hooks: &[(&str, String)],
) -> Running {
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
            ("SLACK_TIMEOUT_MS", timeout_ms.to_string()),
            ("OUTBOX_POLL_INTERVAL_MS", "50".into()),
            ("OUTBOX_RETRY_BASE_MS", "300".into()),
            // Each push its own message here (bursts: `notify_burst.rs`); a test may override it.
            ("NOTIFY_BURST_WINDOW_MS", "0".into()),
        ])
        .envs(hooks.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    Running(child)
}

pub(crate) fn api(port: u16, token: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, _, answer) = raw(
        port,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

pub(crate) fn push_private(port: u16, token: &str, name: &str, body: &str) -> Value {
    let auth = format!("Bearer {token}");
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
    serde_json::from_str(&answer).unwrap()
}

pub(crate) const V1: &str =
    "# Launch: 1 < 2 & Co\n\n## Rollout\n\nStep one.\n\n## Risks\n\n- drift\n";
pub(crate) const V2: &str =
    "# Launch: 1 < 2 & Co\n\n## Rollout\n\nStep one, then two.\n\n## Rollback\n\nRevert.\n";

#[test]
fn pushes_comments_and_resolutions_reach_slack_as_exact_messages_and_private_plans_never_do() {
    let (slack, slack_port) = FakeSlack::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(dir.path(), port, slack_port, 1500);
    let (_, ada) = dev_login(port, "ada");
    let (_, bob) = dev_login(port, "bob");

    // A private plan with a version, a comment and a resolution first: none of it may reach Slack.
    let secret = push_private(port, &ada, "secret-plan", V1);
    let sid = secret["session_id"].as_str().unwrap().to_owned();
    push(port, &ada, "text/markdown", "secret-plan", V2);
    let (status, c) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{sid}/comments"),
        r#"{"body":"secret","anchor":"rollout"}"#,
    );
    assert_eq!(status, 201, "{c}");
    let cid = c["id"].as_str().unwrap();
    let (status, _) = api(
        port,
        &ada,
        "PATCH",
        &format!("/api/comments/{cid}"),
        r#"{"resolved":true}"#,
    );
    assert_eq!(status, 200);

    // Then a published plan: two versions, a comment on quoted text, a reply, a resolution.
    let first = push(port, &ada, "text/markdown", "launch", V1);
    let id = first["session_id"].as_str().unwrap().to_owned();
    push(port, &ada, "text/markdown", "launch", V2);
    let (status, thread) = api(
        port,
        &bob,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        r#"{"body":"Why <b>two</b> steps & not one? <!channel>","anchor":"rollout","quote":{"exact":"then two","prefix":"Step one, ","suffix":"."}}"#,
    );
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap().to_owned();
    let (status, reply) = api(
        port,
        &ada,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &format!(r#"{{"body":"Safer.","parent_id":"{tid}"}}"#),
    );
    assert_eq!(status, 201, "{reply}");
    let (status, _) = api(
        port,
        &bob,
        "PATCH",
        &format!("/api/comments/{tid}"),
        r#"{"resolved":true}"#,
    );
    assert_eq!(status, 200);

    // Oldest first, one at a time: the five published messages arrive in order, and the private
    // plan's four events (written before them) never arrive.
    let posted = slack.wait_posted(5);
    std::thread::sleep(Duration::from_millis(300));
    let posted_after = slack.posted();
    assert_eq!(posted_after.len(), 5, "{posted_after:#?}");
    let base = format!("http://127.0.0.1:{port}");
    let link = |rest: &str, text: &str| format!("<{base}/p/launch{rest}|{text}>");
    let title = "Launch: 1 &lt; 2 &amp; Co";
    let section =
        |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let context =
        |text: String| json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]});
    let expected = [
        json!({
            "text": format!("ada pushed a new plan {title}"),
            "blocks": [
                section(format!("*ada* pushed a new plan *{}*", link("", title))),
                section(format!("• Added: {}\n• Added: {}", link("#rollout", "Rollout"), link("#risks", "Risks"))),
            ]
        }),
        json!({
            "text": format!("ada pushed version 2 of {title}"),
            "blocks": [
                section(format!("*ada* pushed version 2 of *{}*", link("", title))),
                section(format!(
                    "• Added: {}\n• Changed: {} (+3 −1 words)\n• Removed: Risks",
                    link("#rollback", "Rollback"),
                    link("#rollout", "Rollout")
                )),
                context(format!(
                    "Sections: 1 added, 1 changed (+3 −1 words), 1 removed. · {}",
                    link("?v=2&amp;diff=1", "See what changed")
                )),
            ]
        }),
        json!({
            "text": format!("bob commented on Rollout in {title}"),
            "blocks": [
                section(format!("*bob* commented on *{}* in *{}*", link("#rollout", "Rollout"), link("", title))),
                section(">then two".into()),
                section("Why &lt;b&gt;two&lt;/b&gt; steps &amp; not one? &lt;!channel&gt;".into()),
                context(link("#rollout", "Open the thread")),
            ]
        }),
        json!({
            "text": format!("ada replied on Rollout in {title}"),
            "blocks": [
                section(format!("*ada* replied on *{}* in *{}*", link("#rollout", "Rollout"), link("", title))),
                section(">then two".into()),
                section("Safer.".into()),
                context(link("#rollout", "Open the thread")),
            ]
        }),
        json!({
            "text": format!("bob resolved a thread on Rollout in {title}"),
            "blocks": [
                section(format!("*bob* resolved a thread on *{}* in *{}*", link("#rollout", "Rollout"), link("", title))),
                section(">Why &lt;b&gt;two&lt;/b&gt; steps &amp; not one? &lt;!channel&gt;".into()),
            ]
        }),
    ];
    for (i, (got, want)) in posted.iter().zip(&expected).enumerate() {
        assert_eq!(&got.body, want, "message {i}");
        assert_eq!(got.path, "/services/T000/B000/XXXX");
    }
    let ids: std::collections::HashSet<_> = posted.iter().map(|r| &r.delivery).collect();
    assert_eq!(ids.len(), 5, "every message has its own delivery id");
    assert!(
        !posted_after
            .iter()
            .any(|r| r.body.to_string().contains("secret")),
        "nothing of the private plan"
    );
}

#[test]
fn server_errors_are_retried_with_backoff_until_slack_accepts() {
    let (slack, slack_port) = FakeSlack::start(vec![
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(500),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(dir.path(), port, slack_port, 1500);
    let (_, ada) = dev_login(port, "ada");
    let started = Instant::now();
    let answer_time = Instant::now();
    push(port, &ada, "text/markdown", "launch", V1);
    assert!(
        answer_time.elapsed() < Duration::from_secs(2),
        "a failing Slack does not slow the push"
    );
    let posted = slack.wait_posted(1);
    let took = started.elapsed();
    let received = slack.received();
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [Some(500), Some(503), Some(500), Some(200)]
    );
    assert!(
        received
            .iter()
            .all(|r| r.delivery == posted[0].delivery && r.body == posted[0].body),
        "the same message, with the same idempotency key, each time"
    );
    // Backoff 300 ms, 600 ms, 1200 ms: at least 2.1 s between the first attempt and the success.
    assert!(took >= Duration::from_millis(2100), "{took:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(slack.received().len(), 4, "nothing more once accepted");
}

#[test]
fn killed_mid_delivery_and_restarted_every_message_is_posted_exactly_once() {
    // The first request is held until the server dies.
    let (slack, slack_port) = FakeSlack::start(vec![Answer::Hold]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut first = server(dir.path(), port, slack_port, 4000);
    let (_, ada) = dev_login(port, "ada");
    let (_, bob) = dev_login(port, "bob");
    let plan = push(port, &ada, "text/markdown", "launch", V1);
    let id = plan["session_id"].as_str().unwrap().to_owned();
    slack.wait("the held request", |st| st.holding == 1);
    // While Slack holds the first message, more are written; the request is not slowed.
    let t0 = Instant::now();
    push(port, &ada, "text/markdown", "launch", V2);
    let (status, _) = api(
        port,
        &bob,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        r#"{"body":"Rollback tested?","anchor":"rollback"}"#,
    );
    assert_eq!(status, 201);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());

    // kill -9 mid-delivery.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    slack.wait("the held request to be dropped", |st| {
        st.holding == 0 && st.received.iter().any(|r| r.answered.is_none())
    });
    let aborted = slack.received();
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].answered, None);

    // Restarted on the same data: the held message is retried when its lease (2 × 4 s) ends,
    // then the others follow.
    let _second = server(dir.path(), port, slack_port, 4000);
    let posted = slack.wait_posted(3);
    std::thread::sleep(Duration::from_millis(500));
    let posted = {
        let again = slack.posted();
        assert_eq!(again.len(), posted.len());
        again
    };
    // The interrupted message waited for its lease, so the others overtook it: order across a
    // crash is not kept (see docs/operations.md).
    let mut texts: Vec<&str> = posted
        .iter()
        .map(|r| r.body["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        [
            "ada pushed a new plan Launch: 1 &lt; 2 &amp; Co",
            "ada pushed version 2 of Launch: 1 &lt; 2 &amp; Co",
            "bob commented on Rollback in Launch: 1 &lt; 2 &amp; Co",
        ]
    );
    let retried: Vec<_> = posted
        .iter()
        .filter(|r| r.delivery == aborted[0].delivery)
        .collect();
    assert_eq!(
        retried.len(),
        1,
        "the interrupted message was retried under its idempotency key"
    );
    assert_eq!(retried[0].body, aborted[0].body);
    assert_eq!(
        retried[0].body["text"],
        "ada pushed a new plan Launch: 1 &lt; 2 &amp; Co"
    );
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for r in &posted {
        *per_id.entry(r.delivery.as_str()).or_default() += 1;
    }
    assert!(
        per_id.values().all(|&n| n == 1),
        "no duplicates: {per_id:?}"
    );
    assert_eq!(per_id.len(), 3);
}

#[test]
fn a_graceful_stop_finishes_the_delivery_in_flight_and_a_restart_does_not_send_it_again() {
    // Slack takes a second to answer the first message.
    let (slack, slack_port) = FakeSlack::start(vec![Answer::Slow(1000)]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut first = server(dir.path(), port, slack_port, 2000);
    let (_, ada) = dev_login(port, "ada");
    push(port, &ada, "text/markdown", "launch", V1);
    slack.wait("the slow request", |st| st.holding == 1);
    let status = Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = first.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        slack
            .received()
            .iter()
            .map(|r| r.answered)
            .collect::<Vec<_>>(),
        [Some(200)],
        "the attempt in flight was finished before the process exited"
    );
    // Restarted: the message was recorded as delivered, so it is not sent again, even after its
    // lease (2 × 2 s) would have ended.
    let _second = server(dir.path(), port, slack_port, 2000);
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(slack.received().len(), 1, "{:#?}", slack.received());
}
