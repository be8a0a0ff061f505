//! Device-flow and refresh rules that need time to pass.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{AccessCache, AuthMethod, DeviceClient, GrantError, Principal, Tokens};
use planpush_identity::{DEVICE_CODE_TTL, ExternalIdentity, Provider, User, UserCode};
use planpush_roles::{GrantOrigin, Role};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(secs)
}

fn cli() -> DeviceClient {
    DeviceClient::new(Some("planpush-cli/1.0"), Some([203, 0, 113, 7].into()))
}

async fn setup() -> (Tokens, Principal) {
    let ports = planpush_app::fake::ports();
    let user = User::new("ada", t(0)).unwrap();
    ports
        .users
        .create(&user, &ExternalIdentity::new(Provider::Dev, "ada").unwrap())
        .await
        .unwrap();
    ports
        .roles
        .replace_grants(user.id, GrantOrigin::Manual, &[Role::Developer], None, t(0))
        .await
        .unwrap();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let p = Principal {
        user_id: user.id,
        login: "ada".into(),
        roles: vec![Role::Developer],
        method: AuthMethod::Session,
    };
    (Tokens::new(ports, access), p)
}

#[tokio::test]
async fn device_codes_expire_after_fifteen_minutes() {
    let (tokens, ada) = setup().await;
    let start = tokens.start_device(cli(), t(0)).await.unwrap();
    let code = UserCode::parse(start.user_code.as_str()).unwrap();
    let late = t(DEVICE_CODE_TTL.num_seconds());
    assert!(
        tokens
            .decide_device(&ada, &code, true, None, late)
            .await
            .is_err(),
        "cannot approve an expired code"
    );
    assert!(matches!(
        tokens.poll_device(start.device_code.expose(), late).await,
        Err(GrantError::ExpiredToken)
    ));
}

