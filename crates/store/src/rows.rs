//! Conversions between domain values and column values.

use anyhow::{Context, anyhow};
use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

/// Domain time → column (UTC, no zone).
pub(crate) fn ts(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub(crate) fn ots(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(ts)
}

/// Column → domain time.
pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) fn outc(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(utc)
}

pub(crate) fn uuid(s: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(s).with_context(|| format!("corrupt id {s:?} in the database"))
}

/// Any storage failure becomes the port's `Unknown` variant.
pub(crate) fn db<E: From<anyhow::Error>>(e: impl Into<anyhow::Error>) -> E {
    E::from(e.into())
}

/// A stored value that no longer satisfies the domain's rules.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("corrupt {what} in the database: {e}")
}

pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
