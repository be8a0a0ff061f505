use chrono::{DateTime, Duration, Utc};

use crate::{VersionMeta, VersionNumber};

/// `VERSION_RETENTION_DAYS`: how long a snapshot's content is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    days: u32,
}

impl RetentionPolicy {
    /// At least one day.
    pub fn days(days: u32) -> Self {
        Self { days: days.max(1) }
    }
    /// Snapshots pushed strictly before this instant may be purged.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(i64::from(self.days))
    }
    /// The rule: purge content older than the cutoff, never the plan's current version, never twice.
    pub fn should_purge(
        &self,
        meta: &VersionMeta,
        current: VersionNumber,
        now: DateTime<Utc>,
    ) -> bool {
        meta.purged_at.is_none() && meta.number != current && meta.pushed_at < self.cutoff(now)
    }
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self::days(90)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChangeSet, SourceFormat};
    use planpush_identity::UserId;
    use planpush_plans::PlanId;

    #[test]
    fn purge_rule_table() {
        let now = DateTime::UNIX_EPOCH + Duration::days(1000);
        let p = RetentionPolicy::default();
        let v = |n: u32, age_days: i64, purged: bool| VersionMeta {
            plan_id: PlanId::new(),
            number: VersionNumber::new(n).unwrap(),
            title: "t".into(),
            format: SourceFormat::Html,
            changes: ChangeSet::default(),
            pushed_by: UserId::new(),
            pushed_at: now - Duration::days(age_days),
            purged_at: purged.then_some(now),
        };
        let current = VersionNumber::new(3).unwrap();
        let cases = [
            (v(1, 91, false), true),
            (v(1, 90, false), false),
            (v(2, 10, false), false),
            (v(3, 400, false), false),
            (v(1, 400, true), false),
        ];
        for (i, (meta, want)) in cases.iter().enumerate() {
            assert_eq!(p.should_purge(meta, current, now), *want, "case {i}");
        }
        assert_eq!(RetentionPolicy::days(0), RetentionPolicy::days(1));
    }
}
