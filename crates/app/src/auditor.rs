use planpush_audit::AuditEvent;

use crate::Ports;

/// Writes audit events. Each event is durable before the request that caused it is answered (one
/// small insert), so a process that stops right after answering loses nothing. A failed write is
/// logged loudly with the event, and does not undo the action it describes.
#[derive(Clone)]
pub struct Auditor {
    ports: Ports,
}

impl Auditor {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    pub async fn record(&self, event: AuditEvent) {
        if let Err(e) = self
            .ports
            .audit_sink
            .record(std::slice::from_ref(&event))
            .await
        {
            tracing::error!(error = %e, action = %event.action, target = ?event.target, actor = ?event.actor, "audit event could not be written");
        }
    }
}
