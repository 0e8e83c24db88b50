//! `/callback/{upstream}`: the person is back from an upstream that redirects.

use super::page_input::{PageForm, PageQuery};
use super::render::{self, Screen};
use crate::flow::Handles;
use crate::flow::account_link;
use crate::upstream::CallbackParams;
use crate::web::cookies::Cookie;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn handler(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    Path(upstream): Path<String>,
    PageQuery(params): PageQuery<CallbackParams>,
) -> Response {
    back(flow, screen, headers, upstream, params).await
}

/// The same, posted: a SAML upstream's Response, handed on by its ACS page.
pub async fn post(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    Path(upstream): Path<String>,
    PageForm(params): PageForm<CallbackParams>,
) -> Response {
    back(flow, screen, headers, upstream, params).await
}

async fn back(flow: Handles, screen: Screen, headers: HeaderMap, upstream: String, params: CallbackParams) -> Response {
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let now = flow.now();
    let session = screen.cookies.get(&headers, Cookie::Session);
    let ctx = flow.ctx();
    let link = account_link::callback(&ctx, &upstream, &params, browser.as_deref(), session.as_deref(), now);
    if let Some(outcome) = link.await {
        return render::sealed(&flow, &screen, outcome).await;
    }
    let step = crate::flow::callback(&ctx, &upstream, &params, browser.as_deref(), now).await;
    render::sealed_step(&flow, &screen, step).await
}
