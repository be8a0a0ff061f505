use planpush_identity::UserId;
use planpush_roles::*;

use super::{t, user};
use crate::Ports;

pub async fn roles_replace_grants(p: &Ports) {
    let ada = user(p, "ada").await;
    let admin = user(p, "root").await;
    let ch = p
        .roles
        .replace_grants(
            ada.id,
            GrantOrigin::Manual,
            &[Role::Developer, Role::Qa],
            Some(admin.id),
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(
        (ch.add.as_slice(), ch.remove.as_slice()),
        (&[Role::Developer, Role::Qa][..], &[][..])
    );
    p.roles
        .replace_grants(ada.id, GrantOrigin::Sso, &[Role::Developer], None, t(2))
        .await
        .unwrap();
    let ch = p
        .roles
        .replace_grants(
            ada.id,
            GrantOrigin::Manual,
            &[Role::Developer, Role::Admin],
            Some(admin.id),
            t(3),
        )
        .await
        .unwrap();
    assert_eq!(
        (ch.add.as_slice(), ch.remove.as_slice()),
        (&[Role::Admin][..], &[Role::Qa][..])
    );

    let grants: Vec<_> = p
        .roles
        .grants_for(ada.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.role, g.origin, g.granted_at, g.granted_by))
        .collect();
    assert_eq!(
        grants,
        [
            (Role::Admin, GrantOrigin::Manual, t(3), Some(admin.id)),
            (Role::Developer, GrantOrigin::Sso, t(2), None),
            (Role::Developer, GrantOrigin::Manual, t(1), Some(admin.id)),
        ],
        "ordered by role then origin; unchanged grants keep their time and grantor"
    );
    assert_eq!(
        p.roles.users_with_role(Role::Admin).await.unwrap(),
        [ada.id]
    );
    assert_eq!(
        p.roles.users_with_role(Role::Developer).await.unwrap(),
        [ada.id],
        "listed once"
    );
    p.roles
        .replace_grants(ada.id, GrantOrigin::Sso, &[], None, t(4))
        .await
        .unwrap();
    assert_eq!(
        p.roles.grants_for(ada.id).await.unwrap().len(),
        2,
        "manual grants untouched"
    );
    assert!(matches!(
        p.roles
            .replace_grants(
                UserId::new(),
                GrantOrigin::Manual,
                &[Role::Admin],
                None,
                t(5)
            )
            .await,
        Err(RoleRepoError::UserNotFound)
    ));
    assert!(p.roles.grants_for(UserId::new()).await.unwrap().is_empty());
}

pub async fn roles_group_mappings(p: &Ports) {
    let g = |s: &str| GroupName::parse(s).unwrap();
    let m = |s: &str, r| GroupMapping {
        group: g(s),
        role: r,
    };
    p.roles
        .put_mapping(&m("eng", Role::Developer))
        .await
        .unwrap();
    p.roles
        .put_mapping(&m("eng", Role::Developer))
        .await
        .unwrap();
    p.roles
        .put_mapping(&m("leads", Role::ProjectManager))
        .await
        .unwrap();
    p.roles
        .put_mapping(&m("leads", Role::Developer))
        .await
        .unwrap();
    p.roles
        .put_mapping(&m("admins", Role::Admin))
        .await
        .unwrap();
    assert_eq!(
        p.roles.mappings().await.unwrap(),
        [
            m("admins", Role::Admin),
            m("eng", Role::Developer),
            m("leads", Role::ProjectManager),
            m("leads", Role::Developer)
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        p.roles
            .roles_for_groups(&[g("eng"), g("leads"), g("unknown")])
            .await
            .unwrap(),
        [Role::ProjectManager, Role::Developer]
    );
    assert!(p.roles.roles_for_groups(&[]).await.unwrap().is_empty());
    p.roles
        .delete_mapping(&m("leads", Role::Developer))
        .await
        .unwrap();
    assert!(matches!(
        p.roles.delete_mapping(&m("leads", Role::Developer)).await,
        Err(RoleRepoError::MappingNotFound)
    ));
    assert_eq!(
        p.roles.roles_for_groups(&[g("leads")]).await.unwrap(),
        [Role::ProjectManager]
    );
}

pub async fn roles_user_groups(p: &Ports) {
    let g = |s: &str| GroupName::parse(s).unwrap();
    let ada = user(p, "ada").await;
    let bob = user(p, "bob").await;
    assert!(p.roles.user_groups(ada.id).await.unwrap().is_empty());
    p.roles
        .set_user_groups(ada.id, &[g("eng"), g("Leads"), g("eng")])
        .await
        .unwrap();
    p.roles.set_user_groups(bob.id, &[g("eng")]).await.unwrap();
    assert_eq!(
        p.roles.user_groups(ada.id).await.unwrap(),
        [g("Leads"), g("eng")]
    );
    let mut both = vec![ada.id, bob.id];
    both.sort();
    assert_eq!(p.roles.users_in_group(&g("eng")).await.unwrap(), both);
    assert_eq!(
        p.roles.known_groups().await.unwrap(),
        [(g("Leads"), 1), (g("eng"), 2)]
    );
    // Replacing: what is not listed any more is forgotten.
    p.roles.set_user_groups(ada.id, &[g("qa")]).await.unwrap();
    assert_eq!(p.roles.user_groups(ada.id).await.unwrap(), [g("qa")]);
    assert_eq!(p.roles.users_in_group(&g("eng")).await.unwrap(), [bob.id]);
    assert!(
        p.roles
            .users_in_group(&g("Leads"))
            .await
            .unwrap()
            .is_empty()
    );
    p.roles.set_user_groups(bob.id, &[]).await.unwrap();
    assert!(p.roles.user_groups(bob.id).await.unwrap().is_empty());
    assert!(matches!(
        p.roles.set_user_groups(UserId::new(), &[g("eng")]).await,
        Err(RoleRepoError::UserNotFound)
    ));
    assert!(p.roles.user_groups(UserId::new()).await.unwrap().is_empty());
}
