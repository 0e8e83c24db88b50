//! `/callback/{upstream}`: the person is back from an upstream that redirects.

use super::page_input::PageQuery;
use super::render::{self, Screen};
use crate::AppState;
use crate::flow::account_link;
use crate::upstream::CallbackParams;
use crate::web::cookies::Cookie;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(upstream): Path<String>,
    PageQuery(params): PageQuery<CallbackParams>,
) -> Response {
    let browser = state.cookies.get(&headers, Cookie::Browser);
    let now = state.clock.now();
    let session = state.cookies.get(&headers, Cookie::Session);
    let flow = state.flow();
    let link = account_link::callback(&flow, &upstream, &params, browser.as_deref(), session.as_deref(), now);
    if let Some(outcome) = link.await {
        return render::outcome(Screen::of(&state), outcome);
    }
    let step = crate::flow::callback(&flow, &upstream, &params, browser.as_deref(), now).await;
    render::step(Screen::of(&state), step)
}
