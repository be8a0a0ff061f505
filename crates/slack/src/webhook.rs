//! Signed outgoing webhooks in the [Standard Webhooks](https://www.standardwebhooks.com/) style,
//! and the address rules that keep them from being pointed at the server's own network (SSRF).
//!
//! - [`WebhookSecret`]: `whsec_` + base64 of 32 random bytes; only its bytes key the HMAC.
//! - [`sign`]: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the `webhook-signature`
//!   header; `webhook-id` and `webhook-timestamp` (Unix seconds) carry the other two parts.
//! - [`check_url`]: at registration — `https://`, or `http://` to a loopback host (tests); no
//!   credentials in the URL; an IP-literal host must be public unless explicitly allowed.
//! - [`resolve_checked`]: at every delivery — the host is resolved and every address checked
//!   again (a name that resolved to a public address when registered may point inside later: DNS
//!   rebinding); the request is then sent to the checked address only, and redirects are never
//!   followed ([`post_signed`]).
//! - [`envelope`]: the JSON body — `id`, `type` (`plan.version_created`, `comment.created`,
//!   `comment.resolved`), `timestamp`, `data`.
//!
//! - [`hooks`]: the registry's adapter half — sealing secrets at rest, the allowed networks, and
//!   the outbox notifier that fans events out to the hooks and delivers each hook's messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use planpush_app::{DeliveryError, Notification};
use serde_json::{Value, json};
use sha2::Sha256;
use url::{Host, Url};

use crate::{anchor_url, outcome, plan_url, transport_error};

pub mod hooks;

/// The prefix of a webhook signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A webhook signing secret (its raw key bytes). Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// A new random secret (32 bytes from the OS-seeded generator).
    pub fn generate() -> Self {
        Self(rand::random::<[u8; 32]>().to_vec())
    }

    /// Reads `whsec_<base64>`; `None` when the prefix or the base64 is wrong, or the key is shorter
    /// than 24 bytes.
    pub fn parse(s: &str) -> Option<Self> {
        let key = STANDARD.decode(s.strip_prefix(SECRET_PREFIX)?).ok()?;
        (key.len() >= 24 && key.len() <= 64).then_some(Self(key))
    }

    /// The `whsec_…` form, shown to the admin once and given to the receiver.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }
}

/// The `webhook-signature` header value for one delivery.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret.0) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Why a webhook URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not a valid absolute URL")]
    Invalid,
    #[error("must use https:// (plain http:// only to a loopback host)")]
    Scheme,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("must not contain a fragment")]
    Fragment,
    #[error("{0} is a private, loopback or otherwise internal address, not allowed for webhooks")]
    Internal(IpAddr),
    #[error("the host name does not resolve")]
    Unresolvable,
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique local),
/// link-local, shared (CGNAT), unspecified, multicast, broadcast, documentation, benchmarking or
/// reserved, nor an IPv4-mapped or NAT64 form of one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // 64:ff9b::/96 (NAT64) embeds an IPv4 address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let o = v6.octets();
                return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from([0u8; 16]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240) // reserved
}

/// Whether an address may receive webhooks: public, or explicitly allowed (`allow`, from
/// `WEBHOOK_ALLOWED_NETWORKS`).
pub fn address_allowed(ip: IpAddr, allow: &dyn Fn(IpAddr) -> bool) -> bool {
    is_public(ip) || allow(ip)
}

