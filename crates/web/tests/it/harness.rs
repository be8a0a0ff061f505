//! `TestApp`: an in-process server over fake ports, with browsers (cookie jars) and users by role.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, test};
use async_trait::async_trait;
use governor::clock::FakeRelativeClock;
use planpush_app::{
    AuthorizationRequest, IdentityProvider, Ports, ProviderError, SingleLogout, VerifiedProfile,
};
use planpush_identity::{ExternalIdentity, SessionPolicy};
use planpush_roles::{GrantOrigin, Role};
use planpush_web::{AppState, RateLimits, ShiftedClock, SignInMode, WebSettings, configure};

pub const BASE: &str = "http://planpush.test";

/// What the fake identity provider answers for a code.
#[derive(Clone)]
pub enum Outcome {
    Ok { id: u64, login: String },
    NotMember,
}

/// An identity provider the test scripts: codes map to outcomes; each code works once. Profiles
/// carry the logout hint `hint-<id>`; `single_logout` answers what `logout_with` set (by default
/// `NotApplicable`, as GitHub) and records the hint and state it was given.
#[derive(Default)]
pub struct FakeProvider {
    codes: Mutex<Vec<(String, Outcome)>>,
    logout: Mutex<Option<SingleLogout>>,
    pub logout_calls: Mutex<Vec<(Option<String>, String)>>,
}

impl FakeProvider {
    pub fn expect(&self, code: &str, outcome: Outcome) {
        self.codes.lock().unwrap().push((code.into(), outcome));
    }
    pub fn logout_with(&self, answer: SingleLogout) {
        *self.logout.lock().unwrap() = Some(answer);
    }
}

#[async_trait]
impl IdentityProvider for FakeProvider {
    fn authorize(&self, state: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            url: format!("https://idp.test/authorize?state={state}"),
            verifier: String::new(),
        }
    }
    async fn complete(
        &self,
        code: &str,
        _verifier: &str,
    ) -> Result<VerifiedProfile, ProviderError> {
        let mut codes = self.codes.lock().unwrap();
        let Some(i) = codes.iter().position(|(c, _)| c == code) else {
            return Err(ProviderError::Rejected("bad code".into()));
        };
        match codes.remove(i).1 {
            Outcome::Ok { id, login } => Ok(VerifiedProfile {
                identity: ExternalIdentity::github(id),
                login,
                name: None,
                email: None,
                avatar_url: None,
                groups: vec![],
                logout_hint: Some(format!("hint-{id}")),
            }),
            Outcome::NotMember => Err(ProviderError::NotAllowed(
                "You are not a member of the acme organization on GitHub.".into(),
            )),
        }
    }
    fn single_logout(&self, hint: Option<&str>, state: &str) -> SingleLogout {
        self.logout_calls
            .lock()
            .unwrap()
            .push((hint.map(str::to_owned), state.to_owned()));
        self.logout
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(SingleLogout::NotApplicable)
    }
}

pub struct TestApp<S> {
    pub service: S,
    pub ports: Ports,
    pub provider: Arc<FakeProvider>,
    /// The rate limiter's clock.
    pub clock: FakeRelativeClock,
    /// The requests' clock (`now` of every handler): move it instead of sleeping.
    pub time: Arc<ShiftedClock>,
}

pub enum Mode {
    Provider,
    Dev,
}

pub async fn test_app(
    mode: Mode,
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    test_app_with(mode, None).await
}

pub async fn test_app_with(
    mode: Mode,
    trusted: Option<IpAddr>,
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    test_app_opts(mode, trusted, None).await
}

/// The SCIM bearer token of [`test_app_scim`].
pub const SCIM_TOKEN: &str = "scim-test-token-0123456789abcdef0123456789";

/// A test app with SCIM on (bearer [`SCIM_TOKEN`]).
pub async fn test_app_scim(
    mode: Mode,
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    test_app_opts(mode, None, Some(SCIM_TOKEN)).await
}

pub async fn test_app_opts(
    mode: Mode,
    trusted: Option<IpAddr>,
    scim: Option<&str>,
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    test_app_pooled(mode, trusted, scim, None).await
}

