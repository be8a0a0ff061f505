//! SCIM provisioning over the fakes: a provisioned member's first OIDC sign-in finds them.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{AccessCache, Admin, Scim, ScimQuery, SignIn, SignInError, VerifiedProfile};
use planpush_identity::{Email, ExternalIdentity, Provider};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn oidc(sub: &str, login: &str, email: Option<&str>) -> VerifiedProfile {
    VerifiedProfile {
        identity: ExternalIdentity::new(
            Provider::Oidc {
                issuer: "https://idp.example.com".into(),
            },
            sub,
        )
        .unwrap(),
        login: login.into(),
        name: None,
        email: email.map(|e| Email::parse(e).unwrap()),
        avatar_url: None,
        groups: vec![],
        logout_hint: None,
    }
}

#[tokio::test]
async fn a_provisioned_member_signs_in_as_themselves() {
    let ports = planpush_app::fake::ports();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let admin = Arc::new(Admin::new(ports.clone(), access.clone()));
    let scim = Scim::new(
        ports.clone(),
        admin,
        access.clone(),
        "https://plans.example.com",
    );
    let sign_in = SignIn::new(ports.clone(), access);
    let q = ScimQuery::default();
    let body = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});

    let ada = scim
        .create_user(body("Ada@Example.com"), &q, None, t0())
        .await
        .unwrap();
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    // By verified e-mail (any case), then by the linked identity.
    for _ in 0..2 {
        let id = sign_in
            .sign_in(oidc("sub-ada", "ada", Some("ada@example.com")), None, t0())
            .await
            .unwrap();
        assert_eq!(id.to_string(), ada_id);
    }
    // By preferred_username when no e-mail is given.
    let grace = scim
        .create_user(body("grace"), &q, None, t0())
        .await
        .unwrap();
    let id = sign_in
        .sign_in(oidc("sub-grace", "GRACE", None), None, t0())
        .await
        .unwrap();
    assert_eq!(id.to_string(), grace["id"].as_str().unwrap());

    // A GitHub account with the same e-mail never takes a provisioned member over.
    let mut gh = oidc("x", "ada-gh", Some("ada@example.com"));
    gh.identity = ExternalIdentity::github(7);
    let other = sign_in.sign_in(gh, None, t0()).await.unwrap();
    assert_ne!(other.to_string(), ada_id);

    // Deprovisioned members are refused, deleted ones too (no fresh account is made for them);
    // provisioned again, they sign in as themselves.
    let bob = scim
        .create_user(body("bob@example.com"), &q, None, t0())
        .await
        .unwrap();
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    scim.delete_user(&bob_id, None, t0()).await.unwrap();
    assert!(matches!(
        sign_in
            .sign_in(oidc("sub-bob", "bob", Some("bob@example.com")), None, t0())
            .await,
        Err(SignInError::Deactivated)
    ));
    let again = scim
        .create_user(body("bob@example.com"), &q, None, t0())
        .await
        .unwrap();
    assert_eq!(again["id"].as_str(), Some(bob_id.as_str()));
    let id = sign_in
        .sign_in(oidc("sub-bob", "bob", Some("bob@example.com")), None, t0())
        .await
        .unwrap();
    assert_eq!(id.to_string(), bob_id);
    let cy = scim.create_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "cy@example.com", "active": false}), &q, None, t0()).await.unwrap();
    assert_eq!(cy["active"], false);
    assert!(matches!(
        sign_in
            .sign_in(oidc("sub-cy", "cy", Some("cy@example.com")), None, t0())
            .await,
        Err(SignInError::Deactivated)
    ));
}
