//! SCIM 2.0 over HTTP: Okta's and Entra's request sequences (data in `scim_cases/`), the bearer
//! rules, media types, deprovisioning that cuts every kind of access at once, group membership
//! feeding the group → role mapping, Members origin and the audit trail.

use actix_web::http::{Method, StatusCode, header};
use actix_web::test;
use planpush_roles::{GroupMapping, GroupName, Role};
use serde_json::{Value, json};

use crate::harness::{Browser, Mode, Res, SCIM_TOKEN, TestApp, test_app, test_app_scim};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

trait Scim {
    async fn scim(&self, method: Method, uri: &str, body: Option<Value>) -> Res;
    async fn scim_raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        content_type: &str,
        body: Option<&Value>,
    ) -> Res;
}

/// Percent-encodes what a URI may not hold in the query (the cases are written readably).
fn encode_uri(uri: &str) -> String {
    uri.chars()
        .map(|c| match c {
            ' ' => "%20".to_owned(),
            '"' => "%22".to_owned(),
            '[' => "%5B".to_owned(),
            ']' => "%5D".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

impl<S, B> Scim for TestApp<S>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    async fn scim(&self, method: Method, uri: &str, body: Option<Value>) -> Res {
        self.scim_raw(
            method,
            uri,
            Some(SCIM_TOKEN),
            "application/scim+json",
            body.as_ref(),
        )
        .await
    }

    async fn scim_raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        content_type: &str,
        body: Option<&Value>,
    ) -> Res {
        let mut req = test::TestRequest::default()
            .method(method)
            .uri(&encode_uri(uri))
            .peer_addr("203.0.113.77:443".parse().unwrap());
        if let Some(t) = token {
            req = req.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req = req
                .insert_header((header::CONTENT_TYPE, content_type))
                .set_payload(b.to_string());
        }
        self.call(&mut Browser::default(), req.to_request()).await
    }
}

fn substitute(v: &Value, vars: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (k, val) in vars {
                s = s.replace(&format!("${{{k}}}"), val);
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect(),
        ),
        v => v.clone(),
    }
}

/// `want` is contained in `got`: objects by key, arrays element by element with equal lengths.
fn contains(got: &Value, want: &Value, at: &str) -> Result<(), String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let gv = g.get(k).ok_or_else(|| format!("{at}/{k} is missing"))?;
                contains(gv, wv, &format!("{at}/{k}"))?;
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return Err(format!("{at}: {} elements, expected {}", g.len(), w.len()));
            }
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                contains(gv, wv, &format!("{at}/{i}"))?;
            }
            Ok(())
        }
        (g, w) if g == w => Ok(()),
        (g, w) => Err(format!("{at}: got {g}, expected {w}")),
    }
}

/// Runs a recorded sequence: each step's request, status, expected fragment, absent pointers and
/// captured values (used by later steps as `${name}`).
async fn run_sequence<S: Scim>(app: &S, file: &str, cases: &str) {
    let steps: Vec<Value> = serde_json::from_str(cases).unwrap();
    assert!(steps.len() >= 10, "{file}: a real sequence");
    let mut vars: Vec<(String, String)> = vec![];
    for step in steps {
        let step = substitute(&step, &vars);
        let name = step["name"].as_str().unwrap().to_owned();
        let method = Method::from_bytes(step["method"].as_str().unwrap().as_bytes()).unwrap();
        let token = step["token"].as_str().unwrap_or(SCIM_TOKEN);
        let ct = step["content_type"]
            .as_str()
            .unwrap_or("application/scim+json");
        let res = app
            .scim_raw(
                method,
                step["path"].as_str().unwrap(),
                Some(token),
                ct,
                step.get("body"),
            )
            .await;
        assert_eq!(
            res.status.as_u16() as u64,
            step["status"].as_u64().unwrap(),
            "{file}: {name}: {}",
            res.body
        );
        if res.status == StatusCode::NO_CONTENT {
            continue;
        }
        assert_eq!(
            res.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/scim+json"),
            "{file}: {name}"
        );
        let body = res.json();
        if let Some(want) = step.get("expect") {
            contains(&body, want, "").unwrap_or_else(|e| panic!("{file}: {name}: {e}\n{body:#}"));
        }
        for p in step["absent"].as_array().into_iter().flatten() {
            assert!(
                body.pointer(p.as_str().unwrap()).is_none(),
                "{file}: {name}: {p} must be absent\n{body:#}"
            );
        }
        if let Some(Value::Object(c)) = step.get("capture") {
            for (k, ptr) in c {
                let v = body
                    .pointer(ptr.as_str().unwrap())
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{file}: {name}: nothing at {ptr}"));
                vars.push((k.clone(), v.to_owned()));
            }
        }
    }
}