/// A test app rendering pushes on `pool` (in place when `None`).
pub async fn test_app_pooled(
    mode: Mode,
    trusted: Option<IpAddr>,
    scim: Option<&str>,
    pool: Option<planpush_app::CpuPool>,
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    let ports = planpush_app::fake::ports();
    let provider = Arc::new(FakeProvider::default());
    let clock = FakeRelativeClock::default();
    let sign_in = match mode {
        Mode::Provider => SignInMode::Provider(provider.clone()),
        Mode::Dev => SignInMode::Dev,
    };
    let settings = WebSettings {
        base_url: BASE.into(),
        cookie_secure: false,
        secret_key: vec![7; 64],
        trusted_proxy: Arc::new(move |ip| Some(ip) == trusted),
        session_policy: SessionPolicy::default(),
        sanitize: Default::default(),
    };
    let state = AppState::new(
        ports.clone(),
        sign_in,
        settings,
        RateLimits::with_fake_clock(clock.clone()),
        Arc::new(planpush_app::fake::FakeDiagrams::default()),
    );
    let time = Arc::new(ShiftedClock::default());
    let state = state.with_clock(time.clone()).with_webhooks(
        Arc::new(planpush_slack::webhook::hooks::HookKeys::new(
            Arc::new(planpush_slack::webhook::hooks::SecretBox::new(
                &[7; 64],
                &[],
            )),
            planpush_slack::webhook::hooks::no_internal_networks(),
        )),
        Arc::new(planpush_slack::webhook::test_envelope),
    );
    // E-mail settings and unsubscribe links (the mail adapter's keys; no mail is sent here).
    let state = state.with_email(Arc::new(planpush_mail::LinkKeys::new(&[7; 64], &[])), false);
    let state = match scim {
        Some(token) => state.with_scim(token),
        None => state,
    };
    let state = match pool {
        Some(pool) => state.with_pool(pool),
        None => state,
    };
    let service = test::init_service(
        App::new()
            .wrap(state.session_middleware())
            .configure(configure(state))
            .wrap(actix_web::middleware::from_fn(
                planpush_web::request_id::middleware,
            )),
    )
    .await;
    TestApp {
        service,
        ports,
        provider,
        clock,
        time,
    }
}

/// One browser: a cookie jar and a client address.
#[derive(Clone)]
pub struct Browser {
    pub cookie: Option<String>,
    pub ip: SocketAddr,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            cookie: None,
            ip: "198.51.100.10:40000".parse().unwrap(),
        }
    }
}

