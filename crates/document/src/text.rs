//! The document as searchable text: one unit per top-level section (its anchor, title and visible
//! text, nested anchors included) and one for the text outside every section.

use planpush_versions::AnchorId;
use scraper::{ElementRef, Html, Node};

use crate::diff::top_elements_of;

/// Longest text kept per unit (bytes, cut at a character boundary); longer sections are searched
/// on their first part.
pub const MAX_UNIT_TEXT: usize = 64 * 1024;

/// A searchable part of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextUnit {
    /// The section's anchor; `None` for the text outside every section (the page's top).
    pub anchor: Option<AnchorId>,
    pub title: String,
    /// Visible text, whitespace collapsed (diagram labels included).
    pub text: String,
}

fn collapse(parts: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for part in parts {
        for w in part.split_whitespace() {
            if out.len() + w.len() + 1 > MAX_UNIT_TEXT {
                return out;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(w.chars().filter(|c| !c.is_control()));
        }
    }
    out
}

/// The searchable units of a sanitized document, sections in document order, the loose text
/// (if any) first.
pub fn text_units(html: &str) -> Vec<TextUnit> {
    let mut out = vec![];
    let doc = Html::parse_fragment(html);
    let loose = collapse(doc.tree.nodes().filter_map(|n| match n.value() {
        Node::Text(t) => {
            let covered = n
                .ancestors()
                .filter_map(ElementRef::wrap)
                .any(|a| a.value().attr("data-anchor").is_some());
            (!covered).then(|| t.to_string())
        }
        _ => None,
    }));
    if !loose.is_empty() {
        out.push(TextUnit {
            anchor: None,
            title: String::new(),
            text: loose,
        });
    }
    // One parse: each section's text comes from the same tree (the document is sanitized, a fixed
    // point, so re-parsing a section's markup alone would give the same text).
    for (anchor, title, el) in top_elements_of(&doc) {
        let text = collapse(el.text().map(str::to_owned));
        out.push(TextUnit {
            anchor: Some(anchor),
            title,
            text,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_loose_text() {
        let units = text_units(
            r#"<h1>Auth</h1><p>Intro   text</p><section data-anchor="flow"><h2>Flow</h2><p>Client &amp; gateway</p><div data-anchor="box"><svg><text>Token</text></svg></div></section><section data-anchor="empty"></section>"#,
        );
        assert_eq!(units.len(), 3);
        assert_eq!(units[0].anchor, None);
        assert_eq!(units[0].text, "Auth Intro text");
        assert_eq!(units[1].anchor.as_ref().map(|a| a.as_str()), Some("flow"));
        assert_eq!(units[1].title, "Flow");
        assert_eq!(units[1].text, "Flow Client & gateway Token");
        assert_eq!(units[2].text, "");
    }
}
