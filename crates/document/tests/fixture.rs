//! The "Auth Service Redesign" fixtures (HTML and Markdown) go through the pipeline intact: every
//! vocabulary component survives sanitization and every anchor is indexed.

#![allow(clippy::unwrap_used)]

use planpush_document::{SanitizeOptions, markdown_to_html, sanitize, section_index, title};

const HTML: &str = include_str!("../../../fixtures/auth-service-redesign.html");
const MD: &str = include_str!("../../../fixtures/auth-service-redesign.md");

#[test]
fn the_html_fixture_keeps_its_vocabulary_and_anchors() {
    let clean = sanitize(HTML, &SanitizeOptions::default());
    for class in [
        "pp-card",
        "pp-badge pp-major",
        "pp-badge pp-moderate",
        "pp-badge pp-minor",
        "pp-badge pp-new",
        "pp-decisions",
        "pp-badge pp-accepted",
        "pp-badge pp-open",
        "pp-tabs",
        "pp-pane",
        "pp-model",
        "pp-pk",
        "pp-fk",
        "pp-steps",
        "pp-endpoint",
        "pp-method",
        "pp-badge pp-breaking",
        "pp-mock",
        "pp-mock-bar",
        "pp-mock-btn",
        "pp-phases",
        "pp-risk pp-high",
        "pp-mitigation",
        "pp-callout",
        "pp-checklist",
        "pp-diagram",
        "pp-questions",
        "pp-resolved",
        "pp-answer",
        "pp-metrics",
        "pp-metric-value",
        "pp-metric-now",
        "pp-changed",
        "pp-mock-check pp-on",
        "pp-mock-toggle",
    ] {
        assert!(clean.contains(&format!("class=\"{class}")), "{class} lost");
    }
    assert!(
        clean.contains("marker-end=\"url(#arrow)\"")
            && clean.contains("data-anchor=\"node-gateway\""),
        "the diagram and its node anchors survive"
    );
    let idx = section_index(&clean);
    let anchors: Vec<&str> = idx.entries().iter().map(|e| e.anchor.as_str()).collect();
    for a in [
        "auth-flow",
        "node-client",
        "affected-services",
        "svc-auth",
        "decisions",
        "d-token-store",
        "data-model",
        "model-session",
        "migrations",
        "m-4",
        "api-surface",
        "api-gateway",
        "ui",
        "mock-login",
        "rollout",
        "phase-2",
        "risks",
        "risk-revocation",
        "rollback",
        "checklist",
    ] {
        assert!(anchors.contains(&a), "{a} not indexed: {anchors:?}");
    }
    assert_eq!(title(&clean).as_deref(), Some("Auth Service Redesign"));
    assert_eq!(
        sanitize(&clean, &SanitizeOptions::default()),
        clean,
        "stable"
    );
}

#[test]
fn the_markdown_fixture_has_the_same_top_level_anchors() {
    let clean = sanitize(&markdown_to_html(MD), &SanitizeOptions::default());
    let idx = section_index(&clean);
    let anchors: Vec<&str> = idx.entries().iter().map(|e| e.anchor.as_str()).collect();
    for a in [
        "auth-flow",
        "affected-services",
        "decisions",
        "data-model",
        "model-session",
        "migrations",
        "api-surface",
        "risks",
    ] {
        assert!(anchors.contains(&a), "{a} not indexed: {anchors:?}");
    }
    let diagrams = planpush_document::find_diagrams(&markdown_to_html(MD));
    assert_eq!(
        diagrams.len(),
        1,
        "the mermaid fence is found for the renderer"
    );
    assert!(
        diagrams[0].source.starts_with("flowchart LR") && diagrams[0].source.contains("-->"),
        "{:?}",
        diagrams[0].source
    );
}
