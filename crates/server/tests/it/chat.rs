//! Microsoft Teams and Discord notifications end to end, beside Slack: the real `planpush-server`
//! binary with `TEAMS_WEBHOOK_URL` and `DISCORD_WEBHOOK_URL` pointing at fakes on 127.0.0.1 (the
//! fake of `slack.rs`, which records real HTTP requests).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::slack::{Answer, FakeSlack, V1, V2, api, push_private, server_with};
use crate::support::{dev_login, free_port, push};

const TEAMS_PATH: &str = "/workflows/abc/triggers/manual/paths/invoke";
const DISCORD_PATH: &str = "/api/webhooks/123/token";

fn hooks(teams: u16, discord: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "TEAMS_WEBHOOK_URL",
            format!("http://127.0.0.1:{teams}{TEAMS_PATH}"),
        ),
        (
            "DISCORD_WEBHOOK_URL",
            format!("http://127.0.0.1:{discord}{DISCORD_PATH}"),
        ),
    ]
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

fn text(s: String) -> Value {
    json!({"type": "TextBlock", "text": s, "wrap": true})
}

fn subtle(s: &str) -> Value {
    json!({"type": "TextBlock", "text": s, "wrap": true, "isSubtle": true})
}

fn open(title: &str, url: String) -> Value {
    json!({"type": "Action.OpenUrl", "title": title, "url": url})
}

fn embed(title: String, url: String, description: String, color: u32) -> Value {
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [{"title": title, "url": url, "description": description, "color": color}]
    })
}

const BODY: &str = "Why <b>two</b> steps & not one? @everyone [x](http://evil.example)";

