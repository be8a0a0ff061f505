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

use crate::{AccessCache, CacheLimits, GenerationCache, Ports};

/// The session-state key holding the signed-in user's id.
pub const SESSION_USER_KEY: &str = "uid";

/// Session state as the cookie middleware keeps it: string keys to JSON-encoded values.
pub type SessionState = HashMap<String, String>;

pub struct WebSessions {
    ports: Ports,
    access: Arc<AccessCache>,
    policy: SessionPolicy,
    /// Sessions by key hash, voided by their user's generation (see [`crate::GenerationCache`]).
    cache: GenerationCache<TokenHash, Arc<Loaded>, UserId>,
}

/// A live session as the cache keeps it: its row, and its state as [`WebSessions::load`] returns
/// it (parsed once, with its [`SESSION_REF_KEY`]), so a warm request only copies the state.
struct Loaded {
    session: WebSession,
    state: SessionState,
}

impl Loaded {
    fn new(session: WebSession) -> anyhow::Result<Self> {
        let mut state: SessionState = serde_json::from_str(&session.data)?;
        state.insert(
            SESSION_REF_KEY.to_owned(),
            serde_json::Value::String(session.key_hash.to_hex()).to_string(),
        );
        Ok(Self { session, state })
    }
}

/// The session-state key under which [`WebSessions::load`] gives the hash of the session's own key
/// (hex), so a live stream can remember which session it was opened with. Never stored.
pub const SESSION_REF_KEY: &str = "_session_ref";

/// The session reference recorded under [`SESSION_REF_KEY`], if any.
pub fn session_ref(state: &SessionState) -> Option<TokenHash> {
    let raw = state.get(SESSION_REF_KEY)?;
    let hex: String = serde_json::from_str(raw).ok()?;
    TokenHash::from_hex(&hex).ok()
}

fn stored(state: &SessionState) -> anyhow::Result<String> {
    let mut state = state.clone();
    state.remove(SESSION_REF_KEY);
    Ok(serde_json::to_string(&state)?)
}

/// The user recorded in a session state, if any.
pub fn session_user(state: &SessionState) -> Option<UserId> {
    let raw = state.get(SESSION_USER_KEY)?;
    let id: String = serde_json::from_str(raw).ok()?;
    UserId::parse(&id).ok()
}

impl WebSessions {
    pub fn new(ports: Ports, access: Arc<AccessCache>, policy: SessionPolicy) -> Self {
        let cache = GenerationCache::new(
            access.generations().clone(),
            |s: &Arc<Loaded>| s.session.user_id,
            CacheLimits {
                capacity: 100_000,
                ttl: crate::ACCESS_TTL,
                weigher: None,
            },
        );
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

    /// Keeps `session`, its state parsed (see [`Loaded`]), unless its user's access changed since
    /// `stamp` (read before the data). A state that does not parse is not kept: the next load
    /// reads it again and answers the error.
    async fn remember(&self, session: WebSession, stamp: u64) {
        if let Ok(loaded) = Loaded::new(session) {
            self.cache
                .insert_if_current(loaded.session.key_hash, Arc::new(loaded), stamp)
                .await;
        }
    }

    /// The state of a live session, with its [`SESSION_REF_KEY`], rolling its idle deadline
    /// forward.
    pub async fn load(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<SessionState>> {
        let Ok(secret) = TokenSecret::presented(key) else {
            return Ok(None);
        };
        let hash = secret.hash();
        let stamp = self.cache.generations().stamp();
        let Some(loaded) = self
            .cache
            .get_or_load(&hash, || async move {
                match self.ports.web_sessions.get_live(&hash, now).await? {
                    Some(session) => Ok::<_, anyhow::Error>(Some(Arc::new(Loaded::new(session)?))),
                    None => Ok(None),
                }
            })
            .await?
        else {
            return Ok(None);
        };
        if !loaded.session.is_live(now) {
            self.cache.forget(&hash).await;
            return Ok(None);
        }
        if now - loaded.session.last_seen_at >= Duration::minutes(1) {
            let mut session = loaded.session.clone();
            session.touch(&self.policy, now);
            match self.ports.web_sessions.update(&session).await {
                Ok(()) => {}
                Err(SessionRepoError::NotFound) => {
                    self.cache.forget(&hash).await;
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
            self.remember(session, stamp).await;
        }
        Ok(Some(loaded.state.clone()))
    }

    /// Whether the session with this key hash is still live and belongs to `user`, read from
    /// storage (for open live streams checking their viewer again).
    pub async fn is_live(
        &self,
        hash: &TokenHash,
        user: UserId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(self
            .ports
            .web_sessions
            .get_live(hash, now)
            .await?
            .is_some_and(|s| s.user_id == Some(user) && s.is_live(now)))
    }

    /// Stores a new session and returns the cookie's key.
    pub async fn save(&self, state: &SessionState, now: DateTime<Utc>) -> anyhow::Result<String> {
        let stamp = self.cache.generations().stamp();
        let secret = TokenSecret::generate(SecretKind::WebSessionKey);
        let session = WebSession::new(
            secret.hash(),
            session_user(state),
            stored(state)?,
            &self.policy,
            now,
        );
        self.ports.web_sessions.insert(&session).await?;
        self.remember(session, stamp).await;
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
        let stamp = self.cache.generations().stamp();
        let Some(mut session) = self.ports.web_sessions.get_live(&hash, now).await? else {
            self.cache.forget(&hash).await;
            let mut anonymous = state.clone();
            anonymous.remove(SESSION_USER_KEY);
            return self.save(&anonymous, now).await;
        };
        session.data = stored(state)?;
        session.user_id = session_user(state);
        session.touch(&self.policy, now);
        self.ports.web_sessions.update(&session).await?;
        self.remember(session, stamp).await;
        Ok(key.to_owned())
    }

    /// Ends a session (sign-out). Its user's generation moves on, so the user's open live
    /// streams check again at once and the one opened with this session closes.
    pub async fn delete(&self, key: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
        let Ok(secret) = TokenSecret::presented(key) else {
            return Ok(());
        };
        let hash = secret.hash();
        let user = match self.cache.peek(&hash).await {
            Some(s) => s.session.user_id,
            None => self
                .ports
                .web_sessions
                .get_live(&hash, now)
                .await?
                .and_then(|s| s.user_id),
        };
        self.cache.forget(&hash).await;
        self.ports.web_sessions.delete(&hash).await?;
        if let Some(user) = user {
            self.access.invalidate(user);
        }
        Ok(())
    }

    /// Deletes expired rows (the background sweeper).
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        Ok(self.ports.web_sessions.delete_expired(now).await?)
    }
}
