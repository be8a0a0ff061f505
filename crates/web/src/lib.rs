//! The HTTP adapter: actix-web routes, extractors and views over the `app` services.
//!
//! A handler is: extract → one `app` call → render (HTML or JSON). No SQL, no authorization logic.
//! JSON errors have one shape, `{"error": "snake_code", "message": "…"}` ([`error`]).
//!
//! Architecture invariant: the only crate that knows actix. It knows no database.

mod assets;
pub mod clock;
#[cfg(test)]
mod cluster_tests;
pub mod compress;
mod dashboard_view;
pub mod error;
mod extract;
mod headers;
mod health;
pub mod metrics;
mod page_cache;
pub mod ratelimit;
pub mod request_id;
mod routes;
mod session_keys;
mod session_store;
mod views;

use std::net::IpAddr;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_web::cookie::SameSite;
use actix_web::web;
use planpush_app::Search;
use planpush_app::{
    AccessCache, Admin, Admission, AuditLog, Cluster, Comments, CpuPool, Dashboard, Emails,
    GroupAccess, Health, IdentityProvider, LiveAccess, Notifications, ObservedBus, Plans, Ports,
    Push, RateLimiter, RemoteChanges, Scim, SignIn, Tokens, WebSessions, Webhooks,
};
use planpush_document::{DiagramRenderer, SanitizeOptions};
use planpush_identity::SessionPolicy;

pub use clock::{Clock, Now, ShiftedClock, SystemClock};
pub use ratelimit::RateLimits;
pub use routes::openapi::document as openapi_document;
pub use session_keys::SessionCookies;
pub use session_store::DbSessionStore;

/// How the web layer signs people in.
#[derive(Clone)]
pub enum SignInMode {
    /// An external identity provider (GitHub, OIDC).
    Provider(Arc<dyn IdentityProvider>),
    /// Loopback-only development sign-in: pick any login name.
    Dev,
}

/// Settings the web layer needs from the configuration.
#[derive(Clone)]
pub struct WebSettings {
    /// `BASE_URL` without a trailing slash.
    pub base_url: String,
    pub cookie_secure: bool,
    /// Key material for the session cookie (from `SECRET_KEY`, at least 32 bytes).
    pub secret_key: Vec<u8>,
    /// Whether a peer is a trusted proxy whose `X-Forwarded-For` may be believed.
    pub trusted_proxy: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
    pub session_policy: SessionPolicy,
    /// How pushed documents are sanitized (`ALLOW_REMOTE_IMAGES`).
    pub sanitize: SanitizeOptions,
}

/// Rendered pages that may wait for the compressor; a page that finds the queue full is served
/// uncompressed until it is rendered again.
const COMPRESS_QUEUE: usize = 64;

