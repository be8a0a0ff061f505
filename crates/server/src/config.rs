//! Server configuration, read once from environment variables at start-up.
//!
//! [`Config::from_env`] reads the process environment; [`Config::from_vars`] takes any lookup function so
//! tests never touch the process environment. Every value is validated here, once: a bad or missing value
//! yields a [`ConfigError`] whose `Display` is one line naming the variable and what is wrong, e.g.
//! `SECRET_KEY: must be at least 32 characters (got 12)`. Empty or whitespace-only values count as unset and
//! surrounding whitespace is ignored. The variables of the inactive sign-in provider are not read.
//!
//! docs/configuration.md and .env.example describe every variable; a test keeps them in step with
//! [`VARIABLES`].

mod database;
pub mod net;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use database::DatabaseUrl;
pub use net::TrustedProxies;
pub use values::BaseUrl;

use values::{HttpRule, Vars};

/// Every environment variable the server reads, in the order they are validated.
pub const VARIABLES: &[&str] = &[
    "SECRET_KEY",
    "BASE_URL",
    "BIND_ADDR",
    "PORT",
    "AUTH_PROVIDER",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "GITHUB_ORG",
    "GITHUB_URL",
    "GITHUB_API_URL",
    "OKTA_ISSUER",
    "OKTA_CLIENT_ID",
    "OKTA_CLIENT_SECRET",
    "INITIAL_ADMIN_EMAILS",
    "POST_LOGOUT_REDIRECT_URI",
    "SESSION_IDLE_TIMEOUT",
    "SESSION_MAX_AGE",
    "SCIM_AUTH_TOKEN",
    "DATA_DIR",
    "DATABASE_URL",
    "SLACK_WEBHOOK_URL",
    "SLACK_TIMEOUT_MS",
    "TEAMS_WEBHOOK_URL",
    "DISCORD_WEBHOOK_URL",
    "WEBHOOK_ALLOWED_NETWORKS",
    "OUTBOX_POLL_INTERVAL_MS",
    "OUTBOX_RETRY_BASE_MS",
    "NOTIFY_BURST_WINDOW_MS",
    "NOTIFY_RESOLVE_WINDOW_MS",
    "SMTP_URL",
    "SMTP_FROM",
    "TRUSTED_PROXIES",
    "LOG_FORMAT",
    "VERSION_RETENTION_DAYS",
    "ALLOW_REMOTE_IMAGES",
    "DEFAULT_VISIBILITY",
    "METRICS_ADDR",
    "SECRET_KEY_PREVIOUS",
    "RENDER_THREADS",
    "RENDER_QUEUE",
    "DATABASE_MAX_CONNECTIONS",
];

/// Minimum length, in characters, of `SECRET_KEY` and `SCIM_AUTH_TOKEN`.
pub const MIN_SECRET_CHARS: usize = 32;
/// Default `SESSION_IDLE_TIMEOUT`: 8 hours.
pub const DEFAULT_SESSION_IDLE_SECS: u64 = 28_800;
/// Default `SESSION_MAX_AGE`: 7 days.
pub const DEFAULT_SESSION_MAX_AGE_SECS: u64 = 604_800;
/// Upper bound for the session durations (10 years), so later date arithmetic cannot overflow.
pub const MAX_SESSION_SECS: u64 = 315_360_000;
/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 3000;
/// Default `DATA_DIR`.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// File name of the SQLite database inside `DATA_DIR` when `DATABASE_URL` is not set.
pub const DEFAULT_SQLITE_FILE: &str = "planpush.db";
/// Default `VERSION_RETENTION_DAYS`.
pub const DEFAULT_VERSION_RETENTION_DAYS: u32 = 90;
/// Default `SLACK_TIMEOUT_MS`: each delivery attempt is bounded by 10 seconds.
pub const DEFAULT_SLACK_TIMEOUT_MS: u64 = 10_000;
/// Default `OUTBOX_POLL_INTERVAL_MS`: the delivery worker looks for due messages every second.
pub const DEFAULT_OUTBOX_POLL_INTERVAL_MS: u64 = 1_000;
/// Default `NOTIFY_BURST_WINDOW_MS`: pushes to one plan within 30 seconds make one chat message.
pub const DEFAULT_NOTIFY_BURST_WINDOW_MS: u64 = 30_000;
/// Default `NOTIFY_RESOLVE_WINDOW_MS`: a thread resolved, reopened and resolved again within 10
/// minutes is announced once.
pub const DEFAULT_NOTIFY_RESOLVE_WINDOW_MS: u64 = 600_000;

