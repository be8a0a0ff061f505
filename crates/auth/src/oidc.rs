//! OpenID Connect sign-in with any standards-compliant issuer (Okta, Microsoft Entra ID, Keycloak,
//! Authentik, …), with the `openidconnect` crate.
//!
//! - Discovery from the issuer (`{issuer}/.well-known/openid-configuration`; the document's
//!   `issuer` must equal the configured one exactly), JWKS fetched with it.
//! - `authorize`: Authorization Code flow, confidential client, PKCE S256, a fresh `nonce`, scopes
//!   `openid profile email groups`, the caller's single-use `state`.
//! - `complete`: code → tokens (with the PKCE verifier), then the ID token is verified: signature
//!   against the JWKS with an allowlist of asymmetric algorithms (`none` and HMAC are refused),
//!   `iss` exact, `aud` contains the client id (other audiences refused), `azp` equal to the client
//!   id when present, `exp`/`iat`/`nbf` with [`CLOCK_SKEW`], `nonce`. A token signed by a key whose
//!   `kid` is unknown re-fetches the JWKS once and retries, at most once per
//!   [`OidcSettings::jwks_min_refresh`], so key rotation at the issuer signs nobody out and a flood
//!   of forged tokens cannot hammer it.
//! - Identity `(oidc:<issuer>, sub)`; profile and `groups` from the ID token, completed by userinfo
//!   (whose `sub` must match). The e-mail is kept only when `email_verified` is true.
//! - Single logout: the issuer's `end_session_endpoint` with `id_token_hint`, `client_id`,
//!   `post_logout_redirect_uri` and `state`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreGenderClaim, CoreIdToken,
    CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, SubjectIdentifier, TokenResponse, UserInfoClaims,
};
use planpush_app::{
    AuthorizationRequest, IdentityProvider, ProviderError, SingleLogout, VerifiedProfile,
};
use planpush_identity::{Email, ExternalIdentity, Provider};
use planpush_roles::GroupName;
use serde::{Deserialize, Serialize};

/// Tolerated clock difference with the issuer for `exp`, `iat` and `nbf`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Default minimum time between two JWKS re-fetches caused by unknown keys.
pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);
/// The scopes asked for. `groups` carries the groups claim (Okta's name; most issuers follow it).
pub const SCOPES: [&str; 3] = ["profile", "email", "groups"];

/// The accepted ID-token signature algorithms: asymmetric only. `none` and every HMAC algorithm
/// are refused (an HMAC "signed" with the issuer's public key is the classic forgery).
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// What the OIDC provider needs from the configuration.
#[derive(Clone)]
pub struct OidcSettings {
    /// `OKTA_ISSUER`, exactly as the issuer writes it in its tokens.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// `BASE_URL/auth/callback`.
    pub redirect_uri: String,
    /// `POST_LOGOUT_REDIRECT_URI` (default `BASE_URL`).
    pub post_logout_redirect_uri: String,
    /// Minimum time between two JWKS re-fetches caused by an unknown `kid`.
    pub jwks_min_refresh: Duration,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .finish()
    }
}

/// The `groups` claim: an array of names (or a single name, as a few issuers send it).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct GroupsClaim {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<OneOrMany>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl AdditionalClaims for GroupsClaim {}

impl GroupsClaim {
    /// A claim listing `groups` (what an issuer would send).
    pub fn new(groups: Vec<String>) -> Self {
        Self {
            groups: Some(OneOrMany::Many(groups)),
        }
    }

    fn names(&self) -> Option<Vec<String>> {
        match &self.groups {
            None => None,
            Some(OneOrMany::One(s)) => Some(vec![s.clone()]),
            Some(OneOrMany::Many(v)) => Some(v.clone()),
        }
    }
}

