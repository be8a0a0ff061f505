//! API tokens: personal tokens, Bearer authentication, the RFC 8628 device flow and refresh-token
//! rotation.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::{
    ACCESS_TOKEN_TTL, ApiToken, DeviceDecisionError, DeviceGrant, DeviceRepoError, DeviceStatus,
    PollOutcome, RefreshCheck, TokenHash, TokenId, TokenKind, TokenRejected, TokenRepoError,
    TokenSecret, UserCode, UserId,
};

use crate::{
    AccessCache, Auditor, AuthMethod, Budget, CacheLimits, GenerationCache, LimitKey, Ports,
    Principal, RateLimiter, Unlimited,
};

/// Why a Bearer credential was refused. All answer 401; the text says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
    #[error("the account is deactivated")]
    Deactivated,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Errors of personal-token management.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    BadLabel(String),
    #[error("token not found")]
    NotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// RFC 8628 §3.5 and RFC 6749 §5.2 errors of the token endpoints. `code()` is the wire `error`.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("the user has not yet approved this code")]
    AuthorizationPending,
    #[error("polling too fast: wait {interval} seconds between requests")]
    SlowDown { interval: u32 },
    #[error("the code has expired; start the login again")]
    ExpiredToken,
    #[error("the request was denied")]
    AccessDenied,
    #[error("the grant is invalid, expired or revoked")]
    InvalidGrant,
    /// This token family refreshed too often (its own budget, not the client address's).
    #[error("too many refreshes; try again later")]
    RateLimited { wait: std::time::Duration },
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl GrantError {
    /// The `error` value of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            GrantError::AuthorizationPending => "authorization_pending",
            GrantError::SlowDown { .. } => "slow_down",
            GrantError::ExpiredToken => "expired_token",
            GrantError::AccessDenied => "access_denied",
            GrantError::InvalidGrant => "invalid_grant",
            GrantError::RateLimited { .. } => "rate_limited",
            GrantError::Unknown(_) => "server_error",
        }
    }
}

/// Why approving or denying a user code failed.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error("no login is waiting for this code; check it and try again")]
    UnknownCode,
    #[error(transparent)]
    Decision(#[from] DeviceDecisionError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// A fresh device authorization (RFC 8628 §3.2).
#[derive(Debug)]
pub struct DeviceStart {
    pub device_code: TokenSecret,
    pub user_code: UserCode,
    pub expires_in: i64,
    pub interval: u32,
}

/// Who asked for a device code: shown on `/activate` so the person approving can tell their own
/// login from someone else's (RFC 8628 §5.4).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceClient {
    /// The client's own description (its `User-Agent`), cut to [`DEVICE_CLIENT_MAX_CHARS`].
    pub name: String,
    /// The address the request came from.
    pub ip: Option<IpAddr>,
}

/// The most of a client's self-description `/activate` shows.
pub const DEVICE_CLIENT_MAX_CHARS: usize = 100;

impl DeviceClient {
    /// From untrusted input: control characters dropped, length bounded, never empty.
    pub fn new(name: Option<&str>, ip: Option<IpAddr>) -> Self {
        let name = crate::signin::bounded_text(name.unwrap_or("").trim(), DEVICE_CLIENT_MAX_CHARS);
        Self {
            name: if name.is_empty() {
                "an unnamed client".into()
            } else {
                name
            },
            ip,
        }
    }
}

/// A pending device login as `/activate` shows it before anyone approves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub user_code: UserCode,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `None` when the description was lost (e.g. the key-value store was unavailable at start).
    pub client: Option<DeviceClient>,
}

fn device_client_key(grant: planpush_identity::DeviceGrantId) -> String {
    format!("device_client:{grant}")
}

/// What the token endpoints hand the CLI.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: TokenSecret,
    pub refresh_token: TokenSecret,
    pub expires_in: i64,
}

/// Token use cases. Looked-up tokens are cached by hash (for [`crate::ACCESS_TTL`]) in a
/// [`GenerationCache`] scoped by owner: any revocation made by this process bumps the owner's
/// generation, so a cached token never outlives it here, even if a lookup was in flight.
pub struct Tokens {
    ports: Ports,
    access: Arc<AccessCache>,
    audit: Auditor,
    cache: GenerationCache<TokenHash, Arc<ApiToken>, UserId>,
    limits: Arc<dyn RateLimiter>,
}

fn unknown(e: impl Into<anyhow::Error>) -> anyhow::Error {
    e.into()
}

