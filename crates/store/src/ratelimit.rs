//! Rate limits counted in PostgreSQL, so several server processes share one budget per key.
//!
//! The same GCRA as the in-memory limiter of one process (`planpush_web::RateLimits`): a budget of
//! `n` requests per 15 minutes refills one request every `900 s / n`, and allows a burst of `n`.
//! Each `(budget, key)` is one row of `rate_limits` holding its *theoretical arrival time* (`tat`,
//! Unix milliseconds of the database's clock). One statement draws a request: it moves `tat` on by
//! one emission interval only if the result stays within the window, so two processes drawing at
//! once queue on the row and never both take the last request. A row whose `tat` has passed is a
//! full budget, indistinguishable from no row; [`PgRateLimiter::prune`] deletes those (the sweep
//! calls it), which bounds the table.
//!
//! When the database cannot answer, the request is let through (and logged): a limit must not turn
//! a database hiccup into refused sign-ins, and the request itself needs the database anyway.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use planpush_app::{Budget, LimitKey, RateLimiter};

use crate::{DbConnection, Store};

/// The 15-minute window of every budget, in milliseconds.
const WINDOW_MS: i64 = 900_000;

/// The database clock in Unix milliseconds.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// [`RateLimiter`] over the `rate_limits` table (PostgreSQL).
pub struct PgRateLimiter {
    store: Arc<Store>,
}

#[derive(QueryableByName)]
struct Ms {
    #[diesel(sql_type = BigInt)]
    ms: i64,
}

/// The row key of `budget` for `key`.
pub fn row_key(budget: Budget, key: &LimitKey) -> String {
    let who = match key {
        LimitKey::Network(ip) => format!("ip:{ip}"),
        LimitKey::User(u) => format!("user:{u}"),
        LimitKey::Family(f) => format!("family:{f}"),
        LimitKey::Token(t) => {
            let hex: String = t.iter().map(|b| format!("{b:02x}")).collect();
            format!("token:{hex}")
        }
    };
    format!("{}/{who}", budget.name())
}

/// The emission interval of a budget: the window over its size, in milliseconds.
pub fn interval_ms(budget: Budget) -> i64 {
    WINDOW_MS / i64::from(budget.per_15_min().max(1))
}

impl PgRateLimiter {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    fn draw(conn: &mut DbConnection, key: String, t: i64) -> anyhow::Result<Result<(), Duration>> {
        let DbConnection::Pg(c) = conn else {
            anyhow::bail!("the shared rate limiter needs PostgreSQL");
        };
        // Allowed iff max(tat, now) + T - now <= window; EXCLUDED.tat is now + T.
        let drawn: Vec<Ms> = diesel::sql_query(format!(
            "INSERT INTO rate_limits (key, tat) VALUES ($1, {NOW_MS} + $2) \
             ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_limits.tat + $2, EXCLUDED.tat) \
             WHERE GREATEST(rate_limits.tat + $2, EXCLUDED.tat) - EXCLUDED.tat + $2 <= $3 \
             RETURNING tat AS ms"
        ))
        .bind::<Text, _>(key.as_str())
        .bind::<BigInt, _>(t)
        .bind::<BigInt, _>(WINDOW_MS)
        .load(c)?;
        if !drawn.is_empty() {
            return Ok(Ok(()));
        }
        // Spent: one more request fits once tat + T - now <= window.
        let wait: Vec<Ms> = diesel::sql_query(format!(
            "SELECT GREATEST(tat + $2 - $3 - {NOW_MS}, 1) AS ms FROM rate_limits WHERE key = $1"
        ))
        .bind::<Text, _>(key.as_str())
        .bind::<BigInt, _>(t)
        .bind::<BigInt, _>(WINDOW_MS)
        .load(c)?;
        let ms = wait.first().map_or(1, |w| w.ms);
        Ok(Err(Duration::from_millis(u64::try_from(ms).unwrap_or(1))))
    }

    /// Deletes the rows of keys whose budget has refilled. Returns how many.
    pub async fn prune(&self) -> anyhow::Result<u64> {
        self.store
            .run(|conn| {
                let DbConnection::Pg(c) = conn else {
                    anyhow::bail!("the shared rate limiter needs PostgreSQL");
                };
                let n = diesel::sql_query(format!("DELETE FROM rate_limits WHERE tat < {NOW_MS}"))
                    .execute(c)?;
                Ok(n as u64)
            })
            .await
    }
}

#[async_trait]
impl RateLimiter for PgRateLimiter {
    async fn check(&self, budget: Budget, key: LimitKey) -> Result<(), Duration> {
        let row = row_key(budget, &key);
        let t = interval_ms(budget);
        match self.store.run(move |conn| Self::draw(conn, row, t)).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), budget = budget.name(), "the shared rate limiter is unavailable; letting the request through");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use planpush_identity::UserId;

    use super::*;

    #[test]
    fn keys_keep_budgets_and_kinds_apart() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let user = UserId::new();
        let keys = [
            row_key(Budget::SignIn, &LimitKey::ip(ip)),
            row_key(Budget::SignOut, &LimitKey::ip(ip)),
            row_key(Budget::Comment, &LimitKey::User(user)),
            row_key(Budget::Comment, &LimitKey::Token([7; 16])),
        ];
        assert_eq!(keys[0], "sign_in/ip:203.0.113.7");
        assert_eq!(keys[3], format!("comment/token:{}", "07".repeat(16)));
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
    }

    #[test]
    fn a_budget_refills_one_request_per_interval() {
        assert_eq!(interval_ms(Budget::SignIn), 30_000);
        assert_eq!(interval_ms(Budget::Scim), 50);
        for b in Budget::ALL {
            assert!(interval_ms(b) >= 1 && interval_ms(b) <= WINDOW_MS);
        }
    }
}
