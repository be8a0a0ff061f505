//! `planpush-server`: the self-hosted PlanPush server.
//!
//! Reads and validates the configuration once, opens the database (running migrations), wires the
//! storage adapter into the application and serves HTTP until SIGTERM or SIGINT, draining
//! connections before it exits.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod demo;
mod malloc;
mod ops;
mod render_priority;
use planpush_app::{
    Admission, Deliveries, DeliverySettings, Maintenance, Notifications, OUTBOX_MAX_ATTEMPTS,
};
use planpush_identity::SessionPolicy;
use planpush_server::config::{
    AuthConfig, AuthProvider, Config, ConfigError, DatabaseUrl, LogFormat,
};
use planpush_store::cluster::{ClusterSettings, PgCluster};
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_web::{AppState, RateLimits, SignInMode, WebSettings};

#[derive(Parser)]
#[command(name = "planpush-server", version, about = "The self-hosted PlanPush server", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations, then serve HTTP (the default for deployments).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Link an identity-provider account to an existing user, so it signs in as that user (moving
    /// an instance between providers; see docs/sso.md).
    LinkIdentity {
        /// The existing user's login (Dashboard → Members).
        #[arg(long)]
        login: String,
        /// `github`, or `oidc:` followed by OKTA_ISSUER exactly.
        #[arg(long)]
        provider: String,
        /// The account's id at the provider: the OIDC `sub`, or GitHub's numeric user id.
        #[arg(long)]
        subject: String,
    },
    /// Give an existing user a manual admin grant (break-glass; a first admin when the identity
    /// provider never marks e-mails verified, so INITIAL_ADMIN_EMAILS cannot match).
    GrantAdmin {
        /// The user's login (they appear after their first sign-in attempt, even a refused one).
        #[arg(long)]
        login: String,
    },
    /// Exit 0 when the server on this machine is ready (`GET /readyz` answers 200 on `BIND_ADDR`,
    /// loopback when unspecified, and `PORT`); for a container's HEALTHCHECK.
    Healthcheck,
    /// Write a consistent copy of the SQLite database to FILE while the server keeps serving
    /// (PostgreSQL: use pg_dump).
    Backup {
        /// The backup file to create; it must not exist.
        file: std::path::PathBuf,
    },
    /// Replace the SQLite database with the backup FILE. The server must be stopped; newer
    /// migrations run at its next start.
    Restore {
        /// A file written by `planpush-server backup`.
        file: std::path::PathBuf,
    },
    /// Run a demo on this machine: SQLite in a data directory, development sign-in on loopback,
    /// a sample plan with versions and comments. Running it again reuses the data.
    Demo {
        /// Where the database and the generated secret live.
        #[arg(long, default_value = "./planpush-demo")]
        data_dir: std::path::PathBuf,
        /// The port to listen on (127.0.0.1 only).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

/// A start-up failure: one line naming what is wrong, and the exit code.
struct Fatal(String, u8);

impl From<ConfigError> for Fatal {
    fn from(e: ConfigError) -> Self {
        Fatal(e.to_string(), 2)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal(line, code)) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("planpush-server: {line}");
            }
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Fatal> {
    if matches!(cli.command, Command::Serve | Command::Demo { .. }) {
        // Two malloc arenas per core instead of one per thread (see `malloc`). glibc reads its
        // variables when the process starts, so this looks at the real environment, before `.env`.
        malloc::limit_arenas();
    }
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => return Err(Fatal(format!(".env: {}", one_line(&e.to_string())), 2)),
    }
    match &cli.command {
        Command::Demo { data_dir, port } => return run_demo(data_dir, *port),
        Command::Healthcheck => {
            let var = |k| std::env::var(k).ok();
            let addr = ops::health_addr(var("BIND_ADDR").as_deref(), var("PORT").as_deref())
                .map_err(|e| Fatal(e, 2))?;
            return ops::healthcheck(addr).map_err(|e| Fatal(format!("unhealthy: {e}"), 1));
        }
        _ => {}
    }
    let config = Config::from_env()?;
    init_tracing(config.log_format);
    if let Command::Restore { file } = &cli.command {
        let DatabaseUrl::Sqlite(db) = &config.database else {
            return Err(Fatal(
                "DATABASE_URL is PostgreSQL: restore it with pg_restore or psql (docs/operations.md)"
                    .into(),
                2,
            ));
        };
        let migrations = ops::restore(db, file).map_err(|e| Fatal(format!("restore: {e}"), 1))?;
        tracing::info!(
            database = %db.display(),
            from = %file.display(),
            migrations,
            "restored; pending migrations run at the next start"
        );
        return Ok(());
    }
    // SQLite serves one process: a second server on the same file is refused (held until exit).
    let _lock = match (&config.database, &cli.command) {
        (DatabaseUrl::Sqlite(db), Command::Serve) => Some(
            ops::InstanceLock::acquire(db).map_err(|e| Fatal(format!("DATABASE_URL: {e}"), 1))?,
        ),
        _ => None,
    };
    let store = open_store(&config)?;
    match cli.command {
        Command::Migrate => Ok(()),
        Command::LinkIdentity {
            login,
            provider,
            subject,
        } => link_identity(store, &login, &provider, &subject),
        Command::GrantAdmin { login } => grant_admin(store, &login),
        Command::Backup { file } => {
            store
                .backup_sqlite(&file)
                .map_err(|e| Fatal(format!("backup: {e:#}"), 1))?;
            tracing::info!(file = %file.display(), "backup written");
            Ok(())
        }
        Command::Serve => serve(config, store),
        Command::Demo { .. } | Command::Healthcheck | Command::Restore { .. } => Ok(()),
    }
}

