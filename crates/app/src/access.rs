//! Who is asking, and what they may do: the per-request permission lookup.
//!
//! Every authenticated request resolves to a [`Principal`]. The user's state and roles come from a
//! short in-process cache ([`AccessCache`]) so a warm request makes no database round trip; every
//! change this process makes to a user's roles or state bumps that user's *generation*, which
//! invalidates their cached access, sessions and tokens at once. Entries also expire after
//! [`ACCESS_TTL`], bounding staleness for changes made by another process.

use std::sync::Arc;
use std::time::Duration;

use planpush_identity::{TokenId, UserId, UserRepoError};
use planpush_roles::{Capability, Ownership, Role, allowed};

use crate::{AccessSignal, CacheLimits, GenerationCache, Generations, LocalSignal, Ports};

/// How long a cached user state may be used before it is read again.
pub const ACCESS_TTL: Duration = Duration::from_secs(30);

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A browser session cookie (state-changing requests also need a same-origin `Origin`).
    Session,
    /// A Bearer token (personal or access token).
    Token(TokenId),
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub login: String,
    pub roles: Vec<Role>,
    pub method: AuthMethod,
}

impl Principal {
    /// The capability matrix, for this caller.
    pub fn can(&self, capability: Capability, ownership: Ownership) -> bool {
        allowed(&self.roles, capability, ownership)
    }
    /// Ownership of a thing owned by `owner`, from this caller's point of view.
    pub fn ownership_of(&self, owner: UserId) -> Ownership {
        if owner == self.user_id {
            Ownership::Own
        } else {
            Ownership::Others
        }
    }
}

/// A user's cached state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub user_id: UserId,
    pub login: String,
    pub active: bool,
    pub roles: Vec<Role>,
}

/// Per-user access cache plus revocation generations.
///
/// The generations ([`Generations`] per user) are shared with the token and session caches, so
/// one [`AccessCache::invalidate`] voids a user's cached roles, sessions and tokens at once; it
/// also raises the "access changed" signal ([`AccessSignal`]) that open live streams listen to.
pub struct AccessCache {
    ports: Ports,
    cache: GenerationCache<UserId, Arc<Access>, UserId>,
    signal: Arc<dyn AccessSignal>,
}

impl AccessCache {
    pub fn new(ports: Ports) -> Self {
        Self::with_signal(ports, Arc::new(LocalSignal::default()))
    }

    /// An access cache whose changes are announced on `signal` (the in-process [`LocalSignal`]
    /// by default; a multi-process deployment would pass one over PostgreSQL `LISTEN/NOTIFY`).
    pub fn with_signal(ports: Ports, signal: Arc<dyn AccessSignal>) -> Self {
        Self {
            ports,
            cache: GenerationCache::new(
                Arc::new(Generations::new()),
                |a: &Arc<Access>| Some(a.user_id),
                CacheLimits {
                    capacity: 100_000,
                    ttl: ACCESS_TTL,
                    weigher: None,
                },
            ),
            signal,
        }
    }

    /// The per-user generations that the token and session caches obey too.
    pub fn generations(&self) -> &Arc<Generations<UserId>> {
        self.cache.generations()
    }

    /// The "access changed" signal.
    pub fn signal(&self) -> &Arc<dyn AccessSignal> {
        &self.signal
    }

    /// The user's current generation; it moves every time the user's access changes here.
    pub fn generation(&self, user: UserId) -> u64 {
        self.generations().generation(&user)
    }

    /// Voids every cached fact about `user` in this process (roles, state, sessions, tokens) and
    /// tells the user's open live streams to check again. Call it after the change is committed.
    pub fn invalidate(&self, user: UserId) {
        self.generations().bump(user);
        self.signal.notify(user);
    }

    /// The user's state and roles, from the cache or the store. `None` for an unknown user.
    pub async fn get(&self, user: UserId) -> anyhow::Result<Option<Arc<Access>>> {
        self.cache.get_or_load(&user, || self.load(user)).await
    }

