//! A bounded pool of threads for CPU-heavy work (Markdown, Mermaid, sanitizing, diffs, page
//! rendering and compression), so that the async request workers only wait on it.
//!
//! `threads` threads take jobs from a queue of at most `queue` waiting jobs. When the queue is
//! full a job is refused at once with [`Overloaded`] — a push then answers `503` with
//! `Retry-After` instead of piling up work that would stall page views and live updates.
//! Sized by `RENDER_THREADS` and `RENDER_QUEUE` (see docs/configuration.md). The store runs its
//! blocking database calls on a pool of its own, one thread per connection (`db-N`), where its
//! connection permits keep the queue from ever filling.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The jobs waiting for a thread, and the threads waiting for a job.
///
/// One lock and one condition variable: a job handed in wakes one waiting thread, and a thread
/// that finishes a job takes the next one without sleeping. (Threads sharing one channel receiver
/// behind a mutex woke two threads per job: the one receiving and, as it let go of the mutex, the
/// next one to wait on the channel: 23 context switches per one-section push, 16 with this.)
struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job (some may already be woken for a job still in `jobs`).
    idle: usize,
    /// Room for waiting jobs beyond the threads that wait for them.
    room: usize,
    /// `false` once every handle is dropped: threads finish the jobs left, then end.
    open: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock (and under `catch_unwind`): a poisoned lock holds sound state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` unless as many jobs already wait as the idle threads and the room take. (Only
    /// a handle offers, so the queue is open.)
    fn offer(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.jobs.len() >= state.room + state.idle {
            return Err(job);
        }
        state.jobs.push_back(job);
        let wake = state.idle > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The next job, waiting for one; `None` when the pool is closed and no job is left.
    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if !state.open {
                return None;
            }
            state.idle += 1;
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
    }
}

/// Held by every handle of a pool: the last one dropped closes its queue.
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().open = false;
        self.0.ready.notify_all();
    }
}

/// The pool was full: the job was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the render pool is full")]
pub struct Overloaded;

/// A handle to the pool (cheap to clone). Its threads end when the last handle is dropped.
#[derive(Clone)]
pub struct CpuPool {
    /// `None`: jobs run in place on the caller's thread (tests and tools).
    queue_of: Option<Arc<Closer>>,
    threads: usize,
    queue: usize,
    /// Jobs accepted and not yet finished (running or waiting).
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool")
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .finish()
    }
}

/// Threads and waiting jobs for a machine with `cores` cores: one thread per core (the request
/// workers mostly wait), and [`default_queue`] waiting jobs.
pub fn default_sizes(cores: usize) -> (usize, usize) {
    let threads = cores.clamp(1, 8);
    (threads, default_queue(threads))
}

/// Jobs that may wait for `threads` threads: eight per thread. A push renders in a few
/// milliseconds, so a full queue is a wait of well under a second, and a client pushing with
/// eight connections per core (a CI job, a benchmark) is queued rather than refused.
pub fn default_queue(threads: usize) -> usize {
    threads.max(1) * 8
}

impl CpuPool {
    /// Starts `threads` threads (at least one) with room for `queue` waiting jobs (0: a job is
    /// accepted only when a thread is free to take it).
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        Self::with_start(threads, queue, || {})
    }

    /// [`CpuPool::new`] whose threads each run `start` first (the server lowers their
    /// scheduling priority there: see `crates/server/src/render_priority.rs`).
    pub fn with_start(
        threads: usize,
        queue: usize,
        start: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::named("render", threads, queue, start)
    }

    /// [`CpuPool::with_start`] whose threads are called `name-0`, `name-1`, … (as `top -H` and
    /// `/proc/PID/task` show them).
    pub fn named(
        name: &str,
        threads: usize,
        queue: usize,
        start: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let start = Arc::new(start);
        let shared = Arc::new(Queue {
            state: Mutex::new(State {
                jobs: VecDeque::with_capacity(queue),
                idle: 0,
                room: queue,
                open: true,
            }),
            ready: Condvar::new(),
        });
        // Made before the threads: should one fail to start, dropping it ends those started.
        let closer = Arc::new(Closer(shared.clone()));
        for i in 0..threads {
            let (shared, start) = (shared.clone(), start.clone());
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                // Parsing deeply nested documents recurses; 2 MiB like the main thread.
                .stack_size(2 * 1024 * 1024)
                .spawn(move || {
                    start();
                    // Every handle dropped and the queue empty: the pool ends.
                    while let Some(job) = shared.next() {
                        job();
                    }
                })?;
        }
        Ok(Self {
            queue_of: Some(closer),
            threads,
            queue,
            pending: Arc::default(),
        })
    }

    /// A pool that runs every job in place, on the caller's thread (for tests and tools).
    pub fn inline() -> Self {
        Self {
            queue_of: None,
            threads: 0,
            queue: 0,
            pending: Arc::default(),
        }
    }

    /// Threads with nothing to do right now (0 for an inline pool): how many jobs a caller may
    /// split one piece of work into without making anyone wait.
    pub fn idle(&self) -> usize {
        self.threads
            .saturating_sub(self.pending.load(Ordering::Relaxed))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Runs `f` on the pool and waits (asynchronously) for its result; [`Overloaded`] at once when
    /// every thread is busy and the queue is full (a thread that has finished its job counts as
    /// free even before it is back at the queue). A job that panics answers `Overloaded` too (the
    /// panic is logged by the thread; the pool keeps its size: `catch_unwind` keeps the thread).
    pub async fn run<T, F>(&self, f: F) -> Result<T, Overloaded>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Some(queue) = &self.queue_of else {
            return Ok(f());
        };
        let (tx, rx) = futures::channel::oneshot::channel();
        let pending = self.pending.clone();
        pending.fetch_add(1, Ordering::Relaxed);
        let done = pending.clone();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            done.fetch_sub(1, Ordering::Relaxed);
            match result {
                Ok(v) => {
                    let _ = tx.send(v);
                }
                Err(_) => tracing::error!("a pool job panicked"),
            }
        });
        let mut job = job;
        for spin in 0.. {
            match queue.0.offer(job) {
                Ok(()) => return rx.await.map_err(|_| Overloaded),
                // A thread that has just finished a job (no longer pending) is on its way back to
                // the queue: a job that only lost that race waits the moment it takes.
                Err(back) if spin < 10_000 && pending.load(Ordering::Relaxed) <= self.threads => {
                    job = back;
                    std::thread::yield_now();
                }
                Err(_) => {
                    metrics_overloaded();
                    break;
                }
            }
        }
        pending.fetch_sub(1, Ordering::Relaxed);
        Err(Overloaded)
    }

    /// Runs `f` on the pool without waiting for it: work whose result nobody awaits (compressing
    /// a page already served uncompressed). [`Overloaded`] at once when every thread is busy and
    /// the queue is full; in place on an inline pool. A panic is logged and the thread kept.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Overloaded> {
        let Some(queue) = &self.queue_of else {
            f();
            return Ok(());
        };
        self.pending.fetch_add(1, Ordering::Relaxed);
        let done = self.pending.clone();
        let job: Job = Box::new(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                tracing::error!("a pool job panicked");
            }
            done.fetch_sub(1, Ordering::Relaxed);
        });
        queue.0.offer(job).map_err(|_| {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            metrics_overloaded();
            Overloaded
        })
    }
}

fn metrics_overloaded() {
    tracing::debug!("render pool full: a job was refused");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn jobs_run_and_a_full_pool_refuses_at_once() {
        let pool = CpuPool::new(1, 1).unwrap();
        let (release_tx, release_rx) = channel::<()>();
        let (started_tx, started_rx) = channel::<()>();
        // One job holds the only thread …
        let busy = std::thread::spawn({
            let pool = pool.clone();
            move || {
                futures::executor::block_on(pool.run(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    1
                }))
            }
        });
        started_rx.recv().unwrap();
        assert_eq!(pool.idle(), 0, "its thread is busy");
        // … one waits in the queue (polled once: it is sent), the next is refused at once.
        let mut queued = Box::pin(pool.run(|| 2));
        let first_poll = futures::executor::block_on(async { futures::poll!(&mut queued) });
        assert!(first_poll.is_pending());
        assert_eq!(
            futures::executor::block_on(pool.run(|| 3)),
            Err(Overloaded),
            "a full pool refuses"
        );
        release_tx.send(()).unwrap();
        assert_eq!(busy.join().unwrap(), Ok(1));
        assert_eq!(futures::executor::block_on(queued), Ok(2));
        assert_eq!(futures::executor::block_on(pool.run(|| 4)), Ok(4));
        assert_eq!(pool.idle(), 1, "finished and refused jobs are not pending");
        assert_eq!(
            futures::executor::block_on(CpuPool::inline().run(|| 5)),
            Ok(5)
        );
    }

    /// Holds one thread of `pool` with a job until the answer is sent (returned once it runs).
    fn hold(pool: &CpuPool) -> std::sync::mpsc::Sender<()> {
        let (release_tx, release_rx) = channel::<()>();
        let (started_tx, started_rx) = channel::<()>();
        pool.spawn(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
        started_rx.recv().unwrap();
        release_tx
    }

    #[test]
    fn the_last_handle_dropped_ends_the_threads_after_the_jobs_left() {
        use std::sync::mpsc::RecvTimeoutError;
        use std::time::Duration;
        // Each thread holds the start closure, and with it `alive`, until it ends.
        let (alive, ended) = channel::<()>();
        let pool = CpuPool::with_start(1, 3, move || {
            let _ = &alive;
        })
        .unwrap();
        let release_tx = hold(&pool);
        let (done_tx, done_rx) = channel::<u32>();
        for n in 0..3 {
            let done = done_tx.clone();
            pool.spawn(move || done.send(n).unwrap()).unwrap();
        }
        assert_eq!(pool.spawn(|| {}), Err(Overloaded), "three wait, no more");
        drop(pool);
        release_tx.send(()).unwrap();
        let ran: Vec<u32> = (0..3).map(|_| done_rx.recv().unwrap()).collect();
        assert_eq!(ran, [0, 1, 2], "the jobs left ran, in order");
        assert_eq!(
            ended.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected),
            "then the thread ended"
        );
    }

    /// With no room, a job is taken only when a thread waits for it.
    #[test]
    fn a_pool_without_room_takes_a_job_per_idle_thread() {
        let pool = CpuPool::new(2, 0).unwrap();
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (started_tx, started_rx) = channel::<()>();
        // Both threads wait for a job before any is offered.
        while pool.queue_of.as_ref().unwrap().0.lock().idle < 2 {
            std::thread::yield_now();
        }
        for _ in 0..2 {
            let (release, started) = (release_rx.clone(), started_tx.clone());
            pool.spawn(move || {
                started.send(()).unwrap();
                release.lock().unwrap().recv().unwrap();
            })
            .unwrap();
        }
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        assert_eq!(pool.spawn(|| {}), Err(Overloaded), "both threads are busy");
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
    }

    #[test]
    fn spawned_jobs_run_without_a_waiter_and_a_full_pool_refuses_them() {
        let pool = CpuPool::new(1, 1).unwrap();
        let release_tx = hold(&pool);
        let (done_tx, done_rx) = channel::<u32>();
        let queued = done_tx.clone();
        pool.spawn(move || queued.send(1).unwrap()).unwrap();
        assert_eq!(pool.spawn(|| {}), Err(Overloaded), "a full pool refuses");
        release_tx.send(()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), 1, "the queued job ran");
        // A job that panics leaves the thread to the next one.
        pool.spawn(|| panic!("a failing job")).ok();
        let next = done_tx.clone();
        while pool.spawn({
            let next = next.clone();
            move || next.send(2).unwrap()
        }) == Err(Overloaded)
        {
            std::thread::yield_now();
        }
        assert_eq!(done_rx.recv().unwrap(), 2);
        // Inline: in place.
        CpuPool::inline()
            .spawn(move || done_tx.send(3).unwrap())
            .unwrap();
        assert_eq!(done_rx.recv().unwrap(), 3);
    }
}
