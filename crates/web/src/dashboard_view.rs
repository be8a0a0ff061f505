//! `/dashboard`: the team dashboard, server-rendered from [`DashboardView`].
//!
//! Without JavaScript every tab shows, one after the other, and reads fully (the Audit log's
//! filters and pages are plain GET forms and links). `assets/dashboard.js` turns the sections into
//! tabs, filters and sorts the lists in place, and performs the actions through the JSON API.
//! Rows carry what the script needs as `data-*` attributes; no logic lives here.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use planpush_app::{
    AuditEntry, AuditLogPage, AuditQueryInput, DashboardView, PlanRow, TargetLabel, WebhookView,
};
use planpush_audit::AuditAction;
use planpush_comments::AnchorState;
use planpush_plans::Visibility;
use planpush_roles::Role;

use crate::assets;
use crate::views::when;

/// Which tab the server asks the script to open first (`?tab=`).
pub fn tab_or_default(tab: Option<&str>, view: &DashboardView) -> &'static str {
    match tab {
        Some("activity") => "activity",
        Some("inbox") => "inbox",
        Some("comments") => "comments",
        Some("tokens") => "tokens",
        Some("settings") => "settings",
        Some("members") if view.tabs.members => "members",
        Some("groups") if view.tabs.groups => "groups",
        Some("webhooks") if view.tabs.webhooks => "webhooks",
        Some("audit") if view.tabs.audit => "audit",
        _ => "plans",
    }
}

fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (when(t)) } }
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Admin => "Admin",
        Role::ProjectManager => "PM",
        Role::Developer => "Developer",
        Role::Qa => "QA",
    }
}

/// The whole page. `show_archived` is the no-JavaScript way to list archived plans.
pub fn dashboard(view: &DashboardView, tab: &str, show_archived: bool) -> Markup {
    let tabs: Vec<(&str, &str, bool)> = vec![
        ("plans", "Plans", true),
        ("inbox", "Inbox", true),
        ("activity", "Activity", true),
        ("comments", "Comments", true),
        ("tokens", "API tokens", true),
        ("settings", "Settings", true),
        ("members", "Members", view.tabs.members),
        ("groups", "Groups", view.tabs.groups),
        ("webhooks", "Webhooks", view.tabs.webhooks),
        ("audit", "Audit log", view.tabs.audit),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Dashboard · PlanPush" }
                link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
                link rel="stylesheet" href=(assets::url("plan.css")) integrity=(assets::integrity("plan.css"));
                link rel="stylesheet" href=(assets::url("dashboard.css")) integrity=(assets::integrity("dashboard.css"));
                script src=(assets::url("plan.js")) integrity=(assets::integrity("plan.js")) defer {}
                script src=(assets::url("dashboard.js")) integrity=(assets::integrity("dashboard.js")) defer {}
                script src=(assets::url("inbox.js")) integrity=(assets::integrity("inbox.js")) defer {}
            }
            body {
                a class="dash-skip" href="#dash-main" { "Skip to content" }
                main id="dash-main" class="dash" data-tab=(tab) data-user=(view.me.user_id) {
                    header class="dash-header" {
                        h1 { "Dashboard" }
                        p class="pp-meta" {
                            "Signed in as " strong class="dash-me" { (view.me.login) }
                            " · "
                            @for (i, r) in view.me.roles.iter().enumerate() {
                                @if i > 0 { ", " }
                                span class="dash-role" { (role_label(*r)) }
                            }
                        }
                        div class="dash-header-tools" {
                            div class="pp-bell" {}
                            button type="button" class="pp-theme" { "Theme: auto" }
                            form method="post" action="/auth/logout" {
                                button type="submit" class="dash-button" { "Sign out" }
                            }
                        }
                    }
                    nav class="dash-tabs" aria-label="Dashboard sections" {
                        @for (id, label, shown) in &tabs {
                            @if *shown {
                                a class="dash-tab" id={"tab-" (id)} href={"#pane-" (id)} aria-controls={"pane-" (id)} { (label) }
                            }
                        }
                    }
                    div id="dash-status" class="dash-status" role="status" aria-live="polite" {}
                    (plans_pane(view, show_archived))
                    (inbox_pane())
                    (activity_pane(&view.activity))
                    (comments_pane(view))
                    (tokens_pane(view))
                    (settings_pane(view))
                    @if view.tabs.members { (members_pane(view)) }
                    @if view.tabs.groups { (groups_pane(view)) }
                    @if view.tabs.webhooks { (webhooks_pane(view)) }
                    @if let Some(audit) = &view.audit { (audit_pane(&audit.query, &audit.result)) }
                    dialog id="dash-confirm" class="dash-dialog" aria-labelledby="dash-confirm-title" {
                        h2 id="dash-confirm-title" { "Are you sure?" }
                        p id="dash-confirm-text" {}
                        div class="dash-dialog-buttons" {
                            button type="button" class="dash-button" value="cancel" id="dash-confirm-cancel" { "Cancel" }
                            button type="button" class="dash-button dash-danger" value="ok" id="dash-confirm-ok" { "Confirm" }
                        }
                    }
                }
            }
        }
    }
}

