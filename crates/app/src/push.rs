//! Pushing a plan: a document becomes a new plan or the next version of one, atomically.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use planpush_document::{
    Cut, DiagramRenderer, DiagramSource, FreshPart, Part, Prepared, SanitizeOptions, SanitizedPart,
    TypedIndex, cut, find_diagrams, markdown_to_html, replace_diagrams, sanitize_fresh,
    top_sections_in,
};
use planpush_plans::{Plan, PlanId, PlanRepoError, Slug, Visibility, fit_title};
use planpush_roles::{Capability, Ownership};
use planpush_versions::{
    ChangeSet, Commit, NewVersion, Previous, SectionIndex, SourceFormat, Staged, Text, TextUnit,
    Version, VersionNumber, VersionRepoError, VersionRepository,
};

use crate::cpu::{CpuPool, Overloaded};
use crate::inbox::VersionAudience;
use crate::notify::{ChangeSummary, change_summary_of, version_pushed};
use crate::{Actor, LiveEvent, Notifications, Ports, Principal};

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
    /// What rendering the document cost.
    pub rendered: RenderCounts,
}

/// How much of a pushed document was sanitized and parsed, and how much was taken from the
/// previous version (see `planpush_document::prepare_reusing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderCounts {
    /// Top-level parts the document was cut into.
    pub parts: usize,
    /// Parts re-used from the previous version unchanged (not sanitized or parsed again).
    pub reused: usize,
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
    /// The render pool is full (`RENDER_THREADS` busy and `RENDER_QUEUE` waiting): nothing was
    /// rendered or stored.
    #[error("the server is busy rendering other pushes; push again in a moment")]
    Overloaded,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// How often a push tries to store its version: when another push took its version number (or
/// its new plan's name) it re-reads the plan and tries again, for updates and creations alike.
pub const PUSH_ATTEMPTS: u32 = 8;

/// At most this many bytes of previous versions' parts are kept for re-use (per process), counted
/// as the allocator hands them out ([`Part::weight`]; a test holds it to what the parts really
/// hold). The ~61 KB benchmark document weighs ~346 KB remembered (its sanitized parts, their
/// sections, text and typed index; ~445 KB before the typed index stopped copying what it can
/// derive or share), so this keeps about 18 such plans; a plan that fell out pays a whole render
/// and a parse of its previous version on its next push. The benchmark's 16 plans pushed in turn
/// need ~5.5 MB to stay remembered.
pub const PART_CACHE_BYTES: u64 = 6 * 1024 * 1024;

impl From<Overloaded> for PushError {
    fn from(_: Overloaded) -> Self {
        PushError::Overloaded
    }
}

/// The push use case.
#[derive(Clone)]
pub struct Push {
    ports: Ports,
    options: SanitizeOptions,
    diagrams: Arc<dyn DiagramRenderer>,
    notify: Notifications,
    /// The visibility of a new plan pushed without `X-Visibility` (`DEFAULT_VISIBILITY`).
    default_visibility: Visibility,
    /// Where Markdown, Mermaid, sanitizing and diffs run.
    cpu: CpuPool,
    /// The parts of the last version this process stored of each plan, so that the next push
    /// sanitizes only what changed and diffs without reading the previous HTML.
    memos: moka::sync::Cache<PlanId, Arc<Memo>>,
    /// One line per plan being pushed to: pushes to one plan in this process render side by side,
    /// then store in turn instead of racing for its next version number, so concurrent pushes
    /// queue rather than retry and run out of attempts; each turn leaves the plan as it stored it
    /// for the next. Pushes from other processes are still settled by the version number's
    /// compare-and-set.
    turns: moka::sync::Cache<PlanId, Arc<crate::turn::Line<Plan>>>,
}

/// The last version of a plan that this process rendered.
struct Memo {
    number: VersionNumber,
    /// [`source_digest`] of what was pushed: a push of the same source stores nothing.
    source: [u8; 32],
    parts: Vec<Arc<Part>>,
    /// The version's section index (shared with the version that was stored).
    sections: SectionIndex,
    /// The version's typed index: the previous side of the next push's summary.
    typed: Arc<TypedIndex>,
}

impl Memo {
    /// Bytes held, as the allocator hands them out (the typed index shares its items with the
    /// parts: only its lists are its own).
    fn weight(&self) -> usize {
        self.parts.iter().map(|p| p.weight()).sum::<usize>() + self.typed.list_weight()
    }
}

/// The push memo: previous versions by plan, weighed as the allocator counts them.
fn memo_cache(bytes: u64) -> moka::sync::Cache<PlanId, Arc<Memo>> {
    moka::sync::Cache::builder()
        .max_capacity(bytes)
        .weigher(|_, m: &Arc<Memo>| u32::try_from(m.weight()).unwrap_or(u32::MAX))
        .build()
}

