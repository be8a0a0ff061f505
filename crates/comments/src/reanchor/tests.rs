//! Data-driven re-anchoring: old document, new document, a thread → its state.

use chrono::Utc;
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_versions::{AnchorId, VersionNumber};

use super::*;
use crate::{CommentBody, FoundBy, TextQuote};

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

fn doc_text(html: &str) -> DocText {
    let (text, spans) = planpush_document::anchored_text(html);
    DocText::new(&text, spans).with_elements(planpush_document::element_prints(html))
}

/// `moved:<anchor>` when found by its quote, `moved:<anchor> by <how>` when found by content.
fn state_after(old: &str, new: &str, c: &Comment) -> String {
    let before = planpush_document::section_index(old);
    let after = planpush_document::section_index(new);
    let (doc, old_doc) = (doc_text(new), doc_text(old));
    match reanchor_with(c, Some(&before), &after, &doc, Some(&old_doc)) {
        AnchorState::Moved {
            to,
            by: FoundBy::Quote,
        } => format!("moved:{to}"),
        AnchorState::Moved { to, by } => format!("moved:{to} by {}", by.as_str()),
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
            "anchor gone, no quote: its element is found by content",
            BASE.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\""),
            thread("flow", None, AnchorState::Anchored),
            "moved:auth-flow by same_content",
        ),
        (
            "anchor gone, quote rewritten beyond recognition: the rest of the section still matches",
            BASE.replace("data-anchor=\"flow\"", "data-anchor=\"auth-flow\"")
                .replace("refresh token to the gateway", "credential via an HTTPS call"),
            thread("flow", flow_q, AnchorState::Anchored),
            "moved:auth-flow by similar_content",
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
            by: FoundBy::Quote,
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

/// An assistant-written plan: sections holding a diagram, cards and a table, each commentable.
const PLAN: &str = r#"<h1>Checkout redesign</h1>
<section data-anchor="overview"><h2>Overview</h2><p>Checkout moves from the monolith to a payments service that owns carts, prices and payment intents.</p></section>
<section data-anchor="architecture"><h2>Architecture</h2>
<svg viewBox="0 0 200 80" data-anchor="arch-diagram"><g data-anchor="node-web"><rect width="40" height="20"></rect><text>Web app</text></g><g data-anchor="node-pay"><rect x="100" width="40" height="20"></rect><text>Payments service</text></g></svg>
<div class="pp-card" data-anchor="card-payments"><h3>Payments service</h3><span class="pp-badge">New</span><p>Owns payment intents and talks to the card processor over mTLS.</p></div>
<div class="pp-card" data-anchor="card-web"><h3>Web app</h3><span class="pp-badge">Moderate</span><p>Calls the payments service instead of writing orders directly.</p></div></section>
<section data-anchor="data-model"><h2>Data model</h2><table class="pp-table" data-anchor="table-intents"><tr><th>Field</th><th>Type</th></tr><tr><td>id</td><td>uuid PK</td></tr><tr><td>amount</td><td>integer cents</td></tr></table></section>
<section data-anchor="rollout"><h2>Rollout</h2><p>Ship behind a flag to five percent of traffic, watch error rates for a week, then ramp to everyone. Roll back by turning the flag off; intents created meanwhile stay valid.</p></section>"#;

/// Every anchor renamed, sections reordered, a few words reworded — the regeneration of issue 17.
fn regenerated() -> String {
    let renamed = PLAN
        .replace("\"overview\"", "\"summary\"")
        .replace("\"architecture\"", "\"system-design\"")
        .replace("\"arch-diagram\"", "\"diagram-1\"")
        .replace("\"node-web\"", "\"n-web\"")
        .replace("\"node-pay\"", "\"n-payments\"")
        .replace("\"card-payments\"", "\"svc-payments\"")
        .replace("\"card-web\"", "\"svc-web\"")
        .replace("\"data-model\"", "\"schema\"")
        .replace("\"table-intents\"", "\"tbl-payment-intents\"")
        .replace("\"rollout\"", "\"release-plan\"")
        .replace(
            "watch error rates for a week",
            "watch the error rates for one week",
        );
    let lines: Vec<&str> = renamed.lines().collect();
    // h1, overview, architecture (4 lines), data model, rollout → h1, rollout, data model, arch, overview
    [
        lines[0], lines[7], lines[6], lines[2], lines[3], lines[4], lines[5], lines[1],
    ]
    .join("\n")
}

#[test]
fn element_threads_follow_their_element_when_every_anchor_is_renamed() {
    let new = regenerated();
    let old_doc = doc_text(PLAN);
    type Quote<'a> = Option<(&'a str, &'a str, &'a str)>;
    let cases: Vec<(&str, &str, Quote<'_>, &str)> = vec![
        (
            "a diagram",
            "arch-diagram",
            None,
            "moved:diagram-1 by same_content",
        ),
        (
            "a node of the diagram",
            "node-pay",
            None,
            "moved:n-payments by same_content",
        ),
        (
            "a card",
            "card-payments",
            None,
            "moved:svc-payments by same_content",
        ),
        (
            "the other card",
            "card-web",
            None,
            "moved:svc-web by same_content",
        ),
        (
            "a table",
            "table-intents",
            None,
            "moved:tbl-payment-intents by same_content",
        ),
        (
            "a section whose text is unchanged",
            "data-model",
            None,
            "moved:schema by same_content",
        ),
        (
            "a section reworded a little",
            "rollout",
            None,
            "moved:release-plan by similar_content",
        ),
        (
            "a quote still goes by its quote",
            "rollout",
            Some(("turning the flag off", "Roll back by ", "; intents")),
            "moved:release-plan",
        ),
    ];
    for (name, anchor, quote, want) in cases {
        let c = thread(anchor, quote, AnchorState::Anchored);
        assert_eq!(state_after(PLAN, &new, &c), want, "{name}");
    }
    // Without the previous version's text an element thread cannot be found (the old behaviour).
    let c = thread("card-payments", None, AnchorState::Anchored);
    let (text, spans) = planpush_document::anchored_text(&new);
    let state = reanchor(
        &c,
        Some(&planpush_document::section_index(PLAN)),
        &planpush_document::section_index(&new),
        &DocText::new(&text, spans),
    );
    assert_eq!(state, AnchorState::Orphaned);
    assert!(old_doc.elements.len() >= 10);
}

