//! The plan document: sanitizing pushed HTML against an allowlist, Markdown and Mermaid to HTML, the
//! section index and the diff of two versions.
//!
//! Not implemented yet: it arrives with issue #4 (push, sanitize, render and version plans). The
//! types it produces (`SectionIndex`, `ChangeSet`, `AnchorId`) already live in `planpush-versions`.
//!
//! Architecture invariant: pure functions of their input; no I/O, no clock.