fn run_demo(dir: &std::path::Path, port: u16) -> Result<(), Fatal> {
    let fixed = demo::vars(dir, port).map_err(|e| Fatal(format!("demo: {e:#}"), 1))?;
    let config = Config::from_vars(|k| fixed.get(k).cloned().or_else(|| std::env::var(k).ok()))?;
    init_tracing(config.log_format);
    let _lock = match &config.database {
        DatabaseUrl::Sqlite(db) => {
            Some(ops::InstanceLock::acquire(db).map_err(|e| Fatal(format!("demo: {e}"), 1))?)
        }
        DatabaseUrl::Postgres(_) => None,
    };
    let store = open_store(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the runtime: {e}"), 1))?;
    let seeded = runtime
        .block_on(demo::seed(
            store.ports(),
            Arc::new(planpush_diagrams::MermaidRenderer),
        ))
        .map_err(|e| Fatal(format!("demo: seeding the sample plan failed: {e:#}"), 1))?;
    drop(runtime);
    let base = config.base_url.as_str().trim_end_matches('/').to_owned();
    let banner = format!(
        "\nPlanPush demo {}\n\n  Open  {base}/p/{}\n        (sign in with any name; \"ada\" is the admin, \"ben\" and \"cleo\" wrote comments)\n  CLI   planpush login --server {base}\n  Data  {} (delete it to start over)\n\nStop with Ctrl-C.\n",
        if seeded {
            "ready"
        } else {
            "ready (reusing the data)"
        },
        demo::SLUG,
        dir.display(),
    );
    #[allow(clippy::print_stdout)]
    {
        println!("{banner}");
    }
    serve(config, store)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Collapses a multi-line driver message into one line.
fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn open_store(config: &Config) -> Result<Arc<Store>, Fatal> {
    let target = match &config.database {
        DatabaseUrl::Sqlite(path) => DbTarget::Sqlite(path.clone()),
        DatabaseUrl::Postgres(url) => DbTarget::Postgres(url.clone()),
    };
    let options = StoreOptions {
        max_connections: config.database_max_connections,
        ..StoreOptions::default()
    };
    let store = Store::open(target, &options)
        .map_err(|e| Fatal(format!("DATABASE_URL: {}", one_line(&e.to_string())), 1))?;
    let applied = store
        .migrate()
        .map_err(|e| Fatal(format!("DATABASE_URL: {}", one_line(&e.to_string())), 1))?;
    tracing::info!(database = %store.target().redacted(), applied = applied.len(), "database ready");
    // Plans stored before full-text search existed get their entries once.
    let indexed = store
        .index_missing_plans()
        .map_err(|e| Fatal(format!("search index: {}", one_line(&e.to_string())), 1))?;
    if indexed > 0 {
        tracing::info!(plans = indexed, "search index: plans indexed");
    }
    Ok(store)
}

fn link_identity(
    store: Arc<Store>,
    login: &str,
    provider: &str,
    subject: &str,
) -> Result<(), Fatal> {
    let provider = planpush_identity::Provider::from_key(provider)
        .map_err(|e| Fatal(format!("--provider: {e}"), 2))?;
    let identity = planpush_identity::ExternalIdentity::new(provider, subject)
        .map_err(|e| Fatal(format!("--subject: {e}"), 2))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the runtime: {e}"), 1))?;
    let ports = store.ports();
    let sign_in = planpush_app::SignIn::new(
        ports.clone(),
        Arc::new(planpush_app::AccessCache::new(ports)),
    );
    let user = runtime
        .block_on(sign_in.link_identity(login, &identity, chrono::Utc::now()))
        .map_err(|e| Fatal(format!("link-identity: {}", one_line(&e.to_string())), 1))?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "linked {} {} to {login} ({user})",
            identity.provider().key(),
            identity.subject()
        );
    }
    Ok(())
}

