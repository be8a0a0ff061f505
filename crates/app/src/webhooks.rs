//! Signed outgoing webhooks: the registry admins keep (`/api/admin/webhooks`, the dashboard's
//! Webhooks tab) and how an event reaches every hook that asked for it.
//!
//! Delivery rides on the outbox, in two steps, each exactly once:
//! 1. The write that causes an event (a push, a comment, a resolve, a publish) adds one message on
//!    the [`WEBHOOKS_CHANNEL`] in its own transaction, like the chat channels' messages (never for
//!    a private plan: [`crate::Notifications::messages`]), when that transaction sees at least one
//!    registered hook (the storage adapter checks; with none, nothing is written).
//! 2. The delivery worker hands that message to the webhook adapter, which *fans it out*: one
//!    message per registered hook subscribed to the event, on the channel `webhook:<hook id>`,
//!    written together with marking the fan-out message delivered ([`crate::Outbox::fan_out`]).
//!    Each per-hook message is then retried with backoff on its own and shows as that hook's
//!    delivery log ([`crate::Outbox::recent`]); its id is the `webhook-id` receivers deduplicate by.
//!
//! The signing secret must be usable to sign, so it cannot be hashed: the adapter behind
//! [`WebhookKeys`] seals it (authenticated encryption under a key derived from `SECRET_KEY`) before
//! it is stored, and it is shown to the admin once, when the hook is created.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::UserId;
use planpush_roles::{Capability, Ownership};
use serde::{Deserialize, Serialize};

use crate::{Auditor, InfraError, Notification, OutboxMessage, Ports, Principal};

planpush_identity::uuid_id!(WebhookId, "a registered outgoing webhook", "webhook id");

/// The outbox channel of events waiting to be fanned out to the registered hooks.
pub const WEBHOOKS_CHANNEL: &str = "webhooks";
/// The prefix of a hook's own outbox channel (`webhook:<id>`).
pub const HOOK_CHANNEL_PREFIX: &str = "webhook:";
/// Most hooks an installation may register.
pub const MAX_WEBHOOKS: usize = 50;
/// Longest accepted webhook URL (characters).
pub const MAX_WEBHOOK_URL_CHARS: usize = 2000;
/// Deliveries shown per hook in its log.
pub const WEBHOOK_LOG_LEN: u32 = 20;

/// The outbox channel of one hook's deliveries.
pub fn hook_channel(id: WebhookId) -> String {
    format!("{HOOK_CHANNEL_PREFIX}{id}")
}

/// The hook a `webhook:<id>` channel names.
pub fn hook_of_channel(channel: &str) -> Option<WebhookId> {
    WebhookId::parse(channel.strip_prefix(HOOK_CHANNEL_PREFIX)?).ok()
}

/// An event a hook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    #[serde(rename = "plan.version_created")]
    VersionCreated,
    #[serde(rename = "plan.published")]
    PlanPublished,
    #[serde(rename = "comment.created")]
    CommentCreated,
    #[serde(rename = "comment.resolved")]
    CommentResolved,
    #[serde(rename = "review.requested")]
    ReviewRequested,
    #[serde(rename = "review.approved")]
    ReviewApproved,
    #[serde(rename = "review.changes_requested")]
    ReviewChangesRequested,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::VersionCreated,
        WebhookEvent::PlanPublished,
        WebhookEvent::CommentCreated,
        WebhookEvent::CommentResolved,
        WebhookEvent::ReviewRequested,
        WebhookEvent::ReviewApproved,
        WebhookEvent::ReviewChangesRequested,
    ];

    /// The event's `type` in a delivery (`plan.version_created`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::VersionCreated => "plan.version_created",
            WebhookEvent::PlanPublished => "plan.published",
            WebhookEvent::CommentCreated => "comment.created",
            WebhookEvent::CommentResolved => "comment.resolved",
            WebhookEvent::ReviewRequested => "review.requested",
            WebhookEvent::ReviewApproved => "review.approved",
            WebhookEvent::ReviewChangesRequested => "review.changes_requested",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The event a notification is.
    pub fn of(n: &Notification) -> Self {
        match n {
            Notification::VersionPushed { .. } | Notification::VersionsPushed { .. } => {
                WebhookEvent::VersionCreated
            }
            Notification::PlanPublished { .. } => WebhookEvent::PlanPublished,
            Notification::CommentCreated { .. } => WebhookEvent::CommentCreated,
            Notification::CommentResolved { .. } => WebhookEvent::CommentResolved,
            Notification::ReviewRequested { .. } => WebhookEvent::ReviewRequested,
            Notification::ReviewDecided { verdict, .. } if verdict == "approved" => {
                WebhookEvent::ReviewApproved
            }
            Notification::ReviewDecided { .. } => WebhookEvent::ReviewChangesRequested,
        }
    }
}

