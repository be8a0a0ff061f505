//! Live updates and comments under load:
//!
//! - **SSE fan-out**: 200 viewers hold `GET /p/{slug}/events` open on the release server (SQLite);
//!   a push of a new version of the ~50 KB document is timed from the start of the push request
//!   to each viewer's receipt of the `version` event (5 rounds → 1,000 samples).
//! - **comments list**: `Comments::list` of a plan with 1,000 comments (500 threads, 500 replies),
//!   in-process on SQLite — the server time of `GET /api/sessions/{id}/comments`.
//! - **re-anchoring**: `Comments::reanchor` of 500 open threads (text quotes spread over the
//!   document) after a push that edits, reorders and renames sections of the ~50 KB document, with
//!   the state writes, in-process on SQLite.
//!
//! Run by `cargo xtask bench live`, which builds the release server and passes its path in
//! `PLANPUSH_SERVER_BIN`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bench_support::{Server, scaled};
use chrono::Utc;
use planpush_app::{
    AccessCache, AuthMethod, Comments, NewComment, Principal, Push, PushRequest, SignIn,
    VerifiedProfile,
};
use planpush_identity::{ExternalIdentity, Provider};
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_versions::{SourceFormat, VersionNumber};

const VIEWERS: usize = 200;
const ROUNDS: usize = 5;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// One viewer: opens the stream, says when it is ready, then reports each `version` event.
fn viewer(port: u16, cookie: String, ready: mpsc::Sender<()>, got: mpsc::Sender<Instant>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /p/live/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    let mut seen = 0;
    loop {
        line.clear();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.starts_with("event: ready") {
            ready.send(()).unwrap();
        } else if line.starts_with("event: version") {
            got.send(Instant::now()).unwrap();
            seen += 1;
            if seen == ROUNDS {
                return;
            }
        }
    }
}