fn grant_admin(store: Arc<Store>, login: &str) -> Result<(), Fatal> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the runtime: {e}"), 1))?;
    let ports = store.ports();
    let sign_in = planpush_app::SignIn::new(
        ports.clone(),
        Arc::new(planpush_app::AccessCache::new(ports)),
    );
    let user = runtime
        .block_on(sign_in.grant_admin(login, chrono::Utc::now()))
        .map_err(|e| Fatal(format!("grant-admin: {}", one_line(&e.to_string())), 1))?;
    // Servers running on the same PostgreSQL database drop what they cached about the user.
    if store.backend() == planpush_store::Backend::Postgres
        && let Err(e) = runtime.block_on(PgCluster::announce_user(&store, user))
    {
        tracing::warn!(error = %format!("{e:#}"), "running servers were not told; they see the grant within 30 s");
    }
    #[allow(clippy::print_stdout)]
    {
        println!("{login} ({user}) is an admin (manual grant)");
    }
    Ok(())
}

/// The sign-in mode the configuration asks for. In OIDC mode this discovers the issuer (and
/// fetches its keys) before the server listens, so a wrong `OKTA_ISSUER` stops start-up at once.
async fn sign_in_mode(config: &Config) -> Result<SignInMode, Fatal> {
    match &config.auth {
        AuthConfig::Dev => Ok(SignInMode::Dev),
        AuthConfig::Github(g) => {
            let provider = planpush_auth::GithubProvider::new(planpush_auth::GithubSettings {
                client_id: g.client_id.clone(),
                client_secret: g.client_secret.expose().clone(),
                org: g.org.clone(),
                web_url: g.url.as_str().to_owned(),
                api_url: g.api_url.as_str().to_owned(),
                redirect_uri: config.base_url.join("/auth/callback"),
            })
            .map_err(|e| Fatal(format!("GITHUB_URL: {}", one_line(&format!("{e:#}"))), 2))?;
            Ok(SignInMode::Provider(Arc::new(provider)))
        }
        AuthConfig::Okta(o) => {
            let provider = planpush_auth::OidcProvider::discover(planpush_auth::OidcSettings {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.expose().clone(),
                redirect_uri: config.base_url.join("/auth/callback"),
                post_logout_redirect_uri: config.post_logout_redirect_uri.clone(),
                jwks_min_refresh: planpush_auth::DEFAULT_JWKS_MIN_REFRESH,
            })
            .await
            .map_err(|e| Fatal(format!("OKTA_ISSUER: {}", one_line(&format!("{e:#}"))), 2))?;
            Ok(SignInMode::Provider(provider))
        }
    }
}

/// Who may sign in: group mapping with bootstrap admins in OIDC mode, first-user-admin otherwise.
fn admission(config: &Config) -> Admission {
    match config.auth {
        AuthConfig::Okta(_) => Admission::GroupMapping {
            bootstrap_admins: config.initial_admin_emails.clone(),
        },
        AuthConfig::Github(_) | AuthConfig::Dev => Admission::FirstUserAdmin,
    }
}

