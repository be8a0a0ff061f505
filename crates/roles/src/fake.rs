//! In-memory [`RoleRepository`], reading users from a [`FakeUsers`] to honour `UserNotFound`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::UserId;
use planpush_identity::fake::FakeUsers;

use crate::*;

type State = (
    Vec<Grant>,
    BTreeSet<GroupMapping>,
    BTreeSet<(UserId, GroupName)>,
);

pub struct FakeRoles {
    users: Arc<FakeUsers>,
    inner: Mutex<State>,
}

impl FakeRoles {
    pub fn new(users: Arc<FakeUsers>) -> Self {
        Self {
            users,
            inner: Mutex::default(),
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl RoleRepository for FakeRoles {
    async fn grants_for(&self, user_id: UserId) -> Result<Vec<Grant>, RoleRepoError> {
        let mut v: Vec<_> = self
            .lock()
            .0
            .iter()
            .filter(|g| g.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by_key(|g| (g.role, g.origin));
        Ok(v)
    }
    async fn replace_grants(
        &self,
        user_id: UserId,
        origin: GrantOrigin,
        roles: &[Role],
        granted_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<GrantChanges, RoleRepoError> {
        if !self.users.contains(user_id) {
            return Err(RoleRepoError::UserNotFound);
        }
        let mut g = self.lock();
        let want: BTreeSet<Role> = roles.iter().copied().collect();
        let have: BTreeSet<Role> =
            g.0.iter()
                .filter(|x| x.user_id == user_id && x.origin == origin)
                .map(|x| x.role)
                .collect();
        let changes = GrantChanges {
            add: want.difference(&have).copied().collect(),
            remove: have.difference(&want).copied().collect(),
        };
        g.0.retain(|x| {
            !(x.user_id == user_id && x.origin == origin && changes.remove.contains(&x.role))
        });
        for role in &changes.add {
            g.0.push(Grant {
                user_id,
                role: *role,
                origin,
                granted_at: now,
                granted_by,
            });
        }
        Ok(changes)
    }
    async fn users_with_role(&self, role: Role) -> Result<Vec<UserId>, RoleRepoError> {
        let ids: BTreeSet<UserId> = self
            .lock()
            .0
            .iter()
            .filter(|g| g.role == role)
            .map(|g| g.user_id)
            .collect();
        Ok(ids.into_iter().collect())
    }
    async fn mappings(&self) -> Result<Vec<GroupMapping>, RoleRepoError> {
        Ok(self.lock().1.iter().cloned().collect())
    }
    async fn put_mapping(&self, mapping: &GroupMapping) -> Result<(), RoleRepoError> {
        self.lock().1.insert(mapping.clone());
        Ok(())
    }
    async fn delete_mapping(&self, mapping: &GroupMapping) -> Result<(), RoleRepoError> {
        if self.lock().1.remove(mapping) {
            Ok(())
        } else {
            Err(RoleRepoError::MappingNotFound)
        }
    }
    async fn roles_for_groups(&self, groups: &[GroupName]) -> Result<Vec<Role>, RoleRepoError> {
        let roles: BTreeSet<Role> = self
            .lock()
            .1
            .iter()
            .filter(|m| groups.contains(&m.group))
            .map(|m| m.role)
            .collect();
        Ok(roles.into_iter().collect())
    }
    async fn set_user_groups(
        &self,
        user_id: UserId,
        groups: &[GroupName],
    ) -> Result<(), RoleRepoError> {
        if !self.users.contains(user_id) {
            return Err(RoleRepoError::UserNotFound);
        }
        let mut g = self.lock();
        g.2.retain(|(u, _)| *u != user_id);
        for group in groups {
            g.2.insert((user_id, group.clone()));
        }
        Ok(())
    }
    async fn user_groups(&self, user_id: UserId) -> Result<Vec<GroupName>, RoleRepoError> {
        Ok(self
            .lock()
            .2
            .iter()
            .filter(|(u, _)| *u == user_id)
            .map(|(_, g)| g.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect())
    }
    async fn users_in_group(&self, group: &GroupName) -> Result<Vec<UserId>, RoleRepoError> {
        Ok(self
            .lock()
            .2
            .iter()
            .filter(|(_, g)| g == group)
            .map(|(u, _)| *u)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect())
    }
    async fn known_groups(&self) -> Result<Vec<(GroupName, u64)>, RoleRepoError> {
        let mut counts: std::collections::BTreeMap<GroupName, u64> = Default::default();
        for (_, g) in &self.lock().2 {
            *counts.entry(g.clone()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }
}
