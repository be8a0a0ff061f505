//! Typed change sets, data-driven: every `fixtures/typed/*.txt` holds an old and a new document and
//! the sentences expected, in order. Plus the Auth Service Redesign fixture edited in each kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use planpush_document::{Aspect, ElementKind, typed_changes, typed_headline, typed_lines};

fn parts(text: &str) -> (String, String, Vec<String>) {
    let mut old = String::new();
    let mut new = String::new();
    let mut expect = vec![];
    let mut part = "";
    for line in text.lines() {
        match line {
            "=== old" | "=== new" | "=== expect" => part = &line[4..],
            _ if line.starts_with('#') && part.is_empty() => {}
            _ => match part {
                "old" => {
                    old.push_str(line);
                    old.push('\n');
                }
                "new" => {
                    new.push_str(line);
                    new.push('\n');
                }
                "expect" if !line.trim().is_empty() => expect.push(line.to_owned()),
                _ => {}
            },
        }
    }
    (old, new, expect)
}

#[test]
fn every_case_gives_its_sentences() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/typed");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the cases are there: {files:?}");
    let mut failures = vec![];
    for file in &files {
        let (old, new, expect) = parts(&std::fs::read_to_string(file).unwrap());
        assert!(
            !old.is_empty() && !new.is_empty(),
            "{file:?} has both documents"
        );
        let got: Vec<String> = typed_changes(&old, &new)
            .iter()
            .map(|c| c.sentence())
            .collect();
        if got != expect {
            failures.push(format!(
                "{}:\n  want {expect:#?}\n  got  {got:#?}",
                file.display()
            ));
        }
        // The same documents compared with themselves: nothing.
        assert!(typed_changes(&new, &new).is_empty(), "{file:?} vs itself");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn fixture() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/auth-service-redesign.html"),
    )
    .unwrap()
}

#[test]
fn the_fixture_edited_in_every_kind() {
    let v1 = fixture();
    let v2 = v1
        .replace(
            r#"<span class="pp-badge pp-open">Open</span> Redis vs PostgreSQL"#,
            r#"<span class="pp-badge pp-accepted">Accepted</span> Redis vs PostgreSQL"#,
        )
        .replace(
            r#"<div class="pp-risk pp-low" data-anchor="risk-mobile">"#,
            r#"<div class="pp-risk pp-high" data-anchor="risk-mobile">"#,
        )
        .replace(
            r#"<span class="pp-method">GET</span><code>/api/auth/me</code>"#,
            r#"<span class="pp-method">POST</span><code>/api/auth/me</code>"#,
        )
        .replace(
            r#"<li class="pp-current" data-anchor="phase-2">"#,
            r#"<li class="pp-done" data-anchor="phase-2">"#,
        )
        .replace(
            r#"<strong>mobile-app</strong> <span class="pp-badge pp-minor">Minor</span>"#,
            r#"<strong>mobile-app</strong> <span class="pp-badge pp-major">Major</span>"#,
        );
    assert_ne!(v1, v2, "every edit applies");
    let changes = typed_changes(&v1, &v2);
    let kinds: Vec<(ElementKind, Aspect)> = changes.iter().map(|c| (c.kind, c.change)).collect();
    assert_eq!(
        kinds,
        [
            (ElementKind::Decision, Aspect::Status),
            (ElementKind::Risk, Aspect::Level),
            (ElementKind::Endpoint, Aspect::Method),
            (ElementKind::Phase, Aspect::Status),
            (ElementKind::Component, Aspect::Impact),
        ],
        "{changes:#?}"
    );
    let decision = &changes[0];
    assert_eq!(
        decision.sentence(),
        "Decision “Redis vs PostgreSQL for token store — perf testing needed”: Open → Accepted"
    );
    assert_eq!(
        decision
            .anchors
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["decisions", "d-token-store"],
        "a change carries the anchors around it, its own last"
    );
    assert_eq!(
        changes[2].anchors.last().map(|a| a.as_str()),
        Some("api-surface"),
        "an endpoint without an anchor links to its section"
    );
    assert_eq!(
        typed_headline(&changes),
        "Changed: 1 decision, 1 risk, 1 endpoint, 1 phase, 1 component."
    );
    assert_eq!(
        typed_lines(&changes, 2),
        [
            changes[0].sentence(),
            changes[1].sentence(),
            "… and 3 more".to_owned()
        ]
    );
    assert_eq!(typed_headline(&[]), "Nothing changed in the plan's terms.");
    let json = serde_json::to_value(&changes[1]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "risk", "change": "level", "label": "Old mobile builds",
            "from": "Low", "to": "High", "anchors": ["risks", "risk-mobile"]})
    );
}
