//! `/authorize` (OpenID Connect Core §3.1.2): the request's parameters and the browser's
//! cookies go to the flow; a browser seen for the first time gets its cookie.

use super::client_ip::ClientIp;
use super::page_input::{PageForm, PageQuery};
use super::render::{self, Screen};
use crate::flow::Handles;
use crate::flow::{self, AuthorizeParams};
use crate::web::cookies::Cookie;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use std::net::IpAddr;

pub async fn get(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageQuery(params): PageQuery<Vec<(String, String)>>,
) -> Response {
    authorize(&flow, &screen, ip, &headers, &params).await
}

pub async fn post(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(params): PageForm<Vec<(String, String)>>,
) -> Response {
    authorize(&flow, &screen, ip, &headers, &params).await
}

async fn authorize(
    flow: &Handles,
    screen: &Screen,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Response {
    let params = match AuthorizeParams::from_pairs(pairs) {
        Ok(params) => params,
        Err(why) => return super::page_input::malformed(&screen.pages, &why),
    };
    let (browser, new_browser) = match screen.cookies.get(headers, Cookie::Browser) {
        Some(browser) => (browser, false),
        None => (crate::secrets::random_token(), true),
    };
    let session = screen.cookies.get(headers, Cookie::Session);
    let outcome = flow::authorize(&flow.ctx(), params, &browser, session.as_deref(), ip, flow.now()).await;
    let mut response = render::sealed(flow, screen, outcome).await;
    if new_browser {
        let cookie = screen.cookies.set(Cookie::Browser, &browser, None);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
