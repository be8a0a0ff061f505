//! A shared in-memory outbox table, so the fake repositories of several crates can write messages
//! "in the same transaction" as their own rows and the fake `Outbox` port can read them back.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::OutboxMessage;

/// The messages written so far, shared by every fake holding a clone.
#[derive(Debug, Clone, Default)]
pub struct OutboxLog {
    messages: Arc<Mutex<Vec<OutboxMessage>>>,
    /// Channels whose messages the repositories do not write (see [`OutboxLog::silence`]).
    silent: Arc<Mutex<Vec<String>>>,
}

impl OutboxLog {
    /// Every message, for reading and updating in place.
    pub fn lock(&self) -> MutexGuard<'_, Vec<OutboxMessage>> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends messages (called by a fake repository after its own write succeeded), except those
    /// on a silenced channel.
    pub fn append(&self, messages: &[OutboxMessage]) {
        let silent = self
            .silent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.lock().extend(
            messages
                .iter()
                .filter(|m| !silent.contains(&m.channel))
                .cloned(),
        );
    }

    /// Whether the repositories' writes leave out `channel`'s messages, as the database adapter
    /// leaves out a fan-out message while nobody is registered to receive it.
    pub fn silence(&self, channel: &str, silent: bool) {
        let mut g = self
            .silent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.retain(|c| c != channel);
        if silent {
            g.push(channel.to_owned());
        }
    }
}
