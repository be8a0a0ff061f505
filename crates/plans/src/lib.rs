//! Plans: the named, versioned design docs people push and read.
//!
//! - [`Slug`]: the URL name (`/p/auth-redesign`), validated, derivable from a title, or generated
//!   (`sess_` + 12 hex) when nothing else is given;
//! - [`Plan`] with its lifecycle rules: publishing is one-way, archiving toggles, deletion is soft;
//! - [`PlanRepository`] and [`PlanViewRepository`] ports.
//!
//! Architecture invariant: no I/O and no clock; every rule that depends on time takes `now`.

#[cfg(feature = "fake")]
pub mod fake;
mod plan;
mod ports;
mod slug;

pub use plan::{MAX_TITLE_CHARS, Plan, PlanId, PlanRecord, PlanRuleError, Visibility, fit_title};
pub use ports::*;
pub use slug::{InvalidSlug, Slug};
