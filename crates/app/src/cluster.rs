//! Several server processes on one database: what one process must hear about the others.
//!
//! Everything a process keeps in memory is a cache (users' access, sessions, tokens, rendered
//! pages) or a fan-out to its own viewers (live events, the "access changed" signal). When another
//! process changes something, this process must drop what it cached about it and wake the streams
//! that depend on it. A [`Cluster`] adapter (PostgreSQL `LISTEN/NOTIFY` in `planpush-store`)
//! carries the news; the process's wiring tells it, through [`RemoteChanges`], what to drop.
//!
//! One process (SQLite, or tests) has no cluster: [`crate::LocalSignal`] and [`crate::LocalBus`]
//! are all it needs.

use std::sync::Arc;

use planpush_identity::UserId;
use planpush_plans::PlanId;

use crate::AccessSignal;

/// The caches of this process that another process's changes void. Implemented by the process's
/// wiring; called by the [`Cluster`] adapter's listener.
pub trait RemoteChanges: Send + Sync {
    /// `user`'s access changed in another process (role change, deactivation, sign-out, token
    /// revoked): MUST void every cached fact about the user in this process, and MUST NOT announce
    /// the change again (the adapter wakes this process's live streams itself, afterwards).
    fn user_changed(&self, user: UserId);
    /// `plan` changed in another process (a push, a comment, a lifecycle change): MUST void its
    /// rendered pages.
    fn plan_changed(&self, plan: PlanId);
    /// Changes may have been missed (the adapter lost its connection to the database): MUST void
    /// every cached fact and page.
    fn everything_changed(&self);
}

/// The link between the processes that share one database. As an [`AccessSignal`] it reaches the
/// live streams of every process; it calls the attached [`RemoteChanges`] for changes made
/// elsewhere.
pub trait Cluster: AccessSignal {
    /// Registers this process's caches (once, when the process is wired; a later call replaces
    /// the earlier one).
    fn attach(&self, caches: Arc<dyn RemoteChanges>);
}
