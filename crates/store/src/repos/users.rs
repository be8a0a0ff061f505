use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use planpush_identity::{Email, ExternalIdentity, User, UserId, UserRepoError, UserRepository};

use crate::Store;
use crate::dialect::{is_unique_violation, write_tx};
use crate::rows::{corrupt, count, db, ots, outc, ts, utc, uuid};
use crate::schema::{identities, users};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub(crate) struct UserRow {
    id: String,
    login: String,
    name: Option<String>,
    email: Option<String>,
    avatar_url: Option<String>,
    created_at: NaiveDateTime,
    last_login_at: Option<NaiveDateTime>,
    deactivated_at: Option<NaiveDateTime>,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            login: u.login.clone(),
            name: u.name.clone(),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            avatar_url: u.avatar_url.clone(),
            created_at: ts(u.created_at),
            last_login_at: ots(u.last_login_at),
            deactivated_at: ots(u.deactivated_at),
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = anyhow::Error;
    fn try_from(r: UserRow) -> anyhow::Result<Self> {
        Ok(User {
            id: UserId::from_uuid(uuid(&r.id)?),
            login: r.login,
            name: r.name,
            email: r
                .email
                .map(|e| Email::parse(&e))
                .transpose()
                .map_err(|e| corrupt("e-mail", e))?,
            avatar_url: r.avatar_url,
            created_at: utc(r.created_at),
            last_login_at: outc(r.last_login_at),
            deactivated_at: outc(r.deactivated_at),
        })
    }
}

fn insert_identity(
    conn: &mut crate::DbConnection,
    user_id: &str,
    identity: &ExternalIdentity,
    now: NaiveDateTime,
) -> Result<(), UserRepoError> {
    diesel::insert_into(identities::table)
        .values((
            identities::provider.eq(identity.provider().key()),
            identities::subject.eq(identity.subject()),
            identities::user_id.eq(user_id),
            identities::created_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                UserRepoError::IdentityTaken
            } else {
                db(e)
            }
        })?;
    Ok(())
}

#[async_trait]
impl UserRepository for Store {
    async fn create(&self, user: &User, identity: &ExternalIdentity) -> Result<(), UserRepoError> {
        let row = UserRow::from(user);
        let identity = identity.clone();
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let now = row.created_at;
                let id = row.id.clone();
                diesel::insert_into(users::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(db::<UserRepoError>)?;
                insert_identity(conn, &id, &identity, now)
            })
        })
        .await
    }

    async fn link_identity(
        &self,
        user_id: UserId,
        identity: &ExternalIdentity,
    ) -> Result<(), UserRepoError> {
        let identity = identity.clone();
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let created: Option<NaiveDateTime> = users::table
                    .find(user_id.to_string())
                    .select(users::created_at)
                    .first(conn)
                    .optional()
                    .map_err(db::<UserRepoError>)?;
                let now = created.ok_or(UserRepoError::NotFound)?;
                insert_identity(conn, &user_id.to_string(), &identity, now)
            })
        })
        .await
    }

    async fn find_by_identity(
        &self,
        identity: &ExternalIdentity,
    ) -> Result<Option<User>, UserRepoError> {
        let (provider, subject) = (identity.provider().key(), identity.subject().to_owned());
        self.run(move |conn| {
            let row: Option<UserRow> = users::table
                .inner_join(identities::table)
                .filter(
                    identities::provider
                        .eq(provider)
                        .and(identities::subject.eq(subject)),
                )
                .select(UserRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<UserRepoError>)?;
            row.map(User::try_from)
                .transpose()
                .map_err(UserRepoError::Unknown)
        })
        .await
    }

    async fn get(&self, id: UserId) -> Result<User, UserRepoError> {
        self.run(move |conn| {
            let row: Option<UserRow> = users::table
                .find(id.to_string())
                .select(UserRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<UserRepoError>)?;
            User::try_from(row.ok_or(UserRepoError::NotFound)?).map_err(UserRepoError::Unknown)
        })
        .await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Vec<User>, UserRepoError> {
        let email = email.as_str().to_owned();
        self.run(move |conn| {
            let rows: Vec<UserRow> = users::table
                .filter(users::email.eq(email))
                .order((users::created_at, users::id))
                .select(UserRow::as_select())
                .load(conn)
                .map_err(db::<UserRepoError>)?;
            rows.into_iter()
                .map(User::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(UserRepoError::Unknown)
        })
        .await
    }

    async fn update(&self, user: &User) -> Result<(), UserRepoError> {
        let row = UserRow::from(user);
        self.run(move |conn| {
            let n = diesel::update(users::table.find(row.id.clone()))
                .set(&row)
                .execute(conn)
                .map_err(db::<UserRepoError>)?;
            if n == 0 {
                Err(UserRepoError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn list(&self) -> Result<Vec<User>, UserRepoError> {
        self.run(move |conn| {
            let rows: Vec<UserRow> = users::table
                .order((users::created_at, users::id))
                .select(UserRow::as_select())
                .load(conn)
                .map_err(db::<UserRepoError>)?;
            rows.into_iter()
                .map(User::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(UserRepoError::Unknown)
        })
        .await
    }

    async fn count(&self) -> Result<u64, UserRepoError> {
        self.run(move |conn| {
            let n: i64 = users::table
                .count()
                .get_result(conn)
                .map_err(db::<UserRepoError>)?;
            Ok(count(usize::try_from(n).unwrap_or(0)))
        })
        .await
    }
}
