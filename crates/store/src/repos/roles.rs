use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_identity::UserId;
use planpush_roles::{
    Grant, GrantChanges, GrantOrigin, GroupMapping, GroupName, Role, RoleRepoError, RoleRepository,
};

use crate::Store;
use crate::dialect::{on_backend, write_tx};
use crate::rows::{corrupt, db, ts, utc, uuid};
use crate::schema::{group_mappings as m, role_grants as g, user_groups as ug, users};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = g)]
struct GrantRow {
    user_id: String,
    role: String,
    origin: String,
    granted_at: NaiveDateTime,
    granted_by: Option<String>,
}

fn role(s: &str) -> anyhow::Result<Role> {
    s.parse().map_err(|e| corrupt("role", e))
}

impl TryFrom<GrantRow> for Grant {
    type Error = anyhow::Error;
    fn try_from(r: GrantRow) -> anyhow::Result<Self> {
        Ok(Grant {
            user_id: UserId::from_uuid(uuid(&r.user_id)?),
            role: role(&r.role)?,
            origin: GrantOrigin::parse(&r.origin).map_err(|e| corrupt("grant origin", e))?,
            granted_at: utc(r.granted_at),
            granted_by: r
                .granted_by
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(UserId::from_uuid),
        })
    }
}

#[async_trait]
impl RoleRepository for Store {
    async fn grants_for(&self, user_id: UserId) -> Result<Vec<Grant>, RoleRepoError> {
        self.run(move |conn| {
            let rows: Vec<GrantRow> = g::table
                .filter(g::user_id.eq(user_id.to_string()))
                .select(GrantRow::as_select())
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            let mut grants = rows
                .into_iter()
                .map(Grant::try_from)
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RoleRepoError::Unknown)?;
            grants.sort_by_key(|g| (g.role, g.origin));
            Ok(grants)
        })
        .await
    }

    async fn replace_grants(
        &self,
        user_id: UserId,
        origin: GrantOrigin,
        roles: &[Role],
        granted_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<GrantChanges, RoleRepoError> {
        let want: BTreeSet<Role> = roles.iter().copied().collect();
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let uid = user_id.to_string();
                let exists: i64 = users::table
                    .filter(users::id.eq(&uid))
                    .count()
                    .get_result(conn)
                    .map_err(db::<RoleRepoError>)?;
                if exists == 0 {
                    return Err(RoleRepoError::UserNotFound);
                }
                let have: Vec<String> = g::table
                    .filter(g::user_id.eq(&uid).and(g::origin.eq(origin.as_str())))
                    .select(g::role)
                    .load(conn)
                    .map_err(db::<RoleRepoError>)?;
                let have: BTreeSet<Role> = have
                    .iter()
                    .map(|r| role(r))
                    .collect::<anyhow::Result<_>>()
                    .map_err(RoleRepoError::Unknown)?;
                let changes = GrantChanges {
                    add: want.difference(&have).copied().collect(),
                    remove: have.difference(&want).copied().collect(),
                };
                for r in &changes.remove {
                    diesel::delete(
                        g::table.filter(
                            g::user_id
                                .eq(&uid)
                                .and(g::origin.eq(origin.as_str()))
                                .and(g::role.eq(r.as_str())),
                        ),
                    )
                    .execute(conn)
                    .map_err(db::<RoleRepoError>)?;
                }
                for r in &changes.add {
                    let row = GrantRow {
                        user_id: uid.clone(),
                        role: r.as_str().to_owned(),
                        origin: origin.as_str().to_owned(),
                        granted_at: ts(now),
                        granted_by: granted_by.map(|u| u.to_string()),
                    };
                    diesel::insert_into(g::table)
                        .values(&row)
                        .execute(conn)
                        .map_err(db::<RoleRepoError>)?;
                }
                Ok(changes)
            })
        })
        .await
    }

    async fn users_with_role(&self, r: Role) -> Result<Vec<UserId>, RoleRepoError> {
        self.run(move |conn| {
            let ids: Vec<String> = g::table
                .filter(g::role.eq(r.as_str()))
                .select(g::user_id)
                .distinct()
                .order(g::user_id)
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            let mut ids = ids
                .iter()
                .map(|s| uuid(s).map(UserId::from_uuid))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RoleRepoError::Unknown)?;
            ids.sort();
            Ok(ids)
        })
        .await
    }

    async fn mappings(&self) -> Result<Vec<GroupMapping>, RoleRepoError> {
        self.run(move |conn| {
            let rows: Vec<(String, String)> = m::table
                .select((m::group_name, m::role))
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            let mut out = rows
                .into_iter()
                .map(|(group, r)| {
                    Ok(GroupMapping {
                        group: GroupName::parse(&group).map_err(|e| corrupt("group", e))?,
                        role: role(&r)?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RoleRepoError::Unknown)?;
            out.sort();
            Ok(out)
        })
        .await
    }

    async fn put_mapping(&self, mapping: &GroupMapping) -> Result<(), RoleRepoError> {
        let (group, r) = (mapping.group.as_str().to_owned(), mapping.role.as_str());
        self.run(move |conn| {
            let values = (m::group_name.eq(&group), m::role.eq(r));
            on_backend!(conn, |c| diesel::insert_into(m::table)
                .values(values)
                .on_conflict_do_nothing()
                .execute(c))
            .map(|_| ())
            .map_err(db::<RoleRepoError>)
        })
        .await
    }

    async fn delete_mapping(&self, mapping: &GroupMapping) -> Result<(), RoleRepoError> {
        let (group, r) = (mapping.group.as_str().to_owned(), mapping.role.as_str());
        self.run(move |conn| {
            let n = diesel::delete(m::table.filter(m::group_name.eq(group).and(m::role.eq(r))))
                .execute(conn)
                .map_err(db::<RoleRepoError>)?;
            if n == 0 {
                Err(RoleRepoError::MappingNotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn roles_for_groups(&self, groups: &[GroupName]) -> Result<Vec<Role>, RoleRepoError> {
        let groups: Vec<String> = groups.iter().map(|g| g.as_str().to_owned()).collect();
        self.run(move |conn| {
            if groups.is_empty() {
                return Ok(vec![]);
            }
            let rows: Vec<String> = m::table
                .filter(m::group_name.eq_any(&groups))
                .select(m::role)
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            let set: BTreeSet<Role> = rows
                .iter()
                .map(|r| role(r))
                .collect::<anyhow::Result<_>>()
                .map_err(RoleRepoError::Unknown)?;
            Ok(set.into_iter().collect())
        })
        .await
    }

    async fn set_user_groups(
        &self,
        user_id: UserId,
        groups: &[GroupName],
    ) -> Result<(), RoleRepoError> {
        let groups: BTreeSet<String> = groups.iter().map(|g| g.as_str().to_owned()).collect();
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let uid = user_id.to_string();
                let exists: i64 = users::table
                    .filter(users::id.eq(&uid))
                    .count()
                    .get_result(conn)
                    .map_err(db::<RoleRepoError>)?;
                if exists == 0 {
                    return Err(RoleRepoError::UserNotFound);
                }
                diesel::delete(ug::table.filter(ug::user_id.eq(&uid)))
                    .execute(conn)
                    .map_err(db::<RoleRepoError>)?;
                for group in &groups {
                    diesel::insert_into(ug::table)
                        .values((ug::user_id.eq(&uid), ug::group_name.eq(group)))
                        .execute(conn)
                        .map_err(db::<RoleRepoError>)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn user_groups(&self, user_id: UserId) -> Result<Vec<GroupName>, RoleRepoError> {
        self.run(move |conn| {
            let rows: Vec<String> = ug::table
                .filter(ug::user_id.eq(user_id.to_string()))
                .select(ug::group_name)
                .order(ug::group_name)
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            rows.iter()
                .map(|g| GroupName::parse(g).map_err(|e| corrupt("group", e)))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RoleRepoError::Unknown)
        })
        .await
    }

    async fn users_in_group(&self, group: &GroupName) -> Result<Vec<UserId>, RoleRepoError> {
        let group = group.as_str().to_owned();
        self.run(move |conn| {
            let ids: Vec<String> = ug::table
                .filter(ug::group_name.eq(&group))
                .select(ug::user_id)
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            let mut ids = ids
                .iter()
                .map(|s| uuid(s).map(UserId::from_uuid))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RoleRepoError::Unknown)?;
            ids.sort();
            Ok(ids)
        })
        .await
    }

    async fn known_groups(&self) -> Result<Vec<(GroupName, u64)>, RoleRepoError> {
        self.run(move |conn| {
            let rows: Vec<(String, i64)> = ug::table
                .group_by(ug::group_name)
                .select((ug::group_name, diesel::dsl::count_star()))
                .order(ug::group_name)
                .load(conn)
                .map_err(db::<RoleRepoError>)?;
            rows.into_iter()
                .map(|(g, n)| {
                    Ok((
                        GroupName::parse(&g).map_err(|e| corrupt("group", e))?,
                        u64::try_from(n).unwrap_or_default(),
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RoleRepoError::Unknown)
        })
        .await
    }
}
