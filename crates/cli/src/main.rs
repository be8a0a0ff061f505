//! `planpush`: the command-line client used by people and by the Claude Code plugin.
//!
//! Its commands (`login`, `push`, `comments`, `whoami`, `logout`, `open`) arrive with issue #7; until
//! then it only answers `--version` and `--help`, and says so.

use clap::Parser;

/// The PlanPush command-line client.
#[derive(Parser)]
#[command(
    name = "planpush",
    version,
    about = "The PlanPush command-line client",
    after_help = "The login, push and comments commands are not available in this build yet."
)]
struct Cli {}

fn main() {
    Cli::parse();
}
