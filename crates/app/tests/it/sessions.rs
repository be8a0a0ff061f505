//! Web sessions with injected time: idle expiry rolls, absolute expiry does not.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{
    AccessCache, SESSION_REF_KEY, SESSION_USER_KEY, SessionState, WebSessions, session_ref,
};
use planpush_identity::{ExternalIdentity, Provider, SessionPolicy, TokenSecret, User};

fn t0() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000)
}

#[tokio::test]
async fn idle_and_absolute_expiry() {
    let ports = planpush_app::fake::ports();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let policy = SessionPolicy {
        idle_timeout: Duration::hours(1),
        max_age: Duration::hours(3),
    };
    let sessions = WebSessions::new(ports.clone(), access, policy);
    let mut state = SessionState::new();
    state.insert("k".into(), "\"v\"".into());
    let key = sessions.save(&state, t0()).await.unwrap();

    // The state as saved, with the session's reference (never stored).
    let mut loaded = sessions
        .load(&key, t0() + Duration::minutes(59))
        .await
        .unwrap()
        .unwrap();
    let reference = session_ref(&loaded).expect("the session's reference");
    assert_eq!(
        reference,
        TokenSecret::presented(&key).unwrap().hash(),
        "the reference is the hash of the cookie's key"
    );
    loaded.remove(SESSION_REF_KEY);
    assert_eq!(loaded, state);
    // That load was activity: the idle window now runs from minute 59.
    assert!(
        sessions
            .load(&key, t0() + Duration::minutes(118))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        sessions
            .load(&key, t0() + Duration::minutes(177))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        sessions
            .load(&key, t0() + Duration::minutes(180))
            .await
            .unwrap(),
        None,
        "absolute lifetime, whatever the activity"
    );

    let idle = sessions.save(&state, t0()).await.unwrap();
    assert_eq!(
        sessions
            .load(&idle, t0() + Duration::minutes(61))
            .await
            .unwrap(),
        None,
        "idle timeout"
    );
    assert_eq!(
        sessions.sweep(t0() + Duration::hours(4)).await.unwrap(),
        2,
        "expired rows are swept"
    );
}

#[tokio::test]
async fn a_revoked_session_is_not_resurrected_by_an_update() {
    let ports = planpush_app::fake::ports();
    let user = User::new("ada", t0()).unwrap();
    ports
        .users
        .create(&user, &ExternalIdentity::new(Provider::Dev, "ada").unwrap())
        .await
        .unwrap();
    let sessions = WebSessions::new(
        ports.clone(),
        Arc::new(AccessCache::new(ports.clone())),
        SessionPolicy::default(),
    );
    let mut state = SessionState::new();
    state.insert(
        SESSION_USER_KEY.into(),
        serde_json::to_string(&user.id.to_string()).unwrap(),
    );
    let key = sessions.save(&state, t0()).await.unwrap();
    assert_eq!(
        ports.web_sessions.delete_for_user(user.id).await.unwrap(),
        1
    );
    let new_key = sessions.update(&key, &state, t0()).await.unwrap();
    assert_ne!(new_key, key);
    let reloaded = sessions.load(&new_key, t0()).await.unwrap().unwrap();
    assert!(
        !reloaded.contains_key(SESSION_USER_KEY),
        "the replacement session is signed out"
    );
}

#[tokio::test]
async fn the_sweeper_removes_what_expired() {
    use planpush_identity::{ApiToken, DeviceGrant};

    let ports = planpush_app::fake::ports();
    let user = User::new("ada", t0()).unwrap();
    ports
        .users
        .create(&user, &ExternalIdentity::new(Provider::Dev, "ada").unwrap())
        .await
        .unwrap();
    let sessions = WebSessions::new(
        ports.clone(),
        Arc::new(AccessCache::new(ports.clone())),
        SessionPolicy::default(),
    );
    sessions.save(&SessionState::new(), t0()).await.unwrap();
    let (grant, _) = DeviceGrant::start(t0());
    ports.device_grants.insert(&grant).await.unwrap();
    let (refresh, _) = ApiToken::new_refresh_family(user.id, t0());
    let (access, _) = refresh.mint_access(t0());
    ports.tokens.insert(&refresh).await.unwrap();
    ports.tokens.insert(&access).await.unwrap();
    ports
        .kv
        .put("k", b"v", Some(t0() + Duration::minutes(1)))
        .await
        .unwrap();

    let maintenance =
        planpush_app::Maintenance::new(ports.clone(), planpush_versions::RetentionPolicy::days(90));
    let soon = maintenance
        .sweep(t0() + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        (
            soon.sessions,
            soon.device_grants,
            soon.tokens,
            soon.cache_entries
        ),
        (0, 0, 0, 1)
    );
    let later = maintenance.sweep(t0() + Duration::days(2)).await.unwrap();
    assert_eq!(
        (later.sessions, later.device_grants, later.tokens),
        (1, 1, 1),
        "the access token expired a day ago; the refresh token lives on"
    );
    assert!(ports.tokens.get(refresh.id).await.is_ok());
}

