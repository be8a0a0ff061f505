//! Group → role mapping: OIDC admission at sign-in, bootstrap admins, reconciliation of `sso`
//! grants (manual ones stay), mapping changes applied to signed-in users at once, the last-admin
//! rule and the audit trail.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use planpush_app::{
    AccessCache, Admission, AuthMethod, GroupAccess, GroupMappingError, Ports, Principal, SignIn,
    SignInError, VerifiedProfile,
};
use planpush_audit::{AuditAction, AuditFilter};
use planpush_identity::{Email, ExternalIdentity, Provider, UserId};
use planpush_roles::{GrantOrigin, GroupName, Role};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(secs)
}

struct Env {
    ports: Ports,
    access: Arc<AccessCache>,
    sign_in: SignIn,
    groups: GroupAccess,
}

fn env() -> Env {
    let ports = planpush_app::fake::ports();
    let access = Arc::new(AccessCache::new(ports.clone()));
    let sign_in =
        SignIn::new(ports.clone(), access.clone()).with_admission(Admission::GroupMapping {
            bootstrap_admins: vec!["root@example.com".into()],
        });
    let groups = GroupAccess::new(ports.clone(), access.clone());
    Env {
        ports,
        access,
        sign_in,
        groups,
    }
}

fn profile(sub: &str, email: Option<&str>, groups: &[&str]) -> VerifiedProfile {
    VerifiedProfile {
        identity: ExternalIdentity::new(
            Provider::Oidc {
                issuer: "https://idp.example.com".into(),
            },
            sub,
        )
        .unwrap(),
        login: sub.into(),
        name: None,
        email: email.map(|e| Email::parse(e).unwrap()),
        avatar_url: None,
        groups: groups
            .iter()
            .map(|g| GroupName::parse(g).unwrap())
            .collect(),
        logout_hint: Some("id.token.here".into()),
    }
}

async fn admin(e: &Env) -> Principal {
    let id = e
        .sign_in
        .sign_in(profile("root", Some("ROOT@example.com"), &[]), None, t(0))
        .await
        .unwrap();
    e.access
        .principal(id, AuthMethod::Session)
        .await
        .unwrap()
        .unwrap()
}

async fn roles(e: &Env, id: UserId) -> Vec<Role> {
    e.access
        .principal(id, AuthMethod::Session)
        .await
        .unwrap()
        .map(|p| p.roles)
        .unwrap_or_default()
}

async fn origins(e: &Env, id: UserId) -> Vec<(Role, GrantOrigin)> {
    e.ports
        .roles
        .grants_for(id)
        .await
        .unwrap()
        .iter()
        .map(|g| (g.role, g.origin))
        .collect()
}

#[tokio::test]
async fn bootstrap_admin_then_mapped_and_unmapped_people() {
    let e = env();
    let root = admin(&e).await;
    assert_eq!(root.roles, [Role::Admin]);
    assert_eq!(
        origins(&e, root.user_id).await,
        [(Role::Admin, GrantOrigin::Manual)]
    );

    // Nobody's groups are mapped yet: no session, the groups are named.
    let r = e
        .sign_in
        .sign_in(
            profile("ann", Some("ann@example.com"), &["eng"]),
            None,
            t(1),
        )
        .await;
    match r {
        Err(SignInError::NoAccess { login, groups }) => {
            assert_eq!(login, "ann");
            assert_eq!(groups, [GroupName::parse("eng").unwrap()]);
        }
        other => panic!("expected NoAccess, got {other:?}"),
    }

    e.groups
        .add_mapping(&root, "eng", "developer", None, t(2))
        .await
        .unwrap();
    let ann = e
        .sign_in
        .sign_in(
            profile("ann", Some("ann@example.com"), &["eng"]),
            None,
            t(3),
        )
        .await
        .unwrap();
    assert_eq!(roles(&e, ann).await, [Role::Developer]);
    assert_eq!(
        origins(&e, ann).await,
        [(Role::Developer, GrantOrigin::Sso)]
    );

    // A bootstrap address on a later sign-in of an existing member does not re-grant admin.
    let again = e
        .sign_in
        .sign_in(profile("root", Some("root@example.com"), &[]), None, t(4))
        .await
        .unwrap();
    assert_eq!(again, root.user_id);
}

