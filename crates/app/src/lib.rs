//! Application services: the use cases of PlanPush over the domain ports.
//!
//! This crate decides, once, what every entry point (web pages, JSON API, CLI pushes, SCIM) may do.
//! It talks to the world only through port traits passed in as `Arc<dyn Port>` ([`Ports`]).
//!
//! Besides the domain crates' ports it owns the ports that are not about one domain concept:
//! [`KvStore`] (the database-backed cache), [`Outbox`] (notifications written with the event and
//! delivered later) and [`Readiness`].
//!
//! Architecture invariant: depends on domain crates only; no web framework, database, HTTP client or
//! clock (time comes in as `now`).

mod access;
mod admin;
mod audit_log;
mod auditor;
mod cluster;
mod comments;
#[cfg(feature = "contract")]
pub mod contract;
mod cpu;
mod dashboard;
mod email;
mod events;
mod export;
#[cfg(feature = "fake")]
pub mod fake;
mod generation;
mod groups;
mod health;
mod inbox;
mod maintenance;
mod notify;
mod offboarding;
mod outbox;
mod plans;
mod ports;
mod presence;
mod provider;
mod push;
mod ratelimit;
mod reviews;
mod scim;
mod scim_ports;
mod search;
mod sessions;
mod signin;
mod tokens;
mod turn;
mod webhooks;

pub use access::{ACCESS_TTL, Access, AccessCache, AuthMethod, Principal};
pub use admin::{Admin, AdminError, Member, MemberChange, MemberOrigin, Profile};
pub use audit_log::{
    AUDIT_PAGE_MAX, AuditEntry, AuditExport, AuditLog, AuditLogError, AuditLogPage,
    AuditQueryInput, TargetLabel,
};
pub use auditor::Auditor;
pub use cluster::{Cluster, RemoteChanges};
pub use comments::{
    CommentChange, CommentError, CommentView, Comments, NewComment, Person, RESOLVE_NOTIFY_WINDOW,
    Reanchored, Thread,
};
pub use cpu::{CpuPool, Overloaded, default_queue, default_sizes};
pub use dashboard::{
    AuditTab, CommentRow, DASHBOARD_ACTIVITY, DASHBOARD_COMMENTS, Dashboard, DashboardError,
    DashboardView, PlanRow, Tabs,
};
pub use email::{
    DIGEST_MAX_ITEMS, DIGEST_PERIOD, Digest, DigestGroup, DigestRef, EmailMode, EmailNotifier,
    EmailPayload, EmailPreference, EmailPreferenceRepository, EmailSettings, Emails, InboxItem,
    InboxSource, Mail, MailGroup, MailItem, Mailer, NotificationKind, RepositoryInbox,
    UnsubscribeError, UnsubscribeKeys, UnsubscribeTarget, assemble_digest, digest_due,
};
pub use events::{
    Actor, BadEventId, CommentActivity, EventBus, EventId, EventStream, LIVE_MAX_TYPED,
    LiveChanges, LiveEvent, LocalBus, ObservedBus, PlanActivity, PlanEvent, RETAINED_EVENTS,
    SUBSCRIBER_BUFFER, Subscription,
};
pub use export::{Export, ExportComments, ExportThread, export_markdown};
pub use generation::{CacheLimits, GenerationCache, Generations};
pub use groups::{GroupAccess, GroupMappingError, GroupSync};
pub use health::{Health, NotReady};
pub use inbox::{
    INBOX_PAGE_MAX, Inbox, InboxError, InboxPage, InboxView, PlanSubscription, link_of,
};
pub use maintenance::{Maintenance, OUTBOX_KEEP_DAYS, Swept};
pub use notify::{ChangeSummary, WordChange, change_summary, change_summary_of, merge_versions};
pub use notify::{
    Deliveries, Delivery, DeliveryError, DeliverySettings, EMAIL_CHANNEL, NOTIFY_BODY_CHARS,
    NOTIFY_MAX_SECTIONS, NOTIFY_MAX_TYPED, Notification, Notifications, Notifier, PlanRef,
    SectionChange, SectionChangeKind, excerpt,
};
pub use offboarding::{
    AccessChanges, AccessSignal, Credential, LiveAccess, LiveWatch, LocalSignal,
};
pub use outbox::{
    OUTBOX_MAX_ATTEMPTS, OutboxMessage, OutboxMessageId, backoff_after, backoff_from,
};
pub use plans::{
    DiffPage, HISTORY_IN_PAGE, LiveFeed, PlanError, PlanInfo, PlanPage, PlanText, Plans, can_see,
};
pub use ports::*;
pub use presence::{PRESENCE_TTL, Presence, PresenceRepository, Reader, Reading};
pub use provider::{
    AuthorizationRequest, IdentityProvider, ProviderError, SingleLogout, VerifiedProfile,
};
pub use push::{
    Addressed, MAX_DOCUMENT_BYTES, PART_CACHE_BYTES, PUSH_ATTEMPTS, Push, PushError, PushOutcome,
    PushRequest, RenderCounts,
};
pub use ratelimit::{Budget, LimitKey, RateLimiter, Unlimited};
pub use reviews::{
    ChangeThread, MAX_REVIEWERS, ReviewError, ReviewRequestInput, ReviewStatus, ReviewerStatus,
    Reviews, WaitingReview, threads_on_changes,
};
pub use scim::{Scim, ScimQuery};
pub use scim_ports::{ScimGroup, ScimGroupId, ScimRepoError, ScimRepository, ScimUser};
pub use search::{
    MAX_QUERY_CHARS, MAX_SEARCH_RESULTS, MAX_SEARCH_TERMS, SEARCH_CANDIDATES, SNIPPET_CHARS,
    Search, SearchError, SearchHit, SearchKind, SearchQuery, SearchRepository, SearchResult,
    search_terms, snippet,
};
pub use sessions::{
    SESSION_REF_KEY, SESSION_USER_KEY, SessionState, WebSessions, session_ref, session_user,
};
pub use signin::{
    Admission, LinkError, PROVIDER_ERROR_MAX_CHARS, SignIn, SignInError, bounded_text,
};
pub use tokens::{
    ActivateError, BearerError, DEVICE_CLIENT_MAX_CHARS, DeviceClient, DeviceRequest, DeviceStart,
    GrantError, TokenError, TokenPair, Tokens,
};
pub use webhooks::{
    HOOK_CHANNEL_PREFIX, HookPayload, MAX_WEBHOOK_URL_CHARS, MAX_WEBHOOKS, NewWebhook, TEST_EVENT,
    TestBody, UrlRefused, WEBHOOK_LOG_LEN, WEBHOOKS_CHANNEL, Webhook, WebhookDelivery,
    WebhookError, WebhookEvent, WebhookId, WebhookKeys, WebhookRepository, WebhookView, Webhooks,
    hook_channel, hook_of_channel,
};