/// Everything the handlers need, shared across workers.
#[derive(Clone)]
pub struct AppState {
    pub health: Health,
    pub access: Arc<AccessCache>,
    pub sign_in: Arc<SignIn>,
    pub tokens: Arc<Tokens>,
    pub admin: Arc<Admin>,
    pub sessions: Arc<WebSessions>,
    pub push: Arc<Push>,
    pub plans: Arc<Plans>,
    pub comments: Arc<Comments>,
    /// Sign-off per version (review requests and verdicts).
    pub reviews: Arc<planpush_app::Reviews>,
    /// The notification inbox, follow/mute choices and mention candidates.
    pub inbox: Arc<planpush_app::Inbox>,
    pub dashboard: Arc<Dashboard>,
    pub audit_log: Arc<AuditLog>,
    /// Outgoing webhooks (admin API, dashboard Webhooks tab); unavailable until
    /// [`AppState::with_webhooks`].
    pub webhooks: Arc<Webhooks>,
    /// IdP group → role mappings (admin API, dashboard Groups tab).
    pub groups: Arc<GroupAccess>,
    /// E-mail preferences and one-click unsubscribe; links are refused until
    /// [`AppState::with_email`] gives it the keys.
    pub emails: Arc<Emails>,
    /// SCIM provisioning; off until [`AppState::with_scim`] gives it a token.
    pub scim: Arc<Scim>,
    pub mode: SignInMode,
    pub settings: WebSettings,
    /// Rate-limit budgets (in memory by default; see `planpush_app::RateLimiter`).
    pub limits: Arc<dyn RateLimiter>,
    /// Rendered plan pages (see [`page_cache`]), voided by the plan's live events.
    pub(crate) pages: Arc<page_cache::PageCache>,
    /// Where every request's `now` comes from (see [`clock`]).
    pub clock: Arc<dyn Clock>,
    /// Live streams: opening them and checking their viewers again (instant offboarding).
    pub live: Arc<LiveAccess>,
    /// Who reads a plan now (`GET /api/sessions/{id}/presence`).
    pub presence: Arc<planpush_app::Presence>,
    /// Full-text search (`GET /api/search`, the dashboard's search box).
    pub search: Arc<Search>,
    /// The bounded pool where pushes render (`RENDER_THREADS`, `RENDER_QUEUE`); in place until
    /// [`AppState::with_pool`] gives it threads.
    pub cpu: CpuPool,
    /// One thread that compresses rendered plan pages after they are cached (see
    /// [`page_cache::CachedPage::compress_later`]).
    pub compressor: CpuPool,
    /// Turns true when the process begins a graceful shutdown: open live-update streams end
    /// with a short `retry:` so browsers reconnect (to another process behind the proxy).
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Whether `GET /metrics` is served on the main port (to loopback and trusted proxies); off
    /// when `METRICS_ADDR` gives it a listener of its own ([`AppState::with_metrics_elsewhere`]).
    pub(crate) metrics_on_main_port: bool,
    /// Earlier `SECRET_KEY`s (`SECRET_KEY_PREVIOUS`): session cookies sealed under them are still
    /// accepted, and re-sealed under the current key ([`session_keys`]).
    previous_secret_keys: Vec<Vec<u8>>,
}

impl AppState {
    /// Wires the application services over `ports`, for one server process.
    pub fn new(
        ports: Ports,
        mode: SignInMode,
        settings: WebSettings,
        limits: RateLimits,
        diagrams: Arc<dyn DiagramRenderer>,
    ) -> Self {
        Self::build(ports, mode, settings, Arc::new(limits), diagrams, None)
    }

    /// Wires the application services over `ports` for one of several processes sharing the
    /// database: access changes are announced on `cluster` (so every process's caches and live
    /// streams hear of them), and the cluster voids this process's caches for changes made by the
    /// others. `ports.events` should be the cluster's event bus.
    pub fn clustered(
        ports: Ports,
        mode: SignInMode,
        settings: WebSettings,
        limits: Arc<dyn RateLimiter>,
        diagrams: Arc<dyn DiagramRenderer>,
        cluster: Arc<dyn Cluster>,
    ) -> Self {
        Self::build(ports, mode, settings, limits, diagrams, Some(cluster))
    }