#[tokio::test]
async fn sso_grants_follow_the_groups_and_manual_grants_stay() {
    let e = env();
    let root = admin(&e).await;
    for (g, r) in [
        ("eng", "developer"),
        ("qa", "qa"),
        ("leads", "project_manager"),
    ] {
        e.groups.add_mapping(&root, g, r, None, t(1)).await.unwrap();
    }
    let bob = e
        .sign_in
        .sign_in(profile("bob", None, &["eng", "leads"]), None, t(2))
        .await
        .unwrap();
    assert_eq!(
        roles(&e, bob).await,
        [Role::ProjectManager, Role::Developer]
    );
    // A manual grant by an admin.
    e.ports
        .roles
        .replace_grants(
            bob,
            GrantOrigin::Manual,
            &[Role::Admin],
            Some(root.user_id),
            t(3),
        )
        .await
        .unwrap();
    e.access.invalidate(bob);
    // Groups change at the provider.
    e.sign_in
        .sign_in(profile("bob", None, &["qa"]), None, t(4))
        .await
        .unwrap();
    assert_eq!(
        origins(&e, bob).await,
        [
            (Role::Admin, GrantOrigin::Manual),
            (Role::Qa, GrantOrigin::Sso)
        ]
    );
    // Every reconciled grant is audited with its origin.
    let removed = e
        .ports
        .audit_query
        .page(
            &AuditFilter {
                action: Some(AuditAction::GrantRemoved),
                ..AuditFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(removed.events.len(), 2, "developer and project_manager");
    assert!(
        removed
            .events
            .iter()
            .all(|ev| ev.details["origin"] == "sso")
    );
}

#[tokio::test]
async fn a_mapping_change_applies_to_signed_in_people_at_once() {
    let e = env();
    let root = admin(&e).await;
    e.groups
        .add_mapping(&root, "eng", "developer", None, t(1))
        .await
        .unwrap();
    let ann = e
        .sign_in
        .sign_in(profile("ann", None, &["eng"]), None, t(2))
        .await
        .unwrap();
    assert_eq!(roles(&e, ann).await, [Role::Developer], "cached now");
    e.groups
        .add_mapping(&root, "eng", "qa", None, t(3))
        .await
        .unwrap();
    assert_eq!(roles(&e, ann).await, [Role::Developer, Role::Qa]);
    e.groups
        .remove_mapping(&root, "eng", "developer", None, t(4))
        .await
        .unwrap();
    assert_eq!(roles(&e, ann).await, [Role::Qa]);
    assert!(matches!(
        e.groups
            .remove_mapping(&root, "eng", "developer", None, t(5))
            .await,
        Err(GroupMappingError::NotFound)
    ));
    let audit = e
        .ports
        .audit_query
        .page(
            &AuditFilter {
                action: Some(AuditAction::MappingAdded),
                ..AuditFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(audit.events.len(), 2);
}

#[tokio::test]
async fn bad_input_and_non_admins_are_refused() {
    let e = env();
    let root = admin(&e).await;
    for (g, r) in [("", "developer"), ("eng", "wizard"), ("a\nb", "qa")] {
        assert!(
            matches!(
                e.groups.add_mapping(&root, g, r, None, t(1)).await,
                Err(GroupMappingError::BadRequest(_))
            ),
            "{g:?} → {r:?}"
        );
    }
    assert!(e.ports.roles.mappings().await.unwrap().is_empty());
    e.groups
        .add_mapping(&root, "eng", "developer", None, t(1))
        .await
        .unwrap();
    let ann = e
        .sign_in
        .sign_in(profile("ann", None, &["eng"]), None, t(2))
        .await
        .unwrap();
    let ann = e
        .access
        .principal(ann, AuthMethod::Session)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        e.groups.mappings(&ann).await,
        Err(GroupMappingError::Forbidden)
    ));
    assert!(matches!(
        e.groups.add_mapping(&ann, "eng", "admin", None, t(3)).await,
        Err(GroupMappingError::Forbidden)
    ));
}

#[tokio::test]
async fn the_last_admin_is_never_removed_by_a_mapping() {
    let e = env();
    let root = admin(&e).await;
    e.groups
        .add_mapping(&root, "admins", "admin", None, t(1))
        .await
        .unwrap();
    let lead = e
        .sign_in
        .sign_in(profile("lead", None, &["admins"]), None, t(2))
        .await
        .unwrap();
    // root steps down (manual grant removed): lead is now the only admin, through sso.
    e.ports
        .roles
        .replace_grants(root.user_id, GrantOrigin::Manual, &[], None, t(3))
        .await
        .unwrap();
    e.access.invalidate(root.user_id);
    let lead_p = e
        .access
        .principal(lead, AuthMethod::Session)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        e.groups
            .remove_mapping(&lead_p, "admins", "admin", None, t(4))
            .await,
        Err(GroupMappingError::LastAdmin(_))
    ));
    assert_eq!(
        e.ports.roles.mappings().await.unwrap().len(),
        1,
        "nothing changed"
    );
    // Leaving the group at the provider does not strip the last admin either.
    e.sign_in
        .sign_in(profile("lead", None, &[]), None, t(5))
        .await
        .unwrap();
    assert_eq!(roles(&e, lead).await, [Role::Admin]);
}

