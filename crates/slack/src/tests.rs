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
        typed: vec![],
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
        typed: vec![],
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
        typed: vec![],
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
        typed: vec![],
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

#[test]
fn a_new_version_lists_what_changed_in_the_plans_terms_on_every_channel() {
    let n = Notification::VersionPushed {
        plan: plan(),
        version: 2,
        by: "ada".into(),
        sections: vec![change(
            "decisions",
            "Key Decisions",
            SectionChangeKind::Changed,
        )],
        more_sections: 0,
        summary: Some("Sections: 1 changed (+1 −1 words).".into()),
        typed: vec![
            "Decision “Redis vs PostgreSQL”: Open → Accepted".into(),
            "Endpoint DELETE /api/<b>sessions</b> added (Breaking)".into(),
        ],
    };
    let v = render(&n, BASE);
    assert_eq!(
        v["blocks"][1]["text"]["text"],
        "*What changed*\n• Decision “Redis vs PostgreSQL”: Open → Accepted\n\
         • Endpoint DELETE /api/&lt;b&gt;sessions&lt;/b&gt; added (Breaking)",
        "{v}"
    );
    let t = crate::teams::render(&n, BASE).to_string();
    assert!(
        t.contains("**What changed**\\n- Decision “Redis vs PostgreSQL”: Open → Accepted\\n- Endpoint DELETE /api/\\\\<b\\\\>sessions"),
        "{t}"
    );
    let d = crate::discord::render(&n, BASE);
    let description = d["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with(
            "**What changed**\n• Decision “Redis vs PostgreSQL”: Open → Accepted\n• Endpoint DELETE /api/\\<b\\>sessions\\</b\\> added \\(Breaking\\)\n\n"
        ),
        "{description}"
    );
}

#[test]
fn markdown_escaping_neutralises_formatting_links_mentions_and_list_markers() {
    assert_eq!(
        escape_markdown(
            "**b** [x](javascript:y) <@1> @everyone {{DATE(x)}}",
            discord::ACTIVE
        ),
        "\\*\\*b\\*\\* \\[x\\]\\(javascript:y\\) \\<\\@1\\> \\@everyone {{DATE\\(x\\)}}"
    );
    assert_eq!(
        escape_markdown("{{DATE(x)}} a_b `c` \\", teams::ACTIVE),
        "\\{\\{DATE\\(x\\)\\}\\} a\\_b \\`c\\` \\\\"
    );
    assert_eq!(
        escape_markdown("- one\n  + two\n3. three\n10) ten\nx-y 4.5", teams::ACTIVE),
        "\\- one\n  \\+ two\n3\\. three\n10\\) ten\nx-y 4.5"
    );
    assert_eq!(
        markdown_link("https://a.example/p/x#(y)", "t"),
        "[t](https://a.example/p/x#%28y%29)"
    );
}

fn teams_card(body: Value, actions: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
}

