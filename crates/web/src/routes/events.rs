//! `GET /p/{slug}/events`: a plan's live events as Server-Sent Events.
//!
//! The stream opens with `retry:` and then either `resync` (the viewer's `Last-Event-ID` is older
//! than what the bus retains, or from before a restart: re-read the plan) or the retained events
//! after it, then `ready` (carrying the id to resume from) and the live events. Each event has an
//! `id:`, so a browser that reconnects sends `Last-Event-ID` and misses nothing. A comment line
//! every [`KEEP_ALIVE`] keeps proxies from closing the connection; at each one the viewer's account
//! and right to see the plan are checked again. When this process changes the viewer's access
//! (deactivation, sign-out, sign-out everywhere, a revoked token, a role change) the stream is told
//! at once (`planpush_app::LiveAccess`) and checks the credential it was opened with; if access
//! ended it sends `signed_out` and closes, within a second. A deleted plan ends every stream after
//! its `plan` event.
//!
//! Presence: an open stream is one of the plan's readers (`planpush_app::Presence`). Arrivals and
//! departures come as `presence` events on the plan's stream; at each keep-alive the stream
//! refreshes its own row and, when the readers changed otherwise (a reader's process died and its
//! row expired), sends a `presence` event without an id. A closed stream leaves.

use std::time::Duration;

use actix_session::SessionExt;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use planpush_app::{
    EventId, EventStream, LiveEvent, LiveWatch, PlanActivity, PlanEvent, session_ref,
};
use serde_json::json;

use crate::AppState;
use crate::clock::Now;
use crate::error::ApiError;
use crate::extract::ApiUser;

/// How often an idle stream sends a keep-alive comment and re-checks the viewer.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{slug}/events", web::get().to(events))
        .route("/api/sessions/{id}/presence", web::get().to(presence));
}

/// A person reading a plan now.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ReaderJson {
    #[schema(format = Uuid)]
    id: String,
    login: String,
    name: Option<String>,
}

/// Who reads a plan now.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PresenceJson {
    /// One entry per person with the plan's live page (or event stream) open, by login.
    readers: Vec<ReaderJson>,
}

#[utoipa::path(
    get, path = "/api/sessions/{id}/presence", operation_id = "presence", tag = "plans", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The plan's `session_id`")),
    responses((status = 200, description = "Who has the plan open now (its live-update streams)", body = PresenceJson), (status = 401, description = "Not signed in, or the token is invalid, expired or revoked", body = super::openapi::ErrorSchema), (status = 404, description = "No plan that the caller may see", body = super::openapi::ErrorSchema)),
)]
pub(crate) async fn presence(
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    id: web::Path<String>,
    Now(now): Now,
) -> Result<HttpResponse, ApiError> {
    let readers = state.presence.readers(&p, &id, now).await?;
    Ok(HttpResponse::Ok().json(json!({ "readers": readers })))
}

/// One SSE frame.
fn frame(id: Option<EventId>, name: &str, data: &serde_json::Value) -> Bytes {
    let mut out = String::new();
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    // serde_json never writes a raw newline, so the data is one line.
    out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    Bytes::from(out)
}

fn event_frame(e: &PlanEvent) -> Bytes {
    let data = serde_json::to_value(&e.event).unwrap_or_default();
    frame(Some(e.id), e.event.name(), &data)
}

fn ends_stream(e: &PlanEvent) -> bool {
    matches!(
        e.event,
        LiveEvent::Plan {
            activity: PlanActivity::Deleted,
            ..
        }
    )
}

async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiUser(p): ApiUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The session the stream is opened with (for cookie callers), so it ends with that session.
    let session = session_ref(&req.get_session().entries());
    let (feed, watch) = state
        .live
        .open(&p, session, &slug, last.as_deref(), state.clock.now())
        .await?;
    let sub = feed.subscription;
    let version = feed.plan.current_version();
    let mut head = vec![Bytes::from_static(b"retry: 3000\n\n")];
    let mut ended = false;
    if sub.gap {
        head.push(frame(
            Some(sub.last),
            "resync",
            &json!({ "version": version }),
        ));
    } else {
        for e in &sub.replay {
            head.push(event_frame(e));
            ended |= ends_stream(e);
        }
    }
    head.push(frame(
        Some(sub.last),
        "ready",
        &json!({ "version": version }),
    ));
    let live = Live {
        _viewer: crate::metrics::ViewerGauge::open(),
        shutdown: state.shutdown_signal(),
        state: state.into_inner(),
        watch,
        events: sub.live,
        ended,
        readers: None,
    };
    let body = futures_util::stream::iter(head.into_iter().map(Ok::<_, actix_web::Error>))
        .chain(futures_util::stream::unfold(live, Live::next).map(Ok));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache, no-transform"))
        // Set so the compression middleware passes each event through at once.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// The live part of one viewer's stream.