/// Every 15 seconds: notifications due and the oldest one's age, and the database pool's
/// connections (`planpush_outbox_*`, `planpush_db_connections` on `/metrics`).
async fn sample_gauges(store: Arc<Store>, outbox: Arc<dyn planpush_app::Outbox>) {
    use planpush_web::metrics::{DB_CONNECTIONS, OUTBOX_DUE, OUTBOX_OLDEST};
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        match outbox.due(now, 10_000).await {
            Ok(due) => {
                metrics::gauge!(OUTBOX_DUE).set(due.len() as f64);
                let oldest = due.iter().map(|m| m.created_at).min();
                let age = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1e3);
                metrics::gauge!(OUTBOX_OLDEST).set(age);
            }
            Err(e) => tracing::warn!(error = %e, "sampling the outbox for /metrics failed"),
        }
        let (idle, in_use) = store.pool_state();
        metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(idle));
        metrics::gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    }
}

/// How often the expiry sweep runs, and how long its lease lasts with several processes (less
/// than the period, so the holder renews it at its next tick and a dead holder's lease has run out
/// by the others' next one).
const SWEEP_EVERY: Duration = Duration::from_secs(600);
const SWEEP_LEASE: Duration = Duration::from_secs(540);
/// How long live events are kept for `Last-Event-ID` replay with several processes.
const LIVE_EVENTS_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Starts this process's `LISTEN/NOTIFY` link to the other processes on the database.
fn start_cluster(store: &Arc<Store>) -> Result<Arc<PgCluster>, Fatal> {
    let cluster = PgCluster::start(store.clone(), ClusterSettings::default())
        .map_err(|e| Fatal(format!("DATABASE_URL: {}", one_line(&format!("{e:#}"))), 1))?;
    tracing::info!(
        "PostgreSQL: listening for the other server processes on this database (LISTEN {})",
        planpush_store::cluster::CHANNEL
    );
    Ok(cluster)
}

/// The expiry sweep, every [`SWEEP_EVERY`]. Every process runs this loop; with several processes
/// only the holder of the `sweep` lease sweeps (the deletes are idempotent anyway: the lease saves
/// the others the work). It also drops old live events and refilled rate-limit rows.
async fn sweep_forever(
    maintenance: Maintenance,
    cluster: Option<Arc<PgCluster>>,
    store: Arc<Store>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if let Some(c) = &cluster {
            match c.try_lease("sweep", SWEEP_LEASE).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!("another process holds the sweep's lease");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "taking the sweep's lease failed");
                    continue;
                }
            }
        }
        let now = chrono::Utc::now();
        match maintenance.sweep(now).await {
            Ok(swept) => tracing::debug!(?swept, "swept expired rows"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired rows failed"),
        }
        if let Some(c) = &cluster {
            let limits = planpush_store::ratelimit::PgRateLimiter::new(store.clone());
            match (
                c.purge_events(now - LIVE_EVENTS_KEPT).await,
                limits.prune().await,
            ) {
                (Ok(events), Ok(limits)) => {
                    tracing::debug!(events, limits, "swept live events and rate limits")
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "sweeping live events or rate limits failed")
                }
            }
        }
    }
}

/// How often the digest job looks for daily digests that are due, and how long its lease lasts with
/// several processes (as the sweep's).
const DIGEST_EVERY: Duration = Duration::from_secs(600);
const DIGEST_LEASE: Duration = Duration::from_secs(540);

