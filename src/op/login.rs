//! `/login/{pending}/{upstream}`: starts the login at the chosen upstream (GET), and
//! takes the password form of an upstream that has one (POST). `/login/{pending}` takes
//! the chooser's email (POST).

use super::client_ip::ClientIp;
use super::page_input::PageForm;
use super::render::{self, Screen};
use crate::flow::Handles;
use crate::flow::{self, EmailLogin, PasswordLogin};
use crate::web::cookies::Cookie;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn start(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    Path((pid, upstream)): Path<(String, String)>,
) -> Response {
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let outcome = flow::begin(&flow.ctx(), &pid, &upstream, browser.as_deref(), flow.now()).await;
    render::sealed(&flow, &screen, outcome).await
}

pub async fn submit(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((pid, upstream)): Path<(String, String)>,
    PageForm(form): PageForm<PasswordLogin>,
) -> Response {
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let step = flow::password(&flow.ctx(), &pid, &upstream, form, browser.as_deref(), ip, flow.now()).await;
    render::sealed_step(&flow, &screen, step).await
}

pub async fn by_email(
    State(flow): State<Handles>,
    State(screen): State<Screen>,
    headers: HeaderMap,
    Path(pid): Path<String>,
    PageForm(form): PageForm<EmailLogin>,
) -> Response {
    let browser = screen.cookies.get(&headers, Cookie::Browser);
    let outcome = flow::by_email(&flow.ctx(), &pid, form, browser.as_deref(), flow.now()).await;
    render::sealed(&flow, &screen, outcome).await
}
