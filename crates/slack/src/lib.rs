//! Chat notifiers: turn the application's channel-neutral [`Notification`]s (outbox payloads) into
//! a chat's message format and post them to its incoming webhook — Slack (Block Kit), Microsoft
//! Teams ([`teams`]: an Adaptive Card through a Workflows webhook) and Discord ([`discord`]: an
//! embed). One transport ([`ChatNotifier`]) serves the three; only the rendering differs.
//!
//! - [`render`] (Slack), [`teams::render`] and [`discord::render`] are pure functions: a notification and the server's `BASE_URL` → the webhook's JSON
//!   body. User text (titles, logins, bodies, quotes, section titles) is escaped for Slack mrkdwn
//!   (`&`, `<`, `>`), so nobody can inject links or `<!channel>` mentions, and cut to bounded
//!   lengths, so a message always fits Slack's limits (3,000 characters per text block).
//!   Teams and Discord text is escaped for their Markdown dialects the same way (see their modules).
//! - [`ChatNotifier`] implements `app::Notifier`: one POST per message, bounded by a timeout,
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

pub mod discord;
pub mod teams;
pub mod webhook;

/// The outbox channel of Slack messages.
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
/// Longest "what changed" line (a typed change) shown.
pub const MAX_TYPED_CHARS: usize = 200;
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