/// What the session keeps between `authorize` and `complete` (server-side only).
#[derive(Serialize, Deserialize)]
struct Pending {
    pkce: String,
    nonce: String,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Keys {
    set: CoreJsonWebKeySet,
    /// Bumped at every successful re-fetch.
    generation: u64,
}

pub struct OidcProvider {
    settings: OidcSettings,
    issuer: IssuerUrl,
    client: Client,
    end_session: Option<EndSessionUrl>,
    jwks_uri: openidconnect::JsonWebKeySetUrl,
    keys: RwLock<Keys>,
    /// When the last unknown-`kid` re-fetch started (the gate that rate-limits them).
    refetch: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        // Following redirects from an IdP's back channel invites SSRF; none are expected.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the HTTP client")
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unavailable(anyhow!("{what}: {e}"))
}

fn rejected(what: impl Into<String>) -> ProviderError {
    ProviderError::Rejected(what.into())
}

impl OidcProvider {
    /// Discovers the issuer and fetches its keys. Fails with a one-line reason when the issuer
    /// cannot be reached, answers nonsense, or names another issuer than `settings.issuer`.
    pub async fn discover(settings: OidcSettings) -> anyhow::Result<Arc<Self>> {
        let http = http_client()?;
        let issuer = IssuerUrl::new(settings.issuer.clone()).context("invalid issuer URL")?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer.clone(), &http)
            .await
            .map_err(|e| {
                anyhow!(
                    "discovery at {issuer}/.well-known/openid-configuration failed: {}",
                    chain(&e)
                )
            })?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let jwks_uri = metadata.jwks_uri().clone();
        let set = metadata.jwks().clone();
        if metadata.token_endpoint().is_none() {
            return Err(anyhow!(
                "the issuer's discovery document has no token_endpoint"
            ));
        }
        // RFC 8414: no list means `client_secret_basic`. Issuers that only take the secret in the
        // form body get it there.
        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|m| {
                !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && m.contains(&CoreClientAuthMethod::ClientSecretPost)
            });
        let redirect =
            RedirectUrl::new(settings.redirect_uri.clone()).context("invalid redirect URI")?;
        PostLogoutRedirectUrl::new(settings.post_logout_redirect_uri.clone())
            .context("invalid POST_LOGOUT_REDIRECT_URI")?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(if post_only {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        });
        tracing::info!(issuer = %issuer.as_str(), keys = set.keys().len(), single_logout = end_session.is_some(), "OpenID Connect issuer discovered");
        Ok(Arc::new(Self {
            settings,
            issuer,
            client,
            end_session,
            jwks_uri,
            keys: RwLock::new(Keys { set, generation: 0 }),
            refetch: tokio::sync::Mutex::new(None),
            http,
        }))
    }

    /// Whether the issuer offers RP-initiated logout.
    pub fn has_end_session(&self) -> bool {
        self.end_session.is_some()
    }

    fn keys(&self) -> (CoreJsonWebKeySet, u64) {
        let k = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (k.set.clone(), k.generation)
    }

    fn verifier(&self, set: CoreJsonWebKeySet) -> CoreIdTokenVerifier<'static> {
        let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or(chrono::Duration::zero());
        CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.settings.client_id.clone()),
            ClientSecret::new(self.settings.client_secret.clone()),
            self.issuer.clone(),
            set,
        )
        .set_allowed_algs(ALLOWED_ALGS)
        // `exp` is compared with this clock: tokens stay valid `CLOCK_SKEW` after their expiry.
        .set_time_fn(move || chrono::Utc::now() - skew)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > chrono::Utc::now() + skew {
                Err(format!("issued in the future ({iat})"))
            } else {
                Ok(())
            }
        })
    }

    /// Re-fetches the JWKS after an unknown `kid`, unless one was fetched less than
    /// `jwks_min_refresh` ago. Returns whether keys newer than `seen` are now available.
    async fn refresh_keys(&self, seen: u64) -> Result<bool, ProviderError> {
        let mut last = self.refetch.lock().await;
        if self.keys().1 != seen {
            // Someone else re-fetched while this request waited.
            return Ok(true);
        }
        if let Some(at) = *last
            && at.elapsed() < self.settings.jwks_min_refresh
        {
            tracing::warn!("ID token signed by an unknown key; JWKS re-fetch rate-limited");
            return Ok(false);
        }
        *last = Some(Instant::now());
        let set = CoreJsonWebKeySet::fetch_async(&self.jwks_uri, &self.http)
            .await
            .map_err(|e| unavailable("JWKS re-fetch failed", chain(&e)))?;
        let mut k = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        k.set = set;
        k.generation += 1;
        tracing::info!(
            keys = k.set.keys().len(),
            "JWKS re-fetched after an unknown key"
        );
        Ok(true)
    }

    /// Verifies the ID token; an unknown key re-fetches the JWKS (rate-limited) and retries once.
    async fn verify(
        &self,
        token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<openidconnect::IdTokenClaims<GroupsClaim, CoreGenderClaim>, ProviderError> {
        let (set, generation) = self.keys();
        match self.verify_with(token, nonce, set) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                if self.refresh_keys(generation).await? {
                    let (set, _) = self.keys();
                    self.verify_with(token, nonce, set).map_err(refused)
                } else {
                    Err(rejected("ID token refused: signed by an unknown key"))
                }
            }
            other => other.map_err(refused),
        }
    }

    fn verify_with(
        &self,
        token: &CoreIdToken,
        nonce: &Nonce,
        set: CoreJsonWebKeySet,
    ) -> Result<openidconnect::IdTokenClaims<GroupsClaim, CoreGenderClaim>, ClaimsVerificationError>
    {
        // The same compact JWT, read with the groups claim kept.
        let raw = token.to_string();
        let typed: openidconnect::IdToken<
            GroupsClaim,
            CoreGenderClaim,
            openidconnect::core::CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        > = raw
            .parse()
            .map_err(|e| ClaimsVerificationError::Other(format!("malformed ID token: {e}")))?;
        let verifier = self.verifier(set);
        let claims = typed.claims(&verifier, nonce)?.clone();
        if let Some(azp) = claims.authorized_party()
            && azp.as_str() != self.settings.client_id
        {
            return Err(ClaimsVerificationError::InvalidAudience(format!(
                "azp is `{}`, not this client",
                azp.as_str()
            )));
        }
        check_nbf(&raw)?;
        Ok(claims)
    }

    async fn userinfo(
        &self,
        access: openidconnect::AccessToken,
        subject: &SubjectIdentifier,
    ) -> Result<Option<UserInfoClaims<GroupsClaim, CoreGenderClaim>>, ProviderError> {
        let request = match self.client.user_info(access, Some(subject.clone())) {
            Ok(r) => r,
            Err(_) => return Ok(None), // the issuer has no userinfo endpoint
        };
        request
            .request_async(&self.http)
            .await
            .map(Some)
            .map_err(|e| unavailable("userinfo request failed", chain(&e)))
    }
}