    async fn load(&self, user: UserId) -> anyhow::Result<Option<Arc<Access>>> {
        let u = match self.ports.users.get(user).await {
            Ok(u) => u,
            Err(UserRepoError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut roles: Vec<Role> = self
            .ports
            .roles
            .grants_for(user)
            .await?
            .into_iter()
            .map(|g| g.role)
            .collect();
        roles.sort();
        roles.dedup();
        let active = u.is_active();
        Ok(Some(Arc::new(Access {
            user_id: user,
            login: u.login,
            active,
            roles,
        })))
    }

    /// The principal for an authenticated user, or `None` if the user is unknown or deactivated.
    pub async fn principal(
        &self,
        user: UserId,
        method: AuthMethod,
    ) -> anyhow::Result<Option<Principal>> {
        Ok(self
            .get(user)
            .await?
            .filter(|a| a.active)
            .map(|a| Principal {
                user_id: a.user_id,
                login: a.login.clone(),
                roles: a.roles.clone(),
                method,
            }))
    }
}

/// The principal `user` would be if they made a request now (without the cache): `None` when
/// deactivated. Decides what other people may see (who a notification may go to) with the same
/// rules as their own requests ([`crate::can_see`]).
pub(crate) async fn principal_of(
    ports: &Ports,
    user: &planpush_identity::User,
) -> anyhow::Result<Option<Principal>> {
    if !user.is_active() {
        return Ok(None);
    }
    let mut roles: Vec<Role> = ports
        .roles
        .grants_for(user.id)
        .await?
        .into_iter()
        .map(|g| g.role)
        .collect();
    roles.sort();
    roles.dedup();
    Ok(Some(Principal {
        user_id: user.id,
        login: user.login.clone(),
        roles,
        method: AuthMethod::Session,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use planpush_identity::{ExternalIdentity, Provider, User};
    use planpush_roles::GrantOrigin;

    use super::*;

    #[tokio::test]
    async fn cache_serves_warm_reads_and_invalidation_is_immediate() {
        let ports = crate::fake::ports();
        let mut u = User::new("ada", DateTime::UNIX_EPOCH).unwrap();
        ports
            .users
            .create(&u, &ExternalIdentity::new(Provider::Dev, "ada").unwrap())
            .await
            .unwrap();
        ports
            .roles
            .replace_grants(
                u.id,
                GrantOrigin::Manual,
                &[Role::Developer],
                None,
                DateTime::UNIX_EPOCH,
            )
            .await
            .unwrap();
        let cache = AccessCache::new(ports.clone());
        let p = cache
            .principal(u.id, AuthMethod::Session)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.roles, [Role::Developer]);
        assert!(p.can(Capability::Push, Ownership::Own));

        // A change behind the cache's back is not seen until invalidated…
        ports
            .roles
            .replace_grants(
                u.id,
                GrantOrigin::Manual,
                &[Role::Qa],
                None,
                DateTime::UNIX_EPOCH,
            )
            .await
            .unwrap();
        assert_eq!(
            cache
                .principal(u.id, AuthMethod::Session)
                .await
                .unwrap()
                .unwrap()
                .roles,
            [Role::Developer]
        );
        // …and is seen at once after.
        let g = cache.generation(u.id);
        cache.invalidate(u.id);
        assert_eq!(cache.generation(u.id), g + 1);
        assert_eq!(
            cache
                .principal(u.id, AuthMethod::Session)
                .await
                .unwrap()
                .unwrap()
                .roles,
            [Role::Qa]
        );

        u.deactivate(DateTime::UNIX_EPOCH);
        ports.users.update(&u).await.unwrap();
        cache.invalidate(u.id);
        assert_eq!(
            cache.principal(u.id, AuthMethod::Session).await.unwrap(),
            None,
            "deactivated users have no principal"
        );
        assert_eq!(
            cache
                .principal(UserId::new(), AuthMethod::Session)
                .await
                .unwrap(),
            None
        );
    }
}
