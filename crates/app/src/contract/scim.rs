use planpush_identity::{User, UserId};
use serde_json::{Map, Value, json};

use super::{t, user};
use crate::{Ports, ScimGroup, ScimGroupId, ScimRepoError, ScimUser};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn record(id: UserId, name: &str, at: i64) -> ScimUser {
    ScimUser {
        user_id: id,
        user_name: name.into(),
        external_id: Some(format!("ext-{name}")),
        resource: obj(
            json!({"userName": name, "name": {"givenName": "Ada"}, "emails": [{"value": "ada@example.com", "primary": true}]}),
        ),
        created_at: t(at),
        updated_at: t(at),
        deleted_at: None,
    }
}

pub async fn scim_users_contract(p: &Ports) {
    let ada = User::new("Ada@Example.com", t(1)).unwrap();
    let rec = record(ada.id, "Ada@Example.com", 1);
    p.scim.create_user(&ada, &rec).await.unwrap();
    // The user exists without any identity, and the record round-trips.
    assert_eq!(p.users.get(ada.id).await.unwrap().login, "Ada@Example.com");
    assert_eq!(p.scim.get_user(ada.id).await.unwrap(), rec);

    // userName is unique ignoring case, on create, adopt and update; nothing is stored then.
    let other = User::new("other", t(2)).unwrap();
    assert!(matches!(
        p.scim
            .create_user(&other, &record(other.id, "ADA@example.COM", 2))
            .await,
        Err(ScimRepoError::UserNameTaken)
    ));
    assert!(
        p.users.get(other.id).await.is_err(),
        "no user row left behind"
    );
    let signed_in = user(p, "grace").await;
    assert!(matches!(
        p.scim
            .adopt_user(&record(signed_in.id, "ada@example.com", 2))
            .await,
        Err(ScimRepoError::UserNameTaken)
    ));
    let grace = record(signed_in.id, "grace@example.com", 3);
    p.scim.adopt_user(&grace).await.unwrap();
    assert!(matches!(
        p.scim.adopt_user(&grace).await,
        Err(ScimRepoError::AlreadyProvisioned)
    ));
    assert!(matches!(
        p.scim.adopt_user(&record(UserId::new(), "nobody", 3)).await,
        Err(ScimRepoError::NotFound)
    ));
    let mut clash = grace.clone();
    clash.user_name = "ADA@EXAMPLE.COM".into();
    assert!(matches!(
        p.scim.update_user(&signed_in, &clash).await,
        Err(ScimRepoError::UserNameTaken)
    ));

    // Lookup by name ignores case; the list is oldest first without deleted records.
    assert_eq!(
        p.scim
            .find_user_by_name("ada@EXAMPLE.com")
            .await
            .unwrap()
            .map(|r| r.user_id),
        Some(ada.id)
    );
    assert!(p.scim.find_user_by_name("nobody").await.unwrap().is_none());
    let ids: Vec<UserId> = p
        .scim
        .list_users()
        .await
        .unwrap()
        .iter()
        .map(|r| r.user_id)
        .collect();
    assert_eq!(ids, [ada.id, signed_in.id]);

    // Update writes the record and the profile together; a deleted record stays readable.
    let mut changed = rec.clone();
    changed.user_name = "ada.lovelace@example.com".into();
    changed.deleted_at = Some(t(5));
    changed.updated_at = t(5);
    changed.resource = obj(json!({"userName": "ada.lovelace@example.com", "title": "Countess"}));
    let mut profile = ada.clone();
    profile.login = "ada.lovelace@example.com".into();
    profile.name = Some("Ada Lovelace".into());
    p.scim.update_user(&profile, &changed).await.unwrap();
    assert_eq!(p.scim.get_user(ada.id).await.unwrap(), changed);
    let stored = p.users.get(ada.id).await.unwrap();
    assert_eq!(
        (stored.login.as_str(), stored.name.as_deref()),
        ("ada.lovelace@example.com", Some("Ada Lovelace"))
    );
    let ids: Vec<UserId> = p
        .scim
        .list_users()
        .await
        .unwrap()
        .iter()
        .map(|r| r.user_id)
        .collect();
    assert_eq!(ids, [signed_in.id], "deleted records are not listed");
    let mut provisioned = p.scim.provisioned().await.unwrap();
    provisioned.sort();
    let mut want = vec![ada.id, signed_in.id];
    want.sort();
    assert_eq!(
        provisioned, want,
        "deleted records still count as provisioned"
    );
    assert!(matches!(
        p.scim.get_user(UserId::new()).await,
        Err(ScimRepoError::NotFound)
    ));
    assert!(matches!(
        p.scim.update_user(&other, &record(other.id, "x", 1)).await,
        Err(ScimRepoError::NotFound)
    ));
}

