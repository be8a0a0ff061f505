//! Instant offboarding: when someone's access ends, their open live streams end within a second.
//!
//! Every change that can end or narrow a user's access — deactivation, sign-out, sign-out
//! everywhere, a revoked token or token family, a role change — goes through
//! [`crate::AccessCache::invalidate`], which bumps the user's generation (voiding cached access,
//! sessions and tokens) and raises the [`AccessSignal`] for that user. A live stream remembers how
//! its viewer authenticated ([`Credential`]: the session or the token) and which plan it shows
//! ([`LiveWatch`]); on each signal it asks [`LiveAccess::recheck`] again and closes when the answer
//! is no.
//!
//! The signal is a port: [`LocalSignal`] reaches the streams of this process; with several server
//! processes a [`crate::Cluster`] (PostgreSQL `LISTEN/NOTIFY`) reaches every process's streams.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::Stream;
use futures::channel::mpsc;
use planpush_identity::{TokenHash, TokenId, TokenRepoError, UserId};
use planpush_plans::Plan;

use crate::{
    AccessCache, AuthMethod, LiveFeed, PlanError, Plans, Ports, Principal, WebSessions, can_see,
};

/// A stream that yields each time a user's access may have changed.
pub type AccessChanges = Pin<Box<dyn Stream<Item = ()> + Send>>;

/// "Access changed for user X", for everything in this process (or, for a multi-process
/// implementation, in every process) that holds access open — the live-update streams.
pub trait AccessSignal: Send + Sync {
    /// Announces that `user`'s access changed. MUST NOT block; MUST wake every watcher of `user`
    /// created before the call (several changes may wake a watcher once).
    fn notify(&self, user: UserId);
    /// Watches `user`. The stream MUST yield after every later `notify(user)`, and end only when
    /// the signal is gone.
    fn watch(&self, user: UserId) -> AccessChanges;
}

/// The in-process [`AccessSignal`].
#[derive(Default)]
pub struct LocalSignal {
    watchers: Mutex<HashMap<UserId, Vec<mpsc::Sender<()>>>>,
}

impl LocalSignal {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<mpsc::Sender<()>>>> {
        // Each update is one retain or push: a poisoned lock is still consistent.
        self.watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many watchers of `user` are open (tests).
    pub fn watchers(&self, user: UserId) -> usize {
        let mut w = self.lock();
        let list = w.entry(user).or_default();
        list.retain(|s| !s.is_closed());
        let n = list.len();
        if n == 0 {
            w.remove(&user);
        }
        n
    }

    /// Wakes every watcher of every user (access may have changed for anyone: a multi-process
    /// adapter lost news from the other processes).
    pub fn notify_all(&self) {
        let mut w = self.lock();
        w.retain(|_, list| {
            list.retain_mut(|s| match s.try_send(()) {
                Ok(()) => true,
                Err(e) => e.is_full(),
            });
            !list.is_empty()
        });
    }
}

impl AccessSignal for LocalSignal {
    fn notify(&self, user: UserId) {
        let mut w = self.lock();
        if let Some(list) = w.get_mut(&user) {
            // A full buffer already holds a wake-up: nothing is lost. Closed watchers go.
            list.retain_mut(|s| match s.try_send(()) {
                Ok(()) => true,
                Err(e) => e.is_full(),
            });
            if list.is_empty() {
                w.remove(&user);
            }
        }
    }

    fn watch(&self, user: UserId) -> AccessChanges {
        let (tx, rx) = mpsc::channel(1);
        let mut w = self.lock();
        let list = w.entry(user).or_default();
        list.retain(|s| !s.is_closed());
        list.push(tx);
        Box::pin(rx)
    }
}

/// How a stream's viewer proved who they are, so the stream can ask again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A browser session, by the hash of its cookie key.
    Session(TokenHash),
    /// A Bearer token (personal or access token).
    Token(TokenId),
    /// A session whose key is not known here: only the account and the plan are checked again.
    Account,
}

/// What an open live stream needs to check its viewer again.
pub struct LiveWatch {
    user: UserId,
    method: AuthMethod,
    credential: Credential,
    /// The plan as it was when the stream opened (visibility only ever widens; deletion ends
    /// the stream with its own event).
    plan: Plan,
    /// Wakes when the viewer's access may have changed.
    pub changes: AccessChanges,
    /// The stream's place among the plan's readers (`None` if it could not be recorded: the
    /// stream works, its viewer is just not shown to others).
    reading: Option<crate::Reading>,
}

impl LiveWatch {
    /// The stream's place among the plan's readers, for [`LiveAccess::close`].
    pub fn reading(&self) -> Option<&crate::Reading> {
        self.reading.as_ref()
    }
}

