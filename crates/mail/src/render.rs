//! The two bodies of an e-mail, from the application's channel-neutral [`Mail`]: plain text and
//! HTML (maud escapes every piece of user text: titles, logins, excerpts). Pure functions.

use maud::{DOCTYPE, Markup, html};
use planpush_app::Mail;

/// Longest excerpt shown (characters).
pub const MAX_EXCERPT_CHARS: usize = 300;

fn cut(s: &str) -> String {
    planpush_app::excerpt(s.trim(), MAX_EXCERPT_CHARS)
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The plain-text body.
pub fn text(mail: &Mail) -> String {
    let mut out = String::new();
    out.push_str(&mail.intro);
    out.push_str("\n\n");
    for g in &mail.groups {
        out.push_str(&format!("{}\n{}\n\n", g.plan_title, g.plan_link));
        for i in &g.items {
            out.push_str(&format!("* {} ({})\n", i.headline, when(i.at)));
            if let Some(e) = &i.excerpt {
                for line in cut(e).lines() {
                    out.push_str(&format!("  > {line}\n"));
                }
            }
            out.push_str(&format!("  {}\n\n", i.link));
        }
    }
    if mail.more > 0 {
        out.push_str(&format!(
            "… and {} more in your PlanPush inbox.\n\n",
            mail.more
        ));
    }
    out.push_str("-- \n");
    out.push_str(&format!(
        "E-mail settings: {}\nUnsubscribe from all PlanPush e-mail: {}\n",
        mail.settings_link, mail.unsubscribe_link
    ));
    out
}

/// The HTML body: one self-contained document (no remote images, no scripts).
pub fn html(mail: &Mail) -> String {
    page(mail).into_string()
}

fn page(mail: &Mail) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (mail.subject) }
            }
            body style="font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1f2328; line-height: 1.5; max-width: 40rem; margin: 0 auto; padding: 1rem;" {
                p { (mail.intro) }
                @for g in &mail.groups {
                    h2 style="font-size: 1.1rem; margin: 1.5rem 0 0.5rem;" {
                        a href=(g.plan_link) style="color: #0969da;" { (g.plan_title) }
                    }
                    ul style="padding-left: 1.2rem; margin: 0;" {
                        @for i in &g.items {
                            li style="margin-bottom: 0.75rem;" {
                                a href=(i.link) style="color: #0969da; font-weight: 600;" { (i.headline) }
                                " "
                                span style="color: #656d76; font-size: 0.85rem;" { (when(i.at)) }
                                @if let Some(e) = &i.excerpt {
                                    blockquote style="margin: 0.25rem 0 0; padding-left: 0.75rem; border-left: 3px solid #d0d7de; color: #424a53; white-space: pre-wrap;" { (cut(e)) }
                                }
                            }
                        }
                    }
                }
                @if mail.more > 0 {
                    p { "… and " (mail.more) " more in your PlanPush inbox." }
                }
                hr style="border: 0; border-top: 1px solid #d0d7de; margin: 1.5rem 0 0.75rem;";
                p style="color: #656d76; font-size: 0.85rem;" {
                    a href=(mail.settings_link) style="color: #656d76;" { "E-mail settings" }
                    " · "
                    a href=(mail.unsubscribe_link) style="color: #656d76;" { "Unsubscribe from all PlanPush e-mail" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{DateTime, Duration};
    use planpush_app::{MailGroup, MailItem};

    fn mail() -> Mail {
        let at = DateTime::UNIX_EPOCH + Duration::days(20_000);
        Mail {
            id: "m1".into(),
            to: "ben@example.com".into(),
            to_name: Some("Ben".into()),
            subject: "ada mentioned you on “<Auth> & co”".into(),
            intro: "ada mentioned you on <Auth> & co.".into(),
            groups: vec![MailGroup {
                plan_title: "<Auth> & co".into(),
                plan_link: "https://pp.example.com/p/auth".into(),
                items: vec![MailItem {
                    headline: "ada mentioned you".into(),
                    excerpt: Some("<script>alert(1)</script> \"quoted\" & more".into()),
                    link: "https://pp.example.com/p/auth#flow".into(),
                    at,
                }],
            }],
            more: 2,
            unsubscribe_link: "https://pp.example.com/unsubscribe/tok".into(),
            settings_link: "https://pp.example.com/dashboard?tab=settings&x=1#pane-settings".into(),
        }
    }

    #[test]
    fn text_has_every_link_and_the_words_unchanged() {
        let t = text(&mail());
        assert!(
            t.starts_with(
                "ada mentioned you on <Auth> & co.\n\n<Auth> & co\nhttps://pp.example.com/p/auth\n"
            ),
            "{t}"
        );
        assert!(t.contains("* ada mentioned you (2024-10-04 00:00 UTC)\n  > <script>alert(1)</script> \"quoted\" & more\n  https://pp.example.com/p/auth#flow\n"), "{t}");
        assert!(t.contains("… and 2 more"), "{t}");
        assert!(
            t.contains(
                "Unsubscribe from all PlanPush e-mail: https://pp.example.com/unsubscribe/tok\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn html_escapes_user_text() {
        let h = html(&mail());
        assert!(!h.contains("<script>"), "{h}");
        assert!(
            h.contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; more"),
            "{h}"
        );
        assert!(h.contains(">&lt;Auth&gt; &amp; co</a>"), "{h}");
        assert!(
            h.contains(r#"href="https://pp.example.com/p/auth#flow""#),
            "{h}"
        );
        assert!(
            h.contains(r#"href="https://pp.example.com/unsubscribe/tok""#),
            "{h}"
        );
        assert!(
            h.contains(
                r#"href="https://pp.example.com/dashboard?tab=settings&amp;x=1#pane-settings""#
            ),
            "{h}"
        );
        assert!(
            h.contains("<title>ada mentioned you on “&lt;Auth&gt; &amp; co”</title>"),
            "{h}"
        );
    }
}