#[test]
fn teams_and_discord_receive_exact_payloads_beside_slack_and_nothing_for_private_plans() {
    let (slack, slack_port) = FakeSlack::start(vec![]);
    let (teams, teams_port) = FakeSlack::start(vec![]);
    let (discord, discord_port) = FakeSlack::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut vars = hooks(teams_port, discord_port);
    vars.push((
        "SLACK_WEBHOOK_URL",
        format!("http://127.0.0.1:{slack_port}/services/T/B/X"),
    ));
    let _server = server_with(dir.path(), port, 1500, &vars);
    let (_, ada) = dev_login(port, "ada");
    let (_, bob) = dev_login(port, "bob");

    // A private plan first: a version, a comment, a resolution — none of it may leave.
    let secret = push_private(port, &ada, "secret-plan", V1);
    let sid = secret["session_id"].as_str().unwrap().to_owned();
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

    // A published plan: two versions, a comment on quoted text, a resolution.
    let first = push(port, &ada, "text/markdown", "launch", V1);
    let id = first["session_id"].as_str().unwrap().to_owned();
    push(port, &ada, "text/markdown", "launch", V2);
    let body = json!({
        "body": BODY, "anchor": "rollout",
        "quote": {"exact": "then two", "prefix": "Step one, ", "suffix": "."}
    });
    let (status, thread) = api(
        port,
        &bob,
        "POST",
        &format!("/api/sessions/{id}/comments"),
        &body.to_string(),
    );
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap().to_owned();
    let (status, _) = api(
        port,
        &bob,
        "PATCH",
        &format!("/api/comments/{tid}"),
        r#"{"resolved":true}"#,
    );
    assert_eq!(status, 200);

    let teams_posted = teams.wait_posted(4);
    let discord_posted = discord.wait_posted(4);
    assert_eq!(slack.wait_posted(4).len(), 4, "Slack still gets its own");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(teams.received().len(), 4, "{:#?}", teams.received());
    assert_eq!(discord.received().len(), 4, "{:#?}", discord.received());

    let p = format!("http://127.0.0.1:{port}/p/launch");
    let title = "Launch: 1 \\< 2 & Co";
    let teams_expected = [
        teams_card(
            json!([
                text(format!("**ada** pushed a new plan **[{title}]({p})**")),
                text(format!(
                    "- Added: [Rollout]({p}#rollout)\n- Added: [Risks]({p}#risks)"
                )),
            ]),
            json!([open("Open the plan", p.clone())]),
        ),
        teams_card(
            json!([
                text(format!("**ada** pushed version 2 of **[{title}]({p})**")),
                text(format!(
                    "- Added: [Rollback]({p}#rollback)\n- Changed: [Rollout]({p}#rollout) (+3 −1 words)\n- Removed: Risks"
                )),
                // The "what changed" summary, as on Slack.
                subtle("Sections: 1 added, 1 changed \\(+3 −1 words\\), 1 removed."),
            ]),
            json!([
                open("Open the plan", p.clone()),
                open("See what changed", format!("{p}?v=2&diff=1")),
            ]),
        ),
        teams_card(
            json!([
                text(format!(
                    "**bob** commented on **[Rollout]({p}#rollout)** in **[{title}]({p})**"
                )),
                subtle("then two"),
                text(
                    "Why \\<b\\>two\\</b\\> steps & not one? @everyone \\[x\\]\\(http://evil.example\\)"
                        .into()
                ),
            ]),
            json!([open("Open the thread", format!("{p}#rollout"))]),
        ),
        teams_card(
            json!([
                text(format!(
                    "**bob** resolved a thread on **[Rollout]({p}#rollout)** in **[{title}]({p})**"
                )),
                subtle(
                    "Why \\<b\\>two\\</b\\> steps & not one? @everyone \\[x\\]\\(http://evil.example\\)"
                ),
            ]),
            json!([open("Open the thread", format!("{p}#rollout"))]),
        ),
    ];
    let escaped =
        "Why \\<b\\>two\\</b\\> steps & not one? \\@everyone \\[x\\]\\(http://evil.example\\)";
    let discord_expected = [
        embed(
            format!("ada pushed a new plan {title}"),
            p.clone(),
            format!("• Added: [Rollout]({p}#rollout)\n• Added: [Risks]({p}#risks)"),
            0x2563eb,
        ),
        embed(
            format!("ada pushed version 2 of {title}"),
            format!("{p}?v=2&diff=1"),
            format!(
                "• Added: [Rollback]({p}#rollback)\n• Changed: [Rollout]({p}#rollout) (+3 −1 words)\n• Removed: Risks\n\nSections: 1 added, 1 changed \\(+3 −1 words\\), 1 removed."
            ),
            0x2563eb,
        ),
        embed(
            format!("bob commented on Rollout in {title}"),
            format!("{p}#rollout"),
            format!("> then two\n{escaped}"),
            0xd97706,
        ),
        embed(
            format!("bob resolved a thread on Rollout in {title}"),
            format!("{p}#rollout"),
            format!("> {escaped}"),
            0x16a34a,
        ),
    ];
    for (i, (got, want)) in teams_posted.iter().zip(&teams_expected).enumerate() {
        assert_eq!(&got.body, want, "Teams message {i}");
        assert_eq!(got.path, TEAMS_PATH);
    }
    for (i, (got, want)) in discord_posted.iter().zip(&discord_expected).enumerate() {
        assert_eq!(&got.body, want, "Discord message {i}");
        assert_eq!(got.path, DISCORD_PATH);
    }
    // Each channel's message is its own outbox row: its own idempotency key.
    let mut ids: Vec<&str> = teams_posted
        .iter()
        .chain(&discord_posted)
        .map(|r| r.delivery.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    for r in teams.received().iter().chain(&discord.received()) {
        assert!(!r.body.to_string().contains("secret"), "{r:#?}");
    }
}

#[test]
fn teams_and_discord_server_errors_are_retried_with_backoff_each_on_its_own() {
    let (teams, teams_port) = FakeSlack::start(vec![Answer::Status(500), Answer::Status(503)]);
    let (discord, discord_port) = FakeSlack::start(vec![Answer::Status(502)]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server_with(dir.path(), port, 1500, &hooks(teams_port, discord_port));
    let (_, ada) = dev_login(port, "ada");
    let t0 = Instant::now();
    push(port, &ada, "text/markdown", "launch", V1);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let teams_posted = teams.wait_posted(1);
    let discord_posted = discord.wait_posted(1);
    // Backoff 300 ms then 600 ms for Teams.
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    for (fake, posted, answers) in [
        (&teams, &teams_posted, vec![Some(500), Some(503), Some(200)]),
        (&discord, &discord_posted, vec![Some(502), Some(200)]),
    ] {
        let received = fake.received();
        assert_eq!(
            received.iter().map(|r| r.answered).collect::<Vec<_>>(),
            answers
        );
        assert!(
            received
                .iter()
                .all(|r| r.delivery == posted[0].delivery && r.body == posted[0].body),
            "the same message, with the same idempotency key, each time"
        );
    }
    assert_ne!(teams_posted[0].delivery, discord_posted[0].delivery);
}

#[test]
fn killed_mid_delivery_teams_and_discord_messages_are_each_posted_exactly_once() {
    for held in ["teams", "discord"] {
        let script = |name| {
            if name == held {
                vec![Answer::Hold]
            } else {
                vec![]
            }
        };
        let (teams, teams_port) = FakeSlack::start(script("teams"));
        let (discord, discord_port) = FakeSlack::start(script("discord"));
        let (holder, other) = if held == "teams" {
            (&teams, &discord)
        } else {
            (&discord, &teams)
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let vars = hooks(teams_port, discord_port);
        let mut first = server_with(dir.path(), port, 2000, &vars);
        let (_, ada) = dev_login(port, "ada");
        let (_, bob) = dev_login(port, "bob");
        let plan = push(port, &ada, "text/markdown", "launch", V1);
        let id = plan["session_id"].as_str().unwrap().to_owned();
        holder.wait("the held request", |st| st.holding == 1);
        push(port, &ada, "text/markdown", "launch", V2);
        let (status, _) = api(
            port,
            &bob,
            "POST",
            &format!("/api/sessions/{id}/comments"),
            r#"{"body":"Rollback tested?","anchor":"rollback"}"#,
        );
        assert_eq!(status, 201);

        // kill -9 while the held channel's request is in flight.
        first.0.kill().unwrap();
        first.0.wait().unwrap();
        holder.wait("the held request to be dropped", |st| {
            st.holding == 0 && st.received.iter().any(|r| r.answered.is_none())
        });
        let aborted = holder.received();
        assert_eq!(aborted.len(), 1, "{held}");

        // Restarted: the interrupted message is retried after its lease (2 × 2 s), once.
        let _second = server_with(dir.path(), port, 2000, &vars);
        holder.wait_posted(3);
        other.wait_posted(3);
        std::thread::sleep(Duration::from_millis(500));
        for fake in [holder, other] {
            let posted = fake.posted();
            assert_eq!(posted.len(), 3, "{held}: {posted:#?}");
            let mut per_id: HashMap<&str, usize> = HashMap::new();
            for r in &posted {
                *per_id.entry(r.delivery.as_str()).or_default() += 1;
            }
            assert!(per_id.values().all(|&n| n == 1), "{held}: {per_id:?}");
            assert_eq!(per_id.len(), 3);
        }
        let retried: Vec<_> = holder
            .posted()
            .into_iter()
            .filter(|r| r.delivery == aborted[0].delivery)
            .collect();
        assert_eq!(retried.len(), 1, "{held}");
        assert_eq!(retried[0].body, aborted[0].body);
    }
}

/// `NOTIFY_BURST_WINDOW_MS`: pushes to one plan within the window reach each chat as one message
/// naming the versions; a push after it is its own message again.
#[test]
fn a_burst_of_pushes_is_one_message_per_chat() {
    let (slack, slack_port) = FakeSlack::start(vec![]);
    let (discord, discord_port) = FakeSlack::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars = vec![
        (
            "SLACK_WEBHOOK_URL",
            format!("http://127.0.0.1:{slack_port}/services/T/B/X"),
        ),
        (
            "DISCORD_WEBHOOK_URL",
            format!("http://127.0.0.1:{discord_port}{DISCORD_PATH}"),
        ),
        ("NOTIFY_BURST_WINDOW_MS", "1500".to_owned()),
    ];
    let _server = server_with(dir.path(), port, 1500, &vars);
    let (_, ada) = dev_login(port, "ada");
    let t0 = Instant::now();
    push(port, &ada, "text/markdown", "launch", V1);
    push(port, &ada, "text/markdown", "launch", V2);
    let posted = slack.wait_posted(1);
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        posted[0].body["text"],
        "ada pushed versions 1 and 2 of Launch: 1 &lt; 2 &amp; Co"
    );
    let p = format!("http://127.0.0.1:{port}/p/launch");
    assert_eq!(
        posted[0].body["blocks"][1]["text"]["text"],
        format!("• Added: <{p}#rollout|Rollout>\n• Added: <{p}#rollback|Rollback>")
    );
    let d = discord.wait_posted(1);
    assert_eq!(
        d[0].body["embeds"][0]["title"],
        "ada pushed versions 1 and 2 of Launch: 1 \\< 2 & Co"
    );
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(slack.received().len(), 1, "{:#?}", slack.received());
    assert_eq!(discord.received().len(), 1);
    // After the window: a version of its own.
    push(port, &ada, "text/markdown", "launch", V1);
    let posted = slack.wait_posted(2);
    assert_eq!(
        posted[1].body["text"],
        "ada pushed version 3 of Launch: 1 &lt; 2 &amp; Co"
    );
}
