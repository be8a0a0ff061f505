//! SCIM 2.0: resources, the filter grammar and PATCH semantics, as pure functions.
//!
//! Not implemented yet: it arrives with the Okta/SCIM issue.
//!
//! Architecture invariant: pure protocol code (fuzzable); no I/O.