pub async fn scim_groups_contract(p: &Ports) {
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    let g = ScimGroup {
        id: ScimGroupId::new(),
        display_name: "Engineering".into(),
        external_id: Some("e1".into()),
        resource: obj(json!({"externalId": "e1", "x-extra": {"kept": true}})),
        members: vec![bob.id, ada.id],
        created_at: t(1),
        updated_at: t(1),
        version: 0,
    };
    p.scim.create_group(&g).await.unwrap();
    assert_eq!(
        p.scim.get_group(g.id).await.unwrap(),
        g,
        "members keep their order"
    );

    let mut dup = g.clone();
    dup.id = ScimGroupId::new();
    dup.display_name = "ENGINEERING".into();
    assert!(matches!(
        p.scim.create_group(&dup).await,
        Err(ScimRepoError::DisplayNameTaken)
    ));
    let ghost = UserId::new();
    let mut bad = dup.clone();
    bad.display_name = "Ops".into();
    bad.members = vec![ada.id, ghost];
    assert!(
        matches!(p.scim.create_group(&bad).await, Err(ScimRepoError::UnknownMember(u)) if u == ghost)
    );
    assert!(
        matches!(p.scim.get_group(bad.id).await, Err(ScimRepoError::NotFound)),
        "nothing stored"
    );

    let mut ops = bad.clone();
    ops.members = vec![ada.id];
    ops.created_at = t(2);
    ops.updated_at = t(2);
    p.scim.create_group(&ops).await.unwrap();
    let names: Vec<String> = p
        .scim
        .groups_of(ada.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["Engineering", "Ops"]);
    let listed: Vec<ScimGroupId> = p
        .scim
        .list_groups()
        .await
        .unwrap()
        .iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(listed, [g.id, ops.id]);

    // Update replaces name and members atomically.
    let mut renamed = g.clone();
    renamed.display_name = "Platform".into();
    renamed.members = vec![ada.id];
    renamed.updated_at = t(3);
    p.scim.update_group(&renamed).await.unwrap();
    let stored = p.scim.get_group(g.id).await.unwrap();
    assert_eq!(stored.version, 1, "every change bumps the version");
    assert_eq!(
        ScimGroup {
            version: 0,
            ..stored.clone()
        },
        renamed
    );
    // A writer that read version 0 lost the race: nothing it wrote is stored.
    let mut stale = renamed.clone();
    stale.members = vec![bob.id];
    assert!(matches!(
        p.scim.update_group(&stale).await,
        Err(ScimRepoError::Conflict)
    ));
    assert_eq!(p.scim.get_group(g.id).await.unwrap(), stored);
    let renamed = stored;
    assert!(p.scim.groups_of(bob.id).await.unwrap().is_empty());
    let mut clash = renamed.clone();
    clash.display_name = "ops".into();
    assert!(matches!(
        p.scim.update_group(&clash).await,
        Err(ScimRepoError::DisplayNameTaken)
    ));
    let mut unknown = renamed.clone();
    unknown.id = ScimGroupId::new();
    unknown.display_name = "Nobody".into();
    assert!(matches!(
        p.scim.update_group(&unknown).await,
        Err(ScimRepoError::NotFound)
    ));

    p.scim.delete_group(g.id).await.unwrap();
    assert!(matches!(
        p.scim.get_group(g.id).await,
        Err(ScimRepoError::NotFound)
    ));
    assert!(matches!(
        p.scim.delete_group(g.id).await,
        Err(ScimRepoError::NotFound)
    ));
    let names: Vec<String> = p
        .scim
        .groups_of(ada.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["Ops"]);
}