fn plans_pane(view: &DashboardView, show_archived: bool) -> Markup {
    let mut owners: Vec<&str> = view.plans.iter().map(|r| r.owner_login.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let archived = view
        .plans
        .iter()
        .filter(|r| r.plan.archived_at().is_some())
        .count();
    html! {
        section id="pane-plans" class="dash-pane" aria-labelledby="h-plans" {
            h2 id="h-plans" { "Plans" }
            @if !view.reviews_waiting.is_empty() || !view.to_confirm.is_empty() || !view.to_answer.is_empty() {
                div class="dash-waiting" {
                    @if !view.reviews_waiting.is_empty() {
                        h3 { "Reviews waiting on you" }
                        ul class="dash-waiting-reviews" {
                            @for w in &view.reviews_waiting {
                                li {
                                    a href={ "/p/" (w.plan.slug()) } { (w.plan.title()) }
                                    " — asked by " (w.requested_by) " (v" (w.requested_version) "): " (w.explanation)
                                }
                            }
                        }
                    }
                    @if !view.to_confirm.is_empty() {
                        h3 { "Addressed — confirm or reopen" }
                        ul class="dash-waiting-confirm" {
                            @for c in view.to_confirm.iter().filter_map(|&i| view.comments.get(i)) {
                                li data-thread=(c.comment.id()) {
                                    a href={ "/p/" (c.plan_slug) "#thread-" (c.comment.id()) } { (c.plan_title) }
                                    " — “" (excerpt(c.comment.body().as_str(), 80)) "” addressed in v"
                                    (c.comment.awaiting_confirmation().map_or(0, |v| v.get()))
                                }
                            }
                        }
                    }
                    @if !view.to_answer.is_empty() {
                        h3 { "Open threads on your plans" }
                        ul class="dash-waiting-answer" {
                            @for c in view.to_answer.iter().filter_map(|&i| view.comments.get(i)) {
                                li data-thread=(c.comment.id()) {
                                    a href={ "/p/" (c.plan_slug) "#thread-" (c.comment.id()) } { (c.plan_title) }
                                    " — " (c.author_login) ": “" (excerpt(c.comment.body().as_str(), 80)) "”"
                                }
                            }
                        }
                    }
                }
            }
            // Full-text search over every plan, section and comment the reader may see (the
            // server's index, `GET /api/search`), not only the rows below.
            form id="search-form" class="dash-controls dash-js" role="search" aria-label="Search everything" {
                label { "Search all plans, sections and comments "
                    input type="search" id="search-all" name="q" maxlength="200" placeholder="Words in any plan or comment" autocomplete="off";
                }
                label class="dash-check" { input type="checkbox" id="search-archived"; " Include archived" }
                button type="submit" class="dash-button" { "Search" }
            }
            div id="search-results" class="dash-search-results" aria-live="polite" {}
            div class="dash-controls dash-js" role="search" aria-label="Filter plans" {
                label { "Search " input type="search" id="plans-search" placeholder="Title, name or owner" autocomplete="off"; }
                label { "Show "
                    select id="plans-scope" {
                        option value="all" { "Everyone's" }
                        option value="mine" { "Mine" }
                    }
                }
                label { "Owner "
                    select id="plans-owner" {
                        option value="" { "Any" }
                        @for o in &owners { option value=(o) { (o) } }
                    }
                }
                label { "Visibility "
                    select id="plans-visibility" {
                        option value="" { "Any" }
                        option value="private" { "Private" }
                        option value="published" { "Published" }
                    }
                }
                label class="dash-check" { input type="checkbox" id="plans-archived"; " Show archived (" (archived) ")" }
                label { "Sort "
                    select id="plans-sort" {
                        option value="pushed-desc" { "Last pushed, newest first" }
                        option value="pushed-asc" { "Last pushed, oldest first" }
                        option value="title" { "Title A–Z" }
                        option value="comments" { "Most open comments" }
                        option value="version" { "Most versions" }
                    }
                }
                span id="plans-count" class="pp-meta" aria-live="polite" {}
            }
            noscript {
                p {
                    @if show_archived { a href="/dashboard#pane-plans" { "Hide archived plans" } }
                    @else { a href="/dashboard?archived=1#pane-plans" { "Show archived plans (" (archived) ")" } }
                }
            }
            @if view.plans.is_empty() {
                p class="dash-empty" { "No plans yet. Push one with " code { "/planpush" } " or " code { "planpush push" } "." }
            } @else {
                div class="dash-scroll" {
                    table class="dash-table" id="plans-table" {
                        thead { tr {
                            th scope="col" { "Title" } th scope="col" { "Owner" } th scope="col" { "Visibility" }
                            th scope="col" { "Version" } th scope="col" { "Last pushed" } th scope="col" { "Open comments" }
                            th scope="col" { "Actions" }
                        } }
                        tbody {
                            @for row in &view.plans { (plan_row(row, show_archived)) }
                        }
                    }
                }
                p id="plans-none" class="dash-empty" hidden { "No plan matches these filters." }
                button type="button" id="plans-more" class="dash-button dash-js" hidden { "Show all" }
            }
        }
    }
}

fn plan_row(row: &PlanRow, show_archived: bool) -> Markup {
    let p = &row.plan;
    let archived = p.archived_at().is_some();
    let published = p.visibility() == Visibility::Published;
    let search = format!("{} {} {}", p.title(), p.slug(), row.owner_login).to_lowercase();
    html! {
        tr class="dash-plan" data-id=(p.id()) data-search=(search) data-owner=(row.owner_login)
            data-visibility=(p.visibility().as_str()) data-archived=(archived) data-mine=(row.mine)
            data-pushed=(p.updated_at().timestamp_millis()) data-title=(p.title().to_lowercase())
            data-version=(p.current_version()) data-comments=(row.open_comments)
            hidden[archived && !show_archived] {
            td {
                a href={"/p/" (p.slug())} { (p.title()) }
                @if row.unseen { " " span class="pp-badge dash-new" title="A version you have not seen yet" { "New" } }
                @if archived { " " span class="pp-badge dash-archived-badge" { "Archived" } }
                div class="pp-meta" { code { (p.slug()) } }
            }
            td data-label="Owner" { (row.owner_login) }
            td class="dash-visibility" data-label="Visibility" {
                @if published { span class="pp-badge pp-accepted" { "Published" } } @else { span class="pp-badge dash-private" { "Private" } }
            }
            td data-label="Version" { "v" (p.current_version()) }
            td data-label="Last pushed" { (time(p.updated_at())) }
            td data-label="Open comments" { (row.open_comments) }
            td class="dash-actions" {
                a class="dash-button" href={"/p/" (p.slug())} aria-label={"Open " (p.title())} { "Open" }
                @if row.can_publish_archive {
                    @if !published {
                        button type="button" class="dash-button dash-js" data-action="publish" data-id=(p.id()) data-title=(p.title()) { "Publish" }
                    }
                    button type="button" class="dash-button dash-js" data-action="archive" data-id=(p.id()) data-title=(p.title()) aria-pressed=(archived) {
                        @if archived { "Unarchive" } @else { "Archive" }
                    }
                }
                @if row.can_delete {
                    button type="button" class="dash-button dash-danger dash-js" data-action="delete" data-id=(p.id()) data-title=(p.title()) { "Delete" }
                }
            }
        }
    }
}

fn details(e: &AuditEntry) -> String {
    match &e.event.details {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        v => v.to_string(),
    }
}

fn events_table(id: &str, page: &AuditLogPage, with_ip: bool, filter_links: bool) -> Markup {
    html! {
        @if page.entries.is_empty() {
            p class="dash-empty" { "No events." }
        } @else {
            div class="dash-scroll" {
                table class="dash-table" id=(id) {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" }
                        th scope="col" { "Target" }
                        @if with_ip { th scope="col" { "IP" } }
                        th scope="col" { "Details" }
                    } }
                    tbody {
                        @for e in &page.entries {
                            tr class="dash-event" {
                                td { (time(e.event.at)) }
                                td { (e.actor_login.as_deref().unwrap_or("system")) }
                                td { code { (e.event.action.as_str()) } }
                                td {
                                    @if let Some(t) = &e.event.target {
                                        // The target in words (the raw id on hover); the audit tab
                                        // adds a link filtering the log to it.
                                        @match &e.target_label {
                                            Some(TargetLabel { text, href: Some(h) }) => { a class="dash-target" href=(h) title=(t) { (text) } }
                                            Some(TargetLabel { text, href: None }) => { span class="dash-target" title=(t) { (text) } }
                                            None => { code { (t) } }
                                        }
                                        @if filter_links {
                                            " "
                                            a class="dash-target-filter" href={"/dashboard?tab=audit&target=" (urlencode(t)) "#pane-audit"} title={"Only events on " (t)} { "filter" }
                                        }
                                    }
                                }
                                @if with_ip { td { (e.event.ip.map(|i| i.to_string()).unwrap_or_default()) } }
                                td class="dash-details" { (details(e)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn activity_pane(page: &AuditLogPage) -> Markup {
    html! {
        section id="pane-activity" class="dash-pane" aria-labelledby="h-activity" {
            h2 id="h-activity" { "Activity" }
            p class="pp-meta" {
                @if page.everyone { "The latest events across the team." } @else { "Your latest actions." }
            }
            (events_table("activity-table", page, false, false))
        }
    }
}

/// The caller's notifications: listed and marked read by inbox.js through
/// `/api/notifications` (the same list as the bell's, with more room).
fn inbox_pane() -> Markup {
    html! {
        section id="pane-inbox" class="dash-pane" aria-labelledby="h-inbox" {
            h2 id="h-inbox" { "Inbox" }
            p class="pp-meta" { "Mentions, replies on your threads, new threads on your plans and new versions of plans you follow." }
            div class="dash-controls dash-js" {
                label { input type="checkbox" id="inbox-unread"; " Unread only" }
                button type="button" class="dash-button" id="inbox-read-all" { "Mark all read" }
            }
            ul class="pp-inbox-list" id="inbox-list" aria-live="polite" {}
            p class="dash-empty" id="inbox-empty" hidden { "Nothing here." }
            button type="button" class="dash-button" id="inbox-more" hidden { "Older" }
            noscript { p class="dash-empty" { "The inbox needs JavaScript; " code { "GET /api/notifications" } " lists it too." } }
        }
    }
}

fn comments_pane(view: &DashboardView) -> Markup {
    html! {
        section id="pane-comments" class="dash-pane" aria-labelledby="h-comments" {
            h2 id="h-comments" { "Comments" }
            p class="pp-meta" { "Threads you started and threads on your plans." }
            div class="dash-controls dash-js" role="search" aria-label="Filter comments" {
                label { "Whose "
                    select id="comments-who" {
                        option value="" { "Mine and on my plans" }
                        option value="mine" { "Mine" }
                        option value="on-mine" { "On my plans" }
                    }
                }
                label { "State "
                    select id="comments-state" {
                        option value="" { "Open and resolved" }
                        option value="open" { "Open" }
                        option value="resolved" { "Resolved" }
                    }
                }
            }
            @if view.comments.is_empty() {
                p class="dash-empty" { "No comments yet." }
            } @else {
                ul class="dash-comments" id="comments-list" {
                    @for c in &view.comments {
                        @let anchor = match &c.comment.state() { AnchorState::Moved { to, .. } => to.to_string(), _ => c.comment.anchor().to_string() };
                        @let open = c.comment.is_open();
                        li class="dash-comment" data-mine=(c.mine) data-on-mine=(c.on_my_plan) data-state=(if open { "open" } else { "resolved" }) {
                            div {
                                a href={"/p/" (c.plan_slug) "#" (anchor)} { (c.plan_title) " › " code { (anchor) } }
                                " "
                                @if open { span class="pp-badge pp-open" { "Open" } } @else { span class="pp-badge pp-accepted" { "Resolved" } }
                                @if *c.comment.state() == AnchorState::Orphaned { " " span class="pp-badge pp-major" { "Unanchored" } }
                            }
                            blockquote class="dash-quote" { (excerpt(c.comment.body().as_str(), 240)) }
                            div class="pp-meta" { strong { (c.author_login) } " · " (time(c.comment.created_at())) }
                        }
                    }
                }
                p id="comments-none" class="dash-empty" hidden { "No comment matches these filters." }
            }
        }
    }
}

fn excerpt(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{}…", cut.trim_end())
    }
}

fn tokens_pane(view: &DashboardView) -> Markup {
    html! {
        section id="pane-tokens" class="dash-pane" aria-labelledby="h-tokens" {
            h2 id="h-tokens" { "API tokens" }
            p class="pp-meta" { "Personal tokens for scripts and CI: " code { "Authorization: Bearer <token>" } ". The secret is shown once." }
            form id="token-form" class="dash-controls dash-js" {
                label for="token-label" { "Label" }
                input id="token-label" name="label" required maxlength="100" placeholder="e.g. CI on build-01" autocomplete="off";
                button type="submit" class="dash-button" { "Create token" }
            }
            div id="token-new" class="dash-secret" hidden {
                p { strong { "Copy your new token now." } " It will not be shown again." }
                label for="token-secret" class="dash-visually-hidden" { "New token" }
                input id="token-secret" readonly;
                button type="button" class="dash-button" id="token-copy" { "Copy" }
            }
            div class="dash-scroll" {
                table class="dash-table" id="tokens-table" {
                    thead { tr {
                        th scope="col" { "Label" } th scope="col" { "Created" } th scope="col" { "Last used" }
                        th scope="col" { "Status" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for t in &view.tokens {
                            @let label = t.label.as_deref().unwrap_or("(no label)");
                            tr class="dash-token" data-id=(t.id) {
                                td { (label) }
                                td { (time(t.created_at)) }
                                td { @if let Some(u) = t.last_used_at { (time(u)) } @else { "never" } }
                                td class="dash-token-status" { @if t.revoked_at.is_some() { "revoked" } @else { "active" } }
                                td class="dash-actions" {
                                    @if t.revoked_at.is_none() {
                                        button type="button" class="dash-button dash-danger dash-js" data-action="revoke" data-id=(t.id) data-title=(label) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if view.tokens.is_empty() { p class="dash-empty" id="tokens-empty" { "No tokens yet." } }
        }
    }
}

/// The caller's own settings: e-mail notifications (saved through `PUT /api/me/email-preferences`
/// by dashboard.js, which also says where e-mail goes and whether this server sends any).
fn settings_pane(view: &DashboardView) -> Markup {
    let modes = [
        (
            planpush_app::EmailMode::Immediate,
            "Immediately",
            "One e-mail per mention, reply or new version, as it happens.",
        ),
        (
            planpush_app::EmailMode::Daily,
            "Daily digest",
            "One e-mail a day listing what you have not read yet.",
        ),
        (
            planpush_app::EmailMode::Off,
            "Off",
            "No e-mail; the inbox in PlanPush still shows everything.",
        ),
    ];
    html! {
        section id="pane-settings" class="dash-pane" aria-labelledby="h-settings" {
            h2 id="h-settings" { "Settings" }
            form id="email-form" class="dash-js" {
                fieldset {
                    legend { "E-mail notifications" }
                    p class="pp-meta" id="email-status" {}
                    @for (mode, label, hint) in modes {
                        div class="dash-radio" {
                            input type="radio" name="email-mode" id={"email-" (mode.as_str())} value=(mode.as_str()) checked[view.email_mode == mode] aria-describedby={"email-hint-" (mode.as_str())};
                            " "
                            label for={"email-" (mode.as_str())} { (label) }
                            " "
                            span class="pp-meta" id={"email-hint-" (mode.as_str())} { (hint) }
                        }
                    }
                    button type="submit" class="dash-button" { "Save" }
                }
            }
        }
    }
}

fn members_pane(view: &DashboardView) -> Markup {
    html! {
        section id="pane-members" class="dash-pane" aria-labelledby="h-members" {
            h2 id="h-members" { "Members" }
            p class="pp-meta" { "Roles granted by hand are " em { "manual" } "; roles from your identity provider's groups are " em { "sso" } " and follow the groups you are in (at sign-in and through SCIM). The last active admin cannot be demoted or deactivated." }
            div class="dash-scroll" {
                table class="dash-table" id="members-table" {
                    thead { tr {
                        th scope="col" { "Member" } th scope="col" { "Status" } th scope="col" { "Roles (origin)" }
                        th scope="col" { "Last sign-in" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for m in &view.members {
                            @let u = &m.user;
                            @let active = u.is_active();
                            @let roles = m.roles();
                            tr class="dash-member" data-id=(u.id) data-login=(u.login) data-active=(active) {
                                td {
                                    strong { (u.login) }
                                    @if let Some(n) = &u.name { div class="pp-meta" { (n) } }
                                    @if let Some(e) = &u.email { div class="pp-meta" { (e.as_str()) } }
                                    @if m.origin == planpush_app::MemberOrigin::Scim { div class="pp-meta dash-member-origin" { "provisioned (SCIM)" } }
                                }
                                td class="dash-member-status" { @if active { "active" } @else { "deactivated" } }
                                td class="dash-member-grants" {
                                    @for g in &m.grants {
                                        span class="pp-badge dash-grant" { (role_label(g.role)) " · " (g.origin.as_str()) } " "
                                    }
                                    @if m.grants.is_empty() { "none" }
                                }
                                td { @if let Some(t) = u.last_login_at { (time(t)) } @else { "never" } }
                                td class="dash-actions" {
                                    fieldset class="dash-roles dash-js" {
                                        legend class="dash-visually-hidden" { "Roles of " (u.login) }
                                        @for r in Role::ALL {
                                            label class="dash-check" {
                                                input type="checkbox" name="role" value=(r.as_str()) checked[roles.contains(&r)];
                                                " " (role_label(r))
                                            }
                                        }
                                        button type="button" class="dash-button" data-action="roles" data-id=(u.id) data-title=(u.login) { "Save roles" }
                                    }
                                    @if active {
                                        button type="button" class="dash-button dash-danger dash-js" data-action="deactivate" data-id=(u.id) data-title=(u.login) { "Deactivate" }
                                    } @else {
                                        button type="button" class="dash-button dash-js" data-action="reactivate" data-id=(u.id) data-title=(u.login) { "Reactivate" }
                                    }
                                    button type="button" class="dash-button dash-js" data-action="signout" data-id=(u.id) data-title=(u.login) { "Sign out everywhere" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn groups_pane(view: &DashboardView) -> Markup {
    html! {
        section id="pane-groups" class="dash-pane" aria-labelledby="h-groups" {
            h2 id="h-groups" { "Groups" }
            p class="pp-meta" { "Members of an identity-provider group get the roles it is mapped to (" em { "sso" } " grants). A change applies to signed-in members at their next request; sign-ins re-read everyone's groups. Someone whose groups map to no role sees \"access not yet granted\"." }
            form id="mapping-form" class="dash-controls dash-js" {
                label for="mapping-group" { "Group" }
                input id="mapping-group" name="group" required maxlength="256" placeholder="e.g. planpush-developers" autocomplete="off" list="known-groups";
                datalist id="known-groups" { @for (g, _) in &view.known_groups { option value=(g.as_str()) {} } }
                label for="mapping-role" { "Role" }
                select id="mapping-role" name="role" {
                    @for r in Role::ALL { option value=(r.as_str()) { (role_label(r)) } }
                }
                button type="submit" class="dash-button" { "Add mapping" }
            }
            div class="dash-scroll" {
                table class="dash-table" id="mappings-table" {
                    thead { tr { th scope="col" { "Group" } th scope="col" { "Role" } th scope="col" { "Actions" } } }
                    tbody {
                        @for m in &view.group_mappings {
                            tr class="dash-mapping" data-group=(m.group.as_str()) data-role=(m.role.as_str()) {
                                td { code { (m.group.as_str()) } }
                                td { (role_label(m.role)) }
                                td class="dash-actions" {
                                    button type="button" class="dash-button dash-danger dash-js" data-action="unmap" data-group=(m.group.as_str()) data-role=(m.role.as_str()) data-title={(m.group.as_str()) " → " (role_label(m.role))} { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            @if view.group_mappings.is_empty() { p class="dash-empty" id="mappings-empty" { "No group is mapped yet: only bootstrap admins and people with manual grants can sign in." } }
            h3 { "Groups seen at sign-in" }
            @if view.known_groups.is_empty() {
                p class="dash-empty" id="known-groups-empty" { "Nobody has signed in with groups yet." }
            } @else {
                div class="dash-scroll" {
                    table class="dash-table" id="known-groups-table" {
                        thead { tr { th scope="col" { "Group" } th scope="col" { "People" } th scope="col" { "Mapped to" } } }
                        tbody {
                            @for (g, n) in &view.known_groups {
                                @let roles: Vec<&str> = view.group_mappings.iter().filter(|m| &m.group == g).map(|m| role_label(m.role)).collect();
                                tr class="dash-known-group" data-group=(g.as_str()) {
                                    td { code { (g.as_str()) } }
                                    td { (n) }
                                    td { @if roles.is_empty() { em { "not mapped" } } @else { (roles.join(", ")) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One hook's delivery log (also rebuilt by dashboard.js from `GET /api/admin/webhooks`).
fn webhook_deliveries(v: &WebhookView) -> Markup {
    html! {
        @if v.deliveries.is_empty() {
            p class="dash-empty dash-webhook-empty" { "No delivery yet." }
        } @else {
            div class="dash-scroll" {
                table class="dash-table dash-webhook-log" {
                    caption class="dash-visually-hidden" { "Recent deliveries to " (v.hook.url) }
                    thead { tr {
                        th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Attempts" }
                        th scope="col" { "Created" } th scope="col" { "Next attempt" } th scope="col" { "Last error" }
                    } }
                    tbody {
                        @for d in &v.deliveries {
                            @let m = &d.message;
                            tr class="dash-delivery" data-id=(m.id) data-status=(d.status()) {
                                td { code { (d.event) } }
                                td class="dash-delivery-status" { (d.status()) }
                                td { (m.attempts) }
                                td { (time(m.created_at)) }
                                td { @if m.delivered_at.is_none() && m.gave_up_at.is_none() { (time(m.next_attempt_at)) } @else { "—" } }
                                td { (m.last_error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn webhooks_pane(view: &DashboardView) -> Markup {
    html! {
        section id="pane-webhooks" class="dash-pane" aria-labelledby="h-webhooks" {
            h2 id="h-webhooks" { "Webhooks" }
            p class="pp-meta" { "Events of published plans are POSTed as JSON to each URL, signed the " a href="https://www.standardwebhooks.com/" { "Standard Webhooks" } " way (" code { "webhook-id" } ", " code { "webhook-timestamp" } ", " code { "webhook-signature" } "). Failed deliveries are retried with backoff. The signing secret is shown once, when the hook is added." }
            form id="webhook-form" class="dash-controls dash-js" {
                label for="webhook-url" { "URL" }
                input id="webhook-url" name="url" type="url" required maxlength="2000" placeholder="https://example.com/planpush" autocomplete="off";
                fieldset class="dash-webhook-events" {
                    legend { "Events" }
                    @for e in &view.webhook_events {
                        label class="dash-check" { input type="checkbox" name="event" value=(e.as_str()) checked; " " code { (e.as_str()) } }
                    }
                }
                button type="submit" class="dash-button" { "Add webhook" }
            }
            div id="webhook-new" class="dash-secret" hidden {
                p { strong { "Copy the signing secret now." } " It will not be shown again." }
                label for="webhook-secret" class="dash-visually-hidden" { "Signing secret" }
                input id="webhook-secret" readonly;
            }
            div id="webhooks-list" {
                @for v in &view.webhooks {
                    article class="dash-webhook" data-id=(v.hook.id) aria-labelledby={"wh-" (v.hook.id)} {
                        h3 id={"wh-" (v.hook.id)} { code { (v.hook.url) } }
                        p class="pp-meta" {
                            "Events: "
                            @for (i, e) in v.hook.events.iter().enumerate() { @if i > 0 { ", " } code { (e.as_str()) } }
                            " · added " (time(v.hook.created_at))
                        }
                        div class="dash-actions" {
                            button type="button" class="dash-button dash-js" data-action="webhook-test" data-id=(v.hook.id) data-title=(v.hook.url) { "Send test" }
                            button type="button" class="dash-button dash-danger dash-js" data-action="webhook-delete" data-id=(v.hook.id) data-title=(v.hook.url) { "Delete" }
                        }
                        div class="dash-webhook-deliveries" { (webhook_deliveries(v)) }
                    }
                }
            }
            p class="dash-empty" id="webhooks-empty" hidden[!view.webhooks.is_empty()] { "No webhook yet." }
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The query string of the audit filters (without the cursor).
fn audit_query_string(q: &AuditQueryInput) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("target", &q.target),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

fn audit_pane(q: &AuditQueryInput, result: &Result<AuditLogPage, String>) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let qs = audit_query_string(q);
    let amp = if qs.is_empty() { "" } else { "&" };
    html! {
        section id="pane-audit" class="dash-pane" aria-labelledby="h-audit" {
            h2 id="h-audit" { "Audit log" }
            form method="get" action="/dashboard#pane-audit" class="dash-controls" id="audit-form" {
                input type="hidden" name="tab" value="audit";
                label { "Actor " input name="actor" id="audit-actor" value=(v(&q.actor)) placeholder="login or user id" autocomplete="off"; }
                label { "Action "
                    select name="action" id="audit-action" {
                        option value="" { "Any" }
                        @for a in AuditAction::ALL {
                            option value=(a.as_str()) selected[q.action.as_deref() == Some(a.as_str())] { (a.as_str()) }
                        }
                    }
                }
                label { "Target " input name="target" id="audit-target" value=(v(&q.target)) placeholder="plan:… user:… token:…" autocomplete="off"; }
                label { "From " input type="date" name="from" id="audit-from" value=(v(&q.from)); }
                label { "To " input type="date" name="to" id="audit-to" value=(v(&q.to)); }
                button type="submit" class="dash-button" { "Filter" }
                a class="dash-button" href="/dashboard?tab=audit#pane-audit" { "Clear" }
            }
            p class="dash-export" {
                "Export the filtered events: "
                a href={"/api/audit/export?format=csv" (amp) (qs)} download { "CSV" }
                " · "
                a href={"/api/audit/export?format=jsonl" (amp) (qs)} download { "JSON lines" }
            }
            @match result {
                Err(message) => { p class="dash-error" role="alert" id="audit-error" { (message) } }
                Ok(page) => {
                    (events_table("audit-table", page, true, true))
                    nav class="dash-pager" aria-label="Audit log pages" {
                        @if q.cursor.as_deref().is_some_and(|c| !c.is_empty()) {
                            a class="dash-button" href={"/dashboard?tab=audit" (amp) (qs) "#pane-audit"} { "Newest" }
                        }
                        @if let Some(next) = &page.next {
                            a class="dash-button" id="audit-older" rel="next" href={"/dashboard?tab=audit" (amp) (qs) "&cursor=" (urlencode(next)) "#pane-audit"} { "Older events" }
                        }
                    }
                }
            }
        }
    }
}
