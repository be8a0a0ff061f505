//! Identity-provider adapters implementing `planpush_app::IdentityProvider`.
//!
//! - [`GithubProvider`]: GitHub (or GitHub Enterprise Server) OAuth web flow, gated on membership of
//!   one organization.
//! - [`OidcProvider`]: OpenID Connect (Okta, Microsoft Entra ID, Keycloak, Authentik, any
//!   standards-compliant issuer): Authorization Code + PKCE + nonce, full ID-token verification,
//!   JWKS rotation, groups, RP-initiated logout.
//!
//! Architecture invariant: speaks HTTP to identity providers only; knows no database and no web
//! framework. Secrets and tokens are never logged.

mod github;
mod oidc;

pub use github::{GithubProvider, GithubSettings};
pub use oidc::{
    ALLOWED_ALGS, CLOCK_SKEW, DEFAULT_JWKS_MIN_REFRESH, GroupsClaim, OidcProvider, OidcSettings,
    SCOPES,
};
