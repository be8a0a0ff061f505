//! A version as searchable text.

use crate::AnchorId;

/// A searchable part of a version: one per top-level section (its anchor, title and visible text,
/// nested anchors included) and one for the text outside every section. Derived from the HTML by
/// the `document` crate; stored by the search index with the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextUnit {
    /// The section's anchor; `None` for the text outside every section (the page's top).
    pub anchor: Option<AnchorId>,
    pub title: String,
    /// Visible text, whitespace collapsed (diagram labels included).
    pub text: String,
}
