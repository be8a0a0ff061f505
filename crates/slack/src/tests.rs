#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BASE: &str = "https://plans.example.com";

fn plan() -> PlanRef {
    PlanRef {
        slug: "auth-redesign".into(),
        title: "Auth <Service> & Redesign".into(),
    }
}

fn change(anchor: &str, title: &str, change: SectionChangeKind) -> SectionChange {
    SectionChange {
        anchor: anchor.into(),
        title: title.into(),
        change,
        words: None,
    }
}

#[test]
fn a_new_version_lists_its_changed_sections_with_deep_links() {
    let n = Notification::VersionPushed {
        plan: plan(),
        version: 3,
        by: "ada".into(),
        sections: vec![
            change("risks", "Risks", SectionChangeKind::Added),
            change("auth-flow", "Auth <flow>", SectionChangeKind::Changed),
            change("legacy", "Legacy & old", SectionChangeKind::Removed),
        ],
        more_sections: 0,
        summary: None,
    };
    assert_eq!(
        render(&n, "https://plans.example.com/"),
        json!({
            "text": "ada pushed version 3 of Auth &lt;Service&gt; &amp; Redesign",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text":
                    "*ada* pushed version 3 of *<https://plans.example.com/p/auth-redesign|Auth &lt;Service&gt; &amp; Redesign>*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text":
                    "• Added: <https://plans.example.com/p/auth-redesign#risks|Risks>\n\
                     • Changed: <https://plans.example.com/p/auth-redesign#auth-flow|Auth &lt;flow&gt;>\n\
                     • Removed: Legacy &amp; old"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text":
                    "<https://plans.example.com/p/auth-redesign?v=3&amp;diff=2|See what changed>"}]}
            ]
        })
    );
}

#[test]
fn a_new_plan_says_so_and_long_section_lists_are_bounded() {
    let sections: Vec<_> = (0..12)
        .map(|i| change(&format!("s{i}"), &format!("S{i}"), SectionChangeKind::Added))
        .collect();
    let n = Notification::VersionPushed {
        plan: plan(),
        version: 1,
        by: "ada".into(),
        sections,
        more_sections: 5,
        summary: None,
    };
    let v = render(&n, BASE);
    assert_eq!(
        v["text"],
        "ada pushed a new plan Auth &lt;Service&gt; &amp; Redesign"
    );
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "no diff link for a first version");
    let lines: Vec<&str> = blocks[1]["text"]["text"]
        .as_str()
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), MAX_SECTION_LINES + 1);
    assert_eq!(
        lines[0],
        "• Added: <https://plans.example.com/p/auth-redesign#s0|S0>"
    );
    assert_eq!(lines[MAX_SECTION_LINES], "…and 7 more");
}

#[test]
fn a_new_comment_shows_the_quote_the_body_and_a_link_to_its_anchor() {
    let n = Notification::CommentCreated {
        plan: plan(),
        comment_id: "c1".into(),
        by: "bob".into(),
        anchor: "auth-flow".into(),
        section: Some("Authentication Flow".into()),
        quote: Some("rotate <refresh> tokens".into()),
        body: "Why? <!channel> <https://evil.example|click> & more\nsecond line".into(),
        reply: false,
    };
    assert_eq!(
        render(&n, BASE),
        json!({
            "text": "bob commented on Authentication Flow in Auth &lt;Service&gt; &amp; Redesign",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text":
                    "*bob* commented on *<https://plans.example.com/p/auth-redesign#auth-flow|Authentication Flow>* in *<https://plans.example.com/p/auth-redesign|Auth &lt;Service&gt; &amp; Redesign>*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": ">rotate &lt;refresh&gt; tokens"}},
                {"type": "section", "text": {"type": "mrkdwn", "text":
                    "Why? &lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; more\nsecond line"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text":
                    "<https://plans.example.com/p/auth-redesign#auth-flow|Open the thread>"}]}
            ]
        })
    );
}

