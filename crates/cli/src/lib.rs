//! `planpush`: the command-line client used by people and by the Claude Code plugin.
//!
//! - [`config`]: the credentials file (0600, written atomically, refresh under a lock).
//! - [`project`]: `.planpush/sessions.json`, the per-project memory of pushed plans.
//! - [`api`]: blocking HTTP over rustls, with automatic token refresh.
//! - [`commands`]: `login`, `push`, `comments`, `reply`, `resolve`, `whoami`, `logout`, `open`, `search`,
//!   `export`.
//! - [`check`]: `planpush check`, a document's problems found locally (no server).
//! - [`mcp`]: `planpush mcp`, the same operations as MCP tools over stdio.
//! - [`error`]: what went wrong, in words and as a distinct exit code (see `docs/cli.md`).
//!
//! The CLI talks to the server over HTTP only: no database, no web framework, and no async runtime
//! except inside `planpush mcp`, which starts a single-threaded tokio runtime for the MCP SDK
//! (`cargo xtask arch` allows tokio only in `src/mcp.rs`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod api;
pub mod check;
pub mod commands;
pub mod config;
pub mod error;
pub mod mcp;
pub mod project;
pub mod review;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{
    Ctx, ExportArgs, ExportComments, ExportFormat, Format, OutputFormat, PushArgs, State,
    Visibility,
};
use crate::config::Store;
use crate::error::CliError;

