//! [`ScimRepository`]: SCIM records beside user rows, groups and memberships.

use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_app::{ScimGroup, ScimGroupId, ScimRepoError, ScimRepository, ScimUser};
use planpush_identity::{User, UserId};
use serde_json::{Map, Value};

use crate::DbConnection;
use crate::Store;
use crate::dialect::{is_unique_violation, write_tx};
use crate::repos::users::UserRow;
use crate::rows::{corrupt, db, ots, outc, ts, utc, uuid};
use crate::schema::{scim_group_members as gm, scim_groups as sg, scim_users as su, users};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = su, treat_none_as_null = true)]
struct UserRecordRow {
    user_id: String,
    user_name: String,
    user_name_key: String,
    external_id: Option<String>,
    resource: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    deleted_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sg, treat_none_as_null = true)]
struct GroupRow {
    id: String,
    display_name: String,
    display_name_key: String,
    external_id: Option<String>,
    resource: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    version: i64,
}

fn key(s: &str) -> String {
    s.to_lowercase()
}

fn json_text(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}

fn json_map(s: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(corrupt("SCIM resource", "not an object")),
        Err(e) => Err(corrupt("SCIM resource", e)),
    }
}

impl From<&ScimUser> for UserRecordRow {
    fn from(r: &ScimUser) -> Self {
        Self {
            user_id: r.user_id.to_string(),
            user_name: r.user_name.clone(),
            user_name_key: key(&r.user_name),
            external_id: r.external_id.clone(),
            resource: json_text(&r.resource),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
            deleted_at: ots(r.deleted_at),
        }
    }
}

impl TryFrom<UserRecordRow> for ScimUser {
    type Error = anyhow::Error;
    fn try_from(r: UserRecordRow) -> anyhow::Result<Self> {
        Ok(ScimUser {
            user_id: UserId::from_uuid(uuid(&r.user_id)?),
            user_name: r.user_name,
            external_id: r.external_id,
            resource: json_map(&r.resource)?,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            deleted_at: outc(r.deleted_at),
        })
    }
}

fn group_row(g: &ScimGroup) -> GroupRow {
    GroupRow {
        id: g.id.to_string(),
        display_name: g.display_name.clone(),
        display_name_key: key(&g.display_name),
        external_id: g.external_id.clone(),
        resource: json_text(&g.resource),
        created_at: ts(g.created_at),
        updated_at: ts(g.updated_at),
        version: g.version,
    }
}

fn unique(e: diesel::result::Error, taken: ScimRepoError) -> ScimRepoError {
    if is_unique_violation(&e) {
        taken
    } else {
        db(e)
    }
}

fn name_taken(conn: &mut DbConnection, me: &str, name: &str) -> Result<bool, ScimRepoError> {
    let n: i64 = su::table
        .filter(su::user_name_key.eq(key(name)).and(su::user_id.ne(me)))
        .count()
        .get_result(conn)
        .map_err(db::<ScimRepoError>)?;
    Ok(n > 0)
}

fn user_exists(conn: &mut DbConnection, id: &str) -> Result<bool, ScimRepoError> {
    let n: i64 = users::table
        .filter(users::id.eq(id))
        .count()
        .get_result(conn)
        .map_err(db::<ScimRepoError>)?;
    Ok(n > 0)
}

fn load_members(conn: &mut DbConnection, group: &str) -> Result<Vec<UserId>, ScimRepoError> {
    let ids: Vec<String> = gm::table
        .filter(gm::group_id.eq(group))
        .order(gm::position)
        .select(gm::user_id)
        .load(conn)
        .map_err(db::<ScimRepoError>)?;
    ids.iter()
        .map(|s| uuid(s).map(UserId::from_uuid))
        .collect::<anyhow::Result<_>>()
        .map_err(ScimRepoError::Unknown)
}

fn to_group(r: GroupRow, members: Vec<UserId>) -> Result<ScimGroup, ScimRepoError> {
    Ok(ScimGroup {
        id: ScimGroupId::from_uuid(uuid(&r.id)?),
        display_name: r.display_name,
        external_id: r.external_id,
        resource: json_map(&r.resource)?,
        members,
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
        version: r.version,
    })
}

