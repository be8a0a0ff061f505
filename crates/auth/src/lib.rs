//! Identity-provider adapters: GitHub OAuth (org-gated) and OpenID Connect (Okta or any issuer).
//!
//! Not implemented yet: GitHub sign-in arrives with issue #3, OIDC with the Okta issue.
//!
//! Architecture invariant: speaks HTTP to identity providers only; knows no database and no web framework.