struct Live {
    /// Counted in `planpush_sse_viewers` while the stream lives.
    _viewer: crate::metrics::ViewerGauge,
    /// The process's graceful shutdown (see `AppState::begin_shutdown`).
    shutdown: tokio::sync::watch::Receiver<bool>,
    state: std::sync::Arc<AppState>,
    watch: LiveWatch,
    events: EventStream,
    ended: bool,
    /// The readers the viewer was last told about.
    readers: Option<Vec<planpush_app::Reader>>,
}

impl Drop for Live {
    /// However the stream ends (the viewer went away, access ended, shutdown), its reader leaves.
    fn drop(&mut self) {
        let Some(reading) = self.watch.reading().cloned() else {
            return;
        };
        let state = self.state.clone();
        // Outside a runtime (the process is exiting) the row simply expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                state.live.close(&reading, state.clock.now()).await;
            });
        }
    }
}

/// What woke a stream up.
enum Wake {
    ShuttingDown,
    Event(Option<Box<PlanEvent>>),
    AccessChanged,
    KeepAlive,
}

impl Live {
    async fn next(mut self) -> Option<(Bytes, Self)> {
        if self.ended {
            return None;
        }
        let wake = if *self.shutdown.borrow() {
            Wake::ShuttingDown
        } else {
            let tick = Box::pin(actix_web::rt::time::sleep(KEEP_ALIVE));
            let changed = self.watch.changes.next();
            let stopping = Box::pin(self.shutdown.wait_for(|stop| *stop));
            let woke = select(self.events.next(), select(changed, tick));
            match select(stopping, woke).await {
                Either::Left(_) => Wake::ShuttingDown,
                Either::Right((Either::Left((e, _)), _)) => Wake::Event(e.map(Box::new)),
                // The signal is gone (it never is in one process): keep the periodic check.
                Either::Right((Either::Right((Either::Left((Some(()), _)), _)), _)) => {
                    Wake::AccessChanged
                }
                Either::Right((
                    Either::Right((Either::Left((None, _)) | Either::Right(_), _)),
                    _,
                )) => Wake::KeepAlive,
            }
        };
        match wake {
            // Reconnect in a second, to a process that is not stopping; the stream ends so the
            // drain does not wait for it.
            Wake::ShuttingDown => {
                self.ended = true;
                Some((
                    Bytes::from_static(b"retry: 1000\n: the server is restarting\n\n"),
                    self,
                ))
            }
            Wake::Event(Some(e)) => {
                self.ended = ends_stream(&e);
                if let LiveEvent::Presence { readers } = &e.event {
                    self.readers = Some(readers.clone());
                }
                Some((event_frame(&e), self))
            }
            // The bus dropped us (we fell behind) or stopped: end, the browser reconnects.
            Wake::Event(None) => None,
            Wake::AccessChanged | Wake::KeepAlive => {
                let full = matches!(wake, Wake::AccessChanged);
                let allowed = self
                    .state
                    .live
                    .recheck(&self.watch, full, self.state.clock.now())
                    .await;
                match allowed {
                    Ok(true) if full => Some((Bytes::from_static(b": checked\n\n"), self)),
                    Ok(true) => {
                        let now = self.state.clock.now();
                        match self.state.live.readers(&self.watch, now).await {
                            Some(readers) if self.readers.as_ref() != Some(&readers) => {
                                let data = json!({ "readers": readers });
                                self.readers = Some(readers);
                                Some((frame(None, "presence", &data), self))
                            }
                            _ => Some((Bytes::from_static(b": keep-alive\n\n"), self)),
                        }
                    }
                    // Access ended (or cannot be confirmed): say so and close.
                    Ok(false) | Err(_) => {
                        self.ended = true;
                        Some((frame(None, "signed_out", &json!({})), self))
                    }
                }
            }
        }
    }
}
