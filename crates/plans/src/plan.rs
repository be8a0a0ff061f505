use chrono::{DateTime, Utc};
use planpush_identity::{InvalidInput, UserId};
use serde::{Deserialize, Serialize};

use crate::Slug;

planpush_identity::uuid_id!(PlanId, "a plan (the API's `session_id`)", "session id");

/// Who can see a plan besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// The owner, and roles that may view others' private plans.
    Private,
    /// Everyone signed in.
    Published,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Published => "published",
        }
    }
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "private" => Ok(Visibility::Private),
            "published" | "public" => Ok(Visibility::Published),
            _ => Err(InvalidInput::new(
                "visibility",
                "expected private or published",
            )),
        }
    }
}

/// A lifecycle rule a requested change would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanRuleError {
    #[error("the plan has been deleted")]
    Deleted,
    #[error("a title must be 1 to 300 characters")]
    BadTitle,
    /// A stored plan that breaks a rule `Plan::new` and the lifecycle keep (a corrupt row).
    #[error("inconsistent plan: {0}")]
    Inconsistent(&'static str),
}

/// A design doc with its history. Versions live in the `versions` crate; the plan knows the number of
/// its current one (0 before the first push completes).
///
/// Its fields are private to this crate: a plan is made by [`Plan::new`], changed only through its lifecycle
/// methods, and loaded back by [`Plan::restore`], which checks what `new` guarantees. So code further
/// in never re-checks a title or whether a published plan has a publication time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub(crate) id: PlanId,
    pub(crate) slug: Slug,
    pub(crate) title: String,
    pub(crate) owner_id: UserId,
    pub(crate) visibility: Visibility,
    pub(crate) current_version: u32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) published_at: Option<DateTime<Utc>>,
    pub(crate) archived_at: Option<DateTime<Utc>>,
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

/// Every field of a stored plan, as a storage adapter reads it back; [`Plan::restore`] checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    pub id: PlanId,
    pub slug: Slug,
    pub title: String,
    pub owner_id: UserId,
    pub visibility: Visibility,
    pub current_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The longest title a plan may have, in characters.
pub const MAX_TITLE_CHARS: usize = 300;

/// A document's heading made fit to be a title: trimmed and cut to [`MAX_TITLE_CHARS`] (ending in
/// `…` when cut). `None` when nothing is left.
pub fn fit_title(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    if t.chars().count() <= MAX_TITLE_CHARS {
        return Some(t.to_owned());
    }
    let mut out: String = t.chars().take(MAX_TITLE_CHARS - 1).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    Some(out)
}

fn check_title(title: &str) -> Result<String, PlanRuleError> {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE_CHARS {
        return Err(PlanRuleError::BadTitle);
    }
    Ok(t.to_owned())
}

impl Plan {
    pub fn new(
        slug: Slug,
        title: &str,
        owner_id: UserId,
        visibility: Visibility,
        now: DateTime<Utc>,
    ) -> Result<Self, PlanRuleError> {
        Ok(Self {
            id: PlanId::new(),
            slug,
            title: check_title(title)?,
            owner_id,
            visibility,
            current_version: 0,
            created_at: now,
            updated_at: now,
            published_at: (visibility == Visibility::Published).then_some(now),
            archived_at: None,
            deleted_at: None,
        })
    }

    /// A plan as stored, checked: its title follows the title rule, and it has a publication
    /// time exactly when it is published.
    pub fn restore(r: PlanRecord) -> Result<Self, PlanRuleError> {
        let title = check_title(&r.title)?;
        if (r.visibility == Visibility::Published) != r.published_at.is_some() {
            return Err(PlanRuleError::Inconsistent(
                "a plan has a publication time exactly when it is published",
            ));
        }
        Ok(Self {
            id: r.id,
            slug: r.slug,
            title,
            owner_id: r.owner_id,
            visibility: r.visibility,
            current_version: r.current_version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            published_at: r.published_at,
            archived_at: r.archived_at,
            deleted_at: r.deleted_at,
        })
    }

    /// Every field, for a storage adapter to write.
    pub fn to_record(&self) -> PlanRecord {
        PlanRecord {
            id: self.id,
            slug: self.slug.clone(),
            title: self.title.clone(),
            owner_id: self.owner_id,
            visibility: self.visibility,
            current_version: self.current_version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at: self.published_at,
            archived_at: self.archived_at,
            deleted_at: self.deleted_at,
        }
    }

