use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a requested name cannot be a slug. The message is shown to the person who chose it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session name {input:?}: {reason}")]
pub struct InvalidSlug {
    pub input: String,
    pub reason: &'static str,
}

/// A plan's URL name: 1–64 characters of `a-z 0-9 - _`, starting and ending with a letter or digit.
///
/// Names are not case-folded silently: `Auth-Redesign` is rejected with a message, so the URL a
/// person asked for is the URL they get. [`Slug::from_title`] is the forgiving path for titles.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, InvalidSlug> {
        let err = |reason| {
            Err(InvalidSlug {
                input: input.chars().take(80).collect(),
                reason,
            })
        };
        if input.is_empty() {
            return err("must not be empty");
        }
        if input.len() > Self::MAX_LEN {
            return err("must be at most 64 characters");
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return err("use only lowercase letters, digits, '-' and '_'");
        }
        let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        if !alnum(input.bytes().next()) || !alnum(input.bytes().last()) {
            return err("must start and end with a letter or digit");
        }
        if input.contains("--") || input.contains("__") {
            return err("must not contain repeated '-' or '_'");
        }
        Ok(Self(input.to_owned()))
    }

    /// Derives a slug from a document title: ASCII letters and digits kept (lower-cased), every other
    /// run of characters becomes one `-`, cut at a word boundary to fit. `None` if nothing is left.
    pub fn from_title(title: &str) -> Option<Self> {
        let mut out = String::new();
        for c in title.chars() {
            let c = fold_latin(c);
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        if out.len() > Self::MAX_LEN {
            let cut = out[..=Self::MAX_LEN]
                .rfind('-')
                .filter(|i| *i > 0)
                .unwrap_or(Self::MAX_LEN);
            out.truncate(cut);
        }
        let out = out.trim_matches('-');
        Self::parse(out).ok()
    }

    /// The fallback name, `sess_` + 12 hex digits from the given random bytes.
    pub fn generated(random: [u8; 6]) -> Self {
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("sess_{hex}"))
    }

    /// A free alternative to suggest when this name is taken: `name-2`, `name-3`, …
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let keep = Self::MAX_LEN - suffix.len();
        let base = if self.0.len() > keep {
            self.0[..keep].trim_end_matches(['-', '_'])
        } else {
            &self.0
        };
        Self(format!("{base}{suffix}"))
    }

    /// `name-<tag>` (cut to fit 64 characters), for a tag of `a-z 0-9`.
    pub fn with_tag(&self, tag: &str) -> Self {
        let suffix = format!("-{tag}");
        let keep = Self::MAX_LEN.saturating_sub(suffix.len());
        let base = if self.0.len() > keep {
            self.0[..keep].trim_end_matches(['-', '_'])
        } else {
            &self.0
        };
        Self(format!("{base}{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Common Latin letters with diacritics fold to their base letter so "Café Überblick" gives
/// `cafe-uberblick` rather than `caf-berblick`.
fn fold_latin(c: char) -> char {
    match c {
        'à'..='å' | 'À'..='Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è'..='ë' | 'È'..='Ë' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò'..='ö' | 'Ò'..='Ö' | 'ø' | 'Ø' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        _ => c,
    }
}

impl TryFrom<String> for Slug {
    type Error = InvalidSlug;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> Self {
        s.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let cases = [
            ("auth-redesign", true),
            ("sess_064d4a62049b", true),
            ("a", true),
            ("v2", true),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
            ("", false),
            ("Auth-Redesign", false),
            ("auth redesign", false),
            ("-auth", false),
            ("auth-", false),
            ("_auth", false),
            ("auth--redesign", false),
            ("auth/redesign", false),
            ("../etc", false),
            ("auth%20x", false),
            ("ünïcode", false),
        ];
        for (input, ok) in cases {
            assert_eq!(Slug::parse(input).is_ok(), ok, "{input:?}");
        }
    }

    #[test]
    fn from_title_table() {
        let long = "word ".repeat(20);
        let cases = [
            ("Auth Service Redesign", Some("auth-service-redesign")),
            (
                "  OAuth 2.0 / PKCE: the plan!  ",
                Some("oauth-2-0-pkce-the-plan"),
            ),
            ("Café Überblick", Some("cafe-uberblick")),
            ("<script>alert(1)</script>", Some("script-alert-1-script")),
            ("日本語", None),
            ("", None),
            ("---", None),
        ];
        for (title, want) in cases {
            assert_eq!(
                Slug::from_title(title).map(|s| s.to_string()).as_deref(),
                want,
                "{title:?}"
            );
        }
        let s = Slug::from_title(&long).unwrap();
        assert!(
            s.as_str().len() <= 64 && s.as_str().ends_with("word"),
            "{s}"
        );
    }

    #[test]
    fn generated_and_suffixed() {
        assert_eq!(
            Slug::generated([0x06, 0x4d, 0x4a, 0x62, 0x04, 0x9b]).as_str(),
            "sess_064d4a62049b"
        );
        let s = Slug::parse("auth-redesign").unwrap();
        assert_eq!(s.with_suffix(2).as_str(), "auth-redesign-2");
        let long = Slug::parse(&"a".repeat(64)).unwrap();
        let suffixed = long.with_suffix(12);
        assert_eq!(suffixed.as_str().len(), 64);
        assert!(Slug::parse(suffixed.as_str()).is_ok());
    }
}
