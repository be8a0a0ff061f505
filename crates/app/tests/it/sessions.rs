//! Web sessions with injected time: idle expiry rolls, absolute expiry does not.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{AccessCache, SESSION_USER_KEY, SessionState, WebSessions};
use planpush_identity::{ExternalIdentity, Provider, SessionPolicy, User};

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

    assert_eq!(
        sessions
            .load(&key, t0() + Duration::minutes(59))
            .await
            .unwrap(),
        Some(state.clone())
    );
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
