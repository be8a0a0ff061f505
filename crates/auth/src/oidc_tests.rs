//! `OidcProvider` against a fake issuer on 127.0.0.1 that signs ID tokens with throw-away keys
//! (`tests/keys/`): every tampered token is refused by its own test, through the same `complete`
//! the web layer calls. The whole flow against a real certified provider is in
//! `crates/server/tests/it/oidc_signin.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use chrono::Utc;
use openidconnect::core::{
    CoreGenderClaim, CoreHmacKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EndUserEmail, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use planpush_app::{IdentityProvider, ProviderError, SingleLogout};
use serde_json::{Value, json};
use sha2::Digest;

use super::*;

const CLIENT: &str = "planpush-test";
const SECRET: &str = "client-secret-for-tests";
const KEY_A: &str = include_str!("../tests/keys/test-only-a.pem");
const KEY_B: &str = include_str!("../tests/keys/test-only-b.pem");

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

fn jwk(pem: &str, kid: &str) -> Value {
    serde_json::to_value(key(pem, kid).as_verification_key()).unwrap()
}

#[derive(Default)]
struct Op {
    issuer: String,
    keys: Vec<Value>,
    jwks_hits: usize,
    end_session: bool,
    /// code → (ID token, PKCE challenge the authorization request carried)
    codes: HashMap<String, (String, String)>,
    userinfo: Value,
    /// `token_endpoint_auth_methods_supported`, when advertised.
    auth_methods: Option<Vec<&'static str>>,
    /// How the client authenticated at the token endpoint last time (`basic` or `post`).
    last_auth: String,
}

type Shared = Arc<Mutex<Op>>;

async fn discovery(op: web::Data<Shared>) -> HttpResponse {
    let op = op.lock().unwrap();
    let i = &op.issuer;
    let mut doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if op.end_session {
        doc["end_session_endpoint"] = format!("{i}/logout").into();
    }
    if let Some(m) = &op.auth_methods {
        doc["token_endpoint_auth_methods_supported"] = json!(m);
    }
    HttpResponse::Ok().json(doc)
}

async fn jwks(op: web::Data<Shared>) -> HttpResponse {
    let mut op = op.lock().unwrap();
    op.jwks_hits += 1;
    HttpResponse::Ok().json(json!({"keys": op.keys}))
}

async fn token(
    req: HttpRequest,
    op: web::Data<Shared>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut op = op.lock().unwrap();
    // A confidential client: the secret in an HTTP Basic header, or in the form body.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"))
    );
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    op.last_auth = if header == Some(basic.as_str()) {
        "basic".into()
    } else if header.is_none()
        && form.get("client_id").map(String::as_str) == Some(CLIENT)
        && form.get("client_secret").map(String::as_str) == Some(SECRET)
    {
        "post".into()
    } else {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    };
    let code = form.get("code").cloned().unwrap_or_default();
    let Some((id_token, challenge)) = op.codes.remove(&code) else {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if verifier.is_empty() || computed != challenge {
        return HttpResponse::BadRequest().json(
            json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}),
        );
    }
    HttpResponse::Ok().json(json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": id_token
    }))
}

async fn userinfo(req: HttpRequest, op: web::Data<Shared>) -> HttpResponse {
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer at-1")
    {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(op.lock().unwrap().userinfo.clone())
}

struct Fixture {
    op: Shared,
    provider: Arc<OidcProvider>,
}

async fn fixture(end_session: bool) -> Fixture {
    fixture_with(end_session, None).await
}

async fn fixture_with(end_session: bool, auth_methods: Option<Vec<&'static str>>) -> Fixture {
    let op: Shared = Arc::new(Mutex::new(Op {
        keys: vec![jwk(KEY_A, "a")],
        end_session,
        auth_methods,
        userinfo: json!({"sub": "sub-1"}),
        ..Op::default()
    }));
    let data = web::Data::new(op.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/jwks", web::get().to(jwks))
            .route("/token", web::post().to(token))
            .route("/userinfo", web::get().to(userinfo))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let issuer = format!("http://{}", server.addrs()[0]);
    op.lock().unwrap().issuer = issuer.clone();
    actix_web::rt::spawn(server.run());
    let provider = OidcProvider::discover(OidcSettings {
        issuer,
        client_id: CLIENT.into(),
        client_secret: SECRET.into(),
        redirect_uri: "http://127.0.0.1:9/auth/callback".into(),
        post_logout_redirect_uri: "http://127.0.0.1:9/".into(),
        jwks_min_refresh: Duration::from_secs(60),
    })
    .await
    .unwrap();
    Fixture { op, provider }
}

/// One started sign-in: what the browser's session keeps and what the URL carried.
struct Started {
    verifier: String,
    nonce: String,
    challenge: String,
}

fn start(f: &Fixture) -> Started {
    let req = f.provider.authorize("state-1");
    let url = url::Url::parse(&req.url).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "state-1");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    for s in ["openid", "profile", "email", "groups"] {
        assert!(scopes.contains(&s), "scope {s} requested: {scopes:?}");
    }
    Started {
        verifier: req.verifier,
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
    }
}

type Claims = IdTokenClaims<GroupsClaim, CoreGenderClaim>;

fn claims(f: &Fixture, nonce: &str) -> Claims {
    let issuer = f.op.lock().unwrap().issuer.clone();
    let now = Utc::now();
    IdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(CLIENT.into())],
        now + chrono::Duration::minutes(5),
        now,
        StandardClaims::new(SubjectIdentifier::new("sub-1".into()))
            .set_email(Some(EndUserEmail::new("ada@example.com".into())))
            .set_email_verified(Some(true)),
        GroupsClaim::new(vec!["eng".into(), "leads".into()]),
    )
    .set_nonce(Some(Nonce::new(nonce.into())))
}

