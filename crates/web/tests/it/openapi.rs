//! `GET /api/openapi.json` against the app itself: every described operation reaches a handler,
//! real answers have the documented shape, the committed `docs/openapi.json` is this document,
//! and (when `openapi-spec-validator` is installed; required under `CI=true`) it is valid
//! OpenAPI 3.1. `cargo xtask tidy` adds the other direction: every registered `/api/` route is
//! described.

use actix_web::http::{Method, StatusCode, header};
use planpush_roles::Role;
use serde_json::{Value, json};

use crate::harness::{Browser, Mode, test_app};

const DOC_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

fn document() -> Value {
    serde_json::to_value(planpush_web::openapi_document()).unwrap()
}

/// `(METHOD, /path/{param})` of every described operation.
fn operations(doc: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                && method != "parameters"
            {
                out.push((m, path.clone()));
            }
        }
    }
    out
}

#[actix_web::test]
async fn served_document_is_openapi_3_1_with_both_security_schemes() {
    let app = test_app(Mode::Dev).await;
    let res = app.get(&mut Browser::default(), "/api/openapi.json").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc = res.json();
    assert_eq!(doc, document());
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["in"],
        "cookie"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["name"],
        "planpush_session"
    );
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "message"]), "{error}");
    // Every operation id is unique (OpenAPI requires it), every operation answers something.
    let mut ids = std::collections::BTreeSet::new();
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.as_str().to_ascii_lowercase()];
        let id = op["operationId"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "operationId {id} twice");
        assert!(
            !op["responses"].as_object().unwrap().is_empty(),
            "{method} {path}"
        );
    }
}

/// Every described `(method, path)` is routed to a handler: with ids filled in and no
/// credentials, the answer is the handler's (JSON, or a 2xx), never the router's empty `404` for
/// a path or method nobody registered.
#[actix_web::test]
async fn every_described_operation_reaches_a_handler() {
    let app = test_app(Mode::Dev).await;
    let doc = document();
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "{ops:?}");
    for (method, path) in ops {
        let uri = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        assert!(!uri.contains('{'), "an unknown path parameter in {path}");
        let res = app
            .send(&mut Browser::default(), method.clone(), &uri, None, None)
            .await;
        let router_404 = res.status == StatusCode::NOT_FOUND && res.body.is_empty();
        assert!(
            !router_404 && res.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is described but not registered: {} {:?}",
            res.status,
            res.body
        );
    }
    // The check can fail: a method that is not registered gets the router's answer.
    let res = app
        .send(
            &mut Browser::default(),
            Method::PUT,
            "/api/push",
            None,
            None,
        )
        .await;
    assert!(res.status == StatusCode::NOT_FOUND && res.body.is_empty());
}

