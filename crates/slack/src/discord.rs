//! Discord: one embed per message, posted to a channel webhook.
//!
//! Embed titles and descriptions render Discord Markdown, so user text is escaped with
//! [`escape_markdown`] over [`ACTIVE`] (no formatting, masked links, spoilers, `<@…>` or `@everyone`),
//! and every body carries `"allowed_mentions": {"parse": []}`, so even text that slipped through
//! could not ping anyone. Lengths stay inside Discord's limits (title 256, description 4,096).

use planpush_app::{Notification, PlanRef, SectionChange, excerpt};
use serde_json::{Value, json};

use crate::{
    MAX_BODY_CHARS, MAX_LABEL_CHARS, MAX_QUOTE_CHARS, MAX_SECTION_LINES, MAX_TITLE_CHARS,
    anchor_url, and_list, burst_diff, escape_markdown, markdown_label, markdown_section_line,
    markdown_typed_lines, plan_url, review_plan, review_sentence,
};

/// The outbox channel of Discord messages.
pub const CHANNEL: &str = "discord";
/// Characters escaped in Discord text.
pub const ACTIVE: &str = "\\`*_[]()~<>#|@";
/// Discord's limit for an embed title.
pub const MAX_EMBED_TITLE: usize = 256;
/// Embed colours: new version, new comment, resolved thread.
pub const COLORS: [u32; 3] = [0x25_63_eb, 0xd9_77_06, 0x16_a3_4a];

fn md(s: &str, max: usize) -> String {
    escape_markdown(&excerpt(s, max), ACTIVE)
}

fn label(s: &str, max: usize) -> String {
    markdown_label(s, max, ACTIVE)
}

/// Each line of `s` (cut to `max`, escaped) as a Discord block quote.
fn blockquote(s: &str, max: usize) -> String {
    md(s, max)
        .lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn embed(title: String, url: String, description: String, color: u32) -> Value {
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": excerpt(&title, MAX_EMBED_TITLE),
            "url": url,
            "description": description,
            "color": color,
        }]
    })
}

fn section_line(base: &str, plan: &PlanRef, s: &SectionChange) -> String {
    markdown_section_line(base, plan, s, "•", ACTIVE)
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
            let (headline, url) = if *version == 1 {
                (
                    format!("{by} pushed a new plan {title}"),
                    plan_url(base, plan),
                )
            } else {
                (
                    format!("{by} pushed version {version} of {title}"),
                    format!("{}?v={version}&diff={}", plan_url(base, plan), version - 1),
                )
            };
            let mut lines = vec![section_lines(base, plan, sections, *more_sections)];
            // The "what changed" line, as on Slack (absent for a new plan).
            if let Some(summary) = summary.as_deref().filter(|_| *version > 1) {
                lines.push(String::new());
                lines.push(label(summary, MAX_LABEL_CHARS));
            }
            if !typed.is_empty() {
                let mut what = vec!["**What changed**".to_owned()];
                what.extend(markdown_typed_lines(typed, "•", ACTIVE));
                what.push(String::new());
                lines.splice(0..0, what);
            }
            embed(headline, url, lines.join("\n"), COLORS[0])
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
            let mut description = String::new();
            if let Some(q) = quote {
                description.push_str(&blockquote(q, MAX_QUOTE_CHARS));
                description.push('\n');
            }
            description.push_str(&md(body, MAX_BODY_CHARS));
            embed(
                format!("{by} {verb} {where_} in {title}"),
                anchor_url(base, plan, anchor),
                description,
                COLORS[1],
            )
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
            embed(
                format!("{by} resolved a thread on {where_} in {title}"),
                anchor_url(base, plan, anchor),
                blockquote(body, MAX_BODY_CHARS),
                COLORS[2],
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
            embed(
                format!("{by} pushed versions {vs} of {title}"),
                burst_diff(base, plan, versions).unwrap_or_else(|| plan_url(base, plan)),
                section_lines(base, plan, sections, *more_sections),
                COLORS[0],
            )
        }
        Notification::PlanPublished { plan, by } => {
            let title = label(&plan.title, MAX_TITLE_CHARS);
            let by = label(by, MAX_LABEL_CHARS);
            embed(
                format!("{by} published {title}"),
                plan_url(base, plan),
                String::new(),
                COLORS[0],
            )
        }
        Notification::ReviewRequested { .. } | Notification::ReviewDecided { .. } => {
            let (headline, comment) = review_sentence(n, |s| label(s, MAX_LABEL_CHARS));
            let plan = review_plan(n);
            embed(
                format!("{headline} {}", label(&plan.title, MAX_TITLE_CHARS)),
                plan_url(base, plan),
                comment.map_or_else(String::new, |c| blockquote(&c, MAX_BODY_CHARS)),
                COLORS[0],
            )
        }
    }
}
