//! The adapter half of the webhook registry (`planpush_app::Webhooks`):
//!
//! - [`SecretBox`]: hook secrets sealed at rest with AES-256-GCM under a key derived (HKDF-SHA256)
//!   from `SECRET_KEY`; the hook's id is the associated data, so a sealed secret copied onto
//!   another hook's row does not open. Earlier keys (`SECRET_KEY_PREVIOUS`) still open secrets
//!   sealed under them. A secret has to be recoverable to sign with (HMAC is symmetric), so it
//!   cannot be hashed like API tokens; a database dump without `SECRET_KEY` does not reveal it.
//! - [`AllowedNetworks`]: `WEBHOOK_ALLOWED_NETWORKS`, the internal ranges an operator allows.
//! - [`HookKeys`]: `planpush_app::WebhookKeys` — the registration-time URL rules and new secrets.
//! - [`WebhookNotifier`]: the outbox notifier of the `webhooks` channel (fan-out of one event to
//!   every subscribed hook, exactly once) and of every `webhook:<id>` channel (one signed POST).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use planpush_app::{
    DeliveryError, HookPayload, InfraError, Notification, Notifier, Outbox, OutboxMessage,
    UrlRefused, WEBHOOKS_CHANNEL, WebhookEvent, WebhookId, WebhookKeys, WebhookRepository,
    hook_channel, hook_of_channel,
};
use sha2::Sha256;
use url::Url;

use super::{WebhookSecret, check_url, envelope, post_signed};

/// The version prefix of a sealed secret.
const SEALED_PREFIX: &str = "v1.";
const HKDF_INFO: &[u8] = b"planpush webhook secret v1";

/// Seals and opens hook secrets (see the module docs).
pub struct SecretBox {
    /// The current key first, then earlier ones (opening only).
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<keys>)")
    }
}

fn derive(secret_key: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit; `expand` cannot fail for it.
    let _ = Hkdf::<Sha256>::new(None, secret_key).expand(HKDF_INFO, &mut key);
    key
}

impl SecretBox {
    /// Keys derived from `secret_key` (`SECRET_KEY`) and `previous` (`SECRET_KEY_PREVIOUS`).
    pub fn new(secret_key: &[u8], previous: &[Vec<u8>]) -> Self {
        let mut keys = vec![derive(secret_key)];
        keys.extend(previous.iter().map(|k| derive(k)));
        Self { keys }
    }

    /// `v1.` + base64(nonce ‖ ciphertext), bound to `hook`.
    pub fn seal(&self, hook: WebhookId, secret: &WebhookSecret) -> Result<String, InfraError> {
        let cipher = Aes256Gcm::new((&self.keys[0]).into());
        let nonce_bytes: [u8; 12] = rand::random();
        let aad = hook.to_string();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: &secret.0,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| InfraError::Unknown(anyhow::anyhow!("cannot seal the webhook secret")))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    /// The secret sealed for `hook`; `None` when no key opens it (another hook's secret, a
    /// tampered value, or a `SECRET_KEY` changed without keeping the old one in
    /// `SECRET_KEY_PREVIOUS`).
    pub fn open(&self, hook: WebhookId, sealed: &str) -> Option<WebhookSecret> {
        let raw = STANDARD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let aad = hook.to_string();
        self.keys.iter().find_map(|k| {
            Aes256Gcm::new(k.into())
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: aad.as_bytes(),
                    },
                )
                .ok()
                .map(WebhookSecret)
        })
    }
}

/// Whether an internal address may receive webhooks anyway (`WEBHOOK_ALLOWED_NETWORKS`, parsed
/// by the server like `TRUSTED_PROXIES`); public addresses always may.
pub type AllowedNetworks = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// No internal network allowed (the default).
pub fn no_internal_networks() -> AllowedNetworks {
    Arc::new(|_| false)
}

/// `planpush_app::WebhookKeys` over [`check_url`] and [`SecretBox`].
pub struct HookKeys {
    secrets: Arc<SecretBox>,
    allow: AllowedNetworks,
}

impl HookKeys {
    pub fn new(secrets: Arc<SecretBox>, allow: AllowedNetworks) -> Self {
        Self { secrets, allow }
    }
}

impl WebhookKeys for HookKeys {
    fn check_url(&self, raw: &str) -> Result<String, UrlRefused> {
        check_url(raw, &*self.allow)
            .map(|u| u.to_string())
            .map_err(|e| UrlRefused(e.to_string()))
    }

    fn new_secret(&self, id: WebhookId) -> Result<(String, String), InfraError> {
        let secret = WebhookSecret::generate();
        let sealed = self.secrets.seal(id, &secret)?;
        Ok((secret.expose(), sealed))
    }
}

/// Delivers the `webhooks` channel (fan-out) and every hook's `webhook:<id>` channel.
pub struct WebhookNotifier {
    hooks: Arc<dyn WebhookRepository>,
    outbox: Arc<dyn Outbox>,
    secrets: Arc<SecretBox>,
    allow: AllowedNetworks,
    base_url: String,
    timeout: Duration,
}

