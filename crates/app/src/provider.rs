use async_trait::async_trait;
use planpush_identity::{Email, ExternalIdentity};
use planpush_roles::GroupName;

/// What an identity provider vouches for after a successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProfile {
    /// `(github, numeric id)` or `(oidc:issuer, sub)`: the key the user is found by.
    pub identity: ExternalIdentity,
    /// Display handle (GitHub login, `preferred_username`).
    pub login: String,
    pub name: Option<String>,
    /// A verified e-mail address, if the provider gave one (GitHub: the verified primary).
    pub email: Option<Email>,
    pub avatar_url: Option<String>,
    /// IdP groups (OIDC `groups` claim); empty for GitHub.
    pub groups: Vec<GroupName>,
}

/// Where to send the browser to start a sign-in, and what to remember until it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The provider's authorization URL, carrying `state` (and PKCE/nonce for OIDC).
    pub url: String,
    /// Opaque verifier material to keep in the browser's session and hand back to `complete`
    /// (the PKCE verifier and nonce for OIDC; empty for GitHub).
    pub verifier: String,
}

/// Why a sign-in at the provider did not produce a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The person is known to the provider but not allowed here (e.g. not a member of `GITHUB_ORG`).
    /// The message is shown to them.
    #[error("{0}")]
    NotAllowed(String),
    /// The authorization code (or token) was refused: expired, replayed or forged.
    #[error("the sign-in could not be completed: {0}")]
    Rejected(String),
    /// The provider could not be reached or answered nonsense.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// An identity provider (GitHub OAuth, an OIDC issuer). Implemented in the `auth` crate.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// Starts a sign-in bound to `state` (a single-use random value kept in the browser's session).
    fn authorize(&self, state: &str) -> AuthorizationRequest;
    /// Exchanges the callback's `code` for a verified profile, checking membership and claims.
    /// MUST return `NotAllowed` for people the provider knows but this server must not admit,
    /// `Rejected` for a bad code, `Unavailable` for transport failures.
    async fn complete(&self, code: &str, verifier: &str) -> Result<VerifiedProfile, ProviderError>;
}
