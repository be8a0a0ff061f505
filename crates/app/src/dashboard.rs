//! The team dashboard: one call builds everything `/dashboard` shows, scoped to the caller.
//!
//! Every list is read with a bounded number of queries (plans, users, open-comment counts, the
//! caller's plan views, comments involving them, tokens, one audit page), independent of how many
//! plans there are, so the page stays fast with thousands of plans.

use std::collections::{HashMap, HashSet};

use planpush_comments::Comment;
use planpush_identity::{ApiToken, UserId};
use planpush_plans::{Plan, PlanId};
use planpush_roles::{Capability, GroupMapping, GroupName, Ownership};

use crate::audit_log::{AuditLog, AuditLogError, AuditLogPage, AuditQueryInput};
use crate::{Admin, Member, Plans, Ports, Principal, Tokens};

/// How many comment threads the Comments tab lists.
pub const DASHBOARD_COMMENTS: u32 = 500;
/// How many events the Activity tab lists.
pub const DASHBOARD_ACTIVITY: u32 = 50;

/// Which tabs the caller sees (Plans, Activity, Comments and API tokens are everyone's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tabs {
    pub members: bool,
    /// IdP group → role mappings (admins).
    pub groups: bool,
    /// Outgoing webhooks and their delivery logs (admins).
    pub webhooks: bool,
    pub audit: bool,
}

/// A row of the Plans tab with what the caller may do to it.
#[derive(Debug, Clone)]
pub struct PlanRow {
    pub plan: Plan,
    pub owner_login: String,
    pub open_comments: u64,
    /// The caller owns it.
    pub mine: bool,
    /// A version newer than the last one the caller looked at (or never looked).
    pub unseen: bool,
    pub can_publish_archive: bool,
    pub can_delete: bool,
}

/// A row of the Comments tab.
#[derive(Debug, Clone)]
pub struct CommentRow {
    pub comment: Comment,
    pub author_login: String,
    pub plan_slug: String,
    pub plan_title: String,
    pub mine: bool,
    pub on_my_plan: bool,
}

/// The audit-log tab: a page, or the message explaining why the filters were refused.
#[derive(Debug, Clone)]
pub struct AuditTab {
    pub query: AuditQueryInput,
    pub result: Result<AuditLogPage, String>,
}

/// Everything `/dashboard` renders.
#[derive(Debug, Clone)]
pub struct DashboardView {
    pub me: Principal,
    pub tabs: Tabs,
    pub plans: Vec<PlanRow>,
    pub activity: AuditLogPage,
    pub comments: Vec<CommentRow>,
    pub tokens: Vec<ApiToken>,
    /// Admins only.
    pub members: Vec<Member>,
    /// Admins only: the group → role mappings.
    pub group_mappings: Vec<GroupMapping>,
    /// Admins only: every group people were seen in at sign-in, with how many people.
    pub known_groups: Vec<(GroupName, u64)>,
    /// Admins only: the registered webhooks with their recent deliveries.
    pub webhooks: Vec<crate::WebhookView>,
    /// The events a webhook can subscribe to.
    pub webhook_events: Vec<crate::WebhookEvent>,
    /// Admins and project managers only.
    pub audit: Option<AuditTab>,
    /// Reviews asked of the caller that the current version still needs ("waiting on you").
    pub reviews_waiting: Vec<crate::WaitingReview>,
    /// "Waiting on you", the commenter's side: the caller's open threads that a version was said
    /// to address, until they confirm (resolve) or reopen them. Indexes into `comments`.
    pub to_confirm: Vec<usize>,
    /// "Waiting on you", the author's side: open threads by others on the caller's plans that no
    /// version has addressed yet. Indexes into `comments`.
    pub to_answer: Vec<usize>,
    /// The caller's e-mail preference (the Settings tab).
    pub email_mode: crate::EmailMode,
}

/// Errors of the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

fn unknown(e: impl Into<anyhow::Error>) -> DashboardError {
    DashboardError::Unknown(e.into())
}

pub struct Dashboard {
    ports: Ports,
    plans: std::sync::Arc<Plans>,
    tokens: std::sync::Arc<Tokens>,
    admin: std::sync::Arc<Admin>,
    audit: AuditLog,
}

impl Dashboard {
    pub fn new(
        ports: Ports,
        plans: std::sync::Arc<Plans>,
        tokens: std::sync::Arc<Tokens>,
        admin: std::sync::Arc<Admin>,
    ) -> Self {
        Self {
            audit: AuditLog::new(ports.clone()),
            ports,
            plans,
            tokens,
            admin,
        }
    }

