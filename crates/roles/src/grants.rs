use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use planpush_identity::{InvalidInput, UserId};
use serde::{Deserialize, Serialize};

use crate::Role;

/// Where a grant came from. Login reconciles only `Sso` grants; `Manual` ones (break-glass,
/// exceptions) persist until an admin removes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantOrigin {
    Sso,
    Manual,
}

impl GrantOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantOrigin::Sso => "sso",
            GrantOrigin::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "sso" => Ok(GrantOrigin::Sso),
            "manual" => Ok(GrantOrigin::Manual),
            _ => Err(InvalidInput::new(
                "grant origin",
                format!("unknown origin {s:?}"),
            )),
        }
    }
}

/// One role held by one user, for one reason. A user may hold the same role twice, once per origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user_id: UserId,
    pub role: Role,
    pub origin: GrantOrigin,
    pub granted_at: DateTime<Utc>,
    /// The admin who made a manual grant; `None` for sso and bootstrap grants.
    pub granted_by: Option<UserId>,
}

/// An identity provider group name (as in the `groups` claim): 1–256 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.trim().is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "group",
                "must be 1 to 256 printable characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GroupName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<GroupName> for String {
    fn from(g: GroupName) -> Self {
        g.0
    }
}

/// "Members of this IdP group get this role."
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupMapping {
    pub group: GroupName,
    pub role: Role,
}

/// What a login must change in a user's `sso` grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantChanges {
    pub add: Vec<Role>,
    pub remove: Vec<Role>,
}

impl GrantChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Login reconciliation: make the user's `sso` grants equal to `mapped` (the roles their groups map
/// to). Manual grants are neither added nor removed.
pub fn reconcile_sso(current: &[Grant], mapped: &BTreeSet<Role>) -> GrantChanges {
    let sso: BTreeSet<Role> = current
        .iter()
        .filter(|g| g.origin == GrantOrigin::Sso)
        .map(|g| g.role)
        .collect();
    GrantChanges {
        add: mapped.difference(&sso).copied().collect(),
        remove: sso.difference(mapped).copied().collect(),
    }
}

/// Refusal to leave the instance without an active admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this is the last active admin: make someone else an admin first")]
pub struct LastAdminError;

/// The last-admin rule. `active_admins` are the users who are active and hold the admin role now;
/// `target` is the user whose roles or state change; `target_stays_admin` says whether, after the
/// change, they are still an active admin.
pub fn check_last_admin(
    active_admins: &[UserId],
    target: UserId,
    target_stays_admin: bool,
) -> Result<(), LastAdminError> {
    if target_stays_admin || !active_admins.contains(&target) {
        return Ok(());
    }
    if active_admins.iter().any(|a| *a != target) {
        Ok(())
    } else {
        Err(LastAdminError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, origin: GrantOrigin) -> Grant {
        Grant {
            user_id: UserId::from_uuid(uuid::Uuid::nil()),
            role,
            origin,
            granted_at: DateTime::UNIX_EPOCH,
            granted_by: None,
        }
    }

    #[test]
    fn reconcile_touches_only_sso_grants() {
        use GrantOrigin::*;
        use Role::*;
        // (current grants, mapped roles, expected additions, expected removals)
        type Case<'a> = (
            &'a [(Role, GrantOrigin)],
            &'a [Role],
            &'a [Role],
            &'a [Role],
        );
        let cases: &[Case] = &[
            (&[], &[Developer], &[Developer], &[]),
            (&[(Developer, Sso)], &[Developer], &[], &[]),
            (&[(Developer, Sso)], &[Qa], &[Qa], &[Developer]),
            (&[(Admin, Manual)], &[], &[], &[]),
            (&[(Admin, Manual), (Qa, Sso)], &[], &[], &[Qa]),
            (&[(Admin, Manual)], &[Admin], &[Admin], &[]),
            (
                &[(ProjectManager, Sso), (Developer, Sso)],
                &[Developer, ProjectManager],
                &[],
                &[],
            ),
        ];
        for (current, mapped, add, remove) in cases {
            let current: Vec<_> = current.iter().map(|(r, o)| grant(*r, *o)).collect();
            let got = reconcile_sso(&current, &mapped.iter().copied().collect());
            assert_eq!(
                (got.add.as_slice(), got.remove.as_slice()),
                (*add, *remove),
                "{current:?} -> {mapped:?}"
            );
        }
    }

    #[test]
    fn last_admin_rule() {
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let cases = [
            (vec![a], a, false, Err(LastAdminError)),
            (vec![a], a, true, Ok(())),
            (vec![a, b], a, false, Ok(())),
            (vec![a], c, false, Ok(())),
            (vec![], c, false, Ok(())),
        ];
        for (admins, target, stays, want) in cases {
            assert_eq!(check_last_admin(&admins, target, stays), want);
        }
    }

    #[test]
    fn group_names_and_origins() {
        assert!(GroupName::parse("").is_err());
        assert!(GroupName::parse("  ").is_err());
        assert!(GroupName::parse(&"g".repeat(257)).is_err());
        assert_eq!(
            GroupName::parse("Engineering").map(|g| g.as_str().to_owned()),
            Ok("Engineering".into())
        );
        for o in [GrantOrigin::Sso, GrantOrigin::Manual] {
            assert_eq!(GrantOrigin::parse(o.as_str()), Ok(o));
        }
    }
}
