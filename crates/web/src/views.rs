//! Server-rendered pages (maud): functions from view models to markup. Every value is escaped by maud.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use planpush_app::{
    DeviceRequest, DiffPage, EmailMode, Export, ExportComments, HISTORY_IN_PAGE, PlanPage,
    UnsubscribeTarget,
};
use planpush_document::DiffStatus;
use planpush_versions::VersionMeta;

use crate::assets;

/// The page frame: our stylesheet, no inline script or style.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · PlanPush" }
                link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
                link rel="stylesheet" href=(assets::url("plan.css")) integrity=(assets::integrity("plan.css"));
                script src=(assets::url("plan.js")) integrity=(assets::integrity("plan.js")) defer {}
                script src=(assets::url("inbox.js")) integrity=(assets::integrity("inbox.js")) defer {}
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

/// The login names dev sign-in accepts, as an HTML `pattern`. Browsers compile `pattern` with the
/// `v` flag, where `-` must be escaped inside a class (`[…-]` is a syntax error there and the field
/// would silently go unvalidated); `\-` is valid with both `u` and `v`.
pub const DEV_LOGIN_PATTERN: &str = r"[A-Za-z0-9_.\-]{1,39}";
/// OIDC sign-in of a person none of whose groups maps to a role: no session, and what to ask for.
pub fn access_not_granted(login: &str, groups: &[String]) -> Markup {
    layout(
        "Access not yet granted",
        html! {
            h1 { "Access not yet granted" }
            p {
                "You signed in as " strong { (login) } ", but none of your groups gives you a role in PlanPush yet, so you are not signed in here."
            }
            @if groups.is_empty() {
                p id="access-groups" { "Your identity provider sent no groups for your account." }
            } @else {
                p { "Your identity provider says you belong to:" }
                ul id="access-groups" { @for g in groups { li { code { (g) } } } }
            }
            p { "Ask a PlanPush administrator to map one of your groups to a role (Dashboard → Groups), or to add you to a group that is mapped. Then sign in again." }
            p { a href="/auth/login" { "Sign in again" } }
        },
    )
}

/// Local sign-out done, but the identity provider offers no single logout.
pub fn signed_out_locally() -> Markup {
    layout(
        "Signed out",
        html! {
            h1 { "Signed out of PlanPush" }
            p id="signed-out-local" { "Your PlanPush session has ended. Your identity provider does not offer single logout, so you may still be signed in there: sign out of it too if this is a shared computer." }
            p { a href="/auth/login" { "Sign in again" } }
        },
    )
}

/// `/unsubscribe/{token}`: who the link is for, and the button that turns e-mail off (a `GET`
/// changes nothing: mail scanners follow links).
pub fn unsubscribe_confirm(target: &UnsubscribeTarget, token: &str) -> Markup {
    layout(
        "Unsubscribe",
        html! {
            h1 { "Stop PlanPush e-mail?" }
            p { "This turns off every PlanPush e-mail to " strong { (target.login) } ": single notifications and daily digests. Your inbox in PlanPush keeps working." }
            @if target.mode == EmailMode::Off {
                p id="unsubscribe-already" { "E-mail is already off for this account." }
            }
            form method="post" action={"/unsubscribe/" (token)} {
                button type="submit" id="unsubscribe-button" { "Unsubscribe" }
            }
            p { "You can turn e-mail back on, or choose a daily digest, in " a href="/dashboard?tab=settings#pane-settings" { "your settings" } "." }
        },
    )
}

/// After unsubscribing.
pub fn unsubscribed(target: &UnsubscribeTarget) -> Markup {
    layout(
        "Unsubscribed",
        html! {
            h1 { "Unsubscribed" }
            p id="unsubscribe-done" { "PlanPush sends no more e-mail to " strong { (target.login) } "." }
            p { "Changed your mind? Choose again in " a href="/dashboard?tab=settings#pane-settings" { "your settings" } "." }
        },
    )
}