    /// The dashboard for `p`; `audit` are the Audit log tab's filters (ignored for callers who
    /// may not see it). Archived plans are included: the page hides them until asked.
    pub async fn view(
        &self,
        p: &Principal,
        audit: &AuditQueryInput,
    ) -> Result<DashboardView, DashboardError> {
        let tabs = Tabs {
            members: p.can(Capability::ManageUsers, Ownership::Others),
            groups: p.can(Capability::ManageUsers, Ownership::Others),
            webhooks: p.can(Capability::ManageUsers, Ownership::Others),
            audit: p.can(Capability::ViewAudit, Ownership::Others),
        };
        let plans = self.plans.list(p, true).await.map_err(unknown)?;
        let users = self.ports.users.list().await.map_err(unknown)?;
        let logins: HashMap<UserId, &str> =
            users.iter().map(|u| (u.id, u.login.as_str())).collect();
        let login = |id: UserId| logins.get(&id).copied().unwrap_or("unknown").to_owned();
        let counts: HashMap<PlanId, u64> = self
            .ports
            .comments
            .open_counts()
            .await
            .map_err(unknown)?
            .into_iter()
            .collect();
        let seen: HashMap<PlanId, u32> = self
            .ports
            .plan_views
            .for_user(p.user_id)
            .await
            .map_err(unknown)?
            .into_iter()
            .map(|v| (v.plan_id, v.version))
            .collect();
        let rows: Vec<PlanRow> = plans
            .iter()
            .map(|plan| {
                let own = p.ownership_of(plan.owner_id());
                PlanRow {
                    owner_login: login(plan.owner_id()),
                    open_comments: counts.get(&plan.id()).copied().unwrap_or(0),
                    mine: plan.owner_id() == p.user_id,
                    unseen: seen
                        .get(&plan.id())
                        .is_none_or(|v| *v < plan.current_version()),
                    can_publish_archive: p.can(Capability::PublishArchive, own),
                    can_delete: p.can(Capability::DeletePlans, own),
                    plan: plan.clone(),
                }
            })
            .collect();

        let visible: HashMap<PlanId, &Plan> = plans.iter().map(|x| (x.id(), x)).collect();
        let owned: Vec<PlanId> = plans
            .iter()
            .filter(|x| x.owner_id() == p.user_id)
            .map(|x| x.id())
            .collect();
        let owned_set: HashSet<PlanId> = owned.iter().copied().collect();
        let comments: Vec<CommentRow> = self
            .ports
            .comments
            .threads_involving(p.user_id, &owned, DASHBOARD_COMMENTS)
            .await
            .map_err(unknown)?
            .into_iter()
            // Only threads on plans the caller can still see (not deleted, not private to others).
            .filter_map(|c| {
                let plan = visible.get(&c.plan_id())?;
                Some(CommentRow {
                    author_login: login(c.author_id()),
                    plan_slug: plan.slug().as_str().to_owned(),
                    plan_title: plan.title().to_owned(),
                    mine: c.author_id() == p.user_id,
                    on_my_plan: owned_set.contains(&c.plan_id()),
                    comment: c,
                })
            })
            .collect();

        let activity = self
            .audit
            .page(
                p,
                &AuditQueryInput {
                    limit: Some(DASHBOARD_ACTIVITY),
                    ..AuditQueryInput::default()
                },
            )
            .await
            .map_err(|e| match e {
                AuditLogError::Unknown(e) => DashboardError::Unknown(e),
                e => unknown(anyhow::anyhow!(e.to_string())),
            })?;
        let tokens = self.tokens.list_personal(p).await.map_err(unknown)?;
        let members = if tabs.members {
            self.admin.list(p).await.map_err(unknown)?
        } else {
            vec![]
        };
        let (group_mappings, known_groups) = if tabs.groups {
            (
                self.ports.roles.mappings().await.map_err(unknown)?,
                self.ports.roles.known_groups().await.map_err(unknown)?,
            )
        } else {
            (vec![], vec![])
        };
        let webhooks = if tabs.webhooks {
            crate::Webhooks::new(self.ports.clone())
                .list(p)
                .await
                .map_err(|e| unknown(anyhow::anyhow!(e.to_string())))?
        } else {
            vec![]
        };
        let audit = if tabs.audit {
            let result = match self.audit.page(p, audit).await {
                Ok(page) => Ok(page),
                Err(AuditLogError::Unknown(e)) => return Err(DashboardError::Unknown(e)),
                Err(e) => Err(e.to_string()),
            };
            Some(AuditTab {
                query: audit.clone(),
                result,
            })
        } else {
            None
        };
        // Both sides of a conversation waiting on the caller, from the threads just read.
        let live_open = |r: &CommentRow| r.comment.is_open() && !r.comment.is_deleted();
        let to_confirm = comments
            .iter()
            .enumerate()
            .filter(|(_, r)| r.mine && r.comment.awaiting_confirmation().is_some())
            .map(|(i, _)| i)
            .collect();
        let to_answer = comments
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.on_my_plan && !r.mine && live_open(r) && r.comment.addressed_in().is_none()
            })
            .map(|(i, _)| i)
            .collect();
        let reviews_waiting = crate::Reviews::new(self.ports.clone())
            .waiting_on(p)
            .await
            .map_err(|e| unknown(anyhow::anyhow!(e)))?;
        let email_mode = self
            .ports
            .email_preferences
            .get(p.user_id)
            .await
            .map_err(|e| unknown(anyhow::anyhow!(e)))?
            .map(|e| e.mode)
            .unwrap_or_default();
        Ok(DashboardView {
            email_mode,
            reviews_waiting,
            to_confirm,
            to_answer,
            me: p.clone(),
            tabs,
            plans: rows,
            activity,
            comments,
            tokens,
            members,
            group_mappings,
            known_groups,
            webhooks,
            webhook_events: crate::WebhookEvent::ALL.to_vec(),
            audit,
        })
    }
}
