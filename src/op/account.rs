//! `/account/link`: linking another upstream's sign-in to the account of the browser's
//! session (the flow decides, this renders).

use super::page_input::PageForm;
use super::render::{self, Screen};
use crate::flow::Handles;
use crate::flow::{LinkForm, account_link};
use crate::web::cookies::Cookie;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn choices(State(flow): State<Handles>, State(screen): State<Screen>, headers: HeaderMap) -> Response {
    let session = screen.cookies.get(&headers, Cookie::Session);
    let outcome = account_link::choices(&flow.ctx(), session.as_deref(), flow.now()).await;
    render::outcome(&screen, outcome)
}

pub async fn start(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    Path(upstream): Path<String>,
    PageForm(form): PageForm<LinkForm>,
) -> Response {
    let session = screen.cookies.get(&headers, Cookie::Session);
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let now = flow.now();
    let outcome = account_link::start(
        &flow.ctx(),
        &upstream,
        form,
        session.as_deref(),
        browser.as_deref(),
        now,
    )
    .await;
    render::outcome(&screen, outcome)
}
