//! Web sign-in and sign-out: `/auth/login`, `/auth/callback`, `/auth/logout`, dev sign-in, `/`.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use maud::Markup;
use planpush_app::{ProviderError, SESSION_USER_KEY, SignInError, SingleLogout, VerifiedProfile};
use planpush_identity::{ExternalIdentity, Provider, TokenHash, UserId};
use serde::Deserialize;

use super::{limit, safe_redirect};
use crate::clock::Now;
use crate::extract::{MaybeUser, client_ip, same_origin};
use crate::ratelimit::Budget;
use crate::views;
use crate::{AppState, SignInMode};

const STATE_KEY: &str = "oauth_state";
const VERIFIER_KEY: &str = "oauth_verifier";
const RETURN_KEY: &str = "oauth_return";
/// What the provider needs at sign-out (OIDC: the ID token for `id_token_hint`). Server-side
/// session data only: the cookie carries nothing but the session key.
const LOGOUT_HINT_KEY: &str = "logout_hint";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/auth/login", web::get().to(login))
        .route("/auth/initiate_login_uri", web::get().to(login))
        .route("/auth/callback", web::get().to(callback))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/dev", web::post().to(dev_sign_in));
}

fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Sign-in starts and finishes as page navigations. Browsers say what a request is for
/// (`Sec-Fetch-Dest`): an image, frame, script or `fetch` pointed here by another site is refused
/// before it counts, so a page cannot spend an office's sign-in budget from its visitors'
/// browsers. (Clients that send no such header are counted as usual.)
fn embedded(req: &HttpRequest) -> Option<HttpResponse> {
    let dest = req.headers().get("sec-fetch-dest")?.to_str().ok()?;
    (dest != "document").then(|| {
        page(
            StatusCode::FORBIDDEN,
            views::message(
                "Refused",
                "Signing in starts from a page of its own, not from an embedded request.",
                None,
            ),
        )
    })
}

fn too_many(e: &crate::error::ApiError) -> HttpResponse {
    page(
        StatusCode::TOO_MANY_REQUESTS,
        views::message("Too many attempts", &e.message, None),
    )
}

