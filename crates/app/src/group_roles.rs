//! Identity-provider groups → `sso` role grants: the one place they are derived.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::UserId;
use planpush_roles::{GrantChanges, GrantOrigin, GroupName, Role, check_last_admin};

use crate::{AccessCache, Auditor, Ports};

/// Makes `user`'s `sso` grants exactly the roles `groups` map to (`roles::reconcile_sso`: manual
/// grants are never touched), audits each change with `source` (`scim`, `sign_in`), and voids the
/// user's cached roles so the change applies to their next request. The last-admin rule holds:
/// when the change would leave no active admin, the user keeps the `sso` admin grant.
pub async fn reconcile_group_roles(
    ports: &Ports,
    access: &AccessCache,
    audit: &Auditor,
    user: UserId,
    groups: &[GroupName],
    source: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<GrantChanges> {
    let mut mapped: BTreeSet<Role> = ports
        .roles
        .roles_for_groups(groups)
        .await?
        .into_iter()
        .collect();
    let current = ports.roles.grants_for(user).await?;
    let mut changes = planpush_roles::reconcile_sso(&current, &mapped);
    let kept_admin = if changes.remove.contains(&Role::Admin) {
        let manual_admin = current
            .iter()
            .any(|g| g.role == Role::Admin && g.origin == GrantOrigin::Manual);
        let mut active_admins = vec![];
        for id in ports.roles.users_with_role(Role::Admin).await? {
            if ports.users.get(id).await?.is_active() {
                active_admins.push(id);
            }
        }
        let keep = check_last_admin(&active_admins, user, manual_admin).is_err();
        if keep {
            mapped.insert(Role::Admin);
            changes.remove.retain(|r| *r != Role::Admin);
        }
        keep
    } else {
        false
    };
    if changes.is_empty() {
        return Ok(changes);
    }
    let roles: Vec<Role> = mapped.into_iter().collect();
    let made = ports
        .roles
        .replace_grants(user, GrantOrigin::Sso, &roles, None, now)
        .await?;
    access.invalidate(user);
    let group_names: Vec<&str> = groups.iter().map(GroupName::as_str).collect();
    for (action, list) in [
        (AuditAction::GrantAdded, &made.add),
        (AuditAction::GrantRemoved, &made.remove),
    ] {
        for role in list {
            audit
                .record(
                    AuditEvent::new(action, None, now)
                        .target("user", user)
                        .detail("role", role.as_str())
                        .detail("origin", "sso")
                        .detail("source", source)
                        .detail("groups", group_names.clone()),
                )
                .await;
        }
    }
    if kept_admin {
        tracing::warn!(%user, "kept the sso admin grant of the last active admin");
    }
    Ok(made)
}