fn loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a webhook URL when it is registered (see the module docs).
pub fn check_url(raw: &str, allow: &dyn Fn(IpAddr) -> bool) -> Result<Url, UrlRefusal> {
    let url = Url::parse(raw.trim()).map_err(|_| UrlRefusal::Invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if loopback_host(&url) => {}
        _ => return Err(UrlRefusal::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    if url.fragment().is_some() {
        return Err(UrlRefusal::Fragment);
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        Some(Host::Domain(_)) => None,
        None => return Err(UrlRefusal::Invalid),
    };
    if let Some(ip) = ip.filter(|ip| !address_allowed(*ip, allow)) {
        return Err(UrlRefusal::Internal(ip));
    }
    Ok(url)
}

/// Resolves `url`'s host at delivery time and returns the first address that may receive
/// webhooks; refuses when any resolved address is internal (and not allowed), so a name that
/// answers with a mix of public and internal addresses is not used at all.
pub async fn resolve_checked(
    url: &Url,
    allow: &(dyn Fn(IpAddr) -> bool + Sync),
) -> Result<SocketAddr, UrlRefusal> {
    let port = url.port_or_known_default().ok_or(UrlRefusal::Invalid)?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|_| UrlRefusal::Unresolvable)?
            .collect(),
        None => return Err(UrlRefusal::Invalid),
    };
    if let Some(bad) = addrs.iter().find(|a| !address_allowed(a.ip(), allow)) {
        return Err(UrlRefusal::Internal(bad.ip()));
    }
    addrs.first().copied().ok_or(UrlRefusal::Unresolvable)
}

/// The event type of a notification, as named in a webhook delivery.
pub fn event_type(n: &Notification) -> &'static str {
    planpush_app::WebhookEvent::of(n).as_str()
}

/// The body of a test delivery: `type` `webhook.test`, `data` a short explanation.
pub fn test_envelope(id: &str, at: DateTime<Utc>) -> String {
    json!({
        "id": id,
        "type": planpush_app::TEST_EVENT,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": {"message": "A test delivery from PlanPush: the webhook is registered and its signature can be checked."},
    })
    .to_string()
}

/// The JSON body of one delivery: `{"id", "type", "timestamp" (RFC 3339), "data"}`; `data` is the
/// notification (its `kind` and fields) with `url`, the deep link into the plan.
pub fn envelope(id: &str, n: &Notification, at: DateTime<Utc>, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let mut data = serde_json::to_value(n).unwrap_or(Value::Null);
    let url = match n {
        Notification::VersionPushed { plan, version, .. } => {
            format!("{}?v={version}", plan_url(base, plan))
        }
        Notification::CommentCreated { plan, anchor, .. }
        | Notification::CommentResolved { plan, anchor, .. } => anchor_url(base, plan, anchor),
        Notification::PlanPublished { plan, .. } => plan_url(base, plan),
        Notification::VersionsPushed { plan, versions, .. } => format!(
            "{}?v={}",
            plan_url(base, plan),
            versions.last().copied().unwrap_or(1)
        ),
        Notification::ReviewRequested { plan, version, .. }
        | Notification::ReviewDecided { plan, version, .. } => {
            format!("{}?v={version}", plan_url(base, plan))
        }
    };
    if let Value::Object(map) = &mut data {
        map.insert("url".into(), Value::String(url));
    }
    json!({
        "id": id,
        "type": event_type(n),
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": data,
    })
    .to_string()
}

/// One signed POST of `body` to `url`: the host is resolved and checked again ([`resolve_checked`]),
/// the connection goes to the checked address only, redirects are not followed, and the attempt
/// is bounded by `timeout`. Headers: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
/// A refused address is [`DeliveryError::Permanent`]; answers map like the chat notifiers'.
#[allow(clippy::too_many_arguments)]
pub async fn post_signed(
    url: &Url,
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &str,
    allow: &(dyn Fn(IpAddr) -> bool + Sync),
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let addr = resolve_checked(url, allow)
        .await
        .map_err(|e| DeliveryError::Permanent(format!("refused: {e}")))?;
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("planpush/", env!("CARGO_PKG_VERSION")));
    if let Some(Host::Domain(d)) = url.host() {
        // Pinned: the name is not resolved again between the check and the connection.
        builder = builder.resolve(d, addr);
    }
    let http = builder
        .build()
        .map_err(|e| DeliveryError::Retryable(format!("cannot build the HTTP client: {e}")))?;
    let response = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sign(secret, id, timestamp, body))
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| DeliveryError::Retryable(transport_error(e)))?;
    outcome(response).await
}
