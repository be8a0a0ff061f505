//! `GET /metrics`: Prometheus text for loopback and trusted proxies, `404` for everyone else; it
//! counts requests by route pattern, pushes and their bytes, and page-cache lookups. (The recorder
//! is process-wide, so other tests' requests count too: assertions look for lines, not totals.)

use actix_web::http::header;
use actix_web::test;
use planpush_roles::Role;

use crate::harness::{Browser, Mode, test_app_with};

fn browser(ip: &str) -> Browser {
    Browser {
        cookie: None,
        ip: format!("{ip}:4000").parse().unwrap(),
    }
}

/// The value of the first sample whose line starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[actix_web::test]
async fn metrics_are_for_loopback_and_trusted_proxies_only() {
    let proxy: std::net::IpAddr = "198.51.100.10".parse().unwrap();
    let app = test_app_with(Mode::Dev, Some(proxy)).await;
    let mut outsider = browser("203.0.113.9");
    let res = app.get(&mut outsider, "/metrics").await;
    assert_eq!(res.status, 404);
    assert!(res.body.is_empty(), "the same answer as a missing route");

    for ip in ["127.0.0.1", "198.51.100.10"] {
        let mut b = browser(ip);
        let res = app.get(&mut b, "/metrics").await;
        assert_eq!(res.status, 200, "{ip}");
        assert!(
            res.headers
                .get(header::CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4"),
        );
    }
}

#[actix_web::test]
async fn requests_pushes_and_page_cache_lookups_are_counted() {
    let app = test_app_with(Mode::Dev, None).await;
    let (mut ada, _) = app.user_with("ada", &[Role::Developer]).await;
    let token = app.token(&mut ada).await;
    let mut local = browser("127.0.0.1");

    let doc = "# Metrics\n\n## One\n\nbody\n";
    let req = test::TestRequest::post()
        .uri("/api/push")
        .peer_addr(local.ip)
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::CONTENT_TYPE, "text/markdown"))
        .insert_header(("x-session-name", "metrics-plan"))
        .set_payload(doc)
        .to_request();
    assert_eq!(app.call(&mut local, req).await.status, 201);
    let before = app.get(&mut local, "/metrics").await.body;
    assert_eq!(app.get(&mut ada, "/p/metrics-plan").await.status, 200);
    assert_eq!(app.get(&mut ada, "/p/metrics-plan").await.status, 200);
    let after = app.get(&mut local, "/metrics").await.body;

    assert!(sample(&after, "planpush_pushes_total{result=\"created\"}").unwrap() >= 1.0);
    assert!(sample(&after, "planpush_push_bytes_total").unwrap() >= doc.len() as f64);
    let pages = |t: &str| {
        sample(
            t,
            "planpush_http_requests_total{method=\"GET\",route=\"/p/{slug}\",status=\"200\"}",
        )
        .unwrap_or(0.0)
    };
    assert!(pages(&after) >= pages(&before) + 2.0, "{after}");
    assert!(after.contains("planpush_http_request_duration_seconds_bucket{method=\"GET\",route=\"/p/{slug}\",le=\"0.005\"}"));
    let hits =
        |t: &str| sample(t, "planpush_page_cache_lookups_total{result=\"hit\"}").unwrap_or(0.0);
    assert!(
        hits(&after) >= hits(&before) + 1.0,
        "the second view is a hit: {after}"
    );
    assert!(
        after.contains("# TYPE planpush_sse_viewers gauge")
            || after.contains("planpush_pushes_total")
    );
}