pub struct Res {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

impl<S, B> TestApp<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Sends a request as `browser` (keeping its cookie jar up to date) with optional Bearer token.
    pub async fn send(
        &self,
        browser: &mut Browser,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Res {
        let mut req = test::TestRequest::default()
            .method(method.clone())
            .uri(uri)
            .peer_addr(browser.ip);
        if let Some(c) = &browser.cookie {
            req = req.insert_header((header::COOKIE, c.clone()));
        }
        if let Some(t) = bearer {
            req = req.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        if method != Method::GET {
            req = req.insert_header((header::ORIGIN, BASE));
        }
        if let Some(b) = body {
            req = req.set_json(b);
        }
        self.call(browser, req.to_request()).await
    }

    pub async fn call(&self, browser: &mut Browser, req: Request) -> Res {
        let res = test::call_service(&self.service, req).await;
        let status = res.status();
        let headers = res.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap().to_owned();
            if pair.ends_with('=') || c.contains("Max-Age=0") {
                browser.cookie = None;
            } else {
                browser.cookie = Some(pair);
            }
        }
        let bytes = test::read_body(res).await.to_vec();
        Res {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn get(&self, b: &mut Browser, uri: &str) -> Res {
        self.send(b, Method::GET, uri, None, None).await
    }

    /// Signs a browser in through the provider flow as GitHub user `id`.
    pub async fn provider_sign_in(&self, b: &mut Browser, id: u64, login: &str) -> Res {
        let start = self.get(b, "/auth/login?redirect_to=/after").await;
        assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
        let state = start.location().split("state=").nth(1).unwrap().to_owned();
        let code = format!("code-{id}-{}", rand_suffix());
        self.provider.expect(
            &code,
            Outcome::Ok {
                id,
                login: login.into(),
            },
        );
        self.get(b, &format!("/auth/callback?code={code}&state={state}"))
            .await
    }

    /// Approves or denies (`action`) a device login on `/activate` as the browser's user, ticking
    /// the confirmation as a person would.
    pub async fn activate(&self, b: &mut Browser, user_code: &str, action: &str) -> Res {
        self.activate_form(
            b,
            &[
                ("user_code", user_code),
                ("action", action),
                ("confirm", "yes"),
            ],
        )
        .await
    }

    /// Posts exactly `fields` to `/activate` from this server's origin.
    pub async fn activate_form(&self, b: &mut Browser, fields: &[(&str, &str)]) -> Res {
        let req = test::TestRequest::post()
            .uri("/activate")
            .peer_addr(b.ip)
            .insert_header((header::COOKIE, b.cookie.clone().unwrap_or_default()))
            .insert_header((header::ORIGIN, BASE))
            .set_form(fields)
            .to_request();
        self.call(b, req).await
    }

    /// A new personal API token for the browser's user.
    pub async fn token(&self, b: &mut Browser) -> String {
        let res = self
            .send(
                b,
                Method::POST,
                "/api/tokens",
                None,
                Some(serde_json::json!({"label": "test"})),
            )
            .await;
        res.json()["token"].as_str().unwrap().to_owned()
    }

    /// Signs a browser in with the dev provider.
    pub async fn dev_sign_in(&self, b: &mut Browser, login: &str) -> Res {
        let req = test::TestRequest::post()
            .uri("/auth/dev")
            .peer_addr(b.ip)
            .insert_header((header::ORIGIN, BASE))
            .set_form([("login", login), ("redirect_to", "/")]);
        let req = match &b.cookie {
            Some(c) => req.insert_header((header::COOKIE, c.clone())),
            None => req,
        };
        self.call(b, req.to_request()).await
    }

    /// A signed-in browser for a new user holding exactly `roles` (the first dev user is made admin
    /// by the sign-in rule, so an admin named `root` is created first).
    pub async fn user_with(
        &self,
        login: &str,
        roles: &[Role],
    ) -> (Browser, planpush_identity::UserId) {
        if self.ports.users.count().await.unwrap() == 0 {
            let mut root = Browser::default();
            assert_eq!(
                self.dev_sign_in(&mut root, "root").await.status,
                StatusCode::SEE_OTHER
            );
        }
        let mut b = Browser::default();
        let res = self.dev_sign_in(&mut b, login).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let me = self.get(&mut b, "/api/auth/me").await.json();
        let id = planpush_identity::UserId::parse(me["id"].as_str().unwrap()).unwrap();
        self.ports
            .roles
            .replace_grants(id, GrantOrigin::Manual, roles, None, chrono::Utc::now())
            .await
            .unwrap();
        // The test changed roles behind the app's back: sign in again so caches start fresh.
        let mut b = Browser::default();
        self.dev_sign_in(&mut b, login).await;
        (b, id)
    }
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Stores a plan with one version directly through the ports.
pub async fn plan(
    ports: &Ports,
    owner: planpush_identity::UserId,
    slug: &str,
    vis: planpush_plans::Visibility,
) -> planpush_plans::Plan {
    let now = chrono::Utc::now();
    let mut p = planpush_plans::Plan::new(
        planpush_plans::Slug::parse(slug).unwrap(),
        &format!("Plan {slug}"),
        owner,
        vis,
        now,
    )
    .unwrap();
    let title = p.title().to_owned();
    p.record_version(1, &title, now).unwrap();
    let html = format!(
        "<h1>Plan {slug}</h1><section data-anchor=\"flow\"><h2>Flow</h2><p>body of {slug}</p></section>"
    );
    let idx = planpush_document::section_index(&html);
    let v = planpush_versions::Version::new(
        None,
        planpush_versions::NewVersion {
            plan_id: p.id(),
            title: p.title().to_owned(),
            format: planpush_versions::SourceFormat::Html,
            source: html.as_str().into(),
            html: html.into(),
            sections: idx,
            pushed_by: owner,
            pushed_at: now,
        },
    );
    ports
        .versions
        .commit(
            planpush_versions::Commit::NewPlan {
                plan: &p,
                version: &v,
                text: &planpush_document::text_units(&v.html),
            },
            &[],
        )
        .await
        .unwrap();
    p
}
