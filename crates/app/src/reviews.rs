//! Sign-off per version: requesting a review, approving or requesting changes, and the status of
//! every reviewer for the current version (with the rule that kept or reset each approval).
//!
//! Who may do what: whoever may publish the plan (its owner, an admin, a project manager) requests
//! reviews — of named people or of everyone holding a role — and only from people who can see the
//! plan; a reviewer who was asked decides; whoever can see the plan reads the status. Unknown and
//! invisible plans are `NotFound`. Every request and decision is audited and notified through
//! the outbox (published plans only, like every notification).

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_comments::{AnchorState, CommentFilter, StateFilter};
use planpush_identity::UserId;
use planpush_plans::{Plan, PlanId, PlanRepoError, Visibility};
use planpush_reviews::{Decision, Review, ReviewRepoError, SignOff, Verdict, sign_off};
use planpush_roles::{Capability, Ownership, Role, allowed};
use planpush_versions::{AnchorId, Text, VersionNumber, VersionRepoError};

use crate::notify::plan_ref;
use crate::{Auditor, Notification, Notifications, Ports, Principal, can_see};

/// Most reviewers one request may name (after expanding a role).
pub const MAX_REVIEWERS: usize = 50;

/// Why a review operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Unknown, deleted, or not visible to the caller.
    #[error("no session with this id or name")]
    NotFound,
    #[error("this version does not exist")]
    VersionNotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// Bad input: no reviewers, an unknown login or role, a reviewer who cannot see the plan, a
    /// bad verdict or comment, an invalid anchor.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

fn unknown(e: impl Into<anyhow::Error>) -> ReviewError {
    ReviewError::Unknown(e.into())
}

/// A review request as the API receives it.
#[derive(Debug, Clone, Default)]
pub struct ReviewRequestInput {
    /// Logins of the reviewers.
    pub reviewers: Vec<String>,
    /// Everyone holding this role (`admin`, `project_manager`, `developer`, `qa`) too.
    pub role: Option<String>,
    /// The version to review (default: the current one).
    pub version: Option<u32>,
    /// Anchors to review; empty: the whole plan.
    pub anchors: Vec<String>,
}

/// One reviewer's standing, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerStatus {
    pub user_id: UserId,
    pub login: String,
    pub requested_by: String,
    pub requested_version: u32,
    pub scope: Vec<AnchorId>,
    pub sign_off: SignOff,
    /// The reviewer's comment with their latest decision.
    pub comment: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// In a sentence: "approved v3", "approval of v3 kept for v4: …", "changes requested on v3".
    pub explanation: String,
}

/// A plan's sign-off for its current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewStatus {
    pub plan: Plan,
    pub current: u32,
    pub reviewers: Vec<ReviewerStatus>,
}

impl ReviewStatus {
    /// Whether `p` may request reviews of this plan (whoever may publish it).
    pub fn may_request(&self, p: &Principal) -> bool {
        p.can(
            Capability::PublishArchive,
            p.ownership_of(self.plan.owner_id()),
        )
    }

    /// "2 of 3 approved v4" or "no review requested".
    pub fn headline(&self) -> String {
        if self.reviewers.is_empty() {
            return "no review requested".into();
        }
        let approved = self
            .reviewers
            .iter()
            .filter(|r| matches!(r.sign_off, SignOff::Approved { .. }))
            .count();
        let changes = self
            .reviewers
            .iter()
            .filter(|r| matches!(r.sign_off, SignOff::ChangesRequested { .. }))
            .count();
        let mut s = format!(
            "{approved} of {} approved v{}",
            self.reviewers.len(),
            self.current
        );
        if changes > 0 {
            s.push_str(&format!(", {changes} requested changes"));
        }
        s
    }
}

/// A review waiting on the caller (the dashboard's "waiting on you").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingReview {
    pub plan: Plan,
    pub requested_by: String,
    pub requested_version: u32,
    pub explanation: String,
}

/// The sign-off use cases.
#[derive(Clone)]
pub struct Reviews {
    ports: Ports,
    audit: Auditor,
    notify: Notifications,
}

fn explain(s: &SignOff, decision: Option<&Decision>, current: u32) -> String {
    match s {
        SignOff::Pending { reset: None } => "review requested, not answered yet".into(),
        SignOff::Pending { reset: Some(rule) } => {
            rule.explain(decision.map_or(0, |d| d.version), current)
        }
        SignOff::Approved { version, rule } => rule.explain(*version, current),
        SignOff::ChangesRequested { version } if *version < current => {
            format!("changes requested on v{version}; v{current} is newer, not reviewed yet")
        }
        SignOff::ChangesRequested { version } => format!("changes requested on v{version}"),
    }
}

