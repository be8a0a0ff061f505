//! Server-side browser sessions: the storage behind the session cookie.
//!
//! The cookie carries a random key; the store keeps only its hash. Loads are cached in-process (a
//! warm request makes no database round trip); any revocation this process makes (logout, sign out
//! everywhere, deactivation) voids the cache at once. Idle expiry rolls forward at most once a
//! minute per session, so activity costs one write a minute, not one per request.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_identity::{
    SecretKind, SessionPolicy, SessionRepoError, TokenHash, TokenSecret, UserId, WebSession,
};

use crate::{AccessCache, Ports};

/// The session-state key holding the signed-in user's id.
pub const SESSION_USER_KEY: &str = "uid";

/// Session state as the cookie middleware keeps it: string keys to JSON-encoded values.
pub type SessionState = HashMap<String, String>;

type CachedSession = (u64, Arc<WebSession>);

pub struct WebSessions {
    ports: Ports,
    access: Arc<AccessCache>,
    policy: SessionPolicy,
    cache: moka::sync::Cache<TokenHash, CachedSession>,
}

/// The user recorded in a session state, if any.
pub fn session_user(state: &SessionState) -> Option<UserId> {
    let raw = state.get(SESSION_USER_KEY)?;
    let id: String = serde_json::from_str(raw).ok()?;
    UserId::parse(&id).ok()
}

impl WebSessions {
    pub fn new(ports: Ports, access: Arc<AccessCache>, policy: SessionPolicy) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(crate::ACCESS_TTL)
            .build();
        Self {
            ports,
            access,
            policy,
            cache,
        }
    }

    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    fn fresh(&self, cached: &CachedSession) -> bool {
        cached
            .1
            .user_id
            .is_none_or(|u| self.access.generation(u) == cached.0)
    }

    fn remember(&self, session: WebSession) {
        let generation = session.user_id.map_or(0, |u| self.access.generation(u));
        self.cache
            .insert(session.key_hash, (generation, Arc::new(session)));
    }

    /// The state of a live session, rolling its idle deadline forward.
    pub async fn load(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<SessionState>> {
        let Ok(secret) = TokenSecret::presented(key) else {
            return Ok(None);
        };
        let hash = secret.hash();
        let session = match self.cache.get(&hash) {
            Some(c) if self.fresh(&c) => (*c.1).clone(),
            _ => match self.ports.web_sessions.get_live(&hash, now).await? {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        if !session.is_live(now) {
            self.cache.invalidate(&hash);
            return Ok(None);
        }
        let mut session = session;
        if now - session.last_seen_at >= Duration::minutes(1) {
            session.touch(&self.policy, now);
            match self.ports.web_sessions.update(&session).await {
                Ok(()) => {}
                Err(SessionRepoError::NotFound) => {
                    self.cache.invalidate(&hash);
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let state: SessionState = serde_json::from_str(&session.data)?;
        self.remember(session);
        Ok(Some(state))
    }

    /// Stores a new session and returns the cookie's key.
    pub async fn save(&self, state: &SessionState, now: DateTime<Utc>) -> anyhow::Result<String> {
        let secret = TokenSecret::generate(SecretKind::WebSessionKey);
        let session = WebSession::new(
            secret.hash(),
            session_user(state),
            serde_json::to_string(state)?,
            &self.policy,
            now,
        );
        self.ports.web_sessions.insert(&session).await?;
        self.remember(session);
        Ok(secret.expose().to_owned())
    }

    /// Replaces a session's state. A session revoked meanwhile is not brought back: a new, signed-out
    /// session is started instead and its key returned.
    pub async fn update(
        &self,
        key: &str,
        state: &SessionState,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let secret = TokenSecret::presented(key)?;
        let hash = secret.hash();
        let Some(mut session) = self.ports.web_sessions.get_live(&hash, now).await? else {
            self.cache.invalidate(&hash);
            let mut anonymous = state.clone();
            anonymous.remove(SESSION_USER_KEY);
            return self.save(&anonymous, now).await;
        };
        session.data = serde_json::to_string(state)?;
        session.user_id = session_user(state);
        session.touch(&self.policy, now);
        self.ports.web_sessions.update(&session).await?;
        self.remember(session);
        Ok(key.to_owned())
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let Ok(secret) = TokenSecret::presented(key) else {
            return Ok(());
        };
        self.cache.invalidate(&secret.hash());
        self.ports.web_sessions.delete(&secret.hash()).await?;
        Ok(())
    }

    /// Deletes expired rows (the background sweeper).
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        Ok(self.ports.web_sessions.delete_expired(now).await?)
    }
}
