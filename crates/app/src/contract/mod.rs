//! The repository contract suite: one set of behavioural tests, run against the in-memory fakes
//! (here), SQLite and PostgreSQL (in the store crate). Each case is a plain async function taking a
//! fresh [`Ports`]; [`contract_tests!`](crate::contract_tests) turns the list into `#[tokio::test]`s
//! for one backend.
//!
//! The cases panic on failure, like any test. Times are whole seconds so that every backend
//! round-trips them exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod comments;
mod email;
mod identity;
mod inbox;
mod infra;
mod outbox;
mod plans;
mod presence;
mod reviews;
mod roles;
mod scim;
mod search;

pub use audit::*;
pub use comments::*;
pub use email::*;
pub use identity::*;
pub use inbox::*;
pub use infra::*;
pub use outbox::*;
pub use plans::*;
pub use presence::*;
pub use reviews::*;
pub use roles::*;
pub use scim::*;
pub use search::*;

use chrono::{DateTime, Duration, Utc};
use planpush_identity::{ExternalIdentity, Provider, User};

use crate::Ports;

/// A fixed instant plus `secs` seconds.
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(secs)
}

/// Creates a user with a dev identity named after `login`.
pub async fn user(p: &Ports, login: &str) -> User {
    let u = User::new(login, t(0)).unwrap();
    p.users
        .create(&u, &ExternalIdentity::new(Provider::Dev, login).unwrap())
        .await
        .unwrap();
    u
}

/// Expands to one `#[tokio::test]` per contract case, each on fresh ports from `$make`, an async
/// expression yielding `(Ports, guard)` (the guard keeps a database alive until the test ends).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@cases $make;
            users_create_find_and_count, users_link_identity, users_update_and_email,
            tokens_lifecycle, tokens_rotation_is_once_only, tokens_family_and_user_revocation, tokens_delete_expired,
            device_grants_contract, web_sessions_contract,
            device_grant_mints_once_under_concurrent_polls, tokens_rotation_refuses_revoked_families,
            roles_replace_grants, roles_group_mappings, roles_user_groups,
            plans_new_plan_commit, versions_next_version_commit, plans_update_and_slugs, plans_list_scopes,
            versions_purge_keeps_current_and_metadata, versions_large_texts_round_trip, plan_views_contract,
            comments_crud_and_filters, comments_set_states, comments_dashboard_queries,
            audit_record_and_page, audit_filters, audit_written_with_version_commits,
            kv_contract, outbox_contract, outbox_claim_leases, outbox_written_with_commits, outbox_fan_out_and_recent, outbox_absorb,
            outbox_written_with_comments, outbox_webhook_events_need_a_hook, readiness_contract,
            scim_users_contract, scim_groups_contract,
            search_contract, reviews_contract, presence_contract, inbox_contract,
            inbox_written_with_comments_and_pushes, inbox_nothing_when_the_comment_write_fails,
            email_preferences_contract
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (ports, _guard) = $make.await;
                $crate::contract::$case(&ports).await;
            }
        )*
    };
}