#[test]
fn teams_cards_for_the_three_events_are_exact_and_escaped() {
    let version = Notification::VersionPushed {
        plan: plan(),
        version: 3,
        by: "ada_l".into(),
        sections: vec![
            change("risks", "Risks", SectionChangeKind::Added),
            change("auth-flow", "Auth *flow*", SectionChangeKind::Changed),
            change("legacy", "Legacy [old]", SectionChangeKind::Removed),
        ],
        more_sections: 2,
        summary: None,
        typed: vec![],
    };
    let p = "https://plans.example.com/p/auth-redesign";
    let title = "Auth \\<Service\\> & Redesign";
    assert_eq!(
        Chat::Teams.render(&version, "https://plans.example.com/"),
        teams_card(
            json!([
                {"type": "TextBlock", "wrap": true, "text":
                    format!("**ada\\_l** pushed version 3 of **[{title}]({p})**")},
                {"type": "TextBlock", "wrap": true, "text": format!(
                    "- Added: [Risks]({p}#risks)\n- Changed: [Auth \\*flow\\*]({p}#auth-flow)\n- Removed: Legacy \\[old\\]\n…and 2 more")},
            ]),
            json!([
                {"type": "Action.OpenUrl", "title": "Open the plan", "url": p},
                {"type": "Action.OpenUrl", "title": "See what changed", "url": format!("{p}?v=3&diff=2")},
            ])
        )
    );
    let comment = Notification::CommentCreated {
        plan: plan(),
        comment_id: "c1".into(),
        by: "bob".into(),
        anchor: "auth-flow".into(),
        section: Some("Auth flow".into()),
        quote: Some("the [token]".into()),
        body: "See [this](https://evil.example) {{DATE(2020-01-01T00:00:00Z)}}".into(),
        reply: true,
    };
    assert_eq!(
        Chat::Teams.render(&comment, BASE),
        teams_card(
            json!([
                {"type": "TextBlock", "wrap": true, "text":
                    format!("**bob** replied on **[Auth flow]({p}#auth-flow)** in **[{title}]({p})**")},
                {"type": "TextBlock", "wrap": true, "isSubtle": true, "text": "the \\[token\\]"},
                {"type": "TextBlock", "wrap": true, "text":
                    "See \\[this\\]\\(https://evil.example\\) \\{\\{DATE\\(2020-01-01T00:00:00Z\\)\\}\\}"},
            ]),
            json!([{"type": "Action.OpenUrl", "title": "Open the thread", "url": format!("{p}#auth-flow")}])
        )
    );
    let resolved = Notification::CommentResolved {
        plan: plan(),
        comment_id: "c1".into(),
        by: "carol".into(),
        anchor: "gone".into(),
        section: None,
        body: "- done".into(),
    };
    assert_eq!(
        Chat::Teams.render(&resolved, BASE),
        teams_card(
            json!([
                {"type": "TextBlock", "wrap": true, "text":
                    format!("**carol** resolved a thread on **[gone]({p}#gone)** in **[{title}]({p})**")},
                {"type": "TextBlock", "wrap": true, "isSubtle": true, "text": "\\- done"},
            ]),
            json!([{"type": "Action.OpenUrl", "title": "Open the thread", "url": format!("{p}#gone")}])
        )
    );
}

#[test]
fn discord_embeds_for_the_three_events_are_exact_escaped_and_never_ping() {
    let p = "https://plans.example.com/p/auth-redesign";
    let title = "Auth \\<Service\\> & Redesign";
    let embed = |title: String, url: String, description: &str, color: u32| {
        json!({
            "allowed_mentions": {"parse": []},
            "embeds": [{"title": title, "url": url, "description": description, "color": color}]
        })
    };
    let new_plan = Notification::VersionPushed {
        plan: plan(),
        version: 1,
        by: "ada".into(),
        sections: vec![change("flow", "Flow || spoiler", SectionChangeKind::Added)],
        more_sections: 0,
        summary: None,
        typed: vec![],
    };
    assert_eq!(
        Chat::Discord.render(&new_plan, BASE),
        embed(
            format!("ada pushed a new plan {title}"),
            p.into(),
            &format!("• Added: [Flow \\|\\| spoiler]({p}#flow)"),
            0x2563eb
        )
    );
    let empty = Notification::VersionPushed {
        plan: plan(),
        version: 2,
        by: "ada".into(),
        sections: vec![],
        more_sections: 0,
        summary: None,
        typed: vec![],
    };
    assert_eq!(
        Chat::Discord.render(&empty, BASE),
        embed(
            format!("ada pushed version 2 of {title}"),
            format!("{p}?v=2&diff=1"),
            "No section changed.",
            0x2563eb
        )
    );
    let comment = Notification::CommentCreated {
        plan: plan(),
        comment_id: "c1".into(),
        by: "bob".into(),
        anchor: "flow".into(),
        section: Some("Flow".into()),
        quote: Some("line one\nline *two*".into()),
        body: "@everyone look <@123> ~~now~~".into(),
        reply: false,
    };
    assert_eq!(
        Chat::Discord.render(&comment, BASE),
        embed(
            format!("bob commented on Flow in {title}"),
            format!("{p}#flow"),
            "> line one\n> line \\*two\\*\n\\@everyone look \\<\\@123\\> \\~\\~now\\~\\~",
            0xd97706
        )
    );
    let resolved = Notification::CommentResolved {
        plan: plan(),
        comment_id: "c1".into(),
        by: "carol".into(),
        anchor: "flow".into(),
        section: Some("Flow".into()),
        body: "ok".into(),
    };
    assert_eq!(
        Chat::Discord.render(&resolved, BASE),
        embed(
            format!("carol resolved a thread on Flow in {title}"),
            format!("{p}#flow"),
            "> ok",
            0x16a34a
        )
    );
    // A long title stays within Discord's 256 characters.
    let long = Notification::CommentResolved {
        plan: PlanRef {
            slug: "x".into(),
            title: "*".repeat(120),
        },
        comment_id: "c1".into(),
        by: "_".repeat(80),
        anchor: "a".into(),
        section: Some("[".repeat(80)),
        body: "ok".into(),
    };
    let title = Chat::Discord.render(&long, BASE)["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(title.chars().count(), 256);
    assert!(title.ends_with('…'));
}

#[tokio::test]
async fn teams_and_discord_deliver_through_the_same_transport_on_their_own_channels() {
    for chat in [Chat::Teams, Chat::Discord] {
        let (url, server) = one_shot(Some(200)).await;
        let notifier = ChatNotifier::for_chat(chat, url, BASE, Duration::from_secs(5)).unwrap();
        assert_eq!(notifier.channel(), chat.channel());
        let m = message();
        notifier.deliver(&m).await.unwrap();
        let request = server.await.unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("x-planpush-delivery: {}", m.id)),
            "{head}"
        );
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            sent,
            chat.render(&Notification::from_json(&m.payload).unwrap(), BASE)
        );
        let (url, _server) = one_shot(Some(503)).await;
        let err = ChatNotifier::for_chat(chat, url, BASE, Duration::from_secs(2))
            .unwrap()
            .deliver(&m)
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Retryable(_)), "{err}");
    }
    assert_eq!(
        [Chat::Slack, Chat::Teams, Chat::Discord].map(Chat::channel),
        ["slack", "teams", "discord"]
    );
}

