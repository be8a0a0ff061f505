//! The plan document: what a push's body becomes before it is stored and served.
//!
//! - [`sanitize`]: an allowlist sanitizer (ammonia) for the PlanPush vocabulary and a vetted SVG
//!   subset. No author script, no event handlers, no `javascript:` URLs however they are split, no
//!   frames, forms, `base` or `meta`, no SVG animation or `foreignObject`, no external `use`; inline
//!   `style` attributes are dropped (the design system's classes style everything).
//! - [`markdown_to_html`]: CommonMark + GFM tables and task lists; every `##` heading opens a
//!   `<section data-anchor>` so Markdown plans are commentable like HTML ones.
//! - [`section_index`] and [`title`]: what the version stores to compute change sets.
//! - [`prepare`]: all of the above in one pass, from one parse of each top-level part, re-using the
//!   previous version's unchanged parts ([`prepare_reusing`]); byte for byte what [`sanitize`]
//!   makes of the whole document.
//!
//! - [`diff`]: the section-by-section view model of two versions, with [`mark_words`]' inserted and
//!   deleted words inside changed sections and a [`DiffSummary`] ("what changed").
//!
//! - [`typed_changes`]: what changed in the plan's own terms (decisions, risks, endpoints, fields,
//!   phases, components, and plain sections otherwise), with [`typed_headline`] and [`typed_lines`].
//!
//! - [`to_markdown`] and [`offline_html`]: exports of a stored version.
//!
//! - [`text_units`]: the document as searchable text, one unit per section.
//!
//! - [`plan_text`]: a version as Markdown-like text per section (what agents read);
//!   [`element_prints`]: per-element fingerprints that survive renamed anchors.
//!
//!
//! - [`vocabulary`]: the components and `pp-` classes a plan may use (the one definition);
//!   [`check`]: a document's problems before it is pushed (`planpush check`), line by line.
//!
//! - [`find_diagrams`] / [`replace_diagrams`]: Mermaid blocks swapped for the SVG a
//!   [`DiagramRenderer`] (an adapter) draws at push time.
//!
//! Architecture invariant: pure functions of their input; no I/O, no clock.

mod check;
mod diagrams;
mod diff;
mod dom;
mod export;
mod held;
mod index;
mod markdown;
mod plan_text;
mod prepare;
mod sanitize;
mod split;
mod text;
mod typed;
pub mod vocabulary;
mod words;

pub use check::{
    CHAR_WIDTH_EM, MAX_SVG_WIDTH, MIN_SVG_FONT_SIZE, Problem, Severity, check, check_markdown,
};
pub use diagrams::{DiagramRenderer, DiagramSource, find_diagrams, replace_diagrams};
pub use diff::{
    DiffEntry, DiffStatus, DiffSummary, SectionRef, TopSection, borrowed, diff, diff_sections,
    section_changes, summary_sentence, top_sections,
};
pub use export::{offline_html, to_markdown};
pub use index::{anchored_text, section_index, slugify, title};
pub use markdown::markdown_to_html;
pub use plan_text::{TextSection, element_prints, plan_text};
pub use prepare::{
    Cut, FreshPart, Part, Prepared, SanitizedPart, cut, prepare, prepare_reusing, sanitize_fresh,
    top_sections_in,
};
pub use sanitize::{RESERVED_ID_PREFIX, SanitizeOptions, is_settled, sanitize, settled_form};
pub use text::{MAX_UNIT_TEXT, TextUnit, text_units};
pub use typed::{
    Aspect, ElementKind, TypedChange, TypedIndex, typed_changes, typed_diff, typed_headline,
    typed_lines,
};
pub use words::{WordCounts, mark_words};