async fn home(user: MaybeUser) -> HttpResponse {
    match user.0 {
        Some(p) => page(
            StatusCode::OK,
            views::layout(
                "PlanPush",
                maud::html! {
                    h1 { "PlanPush" }
                    p { "Signed in as " strong { (p.login) } "." }
                    p { a href="/dashboard" { "Open the dashboard" } }
                    form method="post" action="/auth/logout" { button type="submit" { "Sign out" } }
                },
            ),
        ),
        None => page(
            StatusCode::OK,
            views::message(
                "PlanPush",
                "Sign in to read and push plans.",
                Some(("/auth/login", "Sign in")),
            ),
        ),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    redirect_to: Option<String>,
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    if let Some(refused) = embedded(&req) {
        return refused;
    }
    if let Err(e) = limit(&req, &state, Budget::SignIn).await {
        return too_many(&e);
    }
    let back = safe_redirect(q.redirect_to.as_deref());
    match &state.mode {
        SignInMode::Dev => page(StatusCode::OK, views::dev_login(&back)),
        SignInMode::Provider(provider) => {
            let nonce = hex::encode(rand::random::<[u8; 32]>());
            let request = provider.authorize(&nonce);
            let stored = session
                .insert(STATE_KEY, &nonce)
                .and(session.insert(VERIFIER_KEY, &request.verifier))
                .and(session.insert(RETURN_KEY, &back));
            if let Err(e) = stored {
                tracing::error!(error = %e, "cannot store sign-in state");
                return page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    views::message(
                        "Sign-in failed",
                        "Please try again.",
                        Some(("/auth/login", "Sign in")),
                    ),
                );
            }
            HttpResponse::Found()
                .insert_header((header::LOCATION, request.url))
                .finish()
        }
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// RFC 9207: the issuer that sent the browser back.
    iss: Option<String>,
}

async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<CallbackQuery>,
    Now(now): Now,
) -> HttpResponse {
    if let Some(refused) = embedded(&req) {
        return refused;
    }
    if let Err(e) = limit(&req, &state, Budget::SignIn).await {
        return too_many(&e);
    }
    let ip = client_ip(&req, &state);
    let SignInMode::Provider(provider) = &state.mode else {
        return page(
            StatusCode::NOT_FOUND,
            views::message(
                "Not found",
                "This server does not use an external sign-in.",
                None,
            ),
        );
    };
    // Single use: whatever happens next, this state is spent.
    let expected: Option<String> = session.remove_as(STATE_KEY).and_then(Result::ok);
    let verifier: String = session
        .remove_as(VERIFIER_KEY)
        .and_then(Result::ok)
        .unwrap_or_default();
    let back: String = session
        .remove_as(RETURN_KEY)
        .and_then(Result::ok)
        .unwrap_or_else(|| "/".into());
    let retry = Some(("/auth/login", "Sign in again"));

    if let Some(err) = &q.error {
        state.sign_in.record_provider_error(err, ip, now).await;
        let text = if err == "access_denied" {
            "You declined to let PlanPush see your account, so you are not signed in."
        } else {
            "The identity provider refused the sign-in."
        };
        return page(
            StatusCode::FORBIDDEN,
            views::message("Not signed in", text, retry),
        );
    }
    let state_ok = matches!((&expected, &q.state), (Some(e), Some(s)) if TokenHash::of(e.as_bytes()) == TokenHash::of(s.as_bytes()));
    let (true, Some(code)) = (state_ok, q.code.as_deref()) else {
        state
            .sign_in
            .record_denied("missing, stale or replayed state", ip, now)
            .await;
        return page(
            StatusCode::BAD_REQUEST,
            views::message(
                "Sign-in expired",
                "This sign-in link was already used or does not belong to this browser. Start again.",
                retry,
            ),
        );
    };
    if !provider.accepts_callback_issuer(q.iss.as_deref()) {
        state
            .sign_in
            .record_denied("callback from another issuer (iss)", ip, now)
            .await;
        return page(
            StatusCode::BAD_REQUEST,
            views::message(
                "Sign-in failed",
                "The sign-in came back from another identity provider. Start again.",
                retry,
            ),
        );
    }
    let profile = match provider.complete(code, &verifier).await {
        Ok(p) => p,
        Err(ProviderError::NotAllowed(msg)) => {
            state.sign_in.record_denied(&msg, ip, now).await;
            return page(
                StatusCode::FORBIDDEN,
                views::message("Access not granted", &msg, None),
            );
        }
        Err(ProviderError::Rejected(msg)) => {
            state.sign_in.record_denied(&msg, ip, now).await;
            return page(
                StatusCode::BAD_REQUEST,
                views::message(
                    "Sign-in failed",
                    "The sign-in could not be completed. Start again.",
                    retry,
                ),
            );
        }
        Err(ProviderError::Unavailable(e)) => {
            tracing::error!(error = ?e, "identity provider unavailable");
            return page(
                StatusCode::BAD_GATEWAY,
                views::message(
                    "Sign-in unavailable",
                    "The identity provider could not be reached. Try again in a moment.",
                    retry,
                ),
            );
        }
    };
    finish_sign_in(&state, &session, profile, &back, ip, now).await
}

