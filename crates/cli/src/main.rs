//! The `planpush` binary; everything lives in the library (`lib.rs`).

fn main() -> std::process::ExitCode {
    planpush_cli::main()
}
