use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{InvalidInput, SecretKind, TokenHash, TokenSecret, UserId};

/// Access tokens are short-lived: revocation of their family is also checked on every request.
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);
/// A refresh token lives 30 days, sliding: every rotation issues a fresh one.
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(30);

crate::uuid_id!(TokenId, "an API token");
crate::uuid_id!(FamilyId, "a token family");

/// The kinds of bearer credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Created by a person in the dashboard; no expiry unless given; revoked by hand.
    Personal,
    /// Issued to the CLI by the device flow; exchanged (and rotated) for access tokens.
    Refresh,
    /// Short-lived bearer credential minted from a refresh token.
    Access,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Refresh => "refresh",
            TokenKind::Access => "access",
        }
    }
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "personal" => Ok(TokenKind::Personal),
            "refresh" => Ok(TokenKind::Refresh),
            "access" => Ok(TokenKind::Access),
            _ => Err(InvalidInput::new(
                "token kind",
                format!("unknown kind {s:?}"),
            )),
        }
    }
    fn secret_kind(self) -> SecretKind {
        match self {
            TokenKind::Personal => SecretKind::PersonalToken,
            TokenKind::Refresh => SecretKind::RefreshToken,
            TokenKind::Access => SecretKind::AccessToken,
        }
    }
}

/// Why a presented token does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
    #[error("this kind of token cannot be used here")]
    WrongKind,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshCheck {
    /// Valid and unused: mark it used and issue its successor in the same family.
    Rotate,
    /// Already rotated once: a copy is being replayed. Revoke the whole family.
    ReuseDetected,
    Rejected(TokenRejected),
}