/// The PlanPush command-line client: sign in, push plans, read their comments.
#[derive(Parser)]
#[command(
    name = "planpush",
    version,
    about = "The PlanPush command-line client: sign in, push plans, read their comments",
    after_help = "Files: credentials in $PLANPUSH_CONFIG_DIR (default ~/.config/planpush), \
                  pushed plans remembered in .planpush/sessions.json of the project.\n\
                  Exit codes and more: docs/cli.md"
)]
pub struct Cli {
    /// The PlanPush server (e.g. https://planpush.example.com); default: the last one signed in to
    #[arg(long, global = true, env = "PLANPUSH_SERVER", value_name = "URL")]
    server: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in through the browser (device flow) and store the credentials
    Login,
    /// Push an HTML or Markdown document as a new plan or a new version of it
    Push {
        /// The document (.html/.htm or .md/.markdown)
        file: PathBuf,
        /// The plan's name (its URL is /p/NAME); default: remembered for this file, else from <h1>
        #[arg(long)]
        name: Option<String>,
        /// Create the plan private (only you and admins/project managers see it); default: the
        /// server's DEFAULT_VISIBILITY
        #[arg(long, conflicts_with = "publish")]
        private: bool,
        /// Create the plan published (everyone signed in sees it), or publish it if it is private
        #[arg(long)]
        publish: bool,
        /// Open threads (comment ids) this version addresses: the page shows "addressed in vN"
        /// on them (comma-separated or repeated)
        #[arg(long, value_name = "COMMENT_ID")]
        addresses: Vec<String>,
        /// Open the plan in the browser afterwards
        #[arg(long)]
        open: bool,
        /// The document's format, when the extension does not tell
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Print the server's JSON answer (errors too, as {"error","message","exit_code"})
        #[arg(long)]
        json: bool,
    },
    /// List a plan's comments (what the assistant reads before regenerating it)
    Comments {
        /// The plan's name
        name: String,
        #[arg(long, value_enum, default_value = "open")]
        state: State,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Reply on a comment thread (what the assistant says it changed)
    Reply {
        /// The plan's name
        name: String,
        /// The thread's id (`planpush comments NAME --format json` lists them)
        comment_id: String,
        /// The reply (plain text; **bold**, *italic* and `code` are rendered)
        text: String,
        /// Also resolve the thread
        #[arg(long)]
        resolve: bool,
    },
    /// Resolve comment threads (or reopen them with --reopen)
    Resolve {
        /// Thread ids
        #[arg(required = true, value_name = "COMMENT_ID")]
        ids: Vec<String>,
        #[arg(long)]
        reopen: bool,
    },
    /// Sign-off per version: request a review, see who approved which version, approve or
    /// request changes
    Review {
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// Check a document before pushing it: anchors, ids and classes against the vocabulary,
    /// what the server would drop, hand-drawn SVG rules, and every Mermaid block drawn locally.
    /// Prints FILE:LINE: problems; exits 13 on an error (or a warning, with --strict)
    Check {
        /// The document (.html/.htm or .md/.markdown)
        file: PathBuf,
        /// Fail on warnings too
        #[arg(long)]
        strict: bool,
        /// The document's format, when the extension does not tell
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Serve the MCP tools (check_plan, push_plan, list_plans, get_plan, list_comments, reply_to_comment,
    /// resolve_comment, review_status) over stdio, for Claude Code, Codex CLI, Cursor, Gemini CLI…
    Mcp,
    /// Show who you are signed in as, and your roles
    Whoami,
    /// Sign out: revoke this CLI's tokens on the server and forget them here
    Logout,
    /// Open a plan in the browser (and print its URL)
    Open {
        /// The plan's name
        name: String,
    },
    /// Search every plan, section and comment you may see (titles, text, comment bodies)
    Search {
        /// Words to look for (each matches the start of a word; all must match)
        query: Vec<String>,
        /// Include archived plans
        #[arg(long)]
        archived: bool,
        /// At most this many results (1-50)
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Export a version of a plan as one self-contained HTML file or as Markdown
    Export {
        /// The plan's name
        name: String,
        /// The version (default: the latest)
        #[arg(long = "version", short = 'v', value_name = "N")]
        version: Option<u32>,
        /// html (self-contained, prints well) or md
        #[arg(long, value_enum, default_value = "html")]
        format: ExportFormat,
        /// Append the plan's comments: open threads, or all of them
        #[arg(long, value_enum)]
        comments: Option<ExportComments>,
        /// Write to this file instead of standard output
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReviewAction {
    /// Ask people (or everyone holding a role) to review a version of a plan
    Request {
        /// The plan's name
        name: String,
        /// A reviewer's login (repeated or comma-separated)
        #[arg(long = "reviewer", value_name = "LOGIN")]
        reviewers: Vec<String>,
        /// Everyone holding this role: admin, project_manager, developer, qa
        #[arg(long)]
        role: Option<String>,
        /// The version to review (default: the latest)
        #[arg(long = "version", short = 'v', value_name = "N")]
        version: Option<u32>,
        /// Review only these anchors (repeated); an approval then survives later versions that
        /// change none of them and nothing the reviewer commented on
        #[arg(long = "anchor", value_name = "ANCHOR")]
        anchors: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Who approved which version, who asked for changes, who has yet to answer — and why
    Status {
        /// The plan's name
        name: String,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Approve the latest version (or --version N) of a plan you were asked to review
    Approve {
        name: String,
        #[arg(long = "version", short = 'v', value_name = "N")]
        version: Option<u32>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Request changes on the latest version (or --version N); --comment says which
    RequestChanges {
        name: String,
        #[arg(long = "version", short = 'v', value_name = "N")]
        version: Option<u32>,
        #[arg(long)]
        comment: String,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
}

fn review(ctx: &Ctx, action: ReviewAction) -> Result<(), CliError> {
    let (status, format) = match action {
        ReviewAction::Request {
            name,
            reviewers,
            role,
            version,
            anchors,
            format,
        } => (
            review::request(
                ctx,
                &name,
                &review::ReviewAsk {
                    reviewers,
                    role,
                    version,
                    anchors,
                },
            )?,
            format,
        ),
        ReviewAction::Status { name, format } => (review::status(ctx, &name)?, format),
        ReviewAction::Approve {
            name,
            version,
            comment,
            format,
        } => (
            review::verdict(ctx, &name, true, version, comment.as_deref())?,
            format,
        ),
        ReviewAction::RequestChanges {
            name,
            version,
            comment,
            format,
        } => (
            review::verdict(ctx, &name, false, version, Some(&comment))?,
            format,
        ),
    };
    review::print(&status, format);
    Ok(())
}

/// Runs the CLI on the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = matches!(cli.command, Command::Push { json: true, .. });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": e.code(), "message": e.to_string(), "exit_code": e.exit_code()})
                );
            }
            eprintln!("planpush: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    // Before the context: a corrupt credentials file must not stop a local check.
    if let Command::Check {
        file,
        strict,
        format,
    } = &cli.command
    {
        return check::run(file, *format, *strict);
    }
    let ctx = Ctx {
        server: cli.server.filter(|s| !s.trim().is_empty()),
        token: std::env::var("PLANPUSH_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty()),
        store: Store::from_env()?,
        cwd: std::env::current_dir().map_err(|source| CliError::File {
            what: "cannot read",
            path: ".".into(),
            source,
        })?,
    };
    match cli.command {
        Command::Login => commands::login(&ctx),
        Command::Push {
            file,
            name,
            private,
            publish,
            addresses,
            open,
            format,
            json,
        } => commands::push(
            &ctx,
            &PushArgs {
                file,
                name,
                visibility: match (private, publish) {
                    (true, _) => Some(Visibility::Private),
                    (_, true) => Some(Visibility::Published),
                    _ => None,
                },
                addresses,
                open,
                format,
                json,
            },
        ),
        Command::Comments {
            name,
            state,
            format,
        } => commands::comments(&ctx, &name, state, format),
        Command::Reply {
            name,
            comment_id,
            text,
            resolve,
        } => commands::reply(&ctx, &name, &comment_id, &text, resolve),
        Command::Resolve { ids, reopen } => commands::resolve(&ctx, &ids, reopen),
        Command::Review { action } => review(&ctx, action),
        // Returned above already (checking needs no server and no credentials).
        Command::Check {
            file,
            strict,
            format,
        } => check::run(&file, format, strict),
        Command::Mcp => mcp::serve(ctx),
        Command::Whoami => commands::whoami(&ctx),
        Command::Logout => commands::logout(&ctx),
        Command::Open { name } => commands::open(&ctx, &name),
        Command::Search {
            query,
            archived,
            limit,
            format,
        } => commands::search(&ctx, &query.join(" "), archived, limit, format),
        Command::Export {
            name,
            version,
            format,
            comments,
            output,
        } => commands::export(
            &ctx,
            &ExportArgs {
                name,
                version,
                format,
                comments,
                output,
            },
        ),
    }
}
