use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::InvalidInput;

crate::uuid_id!(UserId, "a user (stable for life)", "user id");

/// A syntactically plausible e-mail address, stored lower-cased.
///
/// It is a contact detail and a bootstrap hint (`INITIAL_ADMIN_EMAILS`), never an identity key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let err = |r: &str| Err(InvalidInput::new("e-mail", r));
        if s.is_empty() || s.len() > 254 {
            return err("must be 1 to 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return err("must contain '@'");
        };
        if local.is_empty()
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return err("must look like name@example.com");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("must not contain spaces or control characters");
        }
        Ok(Self(s.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who vouches for an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Provider {
    /// GitHub or GitHub Enterprise Server; subject is the numeric user id.
    GitHub,
    /// An OpenID Connect issuer (Okta or any other); subject is the `sub` claim.
    Oidc { issuer: String },
    /// The loopback-only development provider of `planpush-server demo` and tests.
    Dev,
}

impl Provider {
    /// The stored form: `github`, `dev`, or `oidc:<issuer>`.
    pub fn key(&self) -> String {
        match self {
            Provider::GitHub => "github".into(),
            Provider::Dev => "dev".into(),
            Provider::Oidc { issuer } => format!("oidc:{issuer}"),
        }
    }
    pub fn from_key(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "github" => Ok(Provider::GitHub),
            "dev" => Ok(Provider::Dev),
            _ => match s.strip_prefix("oidc:") {
                Some(issuer) if !issuer.is_empty() => Ok(Provider::Oidc {
                    issuer: issuer.to_owned(),
                }),
                _ => Err(InvalidInput::new(
                    "provider",
                    format!("unknown provider {s:?}"),
                )),
            },
        }
    }
}

/// `(provider, subject)`: the key a sign-in resolves to a user by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalIdentity {
    provider: Provider,
    subject: String,
}

impl ExternalIdentity {
    pub fn new(provider: Provider, subject: &str) -> Result<Self, InvalidInput> {
        if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "subject",
                "must be 1 to 255 printable characters",
            ));
        }
        Ok(Self {
            provider,
            subject: subject.to_owned(),
        })
    }
    /// GitHub identities key on the numeric user id, never the (renameable) login.
    pub fn github(numeric_id: u64) -> Self {
        Self {
            provider: Provider::GitHub,
            subject: numeric_id.to_string(),
        }
    }
    pub fn provider(&self) -> &Provider {
        &self.provider
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Display handle (GitHub login, OIDC preferred_username, …). Not unique, not an identity key.
    pub login: String,
    pub name: Option<String>,
    pub email: Option<Email>,
    pub avatar_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// `Some` while the user is deactivated; a deactivated user cannot sign in or use tokens.
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn new(login: &str, now: DateTime<Utc>) -> Result<Self, InvalidInput> {
        let login = login.trim();
        if login.is_empty() || login.chars().count() > 100 || login.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "login",
                "must be 1 to 100 printable characters",
            ));
        }
        Ok(Self {
            id: UserId::new(),
            login: login.to_owned(),
            name: None,
            email: None,
            avatar_url: None,
            created_at: now,
            last_login_at: None,
            deactivated_at: None,
        })
    }
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
    /// Deactivates; returns whether anything changed.
    pub fn deactivate(&mut self, now: DateTime<Utc>) -> bool {
        if self.deactivated_at.is_some() {
            return false;
        }
        self.deactivated_at = Some(now);
        true
    }
    /// Reactivates; returns whether anything changed.
    pub fn reactivate(&mut self) -> bool {
        self.deactivated_at.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        for (input, ok) in [
            ("Ada@Example.COM", true),
            ("a@b.co", true),
            ("", false),
            ("no-at-sign", false),
            ("@example.com", false),
            ("a@", false),
            ("a@localhost", false),
            ("a b@example.com", false),
            ("a@.example.com", false),
        ] {
            assert_eq!(Email::parse(input).is_ok(), ok, "{input:?}");
        }
        assert_eq!(
            Email::parse(" Ada@Example.COM ").map(|e| e.to_string()),
            Ok("ada@example.com".into())
        );
    }

    #[test]
    fn provider_keys_round_trip() {
        for p in [
            Provider::GitHub,
            Provider::Dev,
            Provider::Oidc {
                issuer: "https://idp.example.com".into(),
            },
        ] {
            assert_eq!(Provider::from_key(&p.key()), Ok(p));
        }
        assert!(Provider::from_key("oidc:").is_err());
        assert!(Provider::from_key("gitlab").is_err());
    }

    #[test]
    fn identity_subject_rules() {
        assert!(ExternalIdentity::new(Provider::Dev, "").is_err());
        assert!(ExternalIdentity::new(Provider::Dev, &"x".repeat(256)).is_err());
        assert_eq!(ExternalIdentity::github(42).subject(), "42");
    }

    #[test]
    fn deactivation_toggles() {
        let now = DateTime::UNIX_EPOCH;
        let mut u = User::new("ada", now).unwrap();
        assert!(u.is_active());
        assert!(u.deactivate(now));
        assert!(!u.deactivate(now));
        assert!(!u.is_active());
        assert!(u.reactivate());
        assert!(!u.reactivate());
        assert!(User::new("  ", now).is_err());
    }
}
