//! A version as text: what an agent reads instead of HTML (`planpush mcp`'s `get_plan`), and the
//! per-element fingerprints re-anchoring uses to find an element whose anchor was renamed.

use std::collections::HashSet;

use ego_tree::NodeRef;
use planpush_versions::{AnchorId, ContentHash, ElementPrint};
use scraper::{ElementRef, Html, Node};
use sha2::{Digest, Sha256};

use crate::dom::attr;
use crate::index::is_phrasing;

/// One top-level anchored element of a version, as Markdown-like text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSection {
    pub anchor: AnchorId,
    /// Its heading (or a short excerpt when it has none).
    pub title: String,
    /// Headings as `#`, list items as `- `, table rows as `| a | b |`, code fenced, diagrams as
    /// `[diagram: labels…]`; nested anchored elements start with `{#anchor}` so a comment can
    /// name them.
    pub text: String,
}

/// Every outermost anchored element of `html`, in document order, as text. Text outside any
/// anchored element (the `<h1>`, a lead paragraph) is not included.
pub fn plan_text(html: &str) -> Vec<TextSection> {
    let doc = Html::parse_fragment(html);
    let mut out = vec![];
    let mut seen = HashSet::new();
    collect(doc.tree.root(), &mut out, &mut seen);
    out
}

fn anchor_of(node: NodeRef<'_, Node>) -> Option<AnchorId> {
    attr(node.value().as_element()?, "data-anchor").and_then(|a| AnchorId::parse(a).ok())
}

fn collect(node: NodeRef<'_, Node>, out: &mut Vec<TextSection>, seen: &mut HashSet<AnchorId>) {
    for child in node.children() {
        match anchor_of(child) {
            Some(anchor) if seen.insert(anchor.clone()) => {
                let mut w = Writer::default();
                for c in child.children() {
                    w.node(c, 0);
                }
                let text = w.finish();
                let title = ElementRef::wrap(child)
                    .and_then(|e| {
                        e.descendants()
                            .filter_map(ElementRef::wrap)
                            .find(|d| is_heading(d.value().name()))
                            .map(|h| words(&h.text().collect::<String>()))
                    })
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| words(&text).chars().take(80).collect());
                out.push(TextSection {
                    anchor,
                    title,
                    text,
                });
            }
            _ => collect(child, out, seen),
        }
    }
}

