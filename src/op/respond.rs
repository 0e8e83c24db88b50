//! Answers to the relying party from the authorization endpoint and the pages after it:
//! a redirect with the parameters in the query or the fragment, or an auto-submitted
//! form (form_post).

use crate::AppState;
use crate::login::{AuthorizeError, ReplyTo};
use crate::response::ResponseMode;
use crate::store::PendingAuthorization;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Sends `params` (plus `state` and the RFC 9207 `iss`) to the relying party.
pub fn reply(state: &AppState, to: &ReplyTo, params: Vec<(&'static str, String)>) -> Response {
    let mut params = params;
    if let Some(s) = &to.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", state.config.issuer.clone()));
    if to.mode == ResponseMode::FormPost {
        let fields: Vec<_> = params
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect();
        return state.pages.page(
            StatusCode::OK,
            "form_post",
            &json!({ "title": "Returning to the application", "action": to.redirect_uri, "fields": fields }),
        );
    }
    // The redirect URI is registered and absolute (checked at load), so it parses.
    let Ok(mut url) = url::Url::parse(&to.redirect_uri) else {
        return state.pages.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "The application's return address cannot be used.",
            "",
        );
    };
    let pairs = params.iter().map(|(k, v)| (*k, v.as_str()));
    if to.mode == ResponseMode::Fragment {
        // Registered redirect URIs have no fragment of their own (checked at load).
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        url.set_fragment(Some(&encoded));
    } else {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    redirect(url.as_str())
}

/// A 303 redirect to `location`.
pub fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, value),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect").into_response(),
    }
}

/// Shows an untrusted request's error, or sends the error to the relying party.
pub fn authorize_error(state: &AppState, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Untrusted { title, message } => state.pages.error(
            StatusCode::BAD_REQUEST,
            &title,
            &message,
            "Go back to the application and try again. If this keeps happening, tell the application's support team.",
        ),
        AuthorizeError::Reply { to, error, description } => {
            tracing::info!(error, %description, "authorization request refused");
            reply(
                state,
                &to,
                vec![("error", error.to_string()), ("error_description", description)],
            )
        }
    }
}

/// An internal failure during a login: logged, and a page that says so.
pub fn internal_error(state: &AppState, detail: impl std::fmt::Display) -> Response {
    tracing::error!(%detail, "a login step failed");
    state.pages.error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Gatehouse could not complete this step of your sign-in.",
        "Go back to the application and try again in a moment.",
    )
}

/// The page for a login link that is no longer valid (expired, used, or another browser's).
pub fn login_expired(state: &AppState) -> Response {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "The sign-in you were in the middle of has expired or was started in another browser.",
        "Go back to the application and sign in again.",
    )
}

/// The parked request `pid`, if it belongs to this browser and `accept` agrees (a CSRF
/// token, the upstream it went to); otherwise the page that says the login expired.
pub async fn resume(
    state: &AppState,
    pid: &str,
    browser: Option<&str>,
    now: i64,
    accept: impl Fn(&PendingAuthorization) -> bool,
) -> Result<PendingAuthorization, Box<Response>> {
    match crate::login::resume(&state.store, pid, browser, now).await {
        Ok(Some(pending)) if accept(&pending) => Ok(pending),
        Ok(_) => Err(Box::new(login_expired(state))),
        Err(e) => Err(Box::new(internal_error(state, e))),
    }
}

/// [`resume`], then [`use_up`]: for the steps that finish a parked request.
pub async fn resume_once(
    state: &AppState,
    pid: &str,
    browser: Option<&str>,
    now: i64,
    accept: impl Fn(&PendingAuthorization) -> bool,
) -> Result<PendingAuthorization, Box<Response>> {
    let pending = resume(state, pid, browser, now, accept).await?;
    use_up(state, pid, now).await?;
    Ok(pending)
}

/// Takes the parked request `pid` out of the store: each one finishes at most once.
pub async fn use_up(state: &AppState, pid: &str, now: i64) -> Result<(), Box<Response>> {
    match state.store.pending_authorizations.take(pid, now).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Box::new(login_expired(state))),
        Err(e) => Err(Box::new(internal_error(state, e))),
    }
}
