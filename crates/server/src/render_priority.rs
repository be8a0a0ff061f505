//! The render pool's threads run at a lower scheduling priority than the rest of the server, so
//! that when pushes keep every core busy rendering, the request workers (page views, live
//! updates) and the store's threads (a push's commit, which holds its plan's turn) still get a
//! core as soon as they wake: renders fill the CPU that is left, they do not queue ahead of it.
//!
//! On Linux a thread's nice value is its own: `setpriority(PRIO_PROCESS, 0)` from the thread sets
//! the calling thread's. Elsewhere it would set the whole process's, so nothing is done there.

/// Nice steps the render threads run below the process (under Linux's scheduler a thread gets
/// about 1.25 times less CPU per step than a busy thread beside it: five steps, about a third).
pub const RENDER_NICENESS: i32 = 5;

/// Lowers the calling thread's priority by [`RENDER_NICENESS`] (the render pool calls it on each
/// of its threads as it starts). A failure leaves the thread as it was: renders then compete on
/// equal terms, as they did before.
pub fn lower_this_thread() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let lowered = rustix::process::getpriority_process(None).and_then(|nice| {
        rustix::process::setpriority_process(None, (nice + RENDER_NICENESS).min(19))
    });
    if let Err(e) = lowered {
        tracing::debug!(error = %e, "render thread priority left as it was");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let lowered = std::thread::spawn(|| {
            super::lower_this_thread();
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + super::RENDER_NICENESS).min(19));
        assert_eq!(
            rustix::process::getpriority_process(None).unwrap(),
            before,
            "the rest of the process keeps its priority"
        );
    }
}
