use std::fmt;
use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use planpush_identity::{InvalidInput, UserId};
use planpush_plans::PlanId;
use serde::{Deserialize, Serialize};

use crate::{ChangeSet, SectionIndex};

/// A version number: 1 for the first push, then consecutive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionNumber(NonZeroU32);

impl VersionNumber {
    pub const FIRST: VersionNumber = VersionNumber(NonZeroU32::MIN);

    pub fn new(n: u32) -> Result<Self, InvalidInput> {
        NonZeroU32::new(n)
            .map(Self)
            .ok_or_else(|| InvalidInput::new("version", "versions start at 1"))
    }
    pub fn get(self) -> u32 {
        self.0.get()
    }
    /// The number after this one.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
    /// The number before this one, if any.
    pub fn previous(self) -> Option<Self> {
        NonZeroU32::new(self.0.get() - 1).map(Self)
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The format the author pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    Html,
    Markdown,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Html => "html",
            SourceFormat::Markdown => "markdown",
        }
    }
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "html" => Ok(SourceFormat::Html),
            "markdown" => Ok(SourceFormat::Markdown),
            _ => Err(InvalidInput::new("format", "expected html or markdown")),
        }
    }
}

/// What stays of a version forever: who pushed it, when, its title and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub plan_id: PlanId,
    pub number: VersionNumber,
    pub title: String,
    pub format: SourceFormat,
    pub changes: ChangeSet,
    pub pushed_by: UserId,
    pub pushed_at: DateTime<Utc>,
    /// When retention removed the snapshot's content; `None` while it is kept.
    pub purged_at: Option<DateTime<Utc>>,
}

/// A complete snapshot. After retention purges it only [`VersionMeta`] remains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub meta: VersionMeta,
    /// The author's source as pushed.
    pub source: String,
    /// The sanitized, rendered HTML that is served.
    pub html: String,
    pub sections: SectionIndex,
}

impl Version {
    /// A new snapshot, numbered after `previous` (or the first one), with its change set against it.
    #[allow(clippy::too_many_arguments)]
    pub fn next_after(
        previous: Option<&Version>,
        plan_id: PlanId,
        title: &str,
        format: SourceFormat,
        source: String,
        html: String,
        sections: SectionIndex,
        pushed_by: UserId,
        now: DateTime<Utc>,
    ) -> Self {
        let number = previous.map_or(VersionNumber::FIRST, |p| p.meta.number.next());
        let changes = ChangeSet::between(previous.map(|p| &p.sections), &sections);
        Self {
            meta: VersionMeta {
                plan_id,
                number,
                title: title.to_owned(),
                format,
                changes,
                pushed_by,
                pushed_at: now,
                purged_at: None,
            },
            source,
            html,
            sections,
        }
    }

    /// Whether pushing `source` as `format` would repeat this version exactly.
    pub fn same_source(&self, format: SourceFormat, source: &str) -> bool {
        self.meta.format == format && self.source == source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_one_and_count_up() {
        assert!(VersionNumber::new(0).is_err());
        let one = VersionNumber::new(1).unwrap();
        assert_eq!(one, VersionNumber::FIRST);
        assert_eq!(one.next().get(), 2);
        assert_eq!(one.previous(), None);
        assert_eq!(one.next().previous(), Some(one));
    }

    #[test]
    fn next_after_numbers_and_diffs() {
        let plan = PlanId::new();
        let user = UserId::new();
        let t = DateTime::UNIX_EPOCH;
        let v1 = Version::next_after(
            None,
            plan,
            "T",
            SourceFormat::Html,
            "<p>a</p>".into(),
            "<p>a</p>".into(),
            SectionIndex::default(),
            user,
            t,
        );
        assert_eq!(v1.meta.number.get(), 1);
        assert!(v1.same_source(SourceFormat::Html, "<p>a</p>"));
        assert!(!v1.same_source(SourceFormat::Markdown, "<p>a</p>"));
        let v2 = Version::next_after(
            Some(&v1),
            plan,
            "T",
            SourceFormat::Html,
            "b".into(),
            "b".into(),
            SectionIndex::default(),
            user,
            t,
        );
        assert_eq!(v2.meta.number.get(), 2);
        assert!(v2.meta.changes.is_empty());
    }

    #[test]
    fn formats_round_trip() {
        for f in [SourceFormat::Html, SourceFormat::Markdown] {
            assert_eq!(SourceFormat::parse(f.as_str()), Ok(f));
        }
        assert!(SourceFormat::parse("pdf").is_err());
    }
}
