//! The whole GitHub sign-in over real HTTP: the server binary, a fake GitHub on 127.0.0.1, and a
//! client that follows the flow like a browser would (cookies kept by hand, no redirects followed).

use std::process::{Command, Stdio};

use crate::support::BIN;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

#[derive(Default)]
struct Fake {
    /// code → (github id, login, member?)
    codes: Vec<(String, u64, &'static str, bool)>,
    issued: Vec<(String, u64, &'static str, bool)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn token(
    fake: web::Data<Shared>,
    form: web::Form<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let mut f = fake.lock().unwrap();
    let code = form.get("code").cloned().unwrap_or_default();
    match f.codes.iter().position(|c| c.0 == code) {
        Some(i) => {
            let entry = f.codes.remove(i);
            let token = format!("tok-{}", entry.1);
            f.issued.push((token.clone(), entry.1, entry.2, entry.3));
            HttpResponse::Ok().json(json!({"access_token": token}))
        }
        None => HttpResponse::Ok().json(json!({"error": "bad_verification_code"})),
    }
}

fn who(req: &HttpRequest, fake: &Shared) -> Option<(u64, &'static str, bool)> {
    let t = req
        .headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .to_owned();
    fake.lock()
        .unwrap()
        .issued
        .iter()
        .find(|i| i.0 == t)
        .map(|i| (i.1, i.2, i.3))
}

async fn user(req: HttpRequest, fake: web::Data<Shared>) -> HttpResponse {
    match who(&req, &fake) {
        Some((id, login, _)) => HttpResponse::Ok()
            .json(json!({"id": id, "login": login, "name": null, "avatar_url": null})),
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn emails(req: HttpRequest, fake: web::Data<Shared>) -> HttpResponse {
    match who(&req, &fake) {
        Some((_, login, _)) => HttpResponse::Ok().json(
            json!([{"email": format!("{login}@example.com"), "primary": true, "verified": true}]),
        ),
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn membership(req: HttpRequest, fake: web::Data<Shared>) -> HttpResponse {
    match who(&req, &fake) {
        Some((_, _, true)) => HttpResponse::Ok().json(json!({"state": "active"})),
        _ => HttpResponse::NotFound().finish(),
    }
}

fn raw(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    origin: bool,
) -> (u16, String, Option<String>, String) {
    let origin_value = format!("http://127.0.0.1:{port}");
    let mut headers = vec![];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    if origin {
        headers.push(("Origin", origin_value.as_str()));
    }
    crate::support::raw(port, method, path, &headers, "")
}

#[actix_web::test]
async fn github_sign_in_end_to_end() {
    let fake: Shared = Arc::new(Mutex::new(Fake::default()));
    let data = web::Data::new(fake.clone());
    let gh = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/login/oauth/access_token", web::post().to(token))
            .route("/user", web::get().to(user))
            .route("/user/emails", web::get().to(emails))
            .route("/user/memberships/orgs/{org}", web::get().to(membership))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let gh_url = format!("http://{}", gh.addrs()[0]);
    actix_web::rt::spawn(gh.run());

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("AUTH_PROVIDER", "github".into()),
            ("GITHUB_CLIENT_ID", "Iv1.test".into()),
            ("GITHUB_CLIENT_SECRET", "secret".into()),
            ("GITHUB_ORG", "acme".into()),
            ("GITHUB_URL", gh_url.clone()),
            ("GITHUB_API_URL", gh_url.clone()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = crate::support::Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    // Everything below runs blocking HTTP on a thread so the fake GitHub keeps serving.
    let fake2 = fake.clone();
    let gh_prefix = gh_url.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let sign_in = |id: u64, login: &'static str, member: bool| {
            let (status, location, cookie, _) =
                raw(port, "GET", "/auth/login?redirect_to=/after", None, false);
            assert_eq!(status, 302);
            assert!(
                location.starts_with(&format!("{gh_prefix}/login/oauth/authorize?")),
                "{location}"
            );
            let state = url::Url::parse(&location)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "state")
                .unwrap()
                .1
                .into_owned();
            let code = format!("code-{id}");
            fake2
                .lock()
                .unwrap()
                .codes
                .push((code.clone(), id, login, member));
            let pre = cookie.unwrap();
            let (status, location, cookie, body) = raw(
                port,
                "GET",
                &format!("/auth/callback?code={code}&state={state}"),
                Some(&pre),
                false,
            );
            (status, location, cookie, body, pre, state)
        };

        // The first member becomes admin.
        let (status, location, cookie, _, pre, state) = sign_in(1, "ada", true);
        assert_eq!((status, location.as_str()), (303, "/after"));
        let ada = cookie.unwrap();
        assert_ne!(ada, pre, "new session key at sign-in");
        let (status, _, _, me) = raw(port, "GET", "/api/auth/me", Some(&ada), false);
        assert_eq!(status, 200);
        let me: serde_json::Value = serde_json::from_str(&me).unwrap();
        assert_eq!(
            (
                me["login"].as_str(),
                me["roles"].clone(),
                me["email"].as_str()
            ),
            (Some("ada"), json!(["admin"]), Some("ada@example.com"))
        );

        // Replaying the callback: refused.
        let (status, ..) = raw(
            port,
            "GET",
            &format!("/auth/callback?code=code-1&state={state}"),
            Some(&pre),
            false,
        );
        assert_eq!(status, 400);

        // A non-member: a clear page, no session.
        let (status, _, cookie, body, ..) = sign_in(2, "eve", false);
        assert_eq!(status, 403);
        assert!(
            body.contains("not a member of the acme organization"),
            "{body}"
        );
        if let Some(c) = cookie {
            assert_eq!(raw(port, "GET", "/api/auth/me", Some(&c), false).0, 401);
        }

        // Denied consent.
        let (_, location, cookie, _) = raw(port, "GET", "/auth/login", None, false);
        let state = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        let (status, ..) = raw(
            port,
            "GET",
            &format!("/auth/callback?error=access_denied&state={state}"),
            cookie.as_deref(),
            false,
        );
        assert_eq!(status, 403);

        // The second member is a developer; signing out kills the session.
        let (_, _, cookie, ..) = sign_in(3, "bob", true);
        let bob = cookie.unwrap();
        let me: serde_json::Value =
            serde_json::from_str(&raw(port, "GET", "/api/auth/me", Some(&bob), false).3).unwrap();
        assert_eq!(me["roles"], json!(["developer"]));
        assert_eq!(raw(port, "POST", "/auth/logout", Some(&bob), true).0, 303);
        assert_eq!(raw(port, "GET", "/api/auth/me", Some(&bob), false).0, 401);
    })
    .await
    .unwrap();
}
