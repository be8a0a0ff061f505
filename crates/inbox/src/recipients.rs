//! Who hears of an event: the one rule, pure.
//!
//! - A **new comment or reply** notifies, each person at most once, by the first that applies:
//!   the people it mentions (`mention`); for a reply, the thread's participants (its author and
//!   everyone who replied) and the plan's owner (`reply`); for a new thread, the plan's owner and
//!   the people who follow the plan with the button (`comment`).
//! - A **new version** notifies the plan's followers (`version`): its owner and everyone who
//!   commented on it (implicitly), and everyone who pressed Follow.
//! - Never the actor; never someone who muted the plan (mute beats every other reason, a
//!   mention included); never someone who may not see the plan (the caller's `may_see`).

use planpush_identity::UserId;

use crate::{FollowState, NoticeKind};

/// The people around a plan, as the rule needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    /// Who caused the event (never notified).
    pub actor: Option<UserId>,
    /// The plan's owner.
    pub owner: Option<UserId>,
    /// Everyone who wrote a (live) comment on the plan: implicit followers.
    pub commenters: Vec<UserId>,
    /// Explicit choices (`plan_follows` rows).
    pub follows: Vec<(UserId, FollowState)>,
}

impl Audience {
    fn state(&self, user: UserId) -> Option<FollowState> {
        self.follows
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, s)| *s)
    }

    fn muted(&self, user: UserId) -> bool {
        self.state(user) == Some(FollowState::Muted)
    }

    /// Whether `user` follows the plan (owner, commenter or by the button) and has not muted it.
    pub fn follows(&self, user: UserId) -> bool {
        match self.state(user) {
            Some(FollowState::Muted) => false,
            Some(FollowState::Following) => true,
            None => self.owner == Some(user) || self.commenters.contains(&user),
        }
    }

    /// Everyone who follows the plan, in a stable order (owner, commenters, button followers).
    pub fn followers(&self) -> Vec<UserId> {
        let explicit = self
            .follows
            .iter()
            .filter(|(_, s)| *s == FollowState::Following)
            .map(|(u, _)| *u);
        let mut out: Vec<UserId> = vec![];
        for u in self
            .owner
            .into_iter()
            .chain(self.commenters.iter().copied())
            .chain(explicit)
        {
            if !out.contains(&u) && self.follows(u) {
                out.push(u);
            }
        }
        out
    }

    /// Removes the actor, muted people and people who may not see the plan; keeps the first kind
    /// per person.
    fn finish(
        &self,
        candidates: impl IntoIterator<Item = (UserId, NoticeKind)>,
        may_see: impl Fn(UserId) -> bool,
    ) -> Vec<(UserId, NoticeKind)> {
        let mut out: Vec<(UserId, NoticeKind)> = vec![];
        for (u, kind) in candidates {
            if Some(u) == self.actor
                || self.muted(u)
                || out.iter().any(|(o, _)| *o == u)
                || !may_see(u)
            {
                continue;
            }
            out.push((u, kind));
        }
        out
    }
}

/// A new comment or reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommentEvent {
    /// Whether it is a reply (else a new thread).
    pub reply: bool,
    /// For a reply: the thread's author and everyone who replied before.
    pub participants: Vec<UserId>,
    /// The people its body mentions (already resolved from logins).
    pub mentioned: Vec<UserId>,
}

/// Who is notified of a new comment, and why: each person once, by the first reason that applies
/// (mention, then reply, then comment).
pub fn comment_recipients(
    audience: &Audience,
    event: &CommentEvent,
    may_see: impl Fn(UserId) -> bool,
) -> Vec<(UserId, NoticeKind)> {
    let mentions = event.mentioned.iter().map(|u| (*u, NoticeKind::Mention));
    let others: Vec<(UserId, NoticeKind)> = if event.reply {
        event
            .participants
            .iter()
            .copied()
            .chain(audience.owner)
            .map(|u| (u, NoticeKind::Reply))
            .collect()
    } else {
        let explicit = audience
            .follows
            .iter()
            .filter(|(_, s)| *s == FollowState::Following)
            .map(|(u, _)| *u);
        audience
            .owner
            .into_iter()
            .chain(explicit)
            .map(|u| (u, NoticeKind::Comment))
            .collect()
    };
    audience.finish(mentions.chain(others), may_see)
}