    pub fn id(&self) -> PlanId {
        self.id
    }
    pub fn slug(&self) -> &Slug {
        &self.slug
    }
    /// The current version's title, as text (escaped when rendered, exactly once).
    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn owner_id(&self) -> UserId {
        self.owner_id
    }
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }
    /// The current version's number; 0 before the first push completes.
    pub fn current_version(&self) -> u32 {
        self.current_version
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    pub fn published_at(&self) -> Option<DateTime<Utc>> {
        self.published_at
    }
    pub fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.archived_at
    }
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.deleted_at
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
    pub fn is_owned_by(&self, user: UserId) -> bool {
        self.owner_id == user
    }

    fn alive(&self) -> Result<(), PlanRuleError> {
        if self.is_deleted() {
            Err(PlanRuleError::Deleted)
        } else {
            Ok(())
        }
    }

    /// Publishing is one-way: there is no way back to private. Returns whether anything changed.
    pub fn publish(&mut self, now: DateTime<Utc>) -> Result<bool, PlanRuleError> {
        self.alive()?;
        if self.visibility == Visibility::Published {
            return Ok(false);
        }
        self.visibility = Visibility::Published;
        self.published_at = Some(now);
        self.updated_at = now;
        Ok(true)
    }

    /// Archives or unarchives. Returns whether anything changed.
    pub fn set_archived(
        &mut self,
        archived: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, PlanRuleError> {
        self.alive()?;
        if archived == self.is_archived() {
            return Ok(false);
        }
        self.archived_at = archived.then_some(now);
        self.updated_at = now;
        Ok(true)
    }

    /// Soft delete: the plan disappears (404) and its slug becomes free again.
    pub fn delete(&mut self, now: DateTime<Utc>) -> Result<(), PlanRuleError> {
        self.alive()?;
        self.deleted_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// Records that version `number` (titled `title`) became current.
    pub fn record_version(
        &mut self,
        number: u32,
        title: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PlanRuleError> {
        self.alive()?;
        self.title = check_title(title)?;
        self.current_version = number;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn plan(v: Visibility) -> Plan {
        Plan::new(
            Slug::parse("p").unwrap(),
            "T",
            UserId::new(),
            v,
            DateTime::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn publish_is_one_way_and_idempotent() {
        let t = DateTime::UNIX_EPOCH + Duration::hours(1);
        let mut p = plan(Visibility::Private);
        assert_eq!(p.published_at, None);
        assert_eq!(p.publish(t), Ok(true));
        assert_eq!(
            (p.visibility, p.published_at),
            (Visibility::Published, Some(t))
        );
        assert_eq!(p.publish(t + Duration::hours(1)), Ok(false));
        assert_eq!(p.published_at, Some(t), "first publication time kept");
        assert_eq!(
            plan(Visibility::Published).published_at,
            Some(DateTime::UNIX_EPOCH)
        );
    }

    #[test]
    fn archive_toggles() {
        let t = DateTime::UNIX_EPOCH;
        let mut p = plan(Visibility::Published);
        let steps = [
            (true, true, true),
            (true, false, true),
            (false, true, false),
            (false, false, false),
        ];
        for (want, changed, archived) in steps {
            assert_eq!(p.set_archived(want, t), Ok(changed));
            assert_eq!(p.is_archived(), archived);
        }
    }

    #[test]
    fn deleted_plans_refuse_changes() {
        let t = DateTime::UNIX_EPOCH;
        let mut p = plan(Visibility::Private);
        p.delete(t).unwrap();
        assert_eq!(p.delete(t), Err(PlanRuleError::Deleted));
        assert_eq!(p.publish(t), Err(PlanRuleError::Deleted));
        assert_eq!(p.set_archived(true, t), Err(PlanRuleError::Deleted));
        assert_eq!(p.record_version(1, "x", t), Err(PlanRuleError::Deleted));
    }

    #[test]
    fn long_headings_are_cut_to_a_valid_title() {
        let long = "é".repeat(MAX_TITLE_CHARS + 50);
        let t = fit_title(&long).unwrap();
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.ends_with('…'));
        assert!(check_title(&t).is_ok());
        assert_eq!(fit_title("  short  ").as_deref(), Some("short"));
        assert_eq!(fit_title("   "), None);
        let exact = "a".repeat(MAX_TITLE_CHARS);
        assert_eq!(fit_title(&exact).as_deref(), Some(exact.as_str()));
    }

    #[test]
    fn stored_plans_are_checked_when_restored() {
        let p = plan(Visibility::Published);
        assert_eq!(Plan::restore(p.to_record()), Ok(p.clone()));
        let mut bad = p.to_record();
        bad.published_at = None;
        assert!(matches!(
            Plan::restore(bad),
            Err(PlanRuleError::Inconsistent(_))
        ));
        let mut bad = p.to_record();
        bad.title = "x".repeat(MAX_TITLE_CHARS + 1);
        assert_eq!(Plan::restore(bad), Err(PlanRuleError::BadTitle));
        let mut private = plan(Visibility::Private).to_record();
        private.published_at = Some(DateTime::UNIX_EPOCH);
        assert!(Plan::restore(private).is_err());
    }

    #[test]
    fn titles_are_checked() {
        let s = Slug::parse("p").unwrap();
        assert_eq!(
            Plan::new(
                s.clone(),
                "  ",
                UserId::new(),
                Visibility::Private,
                DateTime::UNIX_EPOCH
            ),
            Err(PlanRuleError::BadTitle)
        );
        assert!(
            Plan::new(
                s,
                &"t".repeat(301),
                UserId::new(),
                Visibility::Private,
                DateTime::UNIX_EPOCH
            )
            .is_err()
        );
        assert_eq!(Visibility::parse("public"), Ok(Visibility::Published));
        assert!(Visibility::parse("secret").is_err());
    }
}