/// Default `OUTBOX_RETRY_BASE_MS`: the first retry after 5 seconds, doubling up to one hour.
pub const DEFAULT_OUTBOX_RETRY_BASE_MS: u64 = 5_000;
/// Default `GITHUB_URL`.
pub const DEFAULT_GITHUB_URL: &str = "https://github.com";
/// Default `GITHUB_API_URL`.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

/// A bad or missing configuration value; `Display` is `VAR: what is wrong`, always on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it (one line, never contains a secret).
    pub message: String,
}

impl ConfigError {
    /// Builds an error; line breaks in `message` are replaced by spaces to keep the one-line promise.
    pub fn new(var: &'static str, message: impl Into<String>) -> Self {
        let message = message.into().replace(['\r', '\n'], " ");
        Self { var, message }
    }
}

/// E-mail delivery (`SMTP_URL`, `SMTP_FROM`).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// lettre's URL conventions; it may hold a password, so it is never logged.
    pub url: Secret,
    /// The sender, `Name <address>` or an address.
    pub from: String,
}

/// A secret value whose `Debug` output is redacted; read it with [`Secret::expose`].
#[derive(Clone)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which web sign-in provider is active (`AUTH_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProvider {
    /// GitHub OAuth with an organisation membership check (the default).
    Github,
    /// Any OpenID Connect issuer (named after Okta, the reference issuer).
    Okta,
    /// Sign in as anyone without a password; loopback only, for `demo` and tests.
    Dev,
}

impl AuthProvider {
    /// The accepted `AUTH_PROVIDER` values.
    pub const ACCEPTED: &'static str = "github, okta, dev";

    /// The value as written in `AUTH_PROVIDER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Okta => "okta",
            Self::Dev => "dev",
        }
    }
}

/// GitHub OAuth settings (`GITHUB_*`).
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// `GITHUB_CLIENT_ID`: OAuth App client id.
    pub client_id: String,
    /// `GITHUB_CLIENT_SECRET`: OAuth App client secret.
    pub client_secret: Secret,
    /// `GITHUB_ORG`: members of this organisation may sign in.
    pub org: String,
    /// `GITHUB_URL`: web base URL (authorize / access-token endpoints), no trailing slash.
    pub url: BaseUrl,
    /// `GITHUB_API_URL`: REST API base URL (GitHub Enterprise Server: `https://HOST/api/v3`).
    pub api_url: BaseUrl,
}

/// OpenID Connect settings (`OKTA_*`).
#[derive(Debug, Clone)]
pub struct OktaConfig {
    /// `OKTA_ISSUER` exactly as written (compared byte for byte with the ID token's `iss`).
    pub issuer: String,
    /// `OKTA_CLIENT_ID`: OIDC client id.
    pub client_id: String,
    /// `OKTA_CLIENT_SECRET`: OIDC client secret.
    pub client_secret: Secret,
}

impl OktaConfig {
    /// The issuer's discovery document URL (`{issuer}/.well-known/openid-configuration`).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// The active sign-in provider with its settings.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once at start-up; boxing would only add noise"
)]
pub enum AuthConfig {
    /// `AUTH_PROVIDER=github`.
    Github(GithubConfig),
    /// `AUTH_PROVIDER=okta`.
    Okta(OktaConfig),
    /// `AUTH_PROVIDER=dev` (already checked to be loopback-only).
    Dev,
}