/// SHA-256 of a pushed source and its format: what tells a push of the same source in this
/// process. HTML without diagrams, which is cut as it was pushed, is told by the digest of its
/// parts' keys instead ([`Prepared::source_digest`]); a source always takes the same one of the two.
fn source_digest(format: SourceFormat, body: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(match format {
        SourceFormat::Html => b"h",
        SourceFormat::Markdown => b"m",
    });
    h.update(body.as_bytes());
    h.finalize().into()
}

/// A rendered, sanitized document with its index, and its summary against the memo it re-used.
/// Its texts are shared (not copied) with the store's staged work and the version it becomes.
struct Rendered {
    /// The source as pushed.
    body: Text,
    /// The sanitized HTML (a fixed point of the sanitizer).
    html: Text,
    sections: SectionIndex,
    /// The parts, remembered for the next push.
    parts: Vec<Arc<Part>>,
    /// How many parts were taken from the memo instead of being sanitized again.
    reused: usize,
    /// [`source_digest`] of the pushed source.
    source: [u8; 32],
    /// The typed index of the document (from its parts, no parse).
    typed: Arc<TypedIndex>,
    /// Its searchable text (from its parts, no parse), written to the search index with it.
    text: Vec<TextUnit>,
    title: Option<String>,
    /// The version number of the memo the summary was computed against, and the summary.
    against: Option<(VersionNumber, Option<ChangeSummary>)>,
    /// The store's work on the texts, done while rendering (see [`VersionRepository::stage`]).
    staged: Staged,
}

impl Rendered {
    /// Hands the store its work on the texts of the version this becomes while still on the
    /// render pool.
    fn stage(&mut self, versions: &dyn VersionRepository) {
        self.staged = versions.stage(&self.html, &self.body, &self.sections);
    }
}

/// Where a push goes.
enum Target {
    /// The next version of this plan.
    Update(Plan),
    /// A new plan under this name.
    Create(Slug),
    /// A new plan named after the document's title (`-2`, `-3` … while taken).
    FromTitle,
}

fn unknown(e: impl Into<anyhow::Error>) -> PushError {
    PushError::Unknown(e.into())
}