#[actix_web::test]
async fn scim_okta_spec_test_sequence_in_order() {
    let app = test_app_scim(Mode::Dev).await;
    run_sequence(&app, "okta.json", include_str!("scim_cases/okta.json")).await;
}

#[actix_web::test]
async fn scim_entra_published_payloads_verbatim() {
    let app = test_app_scim(Mode::Dev).await;
    run_sequence(&app, "entra.json", include_str!("scim_cases/entra.json")).await;
}

#[actix_web::test]
async fn scim_is_off_without_a_token_and_401_with_a_bad_one() {
    let off = test_app(Mode::Dev).await;
    for token in [Some(SCIM_TOKEN), None, Some("x")] {
        let res = off
            .scim_raw(Method::GET, "/scim/v2/Users", token, "", None)
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "fails closed: {token:?}");
    }
    let app = test_app_scim(Mode::Dev).await;
    for token in [
        None,
        Some("wrong"),
        Some(&SCIM_TOKEN[..SCIM_TOKEN.len() - 1]),
        Some(""),
    ] {
        for path in [
            "/scim/v2/Users",
            "/scim/v2/Groups",
            "/scim/v2/ServiceProviderConfig",
            "/scim/v2/Nope",
        ] {
            let res = app.scim_raw(Method::GET, path, token, "", None).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{path} {token:?}");
            let body = res.json();
            assert_eq!(
                (body["status"].as_str(), body["schemas"][0].as_str()),
                (
                    Some("401"),
                    Some("urn:ietf:params:scim:api:messages:2.0:Error")
                )
            );
        }
    }
    // The scheme is case-insensitive; a session cookie is not a SCIM credential.
    let req = test::TestRequest::get()
        .uri("/scim/v2/Users")
        .insert_header((header::AUTHORIZATION, format!("bearer {SCIM_TOKEN}")))
        .to_request();
    assert_eq!(
        app.call(&mut Browser::default(), req).await.status,
        StatusCode::OK
    );
    let (mut admin, _) = app.user_with("boss", &[Role::Admin]).await;
    assert_eq!(
        app.get(&mut admin, "/scim/v2/Users").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn scim_accepts_both_json_media_types_and_refuses_others() {
    let app = test_app_scim(Mode::Dev).await;
    let body = json!({"schemas": [USER], "userName": "media@example.com"});
    for (i, ct) in [
        "application/scim+json",
        "application/json; charset=utf-8",
        "application/scim+json;charset=UTF-8",
    ]
    .iter()
    .enumerate()
    {
        let mut b = body.clone();
        b["userName"] = json!(format!("media{i}@example.com"));
        let res = app
            .scim_raw(
                Method::POST,
                "/scim/v2/Users",
                Some(SCIM_TOKEN),
                ct,
                Some(&b),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{ct}: {}", res.body);
        assert!(
            res.location().ends_with(res.json()["id"].as_str().unwrap()),
            "Location of the new user"
        );
    }
    let res = app
        .scim_raw(
            Method::POST,
            "/scim/v2/Users",
            Some(SCIM_TOKEN),
            "text/plain",
            Some(&body),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let req = test::TestRequest::post()
        .uri("/scim/v2/Users")
        .insert_header((header::AUTHORIZATION, format!("Bearer {SCIM_TOKEN}")))
        .insert_header((header::CONTENT_TYPE, "application/scim+json"))
        .set_payload("{not json")
        .to_request();
    let res = app.call(&mut Browser::default(), req).await;
    assert_eq!(
        (res.status, res.json()["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidSyntax"))
    );
}

#[actix_web::test]
async fn scim_validation_errors_leave_nothing_written() {
    let app = test_app_scim(Mode::Dev).await;
    // (body, status, scimType)
    let cases = [
        (json!({"userName": "no-schemas"}), 400, "invalidSyntax"),
        (json!({"schemas": [USER]}), 400, "invalidValue"),
        (
            json!({"schemas": [USER], "userName": ""}),
            400,
            "invalidValue",
        ),
        (
            json!({"schemas": [USER], "userName": "a", "active": "maybe"}),
            400,
            "invalidValue",
        ),
        (
            json!({"schemas": [USER], "userName": "a", "emails": "a@b.c"}),
            400,
            "invalidValue",
        ),
        (json!([1, 2]), 400, "invalidSyntax"),
    ];
    for (body, status, scim_type) in cases {
        let res = app
            .scim(Method::POST, "/scim/v2/Users", Some(body.clone()))
            .await;
        assert_eq!(res.status.as_u16(), status, "{body}: {}", res.body);
        assert_eq!(res.json()["scimType"], scim_type, "{body}");
    }
    let list = app.scim(Method::GET, "/scim/v2/Users", None).await.json();
    assert_eq!(list["totalResults"], 0);
    assert_eq!(app.ports.users.count().await.unwrap(), 0);
    for (uri, scim_type) in [
        (
            "/scim/v2/Users?filter=userName%20zz%20%22x%22",
            "invalidFilter",
        ),
        ("/scim/v2/Users?count=abc", "invalidValue"),
    ] {
        let res = app.scim(Method::GET, uri, None).await;
        assert_eq!(
            (res.status, res.json()["scimType"].as_str()),
            (StatusCode::BAD_REQUEST, Some(scim_type)),
            "{uri}"
        );
    }
}

async fn create_user<S: Scim>(app: &S, name: &str) -> String {
    let res = app
        .scim(Method::POST, "/scim/v2/Users", Some(json!({"schemas": [USER], "userName": name, "emails": [{"value": name, "primary": true}]})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.json()["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn scim_lists_page_filter_and_project() {
    let app = test_app_scim(Mode::Dev).await;
    for i in 1..=5 {
        create_user(&app, &format!("user{i}@example.com")).await;
    }
    let page = app
        .scim(Method::GET, "/scim/v2/Users?startIndex=2&count=2", None)
        .await
        .json();
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["startIndex"].as_u64(),
            page["itemsPerPage"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user2@example.com", "user3@example.com"]);
    let page = app
        .scim(Method::GET, "/scim/v2/Users?startIndex=0&count=-1", None)
        .await
        .json();
    assert_eq!(
        (
            page["startIndex"].as_u64(),
            page["itemsPerPage"].as_u64(),
            page["totalResults"].as_u64()
        ),
        (Some(1), Some(0), Some(5))
    );
    let f = app
        .scim(
            Method::GET,
            "/scim/v2/Users?filter=userName sw \"user1\" or userName co \"5@\"&attributes=userName",
            None,
        )
        .await
        .json();
    assert_eq!(f["totalResults"], 2);
    let first = f["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["id", "schemas", "userName"],
        "attributes= keeps only those (and id, schemas)"
    );
    let ex = app
        .scim(
            Method::GET,
            "/scim/v2/Users?excludedAttributes=emails,meta&count=1",
            None,
        )
        .await
        .json();
    assert!(ex["Resources"][0].get("emails").is_none() && ex["Resources"][0].get("meta").is_none());
    assert!(ex["Resources"][0].get("userName").is_some());
    let s = app
        .scim(Method::POST, "/scim/v2/Users/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"USER4@example.com\"", "attributes": ["userName"], "startIndex": 1, "count": 10})))
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert_eq!(s.json()["Resources"][0]["userName"], "user4@example.com");
    let root = app.scim(Method::POST, "/scim/v2/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName pr"}))).await;
    assert_eq!(root.json()["totalResults"], 5);
    for path in [
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/ResourceTypes",
        "/scim/v2/Schemas",
        "/scim/v2/ResourceTypes/User",
        "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
    ] {
        assert_eq!(
            app.scim(Method::GET, path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        app.scim(Method::GET, "/scim/v2/Schemas/urn:nope", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Signs in `login` through the device flow and returns the CLI's access token.
async fn cli_token<S, B>(app: &TestApp<S>, browser: &mut Browser) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut cli = Browser::default();
    let start = app
        .send(&mut cli, Method::POST, "/api/auth/device", None, None)
        .await
        .json();
    let res = app
        .activate(browser, start["user_code"].as_str().unwrap(), "approve")
        .await;
    assert!(
        res.status.is_success() || res.status.is_redirection(),
        "{}",
        res.body
    );
    let req = test::TestRequest::post()
        .uri("/api/auth/device/token")
        .peer_addr("198.51.100.51:1".parse().unwrap())
        .set_form([
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", start["device_code"].as_str().unwrap()),
        ])
        .to_request();
    let res = app.call(&mut Browser::default(), req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()["access_token"].as_str().unwrap().to_owned()
}

/// A signed-in member `login` with e-mail `email` (as an OIDC sign-in would record), holding a
/// browser session, a CLI token and a personal token; then provisioned over SCIM (adopted by
/// e-mail). Returns the browser, the two tokens and the SCIM id.
async fn signed_in_everywhere<S, B>(
    app: &TestApp<S>,
    login: &str,
    email: &str,
) -> (Browser, String, String, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (mut browser, id) = app.user_with(login, &[Role::Developer]).await;
    let mut u = app.ports.users.get(id).await.unwrap();
    u.email = Some(planpush_identity::Email::parse(email).unwrap());
    app.ports.users.update(&u).await.unwrap();
    let cli = cli_token(app, &mut browser).await;
    let personal = app.token(&mut browser).await;
    let scim_id = create_user(app, email).await;
    assert_eq!(
        scim_id,
        id.to_string(),
        "the signed-in member is adopted, not duplicated"
    );
    (browser, cli, personal, scim_id)
}

async fn access<S, B>(
    app: &TestApp<S>,
    browser: &mut Browser,
    cli: &str,
    personal: &str,
) -> [StatusCode; 3]
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    [
        app.get(browser, "/api/auth/me").await.status,
        app.send(
            &mut Browser::default(),
            Method::GET,
            "/api/auth/me",
            Some(cli),
            None,
        )
        .await
        .status,
        app.send(
            &mut Browser::default(),
            Method::GET,
            "/api/auth/me",
            Some(personal),
            None,
        )
        .await
        .status,
    ]
}

/// The request body of one deprovisioning form, given the user's e-mail.
type BodyFor = fn(&str) -> Option<Value>;

const ALLOWED: [StatusCode; 3] = [StatusCode::OK; 3];
const REFUSED: [StatusCode; 3] = [StatusCode::UNAUTHORIZED; 3];

#[actix_web::test]
async fn scim_deprovisioning_cuts_browser_cli_and_personal_tokens_at_once() {
    // Every form Okta and Entra use: PATCH with and without path, string booleans, PUT, DELETE.
    let deprovisions: [(&str, BodyFor); 5] = [
        ("PATCH", |_| {
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]}),
            )
        }),
        ("PATCH", |_| {
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
            )
        }),
        ("PATCH", |_| {
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "REPLACE", "path": "active", "value": "false"}]}),
            )
        }),
        ("PUT", |email| {
            Some(json!({"schemas": [USER], "userName": email, "active": false}))
        }),
        ("DELETE", |_| None),
    ];
    for (i, (method, body)) in deprovisions.into_iter().enumerate() {
        let app = test_app_scim(Mode::Dev).await;
        let email = format!("bob{i}@example.com");
        let (mut browser, cli, personal, id) = signed_in_everywhere(&app, "bob", &email).await;
        // Warm every cache first.
        for _ in 0..2 {
            assert_eq!(
                access(&app, &mut browser, &cli, &personal).await,
                ALLOWED,
                "case {i}"
            );
        }
        let body = body(&email);
        let res = app
            .scim(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &format!("/scim/v2/Users/{id}"),
                body,
            )
            .await;
        assert!(res.status.is_success(), "case {i}: {}", res.body);
        assert_eq!(
            access(&app, &mut browser, &cli, &personal).await,
            REFUSED,
            "case {i}: all refused on the very next request"
        );

        // Audited with the SCIM client as actor.
        let events = app
            .ports
            .audit_query
            .page(&planpush_audit::AuditFilter::default(), None, 100)
            .await
            .unwrap();
        let deprov: Vec<_> = events
            .events
            .iter()
            .filter(|e| e.action == planpush_audit::AuditAction::ScimDeprovisioned)
            .collect();
        assert_eq!(deprov.len(), 1, "case {i}");
        assert_eq!(
            (deprov[0].actor, deprov[0].details["via"].as_str()),
            (None, Some("scim"))
        );

        if method == "DELETE" {
            // Provisioning the same userName again revives the same, reactivated user.
            assert_eq!(create_user(&app, &email).await, id);
        } else {
            let res = app
                .scim(Method::PATCH, &format!("/scim/v2/Users/{id}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": true}]})))
                .await;
            assert_eq!(res.json()["active"], true, "case {i}");
        }
        // Reactivation restores sign-in, not the ended sessions or revoked tokens.
        assert_eq!(
            access(&app, &mut browser, &cli, &personal).await,
            REFUSED,
            "case {i}: still refused"
        );
        let mut fresh = Browser::default();
        app.dev_sign_in(&mut fresh, "bob").await;
        assert_eq!(
            app.get(&mut fresh, "/api/auth/me").await.status,
            StatusCode::OK,
            "case {i}: may sign in again"
        );
    }
}

