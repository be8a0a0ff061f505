use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not an anchor id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid anchor {input:?}: use 1 to 128 characters of letters, digits, '-', '_', '.' or ':', starting with a letter or digit"
)]
pub struct InvalidAnchor {
    pub input: String,
}

/// A commentable element's id (`data-anchor="auth-flow"`): 1–128 characters of ASCII letters,
/// digits, `-`, `_`, `.`, `:`, starting with a letter or digit. Safe in URLs, HTML attributes and
/// CSS selectors after escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AnchorId(String);

impl AnchorId {
    pub fn parse(s: &str) -> Result<Self, InvalidAnchor> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidAnchor {
                input: s.chars().take(140).collect(),
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AnchorId {
    type Error = InvalidAnchor;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<AnchorId> for String {
    fn from(a: AnchorId) -> Self {
        a.0
    }
}

impl fmt::Display for AnchorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_rules() {
        let cases = [
            ("auth-flow", true),
            ("Auth_Flow.v2:node-1", true),
            ("a", true),
            (&"a".repeat(128), true),
            (&"a".repeat(129), false),
            ("", false),
            ("-lead", false),
            ("has space", false),
            ("quote\"", false),
            ("<x>", false),
            ("ünï", false),
        ];
        for (s, ok) in cases {
            assert_eq!(AnchorId::parse(s).is_ok(), ok, "{s:?}");
        }
    }
}
