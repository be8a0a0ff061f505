//! One module per port; each implements it for [`crate::Store`].

mod audit;
mod chunks;
mod comments;
mod devices;
mod email;
pub(crate) mod inbox;
pub(crate) mod infra;
pub(crate) mod plans;
mod presence;
mod reviews;
mod roles;
mod scim;
pub(crate) mod search;
mod sessions;
mod tokens;
pub(crate) mod users;
pub(crate) mod versions;
mod webhooks;
