//! `POST /consent`: the person's answer on the consent page.

use super::page_input::PageForm;
use super::render::{self, Screen};
use crate::AppState;
use crate::web::cookies::Cookie;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ConsentForm {
    pending: String,
    csrf: String,
    decision: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    let browser = state.cookies.get(&headers, Cookie::Browser);
    let allow = form.decision == "allow";
    let outcome = crate::flow::consent(
        &state.flow(),
        &form.pending,
        &form.csrf,
        allow,
        browser.as_deref(),
        state.clock.now(),
    )
    .await;
    render::outcome(Screen::of(&state), outcome)
}