mod webhooks {
    use super::*;
    use crate::webhook::*;
    use std::net::IpAddr;

    fn none(_: IpAddr) -> bool {
        false
    }
    fn loopback(ip: IpAddr) -> bool {
        ip.is_loopback()
    }

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(WebhookSecret::parse(&secret.expose()), Some(secret.clone()));
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!",
            "whsec_c2hvcnQ=",
        ] {
            assert_eq!(WebhookSecret::parse(bad), None, "{bad}");
        }
        let a = WebhookSecret::generate();
        assert!(a.expose().starts_with("whsec_"));
        assert_ne!(a, WebhookSecret::generate());
    }

    /// The PyPI `standardwebhooks` package (an independent implementation) verifies our signature,
    /// and rejects it for a changed body. Its Python comes from `PLANPUSH_WEBHOOKS_PYTHON`
    /// (`.ci/run` installs it in a venv); without it the test is skipped, except in CI.
    #[test]
    #[allow(clippy::print_stderr)]
    fn signatures_are_verified_by_the_standardwebhooks_package() {
        let Some(python) = std::env::var_os("PLANPUSH_WEBHOOKS_PYTHON") else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "standardwebhooks is required in CI (set PLANPUSH_WEBHOOKS_PYTHON; .ci/run installs it)"
            );
            eprintln!("warning: standardwebhooks is not installed; skipping");
            return;
        };
        let secret = WebhookSecret::generate();
        let id = "0193e6a2-7f47-7c4e-9d1a-2f6e3c1b9a10";
        let at = Utc::now();
        let n = Notification::CommentResolved {
            plan: plan(),
            comment_id: "c1".into(),
            by: "carol".into(),
            anchor: "flow".into(),
            section: None,
            body: "ok ✓ \"quoted\"".into(),
        };
        let body = envelope(id, &n, at, BASE);
        let signature = sign(&secret, id, at.timestamp(), &body);
        let script = r#"
