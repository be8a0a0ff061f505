use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use planpush_identity::{InvalidInput, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

planpush_identity::uuid_id!(
    AuditId,
    "an audit event (it breaks ties between events of the same instant in the cursor order)",
    "audit event id"
);

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// Everything the audit log records. The string form is stable: it is stored and filtered on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum AuditAction { $($variant,)* }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(AuditAction::$variant => $name,)* }
            }
        }

        impl FromStr for AuditAction {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(AuditAction::$variant),)* _ => Err(UnknownAction(s.to_owned())) }
            }
        }
    };
}

actions! {
    SignIn => "auth.sign_in",
    SignInDenied => "auth.sign_in_denied",
    SignOut => "auth.sign_out",
    SignOutEverywhere => "auth.sign_out_everywhere",
    DeviceApproved => "auth.device_approved",
    DeviceDenied => "auth.device_denied",
    RefreshReuse => "auth.refresh_reuse",
    TokenCreated => "token.created",
    TokenRevoked => "token.revoked",
    PlanPushed => "plan.pushed",
    PlanPublished => "plan.published",
    PlanArchived => "plan.archived",
    PlanUnarchived => "plan.unarchived",
    PlanDeleted => "plan.deleted",
    CommentCreated => "comment.created",
    CommentEdited => "comment.edited",
    CommentDeleted => "comment.deleted",
    CommentResolved => "comment.resolved",
    CommentReopened => "comment.reopened",
    ReviewRequested => "review.requested",
    ReviewApproved => "review.approved",
    ReviewChangesRequested => "review.changes_requested",
    RoleChanged => "user.role_changed",
    GrantAdded => "user.grant_added",
    GrantRemoved => "user.grant_removed",
    UserDeactivated => "user.deactivated",
    UserReactivated => "user.reactivated",
    ScimProvisioned => "user.provisioned",
    ScimUpdated => "user.updated",
    ScimDeprovisioned => "user.deprovisioned",
    ScimGroupCreated => "group.created",
    ScimGroupUpdated => "group.updated",
    ScimGroupDeleted => "group.deleted",
    MappingAdded => "mapping.added",
    MappingRemoved => "mapping.removed",
    NotificationDropped => "notification.dropped",
    WebhookCreated => "webhook.created",
    WebhookDeleted => "webhook.deleted",
    IdentityLinked => "user.identity_linked",
}

/// An action name that is not one of [`AuditAction::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl From<AuditAction> for &'static str {
    fn from(a: AuditAction) -> Self {
        a.as_str()
    }
}

impl TryFrom<String> for AuditAction {
    type Error = UnknownAction;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditId,
    pub at: DateTime<Utc>,
    /// Who did it; `None` for the system (retention job, SCIM without a user, …).
    pub actor: Option<UserId>,
    pub action: AuditAction,
    /// What it was done to, as `kind:id` (`plan:…`, `user:…`, `token:…`).
    pub target: Option<String>,
    pub ip: Option<IpAddr>,
    /// Action-specific detail (a JSON object).
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: AuditAction, actor: Option<UserId>, now: DateTime<Utc>) -> Self {
        Self {
            id: AuditId::new(),
            at: now,
            actor,
            action,
            target: None,
            ip: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }
    pub fn target(mut self, kind: &str, id: impl fmt::Display) -> Self {
        self.target = Some(format!("{kind}:{id}"));
        self
    }
    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(m) = &mut self.details {
            m.insert(key.to_owned(), value.into());
        }
        self
    }
    /// The position of this event in the newest-first order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.at,
            id: self.id,
        }
    }
}

/// A keyset position: the page continues with events strictly older than `(at, id)`.
/// Its string form (`<micros>.<uuid>`) is opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: AuditId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id.0.simple())
    }
    pub fn decode(s: &str) -> Result<Self, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "cursor",
                "malformed; use the next_cursor value of a previous page",
            )
        };
        let (micros, id) = s.split_once('.').ok_or_else(bad)?;
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self {
            at,
            id: AuditId(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()), "duplicate {a}");
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{a}\""));
        }
        assert!("plan.exploded".parse::<AuditAction>().is_err());
    }

    #[test]
    fn builder_and_cursor() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let e = AuditEvent::new(AuditAction::PlanPushed, None, at)
            .target("plan", "p1")
            .detail("version", 3)
            .ip("127.0.0.1".parse().ok());
        assert_eq!(e.target.as_deref(), Some("plan:p1"));
        assert_eq!(e.details["version"], 3);
        let c = e.cursor();
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in ["", "x.y", "123", "123.not-a-uuid"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
