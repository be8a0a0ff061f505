use std::collections::HashMap;

use planpush_versions::AnchorId;
use scraper::{ElementRef, Html};

use crate::dom::attr;
use crate::index::{Selectors, content_hash, selectors};
use crate::words::{WordCounts, mark_words};

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
    /// A changed section's new markup with inserted and deleted words marked (see
    /// [`mark_words`](crate::mark_words)); `None` for other statuses.
    pub marked: Option<String>,
    /// Words inserted and deleted in a changed section.
    pub words: WordCounts,
}

/// The compact "what changed" of two versions: sections added, removed and changed, and the words
/// the changed ones gained and lost. Its [`sentence`](Self::sentence) is the one wording the diff
/// page, the live-update banner and the Slack message share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffSummary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub words: WordCounts,
}

impl DiffSummary {
    pub fn of(rows: &[DiffEntry]) -> Self {
        let mut s = Self::default();
        for r in rows {
            s.count(r.status, r.words);
        }
        s
    }

    fn count(&mut self, status: DiffStatus, words: WordCounts) {
        match status {
            DiffStatus::Added => self.added += 1,
            DiffStatus::Removed => self.removed += 1,
            DiffStatus::Changed => {
                self.changed += 1;
                self.words.inserted += words.inserted;
                self.words.deleted += words.deleted;
            }
            DiffStatus::Unchanged => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added + self.removed + self.changed == 0
    }

    /// E.g. "Sections: 1 added, 2 changed (+14 −3 words), 1 removed." or "No section changed."
    pub fn sentence(&self) -> String {
        summary_sentence(
            self.added,
            self.changed,
            self.removed,
            self.words.inserted,
            self.words.deleted,
        )
    }
}

/// The summary's wording from plain counts (for callers that carry the counts, not the rows).
pub fn summary_sentence(
    added: usize,
    changed: usize,
    removed: usize,
    inserted: usize,
    deleted: usize,
) -> String {
    let mut parts = vec![];
    if added > 0 {
        parts.push(format!("{added} added"));
    }
    if changed > 0 {
        parts.push(format!("{changed} changed (+{inserted} −{deleted} words)"));
    }
    if removed > 0 {
        parts.push(format!("{removed} removed"));
    }
    if parts.is_empty() {
        "No section changed.".to_owned()
    } else {
        format!("Sections: {}.", parts.join(", "))
    }
}

/// An outermost anchored element: its anchor, title and markup.
pub type TopSection = (AnchorId, String, String);

/// Outermost anchored elements (anchors nested in another anchored element belong to it), in order.
pub fn top_sections(html: &str) -> Vec<TopSection> {
    top_sections_of(&Html::parse_fragment(html))
}

/// [`top_sections`] of a parsed document (first occurrence of an anchor winning).
pub(crate) fn top_sections_of(doc: &Html) -> Vec<TopSection> {
    top_elements_of(doc)
        .into_iter()
        .map(|(anchor, title, el)| (anchor, title, el.html()))
        .collect()
}

/// The outermost anchored elements of a parsed document with their anchors and titles.
pub(crate) fn top_elements_of(doc: &Html) -> Vec<(AnchorId, String, ElementRef<'_>)> {
    let Some(Selectors {
        anchored, headings, ..
    }) = selectors()
    else {
        return vec![];
    };
    let mut out: Vec<(AnchorId, String, ElementRef<'_>)> = vec![];
    for el in doc.select(anchored) {
        let nested = el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| attr(a.value(), "data-anchor").is_some());
        let Some(anchor) = attr(el.value(), "data-anchor").and_then(|a| AnchorId::parse(a).ok())
        else {
            continue;
        };
        if nested || out.iter().any(|(a, _, _)| *a == anchor) {
            continue;
        }
        let title = el
            .select(headings)
            .next()
            .map(|h| h.text().collect::<String>())
            .unwrap_or_else(|| anchor.to_string());
        out.push((
            anchor,
            title.split_whitespace().collect::<Vec<_>>().join(" "),
            el,
        ));
    }
    out
}

/// The section-by-section diff of two sanitized documents, in the new document's order with removed
/// sections after the section that preceded them in the old one.
pub fn diff(old_html: &str, new_html: &str) -> Vec<DiffEntry> {
    diff_sections(&top_sections(old_html), &top_sections(new_html))
}

/// [`diff`] of two documents' outermost sections (as [`crate::Prepared::top_sections`] lists them).
pub fn diff_sections(old: &[TopSection], new: &[TopSection]) -> Vec<DiffEntry> {
    compare(&borrowed(old), &borrowed(new))
        .into_iter()
        .map(|r| DiffEntry {
            anchor: r.anchor.clone(),
            title: r.title.to_owned(),
            status: r.status,
            old: r.old.map(str::to_owned),
            new: r.new.map(str::to_owned),
            marked: r.marked,
            words: r.words,
        })
        .collect()
}

/// A [`TopSection`] borrowed: anchor, title, markup.
pub type SectionRef<'a> = (&'a AnchorId, &'a str, &'a str);

