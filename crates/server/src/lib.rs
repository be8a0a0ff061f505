//! The `planpush-server` binary's library half: configuration, kept separate so tests and tools can
//! validate a configuration without starting a server.

pub mod config;
