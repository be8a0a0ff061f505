use chrono::{DateTime, Utc};
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_versions::{AnchorId, VersionNumber};
use serde::{Deserialize, Serialize};

planpush_identity::uuid_id!(CommentId, "a comment", "comment id");

/// Why a comment operation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentRuleError {
    #[error("a comment must not be empty")]
    Empty,
    #[error("a comment must be at most {max} characters (got {len})")]
    TooLong { len: usize, max: usize },
    #[error("the quoted text is invalid: {0}")]
    BadQuote(&'static str),
    #[error("replies are one level deep: reply to the thread instead")]
    NestedReply,
    #[error("only the author can change or delete a comment")]
    NotAuthor,
    #[error("the comment has been deleted")]
    Deleted,
    #[error("only a thread (not a reply) can be resolved or reopened")]
    NotAThread,
}

/// A comment's text: Markdown subset, 1–4,000 characters after trimming (rendered escaped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommentBody(String);

impl CommentBody {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(s: &str) -> Result<Self, CommentRuleError> {
        let t = s.trim();
        let len = t.chars().count();
        if len == 0 {
            return Err(CommentRuleError::Empty);
        }
        if len > Self::MAX_CHARS {
            return Err(CommentRuleError::TooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CommentBody {
    type Error = CommentRuleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CommentBody> for String {
    fn from(b: CommentBody) -> Self {
        b.0
    }
}

/// The selected text a comment is about (W3C Web Annotation `TextQuoteSelector`): the exact text
/// plus up to 64 characters of context on each side (the page sends about 32).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextQuote {
    exact: String,
    prefix: String,
    suffix: String,
}

impl TextQuote {
    pub const MAX_EXACT: usize = 1000;
    pub const MAX_CONTEXT: usize = 64;

    pub fn new(exact: &str, prefix: &str, suffix: &str) -> Result<Self, CommentRuleError> {
        if exact.trim().is_empty() {
            return Err(CommentRuleError::BadQuote("the quote must not be empty"));
        }
        if exact.chars().count() > Self::MAX_EXACT {
            return Err(CommentRuleError::BadQuote(
                "the quote must be at most 1000 characters",
            ));
        }
        if prefix.chars().count() > Self::MAX_CONTEXT || suffix.chars().count() > Self::MAX_CONTEXT
        {
            return Err(CommentRuleError::BadQuote(
                "prefix and suffix must be at most 64 characters",
            ));
        }
        Ok(Self {
            exact: exact.to_owned(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }
    pub fn exact(&self) -> &str {
        &self.exact
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn suffix(&self) -> &str {
        &self.suffix
    }
}

/// Where a thread stands against the plan's current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AnchorState {
    /// The anchor exists and its section is unchanged since the comment.
    Anchored,
    /// The anchor exists but its section changed since the comment was written.
    Changed,
    /// The anchor is gone; the thread's text or element was found under another anchor.
    Moved { to: AnchorId, by: FoundBy },
    /// Nowhere to attach: listed under "Unanchored", linked to the version it was written on.
    Orphaned,
}

impl AnchorState {
    pub fn as_str(&self) -> &'static str {
        match self {
            AnchorState::Anchored => "anchored",
            AnchorState::Changed => "changed",
            AnchorState::Moved { .. } => "moved",
            AnchorState::Orphaned => "orphaned",
        }
    }
}

/// How a thread whose anchor is gone found its new place (recorded with the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// Its text quote, by fuzzy match.
    Quote,
    /// An element of the same kind with exactly the same content (anchors aside).
    SameContent,
    /// The most similar element of the same kind, above a threshold.
    SimilarContent,
}

impl FoundBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::Quote => "quote",
            FoundBy::SameContent => "same_content",
            FoundBy::SimilarContent => "similar_content",
        }
    }

    pub fn parse(s: &str) -> Option<FoundBy> {
        match s {
            "quote" => Some(FoundBy::Quote),
            "same_content" => Some(FoundBy::SameContent),
            "similar_content" => Some(FoundBy::SimilarContent),
            _ => None,
        }
    }
}

/// Who resolved a thread and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A thread (no parent) or a reply (parent is a thread).
///
/// Its fields are private to this crate: a comment is made by [`Comment::thread`] or
/// [`Comment::reply`], changed only through its rules (edit, delete, resolve, reopen,
/// re-anchoring), and loaded back by [`Comment::restore`], which checks what those keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub(crate) id: CommentId,
    pub(crate) plan_id: PlanId,
    pub(crate) parent_id: Option<CommentId>,
    pub(crate) author_id: UserId,
    pub(crate) made_on: VersionNumber,
    pub(crate) anchor: AnchorId,
    pub(crate) quote: Option<TextQuote>,
    pub(crate) body: CommentBody,
    pub(crate) state: AnchorState,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) edited_at: Option<DateTime<Utc>>,
    pub(crate) deleted_at: Option<DateTime<Utc>>,
    pub(crate) resolution: Option<Resolution>,
    pub(crate) addressed_in: Option<VersionNumber>,
}

