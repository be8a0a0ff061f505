//! `/dashboard` and the audit-log API in-process: role-scoped tabs and rows, "new since you last
//! looked", snapshots of the server-rendered HTML (ids and times redacted), keyset pages, filters,
//! refusals and streamed exports.

use actix_web::http::{Method, StatusCode, header};
use chrono::{DateTime, TimeDelta, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::UserId;
use planpush_plans::{Plan, Visibility};
use planpush_roles::Role;

use crate::harness::{Browser, Mode, plan, test_app};

/// Redacts what changes from run to run: ids, times, asset hashes. With `events_too`, audit rows
/// become `[event]` (sign-in writes several events in the same instant, ordered by random id).
fn redact(name: &str, html: &str) -> String {
    redact_with(name, html, true)
}

fn redact_with(name: &str, html: &str, events_too: bool) -> String {
    let mut settings = insta::Settings::clone_current();
    if events_too {
        settings.add_filter(r#"(?s)<tr class="dash-event">.*?</tr>"#, "[event]");
    }
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[id]",
    );
    settings.add_filter(r#"datetime="[^"]+""#, r#"datetime="[time]""#);
    settings.add_filter(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC", "[when]");
    settings.add_filter(r#"data-pushed="\d+""#, r#"data-pushed="[ms]""#);
    settings.add_filter(r"\.[0-9a-f]{12}\.(css|js|svg)", ".[hash].$1");
    settings.add_filter(r"sha384-[A-Za-z0-9+/=]{64}", "sha384-[integrity]");
    settings.add_filter(r"&quot;ip&quot;:&quot;[^&]*&quot;", "&quot;ip&quot;:[ip]");
    // One element per line, so a snapshot diff points at what changed.
    let pretty = html.replace("><", ">\n<");
    settings.bind(|| {
        insta::assert_snapshot!(name, pretty.as_str());
    });
    pretty
}

fn tabs(html: &str) -> Vec<&str> {
    html.split("class=\"dash-tab\"")
        .skip(1)
        .filter_map(|s| s.split('>').nth(1)?.split('<').next())
        .collect()
}

#[actix_web::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let app = test_app(Mode::Dev).await;
    let res = app
        .get(&mut Browser::default(), "/dashboard?tab=audit")
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        "/auth/login?redirect_to=%2Fdashboard%3Ftab%3Daudit"
    );
}

#[actix_web::test]
async fn tabs_rows_and_actions_follow_the_role() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, _) = app.user_with("alice", &[Role::Admin]).await;
    let (mut pm, _) = app.user_with("pat", &[Role::ProjectManager]).await;
    let (mut dev, dev_id) = app.user_with("dana", &[Role::Developer]).await;
    let (mut qa, _) = app.user_with("quinn", &[Role::Qa]).await;
    let (_, other) = app.user_with("otto", &[Role::Developer]).await;
    plan(&app.ports, dev_id, "dana-private", Visibility::Private).await;
    plan(&app.ports, other, "otto-private", Visibility::Private).await;
    plan(&app.ports, other, "otto-published", Visibility::Published).await;

    let admin_html = app.get(&mut admin, "/dashboard").await;
    assert_eq!(admin_html.status, StatusCode::OK);
    let csp = admin_html
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !admin_html.body.contains("<script>"),
        "no inline script at all"
    );
    assert!(admin_html.body.contains("/assets/dashboard."));
    assert_eq!(
        tabs(&admin_html.body),
        [
            "Plans",
            "Inbox",
            "Activity",
            "Comments",
            "API tokens",
            "Settings",
            "Members",
            "Groups",
            "Webhooks",
            "Audit log"
        ]
    );
    for slug in ["dana-private", "otto-private", "otto-published"] {
        assert!(
            admin_html.body.contains(&format!("href=\"/p/{slug}\"")),
            "{slug}"
        );
    }
    assert_eq!(admin_html.body.matches("data-action=\"delete\"").count(), 3);

    let pm_html = app.get(&mut pm, "/dashboard").await.body;
    assert_eq!(
        tabs(&pm_html),
        [
            "Plans",
            "Inbox",
            "Activity",
            "Comments",
            "API tokens",
            "Settings",
            "Audit log"
        ]
    );
    assert!(pm_html.contains("href=\"/p/otto-private\""));
    assert_eq!(pm_html.matches("data-action=\"delete\"").count(), 0);
    assert_eq!(pm_html.matches("data-action=\"archive\"").count(), 3);

    let dev_html = app.get(&mut dev, "/dashboard?tab=audit").await.body;
    assert_eq!(
        tabs(&dev_html),
        [
            "Plans",
            "Inbox",
            "Activity",
            "Comments",
            "API tokens",
            "Settings"
        ]
    );
    assert!(
        dev_html.contains("data-tab=\"plans\""),
        "no audit tab to open"
    );
    assert!(
        !dev_html.contains("otto-private"),
        "others' private plans stay hidden"
    );
    assert!(dev_html.contains("href=\"/p/otto-published\""));
    // Developers publish and archive only their own.
    assert_eq!(dev_html.matches("data-action=\"archive\"").count(), 1);
    assert_eq!(dev_html.matches("data-action=\"publish\"").count(), 1);
    assert!(
        !dev_html.contains("pane-members")
            && !dev_html.contains("pane-audit")
            && !dev_html.contains("pane-groups")
    );

    let qa_html = app.get(&mut qa, "/dashboard").await.body;
    assert_eq!(qa_html.matches("data-action=\"archive\"").count(), 0);
    assert!(qa_html.contains("href=\"/p/otto-published\""));
    assert!(!qa_html.contains("dana-private"));
}

