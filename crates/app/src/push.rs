//! Pushing a plan: a document becomes a new plan or the next version of one, atomically.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use std::sync::Arc;

use planpush_document::{
    DiagramRenderer, SanitizeOptions, find_diagrams, markdown_to_html, replace_diagrams, sanitize,
    section_index, title,
};
use planpush_plans::{Plan, PlanId, PlanRepoError, Slug, Visibility, fit_title};
use planpush_roles::{Capability, Ownership};
use planpush_versions::{
    ChangeSet, Commit, SourceFormat, Version, VersionNumber, VersionRepoError,
};

use crate::notify::version_pushed;
use crate::{Actor, Auditor, LiveEvent, Notifications, Ports, Principal};

/// Pushed documents larger than this are refused.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// What the CLI or plugin sends.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub body: String,
    pub format: SourceFormat,
    /// `X-Session-Name`: the wanted slug.
    pub name: Option<String>,
    /// `X-Session-Id`: update this plan.
    pub session_id: Option<String>,
    /// `X-Visibility: private|published` for a new plan (default: `DEFAULT_VISIBILITY`; ignored on
    /// updates: publishing is one-way and has its own endpoint).
    pub visibility: Option<Visibility>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub plan: Plan,
    pub version: VersionNumber,
    pub changes: ChangeSet,
    /// False when the content was identical to the current version (nothing was stored).
    pub created_version: bool,
    /// The "what changed" line against the previous version (`None` for a new plan).
    pub summary: Option<String>,
    /// What changed against the previous version in the plan's terms (empty for a new plan).
    pub typed: Vec<planpush_document::TypedChange>,
}

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is larger than 4 MB ({0} bytes)")]
    TooLarge(usize),
    #[error("{0}")]
    InvalidName(String),
    #[error("the session id is not valid")]
    InvalidSessionId,
    #[error("your role may not push plans")]
    Forbidden,
    #[error("no session with this id")]
    SessionNotFound,
    #[error("only the owner (or an admin or project manager) can push to this session")]
    NotSessionOwner,
    #[error("the name {taken} is taken; try {suggestion}")]
    NameTaken { taken: Slug, suggestion: Slug },
    /// `X-Addresses` is not a list of comment ids.
    #[error("X-Addresses: {0}")]
    InvalidAddresses(String),
    /// Other pushes to the same plan won the race for the next version number every time.
    #[error("other pushes to this session kept landing first; push again")]
    Busy,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// How often a push re-reads the plan and tries again when another push took its version number.
pub const PUSH_ATTEMPTS: u32 = 8;

/// The push use case.
#[derive(Clone)]
pub struct Push {
    ports: Ports,
    audit: Auditor,
    options: SanitizeOptions,
    diagrams: Arc<dyn DiagramRenderer>,
    notify: Notifications,
    /// The visibility of a new plan pushed without `X-Visibility` (`DEFAULT_VISIBILITY`).
    default_visibility: Visibility,
}

/// A rendered, sanitized document with its index.
struct Rendered {
    html: String,
    title: Option<String>,
    sections: planpush_versions::SectionIndex,
}

fn unknown(e: impl Into<anyhow::Error>) -> PushError {
    PushError::Unknown(e.into())
}