/// The daily e-mail digests, every [`DIGEST_EVERY`]: each `daily` user whose previous digest is a
/// day old gets one outbox row. Every process runs this loop; with several processes only the
/// holder of the `digest` lease assembles (and each digest is written once anyway: its row and
/// the user's new cut-off are one transaction guarded by the old cut-off).
async fn digest_forever(
    emails: planpush_app::Emails,
    cluster: Option<Arc<PgCluster>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(DIGEST_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if let Some(c) = &cluster {
            match c.try_lease("digest", DIGEST_LEASE).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!("another process holds the digest's lease");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "taking the digest's lease failed");
                    continue;
                }
            }
        }
        match emails.run_digests(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(digests = n, "daily e-mail digests queued"),
            Err(e) => tracing::warn!(error = %e, "assembling the daily e-mail digests failed"),
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Delivers every due message, waits `poll`, again, until `stop` turns true (checked between
/// messages, so an attempt in flight is finished first).
async fn deliver_until_stopped(
    deliveries: Deliveries,
    poll: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        loop {
            if *stop.borrow() {
                return;
            }
            match deliveries.deliver_next(chrono::Utc::now()).await {
                Ok(Some((m, outcome))) => {
                    tracing::debug!(id = %m.id, ?outcome, "notification attempt")
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "the notification outbox is unavailable");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The webhook adapter's parts: the sealing keys (from `SECRET_KEY` and `SECRET_KEY_PREVIOUS`) and
/// the internal networks webhooks may reach (`WEBHOOK_ALLOWED_NETWORKS`).
fn webhook_parts(
    config: &Config,
) -> (
    Arc<planpush_slack::webhook::hooks::SecretBox>,
    planpush_slack::webhook::hooks::AllowedNetworks,
) {
    let previous: Vec<Vec<u8>> = config
        .previous_secret_keys
        .iter()
        .map(|k| k.expose().as_bytes().to_vec())
        .collect();
    let secrets = Arc::new(planpush_slack::webhook::hooks::SecretBox::new(
        config.secret_key.expose().as_bytes(),
        &previous,
    ));
    let networks = config.webhook_allowed_networks.clone();
    (secrets, Arc::new(move |ip| networks.contains(ip)))
}

/// The unsubscribe links' keys (from `SECRET_KEY` and `SECRET_KEY_PREVIOUS`).
fn link_keys(config: &Config) -> Arc<planpush_mail::LinkKeys> {
    let previous: Vec<Vec<u8>> = config
        .previous_secret_keys
        .iter()
        .map(|k| k.expose().as_bytes().to_vec())
        .collect();
    Arc::new(planpush_mail::LinkKeys::new(
        config.secret_key.expose().as_bytes(),
        &previous,
    ))
}

/// The delivery worker: registered webhooks always (admins add them at run time), and the chat
/// channels that are configured (`SLACK_WEBHOOK_URL`, `TEAMS_WEBHOOK_URL`, `DISCORD_WEBHOOK_URL`).
fn deliveries(config: &Config, ports: &planpush_app::Ports) -> Result<Deliveries, Fatal> {
    use planpush_slack::{Chat, ChatNotifier};
    let configured = [
        (Chat::Slack, "SLACK_WEBHOOK_URL", &config.slack_webhook_url),
        (Chat::Teams, "TEAMS_WEBHOOK_URL", &config.teams_webhook_url),
        (
            Chat::Discord,
            "DISCORD_WEBHOOK_URL",
            &config.discord_webhook_url,
        ),
    ];
    let chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1));
    let settings = DeliverySettings {
        lease: chrono(config.outbox.lease()),
        retry_base: chrono(config.outbox.retry_base),
        max_attempts: OUTBOX_MAX_ATTEMPTS,
    };
    let (secrets, allow) = webhook_parts(config);
    let hooks = planpush_slack::webhook::hooks::WebhookNotifier::new(
        ports.webhooks.clone(),
        ports.outbox.clone(),
        secrets,
        allow,
        config.base_url.as_str(),
        config.outbox.slack_timeout,
    );
    let mut worker = Deliveries::new(ports.clone(), Arc::new(hooks), settings)
        .with_burst(chrono(config.outbox.burst_window));
    for (chat, var, url) in configured {
        let Some(url) = url else { continue };
        let notifier = ChatNotifier::for_chat(
            chat,
            url.expose().clone(),
            config.base_url.as_str(),
            config.outbox.slack_timeout,
        )
        .map_err(|e| Fatal(format!("{var}: {e:#}"), 1))?;
        let notifier = Arc::new(notifier);
        worker = worker.with(notifier);
    }
    if let Some(emails) = emails(config, ports)? {
        worker = worker.with(Arc::new(planpush_app::EmailNotifier::new(emails)));
    }
    Ok(worker)
}

/// E-mail (`SMTP_URL`, `SMTP_FROM`): the use cases with the SMTP mailer, the inbox and the
/// unsubscribe keys; `None` when `SMTP_URL` is unset.
fn emails(
    config: &Config,
    ports: &planpush_app::Ports,
) -> Result<Option<planpush_app::Emails>, Fatal> {
    let Some(smtp) = &config.smtp else {
        return Ok(None);
    };
    // Validated by Config; a failure here names the variable, never the URL.
    let mailer = planpush_mail::SmtpMailer::new(
        smtp.url.expose(),
        &smtp.from,
        config.base_url.as_str(),
        config.outbox.slack_timeout,
    )
    .map_err(|e| Fatal(format!("SMTP_URL: {e}"), 2))?;
    Ok(Some(
        planpush_app::Emails::new(
            ports.clone(),
            Arc::new(planpush_app::AccessCache::new(ports.clone())),
            config.base_url.as_str(),
        )
        .with_keys(link_keys(config))
        .with_delivery(
            Arc::new(planpush_app::RepositoryInbox::new(ports.inbox.clone())),
            Arc::new(mailer),
        ),
    ))
}

/// The separate `/metrics` listener (`METRICS_ADDR`): one worker, nothing else on it.
fn metrics_listener(addr: std::net::SocketAddr) -> Result<actix_web::dev::Server, Fatal> {
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().configure(planpush_web::metrics::listener)
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .bind(addr)
    .map_err(|e| Fatal(format!("METRICS_ADDR: cannot listen on {addr}: {e}"), 1))?;
    tracing::info!(%addr, "serving /metrics on METRICS_ADDR");
    Ok(server.run())
}

fn serve(config: Config, store: Arc<Store>) -> Result<(), Fatal> {
    if config.auth_provider() == AuthProvider::Dev {
        tracing::warn!(
            "AUTH_PROVIDER=dev: anyone who can reach {} can sign in as anyone. For demos and tests only.",
            config.base_url
        );
    }
    // PostgreSQL: this process may be one of several; live events, cache invalidations and rate
    // limits go through the database (docs/operations.md, "Several processes").
    let cluster = match store.backend() {
        planpush_store::Backend::Postgres => Some(start_cluster(&store)?),
        planpush_store::Backend::Sqlite => {
            tracing::info!(
                "SQLite: this process serves the database alone (run several processes on PostgreSQL)"
            );
            None
        }
    };
    let mut ports = store.ports();
    if let Some(c) = &cluster {
        ports.events = c.clone();
    }
    let outbox = ports.outbox.clone();
    let proxies = config.trusted_proxies.clone();
    let policy = SessionPolicy {
        idle_timeout: chrono::Duration::seconds(
            i64::try_from(config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX),
        ),
        max_age: chrono::Duration::seconds(
            i64::try_from(config.session_max_age.as_secs()).unwrap_or(i64::MAX),
        ),
    };
    let settings = WebSettings {
        base_url: config.base_url.as_str().to_owned(),
        cookie_secure: config.cookie_secure,
        secret_key: config.secret_key.expose().as_bytes().to_vec(),
        trusted_proxy: Arc::new(move |ip| proxies.contains(ip)),
        session_policy: policy,
        sanitize: planpush_document::SanitizeOptions {
            allow_remote_images: config.allow_remote_images,
        },
    };
    let deliveries = deliveries(&config, &ports)?;
    // Events go to the chat channels and webhooks; e-mail is written per inbox notification
    // instead (`with_email`), never per event.
    let notify = deliveries
        .channels()
        .into_iter()
        .filter(|c| *c != planpush_app::EMAIL_CHANNEL)
        .fold(Notifications::off(), Notifications::and)
        .with_email(config.smtp.is_some())
        .with_burst(
            chrono::Duration::from_std(config.outbox.burst_window)
                .unwrap_or(chrono::Duration::zero()),
        )
        .with_resolve_window(
            chrono::Duration::from_std(config.outbox.resolve_window)
                .unwrap_or(chrono::Duration::minutes(10)),
        );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the runtime: {e}"), 1))?;
    let mode = runtime.block_on(sign_in_mode(&config))?;
    let state = match &cluster {
        Some(c) => AppState::clustered(
            ports.clone(),
            mode,
            settings,
            Arc::new(planpush_store::ratelimit::PgRateLimiter::new(store.clone())),
            Arc::new(planpush_diagrams::MermaidRenderer),
            c.clone(),
        ),
        None => AppState::new(
            ports.clone(),
            mode,
            settings,
            RateLimits::new(),
            Arc::new(planpush_diagrams::MermaidRenderer),
        ),
    }
    .with_notifications(notify)
    .with_webhooks(
        {
            let (secrets, allow) = webhook_parts(&config);
            Arc::new(planpush_slack::webhook::hooks::HookKeys::new(
                secrets, allow,
            ))
        },
        Arc::new(planpush_slack::webhook::test_envelope),
    )
    // E-mail settings and one-click unsubscribe links (the links work even while SMTP_URL is unset,
    // so an e-mail already sent can still stop the next ones).
    .with_email(link_keys(&config), config.smtp.is_some())
    .with_admission(admission(&config))
    .with_default_visibility(config.default_visibility);
    // SCIM 2.0 is on only with SCIM_AUTH_TOKEN (validated by Config); otherwise /scim/v2 is 404.
    let state = match &config.scim_auth_token {
        Some(token) => state.with_scim(token.expose()),
        None => state,
    };
    // SECRET_KEY_PREVIOUS: session cookies sealed under an earlier key keep working.
    let state = state.with_previous_secret_keys(
        config
            .previous_secret_keys
            .iter()
            .map(|k| k.expose().as_bytes().to_vec())
            .collect(),
    );
    // RENDER_THREADS / RENDER_QUEUE: pushes render on a bounded pool, never on the request workers.
    // Their threads yield the CPU to the request workers and the store (see `render_priority`).
    let pool = planpush_app::CpuPool::with_start(
        config.render_threads,
        config.render_queue,
        render_priority::lower_this_thread,
    )
    .map_err(|e| Fatal(format!("cannot start the render threads: {e}"), 1))?;
    tracing::info!(
        threads = pool.threads(),
        queue = pool.queue(),
        "render pool started"
    );
    let state = state.with_pool(pool);
    // METRICS_ADDR: /metrics moves to a listener of its own and leaves the main port.
    let state = match config.metrics_addr {
        Some(_) => state.with_metrics_elsewhere(),
        None => state,
    };
    let stopping = state.clone();
    let digest_ports = ports.clone();
    let maintenance = Maintenance::new(
        ports,
        planpush_versions::RetentionPolicy::days(config.version_retention_days),
    );
    let addr = config.socket_addr();
    // Kept to close the pool last and say so (every other holder is gone by then).
    let pool = store.clone();
    runtime.block_on(async move {
        // Turns true at SIGTERM/SIGINT: background work takes nothing new from then on.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        // Expired sessions, device grants, tokens and cache entries are swept every ten minutes
        // (with several processes, by the one holding the sweep's lease; a sweep under way when
        // the stop comes is finished, none starts after it).
        let sweeper = tokio::spawn(sweep_forever(
            maintenance,
            cluster.clone(),
            store.clone(),
            stopped.clone(),
        ));
        // Daily e-mail digests (SMTP_URL): queued every ten minutes for the users they are due for.
        let digests = emails(&config, &digest_ports)?
            .map(|emails| tokio::spawn(digest_forever(emails, cluster.clone(), stopped.clone())));
        // Gauges for /metrics that no request updates: the outbox backlog and the pool.
        tokio::spawn({
            let mut stopped = stopped.clone();
            let sampling = sample_gauges(store.clone(), outbox.clone());
            async move {
                tokio::select! {
                    _ = sampling => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        // Notifications leave the outbox in the background: a slow or failing Slack never slows a
        // request. Each attempt is bounded by SLACK_TIMEOUT_MS. On shutdown the worker finishes the
        // attempt in flight (so a deploy does not re-send it) and takes no new one.
        let worker = tokio::spawn(deliver_until_stopped(
            deliveries,
            config.outbox.poll_interval,
            stopped,
        ));
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(state.session_middleware())
                // gzip or brotli for clients that accept them (pages, JSON, assets).
                .wrap(actix_web::middleware::Compress::default())
                // No response of ours may be sniffed into a script or a stylesheet (the CSP's
                // `script-src 'self'` relies on it; see docs/architecture.md).
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("x-content-type-options", "nosniff")),
                )
                .configure(planpush_web::configure(state.clone()))
                // Outermost: every log line of a request, middleware included, carries its id.
                .wrap(actix_web::middleware::from_fn(
                    planpush_web::request_id::middleware,
                ))
        })
        .shutdown_timeout(DRAIN.as_secs())
        // A browser that closes a live-update stream may end its side of the connection with a
        // FIN only: end the stream at once (its reader leaves the plan's presence, the viewer
        // gauge drops) instead of at the next failed keep-alive write, 15–30 s later. No client
        // of ours half-closes a connection while it waits for an answer.
        .h1_allow_half_closed(false)
        .disable_signals()
        .bind(addr)
        .map_err(|e| Fatal(format!("BIND_ADDR/PORT: cannot listen on {addr}: {e}"), 1))?;
        let metrics_server = config.metrics_addr.map(metrics_listener).transpose()?;
        tracing::info!(%addr, base_url = %config.base_url, "listening");
        let server = server.run();
        let metrics_server = metrics_server.map(|s| {
            let handle = s.handle();
            tokio::spawn(s);
            handle
        });
        // SIGTERM or SIGINT: end the live-update streams with a reconnect hint (so they do not hold
        // the drain for its 30 seconds, and browsers move to another process), tell the background
        // work to take nothing new (the delivery in flight finishes while requests drain), then
        // stop accepting and drain in-flight requests.
        tokio::spawn({
            let handle = server.handle();
            let stop = stop.clone();
            async move {
                wait_for_stop_signal().await;
                tracing::info!("stopping: ending live streams, draining requests");
                stopping.begin_shutdown();
                stop.send_replace(true);
                handle.stop(true).await;
            }
        });
        server
            .await
            .map_err(|e| Fatal(format!("server error: {e}"), 1))?;
        stop.send_replace(true);
        if let Some(metrics_server) = metrics_server {
            metrics_server.stop(true).await;
        }
        // Already told to stop when the drain began: this waits only for what is left of an
        // attempt in flight.
        let grace = config.outbox.slack_timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, worker).await.is_err() {
            tracing::warn!("the notification worker did not stop in time");
        }
        if let Some(digests) = digests
            && tokio::time::timeout(BACKGROUND_GRACE, digests)
                .await
                .is_err()
        {
            tracing::warn!("the digest job in progress did not finish in time");
        }
        if tokio::time::timeout(BACKGROUND_GRACE, sweeper)
            .await
            .is_err()
        {
            tracing::warn!("the sweep in progress did not finish in time");
        }
        if let Some(c) = &cluster {
            c.stop();
        }
        Ok::<(), Fatal>(())
    })?;
    runtime.shutdown_timeout(BACKGROUND_GRACE);
    close_pool(pool);
    tracing::info!("stopped");
    Ok(())
}

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(30);
/// How long a sweep in progress, and then the runtime's remaining tasks, may take after the drain.
const BACKGROUND_GRACE: Duration = Duration::from_secs(5);

/// Closes the database pool (every connection: SQLite checkpoints its write-ahead log, PostgreSQL
/// sees a clean disconnect) once nothing else holds it, waiting at most a second for the HTTP
/// workers to let go of their state.
fn close_pool(pool: Arc<Store>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let mut pool = pool;
    loop {
        match Arc::try_unwrap(pool) {
            Ok(store) => {
                drop(store);
                tracing::info!("database pool closed");
                return;
            }
            Err(shared) if std::time::Instant::now() < deadline => {
                pool = shared;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => {
                tracing::warn!("database connections still held at exit; the OS closes them");
                return;
            }
        }
    }
}
