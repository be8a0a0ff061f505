//! Members and roles: what admins do to users, with the last-admin rule.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::{User, UserId, UserRepoError};
use planpush_roles::{
    Capability, Grant, GrantOrigin, LastAdminError, Ownership, Role, check_last_admin,
};

use crate::{AccessCache, Auditor, Ports, Principal};

/// Errors of the admin use cases.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("only administrators can manage users and roles")]
    Forbidden,
    #[error("user not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    LastAdmin(#[from] LastAdminError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Marks events of the SCIM client (no acting user) as such.
fn via_scim(e: AuditEvent, actor: Option<UserId>) -> AuditEvent {
    if actor.is_none() {
        e.detail("via", "scim")
    } else {
        e
    }
}

/// How a member came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOrigin {
    /// Created by their first sign-in.
    SignIn,
    /// Provisioned by the identity provider over SCIM (possibly before ever signing in).
    Scim,
}

impl MemberOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberOrigin::SignIn => "sign_in",
            MemberOrigin::Scim => "scim",
        }
    }
}

/// The caller's own account, for `/api/auth/me`.
#[derive(Debug, Clone)]
pub struct Profile {
    pub member: Member,
    pub sessions: Vec<planpush_identity::WebSession>,
}

/// A member as the admin area shows them.
#[derive(Debug, Clone)]
pub struct Member {
    pub user: User,
    pub grants: Vec<Grant>,
    pub origin: MemberOrigin,
}

impl Member {
    /// Effective roles: the union over grants of every origin.
    pub fn roles(&self) -> Vec<Role> {
        let set: BTreeSet<Role> = self.grants.iter().map(|g| g.role).collect();
        set.into_iter().collect()
    }
}

/// A change to a member from `PATCH /api/users/{id}`: new manual roles, a new state, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChange {
    pub roles: Option<Vec<Role>>,
    pub active: Option<bool>,
}

pub struct Admin {
    ports: Ports,
    access: Arc<AccessCache>,
    audit: Auditor,
}

fn user_err(e: UserRepoError) -> AdminError {
    match e {
        UserRepoError::NotFound => AdminError::NotFound,
        e => AdminError::Unknown(e.into()),
    }
}

