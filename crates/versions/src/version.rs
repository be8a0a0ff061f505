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
    /// The highest number there can be (an open end for ranges).
    pub const MAX: VersionNumber = VersionNumber(NonZeroU32::MAX);

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

/// A version's source or HTML: shared, not copied, between a push's rendering, its store's
/// staged work and the version it commits (a long document's texts are ~100 KB).
pub type Text = std::sync::Arc<str>;

/// A complete snapshot. After retention purges it only [`VersionMeta`] remains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub meta: VersionMeta,
    /// The author's source as pushed.
    pub source: Text,
    /// The sanitized, rendered HTML that is served.
    pub html: Text,
    pub sections: SectionIndex,
}

/// What a push brings to make a version: everything but its number and change set, which come
/// from the version before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub plan_id: PlanId,
    pub title: String,
    pub format: SourceFormat,
    /// The author's source as pushed.
    pub source: Text,
    /// The sanitized, rendered HTML.
    pub html: Text,
    pub sections: SectionIndex,
    pub pushed_by: UserId,
    pub pushed_at: DateTime<Utc>,
}

/// What a push needs of a plan's newest version: its metadata, its section index (for the change
/// set) and its source (to recognise a repeated push) — not its rendered HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionHead {
    pub meta: VersionMeta,
    pub source: String,
    pub sections: SectionIndex,
}

impl VersionHead {
    /// Whether pushing `source` as `format` would repeat this version exactly.
    pub fn same_source(&self, format: SourceFormat, source: &str) -> bool {
        self.meta.format == format && self.source == source
    }
}

/// What a new version needs of the one it follows: its number and section index.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    pub number: VersionNumber,
    pub sections: &'a SectionIndex,
}

impl VersionHead {
    /// What the next version needs of this one.
    pub fn previous(&self) -> Previous<'_> {
        Previous {
            number: self.meta.number,
            sections: &self.sections,
        }
    }
}

impl Version {
    /// A new snapshot, numbered after `previous` (or the first one), with its change set against it.
    pub fn new(previous: Option<&VersionHead>, new: NewVersion) -> Self {
        Self::after(previous.map(VersionHead::previous), new)
    }

    /// [`Version::new`] from what it needs of the previous version (a push that remembers the
    /// previous version reads nothing of it).
    pub fn after(previous: Option<Previous<'_>>, new: NewVersion) -> Self {
        let number = previous.map_or(VersionNumber::FIRST, |p| p.number.next());
        let changes = ChangeSet::between(previous.map(|p| p.sections), &new.sections);
        Self {
            meta: VersionMeta {
                plan_id: new.plan_id,
                number,
                title: new.title,
                format: new.format,
                changes,
                pushed_by: new.pushed_by,
                pushed_at: new.pushed_at,
                purged_at: None,
            },
            source: new.source,
            html: new.html,
            sections: new.sections,
        }
    }

    /// This version as the head a next push is made against.
    pub fn head(&self) -> VersionHead {
        VersionHead {
            meta: self.meta.clone(),
            source: self.source.to_string(),
            sections: self.sections.clone(),
        }
    }

    /// Whether pushing `source` as `format` would repeat this version exactly.
    pub fn same_source(&self, format: SourceFormat, source: &str) -> bool {
        self.meta.format == format && *self.source == *source
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

    fn new_version(plan: PlanId, user: UserId, source: &str) -> NewVersion {
        NewVersion {
            plan_id: plan,
            title: "T".into(),
            format: SourceFormat::Html,
            source: source.into(),
            html: source.into(),
            sections: SectionIndex::default(),
            pushed_by: user,
            pushed_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn new_versions_number_and_diff() {
        let plan = PlanId::new();
        let user = UserId::new();
        let v1 = Version::new(None, new_version(plan, user, "<p>a</p>"));
        assert_eq!(v1.meta.number.get(), 1);
        assert!(v1.same_source(SourceFormat::Html, "<p>a</p>"));
        assert!(!v1.same_source(SourceFormat::Markdown, "<p>a</p>"));
        assert!(v1.head().same_source(SourceFormat::Html, "<p>a</p>"));
        let v2 = Version::new(Some(&v1.head()), new_version(plan, user, "b"));
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
