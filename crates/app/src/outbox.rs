//! The outbox data and retry rule live in the `outbox` domain crate (so repository ports can take
//! messages to write atomically); they are re-exported from here unchanged.

pub use planpush_outbox::{
    OUTBOX_MAX_ATTEMPTS, OutboxMessage, OutboxMessageId, backoff_after, backoff_from,
};
