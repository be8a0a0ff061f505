//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the JSON API, derived at compile time
//! by `utoipa` from the `#[utoipa::path]` attribute on each handler and the request types the
//! handlers deserialize. The response bodies are built with `json!` in the handlers; their
//! schemas are the structs below, and `tests/it/openapi.rs` checks real answers against them.
//!
//! What keeps it true: `tests/it/openapi.rs` sends a request for every described operation and
//! requires the router to match exactly that route pattern; `cargo xtask tidy` requires every route
//! registered under `/api/` to be described in `docs/openapi.json` (and nothing else), and that
//! file is the document this module produces (the same test compares them).
//!
//! Not described here: HTML pages, the live-update stream (`text/event-stream`), assets,
//! `/metrics` (Prometheus text) and SCIM 2.0, which describes itself (`/scim/v2/Schemas`,
//! `/scim/v2/ResourceTypes`, `/scim/v2/ServiceProviderConfig`).

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(serve));
}

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document itself.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = serde_json::Value)),
)]
async fn serve() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_pretty_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body.clone())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PlanPush",
        description = "The JSON API of a PlanPush server: pushing plans, their lifecycle, comments, \
            tokens, members, group mappings, the audit log and the CLI's device flow. Errors are \
            `{\"error\": \"snake_code\", \"message\": \"…\", \"request_id\": \"…\"}` \
            (the `Error` schema); the OAuth endpoints answer RFC 6749 errors (`OAuthError`). \
            Requests are authenticated by a Bearer token (personal API token or CLI access token) \
            or by the browser's session cookie; state-changing requests with a cookie must carry a \
            same-origin `Origin` header. See docs/api.md.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        serve,
        super::users::me,
        super::users::list,
        super::users::update,
        super::users::sign_out_everywhere,
        super::device::device_authorization_get,
        super::device::device_authorization,
        super::device::device_token,
        super::device::refresh,
        super::device::cli_logout,
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::push::push,
        super::plans::list,
        super::plans::info,
        super::plans::delete,
        super::plans::publish,
        super::plans::archive,
        super::plans::text,
        super::events::presence,
        super::reviews::status,
        super::reviews::request,
        super::reviews::decide,
        super::search::search,
        super::comments::list,
        super::comments::create,
        super::comments::update,
        super::comments::delete,
        super::inbox::list,
        super::inbox::read,
        super::inbox::subscription,
        super::inbox::subscribe,
        super::inbox::members,
        super::audit::page,
        super::audit::export,
        super::groups::list,
        super::groups::add,
        super::groups::remove,
        super::webhooks::list,
        super::webhooks::create,
        super::webhooks::delete,
        super::webhooks::test,
        super::email::get_preferences,
        super::email::put_preferences,
    ),
    modifiers(&Security),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This description"),
        (name = "auth", description = "Who is signed in; the CLI's device flow and tokens (RFC 8628, RFC 6749)"),
        (name = "plans", description = "Pushing plans and their lifecycle (the API calls a plan a session)"),
        (name = "comments", description = "Comment threads anchored to sections"),
        (name = "notifications", description = "The caller's inbox (mentions, replies, followed plans); following and muting plans"),
        (name = "reviews", description = "Sign-off per version: review requests and verdicts"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "users", description = "Members and their roles (admin)"),
        (name = "groups", description = "Identity-provider group → role mappings (admin)"),
        (name = "webhooks", description = "Signed outgoing webhooks and their delivery logs (admin)"),
        (name = "email", description = "The caller's e-mail notifications: immediate, daily digest or off"),
        (name = "audit", description = "The audit log (admin and project managers; others see their own)"),
    ),
)]
struct ApiDoc;

/// The two ways to authenticate: `bearer` and `session`.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal API token (dashboard → Tokens) or a CLI access token \
                         (device flow); `Authorization: Bearer <token>`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session_keys::COOKIE,
                "The browser's session cookie (after signing in); state-changing requests also \
                 need a same-origin `Origin` header",
            ))),
        );
    }
}

