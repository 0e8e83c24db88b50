//! `/end_session` (OpenID Connect RP-Initiated Logout 1.0) and the way back from an
//! upstream's logout: the flow decides, this renders.

use super::page_input::{PageForm, PageQuery};
use super::render::{Screen, internal_error, redirect};
use crate::flow::Handles;
use crate::flow::{LogoutOutcome, LogoutParams};
use crate::web::FormAction;
use crate::web::cookies::Cookie;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

pub async fn get(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<LogoutParams>,
) -> Response {
    logout(&flow, &screen, &headers, params, false).await
}

pub async fn post(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    PageForm(params): PageForm<LogoutParams>,
) -> Response {
    let confirming = params.csrf.is_some();
    logout(&flow, &screen, &headers, params, confirming).await
}

async fn logout(
    flow: &Handles,
    screen: &Screen,
    headers: &HeaderMap,
    params: LogoutParams,
    confirming: bool,
) -> Response {
    let cookie = screen.cookies.get(headers, Cookie::Session);
    let outcome = crate::flow::end_session(&flow.ctx(), params, confirming, cookie.as_deref(), flow.now()).await;
    render(screen, outcome)
}

#[derive(Deserialize)]
pub struct UpstreamLoggedOut {
    state: Option<String>,
}

/// `GET /end_session/upstream`: back from the upstream's logout.
pub async fn upstream_done(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    PageQuery(back): PageQuery<UpstreamLoggedOut>,
) -> Response {
    let outcome = crate::flow::upstream_done(&flow.ctx(), back.state.as_deref(), flow.now()).await;
    render(&screen, outcome)
}

pub(super) fn render(state: &Screen, outcome: LogoutOutcome) -> Response {
    let clear = || state.cookies.clear(Cookie::Session);
    let page = |data: serde_json::Value| {
        state
            .pages
            .page_with_forms(StatusCode::OK, "logout", &data, &FormAction::Anywhere)
    };
    match outcome {
        LogoutOutcome::Done { to, message, ended } => {
            let mut response = match to {
                Some(url) => redirect(&url),
                None => page(json!({ "title": "You are signed out", "message": message })),
            };
            if ended {
                response.headers_mut().append(header::SET_COOKIE, clear());
            }
            response
        }
        LogoutOutcome::Upstream(url) => {
            let mut response = redirect(&url);
            response.headers_mut().append(header::SET_COOKIE, clear());
            response
        }
        LogoutOutcome::Confirm {
            client_name,
            client_id,
            csrf,
            post_logout_redirect_uri,
            state: rp_state,
        } => page(json!({
            "title": "Sign out", "confirm": true, "client_name": client_name,
            "action": crate::routes::END_SESSION, "csrf": csrf, "client_id": client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri, "state": rp_state,
        })),
        LogoutOutcome::Stayed => page(json!({ "title": "You are still signed in", "message": "Nothing was changed." })),
        LogoutOutcome::Refused(message) => state.pages.error(
            StatusCode::BAD_REQUEST,
            "Sign-out refused",
            message,
            "You are still signed in. Close this page, or sign out from Gatehouse directly.",
        ),
        LogoutOutcome::Failed(detail) => internal_error(state, detail),
        LogoutOutcome::Unavailable(detail) => super::render::unavailable(state, detail),
    }
}
