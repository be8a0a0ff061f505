//! The daily digest's assembly: which of a user's notifications go into one e-mail, in what order.
//! Pure (time comes in as `now`), so every rule is unit-tested below.

use chrono::{DateTime, Duration, Utc};
use planpush_plans::PlanId;

use super::InboxItem;

/// Most notifications listed in one digest; the rest are counted ([`Digest::more`]).
pub const DIGEST_MAX_ITEMS: usize = 50;
/// How long after the previous digest the next one is due.
pub const DIGEST_PERIOD: Duration = Duration::days(1);

/// One plan's notifications in a digest, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestGroup {
    pub plan: PlanId,
    pub items: Vec<InboxItem>,
}

/// One digest e-mail: the notifications created in `(since, until]` and still unread at `until`,
/// grouped per plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The plan whose newest notification is newest comes first.
    pub groups: Vec<DigestGroup>,
    /// Notifications left out beyond [`DIGEST_MAX_ITEMS`] (the oldest ones).
    pub more: usize,
}

impl Digest {
    /// Every listed notification's id, group by group.
    pub fn ids(&self) -> Vec<String> {
        self.groups
            .iter()
            .flat_map(|g| g.items.iter().map(|i| i.id.clone()))
            .collect()
    }
}

/// Whether a digest is due at `now` for a user whose previous one covered up to `last`.
pub fn digest_due(last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last >= DIGEST_PERIOD
}

/// The digest of `items` (a user's notifications, any order) for the window `(since, now]`:
/// only those created after `since` (the previous digest's cut-off: what it covered is not
/// repeated) and at or before `now` (a notification written while the digest is assembled goes
/// into the next one), and unread at `now`. Grouped per plan; the groups ordered by their newest
/// notification, newest first; within a group oldest first (they read as a story); ties by id.
/// At most [`DIGEST_MAX_ITEMS`], keeping the newest. `None` when nothing is left: no e-mail.
pub fn assemble_digest(
    items: Vec<InboxItem>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Digest> {
    let mut kept: Vec<InboxItem> = items
        .into_iter()
        .filter(|i| i.created_at > since && i.created_at <= now)
        .filter(|i| i.read_at.is_none_or(|r| r > now))
        .collect();
    if kept.is_empty() {
        return None;
    }
    // Newest first, to keep the newest when cutting.
    kept.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let more = kept.len().saturating_sub(DIGEST_MAX_ITEMS);
    kept.truncate(DIGEST_MAX_ITEMS);
    let mut groups: Vec<DigestGroup> = vec![];
    for item in kept {
        match groups.iter_mut().find(|g| g.plan == item.plan) {
            Some(g) => g.items.push(item),
            None => groups.push(DigestGroup {
                plan: item.plan,
                items: vec![item],
            }),
        }
    }
    // Groups are in order of their newest item already; items read oldest first.
    for g in &mut groups {
        g.items.reverse();
    }
    Some(Digest {
        since,
        until: now,
        groups,
        more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::NotificationKind;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::hours(h)
    }

    fn item(id: &str, plan: PlanId, created: DateTime<Utc>) -> InboxItem {
        InboxItem {
            id: id.into(),
            recipient: planpush_identity::UserId::new(),
            kind: NotificationKind::Mention,
            plan,
            actor: Some("ada".into()),
            excerpt: Some(format!("about {id}")),
            anchor: None,
            comment: None,
            version: None,
            created_at: created,
            read_at: None,
        }
    }

    fn ids(d: &Digest) -> Vec<Vec<&str>> {
        d.groups
            .iter()
            .map(|g| g.items.iter().map(|i| i.id.as_str()).collect())
            .collect()
    }

    #[test]
    fn nothing_new_is_no_mail() {
        assert_eq!(assemble_digest(vec![], at(0), at(24)), None);
        let p = PlanId::new();
        // Only old ones (covered by the previous digest) and read ones.
        let mut read = item("r", p, at(10));
        read.read_at = Some(at(11));
        let old = item("o", p, at(-1));
        assert_eq!(assemble_digest(vec![read, old], at(0), at(24)), None);
    }

    #[test]
    fn the_window_is_after_since_up_to_now() {
        let p = PlanId::new();
        let items = vec![
            item("at-since", p, at(0)),
            item("just-after", p, at(0) + Duration::seconds(1)),
            item("at-now", p, at(24)),
            item("after-now", p, at(24) + Duration::seconds(1)),
        ];
        let d = assemble_digest(items, at(0), at(24)).unwrap();
        assert_eq!(ids(&d), vec![vec!["just-after", "at-now"]]);
        assert_eq!((d.since, d.until), (at(0), at(24)));
    }

    #[test]
    fn read_before_now_is_left_out_read_later_is_not() {
        let p = PlanId::new();
        let mut a = item("a", p, at(1));
        a.read_at = Some(at(2));
        let mut b = item("b", p, at(1));
        b.read_at = Some(at(30));
        let d = assemble_digest(vec![a, b], at(0), at(24)).unwrap();
        assert_eq!(ids(&d), vec![vec!["b"]]);
    }

    #[test]
    fn grouped_per_plan_newest_plan_first_items_oldest_first() {
        let (p, q, r) = (PlanId::new(), PlanId::new(), PlanId::new());
        let items = vec![
            item("p1", p, at(1)),
            item("q1", q, at(2)),
            item("p2", p, at(3)),
            item("r1", r, at(5)),
            item("q2", q, at(4)),
            item("p3", p, at(6)),
        ];
        let d = assemble_digest(items, at(0), at(24)).unwrap();
        assert_eq!(
            ids(&d),
            vec![vec!["p1", "p2", "p3"], vec!["r1"], vec!["q1", "q2"]]
        );
        assert_eq!(d.groups[0].plan, p);
        assert_eq!(d.ids(), ["p1", "p2", "p3", "r1", "q1", "q2"]);
        assert_eq!(d.more, 0);
    }

    #[test]
    fn ties_are_ordered_by_id() {
        let p = PlanId::new();
        let d = assemble_digest(
            vec![
                item("b", p, at(1)),
                item("a", p, at(1)),
                item("c", p, at(1)),
            ],
            at(0),
            at(24),
        )
        .unwrap();
        assert_eq!(ids(&d), vec![vec!["a", "b", "c"]]);
    }

    #[test]
    fn a_long_day_keeps_the_newest_and_counts_the_rest() {
        let p = PlanId::new();
        let items: Vec<_> = (0..DIGEST_MAX_ITEMS as i64 + 7)
            .map(|i| item(&format!("n{i:03}"), p, at(0) + Duration::minutes(i + 1)))
            .collect();
        let d = assemble_digest(items, at(0), at(24)).unwrap();
        assert_eq!(d.more, 7);
        assert_eq!(d.groups[0].items.len(), DIGEST_MAX_ITEMS);
        assert_eq!(d.groups[0].items[0].id, "n007", "the 7 oldest are cut");
    }

    #[test]
    fn due_a_day_after_the_previous_one() {
        assert!(!digest_due(at(0), at(23)));
        assert!(digest_due(at(0), at(24)));
        assert!(digest_due(at(0), at(100)));
    }
}
