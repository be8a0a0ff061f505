//! The `planpush-server` binary as operators and users meet it: start-up, GitHub sign-in against a
//! fake GitHub, and pages in a real browser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod a11y;
mod browser;
mod chat;
mod cli;
mod dashboard;
mod email;
mod find_browser;
mod github_signin;
mod inbox_browser;
mod live;
mod mcp;
mod multiprocess;
mod oidc_browser;
mod oidc_signin;
mod ops;
mod presence_browser;
mod review_browser;
mod scim_conformance;
mod slack;
mod startup;
mod support;
mod webhooks;
