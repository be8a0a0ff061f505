//! E-mail notifications: who gets an e-mail about an inbox notification, when, and what it says.
//!
//! Every inbox notification is written with one outbox message on the channel [`EMAIL_CHANNEL`]
//! (payload `{"notification_id": …}`) when e-mail is configured (`SMTP_URL`). The worker
//! ([`EmailNotifier`], driven by [`crate::Deliveries`] like every channel, so retries and backoff
//! are the outbox's) decides at delivery time, from the recipient's preference ([`EmailMode`]):
//! `immediate` → an e-mail now; `daily` → nothing now (the digest covers it); `off` → nothing.
//! It also drops the message, sending nothing, when the recipient has no e-mail address, is
//! deactivated, or may no longer see the plan (a private plan is never told to someone who may
//! not see it).
//!
//! The daily digest ([`Emails::run_digests`]) assembles per `daily` user their unread
//! notifications since their previous digest ([`assemble_digest`], pure) and enqueues one message
//! (payload `{"digest": …}`); the recorded cut-off and the message are written in one transaction,
//! guarded by the previous cut-off, so two processes never both send one.
//!
//! What an e-mail looks like is the adapter's ([`Mailer`], the `mail` crate): this module hands it
//! a [`Mail`] with absolute links, including a one-click unsubscribe link signed by
//! [`UnsubscribeKeys`] that works without signing in.

mod digest;
mod inbox;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use planpush_identity::{User, UserId, UserRepoError};
use planpush_plans::{Plan, PlanId, PlanRepoError};
use serde::{Deserialize, Serialize};

pub use digest::{
    DIGEST_MAX_ITEMS, DIGEST_PERIOD, Digest, DigestGroup, assemble_digest, digest_due,
};

pub use inbox::RepositoryInbox;

use crate::{
    AccessCache, AuthMethod, DeliveryError, EMAIL_CHANNEL, InfraError, Notifier, OutboxMessage,
    Ports, Principal, can_see,
};

/// What a user wants by e-mail. The default is [`EmailMode::Immediate`]: a mention or a reply is
/// addressed to the person, who should hear about it; every e-mail carries a one-click
/// unsubscribe link, and the dashboard's Settings tab changes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailMode {
    /// One e-mail per notification, as it happens.
    #[default]
    Immediate,
    /// One e-mail a day listing the unread notifications.
    Daily,
    /// No e-mail.
    Off,
}

impl EmailMode {
    pub const ALL: [EmailMode; 3] = [Self::Immediate, Self::Daily, Self::Off];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Daily => "daily",
            Self::Off => "off",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A user's stored choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailPreference {
    pub mode: EmailMode,
    /// The cut-off of the previous digest (set when the user chose `daily`): the next digest lists
    /// what came after it.
    pub last_digest_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The users' e-mail preferences.
#[async_trait]
pub trait EmailPreferenceRepository: Send + Sync {
    /// The stored preference; `Ok(None)` for a user who never chose (the default applies).
    async fn get(&self, user: UserId) -> Result<Option<EmailPreference>, InfraError>;
    /// Stores `mode` for `user` (insert or replace). Switching to `daily` from anything else MUST
    /// set `last_digest_at` to `now` (the first digest comes a day later and lists what came after
    /// the switch); otherwise `last_digest_at` stays.
    async fn set_mode(
        &self,
        user: UserId,
        mode: EmailMode,
        now: DateTime<Utc>,
    ) -> Result<(), InfraError>;
    /// Every user whose mode is `daily`, with their `last_digest_at`.
    async fn daily(&self) -> Result<Vec<(UserId, Option<DateTime<Utc>>)>, InfraError>;
    /// In one transaction: sets `user`'s `last_digest_at` to `now` and enqueues `message` (if
    /// any) — only if the mode is still `daily` and `last_digest_at` still equals `previous`;
    /// otherwise writes nothing and answers `Ok(false)` (another process sent this digest).
    async fn record_digest(
        &self,
        user: UserId,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        message: Option<&OutboxMessage>,
    ) -> Result<bool, InfraError>;
}

/// What an inbox notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone mentioned the recipient (`@login`) in a comment.
    Mention,
    /// A reply on a thread the recipient takes part in or a plan they own.
    Reply,
    /// A new thread on a plan the recipient owns or follows.
    Comment,
    /// A new version of a plan the recipient follows.
    Version,
    /// Anything newer (told as "activity").
    #[serde(other)]
    Other,
}

