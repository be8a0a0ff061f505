//! The e-mail notifier's adapter: sends the application's [`Mail`]s over SMTP with `lettre`
//! (async, rustls), renders their bodies ([`render`]) and signs one-click unsubscribe links
//! ([`keys`]).
//!
//! - [`SmtpMailer`] implements `app::Mailer`. `SMTP_URL` follows lettre's `from_url` conventions:
//!   `smtp://host:25` (plain; add `?tls=required` for STARTTLS, `?tls=opportunistic` to use it
//!   when offered), `smtps://user:pass@host:465` (TLS from the start), user and password
//!   percent-encoded in the URL. Every message is `multipart/alternative` (plain text and HTML),
//!   with `List-Unsubscribe` (the one-click link) and `List-Unsubscribe-Post:
//!   List-Unsubscribe=One-Click` (RFC 8058), and the outbox message id in its `Message-ID`.
//! - Every SMTP failure (connection, timeout, 4xx and 5xx answers) is retryable: the outbox
//!   backs off and gives up after `OUTBOX_MAX_ATTEMPTS`, which covers a relay that is down or
//!   misconfigured (a refused login or relay is fixed by an operator, and the mail then goes out).
//!   Error texts never contain the URL or its password.
//!
//! Architecture invariant: formats and sends e-mail; knows no database and no web framework.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use planpush_app::{DeliveryError, Mail, Mailer};

pub mod keys;
pub mod render;

pub use keys::LinkKeys;

/// `List-Unsubscribe: <https://…/unsubscribe/TOKEN>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// Why the SMTP settings are refused (one line, naming no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "must be an smtp:// or smtps:// URL (lettre's conventions), e.g. smtp://127.0.0.1:25 or smtps://user:password@mail.example.com:465"
    )]
    Url,
    #[error("must be an e-mail address, optionally with a name: PlanPush <planpush@example.com>")]
    From,
}

/// Checks `SMTP_FROM`.
pub fn parse_from(from: &str) -> Result<Mailbox, SettingsError> {
    from.trim().parse().map_err(|_| SettingsError::From)
}

/// Checks `SMTP_URL` without connecting (the password never appears in the answer).
pub fn check_url(url: &str) -> Result<(), SettingsError> {
    let parsed = url::Url::parse(url).map_err(|_| SettingsError::Url)?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
        return Err(SettingsError::Url);
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| SettingsError::Url)?;
    Ok(())
}

/// Sends e-mail through one SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The host of `BASE_URL` (the `Message-ID`'s right side and the `EHLO` name).
    domain: String,
    timeout: Duration,
}

impl SmtpMailer {
    /// A mailer for `url` (`SMTP_URL`) sending as `from` (`SMTP_FROM`); every attempt is bounded
    /// by `timeout`. `base_url` names this server (`BASE_URL`).
    pub fn new(
        url: &str,
        from: &str,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Self, SettingsError> {
        check_url(url)?;
        let from = parse_from(from)?;
        let domain = url::Url::parse(base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "planpush.invalid".into());
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| SettingsError::Url)?
            .hello_name(ClientId::Domain(domain.clone()))
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            from,
            domain,
            timeout,
        })
    }

    /// The message as it goes on the wire.
    pub fn message(&self, mail: &Mail) -> Result<Message, DeliveryError> {
        let to: lettre::Address = mail
            .to
            .parse()
            .map_err(|_| DeliveryError::Permanent("the recipient's address is not valid".into()))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(mail.to_name.clone(), to))
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}@{}>", mail.id, self.domain)))
            .header(ListUnsubscribe(format!("<{}>", mail.unsubscribe_link)))
            .header(ListUnsubscribePost)
            .header(lettre::message::header::Date::now())
            .multipart(MultiPart::alternative_plain_html(
                render::text(mail),
                render::html(mail),
            ))
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the e-mail: {e}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = self.message(mail)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(DeliveryError::Retryable(format!(
                "SMTP: no answer within {} ms",
                self.timeout.as_millis()
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(DeliveryError::Retryable(describe(&e))),
        }
    }
}

/// An SMTP failure in words: the server's code and text, or the kind of failure. lettre's errors
/// name no credentials; the URL is never part of them.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("SMTP {code}: {e}"),
        None if e.is_timeout() => "SMTP: timed out".into(),
        None => format!("SMTP: {e}"),
    }
}
