//! The Slack incoming-webhook notifier (Block Kit messages delivered from the outbox).
//!
//! Not implemented yet: it arrives with issue #5.
//!
//! Architecture invariant: formats and sends messages; knows no database and no web framework.
