use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::InvalidInput;

/// What a secret is for; its prefix makes a leaked secret recognisable (and scannable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    PersonalToken,
    RefreshToken,
    AccessToken,
    DeviceCode,
    WebSessionKey,
}

impl SecretKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::PersonalToken => "pp_pat_",
            SecretKind::RefreshToken => "pp_rt_",
            SecretKind::AccessToken => "pp_at_",
            SecretKind::DeviceCode => "pp_dc_",
            SecretKind::WebSessionKey => "",
        }
    }
}

/// A freshly generated secret. It is shown once (to the CLI or the person creating it) and never
/// stored: only its [`TokenHash`] is. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// 256 bits from the operating system's CSPRNG, hex-encoded behind the kind's prefix.
    pub fn generate(kind: SecretKind) -> Self {
        let bytes: [u8; 32] = rand::random();
        Self::from_entropy(kind, bytes)
    }
    /// Deterministic construction, for tests and for callers with their own entropy source.
    pub fn from_entropy(kind: SecretKind, bytes: [u8; 32]) -> Self {
        Self(format!("{}{}", kind.prefix(), hex::encode(bytes)))
    }
    /// Wraps a secret presented by a client (a Bearer token, a cookie value).
    pub fn presented(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.len() > 200 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidInput::new("token", "malformed"));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.as_bytes())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// SHA-256 of a high-entropy secret: what the database keeps.
///
/// Equality is constant-time. Looking a hash up through a database index is safe because the
/// secrets are 256-bit random values: learning a hash prefix by timing reveals nothing usable.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }
    pub fn from_hex(s: &str) -> Result<Self, InvalidInput> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| InvalidInput::new("token hash", e.to_string()))?;
        Ok(Self(out))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hash_stably() {
        let a = TokenSecret::generate(SecretKind::PersonalToken);
        let b = TokenSecret::generate(SecretKind::PersonalToken);
        assert!(a.expose().starts_with("pp_pat_"));
        assert_eq!(a.expose().len(), "pp_pat_".len() + 64);
        assert_ne!(a, b);
        assert_eq!(a.hash(), TokenSecret::presented(a.expose()).unwrap().hash());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn hash_hex_round_trip_and_debug_redacts() {
        let s = TokenSecret::from_entropy(SecretKind::AccessToken, [7; 32]);
        let h = s.hash();
        assert_eq!(TokenHash::from_hex(&h.to_hex()).unwrap(), h);
        assert!(TokenHash::from_hex("zz").is_err());
        assert!(!format!("{s:?}").contains("0707"));
    }

    #[test]
    fn presented_rejects_garbage() {
        for bad in ["", "has space", "tab\there", &"x".repeat(201)] {
            assert!(TokenSecret::presented(bad).is_err(), "{bad:?}");
        }
    }
}
