//! Server-rendered pages (maud): functions from view models to markup. Every value is escaped by maud.

use maud::{DOCTYPE, Markup, html};

/// The page frame. No inline script; styles come later with the design system.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · PlanPush" }
            }
            body {
                main { (body) }
            }
        }
    }
}

/// A page that explains what went wrong and what to do.
pub fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p { (text) }
            @if let Some((href, label)) = link {
                p { a href=(href) { (label) } }
            }
        },
    )
}

/// The development sign-in form (AUTH_PROVIDER=dev only).
pub fn dev_login(redirect_to: &str) -> Markup {
    layout(
        "Sign in (development)",
        html! {
            h1 { "Sign in (development)" }
            p { "This server runs with AUTH_PROVIDER=dev: anyone can sign in as anyone. It only listens on loopback." }
            form method="post" action="/auth/dev" {
                input type="hidden" name="redirect_to" value=(redirect_to);
                label for="login" { "Login name" }
                input id="login" name="login" required autofocus autocomplete="username" pattern="[A-Za-z0-9_.-]{1,39}";
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `/activate`: enter the code the CLI shows, then approve or deny.
pub fn activate(login: &str, user_code: &str, error: Option<&str>) -> Markup {
    layout(
        "Approve a device",
        html! {
            h1 { "Approve a device" }
            p { "Signed in as " strong { (login) } ". Enter the code shown by " code { "planpush login" } " and approve it only if you started that login." }
            @if let Some(e) = error {
                p role="alert" { (e) }
            }
            form method="post" action="/activate" {
                label for="user_code" { "Code" }
                input id="user_code" name="user_code" value=(user_code) required autocomplete="off" autocapitalize="characters" placeholder="WDJB-MJHT";
                button type="submit" name="action" value="approve" { "Approve" }
                " "
                button type="submit" name="action" value="deny" { "Deny" }
            }
        },
    )
}