impl Push {
    pub fn new(ports: Ports, options: SanitizeOptions, diagrams: Arc<dyn DiagramRenderer>) -> Self {
        Self {
            ports,
            options,
            diagrams,
            notify: Notifications::off(),
            default_visibility: Visibility::Published,
            cpu: CpuPool::inline(),
            memos: memo_cache(PART_CACHE_BYTES),
            turns: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(60))
                .build(),
        }
    }

    /// The same use case, rendering on `cpu` (a bounded pool) instead of the caller's thread.
    pub fn with_pool(mut self, cpu: CpuPool) -> Self {
        self.cpu = cpu;
        self
    }

    /// The same use case, remembering at most `bytes` of previous versions' parts (default
    /// [`PART_CACHE_BYTES`]).
    pub fn with_memo_budget(mut self, bytes: u64) -> Self {
        self.memos = memo_cache(bytes);
        self
    }

    /// Bytes of previous versions' parts held for re-use now: the weight of every remembered
    /// version still in the cache (evicted ones are dropped).
    pub fn remembered_bytes(&self) -> u64 {
        self.memos.iter().map(|(_, m)| m.weight() as u64).sum()
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
    /// on the next push; failures are shown, never cached), then the allowlist and the index, re-using
    /// the parts of `memo` that did not change, and the summary against `memo`. The work runs on
    /// the render pool, in one job (the new parts of a long document shared with the pool's idle
    /// threads from inside it); only the diagram cache is read and written here. The summary is
    /// left to the plan's turn unless `summarize`.
    async fn render(
        &self,
        body: Text,
        format: SourceFormat,
        memo: Option<Arc<Memo>>,
        summarize: bool,
        now: DateTime<Utc>,
    ) -> Result<Rendered, PushError> {
        let opts = self.options;
        let finishing = Finishing {
            body: body.clone(),
            memo: memo.clone(),
            summarize,
            versions: self.ports.versions.clone(),
            cpu: self.cpu.clone(),
            opts,
        };
        let step = self
            .cpu
            .run(move || {
                let raw: Text = match format {
                    SourceFormat::Markdown => markdown_to_html(&body).into(),
                    SourceFormat::Html => body.clone(),
                };
                let diagrams = find_diagrams(&raw);
                if !diagrams.is_empty() {
                    let source = source_digest(format, &body);
                    return Step::Diagrams(source, raw.to_string(), diagrams, finishing);
                }
                // HTML as pushed is the document that is cut: its digest is taken from the
                // parts' keys (`Prepared::source_digest`) instead of hashing it a second time.
                let source = match format {
                    SourceFormat::Markdown => Some(source_digest(format, &body)),
                    SourceFormat::Html => None,
                };
                let cut = cut(&raw, &opts, parts_of(memo.as_deref()));
                Step::Done(Box::new(finishing.finish(&raw, cut, source)))
            })
            .await?;
        match step {
            Step::Done(rendered) => Ok(*rendered),
            Step::Diagrams(source, raw, diagrams, finishing) => {
                self.draw_diagrams(raw, diagrams, source, finishing, now)
                    .await
            }
        }
    }

    /// Draws the document's diagrams (from the cache where it has them), puts their SVGs in place
    /// and renders the result; caches what was drawn.
    async fn draw_diagrams(
        &self,
        raw: String,
        diagrams: Vec<DiagramSource>,
        source: [u8; 32],
        finishing: Finishing,
        now: DateTime<Utc>,
    ) -> Result<Rendered, PushError> {
        let mut cached: Vec<Option<String>> = Vec::with_capacity(diagrams.len());
        for d in &diagrams {
            cached.push(match self.ports.kv.get(&d.key(), now).await {
                Ok(hit) => hit.and_then(|bytes| String::from_utf8(bytes).ok()),
                Err(e) => {
                    tracing::warn!(error = %e, "diagram cache unavailable");
                    None
                }
            });
        }
        let renderer = self.diagrams.clone();
        let opts = self.options;
        let (rendered, fresh) = self
            .cpu
            .run(move || {
                let (svgs, fresh) = draw(&*renderer, &diagrams, cached);
                let html: Text = replace_diagrams(&raw, &diagrams, &svgs).into();
                let cut = cut(&html, &opts, parts_of(finishing.memo.as_deref()));
                (finishing.finish(&html, cut, Some(source)), fresh)
            })
            .await?;
        for (key, svg) in fresh {
            if let Err(e) = self
                .ports
                .kv
                .put(&key, svg.as_bytes(), Some(now + chrono::Duration::days(90)))
                .await
            {
                tracing::warn!(error = %e, "diagram cache write failed");
            }
        }
        Ok(rendered)
    }

    pub async fn push(
        &self,
        p: &Principal,
        mut req: PushRequest,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<PushOutcome, PushError> {
        if req.body.len() > MAX_DOCUMENT_BYTES {
            return Err(PushError::TooLarge(req.body.len()));
        }
        if req.body.trim().is_empty() {
            return Err(PushError::Empty);
        }
        // The source as pushed, from here on shared by the render, the store and the version.
        let body = Text::from(std::mem::take(&mut req.body));
        if !p.can(Capability::Push, Ownership::Own) {
            return Err(PushError::Forbidden);
        }
        let name = match req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => Some(Slug::parse(n).map_err(|e| PushError::InvalidName(e.to_string()))?),
            None => None,
        };
        // Authorize before rendering: the target plan and the caller's rights are settled first,
        // so a refused push costs no parsing.
        let mut target = if let Some(id) = req
            .session_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let id = PlanId::parse(id).map_err(|_| PushError::InvalidSessionId)?;
            Target::Update(self.updatable(p, id).await?)
        } else {
            match &name {
                Some(wanted) => self.resolve_name(p, wanted).await?.into(),
                None => Target::FromTitle,
            }
        };
        // Rendered before the plan's turn, against what this process remembers of the plan now:
        // parts are re-used by their content, so an older memo serves as well as the latest, and
        // concurrent pushes to one plan render side by side. Only the store (and a summary whose
        // memo another push has since replaced) waits for the turn.
        let memo = match &target {
            Target::Update(plan) => self.memos.get(&plan.id()),
            _ => None,
        };
        // The summary against that memo is computed while rendering, unless another push to the
        // plan holds its turn now: that push will have replaced the memo by the time this one
        // gets the turn, which then computes the summary against its successor (at eight
        // concurrent pushes to one plan, most such summaries were thrown away: ~3% of the CPU).
        let summarize = match &target {
            Target::Update(plan) => !self.turns.get(&plan.id()).is_some_and(|l| l.taken()),
            _ => true,
        };
        // Who hears of the new version is read meanwhile (see `VersionAudience`).
        let audience = async {
            match &target {
                Target::Update(plan) => VersionAudience::of(&self.ports, plan, p.user_id)
                    .await
                    .map(Some),
                _ => Ok(None),
            }
        };
        let (rendered, audience) = futures::join!(
            self.render(body, req.format, memo, summarize, now),
            audience
        );
        let (rendered, audience) = (rendered?, audience.map_err(PushError::Unknown)?);
        // A plan's pushes take turns in this process (see `turns`). The plan as the last push
        // of this process stored it, when newer than the one read before rendering, is what the
        // next version follows (no read); a push from another process meanwhile, or a deletion,
        // fails the commit's compare-and-set, which reads the plan again.
        let turn = match &target {
            Target::Update(plan) => {
                let turn = self.take_turn(plan.id()).await;
                if let Some(stored) = turn
                    .left()
                    .filter(|s| s.current_version() > plan.current_version())
                {
                    target = Target::Update(stored);
                }
                Some(turn)
            }
            _ => None,
        };
        let outcome = self
            .store(
                p,
                target,
                name.as_ref(),
                &req,
                (rendered, audience),
                &AuditEvent::new(AuditAction::PlanPushed, Some(p.user_id), now).ip(ip),
                now,
            )
            .await?;
        if let (Some(turn), true) = (&turn, outcome.created_version) {
            turn.leave(outcome.plan.clone());
        }
        if outcome.created_version {
            // Published in the turn, so a plan's version events go out in their order.
            let event = LiveEvent::Version {
                version: outcome.version.get(),
                title: outcome.plan.title().to_owned(),
                pushed_by: Actor {
                    login: p.login.clone(),
                },
                changes: (&outcome.changes).into(),
                summary: outcome.summary.clone(),
                typed: planpush_document::typed_lines(&outcome.typed, crate::LIVE_MAX_TYPED),
            };
            crate::events::publish(&self.ports, outcome.plan.id(), event).await;
        }
        Ok(outcome)
    }

    /// Waits for `plan`'s turn (see `turns`); turns go in the order they were asked for (see
    /// `turn::Line`).
    async fn take_turn(&self, plan: PlanId) -> crate::turn::Turn<Plan> {
        self.turns.get_with(plan, Default::default).take().await
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

    /// Stores the rendered document where `target` says: one loop with one limit
    /// ([`PUSH_ATTEMPTS`]) for creations and updates. A creation that lost its name to another
    /// push resolves the name again (it may now update the winner's plan); an update that lost its
    /// version number re-reads the plan and diffs against the winner's version. `record` is the
    /// push's audit record, written with the version: [`pushed`] says which.
    #[allow(clippy::too_many_arguments)]
    async fn store(
        &self,
        p: &Principal,
        mut target: Target,
        name: Option<&Slug>,
        req: &PushRequest,
        (rendered, audience): (Rendered, Option<VersionAudience>),
        record: &AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<PushOutcome, PushError> {
        let visibility = req.visibility.unwrap_or(self.default_visibility);
        let new_title = rendered
            .title
            .clone()
            .or_else(|| name.map(|s| s.to_string()))
            .unwrap_or_else(|| "Untitled plan".into());
        // Names tried for a plan named after its title: the title's slug, then -2, -3 …
        let mut suffix = 0u32;
        // The plan's turn (see `turns`) when this push set out to create a plan and another push
        // created it first (`push` holds it already for a push that set out to update).
        let mut turn = None;
        for _ in 0..PUSH_ATTEMPTS {
            match target {
                Target::Update(plan) => {
                    match self
                        .next_version(p, &plan, req, &rendered, audience.as_ref(), record, now)
                        .await?
                    {
                        Some(outcome) => return Ok(outcome),
                        // Someone pushed meanwhile: reload and diff against their version.
                        None => {
                            target = Target::Update(
                                self.ports.plans.get(plan.id()).await.map_err(unknown)?,
                            );
                        }
                    }
                }
                Target::Create(slug) => {
                    if let Some(outcome) = self
                        .create(p, slug, &new_title, visibility, req, &rendered, record, now)
                        .await?
                    {
                        return Ok(outcome);
                    }
                    // The name was taken meanwhile: settled by the unique index, resolved again.
                    target = match name {
                        Some(wanted) => self.resolve_name(p, wanted).await?.into(),
                        None => {
                            suffix += 1;
                            Target::FromTitle
                        }
                    };
                    // Now an update of the winner's plan: it takes the plan's turn, as pushes to
                    // an existing plan do, so that several first pushes under one new name queue
                    // instead of racing for its next version number (they ran out of attempts:
                    // `409 session_busy`).
                    if let (Target::Update(plan), None) = (&target, &turn) {
                        turn = Some(self.take_turn(plan.id()).await);
                        target =
                            Target::Update(self.ports.plans.get(plan.id()).await.map_err(unknown)?);
                    }
                }
                Target::FromTitle => {
                    let slug = match rendered.title.as_deref().and_then(Slug::from_title) {
                        Some(s) if suffix == 0 => s,
                        Some(s) => s.with_suffix(suffix + 1),
                        None => Slug::generated(rand_bytes()),
                    };
                    let taken = self
                        .ports
                        .plans
                        .find_by_slug(&slug)
                        .await
                        .map_err(unknown)?
                        .is_some();
                    target = if taken {
                        suffix += 1;
                        Target::FromTitle
                    } else {
                        Target::Create(slug)
                    };
                }
            }
        }
        Err(PushError::Busy)
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

    /// Remembers the parts of `number` of `plan` for the next push.
    fn remember(&self, plan: PlanId, number: VersionNumber, rendered: &Rendered) {
        let new_plan = !self.memos.contains_key(&plan);
        self.memos.insert(
            plan,
            Arc::new(Memo {
                number,
                source: rendered.source,
                parts: rendered.parts.clone(),
                sections: rendered.sections.clone(),
                typed: rendered.typed.clone(),
            }),
        );
        // Held to its budget now, not at moka's next housekeeping (see `generation::CacheLimits`):
        // a plan remembered for the first time adds its weight, a plan remembered again replaces
        // its own (the old memo is dropped at once).
        if new_plan {
            self.memos.run_pending_tasks();
        }
    }

    fn counts(rendered: &Rendered) -> RenderCounts {
        RenderCounts {
            parts: rendered.parts.len(),
            reused: rendered.reused,
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
        record: &AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<PushOutcome>, PushError> {
        let mut plan = Plan::new(slug, title, p.user_id, visibility, now)
            .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        plan.record_version(1, title, now)
            .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        let version = Version::new(
            None,
            NewVersion {
                plan_id: plan.id(),
                title: title.to_owned(),
                format: req.format,
                source: rendered.body.clone(),
                html: rendered.html.clone(),
                sections: rendered.sections.clone(),
                pushed_by: p.user_id,
                pushed_at: now,
            },
        );
        let outbox = self.notify.messages(
            &plan,
            &version_pushed(&plan, &version, None, None, &p.login),
            now,
        );
        match self
            .ports
            .versions
            .commit_staged(
                Commit::NewPlan {
                    plan: &plan,
                    version: &version,
                    text: &rendered.text,
                },
                &rendered.staged,
                &outbox,
                &[],
                &[pushed(record, &plan, version.meta.number)],
            )
            .await
        {
            Ok(()) => {
                self.remember(plan.id(), version.meta.number, rendered);
                Ok(Some(PushOutcome {
                    changes: version.meta.changes,
                    version: version.meta.number,
                    plan,
                    created_version: true,
                    summary: None,
                    typed: vec![],
                    rendered: Self::counts(rendered),
                }))
            }
            Err(VersionRepoError::SlugTaken(_)) => Ok(None),
            Err(e) => Err(unknown(e)),
        }
    }

    /// The "what changed" against version `head`: computed while rendering when the memo it
    /// rendered against was `head`; else against `memo`, this process's memo of `head` (another
    /// push landed meanwhile), without a parse; else from `head`'s stored HTML (on the render pool).
    async fn summary(
        &self,
        plan: PlanId,
        head: VersionNumber,
        memo: Option<&Arc<Memo>>,
        rendered: &Rendered,
    ) -> Result<Option<ChangeSummary>, PushError> {
        if let Some((number, summary)) = &rendered.against
            && *number == head
        {
            return Ok(summary.clone());
        }
        // Here, not on the render pool: this runs in the plan's turn, and queued behind the
        // renders of the pushes waiting for it (eight at once: six full jobs) it held the turn
        // longer than the rest of the store. It compares two typed indexes and the sections'
        // hashes, borrowed from the parts (~70 µs for the 61 KB benchmark document).
        if let Some(memo) = memo.filter(|m| m.number == head) {
            let sections = top_sections_in(&rendered.parts);
            return Ok(summary_against(memo, &sections, &rendered.typed));
        }
        let previous = match self.ports.versions.get(plan, head).await {
            Ok(v) => v.html,
            Err(VersionRepoError::NotFound) => return Ok(None),
            Err(e) => return Err(unknown(e)),
        };
        let new = rendered.parts.clone();
        let new_typed = rendered.typed.clone();
        // Another process (or a restart) made `head`: its tree is parsed once here.
        Ok(self
            .cpu
            .run(move || {
                let old_typed = TypedIndex::of_html(&previous);
                let old = planpush_document::top_sections(&previous);
                change_summary_of(
                    (&planpush_document::borrowed(&old), &old_typed),
                    (&top_sections_in(&new), &new_typed),
                )
            })
            .await?)
    }

    /// One attempt at storing the next version of `plan`; `None` when another push took its
    /// number first.
    #[allow(clippy::too_many_arguments)]
    async fn next_version(
        &self,
        p: &Principal,
        plan: &Plan,
        req: &PushRequest,
        rendered: &Rendered,
        audience: Option<&VersionAudience>,
        record: &AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<PushOutcome>, PushError> {
        // The previous version: what this process remembers of the plan's current version (nothing
        // is read), else its metadata, source and index (not its HTML). Should the plan have moved
        // on since it was read, the commit's compare-and-set on its version says so.
        let memo = self
            .memos
            .get(&plan.id())
            .filter(|m| m.number.get() == plan.current_version());
        let head = match memo {
            Some(_) => None,
            None => self.ports.versions.head(plan.id()).await.map_err(unknown)?,
        };
        let before: Option<Previous<'_>> = match (&memo, &head) {
            (Some(m), _) => Some(Previous {
                number: m.number,
                sections: &m.sections,
            }),
            (None, Some(h)) => Some(h.previous()),
            (None, None) => None,
        };
        let same = match (&memo, &head) {
            (Some(m), _) => m.source == rendered.source,
            (None, Some(h)) => h.same_source(req.format, &rendered.body),
            (None, None) => false,
        };
        if let (true, Some(before)) = (same, before) {
            self.remember(plan.id(), before.number, rendered);
            return Ok(Some(PushOutcome {
                version: before.number,
                changes: ChangeSet::default(),
                plan: plan.clone(),
                created_version: false,
                summary: None,
                typed: vec![],
                rendered: Self::counts(rendered),
            }));
        }
        let title = rendered
            .title
            .clone()
            .unwrap_or_else(|| plan.title().to_owned());
        let version = Version::after(
            before,
            NewVersion {
                plan_id: plan.id(),
                title: title.clone(),
                format: req.format,
                source: rendered.body.clone(),
                html: rendered.html.clone(),
                sections: rendered.sections.clone(),
                pushed_by: p.user_id,
                pushed_at: now,
            },
        );
        let mut next = plan.clone();
        next.record_version(version.meta.number.get(), &title, now)
            .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        let previous = before.map(|b| b.sections);
        let summary = match before {
            Some(b) => {
                self.summary(plan.id(), b.number, memo.as_ref(), rendered)
                    .await?
            }
            None => None,
        };
        let mut outbox = self.notify.messages(
            &next,
            &version_pushed(&next, &version, previous, summary.as_ref(), &p.login),
            now,
        );
        let sentence = summary.as_ref().map(|s| s.summary.sentence());
        let read_now;
        let audience = match audience.filter(|a| a.decided_for(&next, p.user_id)) {
            Some(audience) => audience,
            None => {
                read_now = VersionAudience::of(&self.ports, &next, p.user_id)
                    .await
                    .map_err(PushError::Unknown)?;
                &read_now
            }
        };
        let inbox = audience.entries(&next, version.meta.number.get(), sentence.as_deref(), now);
        outbox.extend(self.notify.email_messages(&inbox, now));
        match self
            .ports
            .versions
            .commit_staged(
                Commit::NextVersion {
                    plan: &next,
                    version: &version,
                    text: &rendered.text,
                },
                &rendered.staged,
                &outbox,
                &inbox,
                &[pushed(record, &next, version.meta.number)],
            )
            .await
        {
            Ok(()) => {
                self.remember(plan.id(), version.meta.number, rendered);
                // The version is in; threads follow it. A failure here is logged, not fatal:
                // the version stands and the threads keep their previous states.
                if let Err(e) =
                    crate::comments::reanchor_plan(&self.ports, plan.id(), previous, &version).await
                {
                    tracing::error!(error = %e, plan = %plan.id(), "re-anchoring comments failed");
                }
                Ok(Some(PushOutcome {
                    version: version.meta.number,
                    changes: version.meta.changes,
                    plan: next,
                    created_version: true,
                    summary: summary.as_ref().map(|s| s.summary.sentence()),
                    typed: summary.map(|s| s.typed).unwrap_or_default(),
                    rendered: Self::counts(rendered),
                }))
            }
            Err(VersionRepoError::Conflict) => Ok(None),
            Err(VersionRepoError::PlanNotFound) => Err(PushError::SessionNotFound),
            Err(e) => Err(unknown(e)),
        }
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

impl From<NameTarget> for Target {
    fn from(t: NameTarget) -> Self {
        match t {
            NameTarget::Update(plan) => Target::Update(plan),
            NameTarget::Create(slug) => Target::Create(slug),
        }
    }
}

/// New parts smaller than this in all are sanitized in one job (splitting costs more than it saves).
const SPLIT_BYTES: usize = 16 * 1024;

/// The bytes of new parts to sanitize.
fn fresh_bytes(fresh: &[FreshPart]) -> usize {
    fresh.iter().map(FreshPart::len).sum()
}

/// The audit record of a push (`record`: who, when, from where) that made `version` of `plan`.
fn pushed(record: &AuditEvent, plan: &Plan, version: VersionNumber) -> AuditEvent {
    record
        .clone()
        .target("plan", plan.id())
        .detail("version", version.get())
        .detail("slug", plan.slug().as_str())
}

/// Where the first render job left a push.
enum Step {
    /// Rendered whole (boxed: the other step is a fraction of its size).
    Done(Box<Rendered>),
    /// The document (whose [`source_digest`] is given) has diagrams to draw first.
    Diagrams([u8; 32], String, Vec<DiagramSource>, Finishing),
}

/// What a render job needs besides the document to finish a push's render.
struct Finishing {
    /// The source as pushed.
    body: Text,
    memo: Option<Arc<Memo>>,
    /// Whether to compute the summary against `memo` now (see `Push::push`).
    summarize: bool,
    versions: Arc<dyn VersionRepository>,
    cpu: CpuPool,
    opts: SanitizeOptions,
}

impl Finishing {
    /// On a render thread: the new parts of `cut` (of `raw`, the HTML of `body`) sanitized
    /// (shared with the pool's idle threads when there are enough of them), the document
    /// assembled and indexed, its summary against the memo, and the store's work staged.
    /// `source`: the pushed source's digest, `None` when `raw` is that source (see
    /// [`source_digest`]).
    fn finish(self, raw: &Text, cut: Result<Cut, Prepared>, source: Option<[u8; 32]>) -> Rendered {
        let prepared = match cut {
            Err(prepared) => prepared,
            Ok(cut) => {
                let done = if fresh_bytes(&cut.fresh) >= SPLIT_BYTES {
                    Handout::share(&self.cpu, raw, &cut.fresh, &self.opts)
                } else {
                    sanitize_fresh(raw, &cut.fresh, &self.opts)
                };
                cut.assemble(raw, &self.opts, done)
            }
        };
        let source = source.unwrap_or_else(|| prepared.source_digest());
        let against = self.memo.as_deref().filter(|_| self.summarize);
        let mut rendered = finish(self.body, prepared, source, against);
        rendered.stage(&*self.versions);
        rendered
    }
}

/// The parts of `memo`, to be re-used.
fn parts_of(memo: Option<&Memo>) -> &[Arc<Part>] {
    memo.map_or(&[][..], |m| &m.parts[..])
}

/// The new parts of a cut, handed out one at a time to the thread that cut them and to idle
/// threads of the pool that help it, largest first. A part's cost is not only its size (markup the
/// sanitizer has to rewrite costs more than markup sent in its form) and a thread may be slowed by
/// other work, so runs fixed in advance can leave one thread working while the other waits; taken
/// one at a time, largest first, the threads finish within a small part of each other. Helpers
/// are jobs of the same pool started from inside the cutting job, so the push never goes back to
/// the request worker between the cut and the assembly.
struct Handout {
    raw: Text,
    parts: Vec<FreshPart>,
    next: AtomicUsize,
    helped: Mutex<Helped>,
    /// Signalled when a helper leaves.
    left: Condvar,
}

/// What the helpers of a [`Handout`] did.
#[derive(Default)]
struct Helped {
    done: Vec<SanitizedPart>,
    /// Helpers at work.
    working: usize,
    /// Set when the thread that cut has every part: a helper that starts later does nothing.
    closed: bool,
}

/// A helper at work: what it did goes to the handout when it leaves, even by a panic (a part it
/// was sanitizing is then missing, and the document is sanitized whole: see [`Cut::assemble`]).
struct Helping<'a> {
    handout: &'a Handout,
    done: Vec<SanitizedPart>,
}

impl Drop for Helping<'_> {
    fn drop(&mut self) {
        let mut helped = self.handout.lock();
        helped.done.append(&mut self.done);
        helped.working -= 1;
        drop(helped);
        self.handout.left.notify_all();
    }
}

impl Handout {
    fn new(raw: Text, fresh: &[FreshPart]) -> Self {
        let mut parts = fresh.to_vec();
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Self {
            raw,
            parts,
            next: AtomicUsize::new(0),
            helped: Mutex::default(),
            left: Condvar::new(),
        }
    }

    /// Sanitizes `fresh` (parts of `raw`) on this thread, helped by as many idle threads of `cpu`
    /// as there are (none waits for a thread: a helper that starts after the work is done does
    /// nothing). Every part once, in no particular order.
    fn share(
        cpu: &CpuPool,
        raw: &Text,
        fresh: &[FreshPart],
        opts: &SanitizeOptions,
    ) -> Vec<SanitizedPart> {
        let handout = Arc::new(Handout::new(raw.clone(), fresh));
        for _ in 0..cpu.idle().min(fresh.len().saturating_sub(1)) {
            let (handout, opts) = (handout.clone(), *opts);
            if cpu.spawn(move || handout.help(&opts)).is_err() {
                break;
            }
        }
        handout.finish(opts)
    }

    fn lock(&self) -> MutexGuard<'_, Helped> {
        // Parts are sanitized outside the lock: a poisoned lock holds sound state.
        self.helped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sanitizes parts until none is left; what this thread did.
    fn take(&self, opts: &SanitizeOptions) -> Vec<SanitizedPart> {
        let mut done = vec![];
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(part) = self.parts.get(i) else {
                return done;
            };
            done.extend(sanitize_fresh(&self.raw, std::slice::from_ref(part), opts));
        }
    }

    /// A helper's share, unless the thread that cut has already finished.
    fn help(&self, opts: &SanitizeOptions) {
        {
            let mut helped = self.lock();
            if helped.closed {
                return;
            }
            helped.working += 1;
        }
        let mut helping = Helping {
            handout: self,
            done: vec![],
        };
        helping.done = self.take(opts);
    }

    /// The cutting thread's share, then the helpers' once those at work have left.
    fn finish(&self, opts: &SanitizeOptions) -> Vec<SanitizedPart> {
        let mut done = self.take(opts);
        let mut helped = self.lock();
        while helped.working > 0 {
            helped = self
                .left
                .wait(helped)
                .unwrap_or_else(PoisonError::into_inner);
        }
        helped.closed = true;
        done.append(&mut helped.done);
        done
    }
}

/// `prepared`, the document of `body` (whose [`source_digest`] is `source`), with its typed
/// index, searchable text and title, and its summary against `memo`.
fn finish(body: Text, prepared: Prepared, source: [u8; 32], memo: Option<&Memo>) -> Rendered {
    let typed = Arc::new(prepared.typed_index());
    let against = memo.map(|m| {
        (
            m.number,
            summary_against(m, &prepared.top_sections(), &typed),
        )
    });
    let text = prepared.text_units();
    let Prepared {
        html,
        title,
        sections,
        parts,
        reused,
    } = prepared;
    Rendered {
        body,
        html: html.into(),
        sections,
        parts,
        reused,
        typed,
        source,
        text,
        // A heading longer than a title may be is cut, never refused.
        title: title.as_deref().and_then(fit_title),
        against,
        staged: Staged::default(),
    }
}

/// What changed from `memo`'s version to the document of `sections` and `typed`; the previous
/// side is borrowed from the memo's parts (no parse, no copy of markup).
fn summary_against(
    memo: &Memo,
    sections: &[planpush_document::SectionRef<'_>],
    typed: &TypedIndex,
) -> Option<ChangeSummary> {
    change_summary_of(
        (&top_sections_in(&memo.parts), &memo.typed),
        (sections, typed),
    )
}

/// A diagram's SVG, or why it could not be drawn (shown in place).
type Drawn = Result<String, String>;

/// Each diagram's SVG: from the cache, else drawn (failures are shown in place, never cached).
/// Returns the SVGs in order and the freshly drawn ones (cache key, SVG) to cache.
fn draw(
    renderer: &dyn DiagramRenderer,
    diagrams: &[DiagramSource],
    cached: Vec<Option<String>>,
) -> (Vec<Drawn>, Vec<(String, String)>) {
    let mut fresh = vec![];
    let svgs = diagrams
        .iter()
        .zip(cached)
        .map(|(d, hit)| match hit {
            Some(svg) => Ok(svg),
            None => {
                let result = renderer.render_svg(&d.source);
                if let Ok(svg) = &result {
                    fresh.push((d.key(), svg.clone()));
                }
                result
            }
        })
        .collect();
    (svgs, fresh)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread that cut and its helpers sanitize every part once, largest first, and what they
    /// did assembles to the document `prepare` makes; a helper that starts after the work is done
    /// does nothing.
    #[test]
    fn a_handout_gives_every_part_to_one_thread() {
        let opts = SanitizeOptions::default();
        let raw = include_str!("../../../fixtures/auth-service-redesign.html").repeat(3);
        let text = Text::from(raw.as_str());
        let Ok(cut) = cut(&raw, &opts, &[]) else {
            panic!("the fixture is cut into parts");
        };
        let sizes: Vec<usize> = Handout::new(text.clone(), &cut.fresh)
            .parts
            .iter()
            .map(FreshPart::len)
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
        let expected = planpush_document::prepare(&raw, &opts);
        for cpu in [
            CpuPool::inline(),
            CpuPool::new(1, 0).unwrap(),
            CpuPool::new(3, 4).unwrap(),
        ] {
            let done = Handout::share(&cpu, &text, &cut.fresh, &opts);
            let mut slots: Vec<usize> = done.iter().map(|(slot, _)| *slot).collect();
            slots.sort_unstable();
            slots.dedup();
            assert_eq!(slots.len(), cut.fresh.len(), "each part once");
            assert_eq!(done.len(), cut.fresh.len());
            let cut = planpush_document::cut(&raw, &opts, &[]).unwrap();
            assert_eq!(cut.assemble(&raw, &opts, done), expected);
        }
        let handout = Handout::new(text, &cut.fresh);
        let done = handout.finish(&opts);
        assert_eq!(done.len(), cut.fresh.len());
        handout.help(&opts);
        let helped = handout.lock();
        assert!(helped.done.is_empty() && helped.working == 0 && helped.closed);
    }
}
