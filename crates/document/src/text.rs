//! The document as searchable text: one unit per top-level section (its anchor, title and visible
//! text, nested anchors included) and one for the text outside every section.

use std::collections::HashSet;

use ego_tree::iter::Edge;
pub use planpush_versions::TextUnit;
use scraper::{ElementRef, Html, Node};

use crate::diff::top_elements_of;
use crate::dom::attr;

/// Longest text kept per unit (bytes, cut at a character boundary); longer sections are searched
/// on their first part.
pub const MAX_UNIT_TEXT: usize = 64 * 1024;

fn collapse<S: AsRef<str>>(parts: impl Iterator<Item = S>) -> String {
    let mut out = String::new();
    for part in parts {
        for w in part.as_ref().split_whitespace() {
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

/// The text outside every anchored element of a parsed document (or part), collapsed, in
/// document order: one walk, counting the anchored elements open around each node.
pub(crate) fn loose_text_of(doc: &Html) -> String {
    let anchored = |n: &Node| {
        n.as_element()
            .is_some_and(|e| attr(e, "data-anchor").is_some())
    };
    let mut open = 0usize;
    collapse(doc.tree.root().traverse().filter_map(|edge| {
        match edge {
            Edge::Open(n) if anchored(n.value()) => open += 1,
            Edge::Close(n) if anchored(n.value()) => open -= 1,
            Edge::Open(n) if open == 0 => return n.value().as_text().map(|t| &**t),
            _ => {}
        }
        None
    }))
}

/// The unit of one top-level anchored element.
pub(crate) fn unit_of(
    anchor: &planpush_versions::AnchorId,
    title: &str,
    el: ElementRef<'_>,
) -> TextUnit {
    TextUnit {
        anchor: Some(anchor.clone()),
        title: title.to_owned(),
        text: collapse(el.text()),
    }
}

/// The units of a document made of parts, in order: the loose text of all parts (if any) first,
/// then each part's sections, an anchor repeated in a later part left out (the first wins, as in
/// the whole document). Collapsing the parts' loose texts again gives the whole document's, since
/// a collapsed text is its words joined by single spaces and no text node spans two parts.
pub(crate) fn stitch<'a>(
    loose: impl Iterator<Item = &'a str>,
    sections: impl Iterator<Item = &'a TextUnit>,
) -> Vec<TextUnit> {
    let loose = collapse(loose);
    let mut out = vec![];
    if !loose.is_empty() {
        out.push(TextUnit {
            anchor: None,
            title: String::new(),
            text: loose,
        });
    }
    let mut seen = HashSet::new();
    out.extend(sections.filter(|u| seen.insert(u.anchor.clone())).cloned());
    out
}

/// The searchable units of a sanitized document, sections in document order, the loose text
/// (if any) first. One parse: each section's text comes from the same tree (the document is
/// sanitized, a fixed point, so re-parsing a section's markup alone would give the same text).
pub fn text_units(html: &str) -> Vec<TextUnit> {
    let doc = Html::parse_fragment(html);
    let sections: Vec<TextUnit> = top_elements_of(&doc)
        .into_iter()
        .map(|(anchor, title, el)| unit_of(&anchor, &title, el))
        .collect();
    stitch(
        std::iter::once(loose_text_of(&doc).as_str()),
        sections.iter(),
    )
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
