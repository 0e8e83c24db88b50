//! Turns a flow step's [`Outcome`] into the answer: a redirect, a page, or the reply to
//! the relying party (parameters in the query or the fragment, or an auto-submitted form
//! for form_post).

use crate::config::Config;
use crate::flow::{Outcome, PasswordRefused, ReplyTo, Step};
use crate::response_type::ResponseMode;
use crate::web::FormAction;
use crate::web::Pages;
use crate::web::cookies::Cookie;
use crate::web::cookies::Cookies;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// What rendering reads: the page templates, the cookies' names and flags, the settings.
#[derive(Clone)]
pub struct Screen {
    pub pages: Arc<Pages>,
    pub cookies: Cookies,
    pub config: Arc<Config>,
}

/// Renders `outcome`, an answer to the relying party in a JWT response mode signed
/// first (JARM). Every handler that can answer a relying party renders this way.
pub async fn sealed(flow: &crate::flow::Handles, state: &Screen, outcome: Outcome) -> Response {
    self::outcome(state, crate::flow::seal(&flow.ctx(), outcome, flow.now()).await)
}

/// [`sealed`] for a step.
pub async fn sealed_step(flow: &crate::flow::Handles, state: &Screen, mut done: Step) -> Response {
    done.outcome = crate::flow::seal(&flow.ctx(), done.outcome, flow.now()).await;
    step(state, done)
}

/// Renders `step`, setting the session cookie when it started a session.
pub fn step(state: &Screen, step: Step) -> Response {
    let mut response = outcome(state, step.outcome);
    if let Some(cookie) = step.session_cookie {
        let max_age = state.config.tokens.session_ttl.as_secs_i64();
        let cookie = state.cookies.set(Cookie::Session, &cookie, Some(max_age));
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub fn outcome(state: &Screen, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Redirect(location) => redirect(&location),
        Outcome::Chooser {
            client_name,
            upstreams,
            email,
            notice,
        } => {
            let upstreams: Vec<_> = upstreams
                .iter()
                .map(|u| json!({ "name": u.name, "href": u.href }))
                .collect();
            let email = email.map(|form| json!({ "action": form.action, "csrf": form.csrf }));
            let page = json!({
                "title": "Choose how to sign in", "client_name": client_name, "upstreams": upstreams,
                "email": email, "notice": notice,
            });
            // The email form ends at the upstream of the domain, which only the answer
            // names: a form's redirects are held to form-action too.
            state
                .pages
                .page_with_forms(StatusCode::OK, "chooser", &page, &FormAction::Anywhere)
        }
        Outcome::PasswordForm(form) => {
            let status = match form.refused {
                None => StatusCode::OK,
                Some(PasswordRefused::Wrong) => StatusCode::UNAUTHORIZED,
                Some(PasswordRefused::Wait(_)) => StatusCode::TOO_MANY_REQUESTS,
                Some(PasswordRefused::Busy | PasswordRefused::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let page = json!({
                "title": format!("Sign in to {}", form.client_name), "client_name": form.client_name,
                "upstream_name": form.upstream_name, "action": form.action, "csrf": form.csrf,
                "username": form.username, "error": form.refused.map(PasswordRefused::message),
            });
            state
                .pages
                .page_with_forms(status, "login", &page, &FormAction::SelfThenApp(form.returns_to))
        }
        Outcome::Consent(page) => state.pages.page_with_forms(
            StatusCode::OK,
            "consent",
            &json!({
                "title": "Allow access", "client_name": page.client_name, "unvetted": page.unvetted,
                "scopes": page.scopes, "action": crate::routes::CONSENT, "pending": page.pending, "csrf": page.csrf,
            }),
            &FormAction::SelfThenApp(page.returns_to),
        ),
        Outcome::Account(page) => {
            let choices: Vec<_> = page
                .choices
                .iter()
                .map(|c| json!({ "name": c.name, "action": c.action }))
                .collect();
            let data = json!({
                "title": page.title, "message": page.message, "choices": choices, "csrf": page.csrf,
            });
            // A link's form goes on to the upstream, which only the answer names.
            state
                .pages
                .page_with_forms(StatusCode::OK, "account", &data, &FormAction::Anywhere)
        }
        Outcome::Device(page) => device(state, *page),
        Outcome::Reply { to, params } => reply(state, &to, params),
        Outcome::Untrusted { title, message } => state.pages.error(
            StatusCode::BAD_REQUEST,
            &title,
            &message,
            "Go back to the application and try again. If this keeps happening, tell the application's support team.",
        ),
        Outcome::Expired => login_expired(state),
        Outcome::Failed(detail) => internal_error(state, detail),
        Outcome::Unavailable(detail) => unavailable(state, detail),
    }
}

/// A page of the device sign-in: the code form, its confirmation, or how it ended.
fn device(state: &Screen, page: crate::flow::DevicePage) -> Response {
    use crate::flow::device_sign_in::CodeRefused;
    let (status, error) = match page.refused {
        None => (StatusCode::OK, None),
        Some(CodeRefused::Wrong) => (
            StatusCode::BAD_REQUEST,
            Some("That code is not right, or it has expired. Check the code on your device.".to_string()),
        ),
        Some(CodeRefused::Wait(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!("Too many wrong codes. Try again in {seconds} seconds.")),
        ),
    };
    // Continuing goes on to the upstream's login, which only the answer names.
    let forms = match &page.form {
        Some(form) if form.client_name.is_some() => FormAction::Anywhere,
        Some(_) => FormAction::SelfOnly,
        None => FormAction::Nowhere,
    };
    let form = page
        .form
        .map(|f| json!({ "action": f.action, "csrf": f.csrf, "user_code": f.user_code, "client_name": f.client_name }));
    let data = json!({ "title": page.title, "message": page.message, "error": error, "form": form });
    state.pages.page_with_forms(status, "device", &data, &forms)
}

/// Sends `params` (plus `state` and the RFC 9207 `iss`) to the relying party.
fn reply(state: &Screen, to: &ReplyTo, params: Vec<(&'static str, String)>) -> Response {
    let mut params = params;
    // A sealed (JARM) answer carries state and iss inside its JWT.
    if !to.sealed {
        if let Some(s) = &to.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", state.config.issuer.clone()));
    }
    if to.mode.carrier() == ResponseMode::FormPost {
        let fields: Vec<_> = params
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect();
        return state.pages.page_with_forms(
            StatusCode::OK,
            "form_post",
            &json!({ "title": "Returning to the application", "action": to.redirect_uri, "fields": fields }),
            &FormAction::App(to.redirect_uri.clone()),
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
    if to.mode.carrier() == ResponseMode::Fragment {
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

/// An internal failure during a login: logged, and a page that says so.
pub fn internal_error(state: &Screen, detail: impl std::fmt::Display) -> Response {
    tracing::error!(%detail, "a login step failed");
    state.pages.error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Gatehouse could not complete this step of your sign-in.",
        "Go back to the application and try again in a moment.",
    )
}

/// The page for a step the store could not serve now: 503, to be tried again.
pub fn unavailable(state: &Screen, detail: impl std::fmt::Display) -> Response {
    tracing::debug!(%detail, "the store is unavailable: answering 503");
    let mut response = state.pages.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "Gatehouse cannot complete this step of your sign-in right now.",
        "Try again in a moment.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// The page for a login link that is no longer valid (expired, used, or another browser's).
fn login_expired(state: &Screen) -> Response {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "The sign-in you were in the middle of has expired or was started in another browser.",
        "Go back to the application and sign in again.",
    )
}
