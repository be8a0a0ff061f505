//! Comments anchored to a plan's elements, surviving regeneration.
//!
//! A thread is a top-level [`Comment`] on an anchor (optionally on selected text, kept as a W3C-style
//! [`TextQuote`]); replies are one level deep. After every push each open thread gets an
//! [`AnchorState`]: `anchored`, `changed`, `moved` or `orphaned` — never dropped.
//!
//! Architecture invariant: rules and the [`CommentRepository`] port only; no I/O, no clock.

mod comment;
#[cfg(feature = "fake")]
pub mod fake;
mod ports;
mod reanchor;

pub use comment::{
    AnchorState, Comment, CommentBody, CommentId, CommentRecord, CommentRuleError, FoundBy,
    Resolution, TextQuote,
};
pub use ports::*;
pub use reanchor::{ACCEPT, ACCEPT_CONTENT, DocText, Found, find_quote, reanchor, reanchor_with};
