//! Sign-off per version: who was asked to review a plan, what each reviewer said about which
//! version, and whether that still holds for the current version.
//!
//! - [`Review`]: one reviewer's standing on one plan — the request (by whom, of which version,
//!   optionally scoped to anchors) and the reviewer's latest [`Verdict`] with the version it was
//!   given on.
//! - [`sign_off`]: the rule that decides what an approval given on an older version means now. A
//!   new version resets approvals, **except** when the typed changes since the approved version
//!   touch nothing the reviewer commented on and nothing they were asked to review (a request
//!   scoped to anchors); a request of the whole plan is touched by any change. The answer names
//!   the rule that applied ([`Rule`]).
//! - [`ReviewRepository`]: the port (one row per plan and reviewer).
//!
//! Architecture invariant: pure; time comes in as a parameter, no I/O.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_document::TypedChange;
use planpush_identity::UserId;
use planpush_plans::PlanId;
use planpush_versions::AnchorId;
use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "fake"))]
pub mod fake;

/// Longest review comment (characters).
pub const MAX_REVIEW_COMMENT: usize = 4000;

/// What a reviewer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    ChangesRequested,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::ChangesRequested => "changes_requested",
        }
    }
    pub fn parse(s: &str) -> Result<Self, ReviewInputError> {
        match s {
            "approved" | "approve" => Ok(Self::Approved),
            "changes_requested" | "request_changes" => Ok(Self::ChangesRequested),
            _ => Err(ReviewInputError::Verdict),
        }
    }
}

/// Bad input to a review operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewInputError {
    #[error("verdict must be `approved` or `changes_requested`")]
    Verdict,
    #[error("requesting changes needs a comment saying which")]
    CommentRequired,
    #[error("the comment is longer than {MAX_REVIEW_COMMENT} characters")]
    CommentTooLong,
}

/// A reviewer's decision on one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub version: u32,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

impl Decision {
    /// A decision, checked: requesting changes needs a comment; comments are bounded and trimmed.
    pub fn new(
        verdict: Verdict,
        version: u32,
        comment: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Self, ReviewInputError> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_REVIEW_COMMENT) {
            return Err(ReviewInputError::CommentTooLong);
        }
        if verdict == Verdict::ChangesRequested && comment.is_none() {
            return Err(ReviewInputError::CommentRequired);
        }
        Ok(Self {
            verdict,
            version,
            comment: comment.map(str::to_owned),
            at,
        })
    }
}

/// One reviewer's standing on one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub plan_id: PlanId,
    pub reviewer: UserId,
    pub requested_by: UserId,
    /// The version the review was requested of.
    pub requested_version: u32,
    /// Anchors the reviewer was asked to look at; empty: the whole plan.
    pub scope: Vec<AnchorId>,
    pub requested_at: DateTime<Utc>,
    /// The reviewer's latest decision, if any.
    pub decision: Option<Decision>,
}

impl Review {
    /// A new request (or a renewed one: a renewed request clears the previous decision).
    pub fn request(
        plan_id: PlanId,
        reviewer: UserId,
        requested_by: UserId,
        version: u32,
        scope: Vec<AnchorId>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut scope = scope;
        scope.sort();
        scope.dedup();
        Self {
            plan_id,
            reviewer,
            requested_by,
            requested_version: version,
            scope,
            requested_at: now,
            decision: None,
        }
    }
}

/// Which rule decided what an approval on an older version means now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// The approval is of the current version.
    SameVersion,
    /// Kept: the typed changes since touch nothing the reviewer commented on or was asked to
    /// review (`changes`: how many changes there were).
    Untouched { changes: usize },
    /// Reset: a change touches an anchor the reviewer commented on.
    TouchesComment { anchor: String, change: String },
    /// Reset: a change touches what the reviewer was asked to review.
    TouchesScope { anchor: String, change: String },
    /// Reset: the reviewer was asked to review the whole plan, and it changed.
    WholePlan { change: String },
    /// Reset: the approved version's content is no longer retained, so nothing can be compared.
    Expired,
}