fn sign(c: Claims, pem: &str, kid: &str) -> String {
    IdToken::<GroupsClaim, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, _>::new(
        c,
        &key(pem, kid),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap()
    .to_string()
}

/// Registers `id_token` for a fresh code and completes the sign-in with `s`'s verifier.
async fn complete(
    f: &Fixture,
    s: &Started,
    id_token: String,
) -> Result<VerifiedProfile, ProviderError> {
    let code = format!("code-{}", rand_suffix());
    f.op.lock()
        .unwrap()
        .codes
        .insert(code.clone(), (id_token, s.challenge.clone()));
    f.provider.complete(&code, &s.verifier).await
}

fn rand_suffix() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn assert_rejected(r: Result<VerifiedProfile, ProviderError>, why: &str) {
    match r {
        Err(ProviderError::Rejected(m)) => assert!(
            m.to_lowercase().contains(&why.to_lowercase()),
            "refused, but for another reason than {why:?}: {m}"
        ),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

#[actix_web::test]
async fn a_valid_token_gives_the_profile_and_groups() {
    let f = fixture(true).await;
    let s = start(&f);
    let p = complete(&f, &s, sign(claims(&f, &s.nonce), KEY_A, "a"))
        .await
        .unwrap();
    let issuer = f.op.lock().unwrap().issuer.clone();
    assert_eq!(p.identity.provider().key(), format!("oidc:{issuer}"));
    assert_eq!(p.identity.subject(), "sub-1");
    assert_eq!(
        p.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    let groups: Vec<&str> = p.groups.iter().map(|g| g.as_str()).collect();
    assert_eq!(groups, ["eng", "leads"]);
    assert!(
        p.logout_hint.is_some(),
        "the ID token is kept for single logout"
    );
}

#[actix_web::test]
async fn groups_and_profile_come_from_userinfo_when_the_id_token_lacks_them() {
    let f = fixture(true).await;
    f.op.lock().unwrap().userinfo = json!({
        "sub": "sub-1", "groups": ["qa-team"], "name": "Ada L", "preferred_username": "ada",
        "email": "unverified@example.com", "email_verified": false
    });
    let s = start(&f);
    let mut c = claims(&f, &s.nonce);
    *c.additional_claims_mut() = GroupsClaim::default();
    let c = c.set_email(None).set_email_verified(None);
    let p = complete(&f, &s, sign(c, KEY_A, "a")).await.unwrap();
    let groups: Vec<&str> = p.groups.iter().map(|g| g.as_str()).collect();
    assert_eq!(groups, ["qa-team"]);
    assert_eq!(
        (p.login.as_str(), p.name.as_deref()),
        ("ada", Some("Ada L"))
    );
    assert_eq!(p.email, None, "an unverified e-mail is never kept");
}

#[actix_web::test]
async fn userinfo_for_another_subject_is_refused() {
    let f = fixture(true).await;
    f.op.lock().unwrap().userinfo = json!({"sub": "someone-else", "groups": ["admins"]});
    let s = start(&f);
    let mut c = claims(&f, &s.nonce);
    *c.additional_claims_mut() = GroupsClaim::default();
    let r = complete(&f, &s, sign(c, KEY_A, "a")).await;
    assert!(r.is_err(), "{r:?}");
}

#[actix_web::test]
async fn wrong_issuer_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let c =
        claims(&f, &s.nonce).set_issuer(IssuerUrl::new("https://evil.example.com".into()).unwrap());
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "issuer");
}

#[actix_web::test]
async fn wrong_audience_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let c = claims(&f, &s.nonce).set_audiences(vec![Audience::new("another-app".into())]);
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "audience");
}

