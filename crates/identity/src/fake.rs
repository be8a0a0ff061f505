//! In-memory implementations of this crate's ports, for tests of code that uses them.
//! They follow the same error contracts as the storage adapter (the shared contract suite checks).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::*;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
pub struct FakeUsers {
    inner: Mutex<(Vec<User>, HashMap<ExternalIdentity, UserId>)>,
}

impl FakeUsers {
    /// Whether a user with this id exists (for fakes of other ports that reference users).
    pub fn contains(&self, id: UserId) -> bool {
        lock(&self.inner).0.iter().any(|u| u.id == id)
    }
    /// Stores a user with no identity (a SCIM-provisioned one), as the store's SCIM adapter does.
    pub fn insert(&self, user: &User) {
        lock(&self.inner).0.push(user.clone());
    }
}

#[async_trait]
impl UserRepository for FakeUsers {
    async fn create(&self, user: &User, identity: &ExternalIdentity) -> Result<(), UserRepoError> {
        let mut g = lock(&self.inner);
        if g.1.contains_key(identity) {
            return Err(UserRepoError::IdentityTaken);
        }
        g.0.push(user.clone());
        g.1.insert(identity.clone(), user.id);
        Ok(())
    }
    async fn link_identity(
        &self,
        user_id: UserId,
        identity: &ExternalIdentity,
    ) -> Result<(), UserRepoError> {
        let mut g = lock(&self.inner);
        if !g.0.iter().any(|u| u.id == user_id) {
            return Err(UserRepoError::NotFound);
        }
        if g.1.contains_key(identity) {
            return Err(UserRepoError::IdentityTaken);
        }
        g.1.insert(identity.clone(), user_id);
        Ok(())
    }
    async fn find_by_identity(
        &self,
        identity: &ExternalIdentity,
    ) -> Result<Option<User>, UserRepoError> {
        let g = lock(&self.inner);
        Ok(g.1
            .get(identity)
            .and_then(|id| g.0.iter().find(|u| u.id == *id).cloned()))
    }
    async fn get(&self, id: UserId) -> Result<User, UserRepoError> {
        lock(&self.inner)
            .0
            .iter()
            .find(|u| u.id == id)
            .cloned()
            .ok_or(UserRepoError::NotFound)
    }
    async fn find_by_email(&self, email: &Email) -> Result<Vec<User>, UserRepoError> {
        Ok(lock(&self.inner)
            .0
            .iter()
            .filter(|u| u.email.as_ref() == Some(email))
            .cloned()
            .collect())
    }
    async fn update(&self, user: &User) -> Result<(), UserRepoError> {
        let mut g = lock(&self.inner);
        let slot =
            g.0.iter_mut()
                .find(|u| u.id == user.id)
                .ok_or(UserRepoError::NotFound)?;
        *slot = user.clone();
        Ok(())
    }
    async fn list(&self) -> Result<Vec<User>, UserRepoError> {
        let mut v = lock(&self.inner).0.clone();
        v.sort_by_key(|u| u.created_at);
        Ok(v)
    }
    async fn count(&self) -> Result<u64, UserRepoError> {
        Ok(lock(&self.inner).0.len() as u64)
    }
}

#[derive(Default)]
pub struct FakeTokens {
    inner: Mutex<Vec<ApiToken>>,
}

#[async_trait]
impl TokenRepository for FakeTokens {
    async fn insert(&self, token: &ApiToken) -> Result<(), TokenRepoError> {
        lock(&self.inner).push(token.clone());
        Ok(())
    }
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>, TokenRepoError> {
        Ok(lock(&self.inner).iter().find(|t| t.hash == *hash).cloned())
    }
    async fn get(&self, id: TokenId) -> Result<ApiToken, TokenRepoError> {
        lock(&self.inner)
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or(TokenRepoError::NotFound)
    }
    async fn list_for_user(
        &self,
        user_id: UserId,
        kind: TokenKind,
    ) -> Result<Vec<ApiToken>, TokenRepoError> {
        let mut v: Vec<_> = lock(&self.inner)
            .iter()
            .filter(|t| t.user_id == user_id && t.kind == kind)
            .cloned()
            .collect();
        v.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(v)
    }
    async fn touch(&self, id: TokenId, now: DateTime<Utc>) -> Result<(), TokenRepoError> {
        let mut g = lock(&self.inner);
        let t = g
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(TokenRepoError::NotFound)?;
        t.last_used_at = Some(now);
        Ok(())
    }
    async fn rotate(
        &self,
        used: TokenId,
        successors: &[ApiToken],
        now: DateTime<Utc>,
    ) -> Result<(), TokenRepoError> {
        let mut g = lock(&self.inner);
        let t = g
            .iter_mut()
            .find(|t| t.id == used)
            .ok_or(TokenRepoError::NotFound)?;
        if t.revoked_at.is_some() {
            return Err(TokenRepoError::Revoked);
        }
        if t.used_at.is_some() {
            return Err(TokenRepoError::AlreadyUsed);
        }
        t.used_at = Some(now);
        g.extend(successors.iter().cloned());
        Ok(())
    }
    async fn revoke(&self, id: TokenId, now: DateTime<Utc>) -> Result<(), TokenRepoError> {
        let mut g = lock(&self.inner);
        let t = g
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(TokenRepoError::NotFound)?;
        t.revoked_at.get_or_insert(now);
        Ok(())
    }
    async fn revoke_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<u64, TokenRepoError> {
        Ok(revoke_where(&mut lock(&self.inner), now, |t| {
            t.family_id == family
        }))
    }
    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, TokenRepoError> {
        Ok(revoke_where(&mut lock(&self.inner), now, |t| {
            t.user_id == user_id
        }))
    }
    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, TokenRepoError> {
        let mut g = lock(&self.inner);
        let n = g.len();
        g.retain(|t| t.expires_at.is_none_or(|e| e >= before));
        Ok((n - g.len()) as u64)
    }
}

