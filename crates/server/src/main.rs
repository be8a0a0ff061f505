//! `planpush-server`: the self-hosted PlanPush server.
//!
//! Reads and validates the configuration once, opens the database (running migrations), wires the
//! storage adapter into the application and serves HTTP until SIGTERM or SIGINT, draining
//! connections before it exits.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use planpush_app::Health;
use planpush_server::config::{AuthProvider, Config, ConfigError, DatabaseUrl, LogFormat};
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_web::AppState;

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
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => return Err(Fatal(format!(".env: {}", one_line(&e.to_string())), 2)),
    }
    let config = Config::from_env()?;
    init_tracing(config.log_format);
    let store = open_store(&config)?;
    match cli.command {
        Command::Migrate => Ok(()),
        Command::Serve => serve(config, store),
    }
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
    let store = Store::open(target, &StoreOptions::default())
        .map_err(|e| Fatal(format!("DATABASE_URL: {}", one_line(&e.to_string())), 1))?;
    let applied = store
        .migrate()
        .map_err(|e| Fatal(format!("DATABASE_URL: {}", one_line(&e.to_string())), 1))?;
    tracing::info!(database = %store.target().redacted(), applied = applied.len(), "database ready");
    Ok(store)
}

fn serve(config: Config, store: Arc<Store>) -> Result<(), Fatal> {
    if config.auth_provider() == AuthProvider::Dev {
        tracing::warn!(
            "AUTH_PROVIDER=dev: anyone who can reach {} can sign in as anyone. For demos and tests only.",
            config.base_url
        );
    }
    let ports = store.ports();
    let state = AppState {
        health: Health::new(ports),
    };
    let addr = config.socket_addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the runtime: {e}"), 1))?;
    runtime.block_on(async move {
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new().configure(planpush_web::configure(state.clone()))
        })
        .shutdown_timeout(30)
        .bind(addr)
        .map_err(|e| Fatal(format!("BIND_ADDR/PORT: cannot listen on {addr}: {e}"), 1))?;
        tracing::info!(%addr, base_url = %config.base_url, "listening");
        // `run` handles SIGTERM and SIGINT: stop accepting, drain in-flight requests, then return.
        server
            .run()
            .await
            .map_err(|e| Fatal(format!("server error: {e}"), 1))?;
        tracing::info!("stopped");
        Ok::<(), Fatal>(())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}
