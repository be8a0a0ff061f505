use chrono::Duration;
use planpush_identity::*;

use super::{t, user};
use crate::Ports;

pub async fn users_create_find_and_count(p: &Ports) {
    assert_eq!(p.users.count().await.unwrap(), 0);
    let mut ada = User::new("ada", t(0)).unwrap();
    ada.name = Some("Ada Lovelace".into());
    ada.email = Some(Email::parse("ada@example.com").unwrap());
    ada.avatar_url = Some("https://avatars.example.com/1".into());
    let gh = ExternalIdentity::github(1);
    p.users.create(&ada, &gh).await.unwrap();
    assert_eq!(
        p.users.find_by_identity(&gh).await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(p.users.get(ada.id).await.unwrap(), ada);
    assert_eq!(
        p.users
            .find_by_identity(&ExternalIdentity::github(2))
            .await
            .unwrap(),
        None
    );

    let copycat = User::new("ada2", t(1)).unwrap();
    assert!(matches!(
        p.users.create(&copycat, &gh).await,
        Err(UserRepoError::IdentityTaken)
    ));
    assert!(
        matches!(p.users.get(copycat.id).await, Err(UserRepoError::NotFound)),
        "nothing half-written"
    );

    let oidc = ExternalIdentity::new(
        Provider::Oidc {
            issuer: "https://idp.example.com".into(),
        },
        "00u1",
    )
    .unwrap();
    let mut bob = User::new("bob", t(5)).unwrap();
    bob.created_at = t(5);
    p.users.create(&bob, &oidc).await.unwrap();
    assert_eq!(p.users.count().await.unwrap(), 2);
    let ids: Vec<_> = p
        .users
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, [ada.id, bob.id], "oldest first");
    assert!(matches!(
        p.users.get(UserId::new()).await,
        Err(UserRepoError::NotFound)
    ));
}

pub async fn users_link_identity(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let gh = ExternalIdentity::github(7);
    assert!(matches!(
        p.users.link_identity(UserId::new(), &gh).await,
        Err(UserRepoError::NotFound)
    ));
    p.users.link_identity(ada.id, &gh).await.unwrap();
    assert!(matches!(
        p.users.link_identity(bob.id, &gh).await,
        Err(UserRepoError::IdentityTaken)
    ));
    assert_eq!(
        p.users.find_by_identity(&gh).await.unwrap().map(|u| u.id),
        Some(ada.id)
    );
    // the same subject at another provider is another identity
    let dev7 = ExternalIdentity::new(Provider::Dev, "7").unwrap();
    p.users.link_identity(bob.id, &dev7).await.unwrap();
    assert_eq!(
        p.users.find_by_identity(&dev7).await.unwrap().map(|u| u.id),
        Some(bob.id)
    );
}