/// The JSON error body of every API failure.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorSchema {
    /// A stable snake_case code, e.g. `session_not_found`, `rate_limited`.
    error: String,
    /// A message fit to show to a person.
    message: String,
    /// The request's id (also in `X-Request-Id`), to quote when reporting a problem.
    request_id: Option<String>,
    /// Only on `400 invalid_name` and similar push refusals: a name that would be accepted.
    suggestion: Option<String>,
}

/// An RFC 6749 §5.2 / RFC 8628 §3.5 error of the token endpoints.
#[derive(Serialize, ToSchema)]
pub(crate) struct OAuthError {
    /// `authorization_pending`, `slow_down`, `expired_token`, `access_denied`, `invalid_grant`, …
    error: String,
    message: String,
    error_description: String,
    /// With `slow_down`: the interval, in seconds, to poll at from now on.
    interval: Option<u64>,
}

/// The caller's e-mail preference.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailPreferences {
    /// `immediate` (the default: one e-mail per notification), `daily` (one digest a day) or `off`.
    mode: String,
    /// Where e-mail goes (from the identity provider); without one nothing is sent.
    address: Option<String>,
    /// Whether this server sends e-mail at all (`SMTP_URL`).
    enabled: bool,
    /// Every mode, in the order to offer them.
    modes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` (liveness) or `ready` (readiness).
    status: String,
}

// Described, never built: the handlers write these values with `json!`.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Visibility {
    Private,
    Published,
}

/// Section anchors a version added, removed or changed against the one before it.
#[derive(Serialize, ToSchema)]
pub(crate) struct Changes {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

/// What a push changed: the section anchors, and what changed in the plan's terms.
#[derive(Serialize, ToSchema)]
pub(crate) struct PushChanges {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    /// What changed against the previous version in the plan's terms (docs/plan-format.md,
    /// "Seeing what changed"): vocabulary changes first, then sections; empty for a new plan or
    /// an identical push.
    typed: Vec<TypedChange>,
}

/// One semantic change between two versions.
#[derive(Serialize, ToSchema)]
pub(crate) struct TypedChange {
    /// `decision`, `risk`, `endpoint`, `field`, `phase`, `component` or `section`.
    kind: String,
    /// `added`, `removed`, `status`, `level`, `method`, `path`, `badges`, `type`, `keys`,
    /// `impact`, `text` or `anchor`.
    change: String,
    /// The element as a reader names it (a decision's text, `DELETE /api/auth/sessions`, a
    /// section's title).
    label: String,
    /// The value before (a status, level, badges, type, impact or anchor), when it had one.
    from: Option<String>,
    /// The value after, when it has one.
    to: Option<String>,
    /// The anchors around the element, outermost first, its own last if it has one.
    anchors: Vec<String>,
    /// The change in a sentence: "Decision “Redis vs PostgreSQL”: Open → Accepted".
    text: String,
}

/// A plan (the API's "session": one pushed document and its versions).
#[derive(Serialize, ToSchema)]
pub(crate) struct Plan {
    #[schema(format = Uuid)]
    session_id: String,
    /// The slug in `/p/{name}`.
    name: String,
    title: String,
    url: String,
    #[schema(format = Uuid)]
    owner_id: String,
    visibility: Visibility,
    /// The current version's number.
    version: u32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    archived: bool,
    archived_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PlanList {
    sessions: Vec<Plan>,
}

/// One version in a plan's history.
#[derive(Serialize, ToSchema)]
pub(crate) struct VersionSummary {
    version: u32,
    title: String,
    #[schema(format = Uuid)]
    pushed_by: Option<String>,
    pushed_at: DateTime<Utc>,
    /// Its snapshot was pruned by `VERSION_RETENTION_DAYS`.
    expired: bool,
    changes: Changes,
}

/// A plan with its history and open comment count.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlanInfo {
    #[serde(flatten)]
    plan: Plan,
    open_comments: u64,
    versions: Vec<VersionSummary>,
}

/// What a push did.
#[derive(Serialize, ToSchema)]
pub(crate) struct PushResult {
    #[schema(format = Uuid)]
    session_id: String,
    name: String,
    url: String,
    version: u32,
    /// False when the document was the same as the current version (nothing stored).
    created_version: bool,
    visibility: Visibility,
    changes: PushChanges,
    /// The "what changed" line against the previous version ("Sections: 1 changed (+14 −3
    /// words)."); null for a new plan or an identical push.
    summary: Option<String>,
    /// Threads of `X-Addresses` now marked addressed in this version.
    addressed: Vec<String>,
    /// Ids of `X-Addresses` that are not live threads of this plan (or no version was stored).
    addresses_ignored: Vec<String>,
}

/// One section of a version as text.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlanTextSection {
    anchor: String,
    title: String,
    /// Markdown-like text of the section.
    text: String,
    /// The section in that version on the page.
    url: String,
}

/// A version as text per section (what agents read).
#[derive(Serialize, ToSchema)]
pub(crate) struct PlanText {
    #[schema(format = Uuid)]
    session_id: String,
    name: String,
    title: String,
    url: String,
    version: u32,
    latest_version: u32,
    sections: Vec<PlanTextSection>,
}

/// One search match.
#[derive(Serialize, ToSchema)]
pub(crate) struct SearchHit {
    /// `plan`, `section` or `comment`.
    kind: String,
    #[schema(format = Uuid)]
    session_id: String,
    name: String,
    plan_title: String,
    title: String,
    anchor: Option<String>,
    #[schema(format = Uuid)]
    comment_id: Option<String>,
    path: String,
    url: String,
    /// Escaped text with the matching words in `<mark>`.
    snippet_html: String,
    visibility: Visibility,
    archived: bool,
    rank: f64,
}

/// Search results, best first.
#[derive(Serialize, ToSchema)]
pub(crate) struct SearchResults {
    query: String,
    results: Vec<SearchHit>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Person {
    #[schema(format = Uuid)]
    id: String,
    login: String,
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Quote {
    exact: String,
    prefix: String,
    suffix: String,
}

// Described, never built: the handlers write these values with `json!`.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AnchorState {
    Anchored,
    Changed,
    Moved,
    Orphaned,
}

// Described, never built: the handlers write these values with `json!`.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ThreadState {
    Open,
    Resolved,
}

/// A comment or a reply.
#[derive(Serialize, ToSchema)]
pub(crate) struct Comment {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    parent_id: Option<String>,
    anchor: String,
    anchor_state: AnchorState,
    /// With `anchor_state: moved`: the anchor its quote was found under.
    moved_to: Option<String>,
    /// With `anchor_state: moved`: how it was found (`quote`, `same_content`, `similar_content`).
    moved_by: Option<String>,
    /// The version a push said addresses this thread (`X-Addresses`). Kept when the thread is
    /// confirmed (resolved); cleared when it is reopened.
    addressed_in: Option<u32>,
    /// An open thread a version was said to address, until its author confirms (resolves) or
    /// reopens it: that version ("addressed in vN — waiting for @commenter").
    awaiting_confirmation: Option<u32>,
    /// With `awaiting_confirmation`: who is waited on (the thread's author).
    waiting_for: Option<Person>,
    quote: Option<Quote>,
    body: String,
    author: Person,
    /// The version it was written on.
    version: u32,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
    state: ThreadState,
    resolved_by: Option<Person>,
    resolved_at: Option<DateTime<Utc>>,
    /// Logins (lower-cased) its body mentions that are people who may see the plan: pages show
    /// these `@login`s as mentions; other `@words` are plain text.
    mentions: Vec<String>,
}

/// A top-level comment with its replies.
#[derive(Serialize, ToSchema)]
pub(crate) struct Thread {
    #[serde(flatten)]
    comment: Comment,
    replies: Vec<Comment>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ThreadList {
    comments: Vec<Thread>,
}

/// A personal API token (never its secret, except once at creation).
#[derive(Serialize, ToSchema)]
pub(crate) struct Token {
    #[schema(format = Uuid)]
    id: String,
    label: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenList {
    tokens: Vec<Token>,
}

/// A new token, with its secret: shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    view: Token,
    /// The secret: shown this once, stored only as a hash.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Grant {
    /// `admin`, `pm`, `developer` or `qa`.
    role: String,
    /// `sso` (reconciled at sign-in) or `manual`.
    origin: String,
    granted_at: DateTime<Utc>,
}

/// A member of the team.
#[derive(Serialize, ToSchema)]
pub(crate) struct Member {
    #[schema(format = Uuid)]
    id: String,
    login: String,
    name: Option<String>,
    email: Option<String>,
    avatar_url: Option<String>,
    active: bool,
    /// How the user came to exist (`sign_in`, `scim`, …).
    origin: String,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
    roles: Vec<String>,
    grants: Vec<Grant>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MemberList {
    users: Vec<Member>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Permission {
    capability: String,
    /// `own` or `any`.
    scope: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WebSession {
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The caller: member record, what they may do, their browser sessions.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    #[serde(flatten)]
    member: Member,
    permissions: Vec<Permission>,
    sessions: Vec<WebSession>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SessionsEnded {
    sessions_ended: u64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupMapping {
    group: String,
    role: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupMappingList {
    mappings: Vec<GroupMapping>,
}

/// One delivery attempt series to a hook (an outbox message).
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookDelivery {
    /// Also the `webhook-id` header and the body's `id` (receivers deduplicate by it).
    #[schema(format = Uuid)]
    id: String,
    /// `plan.version_created`, `plan.published`, `comment.created`, `comment.resolved` or `webhook.test`.
    event: String,
    /// `pending`, `retrying`, `delivered` or `failed` (given up).
    status: String,
    attempts: u32,
    created_at: DateTime<Utc>,
    /// When it is tried next (absent once delivered or given up).
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    gave_up_at: Option<DateTime<Utc>>,
    /// The last failure (`HTTP 500: …`, `timed out: …`, `refused: …`).
    last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Webhook {
    #[schema(format = Uuid)]
    id: String,
    url: String,
    events: Vec<String>,
    created_at: DateTime<Utc>,
    /// The newest deliveries first (at most 20).
    deliveries: Vec<WebhookDelivery>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookList {
    webhooks: Vec<Webhook>,
    /// The events a hook can subscribe to.
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookCreated {
    #[schema(format = Uuid)]
    id: String,
    url: String,
    events: Vec<String>,
    created_at: DateTime<Utc>,
    /// The signing secret (`whsec_` + base64), shown this once only.
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookDeliveryQueued {
    delivery: WebhookDelivery,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEvent {
    #[schema(format = Uuid)]
    id: String,
    at: DateTime<Utc>,
    #[schema(format = Uuid)]
    actor_id: Option<String>,
    actor_login: Option<String>,
    /// e.g. `plan.pushed`, `user.signed_in`, `token.created`.
    action: String,
    target: Option<String>,
    /// The target named for people (`{text, href}`): a login, a plan title, a comment's first words.
    #[schema(value_type = Option<Object>)]
    target_label: Option<serde_json::Value>,
    ip: Option<String>,
    /// What happened, by action (free-form object).
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

// Described, never built: the handlers write these values with `json!`.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuditScope {
    All,
    Own,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditPage {
    events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; absent on the last one.
    next_cursor: Option<String>,
    scope: AuditScope,
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
    login_url: String,
    message: String,
}

/// RFC 6749 §5.1 token response.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenPair {
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    token_type: String,
    expires_in: u64,
}