fn revoke_where(
    tokens: &mut [ApiToken],
    now: DateTime<Utc>,
    pred: impl Fn(&ApiToken) -> bool,
) -> u64 {
    let mut n = 0;
    for t in tokens
        .iter_mut()
        .filter(|t| t.revoked_at.is_none() && pred(t))
    {
        t.revoked_at = Some(now);
        n += 1;
    }
    n
}

#[derive(Default)]
pub struct FakeDeviceGrants {
    inner: Mutex<Vec<DeviceGrant>>,
}

#[async_trait]
impl DeviceGrantRepository for FakeDeviceGrants {
    async fn insert(&self, grant: &DeviceGrant) -> Result<(), DeviceRepoError> {
        let mut g = lock(&self.inner);
        if g.iter()
            .any(|x| x.user_code() == grant.user_code() && x.expires_at() > grant.created_at())
        {
            return Err(DeviceRepoError::Conflict);
        }
        g.push(grant.clone());
        Ok(())
    }
    async fn find_by_device_code(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<DeviceGrant>, DeviceRepoError> {
        Ok(lock(&self.inner)
            .iter()
            .find(|g| g.device_code_hash() == hash)
            .cloned())
    }
    async fn find_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, DeviceRepoError> {
        Ok(lock(&self.inner)
            .iter()
            .filter(|g| g.user_code() == code)
            .max_by_key(|g| g.created_at())
            .cloned())
    }
    async fn save_if_status(
        &self,
        grant: &DeviceGrant,
        expected: DeviceStatus,
    ) -> Result<(), DeviceRepoError> {
        let mut g = lock(&self.inner);
        let slot = g
            .iter_mut()
            .find(|x| x.id() == grant.id())
            .ok_or(DeviceRepoError::NotFound)?;
        if slot.status() != expected {
            return Err(DeviceRepoError::Conflict);
        }
        *slot = grant.clone();
        Ok(())
    }
    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, DeviceRepoError> {
        let mut g = lock(&self.inner);
        let n = g.len();
        g.retain(|x| x.expires_at() >= before);
        Ok((n - g.len()) as u64)
    }
    async fn get(&self, id: DeviceGrantId) -> Result<DeviceGrant, DeviceRepoError> {
        lock(&self.inner)
            .iter()
            .find(|g| g.id() == id)
            .cloned()
            .ok_or(DeviceRepoError::NotFound)
    }
}

#[derive(Default)]
pub struct FakeWebSessions {
    inner: Mutex<Vec<WebSession>>,
}

#[async_trait]
impl WebSessionRepository for FakeWebSessions {
    async fn insert(&self, session: &WebSession) -> Result<(), SessionRepoError> {
        let mut g = lock(&self.inner);
        if g.iter().any(|s| s.key_hash == session.key_hash) {
            return Err(SessionRepoError::Duplicate);
        }
        g.push(session.clone());
        Ok(())
    }
    async fn get_live(
        &self,
        key_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, SessionRepoError> {
        Ok(lock(&self.inner)
            .iter()
            .find(|s| s.key_hash == *key_hash && s.is_live(now))
            .cloned())
    }
    async fn update(&self, session: &WebSession) -> Result<(), SessionRepoError> {
        let mut g = lock(&self.inner);
        let slot = g
            .iter_mut()
            .find(|s| s.key_hash == session.key_hash)
            .ok_or(SessionRepoError::NotFound)?;
        *slot = session.clone();
        Ok(())
    }
    async fn delete(&self, key_hash: &TokenHash) -> Result<(), SessionRepoError> {
        lock(&self.inner).retain(|s| s.key_hash != *key_hash);
        Ok(())
    }
    async fn delete_for_user(&self, user_id: UserId) -> Result<u64, SessionRepoError> {
        let mut g = lock(&self.inner);
        let n = g.len();
        g.retain(|s| s.user_id != Some(user_id));
        Ok((n - g.len()) as u64)
    }
    async fn list_for_user(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebSession>, SessionRepoError> {
        let mut v: Vec<_> = lock(&self.inner)
            .iter()
            .filter(|s| s.user_id == Some(user_id) && s.is_live(now))
            .cloned()
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.last_seen_at));
        Ok(v)
    }
    async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, SessionRepoError> {
        let mut g = lock(&self.inner);
        let n = g.len();
        g.retain(|s| s.is_live(now));
        Ok((n - g.len()) as u64)
    }
}