#[actix_web::test]
async fn scim_deprovisioning_closes_open_live_update_streams() {
    // Deprovisioning goes through `Admin::deactivate`, which also closes the user's open
    // live-update streams within a second.
    let app = test_app_scim(Mode::Dev).await;
    let (mut browser, cli, personal, id) =
        signed_in_everywhere(&app, "sse", "sse@example.com").await;
    let owner = app
        .ports
        .users
        .get(planpush_identity::UserId::parse(&id).unwrap())
        .await
        .unwrap();
    crate::harness::plan(
        &app.ports,
        owner.id,
        "live-plan",
        planpush_plans::Visibility::Published,
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/p/live-plan/events")
        .insert_header((header::COOKIE, browser.cookie.clone().unwrap()))
        .to_request();
    let res = test::call_service(&app.service, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = Box::pin(res.into_body());
    // Reads the stream until it ends or `limit` passes; returns what it sent and whether it ended.
    async fn read_for(
        body: &mut std::pin::Pin<Box<impl actix_web::body::MessageBody>>,
        limit: std::time::Duration,
    ) -> (String, bool) {
        let mut text = String::new();
        let ended = tokio::time::timeout(limit, async {
            loop {
                match std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
                    None | Some(Err(_)) => break,
                    Some(Ok(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                }
            }
        })
        .await
        .is_ok();
        (text, ended)
    }
    let (opening, ended) = read_for(&mut body, std::time::Duration::from_millis(300)).await;
    assert!(
        !ended,
        "the stream stays open while the member is active: {opening}"
    );
    assert!(opening.contains("ready"), "{opening}");

    let started = std::time::Instant::now();
    app.scim(Method::DELETE, &format!("/scim/v2/Users/{id}"), None)
        .await;
    let (closing, ended) = read_for(&mut body, std::time::Duration::from_secs(1)).await;
    assert!(
        ended,
        "the open stream is closed within a second: {closing}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(closing.contains("signed_out"), "{closing}");
    assert_eq!(access(&app, &mut browser, &cli, &personal).await, REFUSED);
}

#[actix_web::test]
async fn scim_group_membership_grants_and_removes_the_mapped_role_at_once() {
    let app = test_app_scim(Mode::Dev).await;
    let (mut browser, _cli, _personal, id) =
        signed_in_everywhere(&app, "carol", "carol@example.com").await;
    app.ports
        .roles
        .put_mapping(&GroupMapping {
            group: GroupName::parse("PlanPush PMs").unwrap(),
            role: Role::ProjectManager,
        })
        .await
        .unwrap();
    let roles = |v: &Value| {
        v["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let me = app.get(&mut browser, "/api/auth/me").await.json();
    assert_eq!(roles(&me), ["developer"]);

    let g = app
        .scim(Method::POST, "/scim/v2/Groups", Some(json!({"schemas": [GROUP], "displayName": "PlanPush PMs", "members": [{"value": id}]})))
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    let gid = g.json()["id"].as_str().unwrap().to_owned();
    let me = app.get(&mut browser, "/api/auth/me").await.json();
    assert!(
        roles(&me).contains(&"project_manager".to_owned()),
        "granted on the very next request: {me}"
    );
    assert!(
        me["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["role"] == "project_manager" && g["origin"] == "sso")
    );

    let res = app
        .scim(Method::PATCH, &format!("/scim/v2/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let me = app.get(&mut browser, "/api/auth/me").await.json();
    assert_eq!(
        roles(&me),
        ["developer"],
        "removed at once; the manual grant stays"
    );

    // Added back by PATCH, then the group is deleted: the role goes with it.
    app.scim(Method::PATCH, &format!("/scim/v2/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]}))).await;
    assert!(
        roles(&app.get(&mut browser, "/api/auth/me").await.json())
            .contains(&"project_manager".to_owned())
    );
    assert_eq!(
        app.scim(Method::DELETE, &format!("/scim/v2/Groups/{gid}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        roles(&app.get(&mut browser, "/api/auth/me").await.json()),
        ["developer"]
    );

    // Unknown members and duplicate names are refused, leaving nothing.
    let res = app
        .scim(Method::POST, "/scim/v2/Groups", Some(json!({"schemas": [GROUP], "displayName": "Ghosts", "members": [{"value": "not-a-user"}]})))
        .await;
    assert_eq!(
        (res.status, res.json()["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    app.scim(
        Method::POST,
        "/scim/v2/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "Ops"})),
    )
    .await;
    let res = app
        .scim(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "OPS"})),
        )
        .await;
    assert_eq!(
        (res.status, res.json()["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"))
    );
    assert_eq!(
        app.scim(Method::GET, "/scim/v2/Groups", None).await.json()["totalResults"],
        1
    );
}

#[actix_web::test]
async fn scim_keeps_the_last_active_admin() {
    let app = test_app_scim(Mode::Dev).await;
    let mut root = Browser::default();
    app.dev_sign_in(&mut root, "root").await;
    let me = app.get(&mut root, "/api/auth/me").await.json();
    let root_id = planpush_identity::UserId::parse(me["id"].as_str().unwrap()).unwrap();
    let mut u = app.ports.users.get(root_id).await.unwrap();
    u.email = Some(planpush_identity::Email::parse("root@example.com").unwrap());
    app.ports.users.update(&u).await.unwrap();
    let id = create_user(&app, "root@example.com").await;
    let res = app
        .scim(Method::PATCH, &format!("/scim/v2/Users/{id}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]})))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert_eq!(
        app.get(&mut root, "/api/auth/me").await.status,
        StatusCode::OK,
        "nothing was cut"
    );
    assert_eq!(
        app.scim(Method::GET, &format!("/scim/v2/Users/{id}"), None)
            .await
            .json()["active"],
        true
    );
}

#[actix_web::test]
async fn scim_provisioned_users_appear_in_members_before_signing_in() {
    let app = test_app_scim(Mode::Dev).await;
    let (mut admin, _) = app.user_with("boss", &[Role::Admin]).await;
    let id = create_user(&app, "newhire@example.com").await;
    let users = app.get(&mut admin, "/api/users").await.json();
    let row = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id.as_str())
        .expect("listed");
    assert_eq!(
        (
            row["origin"].as_str(),
            row["login"].as_str(),
            row["last_login_at"].is_null()
        ),
        (Some("scim"), Some("newhire@example.com"), true)
    );
    let page = app.get(&mut admin, "/dashboard?tab=members").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = page
        .body
        .split("<tr class=\"dash-member\"")
        .skip(1)
        .find(|r| r.contains("newhire@example.com"))
        .expect("the provisioned member has a row");
    assert!(row.contains("provisioned (SCIM)"), "{row}");
    assert!(row.contains("never"), "never signed in: {row}");
    let boss = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "boss")
        .unwrap();
    assert_eq!(boss["origin"], "sign_in");
    let events = app
        .ports
        .audit_query
        .page(&planpush_audit::AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let e = events
        .events
        .iter()
        .find(|e| e.action == planpush_audit::AuditAction::ScimProvisioned)
        .expect("user.provisioned");
    assert_eq!(
        (e.actor, e.target.clone()),
        (None, Some(format!("user:{id}")))
    );
}

#[actix_web::test]
async fn scim_group_changes_keep_the_last_admin_and_are_audited() {
    let app = test_app_scim(Mode::Dev).await;
    let (mut browser, _cli, _personal, id) =
        signed_in_everywhere(&app, "dora", "dora@example.com").await;
    app.ports
        .roles
        .put_mapping(&GroupMapping {
            group: GroupName::parse("Admins").unwrap(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    let g = app
        .scim(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Admins", "members": [{"value": id}]})),
        )
        .await;
    let gid = g.json()["id"].as_str().unwrap().to_owned();
    // Dora is now the only active admin: the bootstrap admin `root` is demoted by hand.
    let root = app
        .ports
        .users
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.login == "root")
        .unwrap();
    app.ports
        .roles
        .replace_grants(
            root.id,
            planpush_roles::GrantOrigin::Manual,
            &[Role::Developer],
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let res = app
        .scim(
            Method::PATCH,
            &format!("/scim/v2/Groups/{gid}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.json()["members"],
        json!([]),
        "the membership itself is removed"
    );
    let me = app.get(&mut browser, "/api/auth/me").await.json();
    assert!(
        me["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["role"] == "admin" && g["origin"] == "sso"),
        "the last active admin keeps the admin role: {me}"
    );

    let events = app
        .ports
        .audit_query
        .page(&planpush_audit::AuditFilter::default(), None, 200)
        .await
        .unwrap()
        .events;
    let group_events: Vec<_> = events
        .iter()
        .filter(|e| e.target.as_deref() == Some(&format!("group:{gid}")))
        .map(|e| {
            (
                e.action.as_str(),
                e.actor,
                e.details["members_added"].clone(),
                e.details["members_removed"].clone(),
            )
        })
        .collect();
    assert_eq!(
        group_events,
        [
            ("group.updated", None, json!([]), json!([id])),
            ("group.created", None, json!([id]), json!([])),
        ],
        "newest first, the SCIM client as actor"
    );
    assert!(
        events
            .iter()
            .any(|e| e.action == planpush_audit::AuditAction::GrantAdded
                && e.details["origin"] == "sso"
                && e.details["source"] == "scim"
                && e.target.as_deref() == Some(&format!("user:{id}")))
    );
}
