//! `/login/{pending}/{upstream}`: starts the login at the chosen upstream (GET), and
//! takes the password form of an upstream that has one (POST). `/login/{pending}` takes
//! the chooser's email (POST).

use super::client_ip::ClientIp;
use super::page_input::PageForm;
use super::render::{self, Screen};
use crate::AppState;
use crate::flow::{self, EmailLogin, PasswordLogin};
use crate::web::cookies::Cookie;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((pid, upstream)): Path<(String, String)>,
) -> Response {
    let browser = state.cookies.get(&headers, Cookie::Browser);
    let outcome = flow::begin(&state.flow(), &pid, &upstream, browser.as_deref(), state.clock.now()).await;
    render::outcome(Screen::of(&state), outcome)
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((pid, upstream)): Path<(String, String)>,
    PageForm(form): PageForm<PasswordLogin>,
) -> Response {
    let browser = state.cookies.get(&headers, Cookie::Browser);
    let step = flow::password(
        &state.flow(),
        &pid,
        &upstream,
        form,
        browser.as_deref(),
        ip,
        state.clock.now(),
    )
    .await;
    render::step(Screen::of(&state), step)
}

pub async fn by_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(pid): Path<String>,
    PageForm(form): PageForm<EmailLogin>,
) -> Response {
    let browser = state.cookies.get(&headers, Cookie::Browser);
    let outcome = flow::by_email(&state.flow(), &pid, form, browser.as_deref(), state.clock.now()).await;
    render::outcome(Screen::of(&state), outcome)
}
