//! Request ids: every request gets one, every log line written while serving it carries it (a
//! tracing span around the whole request), and every response names it in `X-Request-Id` — error
//! bodies too (`request_id`), so a person can quote it and an operator can find the request's log
//! lines.
//!
//! An id arriving in `X-Request-Id` is kept only from a trusted proxy (`TRUSTED_PROXIES`), and only
//! when it is 1–128 characters of `A-Z a-z 0-9 - _ . :`; otherwise the server makes one (16 hex
//! digits). A client cannot choose the id under which its requests are logged.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::AppState;

pub const HEADER: &str = "x-request-id";
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Whether an incoming id may be used as it is.
pub fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn generate() -> Arc<str> {
    format!("{:016x}", rand::random::<u64>()).into()
}

/// The id for `req`: the trusted proxy's, else a new one.
fn choose(req: &ServiceRequest) -> Arc<str> {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .zip(req.peer_addr())
        .is_some_and(|(state, peer)| (state.settings.trusted_proxy)(peer.ip()));
    if !trusted {
        return generate();
    }
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(generate, Arc::from)
}

/// The middleware (`actix_web::middleware::from_fn(request_id::middleware)`), outermost, so that
/// every other middleware's log lines are inside the request's span too.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = choose(&req);
    let span = tracing::info_span!("request", request_id = %id);
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let started = Instant::now();
    let result = CURRENT
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let mut res = result?;
    let elapsed = started.elapsed();
    let route = res.request().match_pattern();
    let route = route.as_deref().unwrap_or("unmatched");
    let status = res.status().as_u16();
    crate::metrics::observe_request(method.as_str(), route, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            %method,
            path,
            route,
            status,
            micros = elapsed.as_micros() as u64,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_bounded_ids_are_kept() {
        assert!(acceptable("4f1c-aa.b_c:1"));
        assert!(acceptable(&"a".repeat(128)));
        assert!(!acceptable(&"a".repeat(129)));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("a\nb"));
        assert!(!acceptable("<script>"));
    }
}
