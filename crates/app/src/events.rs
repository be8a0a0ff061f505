//! Live events of a plan (new versions, comment activity, lifecycle) for its open viewers.
//!
//! The [`EventBus`] port carries them; [`LocalBus`] is the in-process implementation (one server
//! process). A bus for several processes on one PostgreSQL (`LISTEN/NOTIFY`, with the retained
//! events in a table) implements the same port; `app` does not change.
//!
//! Who may receive a plan's events is decided once, when a viewer subscribes
//! ([`crate::Plans::subscribe`]): a plan's stream carries only that plan's events, so a viewer never
//! receives events of a plan it may not see. Visibility only ever widens (publishing is one-way);
//! deletion ends every stream with a `deleted` event.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::Stream;
use futures::channel::mpsc;
use planpush_plans::PlanId;
use planpush_versions::{AnchorId, ChangeSet};
use serde::{Deserialize, Serialize};

use crate::InfraError;

/// The position of an event in a plan's stream, as sent in SSE `id:` and `Last-Event-ID`.
///
/// `epoch` names the bus instance that numbered it (a server restart starts a new epoch), `seq`
/// counts the plan's events within it. Written `"{epoch:x}-{seq}"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    pub epoch: u64,
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// A `Last-Event-ID` that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id")]
pub struct BadEventId;

impl FromStr for EventId {
    type Err = BadEventId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, seq) = s.trim().split_once('-').ok_or(BadEventId)?;
        Ok(Self {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| BadEventId)?,
            seq: seq.parse().map_err(|_| BadEventId)?,
        })
    }
}

/// Who did something, as viewers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub login: String,
}

/// What happened to a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentActivity {
    Created,
    Replied,
    Edited,
    Resolved,
    Reopened,
    Deleted,
}

/// A plan lifecycle change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanActivity {
    Published,
    Archived,
    Unarchived,
    Deleted,
}

/// What a viewer is told. Serialized as the SSE `data:` of the event named by [`LiveEvent::name`];
/// [`LiveEvent::decode`] reads it back (a bus that keeps events in a database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LiveEvent {
    /// A push created version `version`; `changes` lists the anchors added, changed, removed.
    Version {
        version: u32,
        title: String,
        pushed_by: Actor,
        changes: LiveChanges,
        /// The "what changed" line against the previous version (`None` for a new plan).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// What changed in the plan's terms, one line each, at most [`LIVE_MAX_TYPED`] and a
        /// "… and N more" line (empty for a new plan).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        typed: Vec<String>,
    },
    Comment {
        activity: CommentActivity,
        comment_id: String,
        /// The thread the comment belongs to (itself for a thread).
        thread_id: String,
        anchor: Option<String>,
        by: Actor,
    },
    Plan {
        activity: PlanActivity,
        by: Actor,
    },
    /// Someone arrived or left: who reads the plan now (see [`crate::Presence`]).
    Presence {
        readers: Vec<crate::Reader>,
    },
}

impl LiveEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Version { .. } => "version",
            Self::Comment { .. } => "comment",
            Self::Plan { .. } => "plan",
            Self::Presence { .. } => "presence",
        }
    }

    /// The event named `name` whose `data:` is `json` (as written by `serde_json` from an event
    /// of that name). The variants have distinct required fields, and the name must match.
    pub fn decode(name: &str, json: &str) -> Result<Self, String> {
        let event: Self = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if event.name() == name {
            Ok(event)
        } else {
            Err(format!("a {} event stored as {name:?}", event.name()))
        }
    }
}

/// One event of one plan's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEvent {
    pub id: EventId,
    pub plan_id: PlanId,
    pub event: LiveEvent,
}

/// The live events of one subscription, in order.
pub type EventStream = Pin<Box<dyn Stream<Item = PlanEvent> + Send>>;