#[actix_web::test]
async fn an_extra_untrusted_audience_or_foreign_azp_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let c = claims(&f, &s.nonce).set_audiences(vec![
        Audience::new(CLIENT.into()),
        Audience::new("another-app".into()),
    ]);
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "audience");
    let s = start(&f);
    let c = claims(&f, &s.nonce)
        .set_authorized_party(Some(openidconnect::ClientId::new("another-app".into())));
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "azp");
}

#[actix_web::test]
async fn missing_nonce_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let c = claims(&f, &s.nonce).set_nonce(None);
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "nonce");
}

#[actix_web::test]
async fn wrong_nonce_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let c = claims(&f, &s.nonce).set_nonce(Some(Nonce::new("another-sign-in".into())));
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "nonce");
}

#[actix_web::test]
async fn expired_token_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let now = Utc::now();
    let c = claims(&f, &s.nonce)
        .set_expiration(now - chrono::Duration::minutes(10))
        .set_issue_time(now - chrono::Duration::minutes(20));
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "expired");
}

#[actix_web::test]
async fn a_token_issued_in_the_future_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let now = Utc::now();
    let c = claims(&f, &s.nonce)
        .set_issue_time(now + chrono::Duration::minutes(10))
        .set_expiration(now + chrono::Duration::minutes(20));
    assert_rejected(complete(&f, &s, sign(c, KEY_A, "a")).await, "future");
}

#[actix_web::test]
async fn alg_none_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = serde_json::to_value(claims(&f, &s.nonce)).unwrap();
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&payload)
    );
    let r = complete(&f, &s, unsigned).await;
    assert!(matches!(r, Err(ProviderError::Rejected(_))), "{r:?}");
}

#[actix_web::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    // The classic forgery: HS256 keyed with the issuer's public key (which anyone can fetch).
    let public = serde_json::to_vec(&jwk(KEY_A, "a")).unwrap();
    let forged =
        IdToken::<GroupsClaim, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, _>::new(
            claims(&f, &s.nonce),
            &CoreHmacKey::new(public),
            CoreJwsSigningAlgorithm::HmacSha256,
            None,
            None,
        )
        .unwrap()
        .to_string();
    assert_rejected(complete(&f, &s, forged).await, "algorithm");
    // Even HS256 keyed with the client secret (what a confidential client could check) is refused.
    let s = start(&f);
    let with_secret =
        IdToken::<GroupsClaim, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, _>::new(
            claims(&f, &s.nonce),
            &CoreHmacKey::new(SECRET.as_bytes().to_vec()),
            CoreJwsSigningAlgorithm::HmacSha256,
            None,
            None,
        )
        .unwrap()
        .to_string();
    assert_rejected(complete(&f, &s, with_secret).await, "algorithm");
}

#[actix_web::test]
async fn unknown_key_is_refused_after_one_rate_limited_refetch() {
    let f = fixture(true).await;
    assert_eq!(
        f.op.lock().unwrap().jwks_hits,
        1,
        "keys fetched at discovery"
    );
    let s = start(&f);
    assert_rejected(
        complete(&f, &s, sign(claims(&f, &s.nonce), KEY_B, "b")).await,
        "unknown key",
    );
    assert_eq!(
        f.op.lock().unwrap().jwks_hits,
        2,
        "one re-fetch for the unknown kid"
    );
    // A flood of forged tokens does not hammer the issuer.
    for _ in 0..10 {
        let s = start(&f);
        assert!(
            complete(&f, &s, sign(claims(&f, &s.nonce), KEY_B, "b"))
                .await
                .is_err()
        );
    }
    assert_eq!(
        f.op.lock().unwrap().jwks_hits,
        2,
        "re-fetches are rate-limited"
    );
    // A key with a known kid but the wrong signature fails without any re-fetch.
    let s = start(&f);
    assert!(
        complete(&f, &s, sign(claims(&f, &s.nonce), KEY_B, "a"))
            .await
            .is_err()
    );
    assert_eq!(f.op.lock().unwrap().jwks_hits, 2);
}

