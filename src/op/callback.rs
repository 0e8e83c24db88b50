//! `/callback/{upstream}`: the person is back from an upstream that redirects.

use super::page_input::PageQuery;
use super::render;
use crate::AppState;
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
    let step = crate::flow::callback(&state, &upstream, &params, browser.as_deref(), state.clock.now()).await;
    render::step(&state, step)
}