/// A viewer's subscription to one plan.
pub struct Subscription {
    /// The id of the last event published on the plan before the subscription began (the
    /// viewer's new `Last-Event-ID` if nothing is replayed).
    pub last: EventId,
    /// Retained events after the viewer's `Last-Event-ID`, oldest first.
    pub replay: Vec<PlanEvent>,
    /// True when the viewer's `Last-Event-ID` is older than what is retained, or from another
    /// epoch: events were missed, so the viewer must re-read the plan (the page says `resync`).
    pub gap: bool,
    /// Events published after the subscription began. It ends when the viewer falls too far
    /// behind (the browser reconnects with its `Last-Event-ID` and is replayed) or the bus stops.
    pub live: EventStream,
}

/// Carries plan events from the processes that cause them to the viewers that watch the plan.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes `event` on `plan`'s stream and returns its id.
    ///
    /// MUST number a plan's events in strictly increasing order, MUST NOT wait for slow
    /// subscribers (a subscriber that cannot keep up is disconnected, and recovers by replay),
    /// and MUST return `InfraError` only when the event could not be published at all.
    async fn publish(&self, plan: PlanId, event: LiveEvent) -> Result<EventId, InfraError>;

    /// Subscribes to `plan`'s events published after `after` (`None`: from now on).
    ///
    /// MUST deliver every event published after the returned `last` on `live`, in order, with no
    /// event both replayed and live; MUST set `gap` rather than silently skip events it no longer
    /// retains.
    async fn subscribe(
        &self,
        plan: PlanId,
        after: Option<EventId>,
    ) -> Result<Subscription, InfraError>;
}

/// A decorator around a bus that tells an observer about every event before publishing it: the
/// one place caches keyed by plan (the rendered pages) learn that a plan changed, since every
/// change publishes an event after it commits. Built once, around the process's bus.
pub struct ObservedBus {
    inner: std::sync::Arc<dyn EventBus>,
    observer: std::sync::Arc<dyn Fn(PlanId) + Send + Sync>,
}

impl ObservedBus {
    pub fn new(
        inner: std::sync::Arc<dyn EventBus>,
        observer: std::sync::Arc<dyn Fn(PlanId) + Send + Sync>,
    ) -> Self {
        Self { inner, observer }
    }
}

#[async_trait]
impl EventBus for ObservedBus {
    async fn publish(&self, plan: PlanId, event: LiveEvent) -> Result<EventId, InfraError> {
        // First, so a viewer woken by the event never reads what the observer is about to drop.
        // Presence changes no page.
        if !matches!(event, LiveEvent::Presence { .. }) {
            (self.observer)(plan);
        }
        self.inner.publish(plan, event).await
    }

    async fn subscribe(
        &self,
        plan: PlanId,
        after: Option<EventId>,
    ) -> Result<Subscription, InfraError> {
        self.inner.subscribe(plan, after).await
    }
}

/// Publishes after the change it reports is committed. A bus failure is logged, never fatal: the
/// change stands, and viewers that missed it catch up when they next load the plan.
pub(crate) async fn publish(ports: &crate::Ports, plan: PlanId, event: LiveEvent) {
    if let Err(e) = ports.events.publish(plan, event).await {
        tracing::warn!(error = %e, %plan, "publishing a live event failed");
    }
}

/// The anchors a push added, changed and removed, as a live `version` event tells them. Unlike
/// the push's [`ChangeSet`] it does not list the unchanged anchors: every anchor not named is
/// unchanged, and that list (the whole document's anchors, ~14 KB for a 60 KB plan) would be sent
/// to every viewer and kept in every plan's replay buffer for each push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChanges {
    pub added: Vec<AnchorId>,
    pub changed: Vec<AnchorId>,
    pub removed: Vec<AnchorId>,
}

impl From<&ChangeSet> for LiveChanges {
    fn from(c: &ChangeSet) -> Self {
        Self {
            added: c.added.clone(),
            changed: c.changed.clone(),
            removed: c.removed.clone(),
        }
    }
}

