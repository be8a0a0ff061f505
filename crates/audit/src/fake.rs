//! In-memory audit log implementing both ports.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::*;

#[derive(Default)]
pub struct FakeAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl FakeAudit {
    /// Appends events (what a fake repository does once its own write succeeded).
    pub fn append(&self, events: &[AuditEvent]) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(events);
    }

    /// Everything recorded so far, in recording order.
    pub fn recorded(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl AuditSink for FakeAudit {
    async fn record(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        self.append(events);
        Ok(())
    }
}

#[async_trait]
impl AuditQuery for FakeAudit {
    async fn page(
        &self,
        filter: &AuditFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<AuditPage, AuditError> {
        let limit = limit.clamp(1, 1000) as usize;
        let mut v: Vec<AuditEvent> = self
            .recorded()
            .into_iter()
            .filter(|e| filter.matches(e))
            .filter(|e| after.is_none_or(|c| (e.at, e.id) < (c.at, c.id)))
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
        let more = v.len() > limit;
        v.truncate(limit);
        let next = if more {
            v.last().map(AuditEvent::cursor)
        } else {
            None
        };
        Ok(AuditPage { events: v, next })
    }
}
