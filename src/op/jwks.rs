//! The JSON Web Key Set: every public key whose signatures may still be presented.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    let jwks = state.keys.jwks(state.clock.now());
    // Short caching: a rotation becomes visible to relying parties within minutes.
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(jwks))
}
