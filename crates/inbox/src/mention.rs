//! `@login` mentions in a comment body.

/// One `@login` in a text: the login (without `@`) and where the mention, `@` included, is
/// (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub login: String,
    pub start: usize,
    pub end: usize,
}

/// Characters a mentioned login is made of (GitHub logins; OIDC usernames with letters beyond
/// ASCII, `.` and `_`).
fn login_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Every `@login` in `text`, in order. A mention starts at the beginning of the text or after a
/// character that cannot be part of a login or an e-mail address's local part (so `ada@example.org`
/// mentions nobody), and ends before the first character that cannot be in a login; trailing `.`,
/// `-` and `_` are punctuation (`@ada.` mentions `ada`). Mentions inside `` `code` `` count too:
/// the body is plain text with a small Markdown subset, and a reader sees the `@login` either way.
pub fn mentions(text: &str) -> Vec<Mention> {
    let mut out = vec![];
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '@' && !prev.is_some_and(|p| login_char(p) || p == '@') {
            let rest = &text[i + 1..];
            let len = rest.find(|ch: char| !login_char(ch)).unwrap_or(rest.len());
            let login = rest[..len].trim_end_matches(['.', '-', '_']);
            if !login.is_empty() && login.len() <= 100 {
                out.push(Mention {
                    login: login.to_owned(),
                    start: i,
                    end: i + 1 + login.len(),
                });
            }
        }
        prev = Some(c);
    }
    out
}

/// The distinct logins mentioned in `text`, in order of first mention, compared
/// case-insensitively (the first spelling is kept).
pub fn mentioned_logins(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for m in mentions(text) {
        if !out.iter().any(|l| l.eq_ignore_ascii_case(&m.login)) {
            out.push(m.login);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(s: &str) -> Vec<String> {
        mentions(s).into_iter().map(|m| m.login).collect()
    }

    #[test]
    fn finds_mentions_at_start_after_space_and_punctuation() {
        assert_eq!(
            logins("@ada can you check (@bob-1)? cc:@carol_x, @d.e."),
            ["ada", "bob-1", "carol_x", "d.e"]
        );
    }

    #[test]
    fn offsets_cover_the_at_sign_and_the_login() {
        let s = "hi @ada!";
        let m = &mentions(s)[0];
        assert_eq!(&s[m.start..m.end], "@ada");
    }

    #[test]
    fn email_addresses_and_bare_at_signs_are_not_mentions() {
        assert!(logins("mail ada@example.org or @ or @@ or a @-").is_empty());
        assert_eq!(logins("@@ada"), Vec::<String>::new());
    }

    #[test]
    fn non_ascii_text_around_mentions() {
        assert_eq!(logins("Grüße @jürgen — @zoë"), ["jürgen", "zoë"]);
        assert_eq!(logins("→@ada←"), ["ada"]);
    }

    #[test]
    fn distinct_logins_case_insensitive_first_spelling_kept() {
        assert_eq!(mentioned_logins("@Ada @ada @bob @ADA"), ["Ada", "bob"]);
    }
}