impl AuthConfig {
    /// Which provider this is.
    pub fn provider(&self) -> AuthProvider {
        match self {
            Self::Github(_) => AuthProvider::Github,
            Self::Okta(_) => AuthProvider::Okta,
            Self::Dev => AuthProvider::Dev,
        }
    }
}

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line.
    Json,
}

/// How notifications are delivered (used only when `SLACK_WEBHOOK_URL` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// `SLACK_TIMEOUT_MS`: bound on one delivery attempt (connect and answer).
    pub slack_timeout: Duration,
    /// `OUTBOX_POLL_INTERVAL_MS`: how often the worker looks for due messages when idle.
    pub poll_interval: Duration,
    /// `OUTBOX_RETRY_BASE_MS`: the first retry's delay; it doubles per failure, capped at 1 hour.
    pub retry_base: Duration,
    /// `NOTIFY_BURST_WINDOW_MS`: how long a new version's chat message waits for more pushes to
    /// the same plan, told together (zero: at once).
    pub burst_window: Duration,
    /// `NOTIFY_RESOLVE_WINDOW_MS`: a thread resolved again within this time of its last announced
    /// resolution is not announced again (zero: every resolution is).
    pub resolve_window: Duration,
}

impl OutboxConfig {
    /// How long a claimed attempt keeps its message from other workers: twice the attempt's
    /// timeout (at least one second), so a message is only retried when its attempt is over.
    pub fn lease(&self) -> Duration {
        (self.slack_timeout * 2).max(Duration::from_secs(1))
    }
}

/// The validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SECRET_KEY`: at least 32 characters; signs and encrypts server-side state.
    pub secret_key: Secret,
    /// `BASE_URL`: public URL of the server, without a trailing slash.
    pub base_url: BaseUrl,
    /// Whether cookies get the `Secure` attribute (`BASE_URL` is https).
    pub cookie_secure: bool,
    /// `AUTH_PROVIDER` and its provider-specific variables.
    pub auth: AuthConfig,
    /// `INITIAL_ADMIN_EMAILS`: lower-cased, de-duplicated, in the order given.
    pub initial_admin_emails: Vec<String>,
    /// `POST_LOGOUT_REDIRECT_URI` exactly as written, or `BASE_URL` (no trailing slash) when unset.
    pub post_logout_redirect_uri: String,
    /// `SESSION_IDLE_TIMEOUT`: rolling idle timeout; never longer than `session_max_age`.
    pub session_idle_timeout: Duration,
    /// `SESSION_MAX_AGE`: absolute session lifetime.
    pub session_max_age: Duration,
    /// `SCIM_AUTH_TOKEN`: when set, enables SCIM 2.0 with this bearer token.
    pub scim_auth_token: Option<Secret>,
    /// `BIND_ADDR`: address to listen on.
    pub bind_addr: IpAddr,
    /// `PORT`: port to listen on.
    pub port: u16,
    /// `DATA_DIR`: directory for the default SQLite database and other local files.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`, or SQLite at `DATA_DIR/planpush.db` when unset.
    pub database: DatabaseUrl,
    /// `SLACK_WEBHOOK_URL`: Slack incoming webhook; notifications are off when unset.
    pub slack_webhook_url: Option<Secret<Url>>,
    /// `SLACK_TIMEOUT_MS`, `OUTBOX_POLL_INTERVAL_MS`, `OUTBOX_RETRY_BASE_MS`.
    pub outbox: OutboxConfig,
    /// `TEAMS_WEBHOOK_URL`: Microsoft Teams Workflows (or incoming) webhook; off when unset.
    pub teams_webhook_url: Option<Secret<Url>>,
    /// `DISCORD_WEBHOOK_URL`: Discord channel webhook; off when unset.
    pub discord_webhook_url: Option<Secret<Url>>,
    /// `SMTP_URL` and `SMTP_FROM`: e-mail notifications; off when `SMTP_URL` is unset.
    pub smtp: Option<SmtpConfig>,
    /// `WEBHOOK_ALLOWED_NETWORKS`: internal networks registered webhooks may reach anyway (same
    /// CIDR list as `TRUSTED_PROXIES`; empty: public addresses only).
    pub webhook_allowed_networks: TrustedProxies,
    /// `TRUSTED_PROXIES`: peers whose forwarding headers are believed (empty: none).
    pub trusted_proxies: TrustedProxies,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `VERSION_RETENTION_DAYS`: snapshots older than this are pruned (except the current one).
    pub version_retention_days: u32,
    /// `ALLOW_REMOTE_IMAGES`: whether rendered plans may load images from other origins.
    pub allow_remote_images: bool,
    /// `DEFAULT_VISIBILITY`: a new plan pushed without a visibility is `published` (default) or
    /// `private`.
    pub default_visibility: planpush_plans::Visibility,
    /// `METRICS_ADDR`: a separate listener for `GET /metrics` (then not served on `PORT`).
    pub metrics_addr: Option<SocketAddr>,
    /// `RENDER_THREADS`: threads rendering pushes (default: one per core, at most 8).
    pub render_threads: usize,
    /// `RENDER_QUEUE`: pushes waiting for a render thread before the next is answered `503`
    /// (default: eight per thread).
    pub render_queue: usize,
    /// `DATABASE_MAX_CONNECTIONS`: connections the process keeps to its database (default:
    /// [`DatabaseUrl::default_connections`]).
    pub database_max_connections: u32,
    /// `SECRET_KEY_PREVIOUS`: earlier values of `SECRET_KEY`, accepted for reading only (key rotation).
    pub previous_secret_keys: Vec<Secret>,
}