impl Reviews {
    pub fn new(ports: Ports) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            audit,
            notify: Notifications::off(),
        }
    }

    /// The same use cases, writing notifications to `notify`'s channels.
    pub fn with_notifications(mut self, notify: Notifications) -> Self {
        self.notify = notify;
        self
    }

    async fn visible(&self, p: &Principal, id: PlanId) -> Result<Plan, ReviewError> {
        match self.ports.plans.get(id).await {
            Ok(plan) if can_see(p, &plan) => Ok(plan),
            Ok(_) | Err(PlanRepoError::NotFound) => Err(ReviewError::NotFound),
            Err(e) => Err(unknown(e)),
        }
    }

    /// Whether `user` (with `roles`) can see `plan`: the same rule as [`can_see`].
    fn reviewer_sees(plan: &Plan, user: UserId, roles: &[Role]) -> bool {
        match plan.visibility() {
            Visibility::Published => allowed(roles, Capability::ViewPublished, Ownership::Others),
            Visibility::Private => {
                plan.owner_id() == user
                    || allowed(roles, Capability::ViewOthersPrivate, Ownership::Others)
            }
        }
    }

    /// Asks the named people (and everyone holding `role`) to review a version of the plan. A
    /// renewed request of someone already asked replaces theirs and clears their decision.
    pub async fn request(
        &self,
        p: &Principal,
        id: PlanId,
        input: ReviewRequestInput,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<ReviewStatus, ReviewError> {
        let plan = self.visible(p, id).await?;
        if !p.can(Capability::PublishArchive, p.ownership_of(plan.owner_id())) {
            return Err(ReviewError::Forbidden(
                "only the owner, an admin or a project manager can request a review of this plan",
            ));
        }
        let version = input.version.unwrap_or(plan.current_version());
        if version == 0 || version > plan.current_version() {
            return Err(ReviewError::VersionNotFound);
        }
        let scope = input
            .anchors
            .iter()
            .map(|a| {
                AnchorId::parse(a.trim())
                    .map_err(|_| ReviewError::Invalid(format!("`{a}` is not an anchor")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let users = self.ports.users.list().await.map_err(unknown)?;
        let mut wanted: Vec<UserId> = vec![];
        for login in input
            .reviewers
            .iter()
            .map(|l| l.trim().trim_start_matches('@'))
        {
            let user = users
                .iter()
                .find(|u| u.login.eq_ignore_ascii_case(login) && u.is_active())
                .ok_or_else(|| ReviewError::Invalid(format!("no active member `{login}`")))?;
            wanted.push(user.id);
        }
        if let Some(role) = input.role.as_deref() {
            let role = role
                .parse::<Role>()
                .map_err(|_| ReviewError::Invalid(format!("`{role}` is not a role")))?;
            let holders = self
                .ports
                .roles
                .users_with_role(role)
                .await
                .map_err(unknown)?;
            wanted.extend(
                holders
                    .into_iter()
                    .filter(|u| users.iter().any(|x| x.id == *u && x.is_active())),
            );
        }
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Err(ReviewError::Invalid(
                "name at least one reviewer (`reviewers`) or a role that someone holds (`role`)"
                    .into(),
            ));
        }
        if wanted.len() > MAX_REVIEWERS {
            return Err(ReviewError::Invalid(format!(
                "at most {MAX_REVIEWERS} reviewers per request"
            )));
        }
        let login_of = |u: UserId| {
            users
                .iter()
                .find(|x| x.id == u)
                .map_or_else(|| u.to_string(), |x| x.login.clone())
        };
        // Everyone must be able to see the plan: checked for all before anything is written.
        for u in &wanted {
            let roles: Vec<Role> = self
                .ports
                .roles
                .grants_for(*u)
                .await
                .map_err(unknown)?
                .into_iter()
                .map(|g| g.role)
                .collect();
            if !Self::reviewer_sees(&plan, *u, &roles) {
                return Err(ReviewError::Invalid(format!(
                    "{} cannot see this plan",
                    login_of(*u)
                )));
            }
        }
        for u in &wanted {
            let review = Review::request(plan.id(), *u, p.user_id, version, scope.clone(), now);
            self.ports.reviews.request(&review).await.map_err(unknown)?;
        }
        let logins: Vec<String> = wanted.iter().map(|u| login_of(*u)).collect();
        self.audit
            .record(
                AuditEvent::new(AuditAction::ReviewRequested, Some(p.user_id), now)
                    .target("plan", plan.id())
                    .ip(ip)
                    .detail("version", version)
                    .detail("reviewers", logins.clone())
                    .detail(
                        "anchors",
                        scope.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    ),
            )
            .await;
        self.enqueue(
            &plan,
            &Notification::ReviewRequested {
                plan: plan_ref(&plan),
                version,
                by: p.login.clone(),
                reviewers: logins,
            },
            now,
        )
        .await;
        self.status_of(plan).await
    }

    /// The caller's verdict on `version` (default: the current one) of a plan they were asked to
    /// review. Requesting changes needs a comment.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide(
        &self,
        p: &Principal,
        id: PlanId,
        verdict: &str,
        version: Option<u32>,
        comment: Option<&str>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<ReviewStatus, ReviewError> {
        let plan = self.visible(p, id).await?;
        let verdict = Verdict::parse(verdict).map_err(|e| ReviewError::Invalid(e.to_string()))?;
        let version = version.unwrap_or(plan.current_version());
        if version == 0 || version > plan.current_version() {
            return Err(ReviewError::VersionNotFound);
        }
        let decision = Decision::new(verdict, version, comment, now)
            .map_err(|e| ReviewError::Invalid(e.to_string()))?;
        match self
            .ports
            .reviews
            .decide(plan.id(), p.user_id, &decision)
            .await
        {
            Ok(()) => {}
            Err(ReviewRepoError::NotFound) => {
                return Err(ReviewError::Forbidden(
                    "you were not asked to review this plan",
                ));
            }
            Err(e) => return Err(unknown(e)),
        }
        let action = match verdict {
            Verdict::Approved => AuditAction::ReviewApproved,
            Verdict::ChangesRequested => AuditAction::ReviewChangesRequested,
        };
        self.audit
            .record(
                AuditEvent::new(action, Some(p.user_id), now)
                    .target("plan", plan.id())
                    .ip(ip)
                    .detail("version", version),
            )
            .await;
        self.enqueue(
            &plan,
            &Notification::ReviewDecided {
                plan: plan_ref(&plan),
                version,
                by: p.login.clone(),
                verdict: verdict.as_str().to_owned(),
                comment: decision
                    .comment
                    .as_deref()
                    .map(|c| crate::excerpt(c, crate::NOTIFY_BODY_CHARS)),
            },
            now,
        )
        .await;
        self.status_of(plan).await
    }

    /// Every reviewer's standing for the current version.
    pub async fn status(&self, p: &Principal, id: PlanId) -> Result<ReviewStatus, ReviewError> {
        let plan = self.visible(p, id).await?;
        self.status_of(plan).await
    }

    /// Reviews asked of the caller whose answer the current version still needs (never answered,
    /// or an approval reset by a newer version), on plans the caller can see.
    pub async fn waiting_on(&self, p: &Principal) -> Result<Vec<WaitingReview>, ReviewError> {
        let mine = self
            .ports
            .reviews
            .for_reviewer(p.user_id)
            .await
            .map_err(unknown)?;
        let mut out = vec![];
        for review in mine {
            let plan = match self.ports.plans.get(review.plan_id).await {
                Ok(plan) if can_see(p, &plan) && !plan.is_archived() => plan,
                Ok(_) | Err(PlanRepoError::NotFound) => continue,
                Err(e) => return Err(unknown(e)),
            };
            let status = self.status_of(plan.clone()).await?;
            if let Some(r) = status
                .reviewers
                .into_iter()
                .find(|r| r.user_id == p.user_id)
                && matches!(r.sign_off, SignOff::Pending { .. })
            {
                out.push(WaitingReview {
                    plan,
                    requested_by: r.requested_by,
                    requested_version: r.requested_version,
                    explanation: r.explanation,
                });
            }
        }
        Ok(out)
    }

    async fn status_of(&self, plan: Plan) -> Result<ReviewStatus, ReviewError> {
        let current = plan.current_version();
        let reviews = self
            .ports
            .reviews
            .for_plan(plan.id())
            .await
            .map_err(unknown)?;
        let users = if reviews.is_empty() {
            vec![]
        } else {
            self.ports.users.list().await.map_err(unknown)?
        };
        let login_of = |u: UserId| {
            users
                .iter()
                .find(|x| x.id == u)
                .map_or_else(|| "(removed member)".to_owned(), |x| x.login.clone())
        };
        // The typed changes since each approved version, computed once per version.
        let mut since: Vec<(u32, Option<Vec<planpush_document::TypedChange>>)> = vec![];
        let needs: BTreeSet<u32> = reviews
            .iter()
            .filter_map(|r| r.decision.as_ref())
            .filter(|d| d.verdict == Verdict::Approved && d.version < current)
            .map(|d| d.version)
            .collect();
        let comments = if needs.is_empty() {
            vec![]
        } else {
            self.ports
                .comments
                .list(
                    plan.id(),
                    &CommentFilter {
                        state: StateFilter::All,
                        anchor: None,
                    },
                )
                .await
                .map_err(unknown)?
        };
        if !needs.is_empty() {
            let latest = self.version_html(plan.id(), current).await?;
            for v in needs {
                let changes = match (&latest, self.version_html(plan.id(), v).await?) {
                    (Some(new), Some(old)) => Some(planpush_document::typed_changes(&old, new)),
                    _ => None,
                };
                since.push((v, changes));
            }
        }
        let mut reviewers = vec![];
        for review in &reviews {
            let commented: BTreeSet<AnchorId> = comments
                .iter()
                .filter(|c| c.author_id() == review.reviewer)
                .flat_map(|c| {
                    let mut a = vec![c.anchor().clone()];
                    if let AnchorState::Moved { to, .. } = c.state() {
                        a.push(to.clone());
                    }
                    a
                })
                .collect();
            let changes = review.decision.as_ref().and_then(|d| {
                since
                    .iter()
                    .find(|(v, _)| *v == d.version)
                    .and_then(|(_, c)| c.as_deref())
            });
            let s = sign_off(review, current, changes, &commented);
            let explanation = explain(&s, review.decision.as_ref(), current);
            reviewers.push(ReviewerStatus {
                user_id: review.reviewer,
                login: login_of(review.reviewer),
                requested_by: login_of(review.requested_by),
                requested_version: review.requested_version,
                scope: review.scope.clone(),
                comment: review.decision.as_ref().and_then(|d| d.comment.clone()),
                decided_at: review.decision.as_ref().map(|d| d.at),
                explanation,
                sign_off: s,
            });
        }
        Ok(ReviewStatus {
            plan,
            current,
            reviewers,
        })
    }

    async fn version_html(&self, id: PlanId, v: u32) -> Result<Option<Text>, ReviewError> {
        let Ok(n) = VersionNumber::new(v) else {
            return Ok(None);
        };
        match self.ports.versions.get(id, n).await {
            Ok(v) => Ok(Some(v.html)),
            Err(VersionRepoError::NotFound) => Ok(None),
            Err(e) => Err(unknown(e)),
        }
    }

    /// Review notifications stand alone (no other write to share a transaction with): they are
    /// enqueued after the write; a failure is logged, the review stands.
    async fn enqueue(&self, plan: &Plan, n: &Notification, now: DateTime<Utc>) {
        for m in self.notify.messages(plan, n, now) {
            if let Err(e) = self.ports.outbox.enqueue(&m).await {
                tracing::error!(error = %e, plan = %plan.id(), "enqueuing a review notification failed");
            }
        }
    }
}

/// An open thread on the element a typed change touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeThread {
    pub id: String,
    /// Where the thread is attached now.
    pub anchor: AnchorId,
    /// The body's first characters.
    pub excerpt: String,
    /// The version said to address it, if any.
    pub addressed_in: Option<u32>,
    /// While it is addressed and open: the login of its author, who is to confirm or reopen it.
    pub waiting_for: Option<String>,
}

/// For each typed change, the plan's open threads attached to the element it touched: a thread
/// on the change's own anchor, else on the innermost anchor around it that has threads (each
/// thread listed under at most one anchor level per change).
pub async fn threads_on_changes(
    ports: &Ports,
    plan: PlanId,
    changes: &[planpush_document::TypedChange],
) -> anyhow::Result<Vec<Vec<ChangeThread>>> {
    if changes.is_empty() {
        return Ok(vec![]);
    }
    let open = ports
        .comments
        .list(
            plan,
            &CommentFilter {
                state: StateFilter::Open,
                anchor: None,
            },
        )
        .await?;
    let mut logins: std::collections::HashMap<planpush_identity::UserId, String> =
        std::collections::HashMap::new();
    for c in open.iter().filter(|c| c.awaiting_confirmation().is_some()) {
        if let std::collections::hash_map::Entry::Vacant(e) = logins.entry(c.author_id()) {
            e.insert(match ports.users.get(c.author_id()).await {
                Ok(u) => u.login,
                Err(planpush_identity::UserRepoError::NotFound) => "(unknown)".into(),
                Err(err) => return Err(err.into()),
            });
        }
    }
    let threads: Vec<ChangeThread> = open
        .iter()
        .filter(|c| c.is_thread())
        .filter_map(|c| {
            let anchor = match c.state() {
                AnchorState::Moved { to, .. } => to.clone(),
                AnchorState::Orphaned => return None,
                _ => c.anchor().clone(),
            };
            Some(ChangeThread {
                id: c.id().to_string(),
                anchor,
                excerpt: crate::excerpt(c.body().as_str(), 80),
                addressed_in: c.addressed_in().map(VersionNumber::get),
                waiting_for: c
                    .awaiting_confirmation()
                    .and_then(|_| logins.get(&c.author_id()).cloned()),
            })
        })
        .collect();
    Ok(changes
        .iter()
        .map(|c| {
            c.anchors
                .iter()
                .rev()
                .map(|a| {
                    threads
                        .iter()
                        .filter(|t| t.anchor == *a)
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .find(|found| !found.is_empty())
                .unwrap_or_default()
        })
        .collect())
}
