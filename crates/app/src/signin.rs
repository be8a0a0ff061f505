//! Web sign-in: a verified profile from an identity provider becomes a user and a principal.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::{ExternalIdentity, User, UserId, UserRepoError};
use planpush_roles::{GrantOrigin, GroupName, Role};

use crate::{AccessCache, Auditor, GroupAccess, Ports, VerifiedProfile};

/// Why a verified person does not get a session.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("this account has been deactivated; ask an administrator to reactivate it")]
    Deactivated,
    /// Group-mapping admission: none of the person's groups maps to a role, they hold no manual
    /// grant and they are not a bootstrap admin. The groups the provider sent are kept so the page
    /// can name them (an admin maps one of them).
    #[error("access not yet granted: none of your groups gives you a role here")]
    NoAccess {
        login: String,
        groups: Vec<GroupName>,
    },
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why an operator could not link an identity to a user.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no user has the login {0:?}")]
    NoSuchUser(String),
    #[error("{0} users have the login {1:?}; link by hand in the database")]
    Ambiguous(usize, String),
    #[error("this identity already signs in as a user")]
    Taken,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Who is let in, and with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// GitHub and dev modes: the first person to sign in becomes admin, later people `developer`.
    FirstUserAdmin,
    /// OIDC mode: roles come from the identity provider's groups through the group → role
    /// mappings, reconciled at every sign-in; a person with no role gets no session. People whose
    /// *verified* e-mail is in `bootstrap_admins` (lower-case, `INITIAL_ADMIN_EMAILS`) get a
    /// manual admin grant at their first sign-in, or whenever no active admin exists.
    GroupMapping { bootstrap_admins: Vec<String> },
}

/// The sign-in use case.
pub struct SignIn {
    ports: Ports,
    access: Arc<AccessCache>,
    audit: Auditor,
    groups: GroupAccess,
    admission: Admission,
}