impl Config {
    /// Reads and validates the process environment (call `dotenvy` first if a `.env` file is wanted).
    pub fn from_env() -> Result<Self, ConfigError> {
        for &var in VARIABLES {
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(var) {
                return Err(ConfigError::new(var, "is not valid UTF-8"));
            }
        }
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads and validates variables through `get` (e.g. `|k| map.get(k).cloned()` in tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(get);

        let secret_key = Secret::new(vars.secret_key("SECRET_KEY")?);
        let base_url = vars.base_url("BASE_URL", None, HttpRule::Allowed)?;
        let bind_addr = vars.ip_addr("BIND_ADDR")?;
        let port = vars.port("PORT")?;
        let auth = load_auth(&vars, bind_addr, &base_url)?;

        let initial_admin_emails = vars.emails("INITIAL_ADMIN_EMAILS")?;
        let post_logout_redirect_uri = vars
            .redirect_uri("POST_LOGOUT_REDIRECT_URI")?
            .unwrap_or_else(|| base_url.as_str().to_owned());

        let idle = vars.seconds("SESSION_IDLE_TIMEOUT", DEFAULT_SESSION_IDLE_SECS)?;
        let max_age = vars.seconds("SESSION_MAX_AGE", DEFAULT_SESSION_MAX_AGE_SECS)?;
        if idle > max_age {
            return Err(ConfigError::new(
                "SESSION_IDLE_TIMEOUT",
                format!("must not be longer than SESSION_MAX_AGE ({idle} > {max_age} seconds)"),
            ));
        }

        let scim_auth_token = vars.optional_secret("SCIM_AUTH_TOKEN")?;
        // It travels as `Authorization: Bearer <token>`: only the RFC 6750 token characters fit.
        if let Some(t) = &scim_auth_token
            && !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c))
        {
            return Err(ConfigError::new(
                "SCIM_AUTH_TOKEN",
                "may contain only letters, digits and - . _ ~ + / = (it is sent as a bearer token)",
            ));
        }
        let scim_auth_token = scim_auth_token.map(Secret::new);
        let data_dir = vars
            .get("DATA_DIR")
            .map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from);
        let database = match vars.get("DATABASE_URL") {
            Some(raw) => {
                DatabaseUrl::parse(&raw).map_err(|m| ConfigError::new("DATABASE_URL", m))?
            }
            None => DatabaseUrl::Sqlite(data_dir.join(DEFAULT_SQLITE_FILE)),
        };
        let slack_webhook_url = vars.slack_webhook("SLACK_WEBHOOK_URL")?.map(Secret::new);
        let teams_webhook_url = vars.slack_webhook("TEAMS_WEBHOOK_URL")?.map(Secret::new);
        let discord_webhook_url = vars.slack_webhook("DISCORD_WEBHOOK_URL")?.map(Secret::new);
        let outbox = OutboxConfig {
            slack_timeout: Duration::from_millis(vars.millis(
                "SLACK_TIMEOUT_MS",
                DEFAULT_SLACK_TIMEOUT_MS,
                (100, 60_000),
            )?),
            poll_interval: Duration::from_millis(vars.millis(
                "OUTBOX_POLL_INTERVAL_MS",
                DEFAULT_OUTBOX_POLL_INTERVAL_MS,
                (10, 3_600_000),
            )?),
            retry_base: Duration::from_millis(vars.millis(
                "OUTBOX_RETRY_BASE_MS",
                DEFAULT_OUTBOX_RETRY_BASE_MS,
                (10, 3_600_000),
            )?),
            burst_window: Duration::from_millis(vars.millis(
                "NOTIFY_BURST_WINDOW_MS",
                DEFAULT_NOTIFY_BURST_WINDOW_MS,
                (0, 3_600_000),
            )?),
            resolve_window: Duration::from_millis(vars.millis(
                "NOTIFY_RESOLVE_WINDOW_MS",
                DEFAULT_NOTIFY_RESOLVE_WINDOW_MS,
                (0, 86_400_000),
            )?),
        };
        let smtp = match vars.get("SMTP_URL") {
            None => None,
            Some(url) => {
                planpush_mail::check_url(&url)
                    .map_err(|e| ConfigError::new("SMTP_URL", e.to_string()))?;
                let from = vars.required(
                    "SMTP_FROM",
                    "the sender of e-mail notifications, e.g. PlanPush <planpush@example.com> (required with SMTP_URL)",
                )?;
                planpush_mail::parse_from(&from)
                    .map_err(|e| ConfigError::new("SMTP_FROM", e.to_string()))?;
                Some(SmtpConfig {
                    url: Secret::new(url),
                    from,
                })
            }
        };
        let trusted_proxies = match vars.get("TRUSTED_PROXIES") {
            Some(raw) => TrustedProxies::parse_list(&raw)
                .map_err(|m| ConfigError::new("TRUSTED_PROXIES", m))?,
            None => TrustedProxies::default(),
        };
        let webhook_allowed_networks = match vars.get("WEBHOOK_ALLOWED_NETWORKS") {
            Some(raw) => TrustedProxies::parse_list(&raw)
                .map_err(|m| ConfigError::new("WEBHOOK_ALLOWED_NETWORKS", m))?,
            None => TrustedProxies::default(),
        };
        let log_format = vars.log_format("LOG_FORMAT")?;
        let version_retention_days =
            vars.retention_days("VERSION_RETENTION_DAYS", DEFAULT_VERSION_RETENTION_DAYS)?;
        let allow_remote_images = vars.boolean("ALLOW_REMOTE_IMAGES", false)?;
        let default_visibility = match vars.get("DEFAULT_VISIBILITY") {
            None => planpush_plans::Visibility::Published,
            Some(raw) => {
                planpush_plans::Visibility::parse(&raw.to_ascii_lowercase()).map_err(|_| {
                    ConfigError::new(
                        "DEFAULT_VISIBILITY",
                        format!("must be published or private, not {raw:?}"),
                    )
                })?
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let (threads, _) = planpush_app::default_sizes(cores);
        let render_threads = vars.count("RENDER_THREADS", threads, 1, 256)?;
        let render_queue = vars.count(
            "RENDER_QUEUE",
            planpush_app::default_queue(render_threads),
            0,
            65_536,
        )?;
        let database_max_connections = u32::try_from(vars.count(
            "DATABASE_MAX_CONNECTIONS",
            database.default_connections(),
            2,
            1_000,
        )?)
        .unwrap_or(u32::MAX);
        let metrics_addr = vars.socket_addr("METRICS_ADDR")?;
        if metrics_addr.is_some_and(|m| m == SocketAddr::new(bind_addr, port)) {
            return Err(ConfigError::new(
                "METRICS_ADDR",
                "must differ from BIND_ADDR:PORT (unset it to serve /metrics on the main port)",
            ));
        }
        let previous_secret_keys = vars
            .previous_secret_keys("SECRET_KEY_PREVIOUS", secret_key.expose())?
            .into_iter()
            .map(Secret::new)
            .collect();

        Ok(Self {
            secret_key,
            cookie_secure: base_url.is_https(),
            base_url,
            auth,
            initial_admin_emails,
            post_logout_redirect_uri,
            session_idle_timeout: Duration::from_secs(idle),
            session_max_age: Duration::from_secs(max_age),
            scim_auth_token,
            bind_addr,
            port,
            data_dir,
            database,
            slack_webhook_url,
            outbox,
            teams_webhook_url,
            discord_webhook_url,
            smtp,
            trusted_proxies,
            webhook_allowed_networks,
            log_format,
            version_retention_days,
            allow_remote_images,
            default_visibility,
            metrics_addr,
            render_threads,
            render_queue,
            database_max_connections,
            previous_secret_keys,
        })
    }

    /// The socket address to listen on (`BIND_ADDR:PORT`).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_addr, self.port)
    }

    /// The active sign-in provider.
    pub fn auth_provider(&self) -> AuthProvider {
        self.auth.provider()
    }
}