/// A registered hook. The secret is held only sealed ([`WebhookKeys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    /// Checked when registered ([`WebhookKeys::check_url`]) and again at every delivery.
    pub url: String,
    /// At least one, no duplicates, in [`WebhookEvent::ALL`] order.
    pub events: Vec<WebhookEvent>,
    /// The signing secret, sealed by [`WebhookKeys::seal`] (opaque here).
    pub sealed_secret: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

/// The registry of hooks.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a new hook. MUST fail (`Unknown`) if the id exists.
    async fn insert(&self, hook: &Webhook) -> Result<(), InfraError>;
    /// Every hook, oldest first.
    async fn list(&self) -> Result<Vec<Webhook>, InfraError>;
    /// MUST return `NotFound` for an unknown id.
    async fn get(&self, id: WebhookId) -> Result<Webhook, InfraError>;
    /// Deletes the hook and, in the same transaction, its deliveries still pending in the outbox
    /// (so nothing more is sent to it). MUST return `NotFound` for an unknown id.
    async fn delete(&self, id: WebhookId) -> Result<(), InfraError>;
}

/// Why a webhook URL is refused, for the admin (e.g. "must use https://").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlRefused(pub String);

/// The security half of the webhook adapter: URL rules against SSRF and secret sealing.
pub trait WebhookKeys: Send + Sync {
    /// The URL as it will be stored, or why it is refused (scheme, credentials, an internal
    /// address not allowed by configuration). MUST NOT resolve names (delivery re-checks them).
    fn check_url(&self, raw: &str) -> Result<String, UrlRefused>;
    /// A new random signing secret for hook `id`: `(shown once to the admin, sealed for storage)`.
    /// The sealed form MUST be bound to `id` (it does not open for another hook).
    fn new_secret(&self, id: WebhookId) -> Result<(String, String), InfraError>;
}

/// One delivery to a hook, for its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub message: OutboxMessage,
    /// `type` of the delivered event (`plan.version_created`, `webhook.test`, …).
    pub event: String,
}

impl WebhookDelivery {
    /// `delivered`, `failed` (given up), `retrying` (failed, due again) or `pending`.
    pub fn status(&self) -> &'static str {
        let m = &self.message;
        if m.delivered_at.is_some() {
            "delivered"
        } else if m.gave_up_at.is_some() {
            "failed"
        } else if m.last_error.is_some() {
            "retrying"
        } else {
            "pending"
        }
    }
}

/// A hook with its recent deliveries, newest first.
#[derive(Debug, Clone)]
pub struct WebhookView {
    pub hook: Webhook,
    pub deliveries: Vec<WebhookDelivery>,
}

/// What an admin asks to register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    /// Event names; empty means every event.
    pub events: Vec<String>,
}

/// Errors of the webhook administration.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("only administrators can manage webhooks")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("no such webhook")]
    NotFound,
    #[error("webhooks are not available on this server")]
    Unavailable,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

fn infra(e: InfraError) -> WebhookError {
    match e {
        InfraError::NotFound => WebhookError::NotFound,
        InfraError::Unknown(e) => WebhookError::Unknown(e),
    }
}

/// The body of a hook's test delivery (`type` `webhook.test`), built by the adapter's renderer.
pub const TEST_EVENT: &str = "webhook.test";

/// The per-hook outbox payload: the event's JSON body, exactly as it is signed and sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookPayload {
    /// The event `type`.
    #[serde(rename = "type")]
    pub event: String,
    /// The delivery body (`{"id", "type", "timestamp", "data"}`).
    pub body: String,
}

/// Renders the body of a test delivery from `(delivery id, time)` (the adapter's renderer).
pub type TestBody = Arc<dyn Fn(&str, DateTime<Utc>) -> String + Send + Sync>;

/// The webhook administration use cases (admins only).
#[derive(Clone)]
pub struct Webhooks {
    ports: Ports,
    keys: Option<Arc<dyn WebhookKeys>>,
    /// Renders a test delivery body from `(message id, time)`.
    test_body: Option<TestBody>,
    audit: Auditor,
}