impl Push {
    pub fn new(ports: Ports, options: SanitizeOptions, diagrams: Arc<dyn DiagramRenderer>) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            audit,
            options,
            diagrams,
            notify: Notifications::off(),
            default_visibility: Visibility::Published,
        }
    }

    /// The same use case, creating plans pushed without a visibility with `visibility`.
    pub fn with_default_visibility(mut self, visibility: Visibility) -> Self {
        self.default_visibility = visibility;
        self
    }

    /// The same use case, writing a notification with every new version of a published plan.
    pub fn with_notifications(mut self, notify: Notifications) -> Self {
        self.notify = notify;
        self
    }

    /// Markdown → HTML, Mermaid → SVG (cached by source hash, so an unchanged diagram costs nothing
    /// on the next push; failures are shown, never cached), then the allowlist and the index.
    async fn render(&self, body: &str, format: SourceFormat, now: DateTime<Utc>) -> Rendered {
        let raw = match format {
            SourceFormat::Markdown => markdown_to_html(body),
            SourceFormat::Html => body.to_owned(),
        };
        let diagrams = find_diagrams(&raw);
        let mut rendered = Vec::with_capacity(diagrams.len());
        for d in &diagrams {
            let key = d.key();
            let cached = match self.ports.kv.get(&key, now).await {
                Ok(hit) => hit.and_then(|bytes| String::from_utf8(bytes).ok()),
                Err(e) => {
                    tracing::warn!(error = %e, "diagram cache unavailable");
                    None
                }
            };
            let svg = match cached {
                Some(svg) => Ok(svg),
                None => {
                    let result = self.diagrams.render_svg(&d.source);
                    if let Ok(svg) = &result
                        && let Err(e) = self
                            .ports
                            .kv
                            .put(&key, svg.as_bytes(), Some(now + chrono::Duration::days(90)))
                            .await
                    {
                        tracing::warn!(error = %e, "diagram cache write failed");
                    }
                    result
                }
            };
            rendered.push(svg);
        }
        let html = sanitize(&replace_diagrams(&raw, &diagrams, &rendered), &self.options);
        Rendered {
            // A heading longer than a title may be is cut, never refused.
            title: title(&html).as_deref().and_then(fit_title),
            sections: section_index(&html),
            html,
        }
    }

    pub async fn push(
        &self,
        p: &Principal,
        req: PushRequest,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<PushOutcome, PushError> {
        if req.body.len() > MAX_DOCUMENT_BYTES {
            return Err(PushError::TooLarge(req.body.len()));
        }
        if req.body.trim().is_empty() {
            return Err(PushError::Empty);
        }
        if !p.can(Capability::Push, Ownership::Own) {
            return Err(PushError::Forbidden);
        }
        let name = match req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => Some(Slug::parse(n).map_err(|e| PushError::InvalidName(e.to_string()))?),
            None => None,
        };
        let rendered = self.render(&req.body, req.format, now).await;
        let outcome = if let Some(id) = req
            .session_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let id = PlanId::parse(id).map_err(|_| PushError::InvalidSessionId)?;
            let plan = self.updatable(p, id).await?;
            self.next_version(p, plan, &req, rendered, now).await?
        } else {
            self.create_or_update_by_name(p, name, &req, rendered, now)
                .await?
        };
        if outcome.created_version {
            self.audit
                .record(
                    AuditEvent::new(AuditAction::PlanPushed, Some(p.user_id), now)
                        .target("plan", outcome.plan.id())
                        .ip(ip)
                        .detail("version", outcome.version.get())
                        .detail("slug", outcome.plan.slug().as_str()),
                )
                .await;
            let event = LiveEvent::Version {
                version: outcome.version.get(),
                title: outcome.plan.title().to_owned(),
                pushed_by: Actor {
                    login: p.login.clone(),
                },
                changes: outcome.changes.clone(),
                summary: outcome.summary.clone(),
                typed: planpush_document::typed_lines(&outcome.typed, crate::LIVE_MAX_TYPED),
            };
            crate::events::publish(&self.ports, outcome.plan.id(), event).await;
        }
        Ok(outcome)
    }

    /// The plan behind `X-Session-Id`, if the caller may push to it. Plans the caller may not see
    /// answer `SessionNotFound`, exactly like plans that do not exist.
    async fn updatable(&self, p: &Principal, id: PlanId) -> Result<Plan, PushError> {
        let plan = match self.ports.plans.get(id).await {
            Ok(plan) if !plan.is_deleted() => plan,
            Ok(_) | Err(PlanRepoError::NotFound) => return Err(PushError::SessionNotFound),
            Err(e) => return Err(unknown(e)),
        };
        let own = p.ownership_of(plan.owner_id());
        let visible = plan.visibility() == Visibility::Published
            || own == Ownership::Own
            || p.can(Capability::ViewOthersPrivate, Ownership::Others);
        if !visible {
            return Err(PushError::SessionNotFound);
        }
        if own == Ownership::Own || p.can(Capability::PublishArchive, Ownership::Others) {
            Ok(plan)
        } else {
            Err(PushError::NotSessionOwner)
        }
    }

    async fn create_or_update_by_name(
        &self,
        p: &Principal,
        name: Option<Slug>,
        req: &PushRequest,
        rendered: Rendered,
        now: DateTime<Utc>,
    ) -> Result<PushOutcome, PushError> {
        let title = rendered
            .title
            .clone()
            .or_else(|| name.as_ref().map(|s| s.to_string()))
            .unwrap_or_else(|| "Untitled plan".into());
        let visibility = req.visibility.unwrap_or(self.default_visibility);
        if let Some(wanted) = &name {
            // A race with another push for the same name is settled by the unique index; the name
            // is then resolved again against the winner.
            for _ in 0..5u32 {
                let slug = match self.resolve_name(p, wanted).await? {
                    NameTarget::Update(plan) => {
                        return self.next_version(p, plan, req, rendered, now).await;
                    }
                    NameTarget::Create(slug) => slug,
                };
                match self
                    .create(p, slug, &title, visibility, req, &rendered, now)
                    .await?
                {
                    Some(outcome) => return Ok(outcome),
                    None => continue,
                }
            }
            return Err(PushError::Busy);
        }
        for attempt in 0..5u32 {
            let slug = match rendered.title.as_deref().and_then(Slug::from_title) {
                Some(s) if attempt == 0 => s,
                Some(s) => s.with_suffix(attempt + 1),
                None => Slug::generated(rand_bytes()),
            };
            if self
                .ports
                .plans
                .find_by_slug(&slug)
                .await
                .map_err(unknown)?
                .is_some()
            {
                continue;
            }
            if let Some(outcome) = self
                .create(p, slug, &title, visibility, req, &rendered, now)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(unknown(anyhow::anyhow!(
            "could not find a free name for the plan"
        )))
    }

    /// Where a push under `X-Session-Name: wanted` goes. The caller's own plan is updated; someone
    /// else's plan that the caller can see is refused with a suggestion (`409`), so nobody pushes
    /// into another person's plan by accident. A plan the caller cannot see (another developer's
    /// private plan) must not be confirmed to exist — 404-not-403 — so the push is not refused:
    /// it lands under the caller's *own variant* of the name, `wanted-<6 hex>`, derived from the
    /// caller and the name. The variant is the same on every push, so pushing again under `wanted`
    /// updates the same plan, and no other name is probed to find it.
    async fn resolve_name(&self, p: &Principal, wanted: &Slug) -> Result<NameTarget, PushError> {
        let Some(holder) = self
            .ports
            .plans
            .find_by_slug(wanted)
            .await
            .map_err(unknown)?
        else {
            return Ok(NameTarget::Create(wanted.clone()));
        };
        if holder.owner_id() == p.user_id {
            return Ok(NameTarget::Update(holder));
        }
        if crate::can_see(p, &holder) {
            return Err(PushError::NameTaken {
                suggestion: self.free_variant(p, wanted).await?,
                taken: wanted.clone(),
            });
        }
        let variant = own_variant(p, wanted);
        match self
            .ports
            .plans
            .find_by_slug(&variant)
            .await
            .map_err(unknown)?
        {
            None => Ok(NameTarget::Create(variant)),
            Some(mine) if mine.owner_id() == p.user_id => Ok(NameTarget::Update(mine)),
            // Someone took this caller's variant on purpose: a generated name.
            Some(_) => Ok(NameTarget::Create(Slug::generated(rand_bytes()))),
        }
    }

    /// Commits a new plan with version 1 under `slug`; `None` when the slug was taken meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        p: &Principal,
        slug: Slug,
        title: &str,
        visibility: Visibility,
        req: &PushRequest,
        rendered: &Rendered,
        now: DateTime<Utc>,
    ) -> Result<Option<PushOutcome>, PushError> {
        let mut plan = Plan::new(slug, title, p.user_id, visibility, now)
            .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        plan.record_version(1, title, now)
            .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        let version = Version::next_after(
            None,
            plan.id(),
            title,
            req.format,
            req.body.clone(),
            rendered.html.clone(),
            rendered.sections.clone(),
            p.user_id,
            now,
        );
        let outbox = self.notify.messages(
            &plan,
            &version_pushed(&plan, &version, None, None, &p.login),
            now,
        );
        match self
            .ports
            .versions
            .commit(
                Commit::NewPlan {
                    plan: &plan,
                    version: &version,
                },
                &outbox,
            )
            .await
        {
            Ok(()) => Ok(Some(PushOutcome {
                changes: version.meta.changes,
                version: version.meta.number,
                plan,
                created_version: true,
                summary: None,
                typed: vec![],
            })),
            Err(VersionRepoError::SlugTaken(_)) => Ok(None),
            Err(e) => Err(unknown(e)),
        }
    }

    async fn next_version(
        &self,
        p: &Principal,
        mut plan: Plan,
        req: &PushRequest,
        rendered: Rendered,
        now: DateTime<Utc>,
    ) -> Result<PushOutcome, PushError> {
        for _ in 0..PUSH_ATTEMPTS {
            let latest = self
                .ports
                .versions
                .latest(plan.id())
                .await
                .map_err(unknown)?;
            if let Some(latest) = &latest
                && latest.same_source(req.format, &req.body)
            {
                return Ok(PushOutcome {
                    version: latest.meta.number,
                    changes: ChangeSet::default(),
                    plan,
                    created_version: false,
                    summary: None,
                    typed: vec![],
                });
            }
            let title = rendered
                .title
                .clone()
                .unwrap_or_else(|| plan.title().to_owned());
            let version = Version::next_after(
                latest.as_ref(),
                plan.id(),
                &title,
                req.format,
                req.body.clone(),
                rendered.html.clone(),
                rendered.sections.clone(),
                p.user_id,
                now,
            );
            let mut next = plan.clone();
            next.record_version(version.meta.number.get(), &title, now)
                .map_err(|e| unknown(anyhow::anyhow!(e)))?;
            let previous = latest.as_ref().map(|l| &l.sections);
            let summary = crate::change_summary(latest.as_ref().map(|l| l.html.as_str()), &version);
            let outbox = self.notify.messages(
                &next,
                &version_pushed(&next, &version, previous, summary.as_ref(), &p.login),
                now,
            );
            match self
                .ports
                .versions
                .commit(
                    Commit::NextVersion {
                        plan: &next,
                        version: &version,
                    },
                    &outbox,
                )
                .await
            {
                Ok(()) => {
                    // The version is in; threads follow it. A failure here is logged, not fatal:
                    // the version stands and the threads keep their previous states.
                    if let Err(e) =
                        crate::comments::reanchor_plan(&self.ports, plan.id(), previous, &version)
                            .await
                    {
                        tracing::error!(error = %e, plan = %plan.id(), "re-anchoring comments failed");
                    }
                    return Ok(PushOutcome {
                        version: version.meta.number,
                        changes: version.meta.changes,
                        plan: next,
                        created_version: true,
                        summary: summary.as_ref().map(|s| s.summary.sentence()),
                        typed: summary.map(|s| s.typed).unwrap_or_default(),
                    });
                }
                // Someone pushed meanwhile: reload and diff against their version.
                Err(VersionRepoError::Conflict) => {
                    plan = self.ports.plans.get(plan.id()).await.map_err(unknown)?
                }
                Err(VersionRepoError::PlanNotFound) => return Err(PushError::SessionNotFound),
                Err(e) => return Err(unknown(e)),
            }
        }
        Err(PushError::Busy)
    }

    /// `name-2`, `name-3`, … the first that no plan the caller can see holds. Plans the caller
    /// cannot see are not skipped (skipping one would reveal it); pushing to a suggestion that
    /// such a plan holds lands under the caller's own variant, like any hidden name.
    async fn free_variant(&self, p: &Principal, slug: &Slug) -> Result<Slug, PushError> {
        for n in 2..100 {
            let candidate = slug.with_suffix(n);
            match self
                .ports
                .plans
                .find_by_slug(&candidate)
                .await
                .map_err(unknown)?
            {
                Some(holder) if crate::can_see(p, &holder) => continue,
                _ => return Ok(candidate),
            }
        }
        Ok(Slug::generated(rand_bytes()))
    }
}