fn refused(e: ClaimsVerificationError) -> ProviderError {
    match e {
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => rejected("ID token refused: signed by an unknown key"),
        e => rejected(format!("ID token refused: {}", chain(&e))),
    }
}

/// `nbf`, when present, must not be later than now (with the skew). `openidconnect` does not check it.
fn check_nbf(raw: &str) -> Result<(), ClaimsVerificationError> {
    #[derive(Deserialize)]
    struct Nbf {
        nbf: Option<serde_json::Value>,
    }
    let payload = raw
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Nbf>(&b).ok());
    let Some(Nbf { nbf: Some(nbf) }) = payload else {
        return Ok(());
    };
    let Some(nbf) = nbf.as_f64() else {
        return Err(ClaimsVerificationError::Other("nbf is not a number".into()));
    };
    let now = chrono::Utc::now().timestamp() as f64;
    if nbf > now + CLOCK_SKEW.as_secs_f64() {
        return Err(ClaimsVerificationError::Expired(format!(
            "not valid before {nbf}"
        )));
    }
    Ok(())
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn groups_of(names: Vec<String>) -> Vec<GroupName> {
    let mut out: Vec<GroupName> = names
        .iter()
        .filter_map(|g| match GroupName::parse(g) {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::warn!(error = %e, "ignored an unusable group name from the issuer");
                None
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    fn authorize(&self, state: &str) -> AuthorizationRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, _state, nonce) = request.url();
        let pending = Pending {
            pkce: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        };
        AuthorizationRequest {
            url: url.into(),
            verifier: serde_json::to_string(&pending).unwrap_or_default(),
        }
    }

    async fn complete(&self, code: &str, verifier: &str) -> Result<VerifiedProfile, ProviderError> {
        // No verifier, no exchange: a code arriving without this browser's PKCE verifier and nonce
        // is someone else's.
        let pending: Pending = serde_json::from_str(verifier)
            .map_err(|_| rejected("no PKCE verifier and nonce for this sign-in"))?;
        if pending.pkce.is_empty() || pending.nonce.is_empty() {
            return Err(rejected("no PKCE verifier and nonce for this sign-in"));
        }
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce));
        let tokens = match request.request_async(&self.http).await {
            Ok(t) => t,
            Err(RequestTokenError::ServerResponse(r)) => {
                return Err(rejected(format!("the issuer refused the code: {r}")));
            }
            Err(RequestTokenError::Parse(e, _)) => {
                return Err(rejected(format!(
                    "the token response could not be read: {}",
                    chain(&e)
                )));
            }
            Err(e) => return Err(unavailable("token request failed", chain(&e))),
        };
        let id_token = tokens
            .id_token()
            .ok_or_else(|| rejected("the issuer returned no ID token"))?;
        let claims = self.verify(id_token, &Nonce::new(pending.nonce)).await?;
        let subject = claims.subject().clone();
        let info = self.userinfo(tokens.access_token().clone(), &subject).await;
        let info = match info {
            Ok(i) => i,
            // The ID token alone is enough when it carries the groups; otherwise fail closed.
            Err(e) if claims.additional_claims().names().is_some() => {
                tracing::warn!(error = %e, "userinfo unavailable; using the ID token's claims");
                None
            }
            Err(e) => return Err(e),
        };

        let email_from = |email: Option<&openidconnect::EndUserEmail>, verified: Option<bool>| {
            email
                .filter(|_| verified == Some(true))
                .and_then(|e| Email::parse(e.as_str()).ok())
        };
        let email = email_from(claims.email(), claims.email_verified()).or_else(|| {
            info.as_ref()
                .and_then(|i| email_from(i.email(), i.email_verified()))
        });
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| {
                info.as_ref()
                    .and_then(|i| i.name())
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned())
            })
            .filter(|n| !n.trim().is_empty());
        // The display handle: the first usable of preferred_username (ID token, then userinfo),
        // the verified e-mail, the subject. A login is 1–100 printable characters.
        let usable = |s: &str| {
            let s = s.trim();
            (!s.is_empty() && s.chars().count() <= 100 && !s.chars().any(char::is_control))
                .then(|| s.to_owned())
        };
        let login = [
            claims.preferred_username().map(|u| u.as_str().to_owned()),
            info.as_ref()
                .and_then(|i| i.preferred_username())
                .map(|u| u.as_str().to_owned()),
            email.as_ref().map(|e| e.as_str().to_owned()),
        ]
        .into_iter()
        .flatten()
        .find_map(|c| usable(&c))
        .unwrap_or_else(|| subject.as_str().chars().take(100).collect());
        let avatar_url = claims
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_owned())
            .or_else(|| {
                info.as_ref()
                    .and_then(|i| i.picture())
                    .and_then(|p| p.get(None))
                    .map(|p| p.as_str().to_owned())
            });
        let groups = claims
            .additional_claims()
            .names()
            .or_else(|| info.as_ref().and_then(|i| i.additional_claims().names()))
            .unwrap_or_default();
        let identity = ExternalIdentity::new(
            Provider::Oidc {
                issuer: self.settings.issuer.clone(),
            },
            subject.as_str(),
        )
        .map_err(|e| rejected(format!("unusable sub claim: {e}")))?;
        tracing::info!(sub = %subject.as_str(), groups = groups.len(), "OpenID Connect sign-in verified");
        Ok(VerifiedProfile {
            identity,
            login,
            name,
            email,
            avatar_url,
            groups: groups_of(groups),
            logout_hint: Some(id_token.to_string()),
        })
    }

    fn accepts_callback_issuer(&self, iss: Option<&str>) -> bool {
        iss.is_none_or(|i| i == self.settings.issuer)
    }

    fn single_logout(&self, hint: Option<&str>, state: &str) -> SingleLogout {
        let Some(end) = &self.end_session else {
            return SingleLogout::Unsupported;
        };
        let mut request = LogoutRequest::from(end.clone())
            .set_client_id(ClientId::new(self.settings.client_id.clone()))
            .set_state(CsrfToken::new(state.to_owned()));
        if let Ok(uri) = PostLogoutRedirectUrl::new(self.settings.post_logout_redirect_uri.clone())
        {
            request = request.set_post_logout_redirect_uri(uri);
        }
        let mut url = request.http_get_url();
        if let Some(hint) = hint {
            // The ID token as the issuer sent it (RP-Initiated Logout 1.0 §2).
            url.query_pairs_mut().append_pair("id_token_hint", hint);
        }
        SingleLogout::Redirect(url.into())
    }
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
