//! `POST /consent`: the person's answer on the consent page.

use super::page_input::PageForm;
use super::render::{self, Screen};
use crate::flow::Handles;
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
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let allow = form.decision == "allow";
    let outcome = crate::flow::consent(
        &flow.ctx(),
        &form.pending,
        &form.csrf,
        allow,
        browser.as_deref(),
        flow.now(),
    )
    .await;
    render::sealed(&flow, &screen, outcome).await
}
