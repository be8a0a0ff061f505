#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Claude Code plugin's component reference (`plugin/reference/components.md`): every snippet
//! Claude copies from survives the server's sanitizer unchanged, uses only classes `assets/plan.css`
//! styles, and together the snippets cover every component `docs/plan-format.md` documents.
//! (The plugin's manifests and command frontmatter are checked by `cargo xtask tidy`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use planpush_document::vocabulary::{COMPONENTS, class_allowed, classes};
use planpush_document::{SanitizeOptions, check, find_diagrams, sanitize};
use scraper::{Html, Node};

const REFERENCE: &str = "plugin/reference/components.md";

/// `pp-` classes the reference may use although `assets/plan.css` has no rule for them, and why.
/// Each entry is checked to still be missing from plan.css, so the list shrinks when styles arrive.
const NOT_IN_PLAN_CSS: &[(&str, &str)] = &[
    (
        "pp-pane",
        "a behaviour hook: assets/plan.js shows one pane of a .pp-tabs group at a time",
    ),
    (
        "pp-lead",
        "documented in docs/plan-format.md (Header and lead) but not styled: a plain paragraph",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every ```` ```html ```` block of a Markdown file, with the heading it sits under.
fn html_snippets(md: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut heading = String::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        match &mut current {
            Some(code) if line.trim_start().starts_with("```") => {
                out.push((heading.clone(), std::mem::take(code)));
                current = None;
            }
            Some(code) => {
                code.push_str(line);
                code.push('\n');
            }
            None if line.trim() == "```html" => current = Some(String::new()),
            None if line.starts_with('#') => {
                heading = line.trim_start_matches('#').trim().to_owned();
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an ```html block is never closed");
    out
}

/// What a browser sees of a fragment: elements with their attributes (ammonia adds `rel` to links,
/// which is left out) and text, in document order.
fn structure(html: &str) -> Vec<String> {
    let doc = Html::parse_fragment(html);
    doc.tree
        .root()
        .descendants()
        .filter_map(|n| match n.value() {
            Node::Element(e) => {
                let mut attrs: Vec<String> = e
                    .attrs()
                    .filter(|(k, _)| !(e.name() == "a" && *k == "rel"))
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                attrs.sort();
                Some(format!("<{} {}>", e.name(), attrs.join(" ")))
            }
            Node::Text(t) => Some(format!("{:?}", &**t)),
            _ => None,
        })
        .collect()
}

/// Every `pp-` class on an element, with how many elements carry it.
fn pp_classes(html: &str) -> BTreeMap<String, usize> {
    let doc = Html::parse_fragment(html);
    let mut out = BTreeMap::new();
    for n in doc.tree.root().descendants() {
        if let Node::Element(e) = n.value() {
            for class in e.classes().filter(|c| c.starts_with("pp-")) {
                *out.entry(class.to_owned()).or_default() += 1;
            }
        }
    }
    out
}

/// Values of one attribute, in document order.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let doc = Html::parse_fragment(html);
    doc.tree
        .root()
        .descendants()
        .filter_map(|n| match n.value() {
            Node::Element(e) => e.attr(name).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// `.pp-…` classes named in the selectors (not the declarations or comments) of a stylesheet.
fn css_selector_classes(css: &str) -> BTreeSet<String> {
    let mut without_comments = String::new();
    let mut rest = css;
    while let Some(i) = rest.find("/*") {
        without_comments.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    without_comments.push_str(rest);
    let mut out = BTreeSet::new();
    let mut piece = String::new();
    for c in without_comments.chars() {
        match c {
            // The text before `{` is a selector list (or an at-rule's prelude); before `}`, declarations.
            '{' => {
                out.extend(pp_tokens(&piece, '.'));
                piece.clear();
            }
            '}' => piece.clear(),
            c => piece.push(c),
        }
    }
    out
}

/// `pp-…` names in free text, each preceded by `lead` (`.` in CSS) or by a non-name character.
fn pp_tokens(text: &str, lead: char) -> BTreeSet<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("pp-") {
        let before = text[..i].chars().next_back();
        let ok = match lead {
            '.' => before == Some('.'),
            _ => before.is_none_or(|c| !is_name(c)),
        };
        if !ok {
            continue;
        }
        let name: String = text[i..].chars().take_while(|&c| is_name(c)).collect();
        let name = name.trim_end_matches('-');
        if name.len() > "pp-".len() {
            out.insert(name.to_owned());
        }
    }
    out
}

fn valid_anchor(a: &str) -> bool {
    (1..=128).contains(&a.len())
        && a.starts_with(|c: char| c.is_ascii_alphanumeric())
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[test]
fn every_reference_snippet_survives_the_sanitizer_and_is_styled_by_plan_css() {
    let reference = read(REFERENCE);
    let styled = css_selector_classes(&read("assets/plan.css"));
    let snippets = html_snippets(&reference);
    assert!(
        snippets.len() >= 14,
        "{REFERENCE}: only {} html snippets",
        snippets.len()
    );
    for (heading, snippet) in &snippets {
        let at = format!("{REFERENCE} ({heading})");
        assert!(!snippet.trim().is_empty(), "{at}: empty snippet");
        let clean = sanitize(snippet, &SanitizeOptions::default());

        // Nothing is stripped: every pp- class is still on as many elements, and more than that,
        // the sanitizer changes nothing a browser would see.
        let before = pp_classes(snippet);
        assert_eq!(
            pp_classes(&clean),
            before,
            "{at}: the sanitizer dropped classes:\n{clean}"
        );
        let (a, b) = (structure(snippet), structure(&clean));
        if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
            panic!(
                "{at}: the sanitizer changes the snippet at node {i}:\n  wrote {:?}\n  kept  {:?}\n{clean}",
                a.get(i),
                b.get(i)
            );
        }

        // Every class is one the stylesheet styles (or a known, documented exception).
        for class in before.keys() {
            assert!(
                styled.contains(class) || NOT_IN_PLAN_CSS.iter().any(|(c, _)| c == class),
                "{at}: .{class} is not styled by assets/plan.css"
            );
        }

        // Anchors and ids are well formed and unique.
        let anchors = attribute_values(snippet, "data-anchor");
        let ids = attribute_values(snippet, "id");
        for (what, values) in [("data-anchor", &anchors), ("id", &ids)] {
            let mut seen = BTreeSet::new();
            for v in values {
                assert!(valid_anchor(v), "{at}: {what}={v:?} is not a valid anchor");
                assert!(seen.insert(v), "{at}: {what}={v:?} used twice");
            }
        }
        // A tab points at a pane of the same snippet.
        for href in attribute_values(snippet, "href") {
            if let Some(id) = href.strip_prefix('#') {
                assert!(
                    ids.iter().any(|i| i == id),
                    "{at}: href {href} points nowhere"
                );
            }
        }

        // `planpush check` finds nothing to say about a snippet the reference tells Claude to copy.
        let problems = check(snippet, None);
        assert!(
            problems.is_empty(),
            "{at}: planpush check reports {problems:#?}"
        );

        // Mermaid blocks are written the one way the server finds and renders them.
        let mermaid_pres = Html::parse_fragment(snippet)
            .tree
            .root()
            .descendants()
            .filter(|n| {
                matches!(n.value(), Node::Element(e) if e.name() == "pre" && e.classes().any(|c| c == "mermaid"))
            })
            .count();
        let found = find_diagrams(snippet);
        assert_eq!(
            found.len(),
            mermaid_pres,
            "{at}: write Mermaid as exactly <pre class=\"mermaid\">"
        );
        for d in &found {
            let kind = d.source.split_whitespace().next().unwrap_or("");
            assert!(
                planpush_document::vocabulary::MERMAID_KINDS.contains(&kind),
                "{at}: Mermaid diagram starts with {kind:?}"
            );
        }
    }
}

#[test]
fn the_reference_covers_every_component_of_plan_format() {
    let format = read("docs/plan-format.md");
    let reference = read(REFERENCE);

    // Every component heading of docs/plan-format.md is a heading of the reference.
    let components = format
        .split("\n## Components")
        .nth(1)
        .expect("docs/plan-format.md has a ## Components part");
    let components = components.split("\n## ").next().unwrap_or(components);
    let wanted: Vec<String> = components
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    assert!(
        wanted.len() >= 10,
        "docs/plan-format.md lists only {} components",
        wanted.len()
    );
    let have: BTreeSet<String> = reference
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_lowercase())
        .collect();
    for h in &wanted {
        assert!(have.contains(h), "{REFERENCE} has no \"{h}\" component");
    }

    // Every pp- class docs/plan-format.md names is used by a snippet of the reference.
    let used: BTreeSet<String> = html_snippets(&reference)
        .iter()
        .flat_map(|(_, s)| pp_classes(s).into_keys())
        .collect();
    let documented = pp_tokens(&format, ' ');
    assert!(
        documented.len() >= 30,
        "only {} pp- classes found in plan-format.md",
        documented.len()
    );
    let missing: Vec<&String> = documented.difference(&used).collect();
    assert!(missing.is_empty(), "{REFERENCE} never shows {missing:?}");
}

#[test]
fn classes_missing_from_plan_css_are_still_missing_and_accounted_for() {
    let styled = css_selector_classes(&read("assets/plan.css"));
    // The parser sees the stylesheet's real components.
    for class in [
        "pp-card",
        "pp-badge",
        "pp-mock-btn",
        "pp-risk",
        "pp-high",
        "pp-diagram",
    ] {
        assert!(styled.contains(class), "css parser missed .{class}");
    }
    for (class, why) in NOT_IN_PLAN_CSS {
        assert!(
            !styled.contains(*class),
            "assets/plan.css now styles .{class}: remove it from NOT_IN_PLAN_CSS ({why})"
        );
    }
    assert!(
        read("assets/plan.js").contains(".pp-pane") || read("assets/plan.js").contains("pp-pane"),
        "pp-pane is no longer a plan.js hook"
    );
}

/// The vocabulary (`crates/document/src/vocabulary.rs`) is the one list of components and classes:
/// the stylesheet styles every class of it, the reference shows every one and uses no other, and
/// docs/plan-format.md documents every component and names every class.
#[test]
fn the_vocabulary_is_styled_shown_and_documented() {
    let styled = css_selector_classes(&read("assets/plan.css"));
    let reference = read(REFERENCE);
    let format = read("docs/plan-format.md");
    let snippets = html_snippets(&reference);
    let used: BTreeSet<String> = snippets
        .iter()
        .flat_map(|(_, s)| pp_classes(s).into_keys())
        .collect();
    let documented = pp_tokens(&format, ' ');
    for class in classes() {
        assert!(
            styled.contains(class) || NOT_IN_PLAN_CSS.iter().any(|(c, _)| *c == class),
            "vocabulary class .{class} is not styled by assets/plan.css"
        );
        assert!(used.contains(class), "{REFERENCE} never shows .{class}");
        assert!(
            documented.contains(class),
            "docs/plan-format.md never names .{class}"
        );
    }
    for class in &used {
        assert!(
            class_allowed("div", class),
            "{REFERENCE} uses .{class}, which is not in the vocabulary"
        );
    }
    let headings = |md: &str| -> BTreeSet<String> {
        md.lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim().to_lowercase())
            .collect()
    };
    let (in_format, in_reference) = (headings(&format), headings(&reference));
    for c in COMPONENTS {
        let name = c.name.to_lowercase();
        assert!(
            in_format.contains(&name),
            "docs/plan-format.md has no ### {}",
            c.name
        );
        assert!(
            in_reference.contains(&name),
            "{REFERENCE} has no ## {}",
            c.name
        );
    }
}