#[test]
fn a_reply_without_a_section_title_names_the_anchor_and_long_bodies_are_cut() {
    let n = Notification::CommentCreated {
        plan: plan(),
        comment_id: "c2".into(),
        by: "ada".into(),
        anchor: "data-model".into(),
        section: None,
        quote: None,
        body: "x".repeat(2000),
        reply: true,
    };
    let v = render(&n, BASE);
    assert_eq!(
        v["blocks"][0]["text"]["text"],
        "*ada* replied on *<https://plans.example.com/p/auth-redesign#data-model|data-model>* in *<https://plans.example.com/p/auth-redesign|Auth &lt;Service&gt; &amp; Redesign>*"
    );
    let body = v["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(body.chars().count(), MAX_BODY_CHARS);
    assert!(body.ends_with('…'));
}

#[test]
fn a_resolved_thread() {
    let n = Notification::CommentResolved {
        plan: plan(),
        comment_id: "c1".into(),
        by: "carol".into(),
        anchor: "auth-flow".into(),
        section: Some("Authentication Flow".into()),
        body: "Why rotate?\n> not a quote".into(),
    };
    assert_eq!(
        render(&n, BASE),
        json!({
            "text": "carol resolved a thread on Authentication Flow in Auth &lt;Service&gt; &amp; Redesign",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text":
                    "*carol* resolved a thread on *<https://plans.example.com/p/auth-redesign#auth-flow|Authentication Flow>* in *<https://plans.example.com/p/auth-redesign|Auth &lt;Service&gt; &amp; Redesign>*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": ">Why rotate?\n>&gt; not a quote"}}
            ]
        })
    );
}

#[test]
fn every_text_stays_within_slack_limits_whatever_the_input() {
    let huge = "<&>".repeat(5000);
    let comment = Notification::CommentCreated {
        plan: PlanRef {
            slug: "p".into(),
            title: huge.clone(),
        },
        comment_id: "c".into(),
        by: huge.clone(),
        anchor: "a".into(),
        section: Some(huge.clone()),
        quote: Some(huge.clone()),
        body: huge.clone(),
        reply: false,
    };
    let n = Notification::VersionPushed {
        plan: PlanRef {
            slug: "p".into(),
            title: huge.clone(),
        },
        version: 2,
        by: huge.clone(),
        sections: (0..50)
            .map(|i| change(&format!("a{i}"), &huge, SectionChangeKind::Changed))
            .collect(),
        more_sections: 0,
        summary: None,
    };
    for v in [render(&n, BASE), render(&comment, BASE)] {
        for block in v["blocks"].as_array().unwrap() {
            let text = block["text"]["text"]
                .as_str()
                .or(block["elements"][0]["text"].as_str())
                .unwrap();
            assert!(text.chars().count() <= MAX_BLOCK_CHARS, "{}", text.len());
            assert!(!text.contains("<&>"));
        }
        assert!(v["text"].as_str().unwrap().chars().count() <= MAX_BLOCK_CHARS);
    }
}

// --- delivery over real HTTP, against a one-shot server on 127.0.0.1 ---

/// Answers one request with `status` (or never, when `None`); returns what it received.
async fn one_shot(status: Option<u16>) -> (Url, tokio::task::JoinHandle<String>) {
    one_shot_with(status, "").await
}

/// Like [`one_shot`], with extra header lines (each ending in `\r\n`).
async fn one_shot_with(
    status: Option<u16>,
    headers: &'static str,
) -> (Url, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "http://{}/services/T/B/secret",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![];
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + len {
                    break;
                }
            }
        }
        match status {
            Some(s) => {
                let body = if s == 200 { "ok" } else { "no_service" };
                let reply = format!(
                    "HTTP/1.1 {s} X\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(reply.as_bytes()).await.unwrap();
            }
            None => tokio::time::sleep(Duration::from_secs(5)).await,
        }
        String::from_utf8_lossy(&buf).to_string()
    });
    (url, task)
}

