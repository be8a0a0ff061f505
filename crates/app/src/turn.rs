//! A fair async lock: whoever asked first gets the next turn.
//!
//! `futures::lock::Mutex` lets a task that asks just as the holder lets go take the lock before
//! the waiter it woke gets to run. Pushes to one plan arrive at its lock right after rendering, so
//! under a steady stream some waiter kept being overtaken (at eight concurrent pushes, one push in
//! a hundred waited over a second). Here the holder hands its turn straight to the first waiter.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::oneshot;

/// One line of tasks taking turns, and the last value a holder left for the next ones
/// ([`Turn::leave`]).
pub(crate) struct Line<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    taken: bool,
    waiting: VecDeque<oneshot::Sender<Turn<T>>>,
    left: Option<T>,
}

impl<T> Default for Line<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                taken: false,
                waiting: VecDeque::new(),
                left: None,
            }),
        }
    }
}

/// A turn: the line is held until it is dropped.
pub(crate) struct Turn<T> {
    /// `None` once handed back unused (a waiter gone before its turn came).
    line: Option<Arc<Line<T>>>,
}

impl<T: Clone> Turn<T> {
    /// What the last holder left ([`Turn::leave`]).
    pub(crate) fn left(&self) -> Option<T> {
        let line = self.line.as_ref()?;
        line.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .left
            .clone()
    }

    /// Leaves `value` for the next holders.
    pub(crate) fn leave(&self, value: T) {
        if let Some(line) = &self.line {
            line.state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .left = Some(value);
        }
    }
}

impl<T> Line<T> {
    /// Whether someone holds a turn now.
    pub(crate) fn taken(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .taken
    }

    /// Waits for a turn.
    pub(crate) async fn take(self: &Arc<Self>) -> Turn<T> {
        let rx = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.taken {
                state.taken = true;
                return Turn {
                    line: Some(self.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            state.waiting.push_back(tx);
            rx
        };
        match rx.await {
            Ok(turn) => turn,
            // Never: a sender is only dropped after handing its turn over (see `Drop`).
            Err(oneshot::Canceled) => Box::pin(self.take()).await,
        }
    }
}

impl<T> Drop for Turn<T> {
    fn drop(&mut self) {
        let Some(line) = self.line.take() else {
            return;
        };
        let mut state = line.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Hand the turn to the first waiter still waiting (a waiter whose push was dropped
        // meanwhile refuses it, and the next one is asked).
        while let Some(tx) = state.waiting.pop_front() {
            let next = Turn {
                line: Some(line.clone()),
            };
            match tx.send(next) {
                Ok(()) => return,
                Err(mut refused) => refused.line = None,
            }
        }
        state.taken = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    #[test]
    fn turns_go_in_the_order_they_were_asked_for_and_skip_who_left() {
        let mut pool = LocalPool::new();
        let line: Arc<Line<u32>> = Arc::new(Line::default());
        assert!(!line.taken());
        let first = pool.run_until(line.take());
        assert!(line.taken());
        first.leave(1);
        let order = Arc::new(Mutex::new(vec![]));
        let mut handles = vec![];
        for i in 0..4 {
            let (line, order) = (line.clone(), order.clone());
            let handle = pool
                .spawner()
                .spawn_local_with_handle(async move {
                    let _turn = line.take().await;
                    order.lock().unwrap().push(i);
                })
                .unwrap();
            handles.push(handle);
        }
        // All four wait in line; the third gives up before its turn.
        pool.run_until_stalled();
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody ran before the holder let go"
        );
        drop(handles.remove(2));
        drop(first);
        pool.run_until_stalled();
        assert_eq!(*order.lock().unwrap(), [0, 1, 3]);
        // The line is free again: the next turn is taken at once.
        assert!(!line.taken(), "the last holder let go");
        let turn = futures::FutureExt::now_or_never(line.take()).expect("the line is free");
        assert_eq!(
            turn.left(),
            Some(1),
            "what a holder left stays for later holders"
        );
    }
}