/// Every field of a stored comment, as a storage adapter reads it back; [`Comment::restore`]
/// checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: CommentId,
    pub plan_id: PlanId,
    pub parent_id: Option<CommentId>,
    pub author_id: UserId,
    pub made_on: VersionNumber,
    pub anchor: AnchorId,
    pub quote: Option<TextQuote>,
    pub body: CommentBody,
    pub state: AnchorState,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub resolution: Option<Resolution>,
    /// The version that was said to address this thread (`X-Addresses`), if any.
    pub addressed_in: Option<VersionNumber>,
}

impl Comment {
    /// A stored comment, checked: a reply is never resolved, and a reply is not its own thread.
    pub fn restore(r: CommentRecord) -> Result<Self, CommentRuleError> {
        if r.parent_id.is_some() && r.resolution.is_some() {
            return Err(CommentRuleError::NotAThread);
        }
        if r.parent_id == Some(r.id) {
            return Err(CommentRuleError::NestedReply);
        }
        Ok(Self {
            id: r.id,
            plan_id: r.plan_id,
            parent_id: r.parent_id,
            author_id: r.author_id,
            made_on: r.made_on,
            anchor: r.anchor,
            quote: r.quote,
            body: r.body,
            state: r.state,
            created_at: r.created_at,
            edited_at: r.edited_at,
            deleted_at: r.deleted_at,
            resolution: r.resolution,
            addressed_in: r.addressed_in,
        })
    }

    /// Every field, for a storage adapter to write.
    pub fn to_record(&self) -> CommentRecord {
        CommentRecord {
            id: self.id,
            plan_id: self.plan_id,
            parent_id: self.parent_id,
            author_id: self.author_id,
            made_on: self.made_on,
            anchor: self.anchor.clone(),
            quote: self.quote.clone(),
            body: self.body.clone(),
            state: self.state.clone(),
            created_at: self.created_at,
            edited_at: self.edited_at,
            deleted_at: self.deleted_at,
            resolution: self.resolution,
            addressed_in: self.addressed_in,
        }
    }