/// Checks and writes a group's row and members (inside a transaction).
fn write_group(conn: &mut DbConnection, g: &ScimGroup, insert: bool) -> Result<(), ScimRepoError> {
    let id = g.id.to_string();
    let clash: i64 = sg::table
        .filter(
            sg::display_name_key
                .eq(key(&g.display_name))
                .and(sg::id.ne(&id)),
        )
        .count()
        .get_result(conn)
        .map_err(db::<ScimRepoError>)?;
    if clash > 0 {
        return Err(ScimRepoError::DisplayNameTaken);
    }
    for m in &g.members {
        if !user_exists(conn, &m.to_string())? {
            return Err(ScimRepoError::UnknownMember(*m));
        }
    }
    let row = group_row(g);
    if insert {
        diesel::insert_into(sg::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| unique(e, ScimRepoError::DisplayNameTaken))?;
    } else {
        let n = diesel::update(sg::table.filter(sg::id.eq(&id).and(sg::version.eq(g.version))))
            .set((
                sg::display_name.eq(&row.display_name),
                sg::display_name_key.eq(&row.display_name_key),
                sg::external_id.eq(&row.external_id),
                sg::resource.eq(&row.resource),
                sg::updated_at.eq(row.updated_at),
                sg::version.eq(g.version + 1),
            ))
            .execute(conn)
            .map_err(|e| unique(e, ScimRepoError::DisplayNameTaken))?;
        if n == 0 {
            let exists: i64 = sg::table
                .filter(sg::id.eq(&id))
                .count()
                .get_result(conn)
                .map_err(db::<ScimRepoError>)?;
            return Err(if exists == 0 {
                ScimRepoError::NotFound
            } else {
                ScimRepoError::Conflict
            });
        }
        diesel::delete(gm::table.filter(gm::group_id.eq(&id)))
            .execute(conn)
            .map_err(db::<ScimRepoError>)?;
    }
    for (i, m) in g.members.iter().enumerate() {
        diesel::insert_into(gm::table)
            .values((
                gm::group_id.eq(&id),
                gm::user_id.eq(m.to_string()),
                gm::position.eq(i64::try_from(i).unwrap_or(i64::MAX)),
            ))
            .execute(conn)
            .map_err(db::<ScimRepoError>)?;
    }
    Ok(())
}