impl Rule {
    /// Why, in a sentence ("kept: the 2 changes since touch nothing you commented on or were
    /// asked to review").
    pub fn explain(&self, approved: u32, current: u32) -> String {
        match self {
            Self::SameVersion => format!("approved v{approved}, the current version"),
            Self::Untouched { changes } => format!(
                "approval of v{approved} kept for v{current}: the {changes} change{} since touch nothing commented on or asked to review",
                if *changes == 1 { "" } else { "s" }
            ),
            Self::TouchesComment { anchor, change } => format!(
                "approval of v{approved} reset by v{current}: {change} — on #{anchor}, where the reviewer commented"
            ),
            Self::TouchesScope { anchor, change } => format!(
                "approval of v{approved} reset by v{current}: {change} — on #{anchor}, which the reviewer was asked to review"
            ),
            Self::WholePlan { change } => format!(
                "approval of v{approved} reset by v{current}: the whole plan was to be reviewed and it changed ({change})"
            ),
            Self::Expired => format!(
                "approval of v{approved} reset: v{approved} is no longer retained, so the changes since cannot be checked"
            ),
        }
    }
}

/// A reviewer's standing for the current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignOff {
    /// Asked, not answered (or the answer was reset: see `reset`).
    Pending {
        #[serde(skip_serializing_if = "Option::is_none")]
        reset: Option<Rule>,
    },
    /// Approved `version`; it holds for the current version by `rule` ([`Rule::SameVersion`] or
    /// [`Rule::Untouched`]).
    Approved { version: u32, rule: Rule },
    /// Asked for changes on `version` (it stands until the reviewer decides again or the review
    /// is requested again).
    ChangesRequested { version: u32 },
}

impl SignOff {
    pub fn state(&self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Approved { .. } => "approved",
            Self::ChangesRequested { .. } => "changes_requested",
        }
    }
}

/// What an approval means for `current`. `changes_since` is the typed change set from the
/// approved version to `current` (`None` when that version's content is gone); `commented` the
/// anchors the reviewer has threads on (any state).
pub fn sign_off(
    review: &Review,
    current: u32,
    changes_since: Option<&[TypedChange]>,
    commented: &BTreeSet<AnchorId>,
) -> SignOff {
    let Some(decision) = &review.decision else {
        return SignOff::Pending { reset: None };
    };
    match decision.verdict {
        Verdict::ChangesRequested => SignOff::ChangesRequested {
            version: decision.version,
        },
        Verdict::Approved if decision.version >= current => SignOff::Approved {
            version: decision.version,
            rule: Rule::SameVersion,
        },
        Verdict::Approved => {
            let Some(changes) = changes_since else {
                return SignOff::Pending {
                    reset: Some(Rule::Expired),
                };
            };
            let reset = |rule| SignOff::Pending { reset: Some(rule) };
            for c in changes {
                if let Some(a) = commented.iter().find(|a| c.touches(a)) {
                    return reset(Rule::TouchesComment {
                        anchor: a.to_string(),
                        change: c.sentence(),
                    });
                }
            }
            if review.scope.is_empty() {
                if let Some(c) = changes.first() {
                    return reset(Rule::WholePlan {
                        change: c.sentence(),
                    });
                }
            } else {
                for c in changes {
                    if let Some(a) = review.scope.iter().find(|a| c.touches(a)) {
                        return reset(Rule::TouchesScope {
                            anchor: a.to_string(),
                            change: c.sentence(),
                        });
                    }
                }
            }
            SignOff::Approved {
                version: decision.version,
                rule: if changes.is_empty() {
                    Rule::SameVersion
                } else {
                    Rule::Untouched {
                        changes: changes.len(),
                    }
                },
            }
        }
    }
}

/// Errors of [`ReviewRepository`].
#[derive(Debug, thiserror::Error)]
pub enum ReviewRepoError {
    #[error("no review request for this reviewer on this plan")]
    NotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Review requests and decisions, one row per plan and reviewer.
#[async_trait]
pub trait ReviewRepository: Send + Sync {
    /// Inserts the request, or replaces the existing one of the same plan and reviewer (its
    /// decision MUST be cleared: a renewed request asks again).
    async fn request(&self, review: &Review) -> Result<(), ReviewRepoError>;
    /// Records `decision` on the reviewer's request. MUST return `NotFound` when the reviewer
    /// was not asked to review this plan.
    async fn decide(
        &self,
        plan_id: PlanId,
        reviewer: UserId,
        decision: &Decision,
    ) -> Result<(), ReviewRepoError>;
    /// Every review of the plan, oldest request first.
    async fn for_plan(&self, plan_id: PlanId) -> Result<Vec<Review>, ReviewRepoError>;
    /// Every review asked of `reviewer`, across plans, newest request first.
    async fn for_reviewer(&self, reviewer: UserId) -> Result<Vec<Review>, ReviewRepoError>;
}

#[cfg(test)]
mod tests;
