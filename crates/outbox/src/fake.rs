//! A shared in-memory outbox table, so the fake repositories of several crates can write messages
//! "in the same transaction" as their own rows and the fake `Outbox` port can read them back.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::OutboxMessage;

/// The messages written so far, shared by every fake holding a clone.
#[derive(Debug, Clone, Default)]
pub struct OutboxLog(Arc<Mutex<Vec<OutboxMessage>>>);

impl OutboxLog {
    /// Every message, for reading and updating in place.
    pub fn lock(&self) -> MutexGuard<'_, Vec<OutboxMessage>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends messages (called by a fake repository after its own write succeeded).
    pub fn append(&self, messages: &[OutboxMessage]) {
        self.lock().extend_from_slice(messages);
    }
}