/// Where a push goes when a name is wanted.
enum NameTarget {
    Update(Plan),
    Create(Slug),
}

/// The caller's own variant of a name held by a plan they cannot see: `name-` + 6 hex digits of
/// SHA-256(user id, name), the same on every push.
fn own_variant(p: &Principal, wanted: &Slug) -> Slug {
    let mut input = p.user_id.as_uuid().as_bytes().to_vec();
    input.extend_from_slice(wanted.as_str().as_bytes());
    let digest = planpush_identity::TokenHash::of(&input).to_hex();
    wanted.with_tag(&digest[..6])
}

fn rand_bytes() -> [u8; 6] {
    let id = uuid::Uuid::new_v4();
    let b = id.as_bytes();
    [b[0], b[1], b[2], b[3], b[4], b[5]]
}

/// `X-Addresses`: the threads a push says its new version addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressed {
    /// Threads of the plan now marked "addressed in vN".
    pub marked: Vec<planpush_comments::CommentId>,
    /// Ids that are not live threads of this plan (or the push stored no new version).
    pub ignored: Vec<planpush_comments::CommentId>,
}

impl Push {
    /// [`Push::push`], then marks the threads `addresses` (comma-separated comment ids, as the
    /// `X-Addresses` header carries them) as addressed in the new version. Ids are checked before
    /// anything is written (`InvalidAddresses`); ids that are not live threads of the plan are
    /// reported in [`Addressed::ignored`], as are all of them when the push stored no new version.
    pub async fn push_addressing(
        &self,
        p: &Principal,
        req: PushRequest,
        addresses: Option<&str>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(PushOutcome, Addressed), PushError> {
        let ids = parse_addresses(addresses.unwrap_or(""))?;
        let outcome = self.push(p, req, ip, now).await?;
        if !outcome.created_version || ids.is_empty() {
            return Ok((
                outcome,
                Addressed {
                    marked: vec![],
                    ignored: ids,
                },
            ));
        }
        let addressed =
            crate::comments::mark_addressed(&self.ports, outcome.plan.id(), outcome.version, &ids)
                .await
                .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        Ok((outcome, addressed))
    }
}

/// At most this many ids in one `X-Addresses`.
pub const MAX_ADDRESSES: usize = 100;

fn parse_addresses(raw: &str) -> Result<Vec<planpush_comments::CommentId>, PushError> {
    let mut ids = vec![];
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = planpush_comments::CommentId::parse(part)
            .map_err(|_| PushError::InvalidAddresses(format!("{part:?} is not a comment id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > MAX_ADDRESSES {
        return Err(PushError::InvalidAddresses(format!(
            "at most {MAX_ADDRESSES} comment ids at once"
        )));
    }
    Ok(ids)
}
