use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planpush_identity::{
    ApiToken, FamilyId, TokenHash, TokenId, TokenKind, TokenRepoError, TokenRepository, UserId,
};

use crate::dialect::write_tx;
use crate::rows::{corrupt, count, db, ots, outc, ts, utc, uuid};
use crate::schema::api_tokens as t;
use crate::{DbConnection, Store};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
struct TokenRow {
    id: String,
    user_id: String,
    family_id: String,
    kind: String,
    token_hash: String,
    label: Option<String>,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

impl From<&ApiToken> for TokenRow {
    fn from(k: &ApiToken) -> Self {
        Self {
            id: k.id.to_string(),
            user_id: k.user_id.to_string(),
            family_id: k.family_id.to_string(),
            kind: k.kind.as_str().to_owned(),
            token_hash: k.hash.to_hex(),
            label: k.label.clone(),
            created_at: ts(k.created_at),
            expires_at: ots(k.expires_at),
            last_used_at: ots(k.last_used_at),
            used_at: ots(k.used_at),
            revoked_at: ots(k.revoked_at),
        }
    }
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = anyhow::Error;
    fn try_from(r: TokenRow) -> anyhow::Result<Self> {
        Ok(ApiToken {
            id: TokenId::from_uuid(uuid(&r.id)?),
            user_id: UserId::from_uuid(uuid(&r.user_id)?),
            family_id: FamilyId::from_uuid(uuid(&r.family_id)?),
            kind: TokenKind::parse(&r.kind).map_err(|e| corrupt("token kind", e))?,
            hash: TokenHash::from_hex(&r.token_hash).map_err(|e| corrupt("token hash", e))?,
            label: r.label,
            created_at: utc(r.created_at),
            expires_at: outc(r.expires_at),
            last_used_at: outc(r.last_used_at),
            used_at: outc(r.used_at),
            revoked_at: outc(r.revoked_at),
        })
    }
}

/// How many times a revocation re-runs to catch successors of rotations racing it. Each rotation
/// that commits meanwhile adds live rows at most once per rotated token, and a rotated token's
/// successor can only be rotated after the revocation's first statement (which it would then see).
const SETTLE_ROUNDS: usize = 4;

fn load(conn: &mut DbConnection, id: &str) -> Result<Option<ApiToken>, TokenRepoError> {
    let row: Option<TokenRow> = t::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
        .map_err(db::<TokenRepoError>)?;
    row.map(ApiToken::try_from)
        .transpose()
        .map_err(TokenRepoError::Unknown)
}

fn found(n: usize) -> Result<(), TokenRepoError> {
    if n == 0 {
        Err(TokenRepoError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait]
impl TokenRepository for Store {
    async fn insert(&self, token: &ApiToken) -> Result<(), TokenRepoError> {
        let row = TokenRow::from(token);
        self.run(move |conn| {
            diesel::insert_into(t::table)
                .values(&row)
                .execute(conn)
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>, TokenRepoError> {
        let hex = hash.to_hex();
        self.run(move |conn| {
            let row: Option<TokenRow> = t::table
                .filter(t::token_hash.eq(hex))
                .select(TokenRow::as_select())
                .first(conn)
                .optional()
                .map_err(db::<TokenRepoError>)?;
            row.map(ApiToken::try_from)
                .transpose()
                .map_err(TokenRepoError::Unknown)
        })
        .await
    }

    async fn get(&self, id: TokenId) -> Result<ApiToken, TokenRepoError> {
        self.run(move |conn| load(conn, &id.to_string())?.ok_or(TokenRepoError::NotFound))
            .await
    }

    async fn list_for_user(
        &self,
        user_id: UserId,
        kind: TokenKind,
    ) -> Result<Vec<ApiToken>, TokenRepoError> {
        self.run(move |conn| {
            let rows: Vec<TokenRow> = t::table
                .filter(
                    t::user_id
                        .eq(user_id.to_string())
                        .and(t::kind.eq(kind.as_str())),
                )
                .order((t::created_at.desc(), t::id.desc()))
                .select(TokenRow::as_select())
                .load(conn)
                .map_err(db::<TokenRepoError>)?;
            rows.into_iter()
                .map(ApiToken::try_from)
                .collect::<anyhow::Result<_>>()
                .map_err(TokenRepoError::Unknown)
        })
        .await
    }

    async fn touch(&self, id: TokenId, now: DateTime<Utc>) -> Result<(), TokenRepoError> {
        self.run(move |conn| {
            found(
                diesel::update(t::table.find(id.to_string()))
                    .set(t::last_used_at.eq(ts(now)))
                    .execute(conn)
                    .map_err(db::<TokenRepoError>)?,
            )
        })
        .await
    }

    async fn rotate(
        &self,
        used: TokenId,
        successors: &[ApiToken],
        now: DateTime<Utc>,
    ) -> Result<(), TokenRepoError> {
        let rows: Vec<TokenRow> = successors.iter().map(TokenRow::from).collect();
        self.run(move |conn| {
            write_tx(conn, |conn| {
                // Compare-and-set: only the first exchange of a token nobody revoked marks it
                // used. On PostgreSQL a concurrent revocation holds the row lock; this update
                // waits for it and re-checks `revoked_at`, so a revoked family gets no successor.
                let n = diesel::update(
                    t::table
                        .find(used.to_string())
                        .filter(t::used_at.is_null().and(t::revoked_at.is_null())),
                )
                .set(t::used_at.eq(ts(now)))
                .execute(conn)
                .map_err(db::<TokenRepoError>)?;
                if n == 0 {
                    return Err(match load(conn, &used.to_string())? {
                        Some(t) if t.revoked_at.is_some() => TokenRepoError::Revoked,
                        Some(_) => TokenRepoError::AlreadyUsed,
                        None => TokenRepoError::NotFound,
                    });
                }
                for row in &rows {
                    diesel::insert_into(t::table)
                        .values(row)
                        .execute(conn)
                        .map_err(db::<TokenRepoError>)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn revoke(&self, id: TokenId, now: DateTime<Utc>) -> Result<(), TokenRepoError> {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                load(conn, &id.to_string())?.ok_or(TokenRepoError::NotFound)?;
                diesel::update(
                    t::table
                        .find(id.to_string())
                        .filter(t::revoked_at.is_null()),
                )
                .set(t::revoked_at.eq(ts(now)))
                .execute(conn)
                .map_err(db::<TokenRepoError>)?;
                Ok(())
            })
        })
        .await
    }

    async fn revoke_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<u64, TokenRepoError> {
        self.run(move |conn| {
            let mut total = 0;
            // Repeated until nothing changes: on PostgreSQL one statement does not see the
            // successors of a rotation that committed while it waited for the rotated row's lock;
            // the next statement does (see `rotate`).
            for _ in 0..SETTLE_ROUNDS {
                let n = diesel::update(
                    t::table.filter(
                        t::family_id
                            .eq(family.to_string())
                            .and(t::revoked_at.is_null()),
                    ),
                )
                .set(t::revoked_at.eq(ts(now)))
                .execute(conn)
                .map_err(db::<TokenRepoError>)?;
                total += count(n);
                if n == 0 {
                    break;
                }
            }
            Ok(total)
        })
        .await
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, TokenRepoError> {
        self.run(move |conn| {
            let mut total = 0;
            // Repeated until nothing changes, like `revoke_family`.
            for _ in 0..SETTLE_ROUNDS {
                let n = diesel::update(
                    t::table.filter(
                        t::user_id
                            .eq(user_id.to_string())
                            .and(t::revoked_at.is_null()),
                    ),
                )
                .set(t::revoked_at.eq(ts(now)))
                .execute(conn)
                .map_err(db::<TokenRepoError>)?;
                total += count(n);
                if n == 0 {
                    break;
                }
            }
            Ok(total)
        })
        .await
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, TokenRepoError> {
        self.run(move |conn| {
            let n = diesel::delete(t::table.filter(t::expires_at.lt(ts(before))))
                .execute(conn)
                .map_err(db::<TokenRepoError>)?;
            Ok(count(n))
        })
        .await
    }
}
