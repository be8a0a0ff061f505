//! Application services over the in-memory fakes, with time injected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contract;
mod groups;
mod notify;
mod push;
mod reviews;
mod scim;
mod sessions;
mod tokens;
