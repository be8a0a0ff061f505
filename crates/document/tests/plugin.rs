#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Claude Code plugin (`plugin/`, `.claude-plugin/marketplace.json`): the manifests are well
//! formed and agree with each other and the workspace version, every command has its frontmatter,
//! and every snippet of the component reference Claude copies from survives the server's sanitizer
//! unchanged, uses only classes `assets/plan.css` styles, and together the snippets cover every
//! component `docs/plan-format.md` documents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use planpush_document::{SanitizeOptions, find_diagrams, sanitize};
use scraper::{Html, Node};
use serde_json::Value;

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

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

/// A required, non-empty string field.
fn text<'a>(v: &'a Value, pointer: &str, file: &str) -> &'a str {
    let s = v
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{file}: {pointer} missing or not a string"));
    assert!(!s.trim().is_empty(), "{file}: {pointer} is empty");
    s
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn keywords(v: &Value, pointer: &str, file: &str) {
    let list = v
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{file}: {pointer} missing or not an array"));
    assert!(!list.is_empty(), "{file}: {pointer} is empty");
    for k in list {
        assert!(
            k.as_str().is_some_and(|s| !s.trim().is_empty()),
            "{file}: {pointer} holds a non-string or empty keyword: {k}"
        );
    }
}

#[test]
fn the_marketplace_lists_the_plugin_and_the_manifests_agree() {
    let version = env!("CARGO_PKG_VERSION");
    let mf = ".claude-plugin/marketplace.json";
    let market = json(mf);
    let market_name = text(&market, "/name", mf);
    assert!(
        is_kebab(market_name),
        "{mf}: name {market_name:?} is not kebab-case"
    );
    text(&market, "/owner/name", mf);
    text(&market, "/metadata/description", mf);
    assert_eq!(
        text(&market, "/metadata/version", mf),
        version,
        "{mf}: metadata.version"
    );

    let plugins = market
        .get("plugins")
        .and_then(Value::as_array)
        .expect("marketplace.json: plugins must be an array");
    assert!(!plugins.is_empty(), "{mf}: no plugins");
    let mut names = BTreeSet::new();
    for (i, entry) in plugins.iter().enumerate() {
        let at = |f: &str| format!("/plugins/{i}/{f}");
        let name = text(&market, &at("name"), mf);
        assert!(
            is_kebab(name),
            "{mf}: plugin name {name:?} is not kebab-case"
        );
        assert!(names.insert(name), "{mf}: plugin {name} listed twice");
        text(&market, &at("description"), mf);
        text(&market, &at("category"), mf);
        keywords(&market, &at("keywords"), mf);
        let entry_version = text(&market, &at("version"), mf);

        // A relative source: a directory of this repository holding the plugin's manifest.
        let source = entry
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{mf}: plugin {name}: source must be a relative path"));
        assert!(
            source.starts_with("./") && !source.split('/').any(|p| p == ".."),
            "{mf}: plugin {name}: source {source:?} must be ./… inside the repository"
        );
        let dir = source.trim_start_matches("./").trim_end_matches('/');
        assert!(
            root().join(dir).is_dir(),
            "{mf}: source {source} is not a directory"
        );
        let pf = format!("{dir}/.claude-plugin/plugin.json");
        let plugin = json(&pf);
        assert_eq!(
            text(&plugin, "/name", &pf),
            name,
            "{pf}: name differs from the marketplace's"
        );
        let plugin_version = text(&plugin, "/version", &pf);
        assert!(
            is_semver(plugin_version),
            "{pf}: version {plugin_version:?} is not semver"
        );
        assert_eq!(
            plugin_version, entry_version,
            "{pf}: version differs from the marketplace's"
        );
        assert_eq!(
            plugin_version, version,
            "{pf}: version differs from the workspace's"
        );
        text(&plugin, "/description", &pf);
        text(&plugin, "/author/name", &pf);
        for url in ["/homepage", "/repository"] {
            assert!(
                text(&plugin, url, &pf).starts_with("https://"),
                "{pf}: {url}"
            );
        }
        assert_eq!(
            text(&plugin, "/license", &pf),
            env!("CARGO_PKG_LICENSE"),
            "{pf}: license"
        );
        keywords(&plugin, "/keywords", &pf);

        // The plugin ships at least one command, and its README gives the install line that works.
        let commands = root().join(dir).join("commands");
        assert!(commands.is_dir(), "{dir}: no commands/ directory");
        let readme = read(&format!("{dir}/README.md"));
        let install = format!("/plugin install {name}@{market_name}");
        assert!(
            readme.contains(&install),
            "{dir}/README.md does not say `{install}`"
        );
    }
}

