//! Prometheus metrics: recorded through the `metrics` facade wherever the event happens, rendered
//! by `metrics-exporter-prometheus` at `GET /metrics` — on the main port answered only to loopback
//! and to `TRUSTED_PROXIES` (everyone else gets `404`, as for a route that does not exist); with
//! `METRICS_ADDR` only on that separate listener ([`listener`]), to whoever reaches it, and `404`
//! on the main port.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `planpush_http_requests_total` | counter | `method`, `route` (the pattern, `/p/{slug}`), `status` |
//! | `planpush_http_request_duration_seconds` | histogram | `method`, `route` |
//! | `planpush_pushes_total` | counter | `result` (`created`, `updated`) |
//! | `planpush_push_bytes_total` | counter | |
//! | `planpush_page_cache_lookups_total` | counter | `result` (`hit`, `miss`) |
//! | `planpush_sse_viewers` | gauge | |
//! | `planpush_outbox_due_messages`, `planpush_outbox_oldest_due_seconds` | gauge | |
//! | `planpush_db_connections` | gauge | `state` (`idle`, `in_use`) |
//!
//! The outbox and pool gauges are sampled by the server every 15 seconds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{HttpRequest, HttpResponse, web};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

pub const REQUESTS: &str = "planpush_http_requests_total";
pub const DURATION: &str = "planpush_http_request_duration_seconds";
pub const PUSHES: &str = "planpush_pushes_total";
pub const PUSH_BYTES: &str = "planpush_push_bytes_total";
pub const PAGE_CACHE: &str = "planpush_page_cache_lookups_total";
pub const SSE_VIEWERS: &str = "planpush_sse_viewers";
pub const OUTBOX_DUE: &str = "planpush_outbox_due_messages";
pub const OUTBOX_OLDEST: &str = "planpush_outbox_oldest_due_seconds";
pub const DB_CONNECTIONS: &str = "planpush_db_connections";

/// Latency buckets, in seconds: plan pages answer in well under a millisecond when cached, pushes
/// in milliseconds, slow paths in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder, installed on first use (`None` if something else installed one).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.into()), BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "HTTP requests answered, by route pattern and status"
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "HTTP request latency, by route pattern"
    );
    describe_counter!(PUSHES, "Plan versions pushed");
    describe_counter!(PUSH_BYTES, Unit::Bytes, "Bytes of pushed documents");
    describe_counter!(PAGE_CACHE, "Plan page cache lookups");
    describe_gauge!(SSE_VIEWERS, "Open live-update streams");
    describe_gauge!(OUTBOX_DUE, "Notifications due for delivery");
    describe_gauge!(
        OUTBOX_OLDEST,
        Unit::Seconds,
        "Age of the oldest due notification"
    );
    describe_gauge!(DB_CONNECTIONS, "Database pool connections");
}

/// Latency samples are folded into their histograms' buckets after this many requests.
pub const UPKEEP_EVERY: u64 = 1024;

/// The methods whose series a worker keeps at hand (others, which a client can make up, are
/// looked up in the registry each time, so what is kept stays bounded by the routes).
const KEPT_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A request's two series for one method and status of a route.
struct RequestSeries {
    method: &'static str,
    status: u16,
    count: Counter,
    latency: Histogram,
}

impl RequestSeries {
    fn record(&self, seconds: f64) {
        self.count.increment(1);
        self.latency.record(seconds);
    }
}

thread_local! {
    /// Each worker's series by route pattern: the registry builds the labels (three strings)
    /// and hashes them on every lookup, ~4% of the server's CPU on a cached page read.
    static SERIES: RefCell<HashMap<Box<str>, Vec<RequestSeries>>> = RefCell::new(HashMap::new());
}

/// Handles are bound to the recorder installed when they are made, so they are kept only once
/// [`handle`] has run (after it, a recorder is installed for good: ours, or whoever came first).
fn handles_are_final() -> bool {
    HANDLE.get().is_some()
}