impl Webhooks {
    /// Unavailable until [`Webhooks::with_keys`] gives it the adapter.
    pub fn new(ports: Ports) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            keys: None,
            test_body: None,
            audit,
        }
    }

    /// Webhooks on, with the adapter's URL rules and sealing, and its test-delivery renderer.
    pub fn with_keys(mut self, keys: Arc<dyn WebhookKeys>, test_body: TestBody) -> Self {
        self.keys = Some(keys);
        self.test_body = Some(test_body);
        self
    }

    fn require_admin(p: &Principal) -> Result<(), WebhookError> {
        if p.can(Capability::ManageUsers, Ownership::Others) {
            Ok(())
        } else {
            Err(WebhookError::Forbidden)
        }
    }

    fn keys(&self) -> Result<&Arc<dyn WebhookKeys>, WebhookError> {
        self.keys.as_ref().ok_or(WebhookError::Unavailable)
    }

    /// Every hook with its recent deliveries.
    pub async fn list(&self, p: &Principal) -> Result<Vec<WebhookView>, WebhookError> {
        Self::require_admin(p)?;
        let mut out = vec![];
        for hook in self.ports.webhooks.list().await.map_err(infra)? {
            let deliveries = self.deliveries(hook.id).await?;
            out.push(WebhookView { hook, deliveries });
        }
        Ok(out)
    }

    async fn deliveries(&self, id: WebhookId) -> Result<Vec<WebhookDelivery>, WebhookError> {
        Ok(self
            .ports
            .outbox
            .recent(&hook_channel(id), WEBHOOK_LOG_LEN)
            .await
            .map_err(infra)?
            .into_iter()
            .map(|message| WebhookDelivery {
                event: serde_json::from_str::<HookPayload>(&message.payload)
                    .map(|h| h.event)
                    .unwrap_or_default(),
                message,
            })
            .collect())
    }

    /// Parses the chosen events: known names, at least one (none given means all).
    pub fn parse_events(names: &[String]) -> Result<Vec<WebhookEvent>, WebhookError> {
        if names.is_empty() {
            return Ok(WebhookEvent::ALL.to_vec());
        }
        let mut events = vec![];
        for name in names {
            let e = WebhookEvent::parse(name.trim()).ok_or_else(|| {
                WebhookError::BadRequest(format!(
                    "unknown event {name:?}; known events: {}",
                    WebhookEvent::ALL.map(WebhookEvent::as_str).join(", ")
                ))
            })?;
            events.push(e);
        }
        events.sort();
        events.dedup();
        Ok(events)
    }

    /// Registers a hook; returns it with its signing secret (`whsec_…`), shown this once only.
    pub async fn create(
        &self,
        p: &Principal,
        input: &NewWebhook,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(Webhook, String), WebhookError> {
        Self::require_admin(p)?;
        let keys = self.keys()?;
        if input.url.chars().count() > MAX_WEBHOOK_URL_CHARS {
            return Err(WebhookError::BadRequest(format!(
                "url: longer than {MAX_WEBHOOK_URL_CHARS} characters"
            )));
        }
        let url = keys
            .check_url(&input.url)
            .map_err(|e| WebhookError::BadRequest(format!("url: {e}")))?;
        let events = Self::parse_events(&input.events)?;
        if self.ports.webhooks.list().await.map_err(infra)?.len() >= MAX_WEBHOOKS {
            return Err(WebhookError::BadRequest(format!(
                "at most {MAX_WEBHOOKS} webhooks can be registered"
            )));
        }
        let id = WebhookId::new();
        let (secret, sealed_secret) = keys.new_secret(id).map_err(infra)?;
        let hook = Webhook {
            id,
            url,
            events,
            sealed_secret,
            created_by: Some(p.user_id),
            created_at: now,
        };
        self.ports.webhooks.insert(&hook).await.map_err(infra)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::WebhookCreated, Some(p.user_id), now)
                    .target("webhook", id)
                    .detail("url", hook.url.as_str())
                    .ip(ip),
            )
            .await;
        Ok((hook, secret))
    }

    /// Deletes a hook (its pending deliveries are dropped with it).
    pub async fn delete(
        &self,
        p: &Principal,
        id: WebhookId,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        Self::require_admin(p)?;
        let hook = self.ports.webhooks.get(id).await.map_err(infra)?;
        self.ports.webhooks.delete(id).await.map_err(infra)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::WebhookDeleted, Some(p.user_id), now)
                    .target("webhook", id)
                    .detail("url", hook.url.as_str())
                    .ip(ip),
            )
            .await;
        Ok(())
    }

    /// Queues a `webhook.test` delivery to the hook (it appears in the hook's log like any other).
    pub async fn send_test(
        &self,
        p: &Principal,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> Result<WebhookDelivery, WebhookError> {
        Self::require_admin(p)?;
        let render = self.test_body.as_ref().ok_or(WebhookError::Unavailable)?;
        let hook = self.ports.webhooks.get(id).await.map_err(infra)?;
        let mut message = OutboxMessage::new(&hook_channel(hook.id), String::new(), now);
        let payload = HookPayload {
            event: TEST_EVENT.into(),
            body: render(&message.id.to_string(), now),
        };
        message.payload = serde_json::to_string(&payload).map_err(anyhow::Error::from)?;
        self.ports.outbox.enqueue(&message).await.map_err(infra)?;
        Ok(WebhookDelivery {
            message,
            event: TEST_EVENT.into(),
        })
    }
}
