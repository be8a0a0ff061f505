//! SCIM 2.0 (RFC 7643, RFC 7644): resources, the filter grammar and PATCH semantics, as pure
//! functions over resources held as JSON objects.
//!
//! Resources stay JSON (`serde_json::Map`) on purpose: identity providers send attributes this
//! service does not interpret (addresses, phone numbers, the enterprise extension), and a
//! provisioning client expects to read back what it wrote. Only the fields PlanPush acts on are
//! extracted ([`UserFields`], [`GroupFields`]). Attribute names are case-insensitive everywhere;
//! the [`schema`] table gives their canonical spelling, types and mutability.
//!
//! Architecture invariant: pure protocol code (fuzzable); no I/O, no clock.

mod error;
pub mod filter;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::{CompareOp, Filter};
pub use patch::{Op, PatchOperation, PatchPath};
pub use path::AttrPath;
pub use resource::{GroupFields, ListQuery, UserFields};
pub use schema::ResourceKind;