pub async fn users_update_and_email(p: &Ports) {
    let mut ada = user(p, "ada").await;
    let email = Email::parse("ada@example.com").unwrap();
    ada.email = Some(email.clone());
    ada.name = Some("Ada".into());
    ada.last_login_at = Some(t(10));
    ada.deactivate(t(11));
    p.users.update(&ada).await.unwrap();
    assert_eq!(p.users.get(ada.id).await.unwrap(), ada);
    let mut twin = user(p, "ada-twin").await;
    twin.email = Some(email.clone());
    p.users.update(&twin).await.unwrap();
    let mut found: Vec<_> = p
        .users
        .find_by_email(&email)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    found.sort();
    let mut want = vec![ada.id, twin.id];
    want.sort();
    assert_eq!(found, want);
    assert!(
        p.users
            .find_by_email(&Email::parse("nobody@example.com").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    ada.reactivate();
    p.users.update(&ada).await.unwrap();
    assert!(p.users.get(ada.id).await.unwrap().is_active());
    let ghost = User::new("ghost", t(0)).unwrap();
    assert!(matches!(
        p.users.update(&ghost).await,
        Err(UserRepoError::NotFound)
    ));
}

pub async fn tokens_lifecycle(p: &Ports) {
    let ada = user(p, "ada").await;
    let (tok, secret) = ApiToken::personal(ada.id, "laptop", t(0), None).unwrap();
    p.tokens.insert(&tok).await.unwrap();
    assert_eq!(
        p.tokens.find_by_hash(&secret.hash()).await.unwrap(),
        Some(tok.clone())
    );
    assert_eq!(p.tokens.get(tok.id).await.unwrap(), tok);
    assert_eq!(
        p.tokens
            .find_by_hash(&TokenSecret::generate(SecretKind::PersonalToken).hash())
            .await
            .unwrap(),
        None
    );

    let (newer, _) = ApiToken::personal(ada.id, "ci", t(5), Some(Duration::days(30))).unwrap();
    p.tokens.insert(&newer).await.unwrap();
    let listed: Vec<_> = p
        .tokens
        .list_for_user(ada.id, TokenKind::Personal)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [newer.id, tok.id], "newest first");
    assert!(
        p.tokens
            .list_for_user(ada.id, TokenKind::Refresh)
            .await
            .unwrap()
            .is_empty()
    );

    p.tokens.touch(tok.id, t(20)).await.unwrap();
    p.tokens.revoke(tok.id, t(30)).await.unwrap();
    p.tokens.revoke(tok.id, t(40)).await.unwrap();
    let got = p.tokens.get(tok.id).await.unwrap();
    assert_eq!(
        (got.last_used_at, got.revoked_at),
        (Some(t(20)), Some(t(30))),
        "first revocation time kept"
    );

    let missing = TokenId::new();
    assert!(matches!(
        p.tokens.get(missing).await,
        Err(TokenRepoError::NotFound)
    ));
    assert!(matches!(
        p.tokens.touch(missing, t(1)).await,
        Err(TokenRepoError::NotFound)
    ));
    assert!(matches!(
        p.tokens.revoke(missing, t(1)).await,
        Err(TokenRepoError::NotFound)
    ));
}

pub async fn tokens_rotation_is_once_only(p: &Ports) {
    let ada = user(p, "ada").await;
    let (first, _) = ApiToken::new_refresh_family(ada.id, t(0));
    p.tokens.insert(&first).await.unwrap();
    let (next, next_secret) = first.successor(t(10));
    let (access, _) = first.mint_access(t(10));
    p.tokens
        .rotate(first.id, &[next.clone(), access.clone()], t(10))
        .await
        .unwrap();
    assert_eq!(p.tokens.get(first.id).await.unwrap().used_at, Some(t(10)));
    assert_eq!(
        p.tokens.find_by_hash(&next_secret.hash()).await.unwrap(),
        Some(next.clone())
    );
    assert_eq!(p.tokens.get(access.id).await.unwrap(), access);

    let (late, _) = first.successor(t(11));
    assert!(matches!(
        p.tokens
            .rotate(first.id, std::slice::from_ref(&late), t(11))
            .await,
        Err(TokenRepoError::AlreadyUsed)
    ));
    assert!(
        matches!(p.tokens.get(late.id).await, Err(TokenRepoError::NotFound)),
        "a lost race stores nothing"
    );
    assert!(matches!(
        p.tokens.rotate(TokenId::new(), &[], t(11)).await,
        Err(TokenRepoError::NotFound)
    ));
}

pub async fn tokens_family_and_user_revocation(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (first, _) = ApiToken::new_refresh_family(ada.id, t(0));
    p.tokens.insert(&first).await.unwrap();
    let (next, _) = first.successor(t(1));
    let (access, _) = first.mint_access(t(1));
    p.tokens
        .rotate(first.id, &[next.clone(), access.clone()], t(1))
        .await
        .unwrap();
    let (other_family, _) = ApiToken::new_refresh_family(ada.id, t(2));
    p.tokens.insert(&other_family).await.unwrap();
    let (bobs, _) = ApiToken::personal(bob.id, "bob", t(2), None).unwrap();
    p.tokens.insert(&bobs).await.unwrap();

    assert_eq!(
        p.tokens.revoke_family(first.family_id, t(5)).await.unwrap(),
        3
    );
    assert_eq!(
        p.tokens.revoke_family(first.family_id, t(6)).await.unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(
        p.tokens.get(access.id).await.unwrap().revoked_at,
        Some(t(5))
    );
    assert_eq!(
        p.tokens.get(other_family.id).await.unwrap().revoked_at,
        None
    );

    let (pat, _) = ApiToken::personal(ada.id, "pat", t(3), None).unwrap();
    p.tokens.insert(&pat).await.unwrap();
    assert_eq!(p.tokens.revoke_all_for_user(ada.id, t(7)).await.unwrap(), 2);
    assert_eq!(p.tokens.get(pat.id).await.unwrap().revoked_at, Some(t(7)));
    assert_eq!(
        p.tokens.get(bobs.id).await.unwrap().revoked_at,
        None,
        "other users untouched"
    );
}

pub async fn tokens_delete_expired(p: &Ports) {
    let ada = user(p, "ada").await;
    let (refresh, _) = ApiToken::new_refresh_family(ada.id, t(0));
    let (access, _) = refresh.mint_access(t(0));
    let (pat, _) = ApiToken::personal(ada.id, "forever", t(0), None).unwrap();
    for tok in [&refresh, &access, &pat] {
        p.tokens.insert(tok).await.unwrap();
    }
    let after_access = access.expires_at.unwrap() + Duration::seconds(1);
    assert_eq!(p.tokens.delete_expired(after_access).await.unwrap(), 1);
    assert!(matches!(
        p.tokens.get(access.id).await,
        Err(TokenRepoError::NotFound)
    ));
    assert!(p.tokens.get(refresh.id).await.is_ok());
    assert!(p.tokens.get(pat.id).await.is_ok());
}

pub async fn device_grants_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let (mut grant, secret) = DeviceGrant::start(t(0));
    p.device_grants.insert(&grant).await.unwrap();
    assert_eq!(
        p.device_grants
            .find_by_device_code(&secret.hash())
            .await
            .unwrap(),
        Some(grant.clone())
    );
    assert_eq!(
        p.device_grants
            .find_by_user_code(grant.user_code())
            .await
            .unwrap(),
        Some(grant.clone())
    );
    assert_eq!(p.device_grants.get(grant.id()).await.unwrap(), grant);

    let (clash, _) = DeviceGrant::start_with_code(grant.user_code().clone(), t(1));
    assert!(matches!(
        p.device_grants.insert(&clash).await,
        Err(DeviceRepoError::Conflict)
    ));

    let before = grant.status();
    grant.poll(t(1));
    grant.approve(ada.id, t(2)).unwrap();
    p.device_grants
        .save_if_status(&grant, before)
        .await
        .unwrap();
    assert_eq!(p.device_grants.get(grant.id()).await.unwrap(), grant);
    let stale = grant.clone();
    assert!(matches!(
        p.device_grants.save_if_status(&stale, before).await,
        Err(DeviceRepoError::Conflict)
    ));
    let (ghost, _) = DeviceGrant::start(t(0));
    assert!(matches!(
        p.device_grants
            .save_if_status(&ghost, DeviceStatus::Pending)
            .await,
        Err(DeviceRepoError::NotFound)
    ));
    assert!(matches!(
        p.device_grants.get(ghost.id()).await,
        Err(DeviceRepoError::NotFound)
    ));

    let after = grant.expires_at() + Duration::seconds(1);
    assert_eq!(p.device_grants.delete_expired(after).await.unwrap(), 1);
    assert_eq!(
        p.device_grants
            .find_by_device_code(&secret.hash())
            .await
            .unwrap(),
        None
    );
    // once expired and deleted, the user code may be reused
    let (reuse, _) = DeviceGrant::start_with_code(grant.user_code().clone(), after);
    p.device_grants.insert(&reuse).await.unwrap();
}

pub async fn web_sessions_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let policy = SessionPolicy {
        idle_timeout: Duration::hours(1),
        max_age: Duration::hours(8),
    };
    let key = TokenSecret::generate(SecretKind::WebSessionKey).hash();
    let mut s = WebSession::new(key, None, r#"{"state":"x"}"#.into(), &policy, t(0));
    p.web_sessions.insert(&s).await.unwrap();
    assert!(matches!(
        p.web_sessions.insert(&s).await,
        Err(SessionRepoError::Duplicate)
    ));
    assert_eq!(
        p.web_sessions.get_live(&key, t(10)).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        p.web_sessions.get_live(&key, t(3600)).await.unwrap(),
        None,
        "idle-expired is absent"
    );

    s.user_id = Some(ada.id);
    s.data = r#"{"user":"ada"}"#.into();
    s.touch(&policy, t(1800));
    p.web_sessions.update(&s).await.unwrap();
    assert_eq!(
        p.web_sessions.get_live(&key, t(3600)).await.unwrap(),
        Some(s.clone())
    );
    let other = WebSession::new(
        TokenSecret::generate(SecretKind::WebSessionKey).hash(),
        Some(ada.id),
        "{}".into(),
        &policy,
        t(100),
    );
    p.web_sessions.insert(&other).await.unwrap();
    let listed: Vec<_> = p
        .web_sessions
        .list_for_user(ada.id, t(2000))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key_hash)
        .collect();
    assert_eq!(
        listed,
        [s.key_hash, other.key_hash],
        "most recently seen first"
    );

    assert_eq!(
        p.web_sessions.delete_expired(t(3700)).await.unwrap(),
        1,
        "the untouched one expired"
    );
    assert_eq!(p.web_sessions.delete_for_user(ada.id).await.unwrap(), 1);
    assert_eq!(p.web_sessions.get_live(&key, t(1900)).await.unwrap(), None);
    assert!(
        matches!(
            p.web_sessions.update(&s).await,
            Err(SessionRepoError::NotFound)
        ),
        "revoked rows stay revoked"
    );
    p.web_sessions.delete(&key).await.unwrap();
}

