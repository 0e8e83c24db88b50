//! Health for load balancers and orchestrators: `/healthz` (the database answers, as
//! always), `/healthz/live` (the process runs) and `/healthz/ready` (it can serve logins:
//! the database answers, the signing keys are loaded, and every upstream not marked
//! `optional` is ready — an `oidc` upstream once its discovery has succeeded). Ready or
//! not, it shows how each upstream's Shared Signals stream fares.

use crate::Clock;
use crate::config::Config;
use crate::keys::Keys;
use crate::store::Store;
use crate::upstream::Upstreams;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use std::sync::Arc;

/// What the health checks read: the store and the signing keys, the upstreams the
/// config requires and how they run.
#[derive(Clone)]
pub struct Probe {
    pub config: Arc<Config>,
    pub store: Store,
    pub keys: Arc<Keys>,
    pub upstreams: Arc<Upstreams>,
    pub clock: Clock,
}

impl Probe {
    pub fn of(handles: &crate::flow::Handles) -> Probe {
        Probe {
            config: handles.config.clone(),
            store: handles.store.clone(),
            keys: handles.keys.clone(),
            upstreams: handles.upstreams.clone(),
            clock: handles.clock.clone(),
        }
    }
}

/// 200 while the database answers, 503 otherwise.
pub async fn handler(State(state): State<Probe>) -> impl IntoResponse {
    if store_answers(&state.store, &state.keys, state.clock.now()).await {
        (StatusCode::OK, Json(json!({ "status": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        )
    }
}

/// 200 always: the process runs and answers.
pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// 200 when ready to serve logins; 503 with what is missing otherwise.
pub async fn ready(State(state): State<Probe>) -> impl IntoResponse {
    let mut waiting_for: Vec<String> = Vec::new();
    if !store_answers(&state.store, &state.keys, state.clock.now()).await {
        waiting_for.push("store".into());
    }
    if state.keys.active_kid().is_empty() {
        waiting_for.push("signing keys".into());
    }
    for upstream in state.config.upstreams.iter().filter(|u| !u.optional) {
        if !state.upstreams.get(&upstream.id).is_some_and(|u| u.is_ready()) {
            waiting_for.push(format!("upstream {}", upstream.id));
        }
    }
    let (status, mut body) = if waiting_for.is_empty() {
        (StatusCode::OK, json!({ "status": "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "not ready", "waiting_for": waiting_for }),
        )
    };
    // How each upstream's Shared Signals stream fares: shown, but it does not hold
    // logins back.
    let streams: serde_json::Map<String, serde_json::Value> = state
        .upstreams
        .iter()
        .filter_map(|(id, u)| u.signals().map(|s| (id.clone(), json!(s.receiver_health()))))
        .collect();
    if let (false, Some(fields)) = (streams.is_empty(), body.as_object_mut()) {
        fields.insert("shared_signals".into(), serde_json::Value::Object(streams));
    }
    (status, Json(body))
}

async fn store_answers(store: &Store, keys: &Keys, now: i64) -> bool {
    match store.keys.get(&keys.active_kid(), now).await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "health check: the database does not answer");
            false
        }
    }
}