import json, sys
from standardwebhooks import Webhook
secret, id, ts, sig, body = sys.argv[1:6]
headers = {"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig}
print(json.dumps(Webhook(secret).verify(body, headers)))
try:
    Webhook(secret).verify(body + " ", headers)
    print("TAMPERED BODY ACCEPTED")
except Exception:
    print("tampered body rejected")
"#;
        let out = std::process::Command::new(python)
            .args([
                "-c",
                script,
                &secret.expose(),
                id,
                &at.timestamp().to_string(),
                &signature,
                &body,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = stdout.lines();
        let verified: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(verified["id"], id);
        assert_eq!(verified["type"], "comment.resolved");
        assert_eq!(verified["data"]["kind"], "comment_resolved");
        assert_eq!(
            verified["data"]["url"],
            "https://plans.example.com/p/auth-redesign#flow"
        );
        assert_eq!(lines.next(), Some("tampered body rejected"));
    }

    #[test]
    fn envelopes_name_the_event_and_link_into_the_plan() {
        let n = Notification::VersionPushed {
            plan: plan(),
            version: 2,
            by: "ada".into(),
            sections: vec![change("flow", "Flow", SectionChangeKind::Changed)],
            more_sections: 0,
            summary: None,
            typed: vec![],
        };
        let at = DateTime::parse_from_rfc3339("2026-12-02T08:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let body: Value = serde_json::from_str(&envelope("m1", &n, at, BASE)).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "m1",
                "type": "plan.version_created",
                "timestamp": "2026-12-02T08:30:00Z",
                "data": {
                    "kind": "version_pushed",
                    "plan": {"slug": "auth-redesign", "title": "Auth <Service> & Redesign"},
                    "version": 2,
                    "by": "ada",
                    "sections": [{"anchor": "flow", "title": "Flow", "change": "changed"}],
                    "more_sections": 0,
                    "url": "https://plans.example.com/p/auth-redesign?v=2"
                }
            })
        );
    }

    #[test]
    fn internal_and_non_https_urls_are_refused_at_registration() {
        let refused = [
            ("http://hooks.example.com/x", UrlRefusal::Scheme),
            ("ftp://hooks.example.com/x", UrlRefusal::Scheme),
            ("hooks.example.com/x", UrlRefusal::Invalid),
            (
                "https://user:pw@hooks.example.com/x",
                UrlRefusal::Credentials,
            ),
            ("https://hooks.example.com/x#frag", UrlRefusal::Fragment),
            (
                "https://127.0.0.1/x",
                UrlRefusal::Internal("127.0.0.1".parse().unwrap()),
            ),
            (
                "https://10.1.2.3/x",
                UrlRefusal::Internal("10.1.2.3".parse().unwrap()),
            ),
            (
                "https://172.16.0.1/x",
                UrlRefusal::Internal("172.16.0.1".parse().unwrap()),
            ),
            (
                "https://192.168.1.1/x",
                UrlRefusal::Internal("192.168.1.1".parse().unwrap()),
            ),
            (
                "https://169.254.169.254/latest/meta-data",
                UrlRefusal::Internal("169.254.169.254".parse().unwrap()),
            ),
            (
                "https://100.64.0.1/x",
                UrlRefusal::Internal("100.64.0.1".parse().unwrap()),
            ),
            (
                "https://0.0.0.0/x",
                UrlRefusal::Internal("0.0.0.0".parse().unwrap()),
            ),
            // Decimal and hex spellings are normalised by the URL parser first.
            (
                "https://2130706433/x",
                UrlRefusal::Internal("127.0.0.1".parse().unwrap()),
            ),
            (
                "https://0x7f.1/x",
                UrlRefusal::Internal("127.0.0.1".parse().unwrap()),
            ),
            (
                "https://[::1]/x",
                UrlRefusal::Internal("::1".parse().unwrap()),
            ),
            (
                "https://[::ffff:10.0.0.1]/x",
                UrlRefusal::Internal("::ffff:10.0.0.1".parse().unwrap()),
            ),
            (
                "https://[64:ff9b::a9fe:a9fe]/x",
                UrlRefusal::Internal("64:ff9b::a9fe:a9fe".parse().unwrap()),
            ),
            (
                "https://[fd00::1]/x",
                UrlRefusal::Internal("fd00::1".parse().unwrap()),
            ),
            (
                "https://[fe80::1]/x",
                UrlRefusal::Internal("fe80::1".parse().unwrap()),
            ),
            (
                "http://localhost:8080/x",
                UrlRefusal::Internal("127.0.0.1".parse().unwrap()),
            ),
        ];
        for (raw, want) in refused {
            assert_eq!(check_url(raw, &none).unwrap_err(), want, "{raw}");
        }
        for ok in [
            "https://hooks.example.com/x?y=1",
            "https://93.184.215.14/x",
            "https://[2606:4700::1111]/x",
        ] {
            assert!(check_url(ok, &none).is_ok(), "{ok}");
        }
        // Loopback only when allowed (WEBHOOK_ALLOWED_NETWORKS), and plain http only to loopback.
        assert!(check_url("http://127.0.0.1:9000/hook", &loopback).is_ok());
        assert!(check_url("http://localhost:9000/hook", &loopback).is_ok());
        assert_eq!(
            check_url("http://10.0.0.1/hook", &|_| true).unwrap_err(),
            UrlRefusal::Scheme
        );
    }

    #[tokio::test]
    async fn names_are_resolved_and_checked_again_at_delivery() {
        // A name (not an IP literal) passes registration; what it resolves to is checked when
        // sending, so a name that points inside (DNS rebinding, or simply localhost) is refused.
        let url = Url::parse("https://localhost:4443/hook").unwrap();
        let err = resolve_checked(&url, &none).await.unwrap_err();
        assert!(
            matches!(err, UrlRefusal::Internal(ip) if ip.is_loopback()),
            "{err}"
        );
        let addr = resolve_checked(&url, &loopback).await.unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 4443);
        let nowhere = Url::parse("https://no-such-host.invalid/x").unwrap();
        assert_eq!(
            resolve_checked(&nowhere, &none).await.unwrap_err(),
            UrlRefusal::Unresolvable
        );
    }

    fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    #[tokio::test]
    async fn a_delivery_is_signed_and_sent_only_to_an_allowed_address_without_following_redirects()
    {
        let secret = WebhookSecret::generate();
        let body = r#"{"id":"m1"}"#;
        let (url, server) = one_shot(Some(200)).await;
        post_signed(
            &url,
            &secret,
            "m1",
            1_700_000_000,
            body,
            &loopback,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let request = server.await.unwrap();
        let (head, sent) = request.split_once("\r\n\r\n").unwrap();
        assert_eq!(sent, body);
        assert_eq!(header(head, "webhook-id"), Some("m1"));
        assert_eq!(header(head, "webhook-timestamp"), Some("1700000000"));
        assert_eq!(
            header(head, "webhook-signature"),
            Some(sign(&secret, "m1", 1_700_000_000, body).as_str())
        );
        assert_eq!(header(head, "content-type"), Some("application/json"));

        // 5xx is retried; a redirect is not followed, and is permanent.
        let (url, _s) = one_shot(Some(503)).await;
        let err = post_signed(
            &url,
            &secret,
            "m1",
            1,
            body,
            &loopback,
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DeliveryError::Retryable(_)), "{err}");
        let (url, _s) = one_shot_with(Some(302), "location: http://169.254.169.254/\r\n").await;
        let err = post_signed(
            &url,
            &secret,
            "m1",
            1,
            body,
            &loopback,
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, DeliveryError::Permanent(ref e) if e.starts_with("HTTP 302")),
            "{err}"
        );

        // Loopback not allowed: refused before connecting, nothing is sent.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
        let err = post_signed(&url, &secret, "m1", 1, body, &none, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DeliveryError::Permanent(
                "refused: 127.0.0.1 is a private, loopback or otherwise internal address, not allowed for webhooks".into()
            )
        );
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "no connection was made");
    }
}

