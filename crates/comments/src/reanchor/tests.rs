//! Data-driven re-anchoring: old document, new document, a thread → its state.

use chrono::Utc;
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_versions::{AnchorId, VersionNumber};

use super::*;
use crate::{CommentBody, TextQuote};

const BASE: &str = r#"<h1>Auth</h1>
<section data-anchor="flow"><h2>Flow</h2><p>The client sends the refresh token to the gateway, which forwards it to the token service.</p></section>
<section data-anchor="storage"><h2>Storage</h2><p>Refresh tokens are stored hashed with SHA-256 in PostgreSQL.</p></section>
<section data-anchor="risks"><h2>Risks</h2><p>Token theft from a developer laptop is the main risk.</p></section>"#;

fn thread(anchor: &str, quote: Option<(&str, &str, &str)>, state: AnchorState) -> Comment {
    let mut c = Comment::thread(
        PlanId::new(),
        UserId::new(),
        VersionNumber::FIRST,
        AnchorId::parse(anchor).unwrap(),
        quote.map(|(e, p, s)| TextQuote::new(e, p, s).unwrap()),
        CommentBody::parse("a comment").unwrap(),
        Utc::now(),
    );
    c.state = state;
    c
}

fn state_after(old: &str, new: &str, c: &Comment) -> String {
    let before = planpush_document::section_index(old);
    let after = planpush_document::section_index(new);
    let (text, spans) = planpush_document::anchored_text(new);
    let doc = DocText::new(&text, spans);
    match reanchor(c, Some(&before), &after, &doc) {
        AnchorState::Moved { to } => format!("moved:{to}"),
        s => s.as_str().to_owned(),
    }
}

#[test]
fn threads_follow_their_text() {
    let flow_q = Some((
        "refresh token to the gateway",
        "The client sends the ",
        ", which forwards it",
    ));
    let storage_q = Some((
        "stored hashed with SHA-256",
        "Refresh tokens are ",
        " in PostgreSQL.",
    ));
    let reordered = {
        let parts: Vec<&str> = BASE.split('\n').collect();
        [parts[0], parts[2], parts[1], parts[3]].join("\n")
    };
    let moved_text = BASE.replace(
        r#"<section data-anchor="storage"><h2>Storage</h2><p>Refresh tokens are stored hashed with SHA-256 in PostgreSQL.</p></section>"#,
        r#"<section data-anchor="decisions"><h2>Decisions</h2><p>We decided that refresh tokens are stored hashed (with SHA-256) in PostgreSQL.</p></section>"#,
    );
    let twice = format!(
        "{BASE}\n<section data-anchor=\"appendix\"><h2>Appendix</h2><p>Note: refresh token to the gateway travels over TLS only.</p></section>"
    );
    let nested = BASE.replace(
        r#"<section data-anchor="flow"><h2>Flow</h2><p>The client sends the refresh token to the gateway, which forwards it to the token service.</p></section>"#,
        r#"<section data-anchor="auth"><h2>Auth</h2><div data-anchor="step-1"><p>The client sends the refresh token to the gateway, which forwards it to the token service.</p></div></section>"#,
    );
    let cases: Vec<(&str, String, Comment, &str)> = vec![
        ("unchanged", BASE.into(), thread("flow", flow_q, AnchorState::Anchored), "anchored"),
        ("reordered sections", reordered.clone(), thread("flow", flow_q, AnchorState::Anchored), "anchored"),
        (
            "edited text",
            BASE.replace("token service", "session service"),
            thread("flow", flow_q, AnchorState::Anchored),
            "changed",
        ),
        (
            "changed stays changed",
            BASE.into(),
            thread("flow", flow_q, AnchorState::Changed),
            "changed",
        ),
        (
            "renamed anchor",
            BASE.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\""),
            thread("flow", flow_q, AnchorState::Anchored),
            "moved:auth-flow",
        ),
        (
            "renamed anchor, edited quote",
            BASE.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\"")
                .replace("refresh token to the gateway", "refresh token to the API gateway"),
            thread("flow", flow_q, AnchorState::Anchored),
            "moved:auth-flow",
        ),
        (
            "text moved into another section and reworded a little",
            moved_text,
            thread("storage", storage_q, AnchorState::Anchored),
            "moved:decisions",
        ),
        (
            "deleted section",
            BASE.replace(
                r#"<section data-anchor="storage"><h2>Storage</h2><p>Refresh tokens are stored hashed with SHA-256 in PostgreSQL.</p></section>"#,
                "",
            ),
            thread("storage", storage_q, AnchorState::Anchored),
            "orphaned",
        ),
        (
            "anchor gone, no quote",
            BASE.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\""),
            thread("flow", None, AnchorState::Anchored),
            "orphaned",
        ),
        (
            "anchor gone, text rewritten beyond recognition",
            BASE.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\"")
                .replace("refresh token to the gateway", "credential via an HTTPS call"),
            thread("flow", flow_q, AnchorState::Anchored),
            "orphaned",
        ),
        (
            "the quote twice: context decides",
            twice.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\""),
            thread("flow", flow_q, AnchorState::Anchored),
            "moved:auth-flow",
        ),
        (
            "innermost element wins",
            nested,
            thread("flow", flow_q, AnchorState::Anchored),
            "moved:step-1",
        ),
        (
            "an orphan whose anchor comes back is changed",
            BASE.into(),
            thread("flow", flow_q, AnchorState::Orphaned),
            "changed",
        ),
    ];
    for (name, new, c, want) in cases {
        assert_eq!(state_after(BASE, &new, &c), want, "{name}");
    }
}

#[test]
fn a_moved_thread_is_searched_again_and_may_move_on() {
    let q = Some(("main risk", "developer laptop is the ", "."));
    let c = thread(
        "risks",
        q,
        AnchorState::Moved {
            to: AnchorId::parse("threats").unwrap(),
        },
    );
    let new = BASE.replace("data-anchor=\"risks\"", "data-anchor=\"threat-model\"");
    assert_eq!(state_after(BASE, &new, &c), "moved:threat-model");
}

#[test]
fn similarity_is_dice_over_pairs() {
    let s = |a: &str, b: &str| similarity(&normalize(a), &normalize(b));
    assert!((s("night", "nacht") - 0.25).abs() < 1e-9);
    assert!((s("Same  text", "same text") - 1.0).abs() < 1e-9);
    assert_eq!(s("a", "b"), 0.0);
}
