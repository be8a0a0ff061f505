//! Identity-provider groups → roles: the mappings admins edit, and the one place a user's groups
//! become `sso` grants ([`GroupAccess::reconcile_user`]).
//!
//! A user's groups come from two sources, and the user's roles follow their union: the `groups`
//! claim of their last OIDC sign-in (remembered with `RoleRepository::set_user_groups`, replaced
//! at every sign-in by [`GroupAccess::apply_user_groups`]) and the SCIM groups the user is a member
//! of (changed by the SCIM client). Neither source overwrites the other. A mapping change
//! re-reconciles the `sso` grants of every member of the group, from either source, and voids their
//! cached access: it takes effect on their next request, not at their next sign-in. Manual grants are
//! never touched here. The last-admin rule holds: a mapping change that would leave no active admin
//! is refused, and a sign-in never strips the last active admin of their `sso` admin grant.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::{UserId, UserRepoError};
use planpush_roles::{
    Capability, GrantOrigin, GroupMapping, GroupName, LastAdminError, Ownership, Role,
    RoleRepoError, reconcile_sso,
};

use crate::{AccessCache, Auditor, Ports, Principal};

/// Errors of the group-mapping administration.
#[derive(Debug, thiserror::Error)]
pub enum GroupMappingError {
    #[error("only administrators can manage group mappings")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("no such group mapping")]
    NotFound,
    #[error(transparent)]
    LastAdmin(#[from] LastAdminError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// What applying a user's groups did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSync {
    /// The roles the user's groups map to now.
    pub mapped: Vec<Role>,
    /// The user's effective roles afterwards (sso and manual grants together).
    pub roles: Vec<Role>,
    /// Roles added to / removed from the user's `sso` grants.
    pub added: Vec<Role>,
    pub removed: Vec<Role>,
}

/// The group → role mapping use cases.
pub struct GroupAccess {
    ports: Ports,
    access: Arc<AccessCache>,
    audit: Auditor,
}

fn repo(e: RoleRepoError) -> anyhow::Error {
    e.into()
}

/// The roles `groups` map to under `mappings`.
fn mapped_roles(mappings: &[GroupMapping], groups: &[GroupName]) -> BTreeSet<Role> {
    mappings
        .iter()
        .filter(|m| groups.contains(&m.group))
        .map(|m| m.role)
        .collect()
}

impl GroupAccess {
    pub fn new(ports: Ports, access: Arc<AccessCache>) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            access,
            audit,
        }
    }

    fn require_admin(p: &Principal) -> Result<(), GroupMappingError> {
        if p.can(Capability::ManageUsers, Ownership::Others) {
            Ok(())
        } else {
            Err(GroupMappingError::Forbidden)
        }
    }

    /// Users who are active and hold the admin role now.
    async fn active_admins(&self) -> anyhow::Result<Vec<UserId>> {
        let mut out = vec![];
        for id in self
            .ports
            .roles
            .users_with_role(Role::Admin)
            .await
            .map_err(repo)?
        {
            match self.ports.users.get(id).await {
                Ok(u) if u.is_active() => out.push(id),
                Ok(_) | Err(UserRepoError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Every mapping, ordered by group then role (admins only).
    pub async fn mappings(&self, p: &Principal) -> Result<Vec<GroupMapping>, GroupMappingError> {
        Self::require_admin(p)?;
        Ok(self.ports.roles.mappings().await.map_err(repo)?)
    }

    fn parse(group: &str, role: &str) -> Result<GroupMapping, GroupMappingError> {
        let group = GroupName::parse(group.trim())
            .map_err(|e| GroupMappingError::BadRequest(format!("group: {e}")))?;
        let role = role
            .parse::<Role>()
            .map_err(|e| GroupMappingError::BadRequest(e.to_string()))?;
        Ok(GroupMapping { group, role })
    }

    /// Maps `group` to `role` (adding an existing mapping changes nothing and records nothing),
    /// then re-reconciles the `sso` grants of the group's members.
    pub async fn add_mapping(
        &self,
        p: &Principal,
        group: &str,
        role: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<GroupMapping, GroupMappingError> {
        Self::require_admin(p)?;
        let mapping = Self::parse(group, role)?;
        let before = self.ports.roles.mappings().await.map_err(repo)?;
        if before.contains(&mapping) {
            return Ok(mapping);
        }
        self.ports.roles.put_mapping(&mapping).await.map_err(repo)?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::MappingAdded, Some(p.user_id), now)
                    .target("group", mapping.group.as_str())
                    .ip(ip)
                    .detail("group", mapping.group.as_str())
                    .detail("role", mapping.role.as_str()),
            )
            .await;
        self.resync_group(&mapping.group, Some(p.user_id), ip, now)
            .await?;
        Ok(mapping)
    }

    /// Removes a mapping and re-reconciles the group's members. Refused (changing nothing) when
    /// it would leave the instance without an active admin.
    pub async fn remove_mapping(
        &self,
        p: &Principal,
        group: &str,
        role: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), GroupMappingError> {
        Self::require_admin(p)?;
        let mapping = Self::parse(group, role)?;
        let before = self.ports.roles.mappings().await.map_err(repo)?;
        if !before.contains(&mapping) {
            return Err(GroupMappingError::NotFound);
        }
        if mapping.role == Role::Admin {
            let after: Vec<GroupMapping> =
                before.iter().filter(|m| **m != mapping).cloned().collect();
            let admins = self.active_admins().await?;
            let mut remaining = 0usize;
            for id in &admins {
                let grants = self.ports.roles.grants_for(*id).await.map_err(repo)?;
                let manual = grants
                    .iter()
                    .any(|g| g.role == Role::Admin && g.origin == GrantOrigin::Manual);
                let groups = self.effective_groups(*id).await?;
                if manual || mapped_roles(&after, &groups).contains(&Role::Admin) {
                    remaining += 1;
                }
            }
            if !admins.is_empty() && remaining == 0 {
                return Err(LastAdminError.into());
            }
        }
        match self.ports.roles.delete_mapping(&mapping).await {
            Ok(()) => {}
            Err(RoleRepoError::MappingNotFound) => return Err(GroupMappingError::NotFound),
            Err(e) => return Err(repo(e).into()),
        }
        self.audit
            .record(
                AuditEvent::new(AuditAction::MappingRemoved, Some(p.user_id), now)
                    .target("group", mapping.group.as_str())
                    .ip(ip)
                    .detail("group", mapping.group.as_str())
                    .detail("role", mapping.role.as_str()),
            )
            .await;
        self.resync_group(&mapping.group, Some(p.user_id), ip, now)
            .await?;
        Ok(())
    }

    /// The user's groups: the remembered `groups` claim together with their SCIM groups.
    async fn effective_groups(&self, user: UserId) -> anyhow::Result<Vec<GroupName>> {
        let mut groups: BTreeSet<GroupName> = self
            .ports
            .roles
            .user_groups(user)
            .await
            .map_err(repo)?
            .into_iter()
            .collect();
        for (_, name) in self.ports.scim.groups_of(user).await? {
            if let Ok(group) = GroupName::parse(&name) {
                groups.insert(group);
            }
        }
        Ok(groups.into_iter().collect())
    }

    /// Re-reconciles every member of `group` — remembered from sign-in or a SCIM member.
    async fn resync_group(
        &self,
        group: &GroupName,
        actor: Option<UserId>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mut users: BTreeSet<UserId> = self
            .ports
            .roles
            .users_in_group(group)
            .await
            .map_err(repo)?
            .into_iter()
            .collect();
        for scim_group in self.ports.scim.list_groups().await? {
            if scim_group.display_name.eq_ignore_ascii_case(group.as_str()) {
                users.extend(scim_group.members.iter().copied());
            }
        }
        for user in users {
            self.reconcile_user(user, actor, "group mapping changed", ip, now)
                .await?;
        }
        Ok(())
    }

    /// **The one function that turns a user's identity-provider groups into roles.** Makes the
    /// user's `sso` grants exactly the roles their groups (sign-in claim ∪ SCIM memberships) map to;
    /// manual grants stay. Audits every grant added or removed with `reason` and voids the user's
    /// cached access when anything changed. SCIM calls it after a membership change.
    pub async fn reconcile_user(
        &self,
        user: UserId,
        actor: Option<UserId>,
        reason: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<GroupSync> {
        let groups = self.effective_groups(user).await?;
        let mappings = self.ports.roles.mappings().await.map_err(repo)?;
        self.reconcile(
            user,
            &mapped_roles(&mappings, &groups),
            actor,
            reason,
            ip,
            now,
        )
        .await
    }

    /// Makes `user`'s `sso` grants equal to `mapped` (keeping an `sso` admin grant that is the
    /// instance's last), audits each change and voids the user's cached access.
    async fn reconcile(
        &self,
        user: UserId,
        mapped: &BTreeSet<Role>,
        actor: Option<UserId>,
        reason: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<GroupSync> {
        let current = self.ports.roles.grants_for(user).await.map_err(repo)?;
        let mut target = mapped.clone();
        let plan = reconcile_sso(&current, &target);
        if plan.remove.contains(&Role::Admin) {
            let manual_admin = current
                .iter()
                .any(|g| g.role == Role::Admin && g.origin == GrantOrigin::Manual);
            let admins = self.active_admins().await?;
            if !manual_admin && admins.contains(&user) && admins.iter().all(|a| *a == user) {
                tracing::warn!(%user, "kept the sso admin grant of the last active admin");
                target.insert(Role::Admin);
            }
        }
        let wanted: Vec<Role> = target.iter().copied().collect();
        let changes = self
            .ports
            .roles
            .replace_grants(user, GrantOrigin::Sso, &wanted, None, now)
            .await
            .map_err(repo)?;
        for (action, roles) in [
            (AuditAction::GrantAdded, &changes.add),
            (AuditAction::GrantRemoved, &changes.remove),
        ] {
            for role in roles {
                self.audit
                    .record(
                        AuditEvent::new(action, actor, now)
                            .target("user", user)
                            .ip(ip)
                            .detail("role", role.as_str())
                            .detail("origin", "sso")
                            .detail("reason", reason),
                    )
                    .await;
            }
        }
        if !changes.is_empty() {
            self.access.invalidate(user);
        }
        let after = self.ports.roles.grants_for(user).await.map_err(repo)?;
        let roles: BTreeSet<Role> = after.iter().map(|g| g.role).collect();
        Ok(GroupSync {
            mapped: mapped.iter().copied().collect(),
            roles: roles.into_iter().collect(),
            added: changes.add,
            removed: changes.remove,
        })
    }

    /// At an OIDC sign-in: remembers `groups` (the token's `groups` claim) as the user's sign-in
    /// groups, then [`GroupAccess::reconcile_user`]. Returns the mapped and effective roles.
    pub async fn apply_user_groups(
        &self,
        user: UserId,
        groups: &[GroupName],
        actor: Option<UserId>,
        reason: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<GroupSync> {
        self.ports
            .roles
            .set_user_groups(user, groups)
            .await
            .map_err(repo)?;
        self.reconcile_user(user, actor, reason, ip, now).await
    }
}