/// Two polls of one approved grant racing (issue 14, item 2): the state change is a
/// compare-and-set, so exactly one poll mints a token family, on every backend. Repeated, so
/// that the two polls really overlap on the database at least once.
pub async fn device_grant_mints_once_under_concurrent_polls(p: &Ports) {
    let access = std::sync::Arc::new(crate::AccessCache::new(p.clone()));
    let tokens = std::sync::Arc::new(crate::Tokens::new(p.clone(), access));
    for round in 0..12 {
        let u = user(p, &format!("dev{round}")).await;
        // The repository alone: two compare-and-sets from "approved", one wins.
        let (mut grant, _) = DeviceGrant::start(t(0));
        p.device_grants.insert(&grant).await.unwrap();
        grant.approve(u.id, t(1)).unwrap();
        p.device_grants
            .save_if_status(&grant, DeviceStatus::Pending)
            .await
            .unwrap();
        let approved = grant.status();
        let mut a = grant.clone();
        let mut b = grant.clone();
        assert!(matches!(a.poll(t(2)), PollOutcome::Approved(_)));
        assert!(matches!(b.poll(t(2)), PollOutcome::Approved(_)));
        let (ra, rb) = futures::join!(
            p.device_grants.save_if_status(&a, approved),
            p.device_grants.save_if_status(&b, approved)
        );
        assert_eq!(
            [ra.is_ok(), rb.is_ok()].iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one compare-and-set wins ({ra:?}, {rb:?})"
        );
        for r in [ra, rb] {
            assert!(matches!(r, Ok(()) | Err(DeviceRepoError::Conflict)));
        }

        // Through the use case: two polls of an approved grant, one token family.
        let (mut grant, device_code) = DeviceGrant::start(t(0));
        p.device_grants.insert(&grant).await.unwrap();
        grant.approve(u.id, t(1)).unwrap();
        p.device_grants
            .save_if_status(&grant, DeviceStatus::Pending)
            .await
            .unwrap();
        let code = device_code.expose().to_owned();
        let (pa, pb) = futures::join!(
            tokens.poll_device(&code, t(3)),
            tokens.poll_device(&code, t(3))
        );
        assert_eq!(
            [pa.is_ok(), pb.is_ok()].iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one poll mints ({pa:?}, {pb:?})"
        );
        assert_eq!(
            p.tokens
                .list_for_user(u.id, TokenKind::Refresh)
                .await
                .unwrap()
                .len(),
            1,
            "round {round}: one token family"
        );
    }
}