impl NotificationKind {
    pub fn parse(s: &str) -> Self {
        match s {
            "mention" => Self::Mention,
            "reply" => Self::Reply,
            "comment" => Self::Comment,
            "version" => Self::Version,
            _ => Self::Other,
        }
    }
}

/// One inbox notification, as e-mail needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: String,
    pub recipient: UserId,
    pub kind: NotificationKind,
    pub plan: PlanId,
    /// Login of who caused it.
    pub actor: Option<String>,
    /// A short excerpt (the comment's start).
    pub excerpt: Option<String>,
    /// Where on the page (the deep link's fragment).
    pub anchor: Option<String>,
    pub comment: Option<String>,
    pub version: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Where the inbox notifications are read from.
#[async_trait]
pub trait InboxSource: Send + Sync {
    /// One notification; `Ok(None)` when it does not exist (any more).
    async fn notification(&self, id: &str) -> Result<Option<InboxItem>, InfraError>;
    /// `user`'s notifications created after `since`, unread (any order; [`assemble_digest`] applies
    /// the exact window).
    async fn unread_since(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<InboxItem>, InfraError>;
}

/// Signs and checks one-click unsubscribe tokens.
pub trait UnsubscribeKeys: Send + Sync {
    /// A token naming `user` and the purpose "stop e-mail" (nothing else: it MUST NOT be accepted
    /// for another purpose, and MUST NOT name another user once altered).
    fn sign(&self, user: UserId) -> String;
    /// The user a token was signed for; `None` when it is forged, altered, or signed for another
    /// purpose. MUST compare the signature in constant time.
    fn verify(&self, token: &str) -> Option<UserId>;
}

/// One notification line of an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailItem {
    /// "ada mentioned you", "ada replied", "Version 3".
    pub headline: String,
    pub excerpt: Option<String>,
    /// Absolute deep link.
    pub link: String,
    pub at: DateTime<Utc>,
}

/// One plan's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailGroup {
    pub plan_title: String,
    /// Absolute link to the plan.
    pub plan_link: String,
    pub items: Vec<MailItem>,
}

/// An e-mail to send, channel-neutral: the adapter writes the plain-text and HTML bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The outbox message id (the `Message-ID`, so a retried send is recognisably the same).
    pub id: String,
    pub to: String,
    pub to_name: Option<String>,
    pub subject: String,
    /// The first line of the body ("ada mentioned you in Auth redesign.").
    pub intro: String,
    pub groups: Vec<MailGroup>,
    /// Notifications not listed (a long digest).
    pub more: usize,
    /// One-click unsubscribe (`List-Unsubscribe`, RFC 8058), absolute.
    pub unsubscribe_link: String,
    /// The dashboard's settings, absolute.
    pub settings_link: String,
}

/// Sends e-mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message. MUST finish within a bounded time (a timeout is `Retryable`) and MUST
    /// NOT put credentials (the SMTP password) into error texts, which are stored and logged.
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError>;
}

/// The payload of an e-mail outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmailPayload {
    /// One notification (written with it, by the inbox).
    One { notification_id: String },
    /// A daily digest.
    Digest { digest: DigestRef },
}

/// What a digest message names: the notifications it lists, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRef {
    pub user_id: UserId,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub notification_ids: Vec<String>,
    #[serde(default)]
    pub more: usize,
}

/// The user's settings, as the API and the dashboard show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub mode: EmailMode,
    /// Where e-mail goes (from the identity provider); none: nothing is sent.
    pub address: Option<String>,
    /// Whether the server sends e-mail at all (`SMTP_URL`).
    pub enabled: bool,
}