/// Opening live streams and checking their viewers again.
pub struct LiveAccess {
    ports: Ports,
    access: Arc<AccessCache>,
    sessions: Arc<WebSessions>,
    plans: Arc<Plans>,
    presence: crate::Presence,
}

impl LiveAccess {
    pub fn new(
        ports: Ports,
        access: Arc<AccessCache>,
        sessions: Arc<WebSessions>,
        plans: Arc<Plans>,
    ) -> Self {
        Self {
            presence: crate::Presence::new(ports.clone(), plans.clone()),
            ports,
            access,
            sessions,
            plans,
        }
    }

    /// Subscribes `p` to the plan's events (see [`Plans::subscribe`]) and returns what the stream
    /// needs to check the viewer again. `session` is the session key's hash when `p` came from
    /// a session cookie. The watch starts before the authorization, so no change is missed.
    ///
    /// The viewer then arrives among the plan's readers ([`crate::Presence`]); the subscription
    /// began first, so the stream itself carries the `presence` event of its arrival.
    pub async fn open(
        &self,
        p: &Principal,
        session: Option<TokenHash>,
        slug: &str,
        last_event_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(LiveFeed, LiveWatch), PlanError> {
        let changes = self.access.signal().watch(p.user_id);
        let credential = match (p.method, session) {
            (AuthMethod::Token(id), _) => Credential::Token(id),
            (AuthMethod::Session, Some(hash)) => Credential::Session(hash),
            (AuthMethod::Session, None) => Credential::Account,
        };
        let feed = self.plans.subscribe(p, slug, last_event_id).await?;
        let reading = match self.presence.arrive(feed.plan.id(), p.user_id, now).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "a reader's presence could not be recorded");
                None
            }
        };
        let watch = LiveWatch {
            user: p.user_id,
            method: p.method,
            credential,
            plan: feed.plan.clone(),
            changes,
            reading,
        };
        Ok((feed, watch))
    }

    /// At a keep-alive of a stream still allowed to watch: refreshes its reader's row and returns
    /// who reads the plan now (`None` when presence could not be read; logged).
    pub async fn readers(&self, w: &LiveWatch, now: DateTime<Utc>) -> Option<Vec<crate::Reader>> {
        let r = w.reading.as_ref()?;
        match self.presence.refresh(r, now).await {
            Ok(readers) => Some(readers),
            Err(e) => {
                tracing::warn!(error = %e, "a plan's readers could not be refreshed");
                None
            }
        }
    }

    /// The stream `reading` (see [`LiveWatch::reading`]) closed: its viewer leaves the plan's
    /// readers (and the others are told).
    pub async fn close(&self, reading: &crate::Reading, now: DateTime<Utc>) {
        self.presence.leave(reading, now).await;
    }

    /// Whether the stream's viewer may still watch: the credential is live (session not ended,
    /// token not revoked or expired), the account is active, and its roles still let it see the
    /// plan. `full` reads the credential and the plan from storage (after a signal); otherwise
    /// only the (cached) account is read and checked against the plan as it was (the periodic
    /// check, which must stay cheap with many open streams).
    pub async fn recheck(
        &self,
        w: &LiveWatch,
        full: bool,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        if full {
            let live = match w.credential {
                Credential::Session(hash) => self.sessions.is_live(&hash, w.user, now).await?,
                Credential::Token(id) => match self.ports.tokens.get(id).await {
                    Ok(t) => t.user_id == w.user && t.check_bearer(now).is_ok(),
                    Err(TokenRepoError::NotFound) => false,
                    Err(e) => return Err(e.into()),
                },
                Credential::Account => true,
            };
            if !live {
                return Ok(false);
            }
        }
        let Some(p) = self.access.principal(w.user, w.method).await? else {
            return Ok(false);
        };
        if !full {
            return Ok(can_see(&p, &w.plan));
        }
        match self.plans.visible(&p, w.plan.id()).await {
            Ok(_) => Ok(true),
            Err(PlanError::Unknown(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn notify_all_wakes_every_watcher_once_and_forgets_closed_ones() {
        let signal = LocalSignal::default();
        let (ada, ben) = (UserId::new(), UserId::new());
        let mut a = signal.watch(ada);
        let mut b = signal.watch(ben);
        drop(signal.watch(ben));
        signal.notify_all();
        for w in [&mut a, &mut b] {
            tokio::time::timeout(std::time::Duration::from_secs(1), w.next())
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(signal.watchers(ben), 1, "the dropped watcher is gone");
        // One notification per user still reaches only that user.
        signal.notify(ada);
        assert!(a.next().await.is_some());
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), b.next())
                .await
                .is_err()
        );
    }
}