impl SignIn {
    /// Sign-in with [`Admission::FirstUserAdmin`].
    pub fn new(ports: Ports, access: Arc<AccessCache>) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            groups: GroupAccess::new(ports.clone(), access.clone()),
            ports,
            access,
            audit,
            admission: Admission::FirstUserAdmin,
        }
    }

    /// The same use case with another admission rule.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// A copy of this use case with another admission rule.
    pub fn with_other_admission(&self, admission: Admission) -> Self {
        Self::new(self.ports.clone(), self.access.clone()).with_admission(admission)
    }

    /// The admission rule in force.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Finds or creates the user for `profile`, refreshes their profile, and returns their id.
    pub async fn sign_in(
        &self,
        profile: VerifiedProfile,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<UserId, SignInError> {
        let existing = self
            .ports
            .users
            .find_by_identity(&profile.identity)
            .await
            .map_err(anyhow::Error::from)?;
        let is_new = existing.is_none();
        // A member provisioned over SCIM signs in for the first time: link this identity to them.
        let existing = match existing {
            Some(user) => Some(user),
            None => crate::scim::link_provisioned(&self.ports, &profile).await?,
        };
        let user = match existing {
            Some(mut user) => {
                if !user.is_active() {
                    self.audit
                        .record(
                            AuditEvent::new(AuditAction::SignInDenied, Some(user.id), now)
                                .target("user", user.id)
                                .ip(ip)
                                .detail("reason", "deactivated"),
                        )
                        .await;
                    return Err(SignInError::Deactivated);
                }
                apply_profile(&mut user, &profile);
                user.last_login_at = Some(now);
                self.ports
                    .users
                    .update(&user)
                    .await
                    .map_err(anyhow::Error::from)?;
                if let Admission::GroupMapping { .. } = self.admission {
                    return self.admit_by_groups(user, &profile, is_new, ip, now).await;
                }
                user
            }
            None => {
                let mut user = User::new(&profile.login, now).map_err(anyhow::Error::from)?;
                apply_profile(&mut user, &profile);
                user.last_login_at = Some(now);
                self.ports
                    .users
                    .create(&user, &profile.identity)
                    .await
                    .map_err(anyhow::Error::from)?;
                if let Admission::GroupMapping { .. } = self.admission {
                    return self.admit_by_groups(user, &profile, true, ip, now).await;
                }
                // The first person in becomes admin; so does anyone signing in while no admin
                // exists at all (an instance whose admins were all removed by hand).
                let no_admin = self
                    .ports
                    .roles
                    .users_with_role(Role::Admin)
                    .await
                    .map_err(anyhow::Error::from)?
                    .is_empty();
                let role = if no_admin {
                    Role::Admin
                } else {
                    Role::Developer
                };
                self.ports
                    .roles
                    .replace_grants(user.id, GrantOrigin::Manual, &[role], None, now)
                    .await
                    .map_err(anyhow::Error::from)?;
                self.audit
                    .record(
                        AuditEvent::new(AuditAction::GrantAdded, None, now)
                            .target("user", user.id)
                            .detail("role", role.as_str())
                            .detail("reason", "first sign-in"),
                    )
                    .await;
                user
            }
        };
        self.signed_in(user.id, &profile, ip, now).await;
        Ok(user.id)
    }

    async fn signed_in(
        &self,
        user: UserId,
        profile: &VerifiedProfile,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) {
        self.access.invalidate(user);
        self.audit
            .record(
                AuditEvent::new(AuditAction::SignIn, Some(user), now)
                    .target("user", user)
                    .ip(ip)
                    .detail("provider", profile.identity.provider().key()),
            )
            .await;
    }

    /// Group-mapping admission for a found or just-created (`is_new`) active user: bootstrap
    /// admin, then the groups' `sso` grants, then in only with at least one role.
    async fn admit_by_groups(
        &self,
        user: User,
        profile: &VerifiedProfile,
        is_new: bool,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<UserId, SignInError> {
        let Admission::GroupMapping { bootstrap_admins } = &self.admission else {
            return Err(SignInError::Unknown(anyhow::anyhow!(
                "group admission used without group mapping"
            )));
        };
        let bootstrap = profile
            .email
            .as_ref()
            .is_some_and(|e| bootstrap_admins.contains(&e.as_str().to_lowercase()));
        if bootstrap {
            let grants = self
                .ports
                .roles
                .grants_for(user.id)
                .await
                .map_err(anyhow::Error::from)?;
            let manual: Vec<Role> = grants
                .iter()
                .filter(|g| g.origin == GrantOrigin::Manual)
                .map(|g| g.role)
                .collect();
            let no_admin = self
                .ports
                .roles
                .users_with_role(Role::Admin)
                .await
                .map_err(anyhow::Error::from)?
                .is_empty();
            if !manual.contains(&Role::Admin) && (is_new || no_admin) {
                let mut roles = manual;
                roles.push(Role::Admin);
                self.ports
                    .roles
                    .replace_grants(user.id, GrantOrigin::Manual, &roles, None, now)
                    .await
                    .map_err(anyhow::Error::from)?;
                self.audit
                    .record(
                        AuditEvent::new(AuditAction::GrantAdded, None, now)
                            .target("user", user.id)
                            .detail("role", Role::Admin.as_str())
                            .detail("origin", "manual")
                            .detail("reason", "INITIAL_ADMIN_EMAILS"),
                    )
                    .await;
            }
        }
        let sync = self
            .groups
            .apply_user_groups(user.id, &profile.groups, None, "sign_in", ip, now)
            .await?;
        if sync.roles.is_empty() {
            self.access.invalidate(user.id);
            let groups: Vec<&str> = profile.groups.iter().map(GroupName::as_str).collect();
            self.audit
                .record(
                    AuditEvent::new(AuditAction::SignInDenied, Some(user.id), now)
                        .target("user", user.id)
                        .ip(ip)
                        .detail("reason", "no role: access not yet granted")
                        .detail("groups", groups),
                )
                .await;
            return Err(SignInError::NoAccess {
                login: user.login,
                groups: profile.groups.clone(),
            });
        }
        self.signed_in(user.id, profile, ip, now).await;
        Ok(user.id)
    }

    /// Operator command (moving an instance between providers): makes `identity` sign in as the
    /// existing user with this login, keeping their history and manual grants. Audited.
    pub async fn link_identity(
        &self,
        login: &str,
        identity: &ExternalIdentity,
        now: DateTime<Utc>,
    ) -> Result<UserId, LinkError> {
        let user = self.by_login(login).await?;
        match self.ports.users.link_identity(user, identity).await {
            Ok(()) => {}
            Err(UserRepoError::IdentityTaken) => return Err(LinkError::Taken),
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
        self.access.invalidate(user);
        self.audit
            .record(
                AuditEvent::new(AuditAction::IdentityLinked, None, now)
                    .target("user", user)
                    .detail("provider", identity.provider().key())
                    .detail("subject", identity.subject()),
            )
            .await;
        Ok(user)
    }

    /// Operator command (break-glass, or a first admin where the provider never marks e-mails
    /// verified): gives the existing user with this login a manual admin grant. Audited.
    pub async fn grant_admin(&self, login: &str, now: DateTime<Utc>) -> Result<UserId, LinkError> {
        let user = self.by_login(login).await?;
        let manual: Vec<Role> = self
            .ports
            .roles
            .grants_for(user)
            .await
            .map_err(anyhow::Error::from)?
            .into_iter()
            .filter(|g| g.origin == GrantOrigin::Manual)
            .map(|g| g.role)
            .chain([Role::Admin])
            .collect();
        let changes = self
            .ports
            .roles
            .replace_grants(user, GrantOrigin::Manual, &manual, None, now)
            .await
            .map_err(anyhow::Error::from)?;
        self.access.invalidate(user);
        if !changes.add.is_empty() {
            self.audit
                .record(
                    AuditEvent::new(AuditAction::GrantAdded, None, now)
                        .target("user", user)
                        .detail("role", Role::Admin.as_str())
                        .detail("origin", "manual")
                        .detail("reason", "operator command"),
                )
                .await;
        }
        Ok(user)
    }

    async fn by_login(&self, login: &str) -> Result<UserId, LinkError> {
        let users: Vec<User> = self
            .ports
            .users
            .list()
            .await
            .map_err(anyhow::Error::from)?
            .into_iter()
            .filter(|u| u.login == login)
            .collect();
        match users.as_slice() {
            [] => Err(LinkError::NoSuchUser(login.to_owned())),
            [u] => Ok(u.id),
            many => Err(LinkError::Ambiguous(many.len(), login.to_owned())),
        }
    }

    /// Records a browser sign-out.
    pub async fn record_sign_out(&self, user: UserId, ip: Option<IpAddr>, now: DateTime<Utc>) {
        self.audit
            .record(
                AuditEvent::new(AuditAction::SignOut, Some(user), now)
                    .target("user", user)
                    .ip(ip),
            )
            .await;
    }

    /// Records a refused sign-in (not an org member, denied consent, replayed state, …).
    pub async fn record_denied(&self, reason: &str, ip: Option<IpAddr>, now: DateTime<Utc>) {
        self.audit
            .record(
                AuditEvent::new(AuditAction::SignInDenied, None, now)
                    .ip(ip)
                    .detail("reason", reason),
            )
            .await;
    }

    /// Records a sign-in the identity provider refused with `?error=…` on the callback. That
    /// value comes from whoever sent the browser there, so it is kept apart from our own reason
    /// (`provider_error`, marked `provider_supplied`), stripped of control characters and cut to
    /// [`PROVIDER_ERROR_MAX_CHARS`].
    pub async fn record_provider_error(&self, error: &str, ip: Option<IpAddr>, now: DateTime<Utc>) {
        self.audit
            .record(
                AuditEvent::new(AuditAction::SignInDenied, None, now)
                    .ip(ip)
                    .detail("reason", "the identity provider answered with an error")
                    .detail(
                        "provider_error",
                        bounded_text(error, PROVIDER_ERROR_MAX_CHARS),
                    )
                    .detail("provider_supplied", true),
            )
            .await;
    }
}

/// The most of a provider-supplied error code the audit log keeps.
pub const PROVIDER_ERROR_MAX_CHARS: usize = 64;

/// Untrusted text made fit to store or show: no control characters, at most `max_chars`
/// characters (ending in `…` when cut).
pub fn bounded_text(raw: &str, max_chars: usize) -> String {
    let clean: String = raw.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= max_chars {
        return clean;
    }
    let mut out: String = clean.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn apply_profile(user: &mut User, p: &VerifiedProfile) {
    user.login = p.login.clone();
    user.name = p.name.clone();
    if p.email.is_some() {
        user.email = p.email.clone();
    }
    user.avatar_url = p.avatar_url.clone();
}
