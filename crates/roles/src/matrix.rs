use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four built-in roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    ProjectManager,
    Developer,
    Qa,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::ProjectManager, Role::Developer, Role::Qa];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ProjectManager => "project_manager",
            Role::Developer => "developer",
            Role::Qa => "qa",
        }
    }
    fn column(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unknown role names are an input error, reported with the accepted names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected admin, project_manager, developer or qa")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "project_manager" | "pm" => Ok(Role::ProjectManager),
            "developer" => Ok(Role::Developer),
            "qa" => Ok(Role::Qa),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

/// Things a user may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    ViewPublished,
    /// Comment, reply, resolve and reopen.
    Comment,
    /// Create plans (and push new versions of plans one may update).
    Push,
    PublishArchive,
    ViewOthersPrivate,
    ViewAudit,
    DeletePlans,
    ManageUsers,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::ViewPublished,
        Capability::Comment,
        Capability::Push,
        Capability::PublishArchive,
        Capability::ViewOthersPrivate,
        Capability::ViewAudit,
        Capability::DeletePlans,
        Capability::ManageUsers,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::ViewPublished => "view_published",
            Capability::Comment => "comment",
            Capability::Push => "push",
            Capability::PublishArchive => "publish_archive",
            Capability::ViewOthersPrivate => "view_others_private",
            Capability::ViewAudit => "view_audit",
            Capability::DeletePlans => "delete_plans",
            Capability::ManageUsers => "manage_users",
        }
    }
}

/// How far a role's permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    None,
    /// Only on things the user owns.
    Own,
    /// On anything.
    Any,
}

/// Whether the thing acted on belongs to the acting user. Capabilities that are not about an owned
/// thing (creating a plan, reading the audit log) are asked with [`Ownership::Own`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Own,
    Others,
}

use Scope::{Any, None as No, Own};

/// The brief's capability matrix. Columns: admin, project manager, developer, QA.
pub const MATRIX: [(Capability, [Scope; 4]); 8] = [
    (Capability::ViewPublished, [Any, Any, Any, Any]),
    (Capability::Comment, [Any, Any, Any, Any]),
    (Capability::Push, [Any, Any, Any, No]),
    (Capability::PublishArchive, [Any, Any, Own, No]),
    (Capability::ViewOthersPrivate, [Any, Any, No, No]),
    (Capability::ViewAudit, [Any, Any, No, No]),
    (Capability::DeletePlans, [Any, No, No, No]),
    (Capability::ManageUsers, [Any, No, No, No]),
];

/// The scope one role has for one capability.
pub fn scope(role: Role, capability: Capability) -> Scope {
    MATRIX
        .iter()
        .find(|(c, _)| *c == capability)
        .map_or(Scope::None, |(_, row)| row[role.column()])
}

/// Does any of `roles` allow `capability` on a thing of this `ownership`? (Union over roles; no
/// roles allows nothing.)
pub fn allowed(roles: &[Role], capability: Capability, ownership: Ownership) -> bool {
    roles.iter().any(|r| match scope(*r, capability) {
        Scope::Any => true,
        Scope::Own => ownership == Ownership::Own,
        Scope::None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_covers_every_capability_once() {
        for c in Capability::ALL {
            assert_eq!(MATRIX.iter().filter(|(m, _)| *m == c).count(), 1, "{c:?}");
        }
    }

    /// The brief's table, row by row, in its own words.
    #[test]
    fn matrix_matches_the_brief() {
        let table = [
            ("view_published", "Yes Yes Yes Yes"),
            ("comment", "Yes Yes Yes Yes"),
            ("push", "Yes Yes Yes —"),
            ("publish_archive", "Any Any Own —"),
            ("view_others_private", "Yes Yes — —"),
            ("view_audit", "Yes Yes — —"),
            ("delete_plans", "Yes — — —"),
            ("manage_users", "Yes — — —"),
        ];
        for (cap, cells) in table {
            let c = Capability::ALL
                .into_iter()
                .find(|c| c.as_str() == cap)
                .unwrap();
            for (role, cell) in Role::ALL.into_iter().zip(cells.split(' ')) {
                let want = match cell {
                    "Yes" | "Any" => Scope::Any,
                    "Own" => Scope::Own,
                    _ => Scope::None,
                };
                assert_eq!(scope(role, c), want, "{cap} for {role}");
            }
        }
    }

    #[test]
    fn allowed_is_the_union_over_roles() {
        use Capability::*;
        use Ownership::*;
        let cases: &[(&[Role], Capability, Ownership, bool)] = &[
            (&[], ViewPublished, Own, false),
            (&[Role::Qa], ViewPublished, Others, true),
            (&[Role::Qa], Push, Own, false),
            (&[Role::Developer], PublishArchive, Own, true),
            (&[Role::Developer], PublishArchive, Others, false),
            (
                &[Role::Developer, Role::ProjectManager],
                PublishArchive,
                Others,
                true,
            ),
            (&[Role::Qa, Role::Developer], Push, Own, true),
            (&[Role::ProjectManager], DeletePlans, Others, false),
            (&[Role::Admin], DeletePlans, Others, true),
            (&[Role::ProjectManager], ViewAudit, Own, true),
            (&[Role::Developer], ViewOthersPrivate, Others, false),
            (&[Role::ProjectManager], ManageUsers, Own, false),
        ];
        for (roles, cap, own, want) in cases {
            assert_eq!(
                allowed(roles, *cap, *own),
                *want,
                "{roles:?} {cap:?} {own:?}"
            );
        }
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!("pm".parse::<Role>(), Ok(Role::ProjectManager));
        assert!("root".parse::<Role>().is_err());
    }
}