/// Most typed changes a live `version` event lists (the banner's "what changed" lines).
pub const LIVE_MAX_TYPED: usize = 5;
/// How many events a plan's stream replays to a viewer who reconnects (the in-process bus keeps
/// that many per plan in memory; a viewer further behind resyncs, which re-reads the plan once:
/// cheaper than replaying more versions than that).
pub const RETAINED_EVENTS: usize = 64;
/// How many undelivered events a subscriber may have before it is disconnected.
pub const SUBSCRIBER_BUFFER: usize = 64;
/// How many plans' streams the in-process bus keeps when nobody watches them (with their replay
/// buffers: a plan's first `version` event names every anchor, ~9 KB for a 60 KB plan, so these
/// hold ~0.6 MB; at 256 they were 2.3 MB of a busy server's heap). Past that, a new plan's first
/// event drops the unwatched streams; a viewer reconnecting to one resyncs.
const IDLE_TOPICS: usize = 64;

#[derive(Default)]
struct Topic {
    seq: u64,
    retained: VecDeque<PlanEvent>,
    subscribers: Vec<mpsc::Sender<PlanEvent>>,
}

/// The in-process event bus: one server process, events kept in memory.
pub struct LocalBus {
    epoch: u64,
    topics: Mutex<HashMap<PlanId, Topic>>,
}