impl Admin {
    pub fn new(ports: Ports, access: Arc<AccessCache>) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            access,
            audit,
        }
    }

    fn require_admin(p: &Principal) -> Result<(), AdminError> {
        if p.can(Capability::ManageUsers, Ownership::Others) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    async fn member(&self, user: User) -> Result<Member, AdminError> {
        let origin = match self.ports.scim.get_user(user.id).await {
            Ok(_) => MemberOrigin::Scim,
            Err(crate::ScimRepoError::NotFound) => MemberOrigin::SignIn,
            Err(e) => return Err(AdminError::Unknown(e.into())),
        };
        self.member_with(user, origin).await
    }

    async fn member_with(&self, user: User, origin: MemberOrigin) -> Result<Member, AdminError> {
        let grants = self
            .ports
            .roles
            .grants_for(user.id)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(Member {
            user,
            grants,
            origin,
        })
    }

    /// Active admins now (for the last-admin rule).
    async fn active_admins(&self) -> Result<Vec<UserId>, AdminError> {
        let mut out = vec![];
        for id in self
            .ports
            .roles
            .users_with_role(Role::Admin)
            .await
            .map_err(anyhow::Error::from)?
        {
            if self
                .ports
                .users
                .get(id)
                .await
                .map_err(user_err)?
                .is_active()
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The caller's own account, roles and live browser sessions.
    pub async fn profile(&self, p: &Principal, now: DateTime<Utc>) -> Result<Profile, AdminError> {
        let user = self.ports.users.get(p.user_id).await.map_err(user_err)?;
        let sessions = self
            .ports
            .web_sessions
            .list_for_user(p.user_id, now)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(Profile {
            member: self.member(user).await?,
            sessions,
        })
    }

    pub async fn list(&self, p: &Principal) -> Result<Vec<Member>, AdminError> {
        Self::require_admin(p)?;
        let provisioned: BTreeSet<UserId> = self
            .ports
            .scim
            .provisioned()
            .await
            .map_err(|e| AdminError::Unknown(e.into()))?
            .into_iter()
            .collect();
        let mut out = vec![];
        for user in self.ports.users.list().await.map_err(user_err)? {
            let origin = if provisioned.contains(&user.id) {
                MemberOrigin::Scim
            } else {
                MemberOrigin::SignIn
            };
            out.push(self.member_with(user, origin).await?);
        }
        Ok(out)
    }

    /// Makes the user's *manual* grants exactly `roles` (sso grants are the IdP's to change).
    pub async fn set_roles(
        &self,
        p: &Principal,
        target: UserId,
        roles: &[Role],
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Member, AdminError> {
        Self::require_admin(p)?;
        let user = self.ports.users.get(target).await.map_err(user_err)?;
        let before = self.member(user.clone()).await?;
        let sso: BTreeSet<Role> = before
            .grants
            .iter()
            .filter(|g| g.origin == GrantOrigin::Sso)
            .map(|g| g.role)
            .collect();
        let stays_admin =
            user.is_active() && (roles.contains(&Role::Admin) || sso.contains(&Role::Admin));
        check_last_admin(&self.active_admins().await?, target, stays_admin)?;
        let changes = self
            .ports
            .roles
            .replace_grants(target, GrantOrigin::Manual, roles, Some(p.user_id), now)
            .await
            .map_err(|e| AdminError::Unknown(e.into()))?;
        self.access.invalidate(target);
        for role in &changes.add {
            self.audit
                .record(
                    AuditEvent::new(AuditAction::GrantAdded, Some(p.user_id), now)
                        .target("user", target)
                        .ip(ip)
                        .detail("role", role.as_str())
                        .detail("origin", "manual"),
                )
                .await;
        }
        for role in &changes.remove {
            self.audit
                .record(
                    AuditEvent::new(AuditAction::GrantRemoved, Some(p.user_id), now)
                        .target("user", target)
                        .ip(ip)
                        .detail("role", role.as_str())
                        .detail("origin", "manual"),
                )
                .await;
        }
        if !changes.is_empty() {
            let after: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            self.audit
                .record(
                    AuditEvent::new(AuditAction::RoleChanged, Some(p.user_id), now)
                        .target("user", target)
                        .ip(ip)
                        .detail("manual_roles", after),
                )
                .await;
        }
        self.member(user).await
    }

    /// Applies roles and state together, as one decision: the last-admin rule is checked against
    /// the member as both changes would leave them, before either is written, so a refused change
    /// leaves nothing half-done (formerly the roles could be saved and the deactivation refused).
    pub async fn update_member(
        &self,
        p: &Principal,
        target: UserId,
        change: MemberChange,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Member, AdminError> {
        Self::require_admin(p)?;
        if change.roles.is_none() && change.active.is_none() {
            return Err(AdminError::BadRequest("send roles and/or active".into()));
        }
        let user = self.ports.users.get(target).await.map_err(user_err)?;
        let before = self.member(user.clone()).await?;
        let admin_after = match &change.roles {
            Some(roles) => {
                roles.contains(&Role::Admin)
                    || before
                        .grants
                        .iter()
                        .any(|g| g.origin == GrantOrigin::Sso && g.role == Role::Admin)
            }
            None => before.roles().contains(&Role::Admin),
        };
        let active_after = change.active.unwrap_or(user.is_active());
        check_last_admin(
            &self.active_admins().await?,
            target,
            admin_after && active_after,
        )?;
        let mut member = before;
        if let Some(roles) = &change.roles {
            member = self.set_roles(p, target, roles, ip, now).await?;
        }
        if let Some(active) = change.active {
            member = self.set_active(p, target, active, ip, now).await?;
        }
        Ok(member)
    }

    /// Deactivates or reactivates. Deactivation ends the user's web sessions and revokes every token
    /// family at once; the next request they make fails.
    pub async fn set_active(
        &self,
        p: &Principal,
        target: UserId,
        active: bool,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Member, AdminError> {
        Self::require_admin(p)?;
        let user = self
            .change_active(target, active, Some(p.user_id), ip, now)
            .await?;
        self.member(user).await
    }

    /// Deactivation or reactivation, for the dashboard (`actor` is the admin) and SCIM
    /// provisioning (`actor` is `None`: the SCIM client). Deactivation is [`Admin::deactivate`],
    /// the one offboarding path; reactivation restores sign-in only (ended sessions and revoked
    /// tokens stay so). Returns the user as it is afterwards.
    pub(crate) async fn change_active(
        &self,
        target: UserId,
        active: bool,
        actor: Option<UserId>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<User, AdminError> {
        let mut user = self.ports.users.get(target).await.map_err(user_err)?;
        if active {
            if user.reactivate() {
                self.ports.users.update(&user).await.map_err(user_err)?;
                self.access.invalidate(target);
                self.audit
                    .record(via_scim(
                        AuditEvent::new(AuditAction::UserReactivated, actor, now)
                            .target("user", target)
                            .ip(ip),
                        actor,
                    ))
                    .await;
            }
        } else {
            self.deactivate(target, actor, ip, now).await?;
            user = self.ports.users.get(target).await.map_err(user_err)?;
        }
        Ok(user)
    }

    /// The last-admin rule for deactivating `target`.
    pub(crate) async fn check_can_deactivate(&self, target: UserId) -> Result<(), AdminError> {
        check_last_admin(&self.active_admins().await?, target, false)?;
        Ok(())
    }

    /// Offboarding: deactivates `target` and ends every kind of access it has, at once — every
    /// web session, every token family (personal and CLI), and, within a second, every open
    /// live-update stream in this process (see [`crate::LiveAccess`]); the next request of any of
    /// them is refused. The one path for the dashboard, the admin API and SCIM deprovisioning;
    /// authorizing the caller is theirs (`by` is who is recorded in the audit log, `None` for
    /// the system). The last-admin rule holds. Returns whether the user was active until now
    /// (deactivating a deactivated user changes nothing, but still ends anything left).
    pub async fn deactivate(
        &self,
        target: UserId,
        by: Option<UserId>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<bool, AdminError> {
        let mut user = self.ports.users.get(target).await.map_err(user_err)?;
        check_last_admin(&self.active_admins().await?, target, false)?;
        let changed = user.deactivate(now);
        if changed {
            self.ports.users.update(&user).await.map_err(user_err)?;
        }
        self.end_everything(target, now).await?;
        if changed {
            self.audit
                .record(via_scim(
                    AuditEvent::new(AuditAction::UserDeactivated, by, now)
                        .target("user", target)
                        .ip(ip),
                    by,
                ))
                .await;
        }
        Ok(changed)
    }

    /// "Sign out everywhere": ends every web session and revokes every token of the user. Admins may
    /// do it to anyone; everyone may do it to themselves.
    pub async fn sign_out_everywhere(
        &self,
        p: &Principal,
        target: UserId,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<u64, AdminError> {
        if target != p.user_id {
            Self::require_admin(p)?;
        }
        self.ports.users.get(target).await.map_err(user_err)?;
        let ended = self.end_everything(target, now).await?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::SignOutEverywhere, Some(p.user_id), now)
                    .target("user", target)
                    .ip(ip)
                    .detail("sessions", ended),
            )
            .await;
        Ok(ended)
    }

    /// Ends every web session and revokes every token of `target`, then bumps its generation
    /// (voiding cached credentials and closing its open live streams). Returns the sessions ended.
    pub async fn end_everything(
        &self,
        target: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, AdminError> {
        let ended = self
            .ports
            .web_sessions
            .delete_for_user(target)
            .await
            .map_err(anyhow::Error::from)?;
        self.ports
            .tokens
            .revoke_all_for_user(target, now)
            .await
            .map_err(anyhow::Error::from)?;
        self.access.invalidate(target);
        Ok(ended)
    }
}