fn message() -> OutboxMessage {
    let n = Notification::CommentResolved {
        plan: plan(),
        comment_id: "c1".into(),
        by: "carol".into(),
        anchor: "a".into(),
        section: None,
        body: "ok".into(),
    };
    OutboxMessage::new("slack", n.to_json(), DateTime::<Utc>::UNIX_EPOCH)
}

#[tokio::test]
async fn deliver_posts_the_rendered_json_with_the_idempotency_key() {
    let (url, server) = one_shot(Some(200)).await;
    let slack = SlackNotifier::new(url, BASE, Duration::from_secs(5)).unwrap();
    let m = message();
    slack.deliver(&m).await.unwrap();
    let request = server.await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("POST /services/T/B/secret HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-planpush-delivery: {}", m.id)),
        "{head}"
    );
    let sent: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        sent,
        render(&Notification::from_json(&m.payload).unwrap(), BASE)
    );
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retryable_client_errors_permanent_and_no_error_shows_the_url()
 {
    for (status, retryable) in [
        (Some(500), true),
        (Some(429), true),
        (Some(404), false),
        (None, true),
    ] {
        let (url, _server) = one_shot(status).await;
        let slack = SlackNotifier::new(url, BASE, Duration::from_millis(500)).unwrap();
        let err = slack.deliver(&message()).await.unwrap_err();
        let text = err.to_string();
        assert_eq!(
            matches!(err, DeliveryError::Retryable(_)),
            retryable,
            "{status:?}: {text}"
        );
        assert!(!text.contains("secret"), "{text}");
        match status {
            Some(404) => assert_eq!(text, "HTTP 404: no_service"),
            Some(s) => assert_eq!(text, format!("HTTP {s}: no_service")),
            None => assert!(text.starts_with("timed out"), "{text}"),
        }
    }
    // Nobody listening.
    let closed = Url::parse("http://127.0.0.1:9/services/T/B/secret").unwrap();
    let err = SlackNotifier::new(closed, BASE, Duration::from_secs(2))
        .unwrap()
        .deliver(&message())
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable(_)), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
    // An unreadable payload is permanent, and nothing is sent.
    let mut bad = message();
    bad.payload = "{".into();
    let (url, _server) = one_shot(Some(200)).await;
    let err = SlackNotifier::new(url, BASE, Duration::from_secs(2))
        .unwrap()
        .deliver(&bad)
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err}");
}

#[tokio::test]
async fn a_429_with_retry_after_asks_the_worker_to_wait_that_long() {
    let (url, _server) = one_shot_with(Some(429), "Retry-After: 30\r\n").await;
    let err = SlackNotifier::new(url, BASE, Duration::from_secs(2))
        .unwrap()
        .deliver(&message())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::RateLimited {
            error: "HTTP 429: no_service".into(),
            retry_after: chrono::Duration::seconds(30),
        }
    );
}

#[test]
fn a_new_version_says_what_changed_in_words() {
    let mut changed = change("auth-flow", "Auth flow", SectionChangeKind::Changed);
    changed.words = Some(planpush_app::WordChange {
        inserted: 14,
        deleted: 3,
    });
    let n = Notification::VersionPushed {
        plan: plan(),
        version: 2,
        by: "ada".into(),
        sections: vec![changed],
        more_sections: 0,
        summary: Some("Sections: 1 changed (+14 −3 words).".into()),
    };
    let v = render(&n, BASE);
    let blocks = v["blocks"].as_array().unwrap();
    assert!(
        blocks[1]["text"]["text"]
            .as_str()
            .unwrap()
            .ends_with("|Auth flow> (+14 −3 words)"),
        "{v}"
    );
    assert!(
        blocks[2]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Sections: 1 changed (+14 −3 words). · <"),
        "{v}"
    );
}