/// Escapes text for a Markdown dialect (Teams' Adaptive Card text, Discord): every character in
/// `active` gets a backslash, and a line that would otherwise open a list (`-`, `+`, `1.`) has that
/// marker escaped, so user text renders as typed and cannot make links, mentions or formatting.
pub fn escape_markdown(s: &str, active: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        out.push_str(&line[..indent]);
        let rest = &line[indent..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        for (at, c) in rest.char_indices() {
            let list_marker = (at == 0 && (c == '-' || c == '+'))
                || (digits > 0 && at == digits && (c == '.' || c == ')'));
            if active.contains(c) || list_marker {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// A Markdown link `[text](url)`: `text` must be escaped already; characters of `url` that could
/// end the link target early are percent-encoded (URLs are built from validated parts anyway).
pub(crate) fn markdown_link(url: &str, text: &str) -> String {
    let mut target = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' => target.push_str("%28"),
            ')' => target.push_str("%29"),
            ' ' => target.push_str("%20"),
            '<' => target.push_str("%3C"),
            '>' => target.push_str("%3E"),
            c => target.push(c),
        }
    }
    format!("[{text}]({target})")
}

/// Cut to `max` characters, then escaped; line breaks become spaces (labels are one line).
fn label(s: &str, max: usize) -> String {
    escape(&excerpt(&s.replace(['\r', '\n'], " "), max))
}

/// A mrkdwn link; `url` is built from validated parts and escaped too.
fn link(url: &str, text: &str) -> String {
    format!("<{}|{}>", escape(url), text)
}

/// A Markdown label (Teams, Discord): one line, cut to `max`, escaped for the channel's `active`
/// characters.
pub(crate) fn markdown_label(s: &str, max: usize, active: &str) -> String {
    escape_markdown(&excerpt(&s.replace(['\r', '\n'], " "), max), active)
}

/// One line of a new version's changed sections in Markdown (Teams, Discord): `bullet`, the
/// change, and the section title linked to its anchor (a removed section has nothing to link to).
pub(crate) fn markdown_section_line(
    base: &str,
    plan: &PlanRef,
    s: &SectionChange,
    bullet: &str,
    active: &str,
) -> String {
    let title = markdown_label(&s.title, MAX_LABEL_CHARS, active);
    let linked = || markdown_link(&anchor_url(base, plan, &s.anchor), &title);
    match s.change {
        SectionChangeKind::Added => format!("{bullet} Added: {}", linked()),
        SectionChangeKind::Changed => format!("{bullet} Changed: {}{}", linked(), words(s)),
        SectionChangeKind::Removed => format!("{bullet} Removed: {title}"),
    }
}

/// A new version's typed changes ("what changed" in the plan's terms) as Markdown lines (Teams,
/// Discord), each escaped and cut like a label.
pub(crate) fn markdown_typed_lines(typed: &[String], bullet: &str, active: &str) -> Vec<String> {
    typed
        .iter()
        .map(|l| format!("{bullet} {}", markdown_label(l, MAX_TYPED_CHARS, active)))
        .collect()
}

pub(crate) fn plan_url(base: &str, plan: &PlanRef) -> String {
    format!("{base}/p/{}", plan.slug)
}

pub(crate) fn anchor_url(base: &str, plan: &PlanRef, anchor: &str) -> String {
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

/// ` (+14 −3 words)` for a changed section whose word counts are known, else nothing.
pub(crate) fn words(s: &SectionChange) -> String {
    s.words.map_or(String::new(), |w| {
        format!(" (+{} −{} words)", w.inserted, w.deleted)
    })
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
            format!(
                "• Changed: {}{}",
                link(&anchor_url(base, plan, &s.anchor), &title),
                words(s)
            )
        }
        SectionChangeKind::Removed => format!("• Removed: {title}"),
    }
}

/// The changed sections as one mrkdwn block: at most [`MAX_SECTION_LINES`] lines within Slack's
/// block limit, then `…and N more`.
fn sections_block(base: &str, plan: &PlanRef, sections: &[SectionChange], more: usize) -> Value {
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
    let hidden = sections.len() - lines.len() + more;
    if lines.is_empty() {
        return section("No section changed.".into());
    }
    if hidden > 0 {
        lines.push(format!("…and {hidden} more"));
    }
    section(lines.join("\n"))
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A burst's diff link: from before its first version to its last (`None` when the burst starts
/// with the plan's first version: there is nothing to compare with).
pub(crate) fn burst_diff(base: &str, plan: &PlanRef, versions: &[u32]) -> Option<String> {
    let (first, last) = (*versions.first()?, *versions.last()?);
    (first > 1).then(|| format!("{}?v={last}&diff={}", plan_url(base, plan), first - 1))
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
            typed,
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
            if !typed.is_empty() {
                let lines: Vec<String> = typed
                    .iter()
                    .map(|l| format!("• {}", label(l, MAX_TYPED_CHARS)))
                    .collect();
                blocks.push(section(format!("*What changed*\n{}", lines.join("\n"))));
            }
            blocks.push(sections_block(base, plan, sections, *more_sections));
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
        Notification::VersionsPushed {
            plan,
            versions,
            by,
            sections,
            more_sections,
        } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = and_list(
                &by.iter()
                    .map(|b| label(b, MAX_LABEL_CHARS))
                    .collect::<Vec<_>>(),
            );
            let vs = and_list(&versions.iter().map(u32::to_string).collect::<Vec<_>>());
            let plan_link = link(&plan_url(base, plan), &title);
            let mut blocks = vec![
                section(format!("*{by}* pushed versions {vs} of *{plan_link}*")),
                sections_block(base, plan, sections, *more_sections),
            ];
            if let Some(diff) = burst_diff(base, plan, versions) {
                blocks.push(context(link(&diff, "See what changed")));
            }
            json!({"text": format!("{by} pushed versions {vs} of {title}"), "blocks": blocks})
        }
        Notification::PlanPublished { plan, by } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            let blocks = vec![section(format!(
                "*{by}* published *{}*",
                link(&plan_url(base, plan), &title)
            ))];
            json!({"text": format!("{by} published {title}"), "blocks": blocks})
        }
        Notification::ReviewRequested { .. } | Notification::ReviewDecided { .. } => {
            let (headline, comment) = review_sentence(n, |s| label(s, MAX_LABEL_CHARS));
            let title = label(review_plan(n).title.as_str(), MAX_TITLE_CHARS);
            let url = plan_url(base, review_plan(n));
            let mut blocks = vec![section(format!("{headline} *{}*", link(&url, &title)))];
            if let Some(c) = comment {
                blocks.push(section(blockquote(&c, MAX_BODY_CHARS)));
            }
            json!({"text": format!("{headline} {title}"), "blocks": blocks})
        }
    }
}

/// The plan of a review notification.
pub(crate) fn review_plan(n: &Notification) -> &PlanRef {
    match n {
        Notification::ReviewRequested { plan, .. }
        | Notification::ReviewDecided { plan, .. }
        | Notification::VersionPushed { plan, .. }
        | Notification::VersionsPushed { plan, .. }
        | Notification::PlanPublished { plan, .. }
        | Notification::CommentCreated { plan, .. }
        | Notification::CommentResolved { plan, .. } => plan,
    }
}

