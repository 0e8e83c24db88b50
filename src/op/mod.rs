//! The OP face toward relying parties: one file per endpoint, one router. A handler
//! extracts its inputs, calls the flow or token layer once, and renders the result.

pub mod admin;
mod authorize;
mod callback;
mod client_auth;
mod client_ip;
mod consent;
mod discovery;
mod end_session;
pub mod error;
mod health;
mod introspect;
mod jwks;
mod login;
mod page_input;
mod render;
mod revoke;
mod token;
mod userinfo;

pub use discovery::ProviderMetadata;

use crate::AppState;
use crate::routes;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tracing::Instrument;

pub fn router(state: AppState) -> Router {
    let discovery = discovery::document(&state);
    Router::new()
        .route(routes::DISCOVERY, get(move || discovery::handler(discovery.clone())))
        .route(routes::JWKS, get(jwks::handler))
        .route(routes::HEALTH, get(health::handler))
        .route(routes::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(routes::LOGIN, get(login::start).post(login::submit))
        .route(routes::CALLBACK, get(callback::handler))
        .route(routes::CONSENT, post(consent::submit))
        .route(routes::END_SESSION, get(end_session::get).post(end_session::post))
        .route(routes::UPSTREAM_LOGGED_OUT, get(end_session::upstream_done))
        .route(routes::TOKEN, post(token::handler))
        .route(routes::REVOKE, post(revoke::handler))
        .route(routes::INTROSPECT, post(introspect::handler))
        .route(routes::USERINFO, get(userinfo::get).post(userinfo::post))
        .fallback(not_found)
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

/// One span per request. Only the path is recorded: query strings carry codes and
/// tokens, which never reach a log.
async fn request_span(request: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let response = next.run(request).await;
        tracing::info!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

async fn not_found(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    state.pages.error(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
        "If you followed a link from an application, go back to it and sign in again from there.",
    )
}