fn is_heading(tag: &str) -> bool {
    matches!(tag, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds the text: `lines` are finished blocks, `line` the block being written. An anchor marker
/// on a block that holds only other blocks (a card around a heading) moves to its first block.
#[derive(Default)]
struct Writer {
    lines: Vec<String>,
    line: String,
    /// Whether `line` has text (not only a prefix and markers).
    content: bool,
    /// The markers written on `line`.
    markers: String,
    /// Markers waiting for the next block.
    carry: String,
}

impl Writer {
    fn inline(&mut self, s: &str) {
        let w = words(s);
        if w.is_empty() {
            if s.chars().next().is_some_and(char::is_whitespace) && self.content {
                self.space();
            }
            return;
        }
        if s.starts_with(char::is_whitespace) && self.content {
            self.space();
        }
        self.line.push_str(&w);
        self.content = true;
        if s.ends_with(char::is_whitespace) {
            self.space();
        }
    }

    fn space(&mut self) {
        if !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
    }

    fn block(&mut self) {
        if self.content {
            self.lines.push(self.line.trim_end().to_owned());
        } else {
            self.carry = std::mem::take(&mut self.markers);
        }
        self.line.clear();
        self.markers.clear();
        self.content = false;
    }

    /// Ends the current block and starts one with `prefix` and the pending markers.
    fn start(&mut self, prefix: &str, marker: Option<&str>) {
        self.block();
        self.line.push_str(prefix);
        let carried = std::mem::take(&mut self.carry);
        self.line.push_str(&carried);
        self.markers = carried;
        if let Some(m) = marker {
            self.line.push_str(m);
            self.markers.push_str(m);
        }
    }

    fn finish(mut self) -> String {
        self.block();
        self.lines.join("\n")
    }

    fn children(&mut self, node: NodeRef<'_, Node>, depth: usize) {
        for c in node.children() {
            self.node(c, depth);
        }
    }

    fn node(&mut self, node: NodeRef<'_, Node>, depth: usize) {
        let e = match node.value() {
            Node::Text(t) => return self.inline(t),
            Node::Element(e) => e,
            _ => return self.children(node, depth),
        };
        let tag = e.name();
        let marker = anchor_of(node).map(|a| format!("{{#{a}}} "));
        let marker = marker.as_deref();
        match tag {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = usize::from(tag.as_bytes()[1] - b'0');
                self.start(&format!("{} ", "#".repeat(level)), marker);
                self.children(node, depth);
                self.block();
            }
            "li" => {
                let checkbox = ElementRef::wrap(node)
                    .and_then(|li| {
                        li.children()
                            .filter_map(ElementRef::wrap)
                            .find(|c| c.value().name() == "input")
                    })
                    .map(|i| {
                        if i.value().attr("checked").is_some() {
                            "[x] "
                        } else {
                            "[ ] "
                        }
                    })
                    .unwrap_or("");
                self.start(&format!("{}- {checkbox}", "  ".repeat(depth)), marker);
                self.children(node, depth + 1);
                self.block();
            }
            "tr" => {
                self.start("|", marker);
                for cell in node.children() {
                    if cell
                        .value()
                        .as_element()
                        .is_some_and(|c| matches!(c.name(), "td" | "th"))
                    {
                        let mut inner = Writer::default();
                        inner.children(cell, 0);
                        let text = words(&inner.finish()).replace('|', "\\|");
                        self.line.push_str(&format!(" {text} |"));
                    }
                }
                self.content = true;
                self.block();
            }
            "pre" => {
                self.start("", marker);
                if !self.markers.is_empty() {
                    self.content = true;
                }
                self.block();
                let code: String = ElementRef::wrap(node)
                    .map(|p| p.text().collect())
                    .unwrap_or_default();
                self.lines.push("```".into());
                self.lines
                    .extend(code.trim_end().lines().map(str::to_owned));
                self.lines.push("```".into());
            }
            "svg" => {
                let labels: Vec<String> = ElementRef::wrap(node)
                    .map(|s| {
                        s.descendants()
                            .filter_map(ElementRef::wrap)
                            .filter(|d| d.value().name() == "text")
                            .map(|t| words(&t.text().collect::<String>()))
                            .filter(|t| !t.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                self.start("", marker);
                self.line
                    .push_str(&format!("[diagram: {}]", labels.join(" · ")));
                self.content = true;
                self.block();
            }
            "br" => self.block(),
            "input" | "script" | "style" | "template" => {}
            t if is_phrasing(t) => {
                if let Some(m) = marker {
                    if self.content {
                        self.space();
                    }
                    self.line.push_str(m);
                    self.markers.push_str(m);
                }
                let code = t == "code";
                if code {
                    self.line.push('`');
                    self.content = true;
                }
                self.children(node, depth);
                if code {
                    self.line.push('`');
                }
            }
            _ => {
                self.start("", marker);
                self.children(node, depth);
                self.block();
            }
        }
    }
}

/// The fingerprint of every anchored element of `html` (first occurrence of an anchor wins).
pub fn element_prints(html: &str) -> Vec<ElementPrint> {
    let doc = Html::parse_fragment(html);
    let mut seen = HashSet::new();
    let mut out = vec![];
    for node in doc.tree.root().descendants() {
        let Some(el) = ElementRef::wrap(node) else {
            continue;
        };
        let Some(anchor) = anchor_of(node) else {
            continue;
        };
        if !seen.insert(anchor.clone()) {
            continue;
        }
        let name = el.value().name();
        let kind = match el.value().classes().find(|c| c.starts_with("pp-")) {
            Some(class) => format!("{name}.{class}"),
            None => name.to_owned(),
        };
        let normalized = without_anchors(&el.html())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("> <", "><");
        out.push(ElementPrint {
            anchor,
            kind,
            content: ContentHash::from_bytes(Sha256::digest(normalized.as_bytes()).into()),
        });
    }
    out
}

/// Serialized markup without its ` data-anchor="…"` attributes (values are serialized with `"`
/// escaped, so the next `"` ends the value).
fn without_anchors(html: &str) -> String {
    const ATTR: &str = " data-anchor=\"";
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(ATTR) {
        out.push_str(&rest[..i]);
        let after = &rest[i + ATTR.len()..];
        rest = match after.find('"') {
            Some(end) => &after[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_reads_as_text_per_section() {
        let html = r#"<h1>Auth</h1><p>Lead.</p>
<section data-anchor="flow"><h2>Flow</h2><p>Client calls the <b>gateway</b> with <code>token</code>.</p>
<ul><li>First</li><li><input type="checkbox" checked> Done<ul><li>Nested</li></ul></li></ul>
<div class="pp-card" data-anchor="card-gw"><h3>Gateway</h3><p>Checks | tokens</p></div></section>
<section data-anchor="model"><h2>Data model</h2><table><tr><th>Field</th><th>Type</th></tr><tr><td>id</td><td>uuid</td></tr></table>
<pre><code>let a = 1;
let b = 2;</code></pre><svg viewBox="0 0 1 1"><g data-anchor="n-a"><text>Client</text></g><text>Server</text></svg></section>"#;
        let sections = plan_text(html);
        let got: Vec<(&str, &str, &str)> = sections
            .iter()
            .map(|s| (s.anchor.as_str(), s.title.as_str(), s.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "flow",
                    "Flow",
                    "## Flow\nClient calls the gateway with `token`.\n- First\n- [x] Done\n  - Nested\n### {#card-gw} Gateway\nChecks | tokens"
                ),
                (
                    "model",
                    "Data model",
                    "## Data model\n| Field | Type |\n| id | uuid |\n```\nlet a = 1;\nlet b = 2;\n```\n[diagram: Client · Server]"
                ),
            ]
        );
    }

    #[test]
    fn renaming_anchors_keeps_an_elements_print() {
        let a = element_prints(
            r#"<div class="pp-card x" data-anchor="old"><p data-anchor="inner">Same</p></div>"#,
        );
        let b = element_prints(
            r#"<div class="pp-card x" data-anchor="renamed"><p data-anchor="inner-2">Same</p></div>"#,
        );
        assert_eq!(a[0].kind, "div.pp-card");
        assert_eq!(a[0].content, b[0].content);
        assert_eq!(a[1].kind, "p");
        let c = element_prints(r#"<div class="pp-card" data-anchor="old"><p>Other</p></div>"#);
        assert_ne!(a[0].content, c[0].content);
    }
}
