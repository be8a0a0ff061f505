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
    /// What the provider needs later to end this sign-in at its end (OIDC: the raw ID token, the
    /// `id_token_hint` of RP-initiated logout). Kept in the server-side session only; `None` for GitHub.
    pub logout_hint: Option<String>,
}

/// What signing out of this server means at the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleLogout {
    /// The provider has no sessions of its own to end here (GitHub, dev): local sign-out only.
    NotApplicable,
    /// Send the browser here (the issuer's `end_session_endpoint` with `id_token_hint`,
    /// `client_id`, `post_logout_redirect_uri` and `state`).
    Redirect(String),
    /// The provider keeps a session but offers no end-session endpoint: the local sign-out is
    /// complete and the person must be told they may still be signed in at the provider.
    Unsupported,
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
    /// Whether the callback's `iss` parameter (RFC 9207, `None` when absent) names this provider:
    /// a different one means the browser was sent back from another issuer (mix-up attack).
    fn accepts_callback_issuer(&self, _iss: Option<&str>) -> bool {
        true
    }
    /// How to end the person's session at the provider after the local sign-out. `hint` is the
    /// profile's `logout_hint` kept since sign-in, `state` a fresh random value.
    fn single_logout(&self, _hint: Option<&str>, _state: &str) -> SingleLogout {
        SingleLogout::NotApplicable
    }
}
