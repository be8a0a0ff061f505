//! Versions: every push is a snapshot.
//!
//! A [`Version`] keeps the author's source, the sanitized HTML, the [`SectionIndex`] (for every
//! anchor: its title and a hash of its normalized content) and the [`ChangeSet`] against the
//! previous version. Snapshots older than the [`RetentionPolicy`] lose their content, except each
//! plan's current one; their metadata (who, when, what changed) stays so history can say "expired".
//!
//! Architecture invariant: pure data and rules plus the [`VersionRepository`] port. Computing a
//! section index from HTML is the `document` crate's job; this crate only stores and compares them.

mod anchor;
#[cfg(feature = "fake")]
pub mod fake;
mod ports;
mod retention;
mod sections;
mod text;
mod version;

pub use anchor::{AnchorId, InvalidAnchor};
pub use ports::*;
pub use retention::RetentionPolicy;
pub use sections::{
    ChangeSet, ContentHash, DuplicateAnchor, ElementPrint, SectionEntry, SectionIndex,
};
pub use text::TextUnit;
pub use version::{
    NewVersion, Previous, SourceFormat, Text, Version, VersionHead, VersionMeta, VersionNumber,
};
