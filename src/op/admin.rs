//! The admin API: what the `keys` and `sessions` commands do, for a running server
//! (the embedded database is open in one process only). Every request carries the configured
//! `admin_token` as a bearer token.

use crate::AppState;
use crate::keys::KeyInfo;
use crate::sessions::SessionInfo;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub const KEYS: &str = "/admin/keys";
pub const KEYS_ROTATE: &str = "/admin/keys/rotate";
pub const SESSIONS: &str = "/admin/sessions";
pub const SESSION: &str = "/admin/sessions/{sid}";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(KEYS, get(list_keys))
        .route(KEYS_ROTATE, post(rotate_key))
        .route(SESSIONS, get(list_sessions))
        .route(SESSION, delete(end_session))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&state.config.admin_token, sent) {
        (Some(expected), Some(sent)) => crate::secrets::equal(&expected.0, sent),
        _ => false,
    };
    if !allowed {
        tracing::warn!(path = %request.uri().path(), "admin request without the admin token");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"gatehouse-admin\"")],
        )
            .into_response();
    }
    next.run(request).await
}

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "server_error" })),
    )
        .into_response()
}

async fn list_keys(State(state): State<AppState>) -> Response {
    match crate::keys::list(&state.store, state.keys.policy(), state.clock.now()).await {
        Ok(keys) => Json::<Vec<KeyInfo>>(keys).into_response(),
        Err(e) => failed(e),
    }
}

async fn rotate_key(State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    match state.keys.rotate(now).await {
        Ok(kid) => {
            tracing::info!(%kid, "signing key rotated through the admin API");
            Json(json!({ "kid": kid, "alg": state.keys.signing_alg() })).into_response()
        }
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct SessionFilter {
    sub: Option<String>,
}

async fn list_sessions(State(state): State<AppState>, Query(filter): Query<SessionFilter>) -> Response {
    match crate::sessions::list(&state.store, filter.sub.as_deref(), state.clock.now()).await {
        Ok(sessions) => Json::<Vec<SessionInfo>>(sessions).into_response(),
        Err(e) => failed(e),
    }
}

async fn end_session(State(state): State<AppState>, Path(sid): Path<String>) -> Response {
    let now = state.clock.now();
    match crate::backchannel::end_session((&*state).into(), &sid, now).await {
        Ok(Some(deliveries)) => {
            deliveries.detach();
            tracing::info!("session ended through the admin API");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({ "error": "no such session" }))).into_response(),
        Err(e) => failed(e),
    }
}
