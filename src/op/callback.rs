//! `/callback/{upstream}`: the person is back from an upstream that redirects.

use super::render;
use crate::AppState;
use crate::upstream::CallbackParams;
use crate::web::cookies;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(upstream): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Response {
    let browser = cookies::get(&headers, cookies::BROWSER);
    let step = crate::flow::callback(&state, &upstream, &params, browser.as_deref(), state.clock.now()).await;
    render::step(&state, step)
}