impl LocalBus {
    /// A bus whose ids start a new epoch (pass something unique per process, e.g. the start time
    /// in milliseconds, so `Last-Event-ID`s from before a restart are recognised as gaps).
    pub fn new(epoch: u64) -> Self {
        Self {
            epoch,
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// How many viewers watch `plan` now.
    pub fn subscribers(&self, plan: PlanId) -> usize {
        self.lock().get_mut(&plan).map_or(0, |t| {
            t.subscribers.retain(|s| !s.is_closed());
            t.subscribers.len()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PlanId, Topic>> {
        // A panic while holding the lock cannot leave a topic inconsistent (every update is a
        // single push or retain), so a poisoned lock is still usable.
        self.topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, plan: PlanId, event: LiveEvent) -> Result<EventId, InfraError> {
        let mut topics = self.lock();
        if topics.len() > IDLE_TOPICS && !topics.contains_key(&plan) {
            topics.retain(|_, t| {
                t.subscribers.retain(|s| !s.is_closed());
                !t.subscribers.is_empty()
            });
        }
        let topic = topics.entry(plan).or_default();
        topic.seq += 1;
        let event = PlanEvent {
            id: EventId {
                epoch: self.epoch,
                seq: topic.seq,
            },
            plan_id: plan,
            event,
        };
        if topic.retained.len() == RETAINED_EVENTS {
            topic.retained.pop_front();
        }
        topic.retained.push_back(event.clone());
        // A full buffer disconnects the subscriber: it reconnects with its Last-Event-ID and is
        // replayed, instead of slowing the publisher down.
        topic
            .subscribers
            .retain_mut(|s| s.try_send(event.clone()).is_ok());
        Ok(event.id)
    }

    async fn subscribe(
        &self,
        plan: PlanId,
        after: Option<EventId>,
    ) -> Result<Subscription, InfraError> {
        let mut topics = self.lock();
        let topic = topics.entry(plan).or_default();
        let last = EventId {
            epoch: self.epoch,
            seq: topic.seq,
        };
        let (replay, gap) = match after {
            None => (vec![], false),
            Some(a) if a.epoch != self.epoch || a.seq > topic.seq => (vec![], true),
            Some(a) => {
                let oldest = topic.retained.front().map_or(topic.seq + 1, |e| e.id.seq);
                // Events a.seq+1 .. oldest-1 are no longer retained.
                let gap = a.seq + 1 < oldest;
                let replay = topic
                    .retained
                    .iter()
                    .filter(|e| e.id.seq > a.seq)
                    .cloned()
                    .collect();
                (replay, gap)
            }
        };
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        topic.subscribers.retain(|s| !s.is_closed());
        topic.subscribers.push(tx);
        Ok(Subscription {
            last,
            replay,
            gap,
            live: Box::pin(rx),
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn ev(n: u32) -> LiveEvent {
        LiveEvent::Plan {
            activity: if n.is_multiple_of(2) {
                PlanActivity::Archived
            } else {
                PlanActivity::Unarchived
            },
            by: Actor {
                login: format!("u{n}"),
            },
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn events_decode_from_what_they_serialize_to() {
        let events = [
            LiveEvent::Version {
                version: 3,
                title: "Plan".into(),
                pushed_by: Actor {
                    login: "ada".into(),
                },
                changes: LiveChanges {
                    added: vec![AnchorId::parse("intro").unwrap()],
                    changed: vec![],
                    removed: vec![AnchorId::parse("old").unwrap()],
                },
                summary: Some("Sections: 1 changed (+2 −0 words).".into()),
                typed: vec!["Decision “Redis vs PostgreSQL”: Open → Accepted".into()],
            },
            LiveEvent::Comment {
                activity: CommentActivity::Resolved,
                comment_id: "c1".into(),
                thread_id: "t1".into(),
                anchor: None,
                by: Actor {
                    login: "ben".into(),
                },
            },
            ev(1),
            ev(2),
        ];
        for e in events {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(LiveEvent::decode(e.name(), &json), Ok(e.clone()), "{json}");
            let other = if e.name() == "plan" {
                "comment"
            } else {
                "plan"
            };
            assert!(LiveEvent::decode(other, &json).is_err(), "{json}");
        }
        assert!(LiveEvent::decode("plan", "{}").is_err());
        assert!(LiveEvent::decode("plan", "not json").is_err());
    }

    #[test]
    fn a_version_event_names_what_changed_not_what_stayed() {
        let a = |s: &str| AnchorId::parse(s).unwrap();
        let pushed = ChangeSet {
            added: vec![a("new")],
            removed: vec![a("gone")],
            changed: vec![a("edited")],
            unchanged: (0..200).map(|i| a(&format!("kept-{i}"))).collect(),
        };
        let live = LiveChanges::from(&pushed);
        assert_eq!(
            (&live.added, &live.changed, &live.removed),
            (&pushed.added, &pushed.changed, &pushed.removed)
        );
        let json = serde_json::to_string(&live).unwrap();
        assert!(
            !json.contains("kept-") && !json.contains("unchanged"),
            "{json}"
        );
        // An event stored before (PostgreSQL keeps a day of them) still decodes.
        let old = r#"{"version":2,"title":"T","pushed_by":{"login":"ada"},"changes":{"added":[],"removed":[],"changed":["a"],"unchanged":["b"]}}"#;
        assert!(matches!(
            LiveEvent::decode("version", old),
            Ok(LiveEvent::Version { version: 2, .. })
        ));
    }

    #[test]
    fn event_ids_round_trip_and_reject_garbage() {
        let id = EventId {
            epoch: 0x1f2e,
            seq: 42,
        };
        assert_eq!(id.to_string(), "1f2e-42");
        assert_eq!("1f2e-42".parse::<EventId>(), Ok(id));
        for bad in ["", "42", "x-1", "1-", "1--2", "1-2-3"] {
            assert_eq!(bad.parse::<EventId>(), Err(BadEventId), "{bad}");
        }
    }

    #[test]
    fn subscribers_get_live_events_in_order_and_only_their_plans() {
        block(async {
            let bus = LocalBus::new(7);
            let (a, b) = (PlanId::new(), PlanId::new());
            let mut sub = bus.subscribe(a, None).await.unwrap();
            assert_eq!(sub.last, EventId { epoch: 7, seq: 0 });
            for n in 1..=3 {
                bus.publish(a, ev(n)).await.unwrap();
                bus.publish(b, ev(n + 10)).await.unwrap();
            }
            let got: Vec<_> = sub.live.by_ref().take(3).collect().await;
            assert_eq!(got.iter().map(|e| e.id.seq).collect::<Vec<_>>(), [1, 2, 3]);
            assert!(got.iter().all(|e| e.plan_id == a));
            assert_eq!(got[0].event, ev(1));
        });
    }

    #[test]
    fn reconnecting_with_last_event_id_replays_exactly_what_was_missed() {
        block(async {
            let bus = LocalBus::new(7);
            let plan = PlanId::new();
            let mut ids = vec![];
            for n in 1..=5 {
                ids.push(bus.publish(plan, ev(n)).await.unwrap());
            }
            let sub = bus.subscribe(plan, Some(ids[1])).await.unwrap();
            assert!(!sub.gap);
            assert_eq!(
                sub.replay.iter().map(|e| e.id.seq).collect::<Vec<_>>(),
                [3, 4, 5]
            );
            assert_eq!(sub.last, ids[4]);
            // Up to date: nothing to replay.
            let sub = bus.subscribe(plan, Some(ids[4])).await.unwrap();
            assert!(sub.replay.is_empty() && !sub.gap);
        });
    }

    #[test]
    fn unwatched_streams_are_dropped_past_the_bound_and_watched_ones_kept() {
        block(async {
            let bus = LocalBus::new(7);
            let watched = PlanId::new();
            let sub = bus.subscribe(watched, None).await.unwrap();
            let first = bus.publish(watched, ev(1)).await.unwrap();
            for n in 0..(IDLE_TOPICS as u32 + 10) {
                bus.publish(PlanId::new(), ev(n)).await.unwrap();
            }
            let kept = bus.lock().len();
            assert!(kept <= IDLE_TOPICS + 1, "{kept} streams kept");
            // The watched plan's stream went on: its viewer replays from where it was.
            let next = bus.publish(watched, ev(2)).await.unwrap();
            assert_eq!(next.seq, first.seq + 1);
            let again = bus.subscribe(watched, Some(first)).await.unwrap();
            assert!(!again.gap && again.replay.len() == 1);
            drop(sub);
        });
    }

    #[test]
    fn ids_from_another_epoch_or_beyond_retention_are_gaps() {
        block(async {
            let bus = LocalBus::new(7);
            let plan = PlanId::new();
            for n in 0..(RETAINED_EVENTS as u32 + 10) {
                bus.publish(plan, ev(n)).await.unwrap();
            }
            let old = EventId { epoch: 7, seq: 2 };
            let sub = bus.subscribe(plan, Some(old)).await.unwrap();
            assert!(sub.gap, "events 3..10 are gone");
            assert_eq!(sub.replay.len(), RETAINED_EVENTS);
            let restarted = EventId { epoch: 6, seq: 3 };
            let sub = bus.subscribe(plan, Some(restarted)).await.unwrap();
            assert!(sub.gap && sub.replay.is_empty());
            let future = EventId {
                epoch: 7,
                seq: 9999,
            };
            assert!(bus.subscribe(plan, Some(future)).await.unwrap().gap);
        });
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_disconnected_without_blocking_the_publisher() {
        block(async {
            let bus = LocalBus::new(1);
            let plan = PlanId::new();
            let slow = bus.subscribe(plan, None).await.unwrap();
            let mut fast = bus.subscribe(plan, None).await.unwrap();
            let mut fast_seen = 0;
            for n in 0..(SUBSCRIBER_BUFFER as u32 * 2) {
                bus.publish(plan, ev(n)).await.unwrap();
                if fast.live.next().await.is_some() {
                    fast_seen += 1;
                }
            }
            assert_eq!(fast_seen, SUBSCRIBER_BUFFER * 2);
            // The slow one got its buffer's worth, then its stream ended.
            let got: Vec<_> = slow.live.collect().await;
            assert!(got.len() <= SUBSCRIBER_BUFFER + 1, "{}", got.len());
            assert_eq!(bus.subscribers(plan), 1);
        });
    }

    #[test]
    fn dropped_subscriptions_are_forgotten() {
        block(async {
            let bus = LocalBus::new(1);
            let plan = PlanId::new();
            let sub = bus.subscribe(plan, None).await.unwrap();
            assert_eq!(bus.subscribers(plan), 1);
            drop(sub);
            bus.publish(plan, ev(1)).await.unwrap();
            assert_eq!(bus.subscribers(plan), 0);
        });
    }
}
