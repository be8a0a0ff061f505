//! One-click unsubscribe tokens: `base64url(user id) "." base64url(HMAC-SHA256(key, purpose ‖ user id))`.
//!
//! The key is derived from `SECRET_KEY` with HKDF-SHA256 under an info string of its own, so it is
//! independent of the session-cookie and webhook keys; the purpose (`email-unsubscribe`) is part
//! of the signed bytes, so a token cannot be used for anything else, and the user id is too, so
//! it cannot be turned into another user's. Verification is constant-time ([`Mac::verify_slice`])
//! and accepts tokens signed under `SECRET_KEY_PREVIOUS` (links in e-mails already sent keep
//! working after a rotation). Tokens do not expire: an unsubscribe link must work in an old e-mail
//! and all it can do is turn e-mail off.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use planpush_app::UnsubscribeKeys;
use planpush_identity::UserId;
use sha2::Sha256;

const HKDF_INFO: &[u8] = b"planpush email unsubscribe token v1";
/// What a token is for; signed with the user id.
const PURPOSE: &[u8] = b"email-unsubscribe\0";

type HmacSha256 = Hmac<Sha256>;

fn derive(secret_key: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret_key).expand(HKDF_INFO, &mut key);
    key
}

/// The signing keys: the current one signs, every one verifies.
pub struct LinkKeys {
    current: [u8; 32],
    previous: Vec<[u8; 32]>,
}

impl LinkKeys {
    /// From `SECRET_KEY` and the `SECRET_KEY_PREVIOUS` values.
    pub fn new(secret_key: &[u8], previous: &[Vec<u8>]) -> Self {
        Self {
            current: derive(secret_key),
            previous: previous.iter().map(|k| derive(k)).collect(),
        }
    }

    fn mac(key: &[u8; 32], user: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(PURPOSE);
        mac.update(user);
        mac
    }
}

impl UnsubscribeKeys for LinkKeys {
    fn sign(&self, user: UserId) -> String {
        let id = user.as_uuid();
        let tag = Self::mac(&self.current, id.as_bytes())
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(id.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    fn verify(&self, token: &str) -> Option<UserId> {
        let (user, tag) = token.split_once('.')?;
        let user = URL_SAFE_NO_PAD.decode(user).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let id: [u8; 16] = user.as_slice().try_into().ok()?;
        let ok = std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|k| Self::mac(k, &id).verify_slice(&tag).is_ok());
        ok.then(|| UserId::from_uuid(uuid::Uuid::from_bytes(id)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-current";

    #[test]
    fn a_token_names_its_user() {
        let keys = LinkKeys::new(KEY, &[]);
        let (ada, ben) = (UserId::new(), UserId::new());
        let t = keys.sign(ada);
        assert_eq!(keys.verify(&t), Some(ada));
        assert_ne!(keys.sign(ben), t);
        assert!(
            t.len() < 80
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{t}"
        );
    }

    #[test]
    fn forged_or_altered_tokens_are_refused() {
        let keys = LinkKeys::new(KEY, &[]);
        let (ada, ben) = (UserId::new(), UserId::new());
        let t = keys.sign(ada);
        let (_, tag) = t.split_once('.').unwrap();
        // Ada's signature on Ben's id.
        let swapped = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(ben.as_uuid().as_bytes()));
        assert_eq!(keys.verify(&swapped), None);
        // Every single-character change.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(b).unwrap();
            if altered != t {
                assert_eq!(keys.verify(&altered), None, "{altered}");
            }
        }
        // Another server's key, truncated tags, garbage.
        assert_eq!(
            LinkKeys::new(b"another key another key another key!", &[]).verify(&t),
            None
        );
        assert_eq!(keys.verify(&t[..t.len() - 2]), None);
        for junk in ["", ".", "abc", "a.b.c", &format!("{t}x")] {
            assert_eq!(keys.verify(junk), None, "{junk}");
        }
        // A MAC over the id without the purpose (what another use of the key would sign).
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&derive(KEY)).unwrap();
        mac.update(ada.as_uuid().as_bytes());
        let other = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(ada.as_uuid().as_bytes()),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(keys.verify(&other), None);
    }

    #[test]
    fn previous_keys_still_verify() {
        let old = LinkKeys::new(b"the previous key, at least 32 bytes", &[]);
        let ada = UserId::new();
        let t = old.sign(ada);
        let rotated = LinkKeys::new(KEY, &[b"the previous key, at least 32 bytes".to_vec()]);
        assert_eq!(rotated.verify(&t), Some(ada));
        assert_eq!(LinkKeys::new(KEY, &[]).verify(&t), None);
        // New tokens are signed with the current key.
        assert_eq!(
            LinkKeys::new(KEY, &[]).verify(&rotated.sign(ada)),
            Some(ada)
        );
    }
}