impl Tokens {
    pub fn new(ports: Ports, access: Arc<AccessCache>) -> Self {
        let audit = Auditor::new(ports.clone());
        let cache = GenerationCache::new(
            access.generations().clone(),
            |t: &Arc<ApiToken>| Some(t.user_id),
            CacheLimits {
                capacity: 100_000,
                ttl: crate::ACCESS_TTL,
                weigher: None,
            },
        );
        Self {
            ports,
            access,
            audit,
            cache,
            limits: Arc::new(Unlimited),
        }
    }

    /// The same service, counting refreshes per token family against `limits`
    /// ([`Budget::Refresh`]).
    pub fn with_limits(mut self, limits: Arc<dyn RateLimiter>) -> Self {
        self.limits = limits;
        self
    }

    // ---- personal tokens ----

    pub async fn create_personal(
        &self,
        p: &Principal,
        label: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(ApiToken, TokenSecret), TokenError> {
        let (token, secret) = ApiToken::personal(p.user_id, label, now, None)
            .map_err(|e| TokenError::BadLabel(e.to_string()))?;
        self.ports.tokens.insert(&token).await.map_err(unknown)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::TokenCreated, Some(p.user_id), now)
                    .target("token", token.id)
                    .ip(ip)
                    .detail("label", label.trim()),
            )
            .await;
        Ok((token, secret))
    }

    pub async fn list_personal(&self, p: &Principal) -> Result<Vec<ApiToken>, TokenError> {
        Ok(self
            .ports
            .tokens
            .list_for_user(p.user_id, TokenKind::Personal)
            .await
            .map_err(unknown)?)
    }

    /// Revokes one of the caller's own personal tokens (someone else's answers `NotFound`).
    pub async fn revoke_personal(
        &self,
        p: &Principal,
        id: TokenId,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let token = match self.ports.tokens.get(id).await {
            Ok(t) if t.user_id == p.user_id && t.kind == TokenKind::Personal => t,
            Ok(_) | Err(TokenRepoError::NotFound) => return Err(TokenError::NotFound),
            Err(e) => return Err(unknown(e).into()),
        };
        self.ports
            .tokens
            .revoke(token.id, now)
            .await
            .map_err(unknown)?;
        // Bump, not only drop the key: a lookup in flight must not put the token back, and the
        // streams opened with it close.
        self.cache.forget(&token.hash).await;
        self.access.invalidate(p.user_id);
        self.audit
            .record(
                AuditEvent::new(AuditAction::TokenRevoked, Some(p.user_id), now)
                    .target("token", token.id)
                    .ip(ip),
            )
            .await;
        Ok(())
    }

    // ---- Bearer authentication ----

    /// The principal a Bearer token stands for. Warm path (cached token, cached access): no
    /// database round trip.
    pub async fn authenticate(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, BearerError> {
        let secret = TokenSecret::presented(presented).map_err(|_| BearerError::Invalid)?;
        let hash = secret.hash();
        let stamp = self.cache.generations().stamp();
        let token = self
            .cache
            .get_or_load(&hash, || async move {
                Ok::<_, TokenRepoError>(self.ports.tokens.find_by_hash(&hash).await?.map(Arc::new))
            })
            .await
            .map_err(unknown)?
            .ok_or(BearerError::Invalid)?;
        token.check_bearer(now).map_err(|e| match e {
            TokenRejected::Revoked => BearerError::Revoked,
            TokenRejected::Expired => BearerError::Expired,
            TokenRejected::WrongKind => BearerError::Invalid,
        })?;
        let principal = self
            .access
            .principal(token.user_id, AuthMethod::Token(token.id))
            .await?
            .ok_or(BearerError::Deactivated)?;
        // Record use at most once a minute per token, so a busy CLI does not write on every call.
        if token
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::minutes(1))
        {
            let mut touched = (*token).clone();
            touched.last_used_at = Some(now);
            self.cache
                .insert_if_current(hash, Arc::new(touched), stamp)
                .await;
            self.ports
                .tokens
                .touch(token.id, now)
                .await
                .map_err(unknown)?;
        }
        Ok(principal)
    }

    // ---- device flow ----

    /// `POST /api/auth/device`: a new device code and user code.
    /// RFC 8628 §3.2: a new grant. `client` is kept (until the grant expires) to show on
    /// `/activate`; failing to keep it is logged and does not fail the login.
    pub async fn start_device(
        &self,
        client: DeviceClient,
        now: DateTime<Utc>,
    ) -> Result<DeviceStart, GrantError> {
        for _ in 0..5 {
            let (grant, device_code) = DeviceGrant::start(now);
            match self.ports.device_grants.insert(&grant).await {
                Ok(()) => {
                    let saved = match serde_json::to_vec(&client) {
                        Ok(bytes) => self
                            .ports
                            .kv
                            .put(
                                &device_client_key(grant.id()),
                                &bytes,
                                Some(grant.expires_at()),
                            )
                            .await
                            .map_err(anyhow::Error::from),
                        Err(e) => Err(e.into()),
                    };
                    if let Err(e) = saved {
                        tracing::warn!(error = %e, "cannot keep the device client's description");
                    }
                    return Ok(DeviceStart {
                        device_code,
                        user_code: grant.user_code().clone(),
                        expires_in: (grant.expires_at() - now).num_seconds(),
                        interval: grant.interval_secs(),
                    });
                }
                // A live grant holds this user code: draw another.
                Err(DeviceRepoError::Conflict) => continue,
                Err(e) => return Err(unknown(e).into()),
            }
        }
        Err(anyhow::anyhow!("could not draw a free user code").into())
    }

    /// The pending grant for a user code, for the `/activate` page.
    pub async fn pending_device(
        &self,
        code: &UserCode,
        now: DateTime<Utc>,
    ) -> Result<DeviceGrant, ActivateError> {
        let grant = self
            .ports
            .device_grants
            .find_by_user_code(code)
            .await
            .map_err(unknown)?
            .ok_or(ActivateError::UnknownCode)?;
        if grant.is_expired(now) {
            return Err(DeviceDecisionError::Expired.into());
        }
        if grant.status() != DeviceStatus::Pending {
            return Err(DeviceDecisionError::AlreadyDecided.into());
        }
        Ok(grant)
    }

    /// What `/activate` shows about the pending login under `code` before it is approved: when it
    /// was started, by which client, from which address.
    pub async fn device_request(
        &self,
        code: &UserCode,
        now: DateTime<Utc>,
    ) -> Result<DeviceRequest, ActivateError> {
        let grant = self.pending_device(code, now).await?;
        let client = match self.ports.kv.get(&device_client_key(grant.id()), now).await {
            Ok(bytes) => bytes.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the device client's description");
                None
            }
        };
        Ok(DeviceRequest {
            user_code: grant.user_code().clone(),
            issued_at: grant.created_at(),
            expires_at: grant.expires_at(),
            client,
        })
    }

    /// A signed-in person approves (or denies) the login waiting under `code`.
    pub async fn decide_device(
        &self,
        p: &Principal,
        code: &UserCode,
        approve: bool,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), ActivateError> {
        let mut grant = self.pending_device(code, now).await?;
        let before = grant.status();
        if approve {
            grant.approve(p.user_id, now)?;
        } else {
            grant.deny(now)?;
        }
        match self
            .ports
            .device_grants
            .save_if_status(&grant, before)
            .await
        {
            Ok(()) => {}
            Err(DeviceRepoError::Conflict) => {
                return Err(DeviceDecisionError::AlreadyDecided.into());
            }
            Err(e) => return Err(unknown(e).into()),
        }
        let action = if approve {
            AuditAction::DeviceApproved
        } else {
            AuditAction::DeviceDenied
        };
        self.audit
            .record(
                AuditEvent::new(action, Some(p.user_id), now)
                    .target("device", grant.id())
                    .ip(ip)
                    .detail("user_code", code.as_str()),
            )
            .await;
        Ok(())
    }

    /// `POST /api/auth/device/token`: one poll.
    pub async fn poll_device(
        &self,
        device_code: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, GrantError> {
        let secret = TokenSecret::presented(device_code).map_err(|_| GrantError::InvalidGrant)?;
        let mut grant = self
            .ports
            .device_grants
            .find_by_device_code(&secret.hash())
            .await
            .map_err(unknown)?
            .ok_or(GrantError::InvalidGrant)?;
        let before = grant.status();
        // An approved grant is consumed by this poll; the compare-and-set below lets exactly one
        // of several racing polls mint tokens.
        let outcome = grant.poll(now);
        match self
            .ports
            .device_grants
            .save_if_status(&grant, before)
            .await
        {
            Ok(()) => {}
            // Another poll or the approval changed it meanwhile: ask the client to back off.
            Err(DeviceRepoError::Conflict) => {
                return Err(GrantError::SlowDown {
                    interval: grant.interval_secs(),
                });
            }
            Err(e) => return Err(unknown(e).into()),
        }
        match outcome {
            PollOutcome::AuthorizationPending => Err(GrantError::AuthorizationPending),
            PollOutcome::SlowDown { interval } => Err(GrantError::SlowDown { interval }),
            PollOutcome::ExpiredToken => Err(GrantError::ExpiredToken),
            PollOutcome::AccessDenied => Err(GrantError::AccessDenied),
            PollOutcome::Approved(user) => {
                if self
                    .access
                    .principal(user, AuthMethod::Session)
                    .await?
                    .is_none()
                {
                    return Err(GrantError::AccessDenied);
                }
                let (refresh, refresh_secret) = ApiToken::new_refresh_family(user, now);
                let (access, access_secret) = refresh.mint_access(now);
                self.ports.tokens.insert(&refresh).await.map_err(unknown)?;
                self.ports.tokens.insert(&access).await.map_err(unknown)?;
                Ok(TokenPair {
                    access_token: access_secret,
                    refresh_token: refresh_secret,
                    expires_in: ACCESS_TOKEN_TTL.num_seconds(),
                })
            }
        }
    }

    // ---- refresh ----

    /// `POST /api/auth/token`: exchanges a refresh token for a new pair; the old one is spent.
    /// Presenting a spent refresh token revokes its whole family (someone copied it).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, GrantError> {
        let secret = TokenSecret::presented(refresh_token).map_err(|_| GrantError::InvalidGrant)?;
        let token = self
            .ports
            .tokens
            .find_by_hash(&secret.hash())
            .await
            .map_err(unknown)?
            .ok_or(GrantError::InvalidGrant)?;
        match token.check_refresh(now) {
            RefreshCheck::Rotate => {}
            RefreshCheck::ReuseDetected => {
                self.revoke_family_of(&token, now).await?;
                self.audit
                    .record(
                        AuditEvent::new(AuditAction::RefreshReuse, Some(token.user_id), now)
                            .target("token_family", token.family_id)
                            .ip(ip),
                    )
                    .await;
                return Err(GrantError::InvalidGrant);
            }
            RefreshCheck::Rejected(_) => return Err(GrantError::InvalidGrant),
        }
        // Counted per family: every CLI behind one address has its own budget.
        self.limits
            .check(Budget::Refresh, LimitKey::Family(token.family_id))
            .await
            .map_err(|wait| GrantError::RateLimited { wait })?;
        if self
            .access
            .principal(token.user_id, AuthMethod::Session)
            .await?
            .is_none()
        {
            return Err(GrantError::InvalidGrant);
        }
        let (next, next_secret) = token.successor(now);
        let (access, access_secret) = token.mint_access(now);
        match self
            .ports
            .tokens
            .rotate(token.id, &[next, access], now)
            .await
        {
            Ok(()) => Ok(TokenPair {
                access_token: access_secret,
                refresh_token: next_secret,
                expires_in: ACCESS_TOKEN_TTL.num_seconds(),
            }),
            // Revoked meanwhile (a logout or sign-out everywhere won the race): no successor.
            Err(TokenRepoError::Revoked) => Err(GrantError::InvalidGrant),
            // A concurrent exchange of the same token won: that is reuse too.
            Err(TokenRepoError::AlreadyUsed) => {
                self.revoke_family_of(&token, now).await?;
                Err(GrantError::InvalidGrant)
            }
            Err(e) => Err(unknown(e).into()),
        }
    }

    /// CLI logout: revokes the family of the given refresh token. Unknown tokens are ignored.
    pub async fn logout(&self, refresh_token: &str, now: DateTime<Utc>) -> Result<(), GrantError> {
        let Ok(secret) = TokenSecret::presented(refresh_token) else {
            return Ok(());
        };
        if let Some(token) = self
            .ports
            .tokens
            .find_by_hash(&secret.hash())
            .await
            .map_err(unknown)?
        {
            self.revoke_family_of(&token, now).await?;
        }
        Ok(())
    }

    async fn revoke_family_of(
        &self,
        token: &ApiToken,
        now: DateTime<Utc>,
    ) -> Result<(), GrantError> {
        self.ports
            .tokens
            .revoke_family(token.family_id, now)
            .await
            .map_err(unknown)?;
        // Access tokens of the family may be cached: void the owner's cached tokens.
        self.access.invalidate(token.user_id);
        Ok(())
    }
}
