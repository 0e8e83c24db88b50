//! `/authorize` (OpenID Connect Core §3.1.2): the request's parameters and the browser's
//! cookies go to the flow; a browser seen for the first time gets its cookie.

use super::client_ip::ClientIp;
use super::render;
use crate::AppState;
use crate::flow::{self, AuthorizeParams};
use crate::web::cookies;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use std::net::IpAddr;

pub async fn get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    authorize(&state, ip, &headers, params).await
}

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    authorize(&state, ip, &headers, params).await
}

async fn authorize(state: &AppState, ip: Option<IpAddr>, headers: &HeaderMap, params: AuthorizeParams) -> Response {
    let (browser, new_browser) = match cookies::get(headers, cookies::BROWSER) {
        Some(browser) => (browser, false),
        None => (crate::secrets::random_token(), true),
    };
    let session = cookies::get(headers, cookies::SESSION);
    let outcome = flow::authorize(state, params, &browser, session.as_deref(), ip, state.clock.now()).await;
    let mut response = render::outcome(state, outcome);
    if new_browser {
        let cookie = cookies::set(cookies::BROWSER, &browser, state.config.issuer_is_https(), None);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