/// Reads `AUTH_PROVIDER` and the variables of the chosen provider only.
fn load_auth<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
    bind_addr: IpAddr,
    base_url: &BaseUrl,
) -> Result<AuthConfig, ConfigError> {
    match vars.auth_provider("AUTH_PROVIDER")? {
        AuthProvider::Github => {
            let when = "when AUTH_PROVIDER=github";
            let client_id = vars.required("GITHUB_CLIENT_ID", when)?;
            let client_secret = Secret::new(vars.required("GITHUB_CLIENT_SECRET", when)?);
            let org = vars.required("GITHUB_ORG", when)?;
            values::check_github_org("GITHUB_ORG", &org)?;
            let url = vars.base_url(
                "GITHUB_URL",
                Some(DEFAULT_GITHUB_URL),
                HttpRule::LoopbackOnly,
            )?;
            let api_url = vars.base_url(
                "GITHUB_API_URL",
                Some(DEFAULT_GITHUB_API_URL),
                HttpRule::LoopbackOnly,
            )?;
            Ok(AuthConfig::Github(GithubConfig {
                client_id,
                client_secret,
                org,
                url,
                api_url,
            }))
        }
        AuthProvider::Okta => {
            let when = "when AUTH_PROVIDER=okta";
            let issuer_raw = vars.required("OKTA_ISSUER", when)?;
            let issuer = values::check_issuer("OKTA_ISSUER", &issuer_raw)?;
            let client_id = vars.required("OKTA_CLIENT_ID", when)?;
            let client_secret = Secret::new(vars.required("OKTA_CLIENT_SECRET", when)?);
            Ok(AuthConfig::Okta(OktaConfig {
                issuer,
                client_id,
                client_secret,
            }))
        }
        AuthProvider::Dev => {
            let bind_ok = bind_addr.is_loopback();
            let base_ok = values::is_loopback_host(base_url.url());
            if bind_ok && base_ok {
                return Ok(AuthConfig::Dev);
            }
            let mut got = Vec::new();
            if !bind_ok {
                got.push(format!("BIND_ADDR={bind_addr}"));
            }
            if !base_ok {
                got.push(format!("BASE_URL={base_url}"));
            }
            Err(ConfigError::new(
                "AUTH_PROVIDER",
                format!(
                    "dev sign-in is only allowed when BIND_ADDR and BASE_URL are loopback (got {})",
                    got.join(", ")
                ),
            ))
        }
    }
}
