//! Microsoft Teams: an Adaptive Card (schema 1.4) posted to a Workflows webhook ("Post to a channel
//! when a webhook request is received") or a legacy incoming webhook; both take the same
//! `{"type": "message", "attachments": [card]}` envelope.
//!
//! Adaptive Card `TextBlock`s render a Markdown subset, so user text (titles, logins, bodies,
//! quotes, section titles) is escaped with [`escape_markdown`] over [`ACTIVE`]: no one can make a
//! link, formatting, or a `{{DATE()}}` function out of a comment. Links exist only where we build
//! them from the plan's slug and anchors. Lengths are bounded like Slack's.

use planpush_app::{Notification, PlanRef, SectionChange, excerpt};
use serde_json::{Value, json};

use crate::{
    MAX_BODY_CHARS, MAX_LABEL_CHARS, MAX_QUOTE_CHARS, MAX_SECTION_LINES, MAX_TITLE_CHARS,
    anchor_url, and_list, burst_diff, escape_markdown, markdown_label, markdown_link,
    markdown_section_line, markdown_typed_lines, plan_url, review_plan, review_sentence,
};

/// The outbox channel of Teams messages.
pub const CHANNEL: &str = "teams";
/// Characters escaped in Teams text (Markdown, and `{`/`}` of Adaptive Card text functions).
pub const ACTIVE: &str = "\\`*_[]()~<>#{}";

fn md(s: &str, max: usize) -> String {
    escape_markdown(&excerpt(s, max), ACTIVE)
}

fn label(s: &str, max: usize) -> String {
    markdown_label(s, max, ACTIVE)
}

fn text(s: String) -> Value {
    json!({"type": "TextBlock", "text": s, "wrap": true})
}

fn subtle(s: String) -> Value {
    json!({"type": "TextBlock", "text": s, "wrap": true, "isSubtle": true})
}

fn open(title: &str, url: String) -> Value {
    json!({"type": "Action.OpenUrl", "title": title, "url": url})
}

fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
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

fn section_line(base: &str, plan: &PlanRef, s: &SectionChange) -> String {
    markdown_section_line(base, plan, s, "-", ACTIVE)
}

/// The changed sections, one line each (at most [`MAX_SECTION_LINES`], then `…and N more`).
fn section_lines(base: &str, plan: &PlanRef, sections: &[SectionChange], more: usize) -> String {
    let mut lines: Vec<String> = sections
        .iter()
        .take(MAX_SECTION_LINES)
        .map(|s| section_line(base, plan, s))
        .collect();
    let hidden = sections.len() - lines.len() + more;
    if lines.is_empty() {
        lines.push("No section changed.".into());
    } else if hidden > 0 {
        lines.push(format!("…and {hidden} more"));
    }
    lines.join("\n")
}

/// The webhook body for `n`; `base_url` is the server's `BASE_URL`.
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
            let plan_link = markdown_link(&plan_url(base, plan), &title);
            let headline = if *version == 1 {
                format!("**{by}** pushed a new plan **{plan_link}**")
            } else {
                format!("**{by}** pushed version {version} of **{plan_link}**")
            };
            let lines = section_lines(base, plan, sections, *more_sections);
            let mut actions = vec![open("Open the plan", plan_url(base, plan))];
            if *version > 1 {
                actions.push(open(
                    "See what changed",
                    format!("{}?v={version}&diff={}", plan_url(base, plan), version - 1),
                ));
            }
            let mut body = vec![text(headline)];
            if !typed.is_empty() {
                let mut what = vec!["**What changed**".to_owned()];
                what.extend(markdown_typed_lines(typed, "-", ACTIVE));
                body.push(text(what.join("\n")));
            }
            body.push(text(lines));
            // The "what changed" line, as on Slack (absent for a new plan).
            if let Some(summary) = summary.as_deref().filter(|_| *version > 1) {
                body.push(subtle(label(summary, MAX_LABEL_CHARS)));
            }
            card(body, actions)
        }
        Notification::CommentCreated {
            plan,
            by,
            anchor,
            section,
            quote,
            body,
            reply,
            ..
        } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            let where_ = label(section.as_deref().unwrap_or(anchor), MAX_LABEL_CHARS);
            let verb = if *reply { "replied on" } else { "commented on" };
            let thread_url = anchor_url(base, plan, anchor);
            let mut blocks = vec![text(format!(
                "**{by}** {verb} **{}** in **{}**",
                markdown_link(&thread_url, &where_),
                markdown_link(&plan_url(base, plan), &title)
            ))];
            if let Some(q) = quote {
                blocks.push(subtle(md(q, MAX_QUOTE_CHARS)));
            }
            blocks.push(text(md(body, MAX_BODY_CHARS)));
            card(blocks, vec![open("Open the thread", thread_url)])
        }
        Notification::CommentResolved {
            plan,
            by,
            anchor,
            section,
            body,
            ..
        } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            let where_ = label(section.as_deref().unwrap_or(anchor), MAX_LABEL_CHARS);
            let thread_url = anchor_url(base, plan, anchor);
            card(
                vec![
                    text(format!(
                        "**{by}** resolved a thread on **{}** in **{}**",
                        markdown_link(&thread_url, &where_),
                        markdown_link(&plan_url(base, plan), &title)
                    )),
                    subtle(md(body, MAX_BODY_CHARS)),
                ],
                vec![open("Open the thread", thread_url)],
            )
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
            let plan_link = markdown_link(&plan_url(base, plan), &title);
            let mut actions = vec![open("Open the plan", plan_url(base, plan))];
            if let Some(diff) = burst_diff(base, plan, versions) {
                actions.push(open("See what changed", diff));
            }
            card(
                vec![
                    text(format!("**{by}** pushed versions {vs} of **{plan_link}**")),
                    text(section_lines(base, plan, sections, *more_sections)),
                ],
                actions,
            )
        }
        Notification::PlanPublished { plan, by } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            card(
                vec![text(format!(
                    "**{by}** published **{}**",
                    markdown_link(&plan_url(base, plan), &title)
                ))],
                vec![open("Open the plan", plan_url(base, plan))],
            )
        }
        Notification::ReviewRequested { .. } | Notification::ReviewDecided { .. } => {
            let (headline, comment) = review_sentence(n, |s| label(s, MAX_LABEL_CHARS));
            let plan = review_plan(n);
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let mut body = vec![text(format!(
                "{headline} **{}**",
                markdown_link(&plan_url(base, plan), &title)
            ))];
            if let Some(c) = comment {
                body.push(subtle(md(&c, MAX_BODY_CHARS)));
            }
            card(body, vec![open("Open the plan", plan_url(base, plan))])
        }
    }
}
