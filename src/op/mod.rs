//! The OP face toward relying parties: one file per endpoint, one router.

mod discovery;
mod health;
mod jwks;
pub mod routes;

pub use discovery::ProviderMetadata;

use crate::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(routes::DISCOVERY, get(discovery::handler))
        .route(routes::JWKS, get(jwks::handler))
        .route(routes::HEALTH, get(health::handler))
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
    let page = state.pages.render(
        "error",
        &serde_json::json!({
            "title": "Page not found",
            "message": "There is no page at this address.",
            "hint": "If you followed a link from an application, go back to it and sign in again from there.",
        }),
    );
    match page {
        Ok(html) => (StatusCode::NOT_FOUND, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the error page does not render");
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain")],
                "not found",
            )
                .into_response()
        }
    }
}
