use std::collections::HashMap;

use planpush_versions::AnchorId;
use scraper::{ElementRef, Html, Selector};

/// How a section fared between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffStatus {
    Added,
    Removed,
    Changed,
    Unchanged,
}

/// One row of a side-by-side diff: the section's sanitized markup in the old and the new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    pub anchor: AnchorId,
    pub title: String,
    pub status: DiffStatus,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Outermost anchored elements (anchors nested in another anchored element belong to it), in order.
fn top_sections(html: &str) -> Vec<(AnchorId, String, String)> {
    let doc = Html::parse_fragment(html);
    let (Ok(anchored), Ok(headings)) = (
        Selector::parse("[data-anchor]"),
        Selector::parse("h1, h2, h3, h4, h5, h6"),
    ) else {
        return vec![];
    };
    let mut out: Vec<(AnchorId, String, String)> = vec![];
    for el in doc.select(&anchored) {
        let nested = el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| a.value().attr("data-anchor").is_some());
        let Some(anchor) = el
            .value()
            .attr("data-anchor")
            .and_then(|a| AnchorId::parse(a).ok())
        else {
            continue;
        };
        if nested || out.iter().any(|(a, _, _)| *a == anchor) {
            continue;
        }
        let title = el
            .select(&headings)
            .next()
            .map(|h| h.text().collect::<String>())
            .unwrap_or_else(|| anchor.to_string());
        out.push((
            anchor,
            title.split_whitespace().collect::<Vec<_>>().join(" "),
            el.html(),
        ));
    }
    out
}

fn normalized(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("> <", "><")
}

/// The section-by-section diff of two sanitized documents, in the new document's order with removed
/// sections after the section that preceded them in the old one.
pub fn diff(old_html: &str, new_html: &str) -> Vec<DiffEntry> {
    let old = top_sections(old_html);
    let new = top_sections(new_html);
    let old_map: HashMap<&AnchorId, &(AnchorId, String, String)> =
        old.iter().map(|s| (&s.0, s)).collect();
    let new_keys: std::collections::HashSet<&AnchorId> = new.iter().map(|s| &s.0).collect();
    let mut out: Vec<DiffEntry> = new
        .iter()
        .map(|(anchor, title, html)| match old_map.get(anchor) {
            None => DiffEntry {
                anchor: anchor.clone(),
                title: title.clone(),
                status: DiffStatus::Added,
                old: None,
                new: Some(html.clone()),
            },
            Some((_, _, old_html)) => DiffEntry {
                anchor: anchor.clone(),
                title: title.clone(),
                status: if normalized(old_html) == normalized(html) {
                    DiffStatus::Unchanged
                } else {
                    DiffStatus::Changed
                },
                old: Some(old_html.clone()),
                new: Some(html.clone()),
            },
        })
        .collect();
    // Slot each removed section in after its old predecessor (or at the start).
    for (i, (anchor, title, html)) in old.iter().enumerate() {
        if new_keys.contains(anchor) {
            continue;
        }
        let entry = DiffEntry {
            anchor: anchor.clone(),
            title: title.clone(),
            status: DiffStatus::Removed,
            old: Some(html.clone()),
            new: None,
        };
        let after = old[..i]
            .iter()
            .rev()
            .find_map(|(prev, _, _)| out.iter().position(|e| e.anchor == *prev));
        out.insert(after.map_or(0, |p| p + 1), entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_rows() {
        let old = r#"<section data-anchor="a"><h2>A</h2><p>one</p></section><section data-anchor="b"><h2>B</h2><div data-anchor="b1">x</div></section><section data-anchor="c"><h2>C</h2></section>"#;
        let new = r#"<section data-anchor="a"><h2>A</h2>
            <p>one</p></section><section data-anchor="c"><h2>C</h2><p>more</p></section><section data-anchor="d"><h2>D</h2></section>"#;
        let rows = diff(old, new);
        let got: Vec<(&str, DiffStatus)> =
            rows.iter().map(|r| (r.anchor.as_str(), r.status)).collect();
        assert_eq!(
            got,
            [
                ("a", DiffStatus::Unchanged),
                ("b", DiffStatus::Removed),
                ("c", DiffStatus::Changed),
                ("d", DiffStatus::Added)
            ]
        );
        assert_eq!(rows[1].title, "B");
        assert!(
            rows[2].old.as_deref().is_some_and(|h| !h.contains("more"))
                && rows[2].new.as_deref().is_some_and(|h| h.contains("more"))
        );
        assert!(
            rows.iter().all(|r| r.anchor.as_str() != "b1"),
            "nested anchors belong to their section"
        );
    }
}
