//! Identity domain: who people are and how they prove it.
//!
//! - [`User`] and the provider-agnostic [`ExternalIdentity`] `(provider, subject)` that maps to a user
//!   (never an e-mail address alone);
//! - secrets: [`TokenSecret`] (shown once), [`TokenHash`] (what is stored, compared in constant time);
//! - [`ApiToken`] families: personal tokens, rotating refresh tokens with reuse detection, short-lived
//!   access tokens;
//! - [`DeviceGrant`] for the RFC 8628 device flow, with [`UserCode`] and its polling rules;
//! - [`WebSession`] rows with idle and absolute expiry ([`SessionPolicy`]);
//! - the port traits the storage adapter implements, each with its error contract.
//!
//! Architecture invariant: this crate reads no clock, environment or network. Every rule takes `now`.

mod device;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
#[doc(hidden)]
pub mod id;
mod ports;
mod secret;
mod session;
mod token;
mod user;

pub use device::{
    DEVICE_CODE_TTL, DEVICE_POLL_INTERVAL, DeviceDecisionError, DeviceGrant, DeviceGrantId,
    DeviceGrantRecord, DeviceStatus, PollOutcome, UserCode,
};
pub use error::InvalidInput;
#[doc(hidden)]
pub use id::__private;
pub use ports::*;
pub use secret::{SecretKind, TokenHash, TokenSecret};
pub use session::{SessionPolicy, WebSession};
pub use token::{
    ACCESS_TOKEN_TTL, ApiToken, FamilyId, REFRESH_TOKEN_TTL, RefreshCheck, TokenId, TokenKind,
    TokenRejected,
};
pub use user::{Email, ExternalIdentity, Provider, User, UserId};