    pub fn id(&self) -> CommentId {
        self.id
    }
    pub fn plan_id(&self) -> PlanId {
        self.plan_id
    }
    /// The thread a reply belongs to; `None` for a thread.
    pub fn parent_id(&self) -> Option<CommentId> {
        self.parent_id
    }
    pub fn author_id(&self) -> UserId {
        self.author_id
    }
    /// The version the comment was written on.
    pub fn made_on(&self) -> VersionNumber {
        self.made_on
    }
    /// The anchor it was written on (kept forever; see [`Comment::state`] for where it is now).
    pub fn anchor(&self) -> &AnchorId {
        &self.anchor
    }
    pub fn quote(&self) -> &Option<TextQuote> {
        &self.quote
    }
    pub fn body(&self) -> &CommentBody {
        &self.body
    }
    /// Where the thread stands against the plan's current version.
    pub fn state(&self) -> &AnchorState {
        &self.state
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.edited_at
    }
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.deleted_at
    }
    pub fn resolution(&self) -> Option<Resolution> {
        self.resolution
    }
    /// The version its author's agent said addresses this thread, if any.
    pub fn addressed_in(&self) -> Option<VersionNumber> {
        self.addressed_in
    }

    /// A new version addresses this thread (the pusher said so). A later version replaces an
    /// earlier one; returns whether anything changed.
    pub fn mark_addressed(&mut self, version: VersionNumber) -> Result<bool, CommentRuleError> {
        self.thread_only()?;
        if self.addressed_in.is_some_and(|v| v >= version) {
            return Ok(false);
        }
        self.addressed_in = Some(version);
        Ok(true)
    }

    /// A new thread on `anchor` of version `made_on`.
    pub fn thread(
        plan_id: PlanId,
        author_id: UserId,
        made_on: VersionNumber,
        anchor: AnchorId,
        quote: Option<TextQuote>,
        body: CommentBody,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: CommentId::new(),
            plan_id,
            parent_id: None,
            author_id,
            made_on,
            anchor,
            quote,
            body,
            state: AnchorState::Anchored,
            created_at: now,
            edited_at: None,
            deleted_at: None,
            resolution: None,
            addressed_in: None,
        }
    }

    /// A reply to `parent`, which must be a live thread. The reply shares the thread's anchor.
    pub fn reply(
        parent: &Comment,
        author_id: UserId,
        made_on: VersionNumber,
        body: CommentBody,
        now: DateTime<Utc>,
    ) -> Result<Self, CommentRuleError> {
        if parent.parent_id.is_some() {
            return Err(CommentRuleError::NestedReply);
        }
        if parent.is_deleted() {
            return Err(CommentRuleError::Deleted);
        }
        let mut c = Self::thread(
            parent.plan_id,
            author_id,
            made_on,
            parent.anchor.clone(),
            None,
            body,
            now,
        );
        c.parent_id = Some(parent.id);
        c.state = parent.state.clone();
        Ok(c)
    }

    pub fn is_thread(&self) -> bool {
        self.parent_id.is_none()
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }

    fn own_and_live(&self, by: UserId) -> Result<(), CommentRuleError> {
        if self.is_deleted() {
            return Err(CommentRuleError::Deleted);
        }
        if self.author_id != by {
            return Err(CommentRuleError::NotAuthor);
        }
        Ok(())
    }

    /// The author edits the text.
    pub fn edit(
        &mut self,
        by: UserId,
        body: CommentBody,
        now: DateTime<Utc>,
    ) -> Result<(), CommentRuleError> {
        self.own_and_live(by)?;
        self.body = body;
        self.edited_at = Some(now);
        Ok(())
    }

    /// The author deletes: the row stays (replies keep their context) and shows as deleted; its
    /// text is replaced so nothing of it remains readable.
    pub fn delete(&mut self, by: UserId, now: DateTime<Utc>) -> Result<(), CommentRuleError> {
        self.own_and_live(by)?;
        self.deleted_at = Some(now);
        self.body = CommentBody("(deleted)".into());
        self.quote = None;
        Ok(())
    }

    /// Anyone who can see the plan resolves a thread. Returns whether anything changed.
    pub fn resolve(&mut self, by: UserId, now: DateTime<Utc>) -> Result<bool, CommentRuleError> {
        self.thread_only()?;
        if self.resolution.is_some() {
            return Ok(false);
        }
        self.resolution = Some(Resolution { by, at: now });
        Ok(true)
    }

    /// Reopens a thread: a resolved one becomes open again, and a thread a version was said to
    /// address is no longer taken as addressed (it was not, or no longer is). Returns whether
    /// anything changed.
    pub fn reopen(&mut self) -> Result<bool, CommentRuleError> {
        self.thread_only()?;
        let was_resolved = self.resolution.take().is_some();
        let was_addressed = self.addressed_in.take().is_some();
        Ok(was_resolved || was_addressed)
    }

    /// The version said to address this open thread while its author has neither confirmed
    /// (resolved) nor reopened it: "addressed in vN — waiting for the commenter".
    pub fn awaiting_confirmation(&self) -> Option<VersionNumber> {
        if self.is_open() && !self.is_deleted() && self.is_thread() {
            self.addressed_in
        } else {
            None
        }
    }

    fn thread_only(&self) -> Result<(), CommentRuleError> {
        if !self.is_thread() {
            return Err(CommentRuleError::NotAThread);
        }
        if self.is_deleted() {
            return Err(CommentRuleError::Deleted);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }
    fn thread(author: UserId) -> Comment {
        Comment::thread(
            PlanId::new(),
            author,
            VersionNumber::FIRST,
            AnchorId::parse("a").unwrap(),
            None,
            CommentBody::parse("hi").unwrap(),
            t(),
        )
    }

    #[test]
    fn stored_comments_are_checked_when_restored() {
        let author = UserId::new();
        let mut th = thread(author);
        th.resolve(author, t()).unwrap();
        assert_eq!(Comment::restore(th.to_record()), Ok(th.clone()));
        let reply = Comment::reply(
            &thread(author),
            author,
            VersionNumber::FIRST,
            CommentBody::parse("re").unwrap(),
            t(),
        )
        .unwrap();
        assert_eq!(Comment::restore(reply.to_record()), Ok(reply.clone()));
        let mut resolved_reply = reply.to_record();
        resolved_reply.resolution = Some(Resolution {
            by: author,
            at: t(),
        });
        assert_eq!(
            Comment::restore(resolved_reply),
            Err(CommentRuleError::NotAThread)
        );
        let mut own_parent = reply.to_record();
        own_parent.parent_id = Some(own_parent.id);
        assert!(Comment::restore(own_parent).is_err());
    }

    #[test]
    fn body_limits() {
        let cases = [
            ("", Err(CommentRuleError::Empty)),
            ("   ", Err(CommentRuleError::Empty)),
            (" ok ", Ok("ok")),
        ];
        for (input, want) in cases {
            assert_eq!(
                CommentBody::parse(input)
                    .as_ref()
                    .map(CommentBody::as_str)
                    .map_err(Clone::clone),
                want
            );
        }
        assert!(
            CommentBody::parse(&"é".repeat(4000)).is_ok(),
            "limit counts characters, not bytes"
        );
        assert_eq!(
            CommentBody::parse(&"x".repeat(4001)),
            Err(CommentRuleError::TooLong {
                len: 4001,
                max: 4000
            })
        );
    }

    #[test]
    fn quote_limits() {
        assert!(TextQuote::new("text", &"p".repeat(32), &"s".repeat(32)).is_ok());
        assert!(TextQuote::new(" ", "", "").is_err());
        assert!(TextQuote::new("x", &"p".repeat(65), "").is_err());
        assert!(TextQuote::new(&"x".repeat(1001), "", "").is_err());
    }

    #[test]
    fn replies_are_one_level() {
        let a = UserId::new();
        let root = thread(a);
        let reply = Comment::reply(
            &root,
            UserId::new(),
            VersionNumber::FIRST,
            CommentBody::parse("re").unwrap(),
            t(),
        )
        .unwrap();
        assert_eq!(reply.parent_id, Some(root.id));
        assert_eq!(reply.anchor, root.anchor);
        assert_eq!(
            Comment::reply(
                &reply,
                a,
                VersionNumber::FIRST,
                CommentBody::parse("x").unwrap(),
                t()
            ),
            Err(CommentRuleError::NestedReply)
        );
        let mut gone = root.clone();
        gone.delete(a, t()).unwrap();
        assert_eq!(
            Comment::reply(
                &gone,
                a,
                VersionNumber::FIRST,
                CommentBody::parse("x").unwrap(),
                t()
            ),
            Err(CommentRuleError::Deleted)
        );
    }

    #[test]
    fn only_authors_edit_and_delete() {
        let (a, b) = (UserId::new(), UserId::new());
        let mut c = thread(a);
        assert_eq!(
            c.edit(b, CommentBody::parse("x").unwrap(), t()),
            Err(CommentRuleError::NotAuthor)
        );
        c.edit(a, CommentBody::parse("edited").unwrap(), t())
            .unwrap();
        assert_eq!((c.body.as_str(), c.edited_at), ("edited", Some(t())));
        assert_eq!(c.delete(b, t()), Err(CommentRuleError::NotAuthor));
        c.delete(a, t()).unwrap();
        assert!(c.is_deleted());
        assert_ne!(c.body.as_str(), "edited");
        assert_eq!(
            c.edit(a, CommentBody::parse("y").unwrap(), t()),
            Err(CommentRuleError::Deleted)
        );
    }

    #[test]
    fn anyone_resolves_threads_and_reopens() {
        let (a, b) = (UserId::new(), UserId::new());
        let mut c = thread(a);
        assert_eq!(c.resolve(b, t()), Ok(true));
        assert_eq!(c.resolution, Some(Resolution { by: b, at: t() }));
        assert_eq!(c.resolve(a, t()), Ok(false));
        assert_eq!(c.reopen(), Ok(true));
        assert_eq!(c.reopen(), Ok(false));
        let mut r = Comment::reply(
            &c,
            b,
            VersionNumber::FIRST,
            CommentBody::parse("re").unwrap(),
            t(),
        )
        .unwrap();
        assert_eq!(r.resolve(a, t()), Err(CommentRuleError::NotAThread));
    }

    #[test]
    fn an_addressed_thread_waits_for_confirmation_or_is_reopened() {
        let (a, b) = (UserId::new(), UserId::new());
        let v2 = VersionNumber::new(2).unwrap();
        // Confirmed: the commenter resolves; the thread keeps the version that addressed it.
        let mut c = thread(a);
        assert_eq!(c.awaiting_confirmation(), None);
        assert_eq!(c.mark_addressed(v2), Ok(true));
        assert_eq!(c.awaiting_confirmation(), Some(v2));
        assert_eq!(c.resolve(a, t()), Ok(true));
        assert_eq!(
            (c.awaiting_confirmation(), c.addressed_in()),
            (None, Some(v2))
        );
        // Reopened while waiting: open, and no longer taken as addressed.
        let mut c = thread(a);
        c.mark_addressed(v2).unwrap();
        assert_eq!(c.reopen(), Ok(true));
        assert_eq!((c.is_open(), c.addressed_in()), (true, None));
        assert_eq!(c.reopen(), Ok(false));
        // Reopened after it was confirmed: open again and waiting on nobody.
        let mut c = thread(a);
        c.mark_addressed(v2).unwrap();
        c.resolve(b, t()).unwrap();
        assert_eq!(c.reopen(), Ok(true));
        assert_eq!((c.awaiting_confirmation(), c.addressed_in()), (None, None));
    }
}