/// A review notification's headline up to the plan's title ("ada asked bob, carol to review v3
/// of", "bob approved v3 of", "bob requested changes on v3 of"), each name through `esc`, and the
/// reviewer's comment if any (raw: each channel quotes it its own way).
pub(crate) fn review_sentence(
    n: &Notification,
    esc: impl Fn(&str) -> String,
) -> (String, Option<String>) {
    match n {
        Notification::ReviewRequested {
            version,
            by,
            reviewers,
            ..
        } => {
            let names: Vec<String> = reviewers.iter().take(10).map(|r| esc(r)).collect();
            let more = reviewers.len().saturating_sub(names.len());
            let mut who = names.join(", ");
            if more > 0 {
                who.push_str(&format!(" and {more} more"));
            }
            (
                format!("{} asked {who} to review v{version} of", esc(by)),
                None,
            )
        }
        Notification::ReviewDecided {
            version,
            by,
            verdict,
            comment,
            ..
        } => {
            let what = if verdict == "approved" {
                format!("approved v{version} of")
            } else {
                format!("requested changes on v{version} of")
            };
            (format!("{} {what}", esc(by)), comment.clone())
        }
        _ => (String::new(), None),
    }
}

/// Which chat a [`ChatNotifier`] posts to (and so how it renders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chat {
    /// Slack incoming webhook, Block Kit ([`render`]).
    Slack,
    /// Microsoft Teams Workflows (or legacy incoming) webhook, Adaptive Card ([`teams::render`]).
    Teams,
    /// Discord webhook, embed ([`discord::render`]).
    Discord,
}

impl Chat {
    /// The outbox channel name (`slack`, `teams`, `discord`).
    pub fn channel(self) -> &'static str {
        match self {
            Self::Slack => CHANNEL,
            Self::Teams => teams::CHANNEL,
            Self::Discord => discord::CHANNEL,
        }
    }

    /// The webhook body for `n` in this chat's format.
    pub fn render(self, n: &Notification, base_url: &str) -> Value {
        match self {
            Self::Slack => render(n, base_url),
            Self::Teams => teams::render(n, base_url),
            Self::Discord => discord::render(n, base_url),
        }
    }
}

/// Posts messages to one chat's incoming webhook.
pub struct ChatNotifier {
    chat: Chat,
    http: reqwest::Client,
    webhook: Url,
    base_url: String,
}

/// The Slack notifier (a [`ChatNotifier`] for [`Chat::Slack`]).
pub type SlackNotifier = ChatNotifier;

impl ChatNotifier {
    /// A Slack notifier; see [`ChatNotifier::for_chat`].
    pub fn new(webhook: Url, base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Self::for_chat(Chat::Slack, webhook, base_url, timeout)
    }

    /// `webhook` is the chat's webhook URL (`SLACK_WEBHOOK_URL`, `TEAMS_WEBHOOK_URL`,
    /// `DISCORD_WEBHOOK_URL`, already validated at start-up), `base_url` the server's `BASE_URL`
    /// (for deep links), `timeout` bounds each attempt (connect + answer). Redirects are not followed.
    pub fn for_chat(
        chat: Chat,
        webhook: Url,
        base_url: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("planpush/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            chat,
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
impl Notifier for ChatNotifier {
    fn channel(&self) -> &str {
        self.chat.channel()
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), DeliveryError> {
        let n = Notification::from_json(&message.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable payload: {e}")))?;
        let body = self.chat.render(&n, &self.base_url);
        let response = self
            .http
            .post(self.webhook.clone())
            .header(DELIVERY_HEADER, message.id.to_string())
            .json(&body)
            .send()
            .await
            .map_err(|e| DeliveryError::Retryable(transport_error(e)))?;
        outcome(response).await
    }
}

/// Maps a webhook's answer: 2xx success; 429 (with `Retry-After`: rate limited), 5xx retryable;
/// anything else (3xx included: redirects are never followed) permanent.
pub(crate) async fn outcome(response: reqwest::Response) -> Result<(), DeliveryError> {
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

#[cfg(test)]
mod tests;
