//! Ports of the identity domain, implemented by the storage adapter (and by [`crate::fake`]).
//!
//! Every method returns `Unknown` only for failures a caller cannot act on (a lost database,
//! a corrupt row); each documents the business errors it MUST return.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    ApiToken, DeviceGrant, DeviceGrantId, DeviceStatus, Email, ExternalIdentity, FamilyId,
    TokenHash, TokenId, TokenKind, User, UserCode, UserId, WebSession,
};

/// Errors of [`UserRepository`].
#[derive(Debug, thiserror::Error)]
pub enum UserRepoError {
    #[error("user not found")]
    NotFound,
    #[error("this identity is already linked to a user")]
    IdentityTaken,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// People and the external identities that sign them in.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user together with its first identity, atomically.
    /// MUST return `IdentityTaken` (and store nothing) when the identity already maps to a user.
    async fn create(&self, user: &User, identity: &ExternalIdentity) -> Result<(), UserRepoError>;
    /// Links another identity to an existing user.
    /// MUST return `NotFound` for an unknown user, `IdentityTaken` when the identity is linked already.
    async fn link_identity(
        &self,
        user_id: UserId,
        identity: &ExternalIdentity,
    ) -> Result<(), UserRepoError>;
    /// The user an identity signs in as, if any.
    async fn find_by_identity(
        &self,
        identity: &ExternalIdentity,
    ) -> Result<Option<User>, UserRepoError>;
    /// MUST return `NotFound` for an unknown id.
    async fn get(&self, id: UserId) -> Result<User, UserRepoError>;
    /// Users whose e-mail is `email` (e-mail is not unique; callers decide what several mean).
    async fn find_by_email(&self, email: &Email) -> Result<Vec<User>, UserRepoError>;
    /// Replaces the stored profile and state. MUST return `NotFound` for an unknown id.
    async fn update(&self, user: &User) -> Result<(), UserRepoError>;
    /// Every user, oldest first.
    async fn list(&self) -> Result<Vec<User>, UserRepoError>;
    /// How many users exist.
    async fn count(&self) -> Result<u64, UserRepoError>;
}

/// Errors of [`TokenRepository`].
#[derive(Debug, thiserror::Error)]
pub enum TokenRepoError {
    #[error("token not found")]
    NotFound,
    /// The refresh token was exchanged by someone else first.
    #[error("the refresh token has already been used")]
    AlreadyUsed,
    /// The refresh token (its family) was revoked: a sign-out or a revocation won the race.
    #[error("the refresh token has been revoked")]
    Revoked,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// API tokens of every kind, stored by hash.
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Stores a new token. The token's user MUST exist (adapters may return `Unknown` otherwise).
    async fn insert(&self, token: &ApiToken) -> Result<(), TokenRepoError>;
    /// The token with this hash, whatever its state (revoked and expired ones included).
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>, TokenRepoError>;
    /// MUST return `NotFound` for an unknown id.
    async fn get(&self, id: TokenId) -> Result<ApiToken, TokenRepoError>;
    /// A user's tokens of one kind, newest first, revoked ones included.
    async fn list_for_user(
        &self,
        user_id: UserId,
        kind: TokenKind,
    ) -> Result<Vec<ApiToken>, TokenRepoError>;
    /// Records use. MUST return `NotFound` for an unknown id.
    async fn touch(&self, id: TokenId, now: DateTime<Utc>) -> Result<(), TokenRepoError>;
    /// Atomically marks refresh token `used` as used at `now` and stores `successors` (the next
    /// refresh token and an access token): a compare-and-set on "neither used nor revoked".
    /// MUST return, storing nothing, `Revoked` if `used` is revoked (a logout or sign-out
    /// everywhere won the race: the revoked family must not get a live successor), `AlreadyUsed`
    /// if it was already marked used (a concurrent exchange won), and `NotFound` for an unknown id.
    async fn rotate(
        &self,
        used: TokenId,
        successors: &[ApiToken],
        now: DateTime<Utc>,
    ) -> Result<(), TokenRepoError>;
    /// Revokes one token (idempotent: revoking twice keeps the first time). MUST return `NotFound` for an unknown id.
    async fn revoke(&self, id: TokenId, now: DateTime<Utc>) -> Result<(), TokenRepoError>;
    /// Revokes every live token of a family; returns how many changed. MUST also revoke
    /// successors stored by a rotation that committed while this call ran (a rotation either
    /// sees the revocation and fails with `Revoked`, or its successors are revoked too).
    async fn revoke_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<u64, TokenRepoError>;
    /// Revokes every live token of a user (deactivation); returns how many changed.
    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, TokenRepoError>;
    /// Deletes tokens that expired before `before`; returns how many.
    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, TokenRepoError>;
}

/// Errors of [`DeviceGrantRepository`].
#[derive(Debug, thiserror::Error)]
pub enum DeviceRepoError {
    #[error("device grant not found")]
    NotFound,
    /// Another request changed the grant first (two polls racing, a poll racing an approval).
    #[error("the device grant was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// RFC 8628 device grants.
#[async_trait]
pub trait DeviceGrantRepository: Send + Sync {
    /// Stores a new grant. MUST return `Conflict` if its user code is held by another unexpired grant.
    async fn insert(&self, grant: &DeviceGrant) -> Result<(), DeviceRepoError>;
    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceGrant>, DeviceRepoError>;
    /// The newest grant with this user code.
    async fn find_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, DeviceRepoError>;
    /// Saves `grant` if the stored one still has the status `expected`: one compare-and-set, so
    /// of two concurrent calls with the same `expected` exactly one wins (e.g. two polls of an
    /// approved grant: only one may mint tokens). MUST return `Ok` only when this call changed
    /// the row, `Conflict` if the status moved on (the caller lost), `NotFound` for an unknown id.
    async fn save_if_status(
        &self,
        grant: &DeviceGrant,
        expected: DeviceStatus,
    ) -> Result<(), DeviceRepoError>;
    /// Deletes grants that expired before `before`.
    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, DeviceRepoError>;
    /// MUST return `NotFound` for an unknown id.
    async fn get(&self, id: DeviceGrantId) -> Result<DeviceGrant, DeviceRepoError>;
}

/// Errors of [`WebSessionRepository`].
#[derive(Debug, thiserror::Error)]
pub enum SessionRepoError {
    #[error("session not found")]
    NotFound,
    #[error("a session with this key already exists")]
    Duplicate,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Server-side browser sessions, keyed by the hash of the cookie's key.
#[async_trait]
pub trait WebSessionRepository: Send + Sync {
    /// MUST return `Duplicate` if the key hash exists.
    async fn insert(&self, session: &WebSession) -> Result<(), SessionRepoError>;
    /// The session, if it exists and is live at `now` (expired rows are treated as absent).
    async fn get_live(
        &self,
        key_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, SessionRepoError>;
    /// Replaces data, user and activity times. MUST return `NotFound` if the row is gone (revoked).
    async fn update(&self, session: &WebSession) -> Result<(), SessionRepoError>;
    /// Idempotent.
    async fn delete(&self, key_hash: &TokenHash) -> Result<(), SessionRepoError>;
    /// "Sign out everywhere": deletes every session of the user, returns how many.
    async fn delete_for_user(&self, user_id: UserId) -> Result<u64, SessionRepoError>;
    /// Live sessions of a user, most recently seen first.
    async fn list_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebSession>, SessionRepoError>;
    /// Deletes rows whose `expires_at` is at or before `now`.
    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, SessionRepoError>;
}
