//! The JSON Web Key Set: every public key whose signatures may still be presented.

use crate::Clock;
use crate::keys::Keys;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;

pub async fn handler(State(keys): State<Arc<Keys>>, State(clock): State<Clock>) -> impl IntoResponse {
    let jwks = keys.jwks(clock.now());
    // Short caching: a rotation becomes visible to relying parties within minutes.
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(jwks))
}
