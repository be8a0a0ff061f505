//! Web sign-in: a verified profile from an identity provider becomes a user and a principal.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::{User, UserId};
use planpush_roles::{GrantOrigin, Role};

use crate::{AccessCache, Auditor, Ports, VerifiedProfile};

/// Why a verified person does not get a session.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("this account has been deactivated; ask an administrator to reactivate it")]
    Deactivated,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// The sign-in use case (GitHub and dev modes: the first person to sign in becomes admin, later
/// people get `developer`).
pub struct SignIn {
    ports: Ports,
    access: Arc<AccessCache>,
    audit: Auditor,
}

impl SignIn {
    pub fn new(ports: Ports, access: Arc<AccessCache>) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            ports,
            access,
            audit,
        }
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
        self.access.invalidate(user.id);
        self.audit
            .record(
                AuditEvent::new(AuditAction::SignIn, Some(user.id), now)
                    .target("user", user.id)
                    .ip(ip)
                    .detail("provider", profile.identity.provider().key()),
            )
            .await;
        Ok(user.id)
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
