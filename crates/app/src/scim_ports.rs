//! The port SCIM provisioning stores its resources through.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::{User, UserId};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A SCIM Group's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScimGroupId(Uuid);

impl ScimGroupId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
    /// `None` for anything but a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(Self)
    }
}

impl Default for ScimGroupId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ScimGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What SCIM knows about a provisioned user, beside the [`User`] row.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub user_id: UserId,
    /// `userName` as the client wrote it; unique ignoring case.
    pub user_name: String,
    pub external_id: Option<String>,
    /// The resource as the client last wrote it, without `id`, `meta`, `active` (that is the
    /// user's state), read-only and write-only attributes.
    pub resource: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set by a SCIM `DELETE`: the resource is gone for SCIM, the (deactivated) user stays.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A SCIM Group and its members.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroup {
    pub id: ScimGroupId,
    /// Unique ignoring case; it is the group name the group → role mapping matches.
    pub display_name: String,
    pub external_id: Option<String>,
    /// The resource as the client last wrote it, without `id`, `meta` and `members`.
    pub resource: Map<String, Value>,
    /// Member user ids, in the order they were added.
    pub members: Vec<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every stored change: concurrent membership changes cannot lose each other.
    pub version: i64,
}

/// Errors of [`ScimRepository`].
#[derive(Debug, thiserror::Error)]
pub enum ScimRepoError {
    #[error("not found")]
    NotFound,
    #[error("userName is already taken")]
    UserNameTaken,
    #[error("displayName is already taken")]
    DisplayNameTaken,
    /// A group member that is not a user.
    #[error("unknown member {0}")]
    UnknownMember(UserId),
    /// The user already has a SCIM record.
    #[error("the user is already provisioned")]
    AlreadyProvisioned,
    /// The group changed since it was read.
    #[error("the group changed concurrently")]
    Conflict,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// SCIM users (records beside user rows) and groups with their memberships.
#[async_trait]
pub trait ScimRepository: Send + Sync {
    /// Stores a new user (without any sign-in identity yet) and its record, atomically.
    /// MUST return `UserNameTaken` (storing nothing) when a record's `userName` equals this one
    /// ignoring case.
    async fn create_user(&self, user: &User, record: &ScimUser) -> Result<(), ScimRepoError>;
    /// Gives an existing user (one who signed in before being provisioned) a record.
    /// MUST return `NotFound` for an unknown user, `AlreadyProvisioned` when it has a record,
    /// `UserNameTaken` as [`ScimRepository::create_user`].
    async fn adopt_user(&self, record: &ScimUser) -> Result<(), ScimRepoError>;
    /// The record of a user, deleted or not. MUST return `NotFound` when there is none.
    async fn get_user(&self, id: UserId) -> Result<ScimUser, ScimRepoError>;
    /// The record whose `userName` equals `user_name` ignoring case, deleted or not.
    async fn find_user_by_name(&self, user_name: &str) -> Result<Option<ScimUser>, ScimRepoError>;
    /// Every record that is not deleted, oldest first.
    async fn list_users(&self) -> Result<Vec<ScimUser>, ScimRepoError>;
    /// Replaces the record and the user's profile (login, name, e-mail) atomically; the user's
    /// state (deactivation) is not changed here. MUST return `NotFound` without a record,
    /// `UserNameTaken` when another record has the `userName` ignoring case.
    async fn update_user(&self, user: &User, record: &ScimUser) -> Result<(), ScimRepoError>;
    /// MUST return `DisplayNameTaken` when another group has the name ignoring case, and
    /// `UnknownMember` for a member that is not a user; stores nothing then.
    async fn create_group(&self, group: &ScimGroup) -> Result<(), ScimRepoError>;
    /// MUST return `NotFound` for an unknown id.
    async fn get_group(&self, id: ScimGroupId) -> Result<ScimGroup, ScimRepoError>;
    /// Every group, oldest first.
    async fn list_groups(&self) -> Result<Vec<ScimGroup>, ScimRepoError>;
    /// Replaces name, external id, resource and members atomically and stores `version + 1`, only
    /// if the stored version is still `group.version` (a compare-and-set: two membership changes
    /// made at once never lose each other). MUST return `Conflict` (changing nothing) otherwise,
    /// and the errors of [`ScimRepository::create_group`], plus `NotFound`.
    async fn update_group(&self, group: &ScimGroup) -> Result<(), ScimRepoError>;
    /// Deletes the group and its memberships. MUST return `NotFound` for an unknown id.
    async fn delete_group(&self, id: ScimGroupId) -> Result<(), ScimRepoError>;
    /// The groups `user` is a member of, ordered by name.
    async fn groups_of(&self, user: UserId) -> Result<Vec<(ScimGroupId, String)>, ScimRepoError>;
    /// Users that have a record (deleted or not): Members shows them as provisioned.
    async fn provisioned(&self) -> Result<Vec<UserId>, ScimRepoError>;
}