    fn build(
        ports: Ports,
        mode: SignInMode,
        settings: WebSettings,
        limits: Arc<dyn RateLimiter>,
        diagrams: Arc<dyn DiagramRenderer>,
        cluster: Option<Arc<dyn Cluster>>,
    ) -> Self {
        // The process-wide metrics recorder, so everything below is counted from the start.
        metrics::handle();
        // Every change to a plan publishes an event after it commits: the page cache listens on
        // the bus, so no handler has to remember to forget a page.
        let pages = Arc::new(page_cache::PageCache::default());
        let mut ports = ports;
        ports.events = Arc::new(ObservedBus::new(ports.events.clone(), {
            let pages = pages.clone();
            Arc::new(move |plan: planpush_plans::PlanId| pages.forget_plan(plan))
        }));
        let access = Arc::new(match &cluster {
            Some(c) => AccessCache::with_signal(ports.clone(), c.clone()),
            None => AccessCache::new(ports.clone()),
        });
        if let Some(c) = &cluster {
            c.attach(Arc::new(ProcessCaches {
                access: access.clone(),
                pages: pages.clone(),
            }));
        }
        let tokens =
            Arc::new(Tokens::new(ports.clone(), access.clone()).with_limits(limits.clone()));
        let admin = Arc::new(Admin::new(ports.clone(), access.clone()));
        let plans = Arc::new(Plans::new(ports.clone()));
        let sessions = Arc::new(WebSessions::new(
            ports.clone(),
            access.clone(),
            settings.session_policy,
        ));
        let live = Arc::new(LiveAccess::new(
            ports.clone(),
            access.clone(),
            sessions.clone(),
            plans.clone(),
        ));
        let search = Arc::new(Search::new(ports.clone()));
        Self {
            health: Health::new(ports.clone()),
            sign_in: Arc::new(SignIn::new(ports.clone(), access.clone())),
            dashboard: Arc::new(Dashboard::new(
                ports.clone(),
                plans.clone(),
                tokens.clone(),
                admin.clone(),
            )),
            audit_log: Arc::new(AuditLog::new(ports.clone())),
            groups: Arc::new(GroupAccess::new(ports.clone(), access.clone())),
            webhooks: Arc::new(Webhooks::new(ports.clone())),
            emails: Arc::new(Emails::new(
                ports.clone(),
                access.clone(),
                &settings.base_url,
            )),
            scim: Arc::new(Scim::new(
                ports.clone(),
                admin.clone(),
                access.clone(),
                &settings.base_url,
            )),
            tokens,
            admin,
            push: Arc::new(Push::new(ports.clone(), settings.sanitize, diagrams)),
            presence: Arc::new(planpush_app::Presence::new(ports.clone(), plans.clone())),
            plans,
            reviews: Arc::new(planpush_app::Reviews::new(ports.clone())),
            inbox: Arc::new(planpush_app::Inbox::new(ports.clone())),
            comments: Arc::new(Comments::new(ports)),
            sessions,
            access,
            mode,
            settings,
            limits,
            pages,
            live,
            search,
            cpu: CpuPool::inline(),
            compressor: CpuPool::new(1, COMPRESS_QUEUE).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot start the page compressor: pages are compressed in place");
                CpuPool::inline()
            }),
            clock: Arc::new(SystemClock),
            shutdown: Arc::new(tokio::sync::watch::Sender::new(false)),
            metrics_on_main_port: true,
            previous_secret_keys: Vec::new(),
        }
    }

    /// Begins a graceful shutdown: every open live-update stream ends now with a `retry:` hint
    /// (call it on SIGTERM, before the server stops accepting and drains requests).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Watches for [`AppState::begin_shutdown`].
    pub(crate) fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The same state reading time from `clock` (tests move a [`clock::ShiftedClock`] instead of
    /// sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same state, rendering pushes (Markdown, Mermaid, sanitizing, diffs) on `cpu`; a push
    /// that finds it full answers `503` with `Retry-After`.
    pub fn with_pool(mut self, cpu: CpuPool) -> Self {
        self.push = Arc::new((*self.push).clone().with_pool(cpu.clone()));
        self.cpu = cpu;
        self
    }

    /// The same state, with pushes, comments and reviews writing notifications to the outbox (Slack).
    pub fn with_notifications(mut self, notify: Notifications) -> Self {
        self.plans.set_notifications(notify.clone());
        self.push = Arc::new((*self.push).clone().with_notifications(notify.clone()));
        self.reviews = Arc::new((*self.reviews).clone().with_notifications(notify.clone()));
        self.comments = Arc::new((*self.comments).clone().with_notifications(notify));
        self
    }

    /// The same state with outgoing webhooks on: `keys` checks URLs and seals secrets,
    /// `test_body` renders a test delivery (both from the webhook adapter).
    pub fn with_webhooks(
        mut self,
        keys: Arc<dyn planpush_app::WebhookKeys>,
        test_body: planpush_app::TestBody,
    ) -> Self {
        self.webhooks = Arc::new((*self.webhooks).clone().with_keys(keys, test_body));
        self
    }

    /// The same state with e-mail settings and unsubscribe links on: `keys` checks the links'
    /// signatures (the mail adapter's), `enabled` says whether the server sends e-mail
    /// (`SMTP_URL`).
    pub fn with_email(
        mut self,
        keys: Arc<dyn planpush_app::UnsubscribeKeys>,
        enabled: bool,
    ) -> Self {
        self.emails = Arc::new((*self.emails).clone().with_keys(keys).with_enabled(enabled));
        self
    }

    /// The same state, creating plans pushed without `X-Visibility` with `visibility`
    /// (`DEFAULT_VISIBILITY`).
    pub fn with_default_visibility(mut self, visibility: planpush_plans::Visibility) -> Self {
        self.push = Arc::new((*self.push).clone().with_default_visibility(visibility));
        self
    }

    /// The same state with another sign-in admission rule (OIDC: group mapping and bootstrap
    /// admins).
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.sign_in = Arc::new(self.sign_in.with_other_admission(admission));
        self
    }

    /// The same state with SCIM 2.0 on at `/scim/v2`, authenticated by `token` (`SCIM_AUTH_TOKEN`).
    pub fn with_scim(mut self, token: &str) -> Self {
        self.scim = Arc::new((*self.scim).clone().with_token(token));
        self
    }

    /// The same state with `GET /metrics` answered `404` on the main port, because a separate
    /// listener serves it ([`metrics::listener`], `METRICS_ADDR`).
    pub fn with_metrics_elsewhere(mut self) -> Self {
        self.metrics_on_main_port = false;
        self
    }

    /// The same state accepting session cookies sealed under earlier values of `SECRET_KEY`
    /// (`SECRET_KEY_PREVIOUS`, each at least 32 bytes); new cookies use the current key.
    pub fn with_previous_secret_keys(mut self, keys: Vec<Vec<u8>>) -> Self {
        self.previous_secret_keys = keys;
        self
    }

    /// The session middleware: server-side rows, HttpOnly, SameSite=Lax, Secure on https; cookies
    /// sealed under a previous `SECRET_KEY` are re-sealed under the current one.
    pub fn session_middleware(&self) -> SessionCookies {
        let max_age = actix_web::cookie::time::Duration::seconds(
            self.settings.session_policy.max_age.num_seconds(),
        );
        let keys = Arc::new(session_keys::SessionKeys::new(
            &self.settings.secret_key,
            &self.previous_secret_keys,
            self.settings.cookie_secure,
            max_age,
        ));
        let session = SessionMiddleware::builder(
            DbSessionStore::new(self.sessions.clone(), self.clock.clone()),
            keys.current().clone(),
        )
        .cookie_name(session_keys::COOKIE.into())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(self.settings.cookie_secure)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(max_age)
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build();
        SessionCookies { session, keys }
    }
}

