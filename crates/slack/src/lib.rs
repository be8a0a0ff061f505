//! The Slack incoming-webhook notifier: turns the application's channel-neutral
//! [`Notification`]s (outbox payloads) into Block Kit messages and posts them.
//!
//! - [`render`] is a pure function: a notification and the server's `BASE_URL` → the webhook's JSON
//!   body. User text (titles, logins, bodies, quotes, section titles) is escaped for Slack mrkdwn
//!   (`&`, `<`, `>`), so nobody can inject links or `<!channel>` mentions, and cut to bounded
//!   lengths, so a message always fits Slack's limits (3,000 characters per text block).
//! - [`SlackNotifier`] implements `app::Notifier`: one POST per message, bounded by a timeout,
//!   the outbox message id sent as `X-PlanPush-Delivery` (an idempotency key for relays that honour
//!   one; Slack itself does not deduplicate). HTTP 429 (honouring `Retry-After`), 5xx, timeouts and
//!   connection errors are retryable; other answers are permanent. Error texts never contain the webhook URL (a secret).
//!
//! Architecture invariant: formats and sends messages; knows no database and no web framework.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use planpush_app::{
    DeliveryError, Notification, Notifier, OutboxMessage, PlanRef, SectionChange,
    SectionChangeKind, excerpt,
};
use serde_json::{Value, json};
use url::Url;

/// The outbox channel this notifier delivers.
pub const CHANNEL: &str = "slack";
/// The header carrying the outbox message id (idempotency key) on every attempt.
pub const DELIVERY_HEADER: &str = "X-PlanPush-Delivery";
/// Section lines listed in a version message; the rest are counted.
pub const MAX_SECTION_LINES: usize = 10;
/// Longest plan title shown (characters, before escaping).
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest section title or login shown.
pub const MAX_LABEL_CHARS: usize = 80;
/// Longest comment body shown.
pub const MAX_BODY_CHARS: usize = 500;
/// Longest quote shown.
pub const MAX_QUOTE_CHARS: usize = 200;
/// Slack's limit for one text block; a section list stops before it (escaping can make a text up
/// to five times longer than its input, so lengths are checked after escaping).
pub const MAX_BLOCK_CHARS: usize = 3000;

/// Escapes text for Slack mrkdwn: `&`, `<` and `>` become entities (Slack's own rule).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Cut to `max` characters, then escaped; line breaks become spaces (labels are one line).
fn label(s: &str, max: usize) -> String {
    escape(&excerpt(&s.replace(['\r', '\n'], " "), max))
}

/// A mrkdwn link; `url` is built from validated parts and escaped too.
fn link(url: &str, text: &str) -> String {
    format!("<{}|{}>", escape(url), text)
}

fn plan_url(base: &str, plan: &PlanRef) -> String {
    format!("{base}/p/{}", plan.slug)
}

fn anchor_url(base: &str, plan: &PlanRef, anchor: &str) -> String {
    format!("{}#{anchor}", plan_url(base, plan))
}