/// Creates the signed-in session: a new key (no fixation), the user id, then back to where they were.
async fn finish_sign_in(
    state: &AppState,
    session: &Session,
    profile: VerifiedProfile,
    back: &str,
    ip: Option<std::net::IpAddr>,
    now: DateTime<Utc>,
) -> HttpResponse {
    let hint = profile.logout_hint.clone();
    let user: UserId = match state.sign_in.sign_in(profile, ip, now).await {
        Ok(u) => u,
        Err(SignInError::Deactivated) => {
            session.purge();
            return page(
                StatusCode::FORBIDDEN,
                views::message(
                    "Account deactivated",
                    &SignInError::Deactivated.to_string(),
                    None,
                ),
            );
        }
        Err(SignInError::NoAccess { login, groups }) => {
            session.purge();
            let groups: Vec<String> = groups.iter().map(|g| g.as_str().to_owned()).collect();
            return page(
                StatusCode::FORBIDDEN,
                views::access_not_granted(&login, &groups),
            );
        }
        Err(SignInError::Unknown(e)) => {
            tracing::error!(error = ?e, "sign-in failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                views::message(
                    "Sign-in failed",
                    "Something went wrong on the server. Try again.",
                    None,
                ),
            );
        }
    };
    session.renew();
    let stored = match &hint {
        Some(h) => session.insert(LOGOUT_HINT_KEY, h),
        None => Ok(()),
    };
    if let Err(e) = stored.and(session.insert(SESSION_USER_KEY, user.to_string())) {
        tracing::error!(error = %e, "cannot store the session");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            views::message("Sign-in failed", "Try again.", None),
        );
    }
    redirect(back)
}

#[derive(Deserialize)]
struct DevForm {
    login: String,
    redirect_to: Option<String>,
}

/// `AUTH_PROVIDER=dev`: sign in as the named user.
async fn dev_sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<DevForm>,
    Now(now): Now,
) -> HttpResponse {
    if !matches!(state.mode, SignInMode::Dev) {
        return page(
            StatusCode::NOT_FOUND,
            views::message("Not found", "Development sign-in is disabled.", None),
        );
    }
    if let Some(refused) = embedded(&req) {
        return refused;
    }
    if let Err(e) = limit(&req, &state, Budget::SignIn).await {
        return too_many(&e);
    }
    if !same_origin(&req, &state.settings.base_url) {
        return page(
            StatusCode::FORBIDDEN,
            views::message(
                "Refused",
                "Cross-origin sign-in requests are refused.",
                None,
            ),
        );
    }
    let login = form.login.trim();
    let valid = !login.is_empty()
        && login.len() <= 39
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let Some(identity) = valid
        .then(|| ExternalIdentity::new(Provider::Dev, login).ok())
        .flatten()
    else {
        return page(
            StatusCode::BAD_REQUEST,
            views::message(
                "Invalid name",
                "Use 1 to 39 letters, digits, '-', '_' or '.'.",
                Some(("/auth/login", "Back")),
            ),
        );
    };
    let profile = VerifiedProfile {
        identity,
        login: login.to_owned(),
        name: None,
        email: None,
        avatar_url: None,
        groups: vec![],
        logout_hint: None,
    };
    let back = safe_redirect(form.redirect_to.as_deref());
    finish_sign_in(
        &state,
        &session,
        profile,
        &back,
        client_ip(&req, &state),
        now,
    )
    .await
}

/// Ends this browser's session (the row is deleted, so the cookie is worthless even if kept).
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    Now(now): Now,
) -> HttpResponse {
    // Refused before it counts: another site cannot spend this office's sign-out budget.
    if !same_origin(&req, &state.settings.base_url) {
        return page(
            StatusCode::FORBIDDEN,
            views::message(
                "Refused",
                "Cross-origin sign-out requests are refused.",
                None,
            ),
        );
    }
    if let Err(e) = limit(&req, &state, Budget::SignOut).await {
        return too_many(&e);
    }
    let hint: Option<String> = session.get(LOGOUT_HINT_KEY).ok().flatten();
    if let Some(p) = user.0 {
        state
            .sign_in
            .record_sign_out(p.user_id, client_ip(&req, &state), now)
            .await;
    }
    // The server-side session row is deleted first: whatever the provider does next, this
    // browser is signed out here.
    session.purge();
    let single = match &state.mode {
        SignInMode::Provider(provider) => {
            let logout_state = hex::encode(rand::random::<[u8; 16]>());
            provider.single_logout(hint.as_deref(), &logout_state)
        }
        SignInMode::Dev => SingleLogout::NotApplicable,
    };
    match single {
        SingleLogout::NotApplicable => redirect("/"),
        SingleLogout::Redirect(url) => redirect(&url),
        SingleLogout::Unsupported => page(StatusCode::OK, views::signed_out_locally()),
    }
}