/// A stored credential. The secret itself is never kept, only [`TokenHash`].
///
/// Every token belongs to a family. A personal token is a family of one; a device-flow login starts a
/// family of refresh tokens (each rotation adds one and marks its predecessor used) and the access
/// tokens minted from them. Revoking a family revokes all of it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub family_id: FamilyId,
    pub kind: TokenKind,
    pub hash: TokenHash,
    /// Person-given label for personal tokens (1–100 chars); `None` for the others.
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Refresh tokens only: when it was exchanged. A second exchange is reuse.
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    fn issue(
        user_id: UserId,
        family_id: FamilyId,
        kind: TokenKind,
        now: DateTime<Utc>,
        ttl: Option<Duration>,
    ) -> (Self, TokenSecret) {
        let secret = TokenSecret::generate(kind.secret_kind());
        let token = Self {
            id: TokenId::new(),
            user_id,
            family_id,
            kind,
            hash: secret.hash(),
            label: None,
            created_at: now,
            expires_at: ttl.map(|t| now + t),
            last_used_at: None,
            used_at: None,
            revoked_at: None,
        };
        (token, secret)
    }

    /// A personal API token in a family of its own.
    pub fn personal(
        user_id: UserId,
        label: &str,
        now: DateTime<Utc>,
        ttl: Option<Duration>,
    ) -> Result<(Self, TokenSecret), InvalidInput> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "label",
                "must be 1 to 100 printable characters",
            ));
        }
        let (mut t, s) = Self::issue(user_id, FamilyId::new(), TokenKind::Personal, now, ttl);
        t.label = Some(label.to_owned());
        Ok((t, s))
    }

    /// The first refresh token of a new family (a device-flow login).
    pub fn new_refresh_family(user_id: UserId, now: DateTime<Utc>) -> (Self, TokenSecret) {
        Self::issue(
            user_id,
            FamilyId::new(),
            TokenKind::Refresh,
            now,
            Some(REFRESH_TOKEN_TTL),
        )
    }

    /// The successor of this refresh token, in the same family.
    pub fn successor(&self, now: DateTime<Utc>) -> (Self, TokenSecret) {
        Self::issue(
            self.user_id,
            self.family_id,
            TokenKind::Refresh,
            now,
            Some(REFRESH_TOKEN_TTL),
        )
    }

    /// A short-lived access token in this token's family.
    pub fn mint_access(&self, now: DateTime<Utc>) -> (Self, TokenSecret) {
        Self::issue(
            self.user_id,
            self.family_id,
            TokenKind::Access,
            now,
            Some(ACCESS_TOKEN_TTL),
        )
    }

    fn check_live(&self, now: DateTime<Utc>) -> Result<(), TokenRejected> {
        if self.revoked_at.is_some() {
            return Err(TokenRejected::Revoked);
        }
        if self.expires_at.is_some_and(|e| e <= now) {
            return Err(TokenRejected::Expired);
        }
        Ok(())
    }

    /// May this token authenticate an API request as a Bearer credential?
    pub fn check_bearer(&self, now: DateTime<Utc>) -> Result<(), TokenRejected> {
        if self.kind == TokenKind::Refresh {
            return Err(TokenRejected::WrongKind);
        }
        self.check_live(now)
    }

    /// The refresh-rotation rule. Reuse is checked before revocation: a replayed, already-rotated
    /// token must still revoke its family even after the family was revoked once.
    pub fn check_refresh(&self, now: DateTime<Utc>) -> RefreshCheck {
        if self.kind != TokenKind::Refresh {
            return RefreshCheck::Rejected(TokenRejected::WrongKind);
        }
        if self.used_at.is_some() {
            return RefreshCheck::ReuseDetected;
        }
        match self.check_live(now) {
            Ok(()) => RefreshCheck::Rotate,
            Err(e) => RefreshCheck::Rejected(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    #[test]
    fn personal_token_label_rules() {
        let u = UserId::new();
        assert!(ApiToken::personal(u, "", t0(), None).is_err());
        assert!(ApiToken::personal(u, &"x".repeat(101), t0(), None).is_err());
        let (t, s) = ApiToken::personal(u, " laptop ", t0(), None).unwrap();
        assert_eq!(t.label.as_deref(), Some("laptop"));
        assert_eq!(t.hash, s.hash());
        assert_eq!(t.check_bearer(t0() + Duration::days(3650)), Ok(()));
    }

    #[test]
    fn bearer_rules_table() {
        let u = UserId::new();
        let (refresh, _) = ApiToken::new_refresh_family(u, t0());
        let (access, _) = refresh.mint_access(t0());
        let mut revoked = access.clone();
        revoked.revoked_at = Some(t0());
        let cases = [
            (&access, t0(), Ok(())),
            (
                &access,
                t0() + ACCESS_TOKEN_TTL - Duration::seconds(1),
                Ok(()),
            ),
            (
                &access,
                t0() + ACCESS_TOKEN_TTL,
                Err(TokenRejected::Expired),
            ),
            (&revoked, t0(), Err(TokenRejected::Revoked)),
            (&refresh, t0(), Err(TokenRejected::WrongKind)),
        ];
        for (i, (tok, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(tok.check_bearer(now), want, "case {i}");
        }
    }

    #[test]
    fn refresh_rotation_and_reuse() {
        let u = UserId::new();
        let (first, _) = ApiToken::new_refresh_family(u, t0());
        assert_eq!(first.check_refresh(t0()), RefreshCheck::Rotate);
        let (next, _) = first.successor(t0());
        assert_eq!(next.family_id, first.family_id);
        assert_ne!(next.hash, first.hash);

        let mut used = first.clone();
        used.used_at = Some(t0());
        assert_eq!(used.check_refresh(t0()), RefreshCheck::ReuseDetected);
        used.revoked_at = Some(t0());
        assert_eq!(
            used.check_refresh(t0()),
            RefreshCheck::ReuseDetected,
            "reuse wins over revoked"
        );

        assert_eq!(
            first.check_refresh(t0() + REFRESH_TOKEN_TTL),
            RefreshCheck::Rejected(TokenRejected::Expired)
        );
        let (access, _) = first.mint_access(t0());
        assert_eq!(
            access.check_refresh(t0()),
            RefreshCheck::Rejected(TokenRejected::WrongKind)
        );
        assert_eq!(access.family_id, first.family_id);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [TokenKind::Personal, TokenKind::Refresh, TokenKind::Access] {
            assert_eq!(TokenKind::parse(k.as_str()), Ok(k));
        }
        assert!(TokenKind::parse("root").is_err());
    }
}