/// Each line of `s` (cut to `max`, escaped) as a mrkdwn block quote.
fn blockquote(s: &str, max: usize) -> String {
    escape(&excerpt(s, max))
        .lines()
        .map(|l| format!(">{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn context(text: String) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

fn section_line(base: &str, plan: &PlanRef, s: &SectionChange) -> String {
    let title = label(&s.title, MAX_LABEL_CHARS);
    match s.change {
        SectionChangeKind::Added => {
            format!(
                "• Added: {}",
                link(&anchor_url(base, plan, &s.anchor), &title)
            )
        }
        SectionChangeKind::Changed => {
            let words = s.words.map_or(String::new(), |w| {
                format!(" (+{} −{} words)", w.inserted, w.deleted)
            });
            format!(
                "• Changed: {}{words}",
                link(&anchor_url(base, plan, &s.anchor), &title)
            )
        }
        SectionChangeKind::Removed => format!("• Removed: {title}"),
    }
}

/// The webhook body for `n`; `base_url` is the server's `BASE_URL` without a trailing slash.
pub fn render(n: &Notification, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    match n {
        Notification::VersionPushed {
            plan,
            version,
            by,
            sections,
            more_sections,
            summary,
        } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            let plan_link = link(&plan_url(base, plan), &title);
            let (headline, fallback) = if *version == 1 {
                (
                    format!("*{by}* pushed a new plan *{plan_link}*"),
                    format!("{by} pushed a new plan {title}"),
                )
            } else {
                (
                    format!("*{by}* pushed version {version} of *{plan_link}*"),
                    format!("{by} pushed version {version} of {title}"),
                )
            };
            let mut blocks = vec![section(headline)];
            let mut lines: Vec<String> = vec![];
            let mut used = 0;
            for s in sections.iter().take(MAX_SECTION_LINES) {
                let line = section_line(base, plan, s);
                let len = line.chars().count() + 1;
                // Room is kept for the "…and N more" line.
                if used + len > MAX_BLOCK_CHARS - 40 {
                    break;
                }
                used += len;
                lines.push(line);
            }
            let hidden = sections.len() - lines.len() + more_sections;
            if !lines.is_empty() {
                if hidden > 0 {
                    lines.push(format!("…and {hidden} more"));
                }
                blocks.push(section(lines.join("\n")));
            } else {
                blocks.push(section("No section changed.".into()));
            }
            if *version > 1 {
                let diff = format!("{}?v={version}&diff={}", plan_url(base, plan), version - 1);
                let see = link(&diff, "See what changed");
                blocks.push(context(match summary {
                    Some(s) => format!("{} · {see}", label(s, MAX_LABEL_CHARS)),
                    None => see,
                }));
            }
            json!({"text": fallback, "blocks": blocks})
        }
        Notification::CommentCreated {
            plan,
            by,
            anchor,
            section: section_title,
            quote,
            body,
            reply,
            ..
        } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            let where_ = label(section_title.as_deref().unwrap_or(anchor), MAX_LABEL_CHARS);
            let verb = if *reply { "replied on" } else { "commented on" };
            let thread_url = anchor_url(base, plan, anchor);
            let mut blocks = vec![section(format!(
                "*{by}* {verb} *{}* in *{}*",
                link(&thread_url, &where_),
                link(&plan_url(base, plan), &title)
            ))];
            if let Some(q) = quote {
                blocks.push(section(blockquote(q, MAX_QUOTE_CHARS)));
            }
            blocks.push(section(escape(&excerpt(body, MAX_BODY_CHARS))));
            blocks.push(context(link(&thread_url, "Open the thread")));
            json!({"text": format!("{by} {verb} {where_} in {title}"), "blocks": blocks})
        }
        Notification::CommentResolved {
            plan,
            by,
            anchor,
            section: section_title,
            body,
            ..
        } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            let where_ = label(section_title.as_deref().unwrap_or(anchor), MAX_LABEL_CHARS);
            let thread_url = anchor_url(base, plan, anchor);
            let blocks = vec![
                section(format!(
                    "*{by}* resolved a thread on *{}* in *{}*",
                    link(&thread_url, &where_),
                    link(&plan_url(base, plan), &title)
                )),
                section(blockquote(body, MAX_BODY_CHARS)),
            ];
            json!({"text": format!("{by} resolved a thread on {where_} in {title}"), "blocks": blocks})
        }
    }
}

/// Posts Block Kit messages to one incoming webhook.
pub struct SlackNotifier {
    http: reqwest::Client,
    webhook: Url,
    base_url: String,
}

impl SlackNotifier {
    /// `webhook` is `SLACK_WEBHOOK_URL` (already validated at start-up), `base_url` the server's
    /// `BASE_URL` (for deep links), `timeout` bounds each attempt (connect + answer).
    pub fn new(webhook: Url, base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("planpush/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            webhook,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }
}

/// One line describing a transport error, without the URL.
fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    excerpt(&text, 300)
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), DeliveryError> {
        let n = Notification::from_json(&message.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable payload: {e}")))?;
        let body = render(&n, &self.base_url);
        let response = self
            .http
            .post(self.webhook.clone())
            .header(DELIVERY_HEADER, message.id.to_string())
            .json(&body)
            .send()
            .await
            .map_err(|e| DeliveryError::Retryable(transport_error(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|s| *s >= 0)
            .map(|s| chrono::Duration::seconds(s.min(3600)));
        let text = response.text().await.unwrap_or_default();
        let error = format!(
            "HTTP {}: {}",
            status.as_u16(),
            excerpt(text.trim(), 200).replace(['\r', '\n'], " ")
        );
        if let (429, Some(retry_after)) = (status.as_u16(), retry_after) {
            Err(DeliveryError::RateLimited { error, retry_after })
        } else if status.as_u16() == 429 || status.is_server_error() {
            Err(DeliveryError::Retryable(error))
        } else {
            Err(DeliveryError::Permanent(error))
        }
    }
}

#[cfg(test)]
mod tests;