/// `key: value` lines between the leading `---` fences, and the body after them.
fn frontmatter(file: &str, md: &str) -> (BTreeMap<String, String>, String) {
    let md = md.replace("\r\n", "\n");
    let rest = md
        .strip_prefix("---\n")
        .unwrap_or_else(|| panic!("{file}: no YAML frontmatter (must start with ---)"));
    let end = rest
        .find("\n---\n")
        .unwrap_or_else(|| panic!("{file}: frontmatter not closed by ---"));
    let mut fields = BTreeMap::new();
    for line in rest[..end].lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{file}: frontmatter line without a key: {line:?}"));
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        assert!(
            fields.insert(k.trim().to_owned(), v.to_owned()).is_none(),
            "{file}: {k} given twice"
        );
    }
    (fields, rest[end + 5..].to_owned())
}

#[test]
fn every_command_has_its_frontmatter_and_what_it_refers_to_exists() {
    let dir = root().join("plugin/commands");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no commands in plugin/commands");
    for path in &files {
        let file = path
            .strip_prefix(root())
            .unwrap_or(path)
            .display()
            .to_string();
        let (fields, body) = frontmatter(&file, &std::fs::read_to_string(path).unwrap());
        for key in ["description", "argument-hint", "allowed-tools"] {
            let v = fields
                .get(key)
                .unwrap_or_else(|| panic!("{file}: frontmatter lacks {key}"));
            assert!(!v.trim().is_empty(), "{file}: {key} is empty");
        }
        let tools: Vec<&str> = fields["allowed-tools"].split(',').map(str::trim).collect();
        assert!(
            tools.iter().all(|t| !t.is_empty()),
            "{file}: allowed-tools has an empty entry"
        );
        assert!(
            body.contains("$ARGUMENTS"),
            "{file}: the body never uses $ARGUMENTS"
        );

        // Files the command points Claude at are shipped with the plugin.
        const PLUGIN_ROOT: &str = "${CLAUDE_PLUGIN_ROOT}/";
        for (i, _) in body.match_indices(PLUGIN_ROOT) {
            let rel: String = body[i + PLUGIN_ROOT.len()..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '`' | ')' | '"' | '\''))
                .collect();
            let rel = rel.trim_end_matches(['.', ',', ':', ';']);
            assert!(
                root().join("plugin").join(rel).is_file(),
                "{file}: refers to {PLUGIN_ROOT}{rel}, which the plugin does not ship"
            );
        }
    }

    // The /planpush command: its tools and the steps the product depends on.
    let file = "plugin/commands/planpush.md";
    let (fields, body) = frontmatter(file, &read(file));
    let tools = &fields["allowed-tools"];
    for tool in [
        "Bash(planpush:*)",
        "Bash(command -v planpush)",
        "Read",
        "Write",
    ] {
        assert!(tools.contains(tool), "{file}: allowed-tools lacks {tool}");
    }
    for hint in ["name:", "--private"] {
        assert!(
            fields["argument-hint"].contains(hint),
            "{file}: argument-hint lacks {hint}"
        );
    }
    for must in [
        "${CLAUDE_PLUGIN_ROOT}/reference/components.md",
        "command -v planpush",
        "cargo install",
        "planpush login --server",
        "planpush comments <name> --format text",
        ".planpush/sessions.json",
        ".planpush/<name>.html",
        "planpush push .planpush/<name>.html --name <name>",
        "--private",
        "data-anchor",
        "<pre class=\"mermaid\">",
        "Name taken",
        "Not signed in",
    ] {
        assert!(
            body.contains(must),
            "{file}: the prompt never mentions {must}"
        );
    }
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
                [
                    "flowchart",
                    "graph",
                    "sequenceDiagram",
                    "stateDiagram-v2",
                    "classDiagram",
                    "erDiagram"
                ]
                .contains(&kind),
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
