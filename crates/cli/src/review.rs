//! `planpush review request|status|approve|request-changes`: sign-off per version.

use serde_json::{Value, json};

use crate::api::Body;
use crate::commands::{Ctx, OutputFormat, authed_for, on_plan};
use crate::error::CliError;

/// Who is asked to review what.
#[derive(Debug, Default)]
pub struct ReviewAsk {
    pub reviewers: Vec<String>,
    pub role: Option<String>,
    pub version: Option<u32>,
    pub anchors: Vec<String>,
}

fn send(
    ctx: &Ctx,
    name: &str,
    method: &str,
    tail: &str,
    body: Option<Value>,
) -> Result<Value, CliError> {
    let (mut authed, project) = authed_for(ctx, Some(name))?;
    let text = body.map(|b| b.to_string());
    let body = match &text {
        Some(t) => Body::Text {
            content_type: "application/json",
            text: t,
        },
        None => Body::None,
    };
    let (_, reply) = on_plan(
        &mut authed,
        &project,
        name,
        method,
        |id| format!("/api/sessions/{id}/reviews{tail}"),
        body,
    )?;
    Ok(reply.body)
}

/// Asks for a review; the sign-off after it.
pub fn request(ctx: &Ctx, name: &str, ask: &ReviewAsk) -> Result<Value, CliError> {
    let reviewers: Vec<String> = ask
        .reviewers
        .iter()
        .flat_map(|r| r.split(','))
        .map(|r| r.trim().trim_start_matches('@').to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    if reviewers.is_empty() && ask.role.is_none() {
        return Err(CliError::Invalid(
            "name the reviewers (--reviewer LOGIN, repeated or comma-separated) or a --role".into(),
        ));
    }
    send(
        ctx,
        name,
        "POST",
        "",
        Some(
            json!({"reviewers": reviewers, "role": ask.role, "version": ask.version, "anchors": ask.anchors}),
        ),
    )
}

/// Every reviewer's standing for the current version.
pub fn status(ctx: &Ctx, name: &str) -> Result<Value, CliError> {
    send(ctx, name, "GET", "", None)
}

/// The caller's verdict on the current version (or `version`).
pub fn verdict(
    ctx: &Ctx,
    name: &str,
    approve: bool,
    version: Option<u32>,
    comment: Option<&str>,
) -> Result<Value, CliError> {
    if !approve && comment.is_none_or(|c| c.trim().is_empty()) {
        return Err(CliError::Invalid(
            "say which changes: --comment TEXT".into(),
        ));
    }
    send(
        ctx,
        name,
        "POST",
        "/verdict",
        Some(json!({
            "verdict": if approve { "approved" } else { "changes_requested" },
            "version": version,
            "comment": comment,
        })),
    )
}

/// Prints `status` as text or JSON.
pub fn print(status: &Value, format: OutputFormat) {
    match format {
        OutputFormat::Json => println!("{status}"),
        OutputFormat::Text => print!("{}", describe(status)),
    }
}

/// The sign-off as text: a headline, then one line per reviewer with the rule that applied.
pub fn describe(s: &Value) -> String {
    let name = s["name"].as_str().unwrap_or("?");
    let mut out = format!(
        "{name} v{}: {}\n",
        s["version"],
        s["headline"].as_str().unwrap_or("")
    );
    for r in s["reviewers"].as_array().into_iter().flatten() {
        let mark = match r["state"].as_str() {
            Some("approved") => "✓",
            Some("changes_requested") => "✗",
            _ => "…",
        };
        out.push_str(&format!(
            "  {mark} @{} — {}",
            r["login"].as_str().unwrap_or("?"),
            r["explanation"].as_str().unwrap_or("")
        ));
        if let Some(c) = r["comment"].as_str() {
            out.push_str(&format!(": “{c}”"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_one_line_per_reviewer() {
        let s = json!({"name": "auth", "version": 3, "headline": "1 of 2 approved v3, 1 requested changes",
        "reviewers": [
            {"login": "bob", "state": "approved", "explanation": "approval of v2 kept for v3: the 1 change since touch nothing commented on or asked to review", "comment": null},
            {"login": "carol", "state": "changes_requested", "explanation": "changes requested on v3", "comment": "Say why Redis."}
        ]});
        assert_eq!(
            describe(&s),
            "auth v3: 1 of 2 approved v3, 1 requested changes\n  ✓ @bob — approval of v2 kept for v3: the 1 change since touch nothing commented on or asked to review\n  ✗ @carol — changes requested on v3: “Say why Redis.”\n"
        );
    }
}
