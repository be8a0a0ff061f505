//! Every response names its request id; only a trusted proxy may choose it; error bodies carry it.

use actix_web::test;

use crate::harness::{Browser, Mode, test_app_with};

fn id_of(res: &crate::harness::Res) -> String {
    res.headers
        .get("x-request-id")
        .expect("every response has X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn generated(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[actix_web::test]
async fn ids_come_from_trusted_proxies_or_are_made_here() {
    let proxy: std::net::IpAddr = "198.51.100.10".parse().unwrap();
    let app = test_app_with(Mode::Dev, Some(proxy)).await;

    // From the trusted proxy, a plain id is kept.
    let mut via_proxy = Browser::default();
    let req = test::TestRequest::get()
        .uri("/healthz")
        .peer_addr(via_proxy.ip)
        .insert_header(("x-request-id", "edge-42.a_b:c"))
        .to_request();
    assert_eq!(id_of(&app.call(&mut via_proxy, req).await), "edge-42.a_b:c");

    // From the trusted proxy, an id that is not plain is replaced.
    let req = test::TestRequest::get()
        .uri("/healthz")
        .peer_addr(via_proxy.ip)
        .insert_header(("x-request-id", "a b<script>"))
        .to_request();
    assert!(generated(&id_of(&app.call(&mut via_proxy, req).await)));

    // From anyone else, the offered id is ignored.
    let mut direct = Browser {
        cookie: None,
        ip: "203.0.113.7:5000".parse().unwrap(),
    };
    let req = test::TestRequest::get()
        .uri("/healthz")
        .peer_addr(direct.ip)
        .insert_header(("x-request-id", "chosen-by-client"))
        .to_request();
    let id = id_of(&app.call(&mut direct, req).await);
    assert!(generated(&id), "{id}");

    // Each request its own id.
    let a = id_of(&app.get(&mut direct, "/healthz").await);
    let b = id_of(&app.get(&mut direct, "/healthz").await);
    assert!(generated(&a) && generated(&b) && a != b);
}

#[actix_web::test]
async fn error_bodies_quote_the_request_id() {
    let app = test_app_with(Mode::Dev, None).await;
    let mut b = Browser::default();
    let res = app.get(&mut b, "/api/auth/me").await;
    assert_eq!(res.status, 401);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["request_id"], id_of(&res), "{}", res.body);
    assert_eq!(body["error"], "unauthorized");
}
