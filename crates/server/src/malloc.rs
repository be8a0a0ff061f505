//! How glibc's malloc behaves in the long-running commands.
//!
//! glibc gives each thread that allocates its own arena (up to eight per core) and returns little
//! of an arena's memory to the system once a peak has passed. The server's threads (request
//! workers, database threads, render threads) each grow one, so under a push load the process held
//! ~100 MB resident for ~30 MB of live heap. Two arenas per core hold the same load in ~78 MB for
//! ~7% fewer pushes per second; one per core in ~73 MB but for a quarter fewer (threads then wait
//! for each other's arena; docs/benchmarks.md).
//!
//! glibc also raises its mmap threshold (and with it the trim threshold, to twice as much) each
//! time a block it mapped on its own is freed, up to 32 MB: after one large buffer (a compressor's
//! tables, a long document) blocks of that size come from the arenas, and an arena's free top is
//! returned only above the raised trim threshold. Both are fixed at glibc's starting value
//! (128 KiB), which keeps the raising off: under the HTTP benchmark's pushes and page views the
//! anonymous memory peaked 3–5 MB lower at the same pushes per second (docs/benchmarks.md).
//!
//! Freed small blocks are not kept aside either: each thread's cache of freed blocks (tcache) and
//! the fast bins hold them as if in use, so the free space around them cannot be merged and an
//! arena's pages stay resident after a burst. With both off the benchmark's anonymous peak was
//! ~2–3 MB lower, at pushes per second within the runs' noise (docs/benchmarks.md).
//!
//! These can only be set before the first allocation, by the environment, and `unsafe`
//! (`mallopt`) is forbidden in this workspace: so `serve` and `demo` start themselves again, in
//! place (same process id, same arguments), with `GLIBC_TUNABLES` set — unless the operator
//! already set `GLIBC_TUNABLES` or `MALLOC_ARENA_MAX`, which are then left as they are.

use std::ffi::OsString;

/// The tunables the server runs with on `cores` cores when the operator chose none: two arenas
/// per core, the mmap and trim thresholds fixed at 128 KiB, no per-thread cache and no fast bins.
pub fn tunables_for(cores: usize) -> String {
    format!(
        "glibc.malloc.arena_max={}:glibc.malloc.mmap_threshold={THRESHOLD}:glibc.malloc.trim_threshold={THRESHOLD}:glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0",
        2 * cores.max(1)
    )
}

/// glibc's starting mmap and trim threshold, kept from being raised (see the module's text).
const THRESHOLD: usize = 128 * 1024;

/// The `GLIBC_TUNABLES` value to start again with, or `None` when the environment (read through
/// `var`) already says how glibc's allocator should behave.
pub fn tunables(var: impl Fn(&str) -> Option<OsString>, cores: usize) -> Option<OsString> {
    let chosen = ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX"]
        .iter()
        .any(|k| var(k).is_some());
    (!chosen).then(|| tunables_for(cores).into())
}

/// Replaces this process with the same command and `GLIBC_TUNABLES` set, when [`tunables`] says
/// so. Returns only when it did not (nothing to do, or the exec failed: the server then runs with
/// glibc's defaults, and says so).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    use std::os::unix::process::CommandExt;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let Some(value) = tunables(|k| std::env::var_os(k), cores) else {
        return;
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            warn(&format!(
                "cannot find its executable to limit malloc arenas: {e}"
            ));
            return;
        }
    };
    let e = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", value)
        .exec();
    warn(&format!(
        "cannot start again with GLIBC_TUNABLES ({e}); running with glibc's malloc defaults"
    ));
}

/// Logging is not set up yet (it is, after the configuration is read, in the process this one
/// becomes): one line on stderr.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn warn(line: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("planpush-server: warning: {line}");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_choice_is_kept() {
        let none = |_: &str| None;
        let fixed = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0";
        assert_eq!(
            tunables(none, 2),
            Some(format!("glibc.malloc.arena_max=4:{fixed}").into())
        );
        assert_eq!(tunables_for(0), format!("glibc.malloc.arena_max=2:{fixed}"));
        for set in ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX"] {
            let one = move |k: &str| (k == set).then(|| "4".into());
            assert_eq!(tunables(one, 2), None, "{set} set: left alone");
        }
    }
}
