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
