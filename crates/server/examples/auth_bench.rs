//! What authentication costs a request: resolving a session cookie and a Bearer token to a principal,
//! warm (cached) and cold (caches voided before each request), on SQLite, with the database round
//! trips counted. Run by `cargo xtask bench`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use planpush_app::{AccessCache, AuthMethod, SESSION_USER_KEY, SessionState, Tokens, WebSessions};
use planpush_identity::{ExternalIdentity, Provider, SessionPolicy, User};
use planpush_roles::{GrantOrigin, Role};
use planpush_store::{DbTarget, Store, StoreOptions};

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        DbTarget::Sqlite(dir.path().join("auth.db")),
        &StoreOptions::default(),
    )
    .unwrap();
    store.migrate().unwrap();
    let ports = store.ports();
    let now = Utc::now();
    let user = User::new("bench", now).unwrap();
    ports
        .users
        .create(
            &user,
            &ExternalIdentity::new(Provider::Dev, "bench").unwrap(),
        )
        .await
        .unwrap();
    ports
        .roles
        .replace_grants(user.id, GrantOrigin::Manual, &[Role::Developer], None, now)
        .await
        .unwrap();

    let access = Arc::new(AccessCache::new(ports.clone()));
    let sessions = WebSessions::new(ports.clone(), access.clone(), SessionPolicy::default());
    let tokens = Tokens::new(ports.clone(), access.clone());
    let mut state = SessionState::new();
    state.insert(
        SESSION_USER_KEY.into(),
        serde_json::to_string(&user.id.to_string()).unwrap(),
    );
    let key = sessions.save(&state, now).await.unwrap();
    let p = access
        .principal(user.id, AuthMethod::Session)
        .await
        .unwrap()
        .unwrap();
    let (_, secret) = tokens
        .create_personal(&p, "bench", None, now)
        .await
        .unwrap();

    println!("| credential | cache | p50 | p99 | database round trips per request |");
    println!("|---|---|---|---|---|");
    for cold in [false, true] {
        // Session cookie: load the state, then resolve the user's roles.
        let (n, mut lat) = (if cold { 2_000 } else { 20_000 }, vec![]);
        let before = store.round_trips();
        for _ in 0..n {
            if cold {
                access.invalidate(user.id);
            }
            let s = Instant::now();
            let st = sessions.load(&key, Utc::now()).await.unwrap().unwrap();
            let uid = planpush_app::session_user(&st).unwrap();
            let p = access
                .principal(uid, AuthMethod::Session)
                .await
                .unwrap()
                .unwrap();
            std::hint::black_box(p);
            lat.push(s.elapsed());
        }
        let trips = (store.round_trips() - before) as f64 / n as f64;
        println!(
            "| session cookie | {} | {} | {} | {trips:.2} |",
            if cold { "cold" } else { "warm" },
            us(pct(lat.clone(), 0.5)),
            us(pct(lat, 0.99))
        );

        let mut lat = vec![];
        let before = store.round_trips();
        for _ in 0..n {
            if cold {
                access.invalidate(user.id);
            }
            let s = Instant::now();
            let p = tokens
                .authenticate(secret.expose(), Utc::now())
                .await
                .unwrap();
            std::hint::black_box(p);
            lat.push(s.elapsed());
        }
        let trips = (store.round_trips() - before) as f64 / n as f64;
        println!(
            "| Bearer token | {} | {} | {} | {trips:.2} |",
            if cold { "cold" } else { "warm" },
            us(pct(lat.clone(), 0.5)),
            us(pct(lat, 0.99))
        );
    }
}