/// `sections` borrowed, for [`section_changes`].
pub fn borrowed(sections: &[TopSection]) -> Vec<SectionRef<'_>> {
    sections
        .iter()
        .map(|(a, t, h)| (a, t.as_str(), h.as_str()))
        .collect()
}

/// What [`diff_sections`] says of each section, without the markup: the counts of its
/// [`DiffSummary`] and the words each changed section gained and lost. A push's "what changed"
/// needs nothing else, so no section's markup is copied.
pub fn section_changes(
    old: &[SectionRef<'_>],
    new: &[SectionRef<'_>],
) -> (DiffSummary, Vec<(AnchorId, WordCounts)>) {
    let rows = compare(old, new);
    let mut summary = DiffSummary::default();
    for r in &rows {
        summary.count(r.status, r.words);
    }
    let words = rows
        .into_iter()
        .filter(|r| r.status == DiffStatus::Changed)
        .map(|r| (r.anchor.clone(), r.words))
        .collect();
    (summary, words)
}

/// One row of a diff, borrowing the markup it compares.
struct Row<'a> {
    anchor: &'a AnchorId,
    title: &'a str,
    status: DiffStatus,
    old: Option<&'a str>,
    new: Option<&'a str>,
    marked: Option<String>,
    words: WordCounts,
}

/// The rows of [`diff_sections`]: in the new document's order with removed sections after the
/// section that preceded them in the old one.
fn compare<'a>(old: &[SectionRef<'a>], new: &[SectionRef<'a>]) -> Vec<Row<'a>> {
    let old_map: HashMap<&AnchorId, &str> = old.iter().map(|(a, _, h)| (*a, *h)).collect();
    let new_keys: std::collections::HashSet<&AnchorId> = new.iter().map(|s| s.0).collect();
    let mut out: Vec<Row<'a>> = new
        .iter()
        .map(|&(anchor, title, html)| match old_map.get(anchor) {
            None => Row {
                anchor,
                title,
                status: DiffStatus::Added,
                old: None,
                new: Some(html),
                marked: None,
                words: WordCounts::default(),
            },
            Some(&old_html) => {
                // Equal bytes (every part re-used) need no normalizing.
                let changed = old_html != html && content_hash(old_html) != content_hash(html);
                let (marked, words) = if changed {
                    let (m, w) = mark_words(old_html, html);
                    (Some(m), w)
                } else {
                    (None, WordCounts::default())
                };
                Row {
                    anchor,
                    title,
                    status: if changed {
                        DiffStatus::Changed
                    } else {
                        DiffStatus::Unchanged
                    },
                    old: Some(old_html),
                    new: Some(html),
                    marked,
                    words,
                }
            }
        })
        .collect();
    // Slot each removed section in after its old predecessor (or at the start).
    for (i, &(anchor, title, html)) in old.iter().enumerate() {
        if new_keys.contains(anchor) {
            continue;
        }
        let row = Row {
            anchor,
            title,
            status: DiffStatus::Removed,
            old: Some(html),
            new: None,
            marked: None,
            words: WordCounts::default(),
        };
        let after = old[..i]
            .iter()
            .rev()
            .find_map(|(prev, _, _)| out.iter().position(|e| e.anchor == *prev));
        out.insert(after.map_or(0, |p| p + 1), row);
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
        assert_eq!(
            rows[2].marked.as_deref(),
            Some(
                r#"<section data-anchor="c"><h2>C</h2><p><ins class="pp-ins">more</ins></p></section>"#
            )
        );
        let summary = DiffSummary::of(&rows);
        assert_eq!(
            summary.sentence(),
            "Sections: 1 added, 1 changed (+1 −0 words), 1 removed."
        );
        assert_eq!(DiffSummary::default().sentence(), "No section changed.");
    }
}
