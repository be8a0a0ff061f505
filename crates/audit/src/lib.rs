//! The audit log: typed [`AuditAction`]s, the [`AuditSink`] port that records events and the
//! [`AuditQuery`] port that pages through them (newest first, keyset cursor, filters).
//!
//! Architecture invariant: no I/O, no clock. Events carry the time the caller read once.

mod event;
#[cfg(feature = "fake")]
pub mod fake;
mod ports;

pub use event::{AuditAction, AuditEvent, AuditId, Cursor, UnknownAction};
pub use ports::*;