/// Who is notified of a new version: the plan's followers.
pub fn version_recipients(audience: &Audience, may_see: impl Fn(UserId) -> bool) -> Vec<UserId> {
    audience
        .finish(
            audience
                .followers()
                .into_iter()
                .map(|u| (u, NoticeKind::Version)),
            may_see,
        )
        .into_iter()
        .map(|(u, _)| u)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids<const N: usize>() -> [UserId; N] {
        std::array::from_fn(|_| UserId::new())
    }

    fn all(_: UserId) -> bool {
        true
    }

    #[test]
    fn a_mentioned_participant_gets_one_notification_the_mention() {
        let [actor, owner, author, ada] = ids();
        let audience = Audience {
            actor: Some(actor),
            owner: Some(owner),
            ..Audience::default()
        };
        let event = CommentEvent {
            reply: true,
            participants: vec![author, ada, actor],
            mentioned: vec![ada, owner],
        };
        assert_eq!(
            comment_recipients(&audience, &event, all),
            [
                (ada, NoticeKind::Mention),
                (owner, NoticeKind::Mention),
                (author, NoticeKind::Reply),
            ]
        );
    }

    #[test]
    fn the_actor_is_never_notified() {
        let [actor, other] = ids();
        let audience = Audience {
            actor: Some(actor),
            owner: Some(actor),
            commenters: vec![actor, other],
            ..Audience::default()
        };
        let event = CommentEvent {
            reply: true,
            participants: vec![actor],
            mentioned: vec![actor],
        };
        assert!(comment_recipients(&audience, &event, all).is_empty());
        assert_eq!(version_recipients(&audience, all), [other]);
    }

    #[test]
    fn mute_beats_follow_mention_and_ownership() {
        let [actor, owner, fan, ada] = ids();
        let audience = Audience {
            actor: Some(actor),
            owner: Some(owner),
            commenters: vec![ada],
            follows: vec![
                (owner, FollowState::Muted),
                (fan, FollowState::Following),
                (ada, FollowState::Muted),
            ],
        };
        let event = CommentEvent {
            reply: false,
            participants: vec![],
            mentioned: vec![ada],
        };
        assert_eq!(
            comment_recipients(&audience, &event, all),
            [(fan, NoticeKind::Comment)]
        );
        assert_eq!(version_recipients(&audience, all), [fan]);
        assert!(!audience.follows(owner) && !audience.follows(ada) && audience.follows(fan));
    }

    #[test]
    fn new_threads_go_to_owner_and_button_followers_not_to_every_commenter() {
        let [actor, owner, commenter, fan] = ids();
        let audience = Audience {
            actor: Some(actor),
            owner: Some(owner),
            commenters: vec![commenter],
            follows: vec![(fan, FollowState::Following)],
        };
        let event = CommentEvent::default();
        assert_eq!(
            comment_recipients(&audience, &event, all),
            [(owner, NoticeKind::Comment), (fan, NoticeKind::Comment)]
        );
    }

    #[test]
    fn versions_go_to_owner_commenters_and_followers_once_each() {
        let [actor, owner, c1, fan] = ids();
        let audience = Audience {
            actor: Some(actor),
            owner: Some(owner),
            commenters: vec![c1, owner, c1, actor],
            follows: vec![(fan, FollowState::Following), (c1, FollowState::Following)],
        };
        assert_eq!(version_recipients(&audience, all), [owner, c1, fan]);
    }

    #[test]
    fn people_who_may_not_see_the_plan_get_nothing_not_even_a_mention() {
        let [actor, owner, outsider, fan] = ids();
        let audience = Audience {
            actor: Some(actor),
            owner: Some(owner),
            commenters: vec![],
            follows: vec![
                (outsider, FollowState::Following),
                (fan, FollowState::Following),
            ],
        };
        let may_see = |u: UserId| u != outsider;
        let event = CommentEvent {
            reply: false,
            participants: vec![],
            mentioned: vec![outsider],
        };
        assert_eq!(
            comment_recipients(&audience, &event, may_see),
            [(owner, NoticeKind::Comment), (fan, NoticeKind::Comment)]
        );
        assert_eq!(version_recipients(&audience, may_see), [owner, fan]);
    }
}