/// What this process drops when another process sharing the database changes something.
struct ProcessCaches {
    access: Arc<AccessCache>,
    pages: Arc<page_cache::PageCache>,
}

impl RemoteChanges for ProcessCaches {
    fn user_changed(&self, user: planpush_identity::UserId) {
        // Access, sessions and tokens share the per-user generations.
        self.access.generations().bump(user);
    }

    fn plan_changed(&self, plan: planpush_plans::PlanId) {
        self.pages.forget_plan(plan);
    }

    fn everything_changed(&self) {
        self.access.generations().bump_all();
        self.pages.forget_all();
    }
}

/// Registers every route of the service.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    use actix_web::dev::Service;
    let csp = headers::csp_value(state.settings.sanitize.allow_remote_images);
    move |cfg| {
        cfg.app_data(web::Data::new(state)).service(
            // One wrapper around every route: the security and caching headers (see `headers`).
            web::scope("")
                .wrap_fn(move |req, srv| {
                    let csp = csp.clone();
                    let answer = srv.call(req);
                    async move {
                        let mut res = answer.await?;
                        let status = res.status();
                        headers::secure(status, res.headers_mut(), &csp);
                        Ok(res)
                    }
                })
                .configure(health::routes)
                .configure(metrics::routes)
                .configure(routes::configure),
        );
    }
}
