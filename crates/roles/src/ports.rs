use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::UserId;

use crate::{Grant, GrantChanges, GrantOrigin, GroupMapping, GroupName, Role};

/// Errors of [`RoleRepository`].
#[derive(Debug, thiserror::Error)]
pub enum RoleRepoError {
    #[error("user not found")]
    UserNotFound,
    #[error("mapping not found")]
    MappingNotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Role grants and IdP group → role mappings.
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// A user's grants, ordered by role then origin. Unknown users simply have none.
    async fn grants_for(&self, user_id: UserId) -> Result<Vec<Grant>, RoleRepoError>;
    /// Atomically makes the user's grants of `origin` exactly `roles` (grants of the other origin
    /// are untouched; unchanged grants keep their time and grantor). Returns the changes made.
    /// MUST return `UserNotFound` (changing nothing) for an unknown user.
    async fn replace_grants(
        &self,
        user_id: UserId,
        origin: GrantOrigin,
        roles: &[Role],
        granted_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<GrantChanges, RoleRepoError>;
    /// Users holding `role` through any origin.
    async fn users_with_role(&self, role: Role) -> Result<Vec<UserId>, RoleRepoError>;
    /// All group mappings, ordered by group then role.
    async fn mappings(&self) -> Result<Vec<GroupMapping>, RoleRepoError>;
    /// Adds a mapping; adding an existing one is a no-op.
    async fn put_mapping(&self, mapping: &GroupMapping) -> Result<(), RoleRepoError>;
    /// MUST return `MappingNotFound` if there was no such mapping.
    async fn delete_mapping(&self, mapping: &GroupMapping) -> Result<(), RoleRepoError>;
    /// The roles that any of `groups` maps to.
    async fn roles_for_groups(&self, groups: &[GroupName]) -> Result<Vec<Role>, RoleRepoError>;
    /// Atomically makes the identity-provider groups remembered for the user exactly `groups`
    /// (duplicates collapse). MUST return `UserNotFound` (changing nothing) for an unknown user.
    async fn set_user_groups(
        &self,
        user_id: UserId,
        groups: &[GroupName],
    ) -> Result<(), RoleRepoError>;
    /// The groups remembered for the user, ordered by name; none for an unknown user.
    async fn user_groups(&self, user_id: UserId) -> Result<Vec<GroupName>, RoleRepoError>;
    /// Users remembered as members of `group`, ordered by id.
    async fn users_in_group(&self, group: &GroupName) -> Result<Vec<UserId>, RoleRepoError>;
    /// Every group some user is remembered in, with how many users, ordered by name.
    async fn known_groups(&self) -> Result<Vec<(GroupName, u64)>, RoleRepoError>;
}