/// An unsubscribe link that is not valid (altered, or not from this server).
pub fn unsubscribe_invalid() -> Markup {
    message(
        "Link not valid",
        "This unsubscribe link is not valid: it may have been cut or altered. Sign in and change your e-mail settings instead.",
        Some(("/dashboard?tab=settings#pane-settings", "E-mail settings")),
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
                input id="login" name="login" required autofocus autocomplete="username" pattern=(DEV_LOGIN_PATTERN);
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `/activate`, first step: type the code the CLI shows. Nothing is approved from here.
pub fn activate_entry(login: &str, user_code: &str, error: Option<&str>) -> Markup {
    layout(
        "Approve a device",
        html! {
            h1 { "Approve a device" }
            p { "Signed in as " strong { (login) } ". Enter the code shown by " code { "planpush login" } "; you will see which login it belongs to before approving anything." }
            @if let Some(e) = error {
                p role="alert" { (e) }
            }
            form method="get" action="/activate" {
                label for="user_code" { "Code" }
                input id="user_code" name="user_code" value=(user_code) required autocomplete="off" autocapitalize="characters" placeholder="WDJB-MJHT";
                button type="submit" { "Continue" }
            }
        },
    )
}

/// `/activate`, second step (RFC 8628 §5.4): what is being approved — the code, the client, when
/// and from where it asked — and a deliberate confirmation before Approve does anything.
pub fn activate_confirm(login: &str, request: &DeviceRequest, error: Option<&str>) -> Markup {
    let code = request.user_code.as_str();
    layout(
        "Approve a device",
        html! {
            h1 { "Approve a device?" }
            p { "Signed in as " strong { (login) } ". Approving signs this device in " strong { "as you" } ", with everything you may do." }
            @if let Some(e) = error {
                p role="alert" { (e) }
            }
            dl class="pp-device" {
                dt { "Code" }
                dd { strong class="pp-device-code" { (code) } }
                dt { "Client" }
                dd { @match &request.client { Some(c) => { (c.name) }, None => { "not known" } } }
                dt { "Requested" }
                dd { time datetime=(request.issued_at.to_rfc3339()) { (when(request.issued_at)) } }
                dt { "From address" }
                dd { @match request.client.as_ref().and_then(|c| c.ip) { Some(ip) => { (ip) }, None => { "not known" } } }
                dt { "Expires" }
                dd { time datetime=(request.expires_at.to_rfc3339()) { (when(request.expires_at)) } }
            }
            p { "Approve only if you started this login yourself, just now, and your terminal shows the same code. If you did not, deny it." }
            form method="post" action="/activate" {
                input type="hidden" name="user_code" value=(code);
                p {
                    input type="checkbox" id="confirm" name="confirm" value="yes" required;
                    " "
                    label for="confirm" { "I started this login and my terminal shows " (code) }
                }
                button type="submit" name="action" value="approve" { "Approve" }
                " "
                button type="submit" name="action" value="deny" formnovalidate { "Deny" }
            }
        },
    )
}

/// An absolute time for a `<time>` element, e.g. "22 Nov 2026, 18:30 UTC". Pages carry no
/// relative times, so their bytes do not depend on when they are read; `plan.js` shows "4 min ago".
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// A plan page: header, the sanitized document, the version history.
pub fn plan_page(page: &PlanPage) -> Markup {
    let plan = &page.plan;
    let latest = plan.current_version();
    let shown_meta = &page.shown_meta;
    layout(
        plan.title(),
        html! {
            header class="pp-header" {
                div class="pp-tools" {
                    // Filled by inbox.js for the reader: the bell (their notifications) and
                    // whether they follow or muted this plan (the page is cached for everyone).
                    div class="pp-bell" {}
                    div class="pp-follow" data-plan-id=(plan.id()) hidden {}
                    (export_menu(plan.slug().as_str(), page.shown.get()))
                    button type="button" class="pp-theme" { "Theme: auto" }
                    button type="button" class="pp-comments-toggle" aria-controls="pp-sidebar" aria-expanded="false" {
                        "Comments " span class="pp-count" { (page.open_comments) }
                    }
                }
                h1 { (plan.title()) }
                p class="pp-meta" {
                    "Pushed by " strong { (page.pushed_by) }
                    " · " time datetime=(shown_meta.pushed_at.to_rfc3339()) { (when(shown_meta.pushed_at)) }
                    " · v" (page.shown.get())
                    " · " span class="pp-open-comments" { (page.open_comments) @if page.open_comments == 1 { " open comment" } @else { " open comments" } }
                    " · " (plan.visibility().as_str())
                    @if plan.is_archived() { " · archived" }
                }
                // Filled by plan.js from /api/sessions/{id}/reviews (the page is cached for
                // every reader; the sign-off and its buttons are per reader).
                div class="pp-signoff" aria-live="polite" hidden {}
                // Who reads the plan now: filled by plan.js from the live stream's `presence`
                // events (latest version only; the page is cached for every reader).
                p class="pp-presence" id="pp-presence" aria-live="polite" hidden {}
            }
            @if page.shown.get() != latest {
                p class="pp-banner" role="status" {
                    "You are viewing version " (page.shown.get()) " of " (latest) ". "
                    a href={ "/p/" (plan.slug()) } { "See the latest version" }
                }
            }
            @match &page.version {
                Some(v) => {
                    article class="pp-document" data-plan-id=(plan.id()) data-slug=(plan.slug()) data-version=(page.shown.get()) data-latest=(page.shown.get() == latest) {
                        (PreEscaped(&v.html))
                    }
                }
                None => { p class="pp-banner" { "The content of this version has expired (versions are kept for a limited time). Its history remains below." } }
            }
            aside id="pp-sidebar" class="pp-sidebar" aria-label="Comments" hidden {
                div class="pp-sidebar-head" {
                    h2 { "Comments" }
                    button type="button" class="pp-sidebar-close" aria-label="Close comments" { "×" }
                }
                div class="pp-filters" role="group" aria-label="Show" {
                    button type="button" data-filter="open" aria-pressed="true" { "Open" }
                    button type="button" data-filter="resolved" aria-pressed="false" { "Resolved" }
                    button type="button" data-filter="all" aria-pressed="false" { "All" }
                }
                p class="pp-scope" hidden {}
                div class="pp-composer-slot" {}
                div class="pp-threads" aria-live="polite" { p class="pp-empty" { "Loading comments…" } }
            }
            nav class="pp-history" aria-label="Version history" {
                h2 { "History" }
                (history_list(page, page.history.len().saturating_sub(HISTORY_IN_PAGE)))
                @if latest as usize > HISTORY_IN_PAGE {
                    p class="pp-more" {
                        a href={ "/p/" (plan.slug()) "/history" } { "All " (latest) " versions" }
                    }
                }
                (compare_form(plan.slug().as_str(), &page.history, None))
            }
        },
    )
}

/// The versions of `page.history` from index `from` on, newest first.
fn history_list(page: &PlanPage, from: usize) -> Markup {
    let plan = &page.plan;
    html! {
        ol reversed {
            @for (i, m) in page.history.iter().enumerate().skip(from).rev() {
                @let n = m.number.get();
                li value=(n) {
                    @if m.purged_at.is_some() {
                        span class="pp-expired" { "v" (n) " · expired" }
                    } @else {
                        a href={ "/p/" (plan.slug()) "?v=" (n) } { "v" (n) }
                    }
                    " · by " span class="pp-pusher" { (page.pushers.get(i).map_or("unknown", String::as_str)) }
                    " · " time datetime=(m.pushed_at.to_rfc3339()) { (when(m.pushed_at)) }
                    @if !m.changes.is_empty() {
                        " · " (m.changes.added.len()) " added, " (m.changes.changed.len()) " changed, " (m.changes.removed.len()) " removed"
                    }
                    @if let Some(prev) = i.checked_sub(1).and_then(|j| page.history.get(j)) {
                        @if m.purged_at.is_none() && prev.purged_at.is_none() {
                            " · " a class="pp-compare-prev" href={ "/p/" (plan.slug()) "?v=" (n) "&diff=" (prev.number.get()) } { "what changed" }
                        }
                    }
                }
            }
        }
    }
}

/// `/p/{slug}/history`: every version of a plan.
pub fn history_page(page: &PlanPage) -> Markup {
    let plan = &page.plan;
    layout(
        &format!("{} · history", plan.title()),
        html! {
            header class="pp-header" {
                h1 { (plan.title()) }
                p class="pp-meta" {
                    (plan.current_version()) " versions · "
                    a href={ "/p/" (plan.slug()) } { "Back to the plan" }
                }
            }
            nav class="pp-history" aria-label="Version history" {
                h2 { "History" }
                (history_list(page, 0))
            }
        },
    )
}

/// "Compare vN with vM": two version pickers submitting `?diff=M&v=N` (no script). `pair` is the
/// pair shown (from, to); by default the latest version against the one before it. Expired
/// versions cannot be compared and are not offered.
fn compare_form(slug: &str, history: &[VersionMeta], pair: Option<(u32, u32)>) -> Markup {
    let mut live: Vec<u32> = history
        .iter()
        .filter(|m| m.purged_at.is_none())
        .map(|m| m.number.get())
        .collect();
    let (from, to) = pair.unwrap_or_else(|| {
        let to = live.last().copied().unwrap_or(1);
        let from = live.iter().rev().nth(1).copied().unwrap_or(to);
        (from, to)
    });
    // The newest versions (and the pair shown), so the page's size does not grow with the plan.
    if live.len() > HISTORY_IN_PAGE {
        let newest = live.split_off(live.len() - HISTORY_IN_PAGE);
        let older = live;
        live = older
            .into_iter()
            .filter(|n| *n == from || *n == to)
            .chain(newest)
            .collect();
    }
    // The pair shown is offered even when `history` (the newest versions) does not reach it.
    for n in [from, to] {
        if !live.contains(&n) {
            live.push(n);
        }
    }
    live.sort_unstable();
    html! {
        @if live.len() > 1 {
            form class="pp-compare" method="get" action={ "/p/" (slug) } {
                label for="pp-compare-from" { "Compare" }
                " "
                select id="pp-compare-from" name="diff" {
                    @for n in live.iter().rev() { option value=(n) selected[*n == from] { "v" (n) } }
                }
                " "
                label for="pp-compare-to" { "with" }
                " "
                select id="pp-compare-to" name="v" {
                    @for n in live.iter().rev() { option value=(n) selected[*n == to] { "v" (n) } }
                }
                " "
                button type="submit" { "Compare" }
            }
        }
    }
}

fn diff_label(status: DiffStatus) -> (&'static str, &'static str) {
    match status {
        DiffStatus::Added => ("Added", "pp-badge pp-new"),
        DiffStatus::Removed => ("Removed", "pp-badge pp-major"),
        DiffStatus::Changed => ("Changed", "pp-badge pp-moderate"),
        DiffStatus::Unchanged => ("Unchanged", "pp-badge pp-minor"),
    }
}

/// What changed in the plan's terms, first on the diff page: a count line, then one line per change
/// linking to its section's row below.
fn typed_summary(
    slug: &str,
    typed: &[planpush_document::TypedChange],
    threads: &[Vec<planpush_app::ChangeThread>],
) -> Markup {
    html! {
        div class="pp-typed" {
            p class="pp-summary-line" {
                strong { "In the plan's terms: " } (planpush_document::typed_headline(typed))
            }
            @if !typed.is_empty() {
                ul class="pp-summary-list pp-typed-list" {
                    @for (i, c) in typed.iter().enumerate() {
                        li data-kind=(format!("{:?}", c.kind).to_lowercase()) {
                            @match c.anchors.first() {
                                Some(a) => a href={ "#pp-diff-" (a.as_str()) } { (c.sentence()) },
                                None => (c.sentence()),
                            }
                            // The conversation on that element: its open threads, each opening
                            // in the page's sidebar.
                            @if let Some(ts) = threads.get(i).filter(|t| !t.is_empty()) {
                                ul class="pp-typed-threads" {
                                    @for t in ts {
                                        li data-thread=(t.id) {
                                            a href={ "/p/" (slug) "?comment=" (t.id) "#" (t.anchor.as_str()) } { "Open thread: “" (t.excerpt) "”" }
                                            @if let Some(v) = t.addressed_in {
                                                " · addressed in v" (v)
                                                @if let Some(who) = &t.waiting_for {
                                                    " — " span class="pp-waiting" { "waiting for @" (who) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `?v=N&diff=M`: a "what changed" summary, then every section; in a changed one the inserted and
/// deleted words (and changed table cells) are marked in place, with both versions side by side
/// one click away; added and removed sections are shown on their side.
pub fn diff_page(d: &DiffPage) -> Markup {
    let plan = &d.plan;
    let slug = plan.slug().as_str();
    layout(
        &format!("{} · v{} vs v{}", plan.title(), d.from.get(), d.to.get()),
        html! {
            header class="pp-header" {
                h1 { (plan.title()) }
                p class="pp-meta" {
                    "Changes from " a href={ "/p/" (slug) "?v=" (d.from.get()) } { "v" (d.from.get()) }
                    " to " a href={ "/p/" (slug) "?v=" (d.to.get()) } { "v" (d.to.get()) }
                    " · " a href={ "/p/" (slug) } { "latest" }
                }
            }
            div class="pp-summary" {
                (typed_summary(slug, &d.typed, &d.typed_threads))
                p class="pp-summary-line" { strong { "What changed: " } (d.summary.sentence()) }
                @if !d.summary.is_empty() {
                    ul class="pp-summary-list" {
                        @for row in d.rows.iter().filter(|r| r.status != DiffStatus::Unchanged) {
                            @let (label, class) = diff_label(row.status);
                            li {
                                a href={ "#pp-diff-" (row.anchor.as_str()) } { (row.title) }
                                " " span class=(class) { (label) }
                                @if row.status == DiffStatus::Changed {
                                    " " span class="pp-words" { "+" (row.words.inserted) " −" (row.words.deleted) " words" }
                                }
                            }
                        }
                    }
                }
                (compare_form(slug, &d.history, Some((d.from.get(), d.to.get()))))
            }
            @for row in &d.rows {
                @let (label, class) = diff_label(row.status);
                section id={ "pp-diff-" (row.anchor.as_str()) } class={ "pp-diff pp-diff-" (label.to_lowercase()) } data-diff-anchor=(row.anchor.as_str()) {
                    h2 { (row.title) " " span class=(class) { (label) } }
                    @match (row.status, &row.marked) {
                        (DiffStatus::Changed, Some(marked)) => {
                            div class="pp-diff-inline" { (PreEscaped(marked)) }
                            details class="pp-diff-sbs" {
                                summary { "Side by side" }
                                div class="pp-diff-cols" {
                                    div class="pp-diff-old" { @if let Some(h) = &row.old { (PreEscaped(h)) } }
                                    div class="pp-diff-new" { @if let Some(h) = &row.new { (PreEscaped(h)) } }
                                }
                            }
                        }
                        (DiffStatus::Added, _) => {
                            div class="pp-diff-new" { @if let Some(h) = &row.new { (PreEscaped(h)) } }
                        }
                        (DiffStatus::Removed, _) => {
                            div class="pp-diff-old" { @if let Some(h) = &row.old { (PreEscaped(h)) } }
                        }
                        _ => {}
                    }
                }
            }
        },
    )
}

/// The page's Export menu (no script: a `details` element of plain links).
fn export_menu(slug: &str, v: u32) -> Markup {
    let link = |q: &str| format!("/p/{slug}/export?v={v}&{q}");
    html! {
        details class="pp-menu" {
            summary { "Export" }
            div class="pp-menu-body" {
                ul {
                    li { a href=(link("format=html")) { "HTML file" } }
                    li { a href=(link("format=html&comments=open")) { "HTML with open comments" } }
                    li { a href=(link("format=md")) { "Markdown" } }
                    li { a href=(link("format=md&comments=all")) { "Markdown with all comments" } }
                }
                p { "For a PDF, print this page and choose “Save as PDF”: the print layout leaves out the sidebar and history." }
            }
        }
    }
}

/// Styles only an exported file needs (the rest is plan.css, inline).
const EXPORT_CSS: &str = "main.pp-export { max-width: 960px; margin: 0 auto; padding: 32px 24px 64px; }\n\
.pp-appendix { border-top: 2px solid var(--line); margin-top: 40px; }\n\
.pp-export-thread { border: 1px solid var(--line); border-radius: var(--radius); padding: 8px 14px; margin: 10px 0; break-inside: avoid; }\n\
.pp-export-thread blockquote { margin: 6px 0; padding-left: 10px; border-left: 3px solid var(--line); color: var(--muted); }\n\
.pp-export-reply { margin-left: 18px; border-left: 2px solid var(--line); padding-left: 10px; }\n\
.pp-export-body { white-space: pre-wrap; margin: 4px 0; }\n";

/// An exported version: one self-contained HTML file — the page's stylesheet inline, the
/// document (diagrams are inline SVG; remote images become links), no script, nothing fetched —
/// with the plan's comments appended when asked for. Prints like the page.
pub fn export_page(e: &Export, base_url: &str) -> Markup {
    let plan = &e.plan;
    let n = e.version.meta.number.get();
    let source = format!("{base_url}/p/{}?v={n}", plan.slug());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content="PlanPush";
                title { (plan.title()) " · v" (n) }
                style { (PreEscaped(assets::body("plan.css"))) (PreEscaped(EXPORT_CSS)) }
            }
            body {
                main class="pp-export" {
                    header class="pp-header" {
                        h1 { (plan.title()) }
                        p class="pp-meta" {
                            "Version " (n) " · pushed by " strong { (e.pushed_by) }
                            " · " time datetime=(e.pushed_at().to_rfc3339()) { (when(e.pushed_at())) }
                            " · " (plan.visibility().as_str())
                        }
                        p class="pp-meta" { "Exported from " a href=(source) { (source) } }
                    }
                    article class="pp-document" {
                        (PreEscaped(planpush_document::offline_html(&e.version.html)))
                    }
                    @if let Some((which, threads)) = &e.comments {
                        section class="pp-appendix" id="pp-comments" {
                            h2 {
                                @match which { ExportComments::Open => "Open comments", ExportComments::All => "Comments" }
                                " (" (threads.len()) ")"
                            }
                            @if threads.is_empty() { p { "None." } }
                            @for t in threads {
                                div class="pp-export-thread" {
                                    p class="pp-meta" {
                                        strong { (t.author) } " on " a href={ "#" (t.thread.anchor()) } { "#" (t.thread.anchor()) }
                                        " · v" (t.thread.made_on().get())
                                        " · " time datetime=(t.thread.created_at().to_rfc3339()) { (when(t.thread.created_at())) }
                                        " · " @if t.thread.resolution().is_some() { "resolved" } @else { "open" }
                                    }
                                    @if let Some(q) = t.thread.quote() { blockquote { (q.exact()) } }
                                    p class="pp-export-body" { @if t.thread.is_deleted() { "(deleted)" } @else { (t.thread.body().as_str()) } }
                                    @for (r, login) in &t.replies {
                                        div class="pp-export-reply" {
                                            p class="pp-meta" { strong { (login) } " · " time datetime=(r.created_at().to_rfc3339()) { (when(r.created_at())) } }
                                            p class="pp-export-body" { @if r.is_deleted() { "(deleted)" } @else { (r.body().as_str()) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
