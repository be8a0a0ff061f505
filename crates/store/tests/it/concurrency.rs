//! Many writers through the pool at once: SQLite must queue them (WAL, busy_timeout,
//! `BEGIN IMMEDIATE`), never answer `database is locked`.

use std::sync::Arc;
use std::time::Duration;

use planpush_app::Ports;
use planpush_app::contract::{new_plan_of, user};
use planpush_plans::Visibility;
use planpush_store::{DbTarget, Store, StoreOptions};
use planpush_versions::{
    Commit, NewVersion, SectionIndex, SourceFormat, Version, VersionRepoError,
};

use crate::support::sqlite_ports;

async fn push_with_retry(
    p: &Ports,
    plan_id: planpush_plans::PlanId,
    by: planpush_identity::UserId,
    i: usize,
) -> u32 {
    let mut conflicts = 0;
    loop {
        let plan = p.plans.get(plan_id).await.unwrap();
        let latest = p.versions.latest(plan_id).await.unwrap().unwrap();
        let now = chrono::Utc::now();
        let v = Version::new(
            Some(&latest.head()),
            NewVersion {
                plan_id,
                title: plan.title().to_owned(),
                format: SourceFormat::Markdown,
                source: format!("# push {i}").into(),
                html: format!("<h1>push {i}</h1>").into(),
                sections: SectionIndex::default(),
                pushed_by: by,
                pushed_at: now,
            },
        );
        let mut next = plan.clone();
        next.record_version(v.meta.number.get(), plan.title(), now)
            .unwrap();
        match p
            .versions
            .commit(
                Commit::NextVersion {
                    plan: &next,
                    version: &v,
                    text: &planpush_document::text_units(&v.html),
                },
                &[],
            )
            .await
        {
            Ok(()) => return conflicts,
            Err(VersionRepoError::Conflict) => conflicts += 1,
            Err(e) => panic!("push {i} failed: {e:#}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_version_inserts_on_sqlite() {
    let (ports, _guard) = sqlite_ports().await;
    concurrent_version_inserts(ports, 100, 1000).await;
}

/// The writers of one process queue for SQLite's write lock in the process: none of them ever
/// waits in SQLite's busy handler (which sleeps), so none fails even when it may not wait at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_of_one_process_never_meet_the_busy_handler() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        DbTarget::Sqlite(dir.path().join("test.db")),
        &StoreOptions {
            sqlite_busy_timeout: Duration::ZERO,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.migrate().unwrap();
    concurrent_version_inserts(store.ports(), 20, 400).await;
}

/// `pushes` pushes at once, spread over `plans` new plans; each plan ends with all of its versions.
async fn concurrent_version_inserts(ports: Ports, plans_n: usize, pushes: usize) {
    let ports = Arc::new(ports);
    let writer = user(&ports, "writer").await;
    let by = writer.id;
    let mut plans = vec![];
    for n in 0..plans_n {
        let slug = format!("plan-{n}");
        let (plan, _) = new_plan_of(
            &ports,
            &writer,
            &slug,
            Visibility::Published,
            0,
            "x",
            SectionIndex::default(),
        )
        .await;
        plans.push(plan.id());
    }
    let tasks: Vec<_> = (0..pushes)
        .map(|i| {
            let (ports, plan) = (ports.clone(), plans[i % plans.len()]);
            tokio::spawn(async move { push_with_retry(&ports, plan, by, i).await })
        })
        .collect();
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    for plan in &plans {
        let each = 1 + pushes / plans_n;
        assert_eq!(
            ports.versions.history(*plan).await.unwrap().len(),
            each,
            "the first version and every push"
        );
        assert_eq!(
            ports.plans.get(*plan).await.unwrap().current_version(),
            u32::try_from(each).unwrap()
        );
    }
    eprintln!(
        "{pushes} concurrent pushes done; {conflicts} lost a compare-and-set race and retried"
    );
}

/// Eight workers claiming from one outbox at once: every message is claimed exactly once.
async fn concurrent_claims_never_overlap(ports: Ports) {
    let t0 = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    let mut ids = std::collections::HashSet::new();
    for i in 0..200 {
        let m = planpush_app::OutboxMessage::new(
            "slack",
            format!(r#"{{"n":{i}}}"#),
            t0 + chrono::Duration::seconds(i),
        );
        ports.outbox.enqueue(&m).await.unwrap();
        ids.insert(m.id);
    }
    let now = t0 + chrono::Duration::seconds(1000);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let ports = ports.clone();
            tokio::spawn(async move {
                let mut mine = vec![];
                loop {
                    let batch = ports
                        .outbox
                        .claim(now, now + chrono::Duration::seconds(60), 3)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|m| (m.id, m.attempts)));
                }
            })
        })
        .collect();
    let mut claimed = vec![];
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    assert_eq!(claimed.len(), 200, "each message claimed once");
    assert!(claimed.iter().all(|(_, attempts)| *attempts == 1));
    let distinct: std::collections::HashSet<_> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_outbox_claims_never_overlap() {
    let (ports, _guard) = sqlite_ports().await;
    concurrent_claims_never_overlap(ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_outbox_claims_never_overlap() {
    let (ports, _guard) = crate::support::pg_ports().await;
    concurrent_claims_never_overlap(ports).await;
}

/// Entra and Okta push many membership changes to one group at once: none may be lost.
async fn concurrent_group_patches_lose_nothing(ports: Ports) {
    use planpush_app::{AccessCache, Admin, Scim, ScimQuery};
    use serde_json::json;
    // Two services over one database, as two server processes: each queues its own writes, the
    // version compare-and-set keeps the two from losing each other's.
    let service = || {
        let access = Arc::new(AccessCache::new(ports.clone()));
        let admin = Arc::new(Admin::new(ports.clone(), access.clone()));
        Arc::new(Scim::new(
            ports.clone(),
            admin,
            access,
            "https://plans.example.com",
        ))
    };
    let (scim, other) = (service(), service());
    let q = ScimQuery::default();
    let now = chrono::Utc::now();
    let group = scim
        .create_group(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone"}), &q, None, now)
        .await
        .unwrap();
    let gid = group["id"].as_str().unwrap().to_owned();
    let mut ids = vec![];
    for i in 0..24 {
        let u = scim
            .create_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("u{i}@example.com")}), &q, None, now)
            .await
            .unwrap();
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let scim = if i % 2 == 0 {
                scim.clone()
            } else {
                other.clone()
            };
            let (gid, id) = (gid.clone(), id.clone());
            tokio::spawn(async move {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]});
                scim.patch_group(&gid, body, &ScimQuery::default(), None, chrono::Utc::now())
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let g = scim.get_group(&gid, &q).await.unwrap();
    let mut got: Vec<String> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scim_group_patches_on_sqlite() {
    let (ports, _guard) = sqlite_ports().await;
    concurrent_group_patches_lose_nothing(ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scim_group_patches_on_postgres() {
    let (ports, _guard) = crate::support::pg_ports().await;
    concurrent_group_patches_lose_nothing(ports).await;
}
