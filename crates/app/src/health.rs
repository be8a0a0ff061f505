use crate::{InfraError, Ports};

/// Liveness and readiness, as the load balancer and the orchestrator ask for them.
#[derive(Clone)]
pub struct Health {
    ports: Ports,
}

/// Why the service is not ready. The cause is for logs, not for the public answer.
#[derive(Debug, thiserror::Error)]
#[error("the database is not reachable")]
pub struct NotReady(#[source] pub InfraError);

impl Health {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Ready when the database answers a trivial query.
    pub async fn ready(&self) -> Result<(), NotReady> {
        self.ports.readiness.check().await.map_err(NotReady)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::MockReadiness;

    #[tokio::test]
    async fn readiness_follows_the_database() {
        let mut ports = crate::fake::ports();
        assert!(Health::new(ports.clone()).ready().await.is_ok());
        let mut down = MockReadiness::new();
        down.expect_check()
            .returning(|| Err(InfraError::Unknown(anyhow::anyhow!("connection refused"))));
        ports.readiness = Arc::new(down);
        let err = Health::new(ports).ready().await.unwrap_err();
        assert_eq!(err.to_string(), "the database is not reachable");
    }
}
