//! Links the release `planpush-server` with the functions it runs at start-up and on its common
//! requests laid out together (`startup.order`, written by `cargo xtask order`).
//!
//! The kernel maps an executable's code in 64 KB runs around each page the process touches, and
//! the ~3,000 functions a start-up runs (2.5 MB of code) were spread over the 28 MB of `.text`:
//! idle, the server had ~16 MB of its code resident; laid out in the file's order, ~3 MB. Names
//! the linker does not find (code changed since the file was written) are skipped, so a stale file
//! costs memory, never correctness. The static image binary's names of the same functions follow
//! a line starting with `#`, which LLD reads as a comment.
//!
//! Only where the linker is known to be LLD, which reads the file: x86-64 Linux release builds
//! with Rust 1.90 or newer (LLD is then the default linker) and no linker chosen in the cargo
//! configuration or `RUSTFLAGS`. `PLANPUSH_SYMBOL_ORDER=off` links without it. With LLD the
//! relative relocations are also packed (below).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=startup.order");
    println!("cargo:rerun-if-env-changed=PLANPUSH_SYMBOL_ORDER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let linker_chosen = !var("RUSTC_LINKER").is_empty()
        || ["linker", "-fuse-ld", "link-self-contained"]
            .iter()
            .any(|f| flags.contains(f));
    let lld = var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && !linker_chosen
        && lld_by_default(&var("RUSTC"));
    if lld && var("PLANPUSH_SYMBOL_ORDER") != "off" {
        let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("startup.order");
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            file.display()
        );
    }
    // Relative relocations packed (RELR, `DT_RELR`): the ~90,000 pointers the loader fixes up at
    // start-up are listed in 27 KB instead of the 2.1 MB `.rela.dyn` it reads (and keeps resident)
    // otherwise; still a position-independent executable. glibc 2.36 or newer loads such a binary
    // and older ones refuse it, so only where the building machine's glibc (where `cargo install`
    // runs it) is new enough, and not for the static image binary (`+crt-static`), whose start-up
    // code relocates itself.
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if lld && !static_crt && host_glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc is `major.minor` or newer (`getconf GNU_LIBC_VERSION`: "glibc 2.36").
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    version_at_least(
        Command::new("getconf").arg("GNU_LIBC_VERSION"),
        (major, minor),
    )
}

/// Rust 1.90 made LLD the default linker of `x86_64-unknown-linux-gnu`.
fn lld_by_default(rustc: &str) -> bool {
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let rustc = if rustc.is_empty() { "rustc" } else { rustc };
    version_at_least(Command::new(rustc).arg("--version"), (1, 90))
}

/// Whether `command` prints "<name> <major>.<minor>[…]" with that version at least `least`
/// (false when it cannot run or prints something else).
fn version_at_least(command: &mut Command, least: (u32, u32)) -> bool {
    let Ok(out) = command.output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.split_whitespace().nth(1) else {
        return false;
    };
    let mut parts = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= least
}
