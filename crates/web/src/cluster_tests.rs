//! `AppState::clustered`: the process's access changes go out on the cluster, and the cluster's
//! news from other processes voids this process's caches.

use std::sync::{Arc, Mutex};

use planpush_app::{AccessChanges, AccessSignal, Cluster, LocalSignal, RemoteChanges, Unlimited};
use planpush_identity::{SessionPolicy, UserId};
use planpush_plans::PlanId;

use crate::{AppState, SignInMode, WebSettings};

#[derive(Default)]
struct FakeCluster {
    local: LocalSignal,
    announced: Mutex<Vec<UserId>>,
    attached: Mutex<Option<Arc<dyn RemoteChanges>>>,
}

impl AccessSignal for FakeCluster {
    fn notify(&self, user: UserId) {
        self.announced.lock().unwrap().push(user);
        self.local.notify(user);
    }
    fn watch(&self, user: UserId) -> AccessChanges {
        self.local.watch(user)
    }
}

impl Cluster for FakeCluster {
    fn attach(&self, caches: Arc<dyn RemoteChanges>) {
        *self.attached.lock().unwrap() = Some(caches);
    }
}

fn state(cluster: Arc<FakeCluster>) -> AppState {
    AppState::clustered(
        planpush_app::fake::ports(),
        SignInMode::Dev,
        WebSettings {
            base_url: "http://127.0.0.1".into(),
            cookie_secure: false,
            secret_key: vec![7; 64],
            trusted_proxy: Arc::new(|_| false),
            session_policy: SessionPolicy::default(),
            sanitize: Default::default(),
        },
        Arc::new(Unlimited),
        Arc::new(planpush_app::fake::FakeDiagrams::default()),
        cluster,
    )
}

#[tokio::test]
async fn changes_go_out_on_the_cluster_and_news_from_it_voids_this_process_caches() {
    let cluster = Arc::new(FakeCluster::default());
    let state = state(cluster.clone());
    let caches = cluster
        .attached
        .lock()
        .unwrap()
        .clone()
        .expect("attached at wiring");

    // This process's change is announced to the others.
    let ada = UserId::new();
    state.access.invalidate(ada);
    assert_eq!(*cluster.announced.lock().unwrap(), [ada]);

    // Another process's change bumps the user here without announcing it again.
    let ben = UserId::new();
    let before = state.access.generation(ben);
    caches.user_changed(ben);
    assert!(state.access.generation(ben) > before);
    assert_eq!(cluster.announced.lock().unwrap().len(), 1, "not echoed");

    // A plan changed elsewhere: its pages are voided (a stamp taken before is no longer current).
    let plan = PlanId::new();
    let pages = state.pages.clone();
    let stamp = pages_stamp(&pages);
    caches.plan_changed(plan);
    assert!(!pages_current(&pages, plan, stamp));
    // Everything: every user and every page.
    let stamp = pages_stamp(&pages);
    let access_stamp = state.access.generations().stamp();
    caches.everything_changed();
    assert!(!pages_current(&pages, PlanId::new(), stamp));
    assert!(
        !state
            .access
            .generations()
            .is_current(Some(&UserId::new()), access_stamp)
    );
}

fn pages_stamp(pages: &crate::page_cache::PageCache) -> u64 {
    pages.generations().stamp()
}

fn pages_current(pages: &crate::page_cache::PageCache, plan: PlanId, stamp: u64) -> bool {
    pages.generations().is_current(Some(&plan), stamp)
}