#[tokio::test]
async fn polling_respects_the_interval() {
    let (tokens, ada) = setup().await;
    let start = tokens.start_device(cli(), t(0)).await.unwrap();
    let dc = start.device_code.expose().to_owned();
    assert!(matches!(
        tokens.poll_device(&dc, t(0)).await,
        Err(GrantError::AuthorizationPending)
    ));
    assert!(matches!(
        tokens.poll_device(&dc, t(3)).await,
        Err(GrantError::SlowDown { interval: 10 })
    ));
    assert!(matches!(
        tokens.poll_device(&dc, t(14)).await,
        Err(GrantError::AuthorizationPending)
    ));
    tokens
        .decide_device(&ada, &start.user_code, true, None, t(20))
        .await
        .unwrap();
    let pair = tokens.poll_device(&dc, t(30)).await.unwrap();
    assert_eq!(
        tokens
            .authenticate(pair.access_token.expose(), t(31))
            .await
            .unwrap()
            .user_id,
        ada.user_id
    );
    assert!(
        tokens
            .authenticate(pair.access_token.expose(), t(31 + 15 * 60))
            .await
            .is_err(),
        "access tokens are short-lived"
    );
    let next = tokens
        .refresh(pair.refresh_token.expose(), None, t(40 + 15 * 60))
        .await
        .unwrap();
    assert!(
        tokens
            .authenticate(next.access_token.expose(), t(41 + 15 * 60))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn activate_sees_who_asked_and_when() {
    let (tokens, ada) = setup().await;
    let start = tokens.start_device(cli(), t(5)).await.unwrap();
    let code = UserCode::parse(start.user_code.as_str()).unwrap();
    let seen = tokens.device_request(&code, t(60)).await.unwrap();
    assert_eq!(seen.user_code, code);
    assert_eq!(seen.issued_at, t(5));
    assert_eq!(seen.expires_at, t(5) + DEVICE_CODE_TTL);
    assert_eq!(seen.client, Some(cli()));
    // Decided grants are not shown any more.
    tokens
        .decide_device(&ada, &code, false, None, t(61))
        .await
        .unwrap();
    assert!(tokens.device_request(&code, t(62)).await.is_err());
}

#[test]
fn a_client_description_is_bounded_and_never_empty() {
    let long = DeviceClient::new(Some(&format!("x\n{}", "y".repeat(500))), None);
    assert_eq!(
        long.name.chars().count(),
        planpush_app::DEVICE_CLIENT_MAX_CHARS
    );
    assert!(!long.name.contains('\n'));
    assert_eq!(DeviceClient::new(None, None).name, "an unnamed client");
    assert_eq!(
        DeviceClient::new(Some("  "), None).name,
        "an unnamed client"
    );
}

/// A token repository whose `find_by_hash` pauses after reading, until released: the window in
/// which a revocation can race a lookup.
struct PausingTokens {
    inner: Arc<dyn planpush_identity::TokenRepository>,
    gate: std::sync::Mutex<
        Option<(
            futures::channel::oneshot::Sender<()>,
            futures::channel::oneshot::Receiver<()>,
        )>,
    >,
}

#[async_trait::async_trait]
impl planpush_identity::TokenRepository for PausingTokens {
    async fn insert(
        &self,
        token: &planpush_identity::ApiToken,
    ) -> Result<(), planpush_identity::TokenRepoError> {
        self.inner.insert(token).await
    }
    async fn find_by_hash(
        &self,
        hash: &planpush_identity::TokenHash,
    ) -> Result<Option<planpush_identity::ApiToken>, planpush_identity::TokenRepoError> {
        let read = self.inner.find_by_hash(hash).await;
        let gate = self.gate.lock().unwrap().take();
        if let Some((paused, release)) = gate {
            paused.send(()).unwrap();
            release.await.unwrap();
        }
        read
    }
    async fn get(
        &self,
        id: planpush_identity::TokenId,
    ) -> Result<planpush_identity::ApiToken, planpush_identity::TokenRepoError> {
        self.inner.get(id).await
    }
    async fn list_for_user(
        &self,
        user_id: planpush_identity::UserId,
        kind: planpush_identity::TokenKind,
    ) -> Result<Vec<planpush_identity::ApiToken>, planpush_identity::TokenRepoError> {
        self.inner.list_for_user(user_id, kind).await
    }
    async fn touch(
        &self,
        id: planpush_identity::TokenId,
        now: DateTime<Utc>,
    ) -> Result<(), planpush_identity::TokenRepoError> {
        self.inner.touch(id, now).await
    }
    async fn rotate(
        &self,
        used: planpush_identity::TokenId,
        successors: &[planpush_identity::ApiToken],
        now: DateTime<Utc>,
    ) -> Result<(), planpush_identity::TokenRepoError> {
        self.inner.rotate(used, successors, now).await
    }
    async fn revoke(
        &self,
        id: planpush_identity::TokenId,
        now: DateTime<Utc>,
    ) -> Result<(), planpush_identity::TokenRepoError> {
        self.inner.revoke(id, now).await
    }
    async fn revoke_family(
        &self,
        family: planpush_identity::FamilyId,
        now: DateTime<Utc>,
    ) -> Result<u64, planpush_identity::TokenRepoError> {
        self.inner.revoke_family(family, now).await
    }
    async fn revoke_all_for_user(
        &self,
        user_id: planpush_identity::UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, planpush_identity::TokenRepoError> {
        self.inner.revoke_all_for_user(user_id, now).await
    }
    async fn delete_expired(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, planpush_identity::TokenRepoError> {
        self.inner.delete_expired(before).await
    }
}

/// Issue 14, item 4: a Bearer lookup that read the token just before it was revoked, and stored it
/// in the cache just after, must not let the revoked token through on the next request.
#[tokio::test]
async fn a_lookup_racing_a_revocation_does_not_recache_the_revoked_token() {
    let mut ports = planpush_app::fake::ports();
    let user = User::new("ada", t(0)).unwrap();
    ports
        .users
        .create(&user, &ExternalIdentity::new(Provider::Dev, "ada").unwrap())
        .await
        .unwrap();
    ports
        .roles
        .replace_grants(user.id, GrantOrigin::Manual, &[Role::Developer], None, t(0))
        .await
        .unwrap();
    let pausing = Arc::new(PausingTokens {
        inner: ports.tokens.clone(),
        gate: std::sync::Mutex::new(None),
    });
    ports.tokens = pausing.clone();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let tokens = Arc::new(Tokens::new(ports, access));
    let ada = Principal {
        user_id: user.id,
        login: "ada".into(),
        roles: vec![Role::Developer],
        method: AuthMethod::Session,
    };
    let (token, secret) = tokens
        .create_personal(&ada, "laptop", None, t(1))
        .await
        .unwrap();
    let secret = secret.expose().to_owned();

    let (paused_tx, paused_rx) = futures::channel::oneshot::channel();
    let (release_tx, release_rx) = futures::channel::oneshot::channel();
    *pausing.gate.lock().unwrap() = Some((paused_tx, release_rx));
    let racing = {
        let tokens = tokens.clone();
        let secret = secret.clone();
        tokio::spawn(async move { tokens.authenticate(&secret, t(2)).await })
    };
    // The lookup has read the live token and is paused; the revocation commits meanwhile.
    paused_rx.await.unwrap();
    tokens
        .revoke_personal(&ada, token.id, None, t(3))
        .await
        .unwrap();
    release_tx.send(()).unwrap();
    // The racing request itself began before the revocation; whatever it answered, every
    // request after the revocation is refused.
    let _ = racing.await.unwrap();
    for at in [4, 5] {
        assert!(
            matches!(
                tokens.authenticate(&secret, t(at)).await,
                Err(planpush_app::BearerError::Revoked)
            ),
            "a revoked token must not come back from the cache"
        );
    }
}