#[actix_web::test]
async fn plans_show_what_is_new_since_you_last_looked() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    plan(&app.ports, ada_id, "seen-it", Visibility::Published).await;
    plan(&app.ports, ada_id, "not-yet", Visibility::Published).await;
    let row = |html: &str, slug: &str| {
        let start = html.find(&format!("href=\"/p/{slug}\">")).unwrap();
        let end = html[start..].find("</td>").unwrap();
        html[start..start + end].contains("dash-new")
    };
    let before = app.get(&mut ada, "/dashboard").await.body;
    assert!(row(&before, "seen-it") && row(&before, "not-yet"));
    assert_eq!(app.get(&mut ada, "/p/seen-it").await.status, StatusCode::OK);
    let after = app.get(&mut ada, "/dashboard").await.body;
    assert!(!row(&after, "seen-it"), "looked at: no longer new");
    assert!(row(&after, "not-yet"));
}

#[actix_web::test]
async fn archived_plans_are_hidden_until_asked_for() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let p = plan(&app.ports, ada_id, "old-plan", Visibility::Private).await;
    let res = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/sessions/{}/archive", p.id()),
            None,
            Some(serde_json::json!({"archived": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let html = app.get(&mut ada, "/dashboard").await.body;
    let row = &html[html.find("class=\"dash-plan\"").unwrap()..];
    let tr = &row[..row.find('>').unwrap()];
    assert!(
        tr.contains("data-archived=\"true\"") && tr.ends_with("hidden"),
        "{tr}"
    );
    assert!(html.contains("Show archived plans (1)"));
    let html = app.get(&mut ada, "/dashboard?archived=1").await.body;
    let row = &html[html.find("class=\"dash-plan\"").unwrap()..];
    assert!(!row[..row.find('>').unwrap()].ends_with("hidden"));
}

async fn comment(
    app: &crate::harness::TestApp<
        impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
        >,
    >,
    b: &mut Browser,
    plan: &Plan,
    body: &str,
) -> serde_json::Value {
    let res = app
        .send(
            b,
            Method::POST,
            &format!("/api/sessions/{}/comments", plan.id()),
            None,
            Some(serde_json::json!({"body": body, "anchor": "flow"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.json()
}

#[actix_web::test]
async fn comments_tab_lists_mine_and_those_on_my_plans_with_their_anchor() {
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Developer]).await;
    let (mut ben, ben_id) = app.user_with("ben", &[Role::Developer]).await;
    let (mut cy, _) = app.user_with("cy", &[Role::Developer]).await;
    let adas = plan(&app.ports, ada_id, "adas", Visibility::Published).await;
    let bens = plan(&app.ports, ben_id, "bens", Visibility::Published).await;
    comment(&app, &mut ben, &adas, "Ben on Ada's plan").await;
    comment(&app, &mut ada, &bens, "Ada on Ben's plan").await;
    comment(&app, &mut cy, &bens, "Cy on Ben's plan").await;
    let html = app.get(&mut ada, "/dashboard").await.body;
    assert!(html.contains("Ben on Ada&#39;s plan") || html.contains("Ben on Ada's plan"));
    assert!(html.contains("Ada on Ben"));
    assert!(!html.contains("Cy on Ben"), "neither mine nor on my plan");
    assert!(html.contains("href=\"/p/adas#flow\""));
    assert!(html.contains("data-mine=\"false\" data-on-mine=\"true\" data-state=\"open\""));
    assert!(html.contains("data-mine=\"true\" data-on-mine=\"false\" data-state=\"open\""));
}

#[actix_web::test]
async fn the_rendered_dashboard_snapshots() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, admin_id) = app.user_with("alice", &[Role::Admin]).await;
    let (mut dev, dev_id) = app.user_with("dana", &[Role::Developer]).await;
    let p = plan(&app.ports, dev_id, "token-store", Visibility::Private).await;
    plan(&app.ports, admin_id, "auth-redesign", Visibility::Published).await;
    comment(
        &app,
        &mut admin,
        &p,
        "Why **Redis**? <script>alert(1)</script>",
    )
    .await;
    app.send(
        &mut dev,
        Method::POST,
        "/api/tokens",
        None,
        Some(serde_json::json!({"label": "CI on build-01"})),
    )
    .await;
    let html = app.get(&mut admin, "/dashboard").await.body;
    assert!(!html.contains("<script>alert"), "comment text is escaped");
    let admin_view = redact("dashboard_admin", &html);
    assert!(admin_view.contains("Members"));
    let html = app.get(&mut dev, "/dashboard").await.body;
    redact("dashboard_developer", &html);

    // The audit tab with known events at distinct times, filtered and paged.
    let base = Utc::now() - TimeDelta::days(3);
    let events: Vec<AuditEvent> = (0..3)
        .map(|i| {
            AuditEvent::new(
                AuditAction::PlanPublished,
                Some(dev_id),
                base + TimeDelta::hours(i),
            )
            .target("plan", p.id())
            .detail("n", i)
        })
        .collect();
    app.ports.audit_sink.record(&events).await.unwrap();
    let html = app
        .get(
            &mut admin,
            "/dashboard?tab=audit&action=plan.published&actor=dana",
        )
        .await
        .body;
    let pane = &html[html.find("<section id=\"pane-audit\"").unwrap()..];
    let pane = &pane[..pane.find("</section>").unwrap() + "</section>".len()];
    redact_with("dashboard_audit_filtered", pane, false);
}

/// Writes `n` events straight into the log, one second apart, ending at `end`.
async fn seed_events(
    ports: &planpush_app::Ports,
    actor: UserId,
    n: usize,
    end: DateTime<Utc>,
) -> Vec<AuditEvent> {
    let events: Vec<AuditEvent> = (0..n)
        .map(|i| {
            let action = if i % 2 == 0 {
                AuditAction::PlanPushed
            } else {
                AuditAction::CommentCreated
            };
            AuditEvent::new(action, Some(actor), end - TimeDelta::seconds(i as i64))
                .target("plan", format!("p{}", i % 3))
                .detail("n", i)
        })
        .collect();
    ports.audit_sink.record(&events).await.unwrap();
    events
}

#[actix_web::test]
async fn the_audit_api_pages_filters_and_refuses_clearly() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, _) = app.user_with("alice", &[Role::Admin]).await;
    let (mut dev, dev_id) = app.user_with("dana", &[Role::Developer]).await;
    let (_, other) = app.user_with("otto", &[Role::Developer]).await;
    let end = Utc::now() + TimeDelta::days(1);
    seed_events(&app.ports, dev_id, 25, end).await;
    seed_events(&app.ports, other, 5, end).await;

    // Keyset pages: every event once, newest first, and no cursor after the last page.
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/audit?actor=dana&limit=10&cursor={c}"),
            None => "/api/audit?actor=dana&limit=10".into(),
        };
        let page = app.get(&mut admin, &uri).await.json();
        assert_eq!(page["scope"], "all");
        for e in page["events"].as_array().unwrap() {
            assert_eq!(e["actor_login"], "dana");
            seen.push(e["at"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let dana_events = seen.len();
    assert!(dana_events >= 25, "{dana_events}");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");

    let page = app
        .get(
            &mut admin,
            "/api/audit?action=comment.created&target=plan:p1&limit=200",
        )
        .await
        .json();
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "comment.created" && e["target"] == "plan:p1")
    );
    let day = end.format("%Y-%m-%d").to_string();
    let page = app
        .get(
            &mut admin,
            &format!("/api/audit?from={day}&to={day}&limit=200"),
        )
        .await
        .json();
    assert!(page["events"].as_array().unwrap().len() >= 30);

    // A developer sees their own events only, and asking for someone else's is refused.
    let own = app.get(&mut dev, "/api/audit?limit=200").await.json();
    assert_eq!(own["scope"], "own");
    assert!(
        own["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_id"] == dev_id.to_string())
    );
    let res = app.get(&mut dev, "/api/audit?actor=otto").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.json()["error"], "forbidden");
    // Scope first, then resolve: an unknown login answers exactly like an existing one, so the
    // filter is no way to learn who is a member.
    let unknown = app.get(&mut dev, "/api/audit?actor=nobody-here").await;
    // Everything but the request's own id.
    let answer = |r: &crate::harness::Res| {
        let mut body = r.json();
        body.as_object_mut().unwrap().remove("request_id");
        (r.status, body)
    };
    assert_eq!(
        answer(&unknown),
        answer(&res),
        "existing and unknown actors must be indistinguishable"
    );
    let export = app
        .get(&mut dev, "/api/audit/export?actor=nobody-here")
        .await;
    assert_eq!(export.status, StatusCode::FORBIDDEN);
    // One's own login (any case) or id is still accepted.
    let me = app.get(&mut dev, "/api/auth/me").await.json();
    for actor in [
        me["login"].as_str().unwrap().to_uppercase(),
        dev_id.to_string(),
    ] {
        let res = app
            .get(&mut dev, &format!("/api/audit?actor={actor}"))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{actor}: {}", res.body);
    }

    for (uri, code) in [
        ("/api/audit?action=plan.exploded", "invalid_filter"),
        ("/api/audit?actor=nobody", "invalid_filter"),
        ("/api/audit?from=yesterday", "invalid_filter"),
        ("/api/audit?from=2026-12-02&to=2026-12-01", "invalid_filter"),
        ("/api/audit?cursor=garbage", "invalid_cursor"),
        ("/api/audit?limit=0", "invalid_limit"),
        ("/api/audit?limit=5000", "invalid_limit"),
        ("/api/audit/export?format=xml", "invalid_format"),
    ] {
        let res = app.get(&mut admin, uri).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{uri}: {}", res.body);
        let body = res.json();
        assert_eq!(body["error"], code, "{uri}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }

    // The dashboard shows a refused filter as a message, not an error page.
    let html = app
        .get(&mut admin, "/dashboard?tab=audit&action=nope")
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.contains("id=\"audit-error\""), "{}", html.body);
    assert!(html.body.contains("unknown action"));
}