/// A refresh racing a revocation of its family (issue 14, item 3): the rotation's
/// compare-and-set checks `revoked_at` too, so the revoked family never gets a live successor.
pub async fn tokens_rotation_refuses_revoked_families(p: &Ports) {
    let ada = user(p, "ada").await;
    // In order: revoked first, then a rotation attempt, which stores nothing.
    let (first, _) = ApiToken::new_refresh_family(ada.id, t(0));
    p.tokens.insert(&first).await.unwrap();
    p.tokens.revoke_family(first.family_id, t(1)).await.unwrap();
    let (next, _) = first.successor(t(2));
    let (access, _) = first.mint_access(t(2));
    assert!(matches!(
        p.tokens
            .rotate(first.id, &[next.clone(), access.clone()], t(2))
            .await,
        Err(TokenRepoError::Revoked)
    ));
    assert!(matches!(
        p.tokens.get(next.id).await,
        Err(TokenRepoError::NotFound)
    ));
    assert!(matches!(
        p.tokens.get(access.id).await,
        Err(TokenRepoError::NotFound)
    ));
    assert_eq!(p.tokens.get(first.id).await.unwrap().used_at, None);

    // Racing: whichever wins, no token of the family is live afterwards.
    for round in 0..12 {
        let (first, _) = ApiToken::new_refresh_family(ada.id, t(0));
        p.tokens.insert(&first).await.unwrap();
        let (next, _) = first.successor(t(2));
        let (access, _) = first.mint_access(t(2));
        let successors = [next.clone(), access.clone()];
        let (rotated, revoked) = futures::join!(
            p.tokens.rotate(first.id, &successors, t(2)),
            p.tokens.revoke_family(first.family_id, t(2))
        );
        revoked.unwrap();
        assert!(
            matches!(rotated, Ok(()) | Err(TokenRepoError::Revoked)),
            "round {round}: {rotated:?}"
        );
        for id in [first.id, next.id, access.id] {
            match p.tokens.get(id).await {
                Ok(tok) => assert!(
                    tok.revoked_at.is_some(),
                    "round {round}: a token of the revoked family is live"
                ),
                Err(TokenRepoError::NotFound) => {
                    assert!(rotated.is_err(), "round {round}: a successor went missing")
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