fn sse_fanout(bin: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin, dir.path());
    let (cookie, token) = server.sign_in("bench");
    let bearer = format!("Bearer {token}");
    let doc = scaled(50 * 1024);
    let push = |body: &str| {
        let (status, _, answer) = server.call(
            "POST",
            "/api/push",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "text/html"),
                ("X-Session-Name", "live"),
            ],
            body,
        );
        assert!(status == 200 || status == 201, "{status} {answer}");
    };
    push(&doc);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (got_tx, got_rx) = mpsc::channel();
    let threads: Vec<_> = (0..VIEWERS)
        .map(|_| {
            let (cookie, ready, got) = (cookie.clone(), ready_tx.clone(), got_tx.clone());
            let port = server.port;
            std::thread::spawn(move || viewer(port, cookie, ready, got))
        })
        .collect();
    for _ in 0..VIEWERS {
        ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    }
    let mut latencies = vec![];
    let mut push_times = vec![];
    for round in 0..ROUNDS {
        let next = doc.replacen(
            "<h2>Authentication Flow</h2>",
            &format!("<h2>Authentication Flow</h2><p>Round {round}.</p>"),
            1,
        );
        let start = Instant::now();
        push(&next);
        push_times.push(start.elapsed());
        for _ in 0..VIEWERS {
            let at = got_rx.recv_timeout(Duration::from_secs(30)).unwrap();
            latencies.push(at.saturating_duration_since(start));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for t in threads {
        t.join().unwrap();
    }
    let (peak, _) = server.rss();
    latencies.sort();
    push_times.sort();
    format!(
        "| {VIEWERS} viewers × {ROUNDS} pushes | {} | {} | {} | {} | {peak:.1} MB |\n",
        ms(pct(&push_times, 0.5)),
        ms(pct(&latencies, 0.5)),
        ms(pct(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    )
}

async fn person(sign_in: &SignIn, access: &AccessCache, login: &str) -> Principal {
    let id = sign_in
        .sign_in(
            VerifiedProfile {
                identity: ExternalIdentity::new(Provider::Dev, login).unwrap(),
                login: login.to_owned(),
                name: None,
                email: None,
                avatar_url: None,
                groups: vec![],
                logout_hint: None,
            },
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    access
        .principal(id, AuthMethod::Session)
        .await
        .unwrap()
        .unwrap()
}

/// Sections of the document reordered (the first two swapped), one renamed, and text edited.
fn edited(doc: &str) -> String {
    let first = doc.find("<section").unwrap();
    let second = first + 1 + doc[first + 1..].find("<section").unwrap();
    let third = second + 1 + doc[second + 1..].find("<section").unwrap();
    let mut out = String::new();
    out.push_str(&doc[..first]);
    out.push_str(&doc[second..third]);
    out.push_str(&doc[first..second]);
    out.push_str(&doc[third..]);
    out.replace(
        "data-anchor=\"risk-revocation\"",
        "data-anchor=\"risk-theft\"",
    )
    .replace("Dual-write sessions", "Dual-write sessions for two weeks")
}

async fn comments_and_reanchoring() -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        DbTarget::Sqlite(dir.path().join("live.db")),
        &StoreOptions::default(),
    )
    .unwrap();
    store.migrate().unwrap();
    let ports = store.ports();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let sign_in = SignIn::new(ports.clone(), access.clone());
    let ada = person(&sign_in, &access, "ada").await;
    let push = Push::new(
        ports.clone(),
        Default::default(),
        Arc::new(planpush_diagrams::MermaidRenderer),
    );
    let comments = Comments::new(ports.clone());
    let doc = scaled(50 * 1024);
    let push_doc = async |body: String, name: &str| {
        push.push(
            &ada,
            PushRequest {
                body,
                format: SourceFormat::Html,
                name: Some(name.to_owned()),
                session_id: None,
                visibility: None,
            },
            None,
            Utc::now(),
        )
        .await
        .unwrap()
    };

    // 1,000 comments: 500 threads over the document's anchors, each with one reply.
    let listed = push_doc(doc.clone(), "listed").await.plan;
    let v1 = ports
        .versions
        .get(listed.id(), VersionNumber::FIRST)
        .await
        .unwrap();
    let anchors: Vec<String> = v1
        .sections
        .entries()
        .iter()
        .map(|e| e.anchor.as_str().to_owned())
        .collect();
    let (text, spans) = planpush_document::anchored_text(&v1.html);
    let quoted: Vec<_> = spans
        .iter()
        .filter(|(_, r)| text[r.clone()].chars().count() > 40)
        .collect();
    let mut threads = vec![];
    for i in 0..500 {
        let (anchor, range) = quoted[i % quoted.len()];
        let chars: Vec<char> = text[range.clone()].chars().collect();
        let mid = chars.len() / 2;
        let take = |a: usize, b: usize| {
            chars[a.min(chars.len())..b.min(chars.len())]
                .iter()
                .collect::<String>()
        };
        let exact = take(mid.saturating_sub(10), mid + 10);
        let prefix = take(mid.saturating_sub(42), mid.saturating_sub(10));
        let suffix = take(mid + 10, mid + 42);
        let t = comments
            .create(
                &ada,
                listed.id(),
                NewComment {
                    body: format!("Thread {i}: what about **this**?"),
                    anchor: Some(anchor.as_str().to_owned()),
                    quote: Some((exact, prefix, suffix)),
                    parent_id: None,
                },
                None,
                Utc::now(),
            )
            .await
            .unwrap();
        threads.push(t.comment.id().to_string());
    }
    for (i, t) in threads.iter().enumerate() {
        comments
            .create(
                &ada,
                listed.id(),
                NewComment {
                    body: format!("Reply {i}"),
                    parent_id: Some(t.clone()),
                    ..Default::default()
                },
                None,
                Utc::now(),
            )
            .await
            .unwrap();
    }
    assert!(anchors.len() > 10);
    let mut lists = vec![];
    for _ in 0..30 {
        let start = Instant::now();
        let got = comments
            .list(&ada, listed.id(), planpush_comments::StateFilter::All, None)
            .await
            .unwrap();
        lists.push(start.elapsed());
        assert_eq!(
            got.len() + got.iter().map(|t| t.replies.len()).sum::<usize>(),
            1000
        );
    }
    lists.sort();
    let list_row = format!(
        "| list 1,000 comments (500 threads + 500 replies) | {} | {} |\n",
        ms(pct(&lists, 0.5)),
        ms(pct(&lists, 0.99))
    );

    // Re-anchoring: v2 edits, reorders and renames; alternate v1 → v2 → v1 so states change each time.
    let v2_outcome = push_doc(edited(&doc), "listed").await;
    let v2 = ports
        .versions
        .get(listed.id(), v2_outcome.version)
        .await
        .unwrap();
    let mut runs = vec![];
    let mut counts = None;
    for i in 0..20 {
        let (prev, cur) = if i % 2 == 0 { (&v1, &v2) } else { (&v2, &v1) };
        let start = Instant::now();
        let c = comments
            .reanchor(listed.id(), Some(&prev.sections), cur)
            .await
            .unwrap();
        runs.push(start.elapsed());
        if i == 0 {
            counts = Some(c);
        }
    }
    runs.sort();
    let c = counts.unwrap();
    let reanchor_row = format!(
        "| re-anchor 500 open threads after a push (~{} KB; {} anchored, {} changed, {} moved, {} orphaned) | {} | {} |\n",
        v2.html.len() / 1024,
        c.anchored,
        c.changed,
        c.moved,
        c.orphaned,
        ms(pct(&runs, 0.5)),
        ms(pct(&runs, 0.99))
    );
    (list_row, reanchor_row)
}

#[tokio::main]
async fn main() {
    let bin = std::env::var("PLANPUSH_SERVER_BIN").expect(
        "PLANPUSH_SERVER_BIN: the release planpush-server binary (cargo xtask bench sets it)",
    );
    let fanout = tokio::task::spawn_blocking(move || sse_fanout(&bin))
        .await
        .unwrap();
    let (list_row, reanchor_row) = comments_and_reanchoring().await;
    println!("| SSE fan-out | push (p50) | event received p50 | p99 | max | server peak RSS |");
    println!("|---|---|---|---|---|---|");
    print!("{fanout}");
    println!();
    println!("| in-process, SQLite | p50 | p99 |");
    println!("|---|---|---|");
    print!("{list_row}{reanchor_row}");
}