#[actix_web::test]
async fn exports_stream_the_whole_filtered_set() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, _) = app.user_with("alice", &[Role::Admin]).await;
    let (mut dev, dev_id) = app.user_with("dana", &[Role::Developer]).await;
    let end = Utc::now() + TimeDelta::days(1);
    seed_events(&app.ports, dev_id, 2500, end).await;
    // A value a spreadsheet would evaluate, and one that needs quoting.
    app.ports
        .audit_sink
        .record(&[AuditEvent {
            target: Some("=HYPERLINK(\"x\")".into()),
            ..AuditEvent::new(AuditAction::TokenCreated, Some(dev_id), end).detail("label", "a,b")
        }])
        .await
        .unwrap();

    let res = app
        .get(
            &mut admin,
            "/api/audit/export?format=jsonl&actor=dana&action=plan.pushed",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/x-ndjson"
    );
    let lines: Vec<serde_json::Value> = res
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1250, "every matching event, across batches");
    assert!(lines.iter().all(|l| l["action"] == "plan.pushed"));
    let mut ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1250, "no event twice");

    let res = app
        .get(
            &mut dev,
            "/api/audit/export?format=csv&action=token.created",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.headers
            .get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("planpush-audit.csv")
    );
    let mut rows = res.body.split("\r\n");
    assert_eq!(
        rows.next(),
        Some("id,at,actor_id,actor_login,action,target,ip,details")
    );
    let hyperlink = res.body.lines().find(|l| l.contains("HYPERLINK")).unwrap();
    assert!(
        hyperlink.contains(r#","'=HYPERLINK(""x"")","#),
        "defused and quoted: {hyperlink}"
    );
    assert!(
        hyperlink.contains(r#""{""label"":""a,b""}""#),
        "{hyperlink}"
    );
    // A developer's export is their own events only.
    let res = app.get(&mut dev, "/api/audit/export?format=jsonl").await;
    assert!(
        res.body
            .lines()
            .all(|l| l.contains(&format!("\"actor_id\":\"{dev_id}\"")))
    );
    let res = app.get(&mut dev, "/api/audit/export?actor=alice").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn the_groups_tab_lists_mappings_for_admins_only() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, _) = app.user_with("alice", &[Role::Admin]).await;
    let (mut dev, dev_id) = app.user_with("dana", &[Role::Developer]).await;
    let empty = app.get(&mut admin, "/dashboard?tab=groups").await.body;
    assert!(empty.contains(r#"id="known-groups-empty""#));
    // Groups people were seen in at sign-in are listed, with whether they are mapped.
    let g = |s: &str| planpush_roles::GroupName::parse(s).unwrap();
    app.ports
        .roles
        .set_user_groups(dev_id, &[g("<b>eng</b>"), g("sales")])
        .await
        .unwrap();
    assert!(
        empty.contains(r#"data-tab="groups""#),
        "the tab is opened first"
    );
    assert!(empty.contains(r#"id="mappings-empty""#));
    let res = app
        .send(
            &mut admin,
            Method::POST,
            "/api/admin/group-mappings",
            None,
            Some(serde_json::json!({"group": "<b>eng</b>", "role": "developer"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let html = app.get(&mut admin, "/dashboard?tab=groups").await.body;
    assert!(html.contains(r#"id="pane-groups""#));
    assert!(
        html.contains(r#"data-group="&lt;b&gt;eng&lt;/b&gt;" data-role="developer""#),
        "group names are escaped: {html}"
    );
    assert!(!html.contains("<b>eng</b>"));
    assert!(!html.contains(r#"id="mappings-empty""#));
    let known = html.split(r#"id="known-groups-table""#).nth(1).unwrap();
    assert!(known.contains(r#"data-group="sales""#) && known.contains("not mapped"));
    assert!(
        known.contains(r#"data-group="&lt;b&gt;eng&lt;/b&gt;""#) && known.contains("Developer")
    );
    assert!(
        html.contains(r#"<option value="sales">"#),
        "offered in the group field"
    );
    // Refused input answers with a clear error and writes nothing.
    let res = app
        .send(
            &mut admin,
            Method::POST,
            "/api/admin/group-mappings",
            None,
            Some(serde_json::json!({"group": "eng", "role": "wizard"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("invalid_mapping"), "{}", res.body);
    assert_eq!(app.ports.roles.mappings().await.unwrap().len(), 1);
    // Developers see neither the tab nor the mappings, even when asking for it.
    let dev_html = app.get(&mut dev, "/dashboard?tab=groups").await.body;
    assert!(
        !dev_html.contains("pane-groups")
            && !dev_html.contains("&lt;b&gt;eng")
            && !dev_html.contains("known-groups")
    );
    assert!(dev_html.contains(r#"data-tab="plans""#));
}

#[actix_web::test]
async fn audit_targets_read_as_names_linked_with_the_raw_id_on_hover() {
    let app = test_app(Mode::Dev).await;
    let (mut admin, admin_id) = app.user_with("alice", &[Role::Admin]).await;
    let (mut dev, dev_id) = app.user_with("dana", &[Role::Developer]).await;
    let p = plan(&app.ports, dev_id, "token-store", Visibility::Published).await;
    let secret = plan(&app.ports, admin_id, "secret-plan", Visibility::Private).await;
    let c = comment(
        &app,
        &mut dev,
        &p,
        "Why Redis and not the database we already run for sessions?",
    )
    .await;
    let comment_id = c["id"].as_str().unwrap().to_owned();
    let at = Utc::now() + TimeDelta::hours(1);
    let events = vec![
        AuditEvent::new(AuditAction::PlanPublished, Some(dev_id), at).target("plan", p.id()),
        AuditEvent::new(
            AuditAction::CommentResolved,
            Some(dev_id),
            at + TimeDelta::seconds(1),
        )
        .target("comment", &comment_id),
        AuditEvent::new(
            AuditAction::RoleChanged,
            Some(dev_id),
            at + TimeDelta::seconds(2),
        )
        .target("user", dev_id),
        AuditEvent::new(
            AuditAction::PlanArchived,
            Some(dev_id),
            at + TimeDelta::seconds(3),
        )
        .target("plan", secret.id()),
    ];
    app.ports.audit_sink.record(&events).await.unwrap();

    let plan_target = format!("plan:{}", p.id());
    let comment_target = format!("comment:{comment_id}");
    let user_target = format!("user:{dev_id}");
    let secret_target = format!("plan:{}", secret.id());
    let thread = format!("/p/token-store#thread-{comment_id}");

    // An admin reads names everywhere: the activity feed and the audit log.
    let html = app.get(&mut admin, "/dashboard?tab=audit").await.body;
    let activity = &html[html.find("id=\"pane-activity\"").unwrap()..];
    let activity = &activity[..activity.find("</section>").unwrap()];
    assert!(
        activity.contains(&format!(
            "<a class=\"dash-target\" href=\"/p/token-store\" title=\"{plan_target}\">Plan token-store</a>"
        )),
        "{activity}"
    );
    assert!(
        activity.contains(&format!(
            "<a class=\"dash-target\" href=\"{thread}\" title=\"{comment_target}\">“Why Redis and not the database we already…”</a>"
        )),
        "{activity}"
    );
    assert!(
        activity.contains(&format!(
            "<span class=\"dash-target\" title=\"{user_target}\">@dana</span>"
        )),
        "{activity}"
    );
    assert!(
        activity.contains(&format!(
            "<a class=\"dash-target\" href=\"/p/secret-plan\" title=\"{secret_target}\">Plan secret-plan</a>"
        )),
        "admins see private plans: {activity}"
    );
    assert!(
        !activity.contains("<code>plan:"),
        "no raw ids left: {activity}"
    );
    let audit = &html[html.find("id=\"pane-audit\"").unwrap()..];
    assert!(
        audit.contains(&format!(
            "title=\"{plan_target}\">Plan token-store</a> <a class=\"dash-target-filter\""
        )),
        "the audit tab keeps a filter link per target: {audit}"
    );

    // Dana sees her own events; a plan she may not see keeps its raw id, nothing of it is named.
    let html = app.get(&mut dev, "/dashboard").await.body;
    let activity = &html[html.find("id=\"pane-activity\"").unwrap()..];
    let activity = &activity[..activity.find("</section>").unwrap()];
    assert!(
        activity.contains(&format!("<code>{secret_target}</code>")),
        "{activity}"
    );
    assert!(!activity.contains("secret-plan"), "{activity}");
    assert!(activity.contains(">Plan token-store</a>"), "{activity}");

    // The API names targets too; exports keep only the raw ids.
    let res = app
        .get(
            &mut admin,
            &format!("/api/audit?target={}", urlencode(&comment_target)),
        )
        .await;
    let json: serde_json::Value = res.json();
    assert_eq!(json["events"][0]["target"], comment_target.as_str());
    assert_eq!(json["events"][0]["target_label"]["href"], thread.as_str());
    let res = app
        .get(
            &mut admin,
            &format!(
                "/api/audit/export?format=jsonl&target={}",
                urlencode(&comment_target)
            ),
        )
        .await;
    assert!(res.body.contains(&comment_target), "{}", res.body);
    assert!(!res.body.contains("Why Redis"), "{}", res.body);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