/// A session repository whose `get_live` pauses after reading, until released.
struct PausingSessions {
    inner: Arc<dyn planpush_identity::WebSessionRepository>,
    gate: std::sync::Mutex<
        Option<(
            futures::channel::oneshot::Sender<()>,
            futures::channel::oneshot::Receiver<()>,
        )>,
    >,
}

type SessionResult<T> = Result<T, planpush_identity::SessionRepoError>;

#[async_trait::async_trait]
impl planpush_identity::WebSessionRepository for PausingSessions {
    async fn insert(&self, s: &planpush_identity::WebSession) -> SessionResult<()> {
        self.inner.insert(s).await
    }
    async fn get_live(
        &self,
        key_hash: &planpush_identity::TokenHash,
        now: DateTime<Utc>,
    ) -> SessionResult<Option<planpush_identity::WebSession>> {
        let read = self.inner.get_live(key_hash, now).await;
        let gate = self.gate.lock().unwrap().take();
        if let Some((paused, release)) = gate {
            paused.send(()).unwrap();
            release.await.unwrap();
        }
        read
    }
    async fn update(&self, s: &planpush_identity::WebSession) -> SessionResult<()> {
        self.inner.update(s).await
    }
    async fn delete(&self, key_hash: &planpush_identity::TokenHash) -> SessionResult<()> {
        self.inner.delete(key_hash).await
    }
    async fn delete_for_user(&self, user_id: planpush_identity::UserId) -> SessionResult<u64> {
        self.inner.delete_for_user(user_id).await
    }
    async fn list_for_user(
        &self,
        user_id: planpush_identity::UserId,
        now: DateTime<Utc>,
    ) -> SessionResult<Vec<planpush_identity::WebSession>> {
        self.inner.list_for_user(user_id, now).await
    }
    async fn delete_expired(&self, now: DateTime<Utc>) -> SessionResult<u64> {
        self.inner.delete_expired(now).await
    }
}

/// Issue 14, item 4: a session load that read the row just before "sign out everywhere" deleted
/// it, and cached it just after, must not keep the session alive for the next request.
#[tokio::test]
async fn a_load_racing_sign_out_everywhere_does_not_recache_the_session() {
    let mut ports = planpush_app::fake::ports();
    let user = User::new("ada", t0()).unwrap();
    ports
        .users
        .create(&user, &ExternalIdentity::new(Provider::Dev, "ada").unwrap())
        .await
        .unwrap();
    let pausing = Arc::new(PausingSessions {
        inner: ports.web_sessions.clone(),
        gate: std::sync::Mutex::new(None),
    });
    ports.web_sessions = pausing.clone();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let sessions = Arc::new(WebSessions::new(
        ports.clone(),
        access.clone(),
        SessionPolicy::default(),
    ));
    let writer = WebSessions::new(ports.clone(), access.clone(), SessionPolicy::default());
    let admin = planpush_app::Admin::new(ports.clone(), access);
    let mut state = SessionState::new();
    state.insert(
        SESSION_USER_KEY.into(),
        serde_json::to_string(&user.id.to_string()).unwrap(),
    );
    // Saved through one service (which caches it); read through another over the same
    // generations, whose cache is cold, so the read reaches the (pausing) repository.
    let key = writer.save(&state, t0()).await.unwrap();
    let (paused_tx, paused_rx) = futures::channel::oneshot::channel();
    let (release_tx, release_rx) = futures::channel::oneshot::channel();
    *pausing.gate.lock().unwrap() = Some((paused_tx, release_rx));
    let racing = {
        let sessions = sessions.clone();
        let key = key.clone();
        tokio::spawn(async move { sessions.load(&key, t0()).await })
    };
    paused_rx.await.unwrap();
    let me = planpush_app::Principal {
        user_id: user.id,
        login: "ada".into(),
        roles: vec![],
        method: planpush_app::AuthMethod::Session,
    };
    admin
        .sign_out_everywhere(&me, user.id, None, t0())
        .await
        .unwrap();
    release_tx.send(()).unwrap();
    let _ = racing.await.unwrap();
    assert_eq!(
        sessions.load(&key, t0()).await.unwrap(),
        None,
        "an ended session must not come back from the cache"
    );
}
