//! The device authorization grant's endpoints (RFC 8628): `/device_authorization`, where an
//! authenticated client starts a grant, and the person's pages `/device` (the user code)
//! and `/device/done` (where their sign-in answers).

use super::client_auth::ClientRequest;
use super::client_ip::ClientIp;
use super::page_input::{PageForm, PageQuery};
use super::render::{self, Screen};
use crate::flow::Handles;
use crate::flow::device_sign_in::{self, DeviceAnswer, DeviceEntry};
use crate::tokens::TokenError;
use crate::web::cookies::Cookie;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub async fn authorization(
    State(flow): State<Handles>,
    ClientIp(ip): ClientIp,
    request: Result<ClientRequest, TokenError>,
) -> Response {
    let now = flow.now();
    let started = async {
        let ClientRequest { client, params } = request?;
        crate::tokens::device_grant::start(&flow.tokens(now), &client, params.get("scope")?, ip).await
    };
    match started.await {
        Ok(authorization) => ([(header::CACHE_CONTROL, "no-store")], Json(authorization)).into_response(),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
pub struct CodeQuery {
    user_code: Option<String>,
}

/// `GET /device`: a browser seen for the first time gets its cookie, which the form's
/// token is derived from.
pub async fn page(
    State(screen): State<Screen>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<CodeQuery>,
) -> Response {
    let (browser, new_browser) = match screen.cookies.get(&headers, Cookie::Browser) {
        Some(browser) => (browser, false),
        None => (crate::secrets::random_token(), true),
    };
    let outcome = device_sign_in::entry(&browser, query.user_code.as_deref());
    let mut response = render::outcome(&screen, outcome);
    if new_browser {
        let cookie = screen.cookies.set(Cookie::Browser, &browser, None);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn submit(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(entry): PageForm<DeviceEntry>,
) -> Response {
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let session = screen.cookies.get(&headers, Cookie::Session);
    let now = flow.now();
    let outcome = device_sign_in::submit(&flow.ctx(), entry, browser.as_deref(), session.as_deref(), ip, now).await;
    render::outcome(&screen, outcome)
}

pub async fn done(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    PageQuery(answer): PageQuery<DeviceAnswer>,
) -> Response {
    let outcome = device_sign_in::done(&flow.ctx(), answer, flow.now()).await;
    render::outcome(&screen, outcome)
}