/// `docs/openapi.json` is the document the server serves (run with `UPDATE_OPENAPI=1` to
/// rewrite it after changing the API), so `cargo xtask tidy` and readers see the real one.
#[test]
fn committed_document_is_current() {
    let generated = planpush_web::openapi_document().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(DOC_FILE, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(DOC_FILE).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo nextest run -p planpush-web \
         --test it openapi` and commit it"
    );
}

/// The validator from PyPI (`openapi-spec-validator`), when installed: CI installs it (.ci/run)
/// and this test insists on it there.
#[test]
fn document_passes_openapi_spec_validator() {
    let dir = tempfile_dir();
    let file = dir.join("openapi.json");
    std::fs::write(
        &file,
        planpush_web::openapi_document().to_pretty_json().unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom openapi_spec_validator import validate\nfrom openapi_spec_validator.readers import read_from_filename\nfrom openapi_spec_validator import OpenAPIV31SpecValidator\nspec, _ = read_from_filename(sys.argv[1])\nvalidate(spec, cls=OpenAPIV31SpecValidator)\nprint('valid')",
        ])
        .arg(&file)
        .output();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match out {
        Ok(o) if o.status.success() => {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "valid");
        }
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") && !in_ci => {
            eprintln!(
                "openapi-spec-validator is not installed: skipped (pip install openapi-spec-validator)"
            );
        }
        Ok(o) => panic!(
            "the OpenAPI document is invalid:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if !in_ci => eprintln!("python3 is not available: skipped ({e})"),
        Err(e) => panic!("python3 is required in CI: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "planpush-openapi-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks `value` against `schema` (resolving `$ref`s in `doc`): types, enums, required
/// properties, and no property the schema does not declare. Returns the first problem.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            return options
                .iter()
                .find_map(|s| check(doc, s, value, at).ok())
                .ok_or_else(|| format!("{at}: {value} matches none of {key} {schema}"));
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        // Flattened structs: each part checks its own properties; together they cover all keys.
        let mut declared = std::collections::BTreeSet::new();
        for part in parts {
            let part = resolve(doc, part);
            check_object(doc, part, value, at, false)?;
            declared.extend(
                part["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            );
        }
        if let Some(obj) = value.as_object()
            && let Some(k) = obj.keys().find(|k| !declared.contains(*k))
        {
            return Err(format!("{at}: property {k:?} is not described"));
        }
        return Ok(());
    }
    if schema
        .as_object()
        .is_none_or(|o| o.is_empty() || !o.contains_key("type"))
    {
        return Ok(()); // any value
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let fits = |t: &str| match t {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if !types.iter().any(|t| fits(t)) {
        return Err(format!("{at}: {value} is not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !value.is_null()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            check(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
    }
    if value.is_object() {
        check_object(doc, schema, value, at, true)?;
    }
    Ok(())
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

fn check_object(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    closed: bool,
) -> Result<(), String> {
    let Some(obj) = value.as_object() else {
        return Err(format!("{at}: {value} is not an object"));
    };
    let props = schema["properties"].as_object();
    for req in schema["required"].as_array().into_iter().flatten() {
        let k = req.as_str().unwrap();
        if !obj.contains_key(k) {
            return Err(format!("{at}: required property {k:?} is missing"));
        }
    }
    let Some(props) = props else {
        return Ok(()); // a free-form object
    };
    for (k, v) in obj {
        match props.get(k) {
            Some(s) => check(doc, s, v, &format!("{at}.{k}"))?,
            None if closed => return Err(format!("{at}: property {k:?} is not described")),
            None => {}
        }
    }
    Ok(())
}

/// The schema the document gives for `method path` answering `status`.
fn response_schema(doc: &Value, method: &Method, path: &str, status: u16) -> Value {
    let op = &doc["paths"][path][method.as_str().to_ascii_lowercase()];
    let res = &op["responses"][status.to_string()];
    assert!(
        !res.is_null(),
        "{method} {path} answered {status}, which is not described"
    );
    res["content"]["application/json"]["schema"].clone()
}

/// Real answers of a session with every JSON area have the documented shapes (and statuses).
#[actix_web::test]
async fn real_answers_match_their_documented_schemas() {
    let doc = document();
    let app = test_app(Mode::Dev).await;
    let (mut ada, ada_id) = app.user_with("ada", &[Role::Admin]).await;
    let token = app.token(&mut ada).await;

    let push = actix_web::test::TestRequest::post()
        .uri("/api/push")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", "shape"))
        .set_payload("# Shape\n\n## Flow\n\nThe client sends a token.\n")
        .to_request();
    let pushed = app.call(&mut Browser::default(), push).await;
    let plan = pushed.json()["session_id"].as_str().unwrap().to_owned();
    let mut seen = vec![(Method::POST, "/api/push".to_owned(), pushed)];

    let comment = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{plan}/comments"),
            None,
            Some(json!({"body": "why?", "anchor": "flow", "quote": {"exact": "sends a token"}})),
        )
        .await;
    let comment_id = comment.json()["id"].as_str().unwrap().to_owned();
    seen.push((Method::POST, "/api/sessions/{id}/comments".into(), comment));
    let reply = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{plan}/comments"),
            None,
            Some(json!({"body": "because", "anchor": "flow", "parent_id": comment_id})),
        )
        .await;
    seen.push((Method::POST, "/api/sessions/{id}/comments".into(), reply));
    let resolved = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/comments/{comment_id}"),
            None,
            Some(json!({"resolved": true})),
        )
        .await;
    seen.push((Method::PATCH, "/api/comments/{id}".into(), resolved));
    let mapping = app
        .send(
            &mut ada,
            Method::POST,
            "/api/admin/group-mappings",
            None,
            Some(json!({"group": "eng", "role": "developer"})),
        )
        .await;
    seen.push((Method::POST, "/api/admin/group-mappings".into(), mapping));
    let hook = app
        .send(
            &mut ada,
            Method::POST,
            "/api/admin/webhooks",
            None,
            Some(json!({"url": "https://hooks.example.com/in", "events": ["comment.created"]})),
        )
        .await;
    let hook_id = hook.json()["id"].as_str().unwrap().to_owned();
    seen.push((Method::POST, "/api/admin/webhooks".into(), hook));
    let test = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/admin/webhooks/{hook_id}/test"),
            None,
            None,
        )
        .await;
    seen.push((Method::POST, "/api/admin/webhooks/{id}/test".into(), test));
    let refused = app
        .send(
            &mut ada,
            Method::POST,
            "/api/admin/webhooks",
            None,
            Some(json!({"url": "https://10.1.2.3/in"})),
        )
        .await;
    seen.push((Method::POST, "/api/admin/webhooks".into(), refused));
    let member = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/users/{ada_id}"),
            None,
            Some(json!({"roles": ["admin", "pm"]})),
        )
        .await;
    seen.push((Method::PATCH, "/api/users/{id}".into(), member));
    let created = app
        .send(
            &mut ada,
            Method::POST,
            "/api/tokens",
            None,
            Some(json!({"label": "shape"})),
        )
        .await;
    seen.push((Method::POST, "/api/tokens".into(), created));
    let published = app
        .send(
            &mut ada,
            Method::POST,
            &format!("/api/sessions/{plan}/publish"),
            None,
            None,
        )
        .await;
    seen.push((Method::POST, "/api/sessions/{id}/publish".into(), published));
    let archived = app
        .send(
            &mut ada,
            Method::PATCH,
            &format!("/api/sessions/{plan}/archive"),
            None,
            Some(json!({"archived": false})),
        )
        .await;
    seen.push((Method::PATCH, "/api/sessions/{id}/archive".into(), archived));
    let device = app
        .send(
            &mut Browser::default(),
            Method::POST,
            "/api/auth/device",
            None,
            None,
        )
        .await;
    let device_code = device.json()["device_code"].as_str().unwrap().to_owned();
    seen.push((Method::POST, "/api/auth/device".into(), device));
    let pending = app
        .send(
            &mut Browser::default(),
            Method::POST,
            "/api/auth/device/token",
            None,
            Some(json!({"device_code": device_code})),
        )
        .await;
    seen.push((Method::POST, "/api/auth/device/token".into(), pending));
    // The inbox: bob mentions ada on the (now published) plan.
    let (mut bob, _) = app.user_with("bob", &[Role::Developer]).await;
    let mention = app
        .send(
            &mut bob,
            Method::POST,
            &format!("/api/sessions/{plan}/comments"),
            None,
            Some(json!({"body": "@ada see", "anchor": "flow"})),
        )
        .await;
    assert_eq!(mention.status, StatusCode::CREATED);
    let inbox = app.get(&mut ada, "/api/notifications").await;
    assert_eq!(inbox.json()["notifications"][0]["kind"], "mention");
    seen.push((Method::GET, "/api/notifications".into(), inbox));
    let read = app
        .send(
            &mut ada,
            Method::POST,
            "/api/notifications/read",
            None,
            Some(json!({"all": true})),
        )
        .await;
    seen.push((Method::POST, "/api/notifications/read".into(), read));
    let followed = app
        .send(
            &mut bob,
            Method::PUT,
            &format!("/api/sessions/{plan}/subscription"),
            None,
            Some(json!({"state": "following"})),
        )
        .await;
    seen.push((
        Method::PUT,
        "/api/sessions/{id}/subscription".into(),
        followed,
    ));

    for (path, uri) in [
        ("/api/auth/me", "/api/auth/me".to_owned()),
        ("/api/users", "/api/users".to_owned()),
        ("/api/tokens", "/api/tokens".to_owned()),
        ("/api/sessions", "/api/sessions".to_owned()),
        ("/api/sessions/{id}", format!("/api/sessions/{plan}")),
        (
            "/api/sessions/{id}/subscription",
            format!("/api/sessions/{plan}/subscription"),
        ),
        (
            "/api/sessions/{id}/members",
            format!("/api/sessions/{plan}/members"),
        ),
        (
            "/api/sessions/{id}/comments",
            format!("/api/sessions/{plan}/comments?state=all"),
        ),
        (
            "/api/admin/group-mappings",
            "/api/admin/group-mappings".to_owned(),
        ),
        ("/api/audit", "/api/audit".to_owned()),
        ("/api/admin/webhooks", "/api/admin/webhooks".to_owned()),
        ("/healthz", "/healthz".to_owned()),
        ("/readyz", "/readyz".to_owned()),
    ] {
        let res = app.get(&mut ada, &uri).await;
        seen.push((Method::GET, path.to_owned(), res));
    }
    // Errors have the documented error shape too.
    let missing = app
        .get(
            &mut ada,
            "/api/sessions/00000000-0000-4000-8000-000000000000",
        )
        .await;
    seen.push((Method::GET, "/api/sessions/{id}".into(), missing));
    let anonymous = app.get(&mut Browser::default(), "/api/tokens").await;
    seen.push((Method::GET, "/api/tokens".into(), anonymous));

    for (method, path, res) in &seen {
        let schema = response_schema(&doc, method, path, res.status.as_u16());
        let body: Value = serde_json::from_str(&res.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", res.body));
        if let Err(problem) = check(&doc, &schema, &body, "$") {
            panic!("{method} {path} ({}): {problem}\n{body:#}", res.status);
        }
    }
    // The checker is not a rubber stamp.
    let token_schema = response_schema(&doc, &Method::GET, "/api/tokens", 200);
    assert!(check(&doc, &token_schema, &json!({"tokens": [{"id": 1}]}), "$").is_err());
    assert!(check(&doc, &token_schema, &json!({"tokens": [], "extra": 1}), "$").is_err());
}