#[actix_web::test]
async fn key_rotation_at_the_issuer_signs_nobody_out() {
    let f = fixture(true).await;
    let s = start(&f);
    complete(&f, &s, sign(claims(&f, &s.nonce), KEY_A, "a"))
        .await
        .unwrap();
    // The issuer rotates: key b signs from now on.
    f.op.lock().unwrap().keys = vec![jwk(KEY_B, "b"), jwk(KEY_A, "a")];
    let s = start(&f);
    let p = complete(&f, &s, sign(claims(&f, &s.nonce), KEY_B, "b"))
        .await
        .unwrap();
    assert_eq!(p.identity.subject(), "sub-1");
    assert_eq!(
        f.op.lock().unwrap().jwks_hits,
        2,
        "one re-fetch picked up the new key"
    );
}

#[actix_web::test]
async fn a_code_without_the_pkce_verifier_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let token = sign(claims(&f, &s.nonce), KEY_A, "a");
    // No verifier at all (a callback in a browser that never started this sign-in).
    f.op.lock()
        .unwrap()
        .codes
        .insert("stolen".into(), (token.clone(), s.challenge.clone()));
    assert_rejected(f.provider.complete("stolen", "").await, "PKCE verifier");
    // Another sign-in's verifier: the issuer refuses the exchange.
    let other = start(&f);
    let r = f.provider.complete("stolen", &other.verifier).await;
    assert_rejected(r, "refused the code");
}

#[actix_web::test]
async fn single_logout_names_the_hint_client_return_and_state() {
    let f = fixture(true).await;
    let SingleLogout::Redirect(url) = f.provider.single_logout(Some("the.id.token"), "st-9") else {
        panic!("the issuer has an end_session_endpoint");
    };
    let url = url::Url::parse(&url).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(url.path().ends_with("/logout"), "{url}");
    assert_eq!(q["id_token_hint"], "the.id.token");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["post_logout_redirect_uri"], "http://127.0.0.1:9/");
    assert_eq!(q["state"], "st-9");

    let without = fixture(false).await;
    assert_eq!(
        without.provider.single_logout(Some("t"), "s"),
        SingleLogout::Unsupported
    );
}

#[actix_web::test]
async fn the_client_secret_goes_where_the_issuer_takes_it() {
    let f = fixture(true).await;
    let s = start(&f);
    complete(&f, &s, sign(claims(&f, &s.nonce), KEY_A, "a"))
        .await
        .unwrap();
    assert_eq!(f.op.lock().unwrap().last_auth, "basic", "the default");
    let f = fixture_with(true, Some(vec!["client_secret_post"])).await;
    let s = start(&f);
    complete(&f, &s, sign(claims(&f, &s.nonce), KEY_A, "a"))
        .await
        .unwrap();
    assert_eq!(f.op.lock().unwrap().last_auth, "post");
}

/// Signs an arbitrary payload (RS256, kid `a`): for claims `openidconnect` has no setter for.
fn sign_raw(payload: &Value) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = json!({"alg": "RS256", "kid": "a", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let sig = key(KEY_A, "a")
        .sign(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            input.as_bytes(),
        )
        .unwrap();
    format!("{input}.{}", b64(&sig))
}

#[actix_web::test]
async fn a_token_not_yet_valid_is_refused() {
    let f = fixture(true).await;
    let s = start(&f);
    let mut payload = serde_json::to_value(claims(&f, &s.nonce)).unwrap();
    // The hand-signed form of a valid token is accepted…
    let p = complete(&f, &s, sign_raw(&payload)).await.unwrap();
    assert_eq!(p.identity.subject(), "sub-1");
    // …and with `nbf` ten minutes ahead it is not.
    let s = start(&f);
    payload["nonce"] = s.nonce.clone().into();
    payload["nbf"] = (Utc::now().timestamp() + 600).into();
    assert_rejected(
        complete(&f, &s, sign_raw(&payload)).await,
        "not valid before",
    );
}

#[actix_web::test]
async fn a_callback_from_another_issuer_is_refused() {
    let f = fixture(true).await;
    let issuer = f.op.lock().unwrap().issuer.clone();
    assert!(f.provider.accepts_callback_issuer(Some(&issuer)));
    assert!(
        f.provider.accepts_callback_issuer(None),
        "RFC 9207 is optional"
    );
    assert!(
        !f.provider
            .accepts_callback_issuer(Some("https://evil.example.com"))
    );
}

#[actix_web::test]
async fn an_unusable_preferred_username_falls_back_to_the_verified_email() {
    let f = fixture(true).await;
    let s = start(&f);
    let c = claims(&f, &s.nonce)
        .set_preferred_username(Some(openidconnect::EndUserUsername::new("x".repeat(300))));
    let p = complete(&f, &s, sign(c, KEY_A, "a")).await.unwrap();
    assert_eq!(p.login, "ada@example.com");
}
