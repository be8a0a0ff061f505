//! actix-session's storage over [`planpush_app::WebSessions`].

use std::sync::Arc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use planpush_app::{SessionState, WebSessions};

use crate::clock::Clock;

/// Server-side sessions in the database. The TTL actix-session passes is ignored: idle and absolute
/// expiry come from `SESSION_IDLE_TIMEOUT` and `SESSION_MAX_AGE`.
#[derive(Clone)]
pub struct DbSessionStore {
    sessions: Arc<WebSessions>,
    clock: Arc<dyn Clock>,
}

impl DbSessionStore {
    pub fn new(sessions: Arc<WebSessions>, clock: Arc<dyn Clock>) -> Self {
        Self { sessions, clock }
    }
}

fn key(s: String) -> Result<SessionKey, anyhow::Error> {
    SessionKey::try_from(s).map_err(|e| anyhow::anyhow!("{e}"))
}

impl SessionStore for DbSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        // With the session's reference (`SESSION_REF_KEY`), for live streams that must end with
        // it; never stored: the app strips it on save.
        self.sessions
            .load(session_key.as_ref(), self.clock.now())
            .await
            .map_err(LoadError::Other)
    }

    async fn save(
        &self,
        session_state: SessionState,
        _ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let k = self
            .sessions
            .save(&session_state, self.clock.now())
            .await
            .map_err(SaveError::Other)?;
        key(k).map_err(SaveError::Other)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: SessionState,
        _ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let k = self
            .sessions
            .update(session_key.as_ref(), &session_state, self.clock.now())
            .await
            .map_err(UpdateError::Other)?;
        key(k).map_err(UpdateError::Other)
    }

    async fn update_ttl(
        &self,
        _session_key: &SessionKey,
        _ttl: &Duration,
    ) -> Result<(), anyhow::Error> {
        // Expiry is rolled forward by `load`, at most once a minute.
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        self.sessions
            .delete(session_key.as_ref(), self.clock.now())
            .await
    }
}
