//! Device-flow and refresh rules that need time to pass.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{AccessCache, AuthMethod, GrantError, Principal, Tokens};
use planpush_identity::{DEVICE_CODE_TTL, ExternalIdentity, Provider, User, UserCode};
use planpush_roles::{GrantOrigin, Role};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(secs)
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
    let start = tokens.start_device(t(0)).await.unwrap();
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
    let start = tokens.start_device(t(0)).await.unwrap();
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
