//! Identity-provider adapters implementing `planpush_app::IdentityProvider`.
//!
//! - [`GithubProvider`]: GitHub (or GitHub Enterprise Server) OAuth web flow, gated on membership of
//!   one organization. OIDC (Okta or any issuer) arrives with the Okta issue.
//!
//! Architecture invariant: speaks HTTP to identity providers only; knows no database and no web
//! framework. Secrets and tokens are never logged.

mod github;

pub use github::{GithubProvider, GithubSettings};