#[async_trait]
impl ScimRepository for Store {
    async fn create_user(&self, user: &User, record: &ScimUser) -> Result<(), ScimRepoError> {
        let user = UserRow::from(user);
        let row = UserRecordRow::from(record);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                if name_taken(conn, &row.user_id, &row.user_name)? {
                    return Err(ScimRepoError::UserNameTaken);
                }
                diesel::insert_into(users::table)
                    .values(&user)
                    .execute(conn)
                    .map_err(db::<ScimRepoError>)?;
                diesel::insert_into(su::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| unique(e, ScimRepoError::UserNameTaken))?;
                Ok(())
            })
        })
        .await
    }

    async fn adopt_user(&self, record: &ScimUser) -> Result<(), ScimRepoError> {
        let row = UserRecordRow::from(record);
        self.run(move |conn| {
            write_tx(conn, |conn| {
                if !user_exists(conn, &row.user_id)? {
                    return Err(ScimRepoError::NotFound);
                }
                let has: i64 = su::table
                    .filter(su::user_id.eq(&row.user_id))
                    .count()
                    .get_result(conn)
                    .map_err(db::<ScimRepoError>)?;
                if has > 0 {
                    return Err(ScimRepoError::AlreadyProvisioned);
                }
                if name_taken(conn, &row.user_id, &row.user_name)? {
                    return Err(ScimRepoError::UserNameTaken);
                }
                diesel::insert_into(su::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| unique(e, ScimRepoError::UserNameTaken))?;
                Ok(())
            })
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> Result<ScimUser, ScimRepoError> {
        self.run(move |conn| {
            let row: Option<UserRecordRow> = su::table
                .filter(su::user_id.eq(id.to_string()))
                .select(UserRecordRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<ScimRepoError>)?;
            row.ok_or(ScimRepoError::NotFound)?
                .try_into()
                .map_err(ScimRepoError::Unknown)
        })
        .await
    }

    async fn find_user_by_name(&self, user_name: &str) -> Result<Option<ScimUser>, ScimRepoError> {
        let k = key(user_name);
        self.run(move |conn| {
            let row: Option<UserRecordRow> = su::table
                .filter(su::user_name_key.eq(k))
                .select(UserRecordRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<ScimRepoError>)?;
            row.map(ScimUser::try_from)
                .transpose()
                .map_err(ScimRepoError::Unknown)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<ScimUser>, ScimRepoError> {
        self.run(move |conn| {
            let rows: Vec<UserRecordRow> = su::table
                .filter(su::deleted_at.is_null())
                .order((su::created_at, su::user_id))
                .select(UserRecordRow::as_select())
                .load(conn)
                .map_err(db::<ScimRepoError>)?;
            rows.into_iter()
                .map(ScimUser::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(ScimRepoError::Unknown)
        })
        .await
    }

    async fn update_user(&self, user: &User, record: &ScimUser) -> Result<(), ScimRepoError> {
        let row = UserRecordRow::from(record);
        let (login, name, email) = (
            user.login.clone(),
            user.name.clone(),
            user.email.as_ref().map(|e| e.as_str().to_owned()),
        );
        self.run(move |conn| {
            write_tx(conn, |conn| {
                if name_taken(conn, &row.user_id, &row.user_name)? {
                    return Err(ScimRepoError::UserNameTaken);
                }
                let n = diesel::update(su::table.filter(su::user_id.eq(&row.user_id)))
                    .set(&row)
                    .execute(conn)
                    .map_err(|e| unique(e, ScimRepoError::UserNameTaken))?;
                if n == 0 {
                    return Err(ScimRepoError::NotFound);
                }
                diesel::update(users::table.filter(users::id.eq(&row.user_id)))
                    .set((
                        users::login.eq(login),
                        users::name.eq(name),
                        users::email.eq(email),
                    ))
                    .execute(conn)
                    .map_err(db::<ScimRepoError>)?;
                Ok(())
            })
        })
        .await
    }

    async fn create_group(&self, group: &ScimGroup) -> Result<(), ScimRepoError> {
        let g = group.clone();
        self.run(move |conn| write_tx(conn, |conn| write_group(conn, &g, true)))
            .await
    }

    async fn get_group(&self, id: ScimGroupId) -> Result<ScimGroup, ScimRepoError> {
        self.run(move |conn| {
            let id = id.to_string();
            let row: Option<GroupRow> = sg::table
                .filter(sg::id.eq(&id))
                .select(GroupRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<ScimRepoError>)?;
            let row = row.ok_or(ScimRepoError::NotFound)?;
            let members = load_members(conn, &id)?;
            to_group(row, members)
        })
        .await
    }

    async fn list_groups(&self) -> Result<Vec<ScimGroup>, ScimRepoError> {
        self.run(move |conn| {
            let rows: Vec<GroupRow> = sg::table
                .order((sg::created_at, sg::id))
                .select(GroupRow::as_select())
                .load(conn)
                .map_err(db::<ScimRepoError>)?;
            let all: Vec<(String, String, i64)> = gm::table
                .order((gm::group_id, gm::position))
                .select((gm::group_id, gm::user_id, gm::position))
                .load(conn)
                .map_err(db::<ScimRepoError>)?;
            let mut by_group: std::collections::HashMap<String, Vec<UserId>> = Default::default();
            for (g, u, _) in all {
                by_group
                    .entry(g)
                    .or_default()
                    .push(UserId::from_uuid(uuid(&u)?));
            }
            rows.into_iter()
                .map(|r| {
                    let members = by_group.remove(&r.id).unwrap_or_default();
                    to_group(r, members)
                })
                .collect()
        })
        .await
    }

    async fn update_group(&self, group: &ScimGroup) -> Result<(), ScimRepoError> {
        let g = group.clone();
        self.run(move |conn| write_tx(conn, |conn| write_group(conn, &g, false)))
            .await
    }

    async fn delete_group(&self, id: ScimGroupId) -> Result<(), ScimRepoError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let id = id.to_string();
                diesel::delete(gm::table.filter(gm::group_id.eq(&id)))
                    .execute(conn)
                    .map_err(db::<ScimRepoError>)?;
                let n = diesel::delete(sg::table.filter(sg::id.eq(&id)))
                    .execute(conn)
                    .map_err(db::<ScimRepoError>)?;
                if n == 0 {
                    return Err(ScimRepoError::NotFound);
                }
                Ok(())
            })
        })
        .await
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<(ScimGroupId, String)>, ScimRepoError> {
        self.run(move |conn| {
            let ids: Vec<String> = gm::table
                .filter(gm::user_id.eq(user.to_string()))
                .select(gm::group_id)
                .load(conn)
                .map_err(db::<ScimRepoError>)?;
            if ids.is_empty() {
                return Ok(vec![]);
            }
            let rows: Vec<(String, String)> = sg::table
                .filter(sg::id.eq_any(ids))
                .order(sg::display_name)
                .select((sg::id, sg::display_name))
                .load(conn)
                .map_err(db::<ScimRepoError>)?;
            rows.into_iter()
                .map(|(id, name)| Ok((ScimGroupId::from_uuid(uuid(&id)?), name)))
                .collect::<anyhow::Result<_>>()
                .map_err(ScimRepoError::Unknown)
        })
        .await
    }

    async fn provisioned(&self) -> Result<Vec<UserId>, ScimRepoError> {
        self.run(move |conn| {
            let ids: Vec<String> = su::table
                .select(su::user_id)
                .load(conn)
                .map_err(db::<ScimRepoError>)?;
            ids.iter()
                .map(|s| uuid(s).map(UserId::from_uuid))
                .collect::<anyhow::Result<_>>()
                .map_err(ScimRepoError::Unknown)
        })
        .await
    }
}
