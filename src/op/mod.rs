//! The OP face toward relying parties: one file per endpoint, one router. A handler
//! extracts its inputs, calls the flow or token layer once, and renders the result.

mod account;
pub mod admin;
mod authorize;
mod backchannel;
mod callback;
mod client_assertion;
mod client_auth;
mod client_ip;
mod consent;
mod device;
mod discovery;
mod end_session;
pub mod error;
mod health;
mod introspect;
mod jwks;
mod login;
mod page_input;
mod par;
mod render;
mod revoke;
mod token;
mod userinfo;

pub use discovery::ProviderMetadata;

use crate::AppState;
use crate::routes;
use crate::telemetry;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};

pub fn router(state: AppState) -> Router {
    let discovery = discovery::document(&state.config, &state.upstreams, &state.keys);
    let observer = telemetry::Observer {
        telemetry: state.telemetry.clone(),
        trust_request_id: state.config.log.trust_request_id,
    };
    Router::new()
        .route(routes::DISCOVERY, get(move || discovery::handler(discovery.clone())))
        .route(routes::JWKS, get(jwks::handler))
        .route(routes::HEALTH, get(health::handler))
        .route(routes::HEALTH_LIVE, get(health::live))
        .route(routes::HEALTH_READY, get(health::ready))
        .route(routes::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(routes::LOGIN, get(login::start).post(login::submit))
        .route(routes::LOGIN_BY_EMAIL, post(login::by_email))
        .route(routes::CALLBACK, get(callback::handler))
        .route(routes::ACCOUNT_LINK, get(account::choices))
        .route(routes::ACCOUNT_LINK_TO, post(account::start))
        .route(routes::CONSENT, post(consent::submit))
        .route(routes::END_SESSION, get(end_session::get).post(end_session::post))
        .route(routes::UPSTREAM_LOGGED_OUT, get(end_session::upstream_done))
        .route(routes::BACKCHANNEL, post(backchannel::handler))
        .route(routes::TOKEN, post(token::handler))
        .route(routes::PAR, post(par::handler))
        .route(routes::DEVICE_AUTHORIZATION, post(device::authorization))
        .route(routes::DEVICE, get(device::page).post(device::submit))
        .route(routes::DEVICE_DONE, get(device::done))
        .route(routes::REVOKE, post(revoke::handler))
        .route(routes::INTROSPECT, post(introspect::handler))
        .route(routes::USERINFO, get(userinfo::get).post(userinfo::post))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(observer, telemetry::observe))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.limits.request_body_bytes,
        ))
        .with_state(state)
}

async fn not_found(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    state.pages.error(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
        "If you followed a link from an application, go back to it and sign in again from there.",
    )
}
