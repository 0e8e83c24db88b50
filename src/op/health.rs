//! Liveness for load balancers and orchestrators.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

/// 200 while the database answers, 503 otherwise.
pub async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.keys.get(&state.keys.active_kid(), state.clock.now()).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
        }
    }
}
