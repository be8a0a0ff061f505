//! The web layer in-process over fake ports: sign-in, sessions, tokens, device flow, admin, rate
//! limits and the authorization matrix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod audit;
mod authz_matrix;
mod comments;
mod dashboard;
mod device;
mod email;
mod events;
mod export;
mod headers;
mod health;
mod inbox;
mod limits;
mod metrics;
mod offboarding;
mod openapi;
mod plans;
mod push;
mod request_id;
mod scim;
mod search;
mod sessions;
mod signin;
mod tokens;
mod typed;