#[test]
fn teams_and_discord_carry_the_summary_and_word_counts_like_slack() {
    let p = "https://plans.example.com/p/auth-redesign";
    let mut changed = change("auth-flow", "Auth flow", SectionChangeKind::Changed);
    changed.words = Some(planpush_app::WordChange {
        inserted: 14,
        deleted: 3,
    });
    let n = Notification::VersionPushed {
        plan: plan(),
        version: 2,
        by: "ada".into(),
        sections: vec![change("risks", "Risks", SectionChangeKind::Added), changed],
        more_sections: 0,
        summary: Some("Sections: 1 added, 1 changed (+14 −3 words).".into()),
        typed: vec![],
    };
    let teams = Chat::Teams.render(&n, BASE);
    let body = &teams["attachments"][0]["content"]["body"];
    assert_eq!(
        body[1]["text"],
        format!(
            "- Added: [Risks]({p}#risks)\n- Changed: [Auth flow]({p}#auth-flow) (+14 −3 words)"
        )
    );
    assert_eq!(
        body[2],
        json!({"type": "TextBlock", "wrap": true, "isSubtle": true,
               "text": "Sections: 1 added, 1 changed \\(+14 −3 words\\)."})
    );
    let discord = Chat::Discord.render(&n, BASE);
    assert_eq!(
        discord["embeds"][0]["description"],
        format!(
            "• Added: [Risks]({p}#risks)\n• Changed: [Auth flow]({p}#auth-flow) (+14 −3 words)\n\nSections: 1 added, 1 changed \\(+14 −3 words\\)."
        )
    );
    // Slack's line is the same (its own link syntax).
    let slack = render(&n, BASE);
    assert!(
        slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .ends_with("|Auth flow> (+14 −3 words)")
    );
    // A new plan has no summary line in any of them.
    let first = Notification::VersionPushed {
        plan: plan(),
        version: 1,
        by: "ada".into(),
        sections: vec![change("risks", "Risks", SectionChangeKind::Added)],
        more_sections: 0,
        summary: None,
        typed: vec![],
    };
    assert_eq!(
        Chat::Teams.render(&first, BASE)["attachments"][0]["content"]["body"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        Chat::Discord.render(&first, BASE)["embeds"][0]["description"],
        format!("• Added: [Risks]({p}#risks)")
    );
}

#[test]
fn a_publication_renders_in_every_format_and_is_typed_for_webhooks() {
    let n = Notification::PlanPublished {
        plan: plan(),
        by: "ada_l".into(),
    };
    let p = "https://plans.example.com/p/auth-redesign";
    assert_eq!(
        render(&n, BASE)["text"],
        "ada_l published Auth &lt;Service&gt; &amp; Redesign"
    );
    assert_eq!(
        Chat::Discord.render(&n, BASE)["embeds"][0]["title"],
        "ada\\_l published Auth \\<Service\\> & Redesign"
    );
    assert_eq!(
        Chat::Teams.render(&n, BASE)["attachments"][0]["content"]["actions"][0]["url"],
        p
    );
    assert_eq!(webhook::event_type(&n), "plan.published");
    let body: Value = serde_json::from_str(&webhook::envelope(
        "id1",
        &n,
        DateTime::<Utc>::UNIX_EPOCH,
        BASE,
    ))
    .unwrap();
    assert_eq!(body["type"], "plan.published");
    assert_eq!(body["data"]["url"], p);
    assert_eq!(body["data"]["by"], "ada_l");
}

#[test]
fn a_burst_of_versions_reads_as_one_message_in_every_chat() {
    let p = "https://plans.example.com/p/auth-redesign";
    let n = Notification::VersionsPushed {
        plan: plan(),
        versions: vec![2, 3, 4],
        by: vec!["ada".into(), "bob_b".into()],
        sections: vec![
            change("risks", "Risks", SectionChangeKind::Added),
            change("flow", "Flow", SectionChangeKind::Changed),
        ],
        more_sections: 0,
    };
    let slack = render(&n, BASE);
    assert_eq!(
        slack,
        json!({
            "text": "ada and bob_b pushed versions 2, 3 and 4 of Auth &lt;Service&gt; &amp; Redesign",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                    "*ada and bob_b* pushed versions 2, 3 and 4 of *<{p}|Auth &lt;Service&gt; &amp; Redesign>*")}},
                {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                    "• Added: <{p}#risks|Risks>\n• Changed: <{p}#flow|Flow>")}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                    "<{p}?v=4&amp;diff=1|See what changed>")}]},
            ]
        })
    );
    let teams = Chat::Teams.render(&n, BASE);
    let content = &teams["attachments"][0]["content"];
    assert_eq!(
        content["body"][0]["text"],
        format!(
            "**ada and bob\\_b** pushed versions 2, 3 and 4 of **[Auth \\<Service\\> & Redesign]({p})**"
        )
    );
    assert_eq!(
        content["body"][1]["text"],
        format!("- Added: [Risks]({p}#risks)\n- Changed: [Flow]({p}#flow)")
    );
    assert_eq!(content["actions"][1]["url"], format!("{p}?v=4&diff=1"));
    let discord = Chat::Discord.render(&n, BASE);
    assert_eq!(
        discord["embeds"][0]["title"],
        "ada and bob\\_b pushed versions 2, 3 and 4 of Auth \\<Service\\> & Redesign"
    );
    assert_eq!(discord["embeds"][0]["url"], format!("{p}?v=4&diff=1"));
    // A burst that starts with the new plan has nothing to compare with.
    let new = Notification::VersionsPushed {
        plan: plan(),
        versions: vec![1, 2],
        by: vec!["ada".into()],
        sections: vec![],
        more_sections: 0,
    };
    assert_eq!(render(&new, BASE)["blocks"].as_array().unwrap().len(), 2);
    assert_eq!(Chat::Discord.render(&new, BASE)["embeds"][0]["url"], p);
}
