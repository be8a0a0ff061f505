//! Reading plans and their lifecycle: who may see, publish, archive and delete what.
//!
//! Visibility: published plans are visible to everyone signed in; private plans to their owner and to
//! roles that may view others' private plans. A plan one may not see is *not found* — never
//! "forbidden" — so its existence does not leak.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::UserId;
use planpush_plans::{
    Plan, PlanFilter, PlanId, PlanRepoError, PlanScope, PlanView, Slug, Visibility,
};
use planpush_roles::{Capability, Ownership};
use planpush_versions::{Version, VersionMeta, VersionNumber, VersionRepoError};

use crate::{Actor, Auditor, EventId, LiveEvent, PlanActivity, Ports, Principal, Subscription};

/// Errors of the plan use cases.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Unknown, deleted, or not visible to the caller.
    #[error("no session with this id or name")]
    NotFound,
    #[error("this version does not exist")]
    VersionNotFound,
    /// The caller can see the plan but may not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// How many versions a plan page lists (the newest), so that neither its size nor its render
/// grows with the plan's age; the whole history is on its own page ([`Plans::history_page`]).
pub const HISTORY_IN_PAGE: usize = 20;

/// The first of the newest `n` versions of a plan whose latest is `latest`: versions are numbered
/// 1, 2, … with no gaps (an expired one keeps its metadata).
fn first_of_newest(latest: u32, n: usize) -> VersionNumber {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    VersionNumber::new(latest.saturating_sub(n).saturating_add(1)).unwrap_or(VersionNumber::FIRST)
}

/// A plan page: the plan, the version shown and the history.
#[derive(Debug, Clone)]
pub struct PlanPage {
    pub plan: Plan,
    /// The version shown; `None` when the requested version's content has expired.
    pub version: Option<Version>,
    pub shown: VersionNumber,
    /// The shown version's metadata.
    pub shown_meta: VersionMeta,
    /// Consecutive versions up to the newest, oldest first: every version for
    /// [`Plans::history_page`], the newest [`HISTORY_IN_PAGE`] and the one before them for
    /// [`Plans::page`]. The plan's version count is `plan.current_version()`.
    pub history: Vec<VersionMeta>,
    /// Login of whoever pushed the version shown.
    pub pushed_by: String,
    /// Login of whoever pushed each version of `history`, in the same order.
    pub pushers: Vec<String>,
    /// Open threads on the plan.
    pub open_comments: u64,
}

/// `?v=N&diff=M`: what changed from version M to version N, section by section.
#[derive(Debug, Clone)]
pub struct DiffPage {
    pub plan: Plan,
    pub from: VersionNumber,
    pub to: VersionNumber,
    pub rows: Vec<planpush_document::DiffEntry>,
    /// What changed, in a line: sections added, removed, changed, and changed words.
    pub summary: planpush_document::DiffSummary,
    /// What changed in the plan's terms (decisions, risks, endpoints, fields, phases, components,
    /// sections).
    pub typed: Vec<planpush_document::TypedChange>,
    /// For each of `typed`, in order: the open threads on its element (see
    /// [`crate::threads_on_changes`]).
    pub typed_threads: Vec<Vec<crate::ChangeThread>>,
    /// The newest versions of the plan, as a plan page lists them (for choosing another pair to
    /// compare; the pair shown is offered whatever its age).
    pub history: Vec<VersionMeta>,
}

/// One plan's info for the dashboard and the API.
#[derive(Debug, Clone)]
pub struct PlanInfo {
    pub plan: Plan,
    pub history: Vec<VersionMeta>,
    pub open_comments: u64,
}

/// A version as text per section (see [`Plans::text`]).
#[derive(Debug, Clone)]
pub struct PlanText {
    pub plan: Plan,
    pub title: String,
    pub version: VersionNumber,
    pub sections: Vec<planpush_document::TextSection>,
}

/// An open viewer's live feed of one plan.
pub struct LiveFeed {
    /// The plan as it was when the viewer subscribed.
    pub plan: Plan,
    pub subscription: Subscription,
}

pub struct Plans {
    pub(crate) ports: Ports,
    audit: Auditor,
    /// The newest version recorded as seen per (user, plan) by this process, so repeated page
    /// views write nothing.
    seen: std::sync::Mutex<std::collections::HashMap<(UserId, PlanId), u32>>,
    /// Where a publication is announced (the webhooks' `plan.published`); off by default.
    notify: std::sync::RwLock<crate::Notifications>,
}

fn unknown(e: impl Into<anyhow::Error>) -> PlanError {
    PlanError::Unknown(e.into())
}