#[test]
fn element_threads_follow_split_and_merged_sections() {
    let split = PLAN.replace(
        r#"<section data-anchor="rollout"><h2>Rollout</h2><p>Ship behind a flag to five percent of traffic, watch error rates for a week, then ramp to everyone. Roll back by turning the flag off; intents created meanwhile stay valid.</p></section>"#,
        r#"<section data-anchor="launch"><h2>Launch</h2><p>Ship behind a flag to five percent of traffic, watch error rates for a week, then ramp to everyone.</p></section>
<section data-anchor="rollback"><h2>Rollback</h2><p>Roll back by turning the flag off; intents created meanwhile stay valid, and the monolith keeps reading them.</p></section>"#,
    );
    let merged = PLAN.replace(
        r#"<section data-anchor="overview"><h2>Overview</h2><p>Checkout moves from the monolith to a payments service that owns carts, prices and payment intents.</p></section>"#,
        "",
    )
    .replace(
        r#"<section data-anchor="data-model"><h2>Data model</h2>"#,
        r#"<section data-anchor="model-and-scope"><h2>Scope and data model</h2><p>Checkout moves from the monolith to a payments service that owns carts, prices and payment intents.</p>"#,
    );
    let removed = PLAN.replace(
        r#"<div class="pp-card" data-anchor="card-web"><h3>Web app</h3><span class="pp-badge">Moderate</span><p>Calls the payments service instead of writing orders directly.</p></div>"#,
        "",
    );
    let cases: Vec<(&str, &str, &String, &str)> = vec![
        (
            "split: the larger half",
            "rollout",
            &split,
            "moved:launch by similar_content",
        ),
        (
            "merged: the smaller section",
            "overview",
            &merged,
            "moved:model-and-scope by similar_content",
        ),
        (
            "merged: the section that absorbed it",
            "data-model",
            &merged,
            "moved:model-and-scope by similar_content",
        ),
        (
            "an element really removed",
            "card-web",
            &removed,
            "orphaned",
        ),
    ];
    for (name, anchor, new, want) in cases {
        let c = thread(anchor, None, AnchorState::Anchored);
        assert_eq!(state_after(PLAN, new, &c), want, "{name}");
    }
}

#[test]
fn content_matches_only_elements_of_the_same_kind_and_prefers_the_nearest_twin() {
    // The card's text now lives in a plain paragraph section: not a card, not taken.
    let old = r#"<section data-anchor="a"><h2>A</h2><div class="pp-card" data-anchor="c1"><p>Owns payment intents and the processor link.</p></div></section>"#;
    let new = r#"<section data-anchor="a"><h2>A</h2><p data-anchor="p1">Owns payment intents and the processor link.</p></section>"#;
    let c = thread("c1", None, AnchorState::Anchored);
    assert_eq!(state_after(old, new, &c), "orphaned");
    // Two identical cards: the one where the old one stood.
    let old = r#"<section data-anchor="s1"><h2>One</h2><div class="pp-card" data-anchor="k1"><p>Same</p></div></section><section data-anchor="s2"><h2>Two</h2><p>Much more text here so that the second card sits far down the page, well away from the first card, in a long document.</p><div class="pp-card" data-anchor="k2"><p>Same</p></div></section>"#;
    let new = old.replace("\"k1\"", "\"x1\"").replace("\"k2\"", "\"x2\"");
    assert_eq!(
        state_after(old, &new, &thread("k1", None, AnchorState::Anchored)),
        "moved:x1 by same_content"
    );
    assert_eq!(
        state_after(old, &new, &thread("k2", None, AnchorState::Anchored)),
        "moved:x2 by same_content"
    );
}

#[test]
fn a_thread_moved_by_content_stays_while_its_element_is_there() {
    let c = thread(
        "card-payments",
        None,
        AnchorState::Moved {
            to: AnchorId::parse("svc-payments").unwrap(),
            by: FoundBy::SameContent,
        },
    );
    let v2 = regenerated();
    // v3 edits the card a lot: still the element the thread was moved to.
    let v3 = v2.replace(
        "Owns payment intents and talks to the card processor over mTLS.",
        "Entirely new wording of what this service does now.",
    );
    assert_eq!(
        state_after(&v2, &v3, &c),
        "moved:svc-payments by same_content"
    );
}