/// Records one answered request.
///
/// The exporter keeps each latency sample until its histograms are drained into their buckets,
/// which it does when `/metrics` is rendered or when upkeep runs — and a recorder made with
/// `build_recorder` (ours: no listener of the exporter's own) runs no upkeep by itself. So a server
/// nobody scraped kept every sample, ~16 bytes per request (`tests/memory.rs` counts it), without
/// bound: 3–5 MB per ten seconds of page reads in `cargo xtask bench http`. Every
/// [`UPKEEP_EVERY`] requests the request that reaches the count drains them (a few microseconds),
/// which bounds what is kept by the count, whatever the rate, with no task to schedule.
pub fn observe_request(method: &str, route: &str, status: u16, seconds: f64) {
    static OBSERVED: AtomicU64 = AtomicU64::new(0);
    let kept = KEPT_METHODS.iter().copied().find(|m| *m == method);
    match kept {
        Some(method) if handles_are_final() => SERIES.with_borrow_mut(|series| {
            let kept = series.get(route).and_then(|of_route| {
                of_route
                    .iter()
                    .find(|s| s.method == method && s.status == status)
            });
            match kept {
                Some(s) => s.record(seconds),
                None => {
                    let s = RequestSeries {
                        method,
                        status,
                        count: count_series(method, route, status),
                        latency: latency_series(method, route),
                    };
                    s.record(seconds);
                    series.entry(route.into()).or_default().push(s);
                }
            }
        }),
        _ => {
            count_series(method, route, status).increment(1);
            latency_series(method, route).record(seconds);
        }
    }
    if OBSERVED.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1
        && let Some(Some(h)) = HANDLE.get()
    {
        h.run_upkeep();
    }
}

fn count_series(method: &str, route: &str, status: u16) -> Counter {
    metrics::counter!(REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string())
}

fn latency_series(method: &str, route: &str) -> Histogram {
    metrics::histogram!(DURATION, "method" => method.to_owned(), "route" => route.to_owned())
}

/// `planpush_page_cache_lookups_total`: a lookup that ran its loader missed (a caller that waited
/// for another's load counts as a hit: it rendered nothing).
pub(crate) fn count_page_lookup(missed: bool) {
    static KEPT: OnceLock<[Counter; 2]> = OnceLock::new();
    let series = |result: &'static str| metrics::counter!(PAGE_CACHE, "result" => result);
    let [hit, miss] = match KEPT.get() {
        Some(kept) => kept,
        None if handles_are_final() => KEPT.get_or_init(|| [series("hit"), series("miss")]),
        None => return series(if missed { "miss" } else { "hit" }).increment(1),
    };
    if missed { miss } else { hit }.increment(1);
}

/// Counts an open live-update stream for as long as it lives.
pub struct ViewerGauge(());

impl ViewerGauge {
    pub fn open() -> Self {
        metrics::gauge!(SSE_VIEWERS).increment(1.0);
        Self(())
    }
}

impl Drop for ViewerGauge {
    fn drop(&mut self) {
        metrics::gauge!(SSE_VIEWERS).decrement(1.0);
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(render));
}

/// The routes of the separate metrics listener (`METRICS_ADDR`): `GET /metrics` to anyone who can
/// connect (the address is meant to be private), nothing else.
pub fn listener(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(render_to_anyone));
}

async fn render(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let allowed = state.metrics_on_main_port
        && req
            .peer_addr()
            .is_some_and(|a| a.ip().is_loopback() || (state.settings.trusted_proxy)(a.ip()));
    if allowed {
        render_to_anyone().await
    } else {
        // The same answer as a route that does not exist.
        HttpResponse::NotFound().finish()
    }
}

async fn render_to_anyone() -> HttpResponse {
    match handle() {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .insert_header(("cache-control", "no-store"))
            .body(h.render()),
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn kept_series_count_each_method_and_status_apart() {
        let handle = handle().expect("the recorder is installed");
        let route = "/test/kept/{series}";
        for (method, status) in [
            ("GET", 200),
            ("GET", 200),
            ("GET", 404),
            ("POST", 200),
            ("PURGE", 200),
            ("PURGE", 200),
        ] {
            observe_request(method, route, status, 0.000_2);
        }
        // From another thread (another worker): the same series, kept there too.
        std::thread::spawn(move || observe_request("GET", route, 200, 0.000_2))
            .join()
            .unwrap();
        let text = handle.render();
        let count = |method: &str, status: u16| {
            sample(
                &text,
                &format!("{REQUESTS}{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"),
            )
        };
        assert_eq!(count("GET", 200), Some(3.0), "{text}");
        assert_eq!(count("GET", 404), Some(1.0));
        assert_eq!(count("POST", 200), Some(1.0));
        assert_eq!(
            count("PURGE", 200),
            Some(2.0),
            "methods not kept are still counted"
        );
        let latencies = sample(
            &text,
            &format!("{DURATION}_count{{method=\"GET\",route=\"{route}\"}}"),
        );
        assert_eq!(latencies, Some(4.0));
    }
}