#[tokio::test]
async fn unverified_bootstrap_addresses_and_deactivated_people_get_nothing() {
    let e = env();
    // No e-mail (the provider did not verify it): not a bootstrap admin.
    assert!(matches!(
        e.sign_in
            .sign_in(profile("fake-root", None, &[]), None, t(0))
            .await,
        Err(SignInError::NoAccess { .. })
    ));
    let root = admin(&e).await;
    e.groups
        .add_mapping(&root, "eng", "developer", None, t(1))
        .await
        .unwrap();
    let ann = e
        .sign_in
        .sign_in(profile("ann", None, &["eng"]), None, t(2))
        .await
        .unwrap();
    let mut u = e.ports.users.get(ann).await.unwrap();
    u.deactivate(t(3));
    e.ports.users.update(&u).await.unwrap();
    assert!(matches!(
        e.sign_in
            .sign_in(profile("ann", None, &["eng"]), None, t(4))
            .await,
        Err(SignInError::Deactivated)
    ));
}

/// A user's roles follow the union of their sign-in groups and their SCIM groups; neither source
/// overwrites the other, and a mapping change reaches a member known only through SCIM at once.
#[tokio::test]
async fn sign_in_groups_and_scim_groups_add_up() {
    use planpush_app::{Admin, Scim, ScimQuery};
    use serde_json::json;

    let e = env();
    let root = admin(&e).await;
    for (g, r) in [
        ("eng", "developer"),
        ("qa-team", "qa"),
        ("pm", "project_manager"),
    ] {
        e.groups.add_mapping(&root, g, r, None, t(1)).await.unwrap();
    }
    let scim = Scim::new(
        e.ports.clone(),
        Arc::new(Admin::new(e.ports.clone(), e.access.clone())),
        e.access.clone(),
        "https://plans.example.com",
    );
    let q = ScimQuery::default();
    // Ann signs in with the `eng` claim; SCIM then puts her in `qa-team`.
    let ann = e
        .sign_in
        .sign_in(
            profile("ann", Some("ann@example.com"), &["eng"]),
            None,
            t(2),
        )
        .await
        .unwrap();
    let group = scim
        .create_group(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "qa-team", "members": [{"value": ann.to_string()}]}),
            &q,
            None,
            t(3),
        )
        .await
        .unwrap();
    assert_eq!(roles(&e, ann).await, [Role::Developer, Role::Qa]);
    // Signing in again with the same claim keeps the SCIM group's role.
    e.sign_in
        .sign_in(
            profile("ann", Some("ann@example.com"), &["eng"]),
            None,
            t(4),
        )
        .await
        .unwrap();
    assert_eq!(roles(&e, ann).await, [Role::Developer, Role::Qa]);

    // Bob exists only through SCIM; a new mapping for his group applies to him at once.
    let bob = scim
        .create_user(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@example.com"}),
            &q,
            None,
            t(5),
        )
        .await
        .unwrap();
    let bob = UserId::parse(bob["id"].as_str().unwrap()).unwrap();
    let group_id = group["id"].as_str().unwrap();
    scim.patch_group(
        group_id,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": [{"value": bob.to_string()}]}]}),
        &q,
        None,
        t(6),
    )
    .await
    .unwrap();
    assert_eq!(roles(&e, bob).await, [Role::Qa]);
    e.groups
        .add_mapping(&root, "qa-team", "project_manager", None, t(7))
        .await
        .unwrap();
    assert_eq!(roles(&e, bob).await, [Role::ProjectManager, Role::Qa]);
    e.groups
        .remove_mapping(&root, "qa-team", "qa", None, t(8))
        .await
        .unwrap();
    assert_eq!(roles(&e, bob).await, [Role::ProjectManager]);
    assert_eq!(
        roles(&e, ann).await,
        [Role::ProjectManager, Role::Developer]
    );
}
