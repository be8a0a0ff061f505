//! Exports of a stored version: the sanitized document as Markdown (for documents pushed as
//! HTML; a Markdown push is exported as its own source), and the document made fit for a file
//! that opens offline.

use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node};

use crate::index::is_phrasing;

/// Markdown text: characters that would start markup are escaped.
fn escape_md(s: &str, in_table: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '|' if in_table => out.push_str("\\|"),
            c => out.push(c),
        }
    }
    out
}

/// Runs of whitespace become one space (kept at the ends: they separate inline elements).
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            space = false;
            out.push(c);
        }
    }
    out
}

struct Md<'a> {
    out: String,
    /// Mermaid sources of the document's diagrams, in order (see [`to_markdown`]).
    diagrams: std::slice::Iter<'a, String>,
}

impl Md<'_> {
    fn blank(&mut self) {
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
        if self.out.is_empty() {
            return;
        }
        while !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Inline content of `node` (its children) as one line of Markdown.
    fn inline(&mut self, node: NodeRef<'_, Node>, table: bool) -> String {
        node.children()
            .map(|c| self.inline_node(c, table))
            .collect()
    }

    /// One inline node (text or element, with its content) as Markdown.
    fn inline_node(&mut self, child: NodeRef<'_, Node>, table: bool) -> String {
        let mut s = String::new();
        match child.value() {
            Node::Text(t) => s.push_str(&escape_md(&collapse(t), table)),
            Node::Element(e) => {
                let inner = |md: &mut Self| md.inline(child, table);
                match e.name() {
                    "strong" | "b" => s.push_str(&format!("**{}**", inner(self).trim())),
                    "em" | "i" => s.push_str(&format!("*{}*", inner(self).trim())),
                    "s" | "del" => s.push_str(&format!("~~{}~~", inner(self).trim())),
                    "code" | "kbd" | "samp" => {
                        let text: String = ElementRef::wrap(child)
                            .map(|el| el.text().collect())
                            .unwrap_or_default();
                        let fence = if text.contains('`') { "``" } else { "`" };
                        s.push_str(&format!("{fence}{}{fence}", collapse(&text)));
                    }
                    "a" => {
                        let text = inner(self);
                        match e.attr("href") {
                            Some(h) if !h.is_empty() => s.push_str(&format!(
                                "[{}]({})",
                                text.trim(),
                                h.replace(' ', "%20").replace(')', "%29")
                            )),
                            _ => s.push_str(&text),
                        }
                    }
                    "br" => s.push_str(if table { " " } else { "  \n" }),
                    "img" => s.push_str(&format!(
                        "![{}]({})",
                        escape_md(e.attr("alt").unwrap_or_default(), table),
                        e.attr("src").unwrap_or_default()
                    )),
                    "input" if e.attr("type") == Some("checkbox") => {
                        s.push_str(if e.attr("checked").is_some() {
                            "[x] "
                        } else {
                            "[ ] "
                        })
                    }
                    "svg" => {}
                    _ => s.push_str(&inner(self)),
                }
            }
            _ => {}
        }
        s
    }

    fn heading(&mut self, level: usize, el: ElementRef<'_>, anchor: Option<&str>) {
        self.blank();
        let text = self.inline(*el, false);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        self.out.push_str(&"#".repeat(level));
        self.out.push(' ');
        self.out.push_str(&text);
        if let Some(a) = anchor {
            self.out.push_str(&format!(" {{#{a}}}"));
        }
        self.out.push('\n');
        self.blank();
    }

    fn list(&mut self, el: ElementRef<'_>, ordered: bool, depth: usize) {
        let mut n = 1;
        for li in el.children().filter_map(ElementRef::wrap) {
            if li.value().name() != "li" {
                continue;
            }
            let marker = if ordered {
                format!("{n}. ")
            } else {
                "- ".to_owned()
            };
            n += 1;
            let indent = "  ".repeat(depth);
            // The item's own text, then nested lists.
            let mut text = String::new();
            let mut nested = vec![];
            for c in li.children() {
                match ElementRef::wrap(c) {
                    Some(ce) if matches!(ce.value().name(), "ul" | "ol") => nested.push(ce),
                    Some(ce) if ce.value().name() == "p" => {
                        text.push_str(&self.inline(c, false));
                        text.push(' ');
                    }
                    _ => text.push_str(&self.inline_node(c, false)),
                }
            }
            let text = text.trim();
            // A task's checkbox and its label are one space apart.
            let text = match text.get(..5) {
                Some("[x]  " | "[ ]  ") => format!("{}{}", &text[..4], text[5..].trim_start()),
                _ => text.to_owned(),
            };
            self.out.push_str(&format!("{indent}{marker}{text}\n"));
            for l in nested {
                self.list(l, l.value().name() == "ol", depth + 1);
            }
        }
        if depth == 0 {
            self.blank();
        }
    }

    fn table(&mut self, el: ElementRef<'_>) {
        let mut rows: Vec<Vec<String>> = vec![];
        for tr in el.descendants().filter_map(ElementRef::wrap) {
            if tr.value().name() != "tr" {
                continue;
            }
            let cells: Vec<String> = tr
                .children()
                .filter_map(ElementRef::wrap)
                .filter(|c| matches!(c.value().name(), "td" | "th"))
                .map(|c| self.inline(*c, true).trim().to_owned())
                .collect();
            if !cells.is_empty() {
                rows.push(cells);
            }
        }
        if rows.is_empty() {
            return;
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(1);
        self.blank();
        for (i, row) in rows.iter().enumerate() {
            let mut cells = row.clone();
            cells.resize(width, String::new());
            self.out.push_str(&format!("| {} |\n", cells.join(" | ")));
            if i == 0 {
                self.out.push_str(&format!("|{}\n", " --- |".repeat(width)));
            }
        }
        self.blank();
    }

    fn block(&mut self, node: NodeRef<'_, Node>) {
        match node.value() {
            Node::Text(t) => {
                let text = collapse(t);
                if !text.trim().is_empty() {
                    self.out.push_str(&escape_md(text.trim(), false));
                    self.blank();
                }
            }
            Node::Element(e) => {
                let Some(el) = ElementRef::wrap(node) else {
                    return;
                };
                let anchor = e.attr("data-anchor");
                match e.name() {
                    "h1" => self.heading(1, el, None),
                    "h2" => self.heading(2, el, anchor),
                    "h3" => self.heading(3, el, anchor),
                    "h4" => self.heading(4, el, None),
                    "h5" => self.heading(5, el, None),
                    "h6" => self.heading(6, el, None),
                    "section" => {
                        // The section's anchor goes on its heading, where Markdown keeps it.
                        let mut headed = false;
                        for c in node.children() {
                            if let Some(ce) = ElementRef::wrap(c)
                                && !headed
                                && matches!(ce.value().name(), "h2" | "h3")
                            {
                                headed = true;
                                self.heading(2, ce, anchor);
                                continue;
                            }
                            self.block(c);
                        }
                    }
                    "p" => {
                        self.blank();
                        let line = self.inline(node, false);
                        self.out.push_str(line.trim());
                        self.blank();
                    }
                    "ul" | "ol" => {
                        self.blank();
                        self.list(el, e.name() == "ol", 0);
                    }
                    "table" => self.table(el),
                    "pre" => {
                        let text: String = el.text().collect();
                        let code = scraper::Selector::parse("code").ok();
                        let lang = code
                            .as_ref()
                            .and_then(|sel| el.select(sel).next())
                            .and_then(|c| c.value().attr("class"))
                            .and_then(|c| {
                                c.split_whitespace()
                                    .find_map(|k| k.strip_prefix("language-"))
                            })
                            .unwrap_or_default()
                            .to_owned();
                        self.fence(&lang, &text);
                    }
                    "blockquote" => {
                        let mut inner = Md {
                            out: String::new(),
                            diagrams: [].iter(),
                        };
                        for c in node.children() {
                            inner.block(c);
                        }
                        self.blank();
                        for line in inner.out.trim().lines() {
                            self.out.push_str(&format!("> {line}\n"));
                        }
                        self.blank();
                    }
                    "hr" => {
                        self.blank();
                        self.out.push_str("---\n");
                        self.blank();
                    }
                    "div" if e.has_class("pp-diagram", scraper::CaseSensitivity::CaseSensitive) => {
                        match self.diagrams.next() {
                            Some(src) => {
                                let src = src.clone();
                                self.fence("mermaid", &src);
                            }
                            None => {
                                self.blank();
                                self.out.push_str("*(diagram)*");
                                self.blank();
                            }
                        }
                    }
                    "svg" => {
                        self.blank();
                        self.out.push_str("*(diagram)*");
                        self.blank();
                    }
                    "details" => {
                        for c in node.children() {
                            match ElementRef::wrap(c) {
                                Some(s) if s.value().name() == "summary" => {
                                    self.blank();
                                    let t = self.inline(c, false);
                                    self.out.push_str(&format!("**{}**", t.trim()));
                                    self.blank();
                                }
                                _ => self.block(c),
                            }
                        }
                    }
                    t if is_phrasing(t) || matches!(t, "img" | "br" | "input") => {
                        // Inline content directly in a block container: a paragraph of its own.
                        let s = self.inline_node(node, false);
                        if !s.trim().is_empty() {
                            self.blank();
                            self.out.push_str(s.trim());
                            self.blank();
                        }
                    }
                    _ => {
                        for c in node.children() {
                            self.block(c);
                        }
                    }
                }
            }
            _ => {
                for c in node.children() {
                    self.block(c);
                }
            }
        }
    }

    fn fence(&mut self, lang: &str, text: &str) {
        let mut fence = "```".to_owned();
        while text.contains(&fence) {
            fence.push('`');
        }
        self.blank();
        self.out.push_str(&format!(
            "{fence}{lang}\n{}\n{fence}\n",
            text.trim_end_matches('\n')
        ));
        self.blank();
    }
}

/// A sanitized document as Markdown that [`crate::markdown_to_html`] reads back with the same
/// sections: each top-level `<section data-anchor>` becomes `## Title {#anchor}` (and a `###`
/// heading with an anchor keeps it), tables become GFM tables, code blocks fenced blocks, and each
/// rendered diagram (`<div class="pp-diagram">`) becomes a ```` ```mermaid ```` block with the next
/// of `mermaid_sources` (the sources [`crate::find_diagrams`] finds in the pushed document, in the
/// same order). Anchors on other elements (cards, diagram nodes) have no Markdown form and are
/// not kept.
pub fn to_markdown(html: &str, mermaid_sources: &[String]) -> String {
    let doc = Html::parse_fragment(html);
    let mut md = Md {
        out: String::new(),
        diagrams: mermaid_sources.iter(),
    };
    for c in doc.root_element().children() {
        md.block(c);
    }
    let mut out = md.out.trim_end().to_owned();
    out.push('\n');
    out
}

/// The document for a file that must open offline and fetch nothing: every image whose source is
/// not a `data:` URL becomes a link to it (with its alternative text). Everything else in a
/// sanitized document is already inline (diagrams are SVG).
pub fn offline_html(html: &str) -> String {
    let Ok(img) = scraper::Selector::parse("img") else {
        return html.to_owned();
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = String::with_capacity(html.len());
    for piece in crate::words::pieces(html) {
        match piece {
            crate::words::Piece::Tag { raw, name, close } if name == "img" && !close => {
                let frag = Html::parse_fragment(raw);
                let (src, alt) = frag
                    .select(&img)
                    .next()
                    .map(|i| {
                        (
                            i.value().attr("src").unwrap_or_default().to_owned(),
                            i.value().attr("alt").unwrap_or("image").to_owned(),
                        )
                    })
                    .unwrap_or_default();
                if src.trim_start().to_ascii_lowercase().starts_with("data:") {
                    out.push_str(raw);
                } else {
                    out.push_str(&format!(
                        "<a class=\"pp-offline-image\" href=\"{}\" rel=\"noopener noreferrer\">[image: {}]</a>",
                        esc(&src),
                        esc(&alt)
                    ));
                }
            }
            crate::words::Piece::Tag { raw, .. } | crate::words::Piece::Text(raw) => {
                out.push_str(raw)
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SanitizeOptions, markdown_to_html, sanitize, section_index};

    fn sections(html: &str) -> Vec<(String, String)> {
        crate::diff::top_sections(html)
            .into_iter()
            .map(|(a, t, _)| (a.to_string(), t))
            .collect()
    }

    #[test]
    fn html_to_markdown_keeps_sections_tables_and_mermaid() {
        let html = sanitize(
            r#"<h1>Auth redesign</h1><p>Intro with <strong>bold</strong> and <a href="https://x.example/a">a link</a>.</p>
            <section data-anchor="data-model"><h2>Data model</h2>
              <table><thead><tr><th>Field</th><th>Type</th></tr></thead><tbody><tr><td>id</td><td>uuid | text</td></tr></tbody></table>
            </section>
            <section data-anchor="flow"><h2>Flow *now*</h2><div class="pp-diagram"><svg viewBox="0 0 1 1"><text>A</text></svg></div>
              <ul><li>one<ul><li>nested</li></ul></li><li><input type="checkbox" checked disabled> done</li></ul>
              <pre><code class="language-rust">fn main() {}</code></pre></section>"#,
            &SanitizeOptions::default(),
        );
        let md = to_markdown(&html, &["flowchart LR\n  A --> B".to_owned()]);
        assert!(
            md.starts_with(
                "# Auth redesign\n\nIntro with **bold** and [a link](https://x.example/a).\n"
            ),
            "{md}"
        );
        assert!(md.contains("## Data model {#data-model}\n"), "{md}");
        assert!(
            md.contains("| Field | Type |\n| --- | --- |\n| id | uuid \\| text |\n"),
            "{md}"
        );
        assert!(md.contains("## Flow \\*now\\* {#flow}\n"), "{md}");
        assert!(
            md.contains("```mermaid\nflowchart LR\n  A --> B\n```\n"),
            "{md}"
        );
        assert!(md.contains("- one\n  - nested\n- [x] done\n"), "{md}");
        assert!(md.contains("```rust\nfn main() {}\n```"), "{md}");
        // Read back, it has the same sections.
        let back = sanitize(&markdown_to_html(&md), &SanitizeOptions::default());
        assert_eq!(sections(&back), sections(&html));
        assert_eq!(
            section_index(&back)
                .entries()
                .iter()
                .filter(|e| ["data-model", "flow"].contains(&e.anchor.as_str()))
                .count(),
            2
        );
    }

    #[test]
    fn offline_documents_fetch_nothing() {
        let html = r#"<p><img src="https://evil.example/x.png" alt="a &quot;b&quot;"><img src="data:image/png;base64,AA" alt="ok"></p>"#;
        let out = offline_html(html);
        assert!(!out.contains("<img src=\"https:"), "{out}");
        assert!(out.contains("href=\"https://evil.example/x.png\""), "{out}");
        assert!(out.contains("[image: a &quot;b&quot;]"), "{out}");
        assert!(out.contains("data:image/png;base64,AA"), "{out}");
    }
}
