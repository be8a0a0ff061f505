//! [`InboxSource`] over the inbox's repository (`planpush_inbox::InboxRepository`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::UserId;
use planpush_inbox::{EmailNotice, InboxRepoError, InboxRepository, NoticeKind, NotificationId};

use super::{InboxItem, InboxSource, NotificationKind};
use crate::InfraError;

/// Reads notifications for e-mail from the inbox.
pub struct RepositoryInbox(Arc<dyn InboxRepository>);

impl RepositoryInbox {
    pub fn new(inbox: Arc<dyn InboxRepository>) -> Self {
        Self(inbox)
    }
}

fn item(n: EmailNotice) -> InboxItem {
    let e = n.item.entry;
    InboxItem {
        id: e.id.to_string(),
        recipient: e.recipient,
        kind: match e.kind {
            NoticeKind::Mention => NotificationKind::Mention,
            NoticeKind::Reply => NotificationKind::Reply,
            NoticeKind::Comment => NotificationKind::Comment,
            NoticeKind::Version => NotificationKind::Version,
        },
        plan: e.plan_id,
        actor: n.item.actor_login,
        excerpt: Some(e.excerpt).filter(|x| !x.trim().is_empty()),
        // The plan page opens `#comment-<id>` (a thread's or a reply's id) in its sidebar, as
        // the inbox links.
        anchor: e.comment_id.map(|c| format!("comment-{c}")),
        comment: e.comment_id.map(|c| c.to_string()),
        version: e.version,
        created_at: e.created_at,
        read_at: e.read_at,
    }
}

fn infra(e: InboxRepoError) -> InfraError {
    match e {
        InboxRepoError::NotFound => InfraError::NotFound,
        InboxRepoError::Unknown(e) => InfraError::Unknown(e),
    }
}

#[async_trait]
impl InboxSource for RepositoryInbox {
    async fn notification(&self, id: &str) -> Result<Option<InboxItem>, InfraError> {
        let Ok(id) = NotificationId::parse(id) else {
            return Ok(None);
        };
        match self.0.for_email(id).await {
            Ok(n) => Ok(Some(item(n))),
            Err(InboxRepoError::NotFound) => Ok(None),
            Err(e) => Err(infra(e)),
        }
    }

    async fn unread_since(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<InboxItem>, InfraError> {
        Ok(self
            .0
            .unread_since(user, since)
            .await
            .map_err(infra)?
            .into_iter()
            .map(item)
            .collect())
    }
}