impl WebhookNotifier {
    /// `timeout` bounds each POST; `base_url` (`BASE_URL`) makes the deep links in payloads.
    pub fn new(
        hooks: Arc<dyn WebhookRepository>,
        outbox: Arc<dyn Outbox>,
        secrets: Arc<SecretBox>,
        allow: AllowedNetworks,
        base_url: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            hooks,
            outbox,
            secrets,
            allow,
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// One message per hook subscribed to the event, written with the event marked delivered.
    async fn fan_out(&self, message: &OutboxMessage) -> Result<(), DeliveryError> {
        let n = Notification::from_json(&message.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable payload: {e}")))?;
        let event = WebhookEvent::of(&n);
        let hooks = self
            .hooks
            .list()
            .await
            .map_err(|e| DeliveryError::Retryable(format!("cannot list the webhooks: {e}")))?;
        let mut messages = vec![];
        for hook in hooks.iter().filter(|h| h.events.contains(&event)) {
            let mut m =
                OutboxMessage::new(&hook_channel(hook.id), String::new(), message.created_at);
            let payload = HookPayload {
                event: event.as_str().to_owned(),
                body: envelope(&m.id.to_string(), &n, message.created_at, &self.base_url),
            };
            m.payload = serde_json::to_string(&payload)
                .map_err(|e| DeliveryError::Permanent(format!("cannot encode: {e}")))?;
            messages.push(m);
        }
        let written = self
            .outbox
            .fan_out(message.id, &messages, chrono::Utc::now())
            .await
            .map_err(|e| DeliveryError::Retryable(format!("cannot fan out: {e}")))?;
        tracing::debug!(id = %message.id, hooks = messages.len(), written, "webhook event fanned out");
        Ok(())
    }

    /// One signed POST of a hook's message.
    async fn post(&self, id: WebhookId, message: &OutboxMessage) -> Result<(), DeliveryError> {
        let hook = match self.hooks.get(id).await {
            Ok(h) => h,
            Err(InfraError::NotFound) => {
                return Err(DeliveryError::Permanent("the webhook was deleted".into()));
            }
            Err(e) => {
                return Err(DeliveryError::Retryable(format!(
                    "cannot read the webhook: {e}"
                )));
            }
        };
        let payload: HookPayload = serde_json::from_str(&message.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable payload: {e}")))?;
        let url = Url::parse(&hook.url)
            .map_err(|_| DeliveryError::Permanent("the stored URL is invalid".into()))?;
        let secret = self.secrets.open(hook.id, &hook.sealed_secret).ok_or_else(|| {
            DeliveryError::Permanent(
                "the signing secret does not open (was SECRET_KEY changed without SECRET_KEY_PREVIOUS?)"
                    .into(),
            )
        })?;
        // Signed at the attempt's time: receivers check it against their clock (replay window).
        let timestamp = chrono::Utc::now().timestamp();
        post_signed(
            &url,
            &secret,
            &message.id.to_string(),
            timestamp,
            &payload.body,
            &*self.allow,
            self.timeout,
        )
        .await
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn channel(&self) -> &str {
        WEBHOOKS_CHANNEL
    }

    fn accepts(&self, channel: &str) -> bool {
        channel == WEBHOOKS_CHANNEL || hook_of_channel(channel).is_some()
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), DeliveryError> {
        if message.channel == WEBHOOKS_CHANNEL {
            return self.fan_out(message).await;
        }
        let id = hook_of_channel(&message.channel)
            .ok_or_else(|| DeliveryError::Permanent("not a webhook channel".into()))?;
        self.post(id, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_for_their_hook_only() {
        let b = SecretBox::new(b"0123456789abcdef0123456789abcdef", &[]);
        let (h1, h2) = (WebhookId::new(), WebhookId::new());
        let s = WebhookSecret::generate();
        let sealed = b.seal(h1, &s).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(
            !sealed.contains(&s.expose()[6..]),
            "not stored in the clear"
        );
        assert_eq!(b.open(h1, &sealed), Some(s.clone()));
        assert_eq!(b.open(h2, &sealed), None, "bound to the hook");
        let other = SecretBox::new(b"another key of at least 32 chars!!", &[]);
        assert_eq!(other.open(h1, &sealed), None, "another SECRET_KEY");
        let rotated = SecretBox::new(
            b"another key of at least 32 chars!!",
            &[b"0123456789abcdef0123456789abcdef".to_vec()],
        );
        assert_eq!(
            rotated.open(h1, &sealed),
            Some(s),
            "SECRET_KEY_PREVIOUS opens it"
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(b.open(h1, &String::from_utf8(tampered).unwrap()), None);
        assert_eq!(b.open(h1, "v1.AAAA"), None);
        assert_eq!(b.open(h1, "garbage"), None);
    }

    #[test]
    fn keys_refuse_internal_urls_unless_allowed() {
        let secrets = Arc::new(SecretBox::new(b"0123456789abcdef0123456789abcdef", &[]));
        let strict = HookKeys::new(secrets.clone(), no_internal_networks());
        for (url, why) in [
            ("http://example.com/hook", "https"),
            ("https://10.0.0.5/hook", "internal"),
            ("https://169.254.169.254/latest", "internal"),
            ("https://[::1]/hook", "internal"),
            ("http://127.0.0.1:9/hook", "internal"),
            ("https://user:pw@example.com/", "password"),
            ("not a url", "valid"),
        ] {
            let e = strict.check_url(url).unwrap_err();
            assert!(e.0.contains(why), "{url}: {e}");
        }
        assert_eq!(
            strict.check_url("https://hooks.example.com/in").unwrap(),
            "https://hooks.example.com/in"
        );
        let loopback: AllowedNetworks = Arc::new(|ip: IpAddr| ip.is_loopback());
        let loopback = HookKeys::new(secrets.clone(), loopback);
        assert!(loopback.check_url("http://127.0.0.1:9/hook").is_ok());
        let id = WebhookId::new();
        let (shown, sealed) = loopback.new_secret(id).unwrap();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(secrets.open(id, &sealed).map(|s| s.expose()), Some(shown));
    }
}
