//! Roles and permissions.
//!
//! The capability matrix of the brief is data ([`MATRIX`]); [`allowed`] answers for a set of roles
//! (the union of their permissions). Grants carry their origin (`sso` from the identity provider's
//! groups, `manual` from an admin) so that a login reconciles only the `sso` ones
//! ([`reconcile_sso`]). The last active admin can never be removed ([`check_last_admin`]).
//!
//! Architecture invariant: pure rules plus the [`RoleRepository`] port; no I/O, no clock.

#[cfg(feature = "fake")]
pub mod fake;
mod grants;
mod matrix;
mod ports;

pub use grants::{
    Grant, GrantChanges, GrantOrigin, GroupMapping, GroupName, LastAdminError, check_last_admin,
    reconcile_sso,
};
pub use matrix::UnknownRole;
pub use matrix::{Capability, MATRIX, Ownership, Role, Scope, allowed, scope};
pub use ports::*;
