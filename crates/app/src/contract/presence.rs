use planpush_plans::Visibility;

use super::plans::new_plan;
use super::{t, user};
use crate::{PRESENCE_TTL, Ports};

/// Readers arrive, refresh, expire (a killed process's) and leave; one entry per person.
pub async fn presence_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let (plan, _) = new_plan(p, &ada, "auth", Visibility::Published, 1).await;
    let (other, _) = new_plan(p, &ada, "other", Visibility::Published, 2).await;
    let presence = &p.presence;
    let sorted = |mut v: Vec<_>| {
        v.sort();
        v
    };
    presence
        .upsert("r-a", plan.id(), ada.id, t(0) + PRESENCE_TTL)
        .await
        .unwrap();
    // ada in a second tab; bob, whose stream stops refreshing at t(5); bob on another plan.
    presence
        .upsert("r-a2", plan.id(), ada.id, t(0) + PRESENCE_TTL)
        .await
        .unwrap();
    presence
        .upsert("r-b", plan.id(), bob.id, t(5))
        .await
        .unwrap();
    presence
        .upsert("r-x", other.id(), bob.id, t(0) + PRESENCE_TTL)
        .await
        .unwrap();
    assert_eq!(
        sorted(presence.readers(plan.id(), t(1)).await.unwrap()),
        sorted(vec![ada.id, bob.id]),
        "one entry per person, other plans apart"
    );
    // A refresh moves the expiry.
    presence
        .upsert("r-b", plan.id(), bob.id, t(8))
        .await
        .unwrap();
    assert_eq!(
        sorted(presence.readers(plan.id(), t(6)).await.unwrap()),
        sorted(vec![ada.id, bob.id])
    );
    // Expired at its instant: gone from the readers, then purged.
    assert_eq!(
        presence.readers(plan.id(), t(8)).await.unwrap(),
        vec![ada.id]
    );
    assert_eq!(presence.purge_expired(t(8)).await.unwrap(), 1);
    presence.remove("r-a").await.unwrap();
    presence.remove("unknown").await.unwrap();
    assert_eq!(
        presence.readers(plan.id(), t(1)).await.unwrap(),
        vec![ada.id]
    );
    presence.remove("r-a2").await.unwrap();
    assert!(presence.readers(plan.id(), t(1)).await.unwrap().is_empty());
    assert_eq!(
        presence.readers(other.id(), t(1)).await.unwrap(),
        vec![bob.id]
    );
}
