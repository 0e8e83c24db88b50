//! `/account/link`: linking another upstream's sign-in to the account of the browser's
//! session (the flow decides, this renders).

use super::page_input::PageForm;
use super::render::{self, Screen};
use crate::AppState;
use crate::flow::{LinkForm, account_link};
use crate::web::cookies::Cookie;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn choices(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = state.cookies.get(&headers, Cookie::Session);
    let outcome = account_link::choices(&state.flow(), session.as_deref(), state.clock.now()).await;
    render::outcome(Screen::of(&state), outcome)
}

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(upstream): Path<String>,
    PageForm(form): PageForm<LinkForm>,
) -> Response {
    let session = state.cookies.get(&headers, Cookie::Session);
    let browser = state.cookies.get(&headers, Cookie::Browser);
    let now = state.clock.now();
    let outcome = account_link::start(
        &state.flow(),
        &upstream,
        form,
        session.as_deref(),
        browser.as_deref(),
        now,
    )
    .await;
    render::outcome(Screen::of(&state), outcome)
}
