//! [`uuid_id!`](crate::uuid_id): the one definition of a UUID-backed id type, used by every domain
//! crate (`UserId`, `PlanId`, `CommentId`, `AuditId`, `OutboxMessageId`, token and grant ids), so
//! they cannot drift apart.

/// What the macro's expansion needs, reachable from any crate through `$crate`.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use uuid::Uuid;
}

/// Defines `pub struct $name(Uuid)` with `new` (random v4), `from_uuid`, `as_uuid`, `parse`
/// (an [`InvalidInput`](crate::InvalidInput) naming `$field`), `Default`, `Display` and
/// transparent serde. `$what` completes the sentence "The id of …".
#[macro_export]
macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        $crate::uuid_id!($name, $what, $what);
    };
    ($name:ident, $what:literal, $field:literal) => {
        #[doc = concat!("The id of ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($crate::__private::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self($crate::__private::Uuid::new_v4())
            }
            pub fn from_uuid(id: $crate::__private::Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> $crate::__private::Uuid {
                self.0
            }
            pub fn parse(s: &str) -> Result<Self, $crate::InvalidInput> {
                $crate::__private::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| $crate::InvalidInput::new($field, e.to_string()))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error>
            where
                S: $crate::__private::serde::Serializer,
            {
                $crate::__private::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
            where
                D: $crate::__private::serde::Deserializer<'de>,
            {
                <$crate::__private::Uuid as $crate::__private::serde::Deserialize>::deserialize(
                    deserializer,
                )
                .map(Self)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::uuid_id!(SampleId, "a sample", "sample id");

    #[test]
    fn ids_round_trip_through_text() {
        let id = SampleId::new();
        assert_eq!(SampleId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(SampleId::from_uuid(id.as_uuid()), id);
        let e = SampleId::parse("nope").unwrap_err();
        assert!(e.to_string().contains("sample id"), "{e}");
        assert_ne!(SampleId::default(), SampleId::default());
    }
}