/// Why an unsubscribe link is refused.
#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeError {
    /// Forged, altered, or for a user who no longer exists.
    #[error("this unsubscribe link is not valid")]
    InvalidToken,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Who an unsubscribe link is for (the confirmation page names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeTarget {
    pub user: UserId,
    pub login: String,
    pub mode: EmailMode,
}

/// The e-mail use cases: preferences, unsubscribe, delivery and digests.
#[derive(Clone)]
pub struct Emails {
    ports: Ports,
    access: Arc<AccessCache>,
    /// `BASE_URL` without a trailing slash.
    base_url: String,
    keys: Option<Arc<dyn UnsubscribeKeys>>,
    inbox: Option<Arc<dyn InboxSource>>,
    mailer: Option<Arc<dyn Mailer>>,
    /// Whether the server sends e-mail (`SMTP_URL`), for the settings' sake (the web layer has
    /// no mailer).
    enabled: bool,
}

fn unknown(e: impl std::fmt::Display) -> InfraError {
    InfraError::Unknown(anyhow::anyhow!("{e}"))
}

impl Emails {
    /// Preferences only: nothing is sent and no unsubscribe link is valid until
    /// [`Emails::with_keys`] and [`Emails::with_delivery`].
    pub fn new(ports: Ports, access: Arc<AccessCache>, base_url: &str) -> Self {
        Self {
            ports,
            access,
            base_url: base_url.trim_end_matches('/').to_owned(),
            keys: None,
            inbox: None,
            mailer: None,
            enabled: false,
        }
    }

    /// Signs and accepts unsubscribe links with `keys`.
    pub fn with_keys(mut self, keys: Arc<dyn UnsubscribeKeys>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Sends e-mail with `mailer`, reading notifications from `inbox`.
    pub fn with_delivery(mut self, inbox: Arc<dyn InboxSource>, mailer: Arc<dyn Mailer>) -> Self {
        self.inbox = Some(inbox);
        self.mailer = Some(mailer);
        self.enabled = true;
        self
    }

    /// Says whether the server sends e-mail at all (where it has no mailer of its own).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether e-mail is sent at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    async fn mode_of(&self, user: UserId) -> Result<EmailMode, InfraError> {
        Ok(self
            .ports
            .email_preferences
            .get(user)
            .await?
            .map(|p| p.mode)
            .unwrap_or_default())
    }

    /// The caller's own settings.
    pub async fn settings(&self, p: &Principal) -> Result<EmailSettings, InfraError> {
        let user = self.user(p.user_id).await?.ok_or(InfraError::NotFound)?;
        Ok(EmailSettings {
            mode: self.mode_of(p.user_id).await?,
            address: user.email.map(|e| e.as_str().to_owned()),
            enabled: self.enabled(),
        })
    }

    /// Changes the caller's own mode (anyone signed in, for themselves only).
    pub async fn set_mode(
        &self,
        p: &Principal,
        mode: EmailMode,
        now: DateTime<Utc>,
    ) -> Result<EmailSettings, InfraError> {
        self.ports
            .email_preferences
            .set_mode(p.user_id, mode, now)
            .await?;
        self.settings(p).await
    }

    /// Who `token` unsubscribes (the confirmation page), without changing anything.
    pub async fn unsubscribe_target(
        &self,
        token: &str,
    ) -> Result<UnsubscribeTarget, UnsubscribeError> {
        let user = self
            .keys
            .as_ref()
            .and_then(|k| k.verify(token))
            .ok_or(UnsubscribeError::InvalidToken)?;
        let found = self
            .user(user)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .ok_or(UnsubscribeError::InvalidToken)?;
        Ok(UnsubscribeTarget {
            user,
            login: found.login,
            mode: self
                .mode_of(user)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    }

    /// Turns e-mail off for the user `token` names: no session needed, the signed token is the
    /// authority (RFC 8058 one-click). Idempotent.
    pub async fn unsubscribe(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<UnsubscribeTarget, UnsubscribeError> {
        let mut target = self.unsubscribe_target(token).await?;
        self.ports
            .email_preferences
            .set_mode(target.user, EmailMode::Off, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(user = %target.user, "unsubscribed from e-mail by link");
        target.mode = EmailMode::Off;
        Ok(target)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, InfraError> {
        match self.ports.users.get(id).await {
            Ok(u) => Ok(Some(u)),
            Err(UserRepoError::NotFound) => Ok(None),
            Err(e) => Err(unknown(e)),
        }
    }

    /// The recipient, when e-mail may go to them at all: active, with an address.
    async fn recipient(&self, id: UserId) -> Result<Option<(User, Principal)>, InfraError> {
        let Some(user) = self.user(id).await? else {
            return Ok(None);
        };
        if !user.is_active() || user.email.is_none() {
            return Ok(None);
        }
        let principal = self
            .access
            .principal(id, AuthMethod::Session)
            .await
            .map_err(InfraError::Unknown)?;
        Ok(principal.map(|p| (user, p)))
    }

    /// The plan, if `p` may see it now.
    async fn visible_plan(&self, p: &Principal, plan: PlanId) -> Result<Option<Plan>, InfraError> {
        match self.ports.plans.get(plan).await {
            Ok(plan) if can_see(p, &plan) => Ok(Some(plan)),
            Ok(_) | Err(PlanRepoError::NotFound) => Ok(None),
            Err(e) => Err(unknown(e)),
        }
    }

    fn link(&self, plan: &Plan, item: &InboxItem) -> String {
        let mut link = format!("{}/p/{}", self.base_url, plan.slug());
        if let (NotificationKind::Version, Some(v)) = (&item.kind, item.version) {
            link.push_str(&format!("?v={v}"));
        }
        if let Some(a) = &item.anchor {
            link.push('#');
            link.push_str(&url_fragment(a));
        }
        link
    }

    fn headline(item: &InboxItem) -> String {
        let who = item.actor.as_deref().unwrap_or("Someone");
        match (&item.kind, item.version) {
            (NotificationKind::Mention, _) => format!("{who} mentioned you"),
            (NotificationKind::Reply, _) => format!("{who} replied"),
            (NotificationKind::Comment, _) => format!("{who} commented"),
            (NotificationKind::Version, Some(v)) => format!("{who} pushed version {v}"),
            (NotificationKind::Version, None) => format!("{who} pushed a new version"),
            (NotificationKind::Other, _) => format!("New activity by {who}"),
        }
    }

    fn mail_item(&self, plan: &Plan, item: &InboxItem) -> MailItem {
        MailItem {
            headline: Self::headline(item),
            excerpt: item.excerpt.clone().filter(|e| !e.trim().is_empty()),
            link: self.link(plan, item),
            at: item.created_at,
        }
    }

    fn mail(&self, id: &str, user: &User, subject: String, intro: String) -> Option<Mail> {
        let keys = self.keys.as_ref()?;
        Some(Mail {
            id: id.to_owned(),
            to: user.email.as_ref()?.as_str().to_owned(),
            to_name: user.name.clone(),
            subject,
            intro,
            groups: vec![],
            more: 0,
            unsubscribe_link: format!("{}/unsubscribe/{}", self.base_url, keys.sign(user.id)),
            settings_link: format!("{}/dashboard?tab=settings#pane-settings", self.base_url),
        })
    }

    /// The e-mail for one outbox message, or `None` when nothing is to be sent (see the module
    /// documentation for when a message is dropped).
    pub async fn compose(&self, message: &OutboxMessage) -> Result<Option<Mail>, DeliveryError> {
        let payload: EmailPayload = serde_json::from_str(&message.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable e-mail payload: {e}")))?;
        let retry = |e: InfraError| DeliveryError::Retryable(e.to_string());
        let Some(inbox) = &self.inbox else {
            return Err(DeliveryError::Permanent("e-mail is not configured".into()));
        };
        let id = message.id.to_string();
        match payload {
            EmailPayload::One { notification_id } => {
                let Some(item) = inbox.notification(&notification_id).await.map_err(retry)? else {
                    return Ok(None);
                };
                if self.mode_of(item.recipient).await.map_err(retry)? != EmailMode::Immediate {
                    return Ok(None);
                }
                let Some((user, p)) = self.recipient(item.recipient).await.map_err(retry)? else {
                    return Ok(None);
                };
                let Some(plan) = self.visible_plan(&p, item.plan).await.map_err(retry)? else {
                    return Ok(None);
                };
                let headline = Self::headline(&item);
                let subject = format!("{headline} on “{}”", plan.title());
                let intro = format!("{headline} on {}.", plan.title());
                let Some(mut mail) = self.mail(&id, &user, subject, intro) else {
                    return Ok(None);
                };
                mail.groups = vec![MailGroup {
                    plan_title: plan.title().to_owned(),
                    plan_link: format!("{}/p/{}", self.base_url, plan.slug()),
                    items: vec![self.mail_item(&plan, &item)],
                }];
                Ok(Some(mail))
            }
            EmailPayload::Digest { digest } => {
                if self.mode_of(digest.user_id).await.map_err(retry)? == EmailMode::Off {
                    return Ok(None);
                }
                let Some((user, p)) = self.recipient(digest.user_id).await.map_err(retry)? else {
                    return Ok(None);
                };
                let mut groups: Vec<(PlanId, MailGroup)> = vec![];
                let mut count = 0;
                for nid in &digest.notification_ids {
                    let Some(item) = inbox.notification(nid).await.map_err(retry)? else {
                        continue;
                    };
                    if item.recipient != user.id {
                        continue;
                    }
                    let Some(plan) = self.visible_plan(&p, item.plan).await.map_err(retry)? else {
                        continue;
                    };
                    let line = self.mail_item(&plan, &item);
                    count += 1;
                    match groups.iter_mut().find(|(id, _)| *id == plan.id()) {
                        Some((_, g)) => g.items.push(line),
                        None => groups.push((
                            plan.id(),
                            MailGroup {
                                plan_title: plan.title().to_owned(),
                                plan_link: format!("{}/p/{}", self.base_url, plan.slug()),
                                items: vec![line],
                            },
                        )),
                    }
                }
                if count == 0 {
                    return Ok(None);
                }
                let n = count + digest.more;
                let noun = if n == 1 {
                    "notification"
                } else {
                    "notifications"
                };
                let subject = format!("PlanPush daily digest: {n} {noun}");
                let intro = format!(
                    "{n} unread {noun} since {}.",
                    digest.since.format("%Y-%m-%d %H:%M UTC")
                );
                let Some(mut mail) = self.mail(&id, &user, subject, intro) else {
                    return Ok(None);
                };
                mail.groups = groups.into_iter().map(|(_, g)| g).collect();
                mail.more = digest.more;
                Ok(Some(mail))
            }
        }
    }

    /// Assembles and enqueues the digests due at `now`; returns how many were enqueued. Each
    /// user's cut-off advances with the message in one transaction, guarded by the previous
    /// cut-off, so a digest is enqueued once even when several processes run this together.
    pub async fn run_digests(&self, now: DateTime<Utc>) -> Result<usize, InfraError> {
        let Some(inbox) = &self.inbox else {
            return Ok(0);
        };
        let mut sent = 0;
        for (user, last) in self.ports.email_preferences.daily().await? {
            let since = last.unwrap_or(now - DIGEST_PERIOD);
            if last.is_some_and(|l| !digest_due(l, now)) {
                continue;
            }
            let items = inbox.unread_since(user, since).await?;
            let message = assemble_digest(items, since, now).map(|d| {
                let payload = EmailPayload::Digest {
                    digest: DigestRef {
                        user_id: user,
                        since: d.since,
                        until: d.until,
                        notification_ids: d.ids(),
                        more: d.more,
                    },
                };
                OutboxMessage::new(
                    EMAIL_CHANNEL,
                    serde_json::to_string(&payload).unwrap_or_default(),
                    now,
                )
            });
            if self
                .ports
                .email_preferences
                .record_digest(user, last, now, message.as_ref())
                .await?
                && message.is_some()
            {
                sent += 1;
            }
        }
        Ok(sent)
    }
}

/// Percent-encodes what may not stand in a URL fragment as is.
fn url_fragment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Delivers the [`EMAIL_CHANNEL`] through [`crate::Deliveries`].
pub struct EmailNotifier {
    emails: Emails,
}

impl EmailNotifier {
    /// `emails` must have keys and a mailer ([`Emails::with_keys`], [`Emails::with_delivery`]).
    pub fn new(emails: Emails) -> Self {
        Self { emails }
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn channel(&self) -> &str {
        EMAIL_CHANNEL
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), DeliveryError> {
        let Some(mail) = self.emails.compose(message).await? else {
            tracing::debug!(id = %message.id, "e-mail not sent: preference, recipient or visibility");
            return Ok(());
        };
        match &self.emails.mailer {
            Some(m) => m.send(&mail).await,
            None => Err(DeliveryError::Permanent("e-mail is not configured".into())),
        }
    }
}

#[cfg(test)]
mod tests;