/// Whether `p` may see `plan`.
pub fn can_see(p: &Principal, plan: &Plan) -> bool {
    !plan.is_deleted()
        && match plan.visibility() {
            Visibility::Published => p.can(Capability::ViewPublished, Ownership::Others),
            Visibility::Private => {
                plan.owner_id() == p.user_id
                    || p.can(Capability::ViewOthersPrivate, Ownership::Others)
            }
        }
}

impl Plans {
    pub fn new(ports: Ports) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            audit,
            seen: std::sync::Mutex::default(),
            notify: std::sync::RwLock::default(),
        }
    }

    /// Announces publications through `notify` from now on.
    pub fn set_notifications(&self, notify: crate::Notifications) {
        *self
            .notify
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = notify;
    }

    /// Records that `p` looked at `version` of `plan` (for "new since you last looked"). Only a
    /// newer version than the last one recorded reaches the database; a failure is logged, never
    /// shown to the reader.
    pub async fn seen(&self, p: &Principal, plan: &Plan, version: u32, now: DateTime<Utc>) {
        let key = (p.user_id, plan.id());
        {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.get(&key).is_some_and(|v| *v >= version) {
                return;
            }
            seen.insert(key, version);
        }
        let view = PlanView {
            plan_id: plan.id(),
            user_id: p.user_id,
            version,
            viewed_at: now,
        };
        if let Err(e) = self.ports.plan_views.record(&view).await {
            tracing::warn!(error = %e, "plan view could not be recorded");
            self.seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&key);
        }
    }

    pub(crate) async fn visible(&self, p: &Principal, id: PlanId) -> Result<Plan, PlanError> {
        match self.ports.plans.get(id).await {
            Ok(plan) if can_see(p, &plan) => Ok(plan),
            Ok(_) | Err(PlanRepoError::NotFound) => Err(PlanError::NotFound),
            Err(e) => Err(unknown(e)),
        }
    }

    /// The plan at `slug` if `p` may see it; unknown, deleted and invisible plans alike are
    /// `NotFound`.
    async fn visible_by_slug(&self, p: &Principal, slug: &str) -> Result<Plan, PlanError> {
        let slug = Slug::parse(slug).map_err(|_| PlanError::NotFound)?;
        self.ports
            .plans
            .find_by_slug(&slug)
            .await
            .map_err(unknown)?
            .filter(|plan| can_see(p, plan))
            .ok_or(PlanError::NotFound)
    }

    /// Subscribes `p` to the live events of the plan at `slug`, after `last_event_id` (the SSE
    /// `Last-Event-ID`; one that is not ours counts as a gap, so the viewer re-reads the plan).
    /// A plan `p` may not see is `NotFound`, exactly like the page.
    pub async fn subscribe(
        &self,
        p: &Principal,
        slug: &str,
        last_event_id: Option<&str>,
    ) -> Result<LiveFeed, PlanError> {
        let plan = self.visible_by_slug(p, slug).await?;
        let after = last_event_id.map(|raw| {
            raw.parse::<EventId>()
                // Unparseable: treated like an id from another epoch, which is always a gap.
                .unwrap_or(EventId {
                    epoch: u64::MAX,
                    seq: 0,
                })
        });
        let subscription = self
            .ports
            .events
            .subscribe(plan.id(), after)
            .await
            .map_err(unknown)?;
        Ok(LiveFeed { plan, subscription })
    }

    async fn announce(&self, p: &Principal, plan: PlanId, activity: PlanActivity) {
        let by = Actor {
            login: p.login.clone(),
        };
        crate::events::publish(&self.ports, plan, LiveEvent::Plan { activity, by }).await;
    }

    /// The plan page for `slug`, at version `v` (default: the current one), with the newest
    /// versions of its history: what it reads does not grow with the number of versions.
    pub async fn page(
        &self,
        p: &Principal,
        slug: &str,
        v: Option<u32>,
    ) -> Result<PlanPage, PlanError> {
        self.page_with(p, slug, v, HISTORY_IN_PAGE + 1).await
    }

    /// The plan page for `slug` at its current version, with every version of its history.
    pub async fn history_page(&self, p: &Principal, slug: &str) -> Result<PlanPage, PlanError> {
        self.page_with(p, slug, None, usize::MAX).await
    }

    /// A plan page listing the newest `listed` versions.
    async fn page_with(
        &self,
        p: &Principal,
        slug: &str,
        v: Option<u32>,
        listed: usize,
    ) -> Result<PlanPage, PlanError> {
        let plan = self.visible_by_slug(p, slug).await?;
        let latest =
            VersionNumber::new(plan.current_version()).map_err(|_| PlanError::VersionNotFound)?;
        let shown = match v {
            Some(n) => VersionNumber::new(n).map_err(|_| PlanError::VersionNotFound)?,
            None => latest,
        };
        if shown > latest {
            return Err(PlanError::VersionNotFound);
        }
        let versions = &self.ports.versions;
        let history = versions
            .history_between(plan.id(), first_of_newest(latest.get(), listed), latest)
            .await
            .map_err(unknown)?;
        let shown_meta = match history.iter().find(|m| m.number == shown) {
            Some(m) => m.clone(),
            None => versions
                .history_between(plan.id(), shown, shown)
                .await
                .map_err(unknown)?
                .pop()
                .ok_or(PlanError::VersionNotFound)?,
        };
        let version = match versions.get(plan.id(), shown).await {
            Ok(v) => Some(v),
            Err(VersionRepoError::NotFound) => None,
            Err(e) => return Err(unknown(e)),
        };
        let pushers = self.logins(history.iter().map(|m| m.pushed_by)).await;
        let pushed_by = match history.iter().position(|m| m.number == shown) {
            Some(i) => pushers.get(i).cloned(),
            None => self
                .logins(std::iter::once(shown_meta.pushed_by))
                .await
                .pop(),
        }
        .unwrap_or_else(|| "unknown".into());
        let open_comments = self
            .ports
            .comments
            .count_open(plan.id())
            .await
            .map_err(unknown)?;
        Ok(PlanPage {
            plan,
            version,
            shown,
            shown_meta,
            history,
            pushed_by,
            pushers,
            open_comments,
        })
    }

    /// The login of each user, in order (one lookup per distinct user; "unknown" when gone).
    pub(crate) async fn logins(&self, ids: impl Iterator<Item = UserId>) -> Vec<String> {
        let mut known: std::collections::HashMap<UserId, String> = Default::default();
        let mut out = vec![];
        for id in ids {
            if let Some(login) = known.get(&id) {
                out.push(login.clone());
                continue;
            }
            let login = self
                .ports
                .users
                .get(id)
                .await
                .map(|u| u.login)
                .unwrap_or_else(|_| "unknown".into());
            known.insert(id, login.clone());
            out.push(login);
        }
        out
    }

    /// The section-by-section diff (words marked inside changed sections) from version `from` to version `to` (default: the current one).
    /// Expired versions cannot be diffed.
    pub async fn diff(
        &self,
        p: &Principal,
        slug: &str,
        to: Option<u32>,
        from: u32,
    ) -> Result<DiffPage, PlanError> {
        let plan = self.visible_by_slug(p, slug).await?;
        let number = |n: u32| VersionNumber::new(n).map_err(|_| PlanError::VersionNotFound);
        let (to, from) = (number(to.unwrap_or(plan.current_version()))?, number(from)?);
        let load = |n: VersionNumber| {
            let versions = self.ports.versions.clone();
            let id = plan.id();
            async move {
                match versions.get(id, n).await {
                    Ok(v) => Ok(v),
                    Err(VersionRepoError::NotFound) => Err(PlanError::VersionNotFound),
                    Err(e) => Err(unknown(e)),
                }
            }
        };
        let (new, old) = (load(to).await?, load(from).await?);
        let rows = planpush_document::diff(&old.html, &new.html);
        let summary = planpush_document::DiffSummary::of(&rows);
        let typed = planpush_document::typed_changes(&old.html, &new.html);
        let typed_threads = crate::reviews::threads_on_changes(&self.ports, plan.id(), &typed)
            .await
            .map_err(unknown)?;
        let first = first_of_newest(plan.current_version(), HISTORY_IN_PAGE);
        let history = self
            .ports
            .versions
            .history_between(plan.id(), first, VersionNumber::MAX)
            .await
            .map_err(unknown)?;
        Ok(DiffPage {
            plan,
            from,
            to,
            rows,
            summary,
            typed,
            typed_threads,
            history,
        })
    }

    /// Version `v` (default: the current one) of a plan `p` can see, as text per section: what an
    /// agent reads instead of the page (`planpush mcp`'s `get_plan`). An expired version is
    /// `VersionNotFound`.
    pub async fn text(
        &self,
        p: &Principal,
        id: PlanId,
        v: Option<u32>,
    ) -> Result<PlanText, PlanError> {
        let plan = self.visible(p, id).await?;
        let number = VersionNumber::new(v.unwrap_or(plan.current_version()))
            .map_err(|_| PlanError::VersionNotFound)?;
        let version = match self.ports.versions.get(plan.id(), number).await {
            Ok(v) => v,
            Err(VersionRepoError::NotFound) => return Err(PlanError::VersionNotFound),
            Err(e) => return Err(unknown(e)),
        };
        let sections = planpush_document::plan_text(&version.html);
        Ok(PlanText {
            plan,
            title: version.meta.title.clone(),
            version: number,
            sections,
        })
    }

    /// Role-scoped listing: admins and project managers see every plan; others see their own and the
    /// published ones.
    pub async fn list(
        &self,
        p: &Principal,
        include_archived: bool,
    ) -> Result<Vec<Plan>, PlanError> {
        let scope = if p.can(Capability::ViewOthersPrivate, Ownership::Others) {
            PlanScope::All
        } else {
            PlanScope::OwnedOrPublished(p.user_id)
        };
        self.ports
            .plans
            .list(PlanFilter {
                scope,
                include_archived,
            })
            .await
            .map_err(unknown)
    }

    pub async fn info(&self, p: &Principal, id: PlanId) -> Result<PlanInfo, PlanError> {
        let plan = self.visible(p, id).await?;
        let history = self.ports.versions.history(id).await.map_err(unknown)?;
        let open_comments = self.ports.comments.count_open(id).await.map_err(unknown)?;
        Ok(PlanInfo {
            plan,
            history,
            open_comments,
        })
    }

    fn may_manage(p: &Principal, plan: &Plan) -> Result<(), PlanError> {
        if p.can(Capability::PublishArchive, p.ownership_of(plan.owner_id())) {
            Ok(())
        } else {
            Err(PlanError::Forbidden(
                "only the owner, an admin or a project manager can publish or archive this plan",
            ))
        }
    }

    /// Publishes a private plan (one-way).
    pub async fn publish(
        &self,
        p: &Principal,
        id: PlanId,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Plan, PlanError> {
        let mut plan = self.visible(p, id).await?;
        Self::may_manage(p, &plan)?;
        if plan.publish(now).map_err(|e| unknown(anyhow::anyhow!(e)))? {
            self.ports.plans.update(&plan).await.map_err(unknown)?;
            // Written right after the plan (the plan repository takes no outbox messages): a crash
            // between the two loses this one announcement, never the publication.
            let messages = self
                .notify
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .messages(
                    &plan,
                    &crate::Notification::PlanPublished {
                        plan: crate::notify::plan_ref(&plan),
                        by: p.login.clone(),
                    },
                    now,
                );
            for m in &messages {
                if let Err(e) = self.ports.outbox.enqueue(m).await {
                    tracing::warn!(error = %e, plan = %id, "cannot queue the publication's notification");
                }
            }
            self.audit
                .record(
                    AuditEvent::new(AuditAction::PlanPublished, Some(p.user_id), now)
                        .target("plan", id)
                        .ip(ip),
                )
                .await;
            self.announce(p, id, PlanActivity::Published).await;
        }
        Ok(plan)
    }

    pub async fn set_archived(
        &self,
        p: &Principal,
        id: PlanId,
        archived: bool,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Plan, PlanError> {
        let mut plan = self.visible(p, id).await?;
        Self::may_manage(p, &plan)?;
        if plan
            .set_archived(archived, now)
            .map_err(|e| unknown(anyhow::anyhow!(e)))?
        {
            self.ports.plans.update(&plan).await.map_err(unknown)?;
            let action = if archived {
                AuditAction::PlanArchived
            } else {
                AuditAction::PlanUnarchived
            };
            self.audit
                .record(
                    AuditEvent::new(action, Some(p.user_id), now)
                        .target("plan", id)
                        .ip(ip),
                )
                .await;
            let activity = if archived {
                PlanActivity::Archived
            } else {
                PlanActivity::Unarchived
            };
            self.announce(p, id, activity).await;
        }
        Ok(plan)
    }

    /// Soft-deletes (admins only): the plan answers 404 from now on and its name is free again.
    pub async fn delete(
        &self,
        p: &Principal,
        id: PlanId,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), PlanError> {
        let mut plan = self.visible(p, id).await?;
        if !p.can(Capability::DeletePlans, p.ownership_of(plan.owner_id())) {
            return Err(PlanError::Forbidden("only admins can delete plans"));
        }
        plan.delete(now).map_err(|e| unknown(anyhow::anyhow!(e)))?;
        self.ports.plans.update(&plan).await.map_err(unknown)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::PlanDeleted, Some(p.user_id), now)
                    .target("plan", id)
                    .ip(ip)
                    .detail("slug", plan.slug().as_str()),
            )
            .await;
        self.announce(p, id, PlanActivity::Deleted).await;
        Ok(())
    }
}
