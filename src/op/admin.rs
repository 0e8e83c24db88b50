//! The admin listener: the admin API — what the `keys` and `sessions` commands do, for a
//! running server (the embedded database is open in one process only), and config reload
//! — where every request carries the configured `admin_token` as a bearer token; and,
//! without the token, `/metrics` and the health checks for the monitoring that scrapes
//! it. Every request is answered by the config that runs at that moment.

use crate::app_state::ReloadReport;
use crate::domain::sessions::SessionInfo;
use crate::flow::Handles;
use crate::keys::KeyInfo;
use crate::routes;
use crate::routes::admin::{
    ACCOUNT_CONSENT, ACCOUNT_LINK, ACCOUNT_LINKS, BACKCHANNEL, CLIENT, CLIENTS, KEYS, KEYS_ROTATE, RELOAD, SESSION,
    SESSIONS,
};
use crate::telemetry::{Observer, observe};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A reload on its way, answering what it did.
pub type Reloading = Pin<Box<dyn Future<Output = ReloadReport> + Send>>;

/// The running application as the admin listener sees it: the handles of the config
/// that runs now (each request takes the ones running when it arrives), and a reload.
pub trait Running: Send + Sync + 'static {
    fn handles(&self) -> Handles;
    fn reload(&self) -> Reloading;
}

/// What the admin handlers are given.
#[derive(Clone)]
pub struct Admin(Arc<dyn Running>);

pub fn router(running: impl Running) -> Router {
    let app = Admin(Arc::new(running));
    let state = app.0.handles();
    let observer = Observer {
        telemetry: state.telemetry.clone(),
        trust_request_id: state.config.log.trust_request_id,
    };
    let api = Router::new()
        .route(KEYS, get(list_keys))
        .route(KEYS_ROTATE, post(rotate_key))
        .route(SESSIONS, get(list_sessions))
        .route(SESSION, delete(end_session))
        .route(RELOAD, post(reload))
        .route(ACCOUNT_LINKS, get(account_links))
        .route(ACCOUNT_LINK, delete(unlink))
        .route(ACCOUNT_CONSENT, delete(withdraw_consent))
        .route(BACKCHANNEL, get(deliveries))
        .route(CLIENTS, get(list_clients))
        .route(CLIENT, get(show_client).delete(delete_client))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    Router::new()
        .merge(api)
        .route(routes::METRICS, get(metrics))
        .route(routes::HEALTH_LIVE, get(super::health::live))
        .route(routes::HEALTH_READY, get(super::health::ready))
        .layer(middleware::from_fn_with_state(observer, observe))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.limits.request_body_bytes,
        ))
        .with_state(app)
}

/// Each request gets the handles of the config that runs when it arrives.
impl axum::extract::FromRef<Admin> for Handles {
    fn from_ref(app: &Admin) -> Handles {
        app.0.handles()
    }
}

impl axum::extract::FromRef<Admin> for super::health::Probe {
    fn from_ref(app: &Admin) -> super::health::Probe {
        super::health::Probe::of(&app.0.handles())
    }
}

async fn require_token(State(state): State<Handles>, request: Request, next: Next) -> Response {
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&state.config.admin_token, sent) {
        (Some(expected), Some(sent)) => crate::secrets::equal(&expected.0, sent),
        _ => false,
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("other", |path| routes::pattern(path.as_str()));
    state.telemetry.admin_call(request.method().as_str(), route, allowed);
    if !allowed {
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

/// A failed store operation: 503 with Retry-After when the store is out of reach for now.
fn store_failed(e: crate::store::StoreError) -> Response {
    if !e.is_unavailable() {
        return failed(e);
    }
    tracing::warn!(error = %e, "admin request: the store is unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(json!({ "error": "temporarily_unavailable" })),
    )
        .into_response()
}

async fn list_keys(State(state): State<Handles>) -> Response {
    match crate::keys::list(&state.store, state.keys.policy(), state.clock.now()).await {
        Ok(keys) => Json::<Vec<KeyInfo>>(keys).into_response(),
        Err(e) => failed(e),
    }
}

async fn rotate_key(State(state): State<Handles>) -> Response {
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

async fn list_sessions(State(state): State<Handles>, Query(filter): Query<SessionFilter>) -> Response {
    match crate::domain::sessions::list(&state.store, filter.sub.as_deref(), state.clock.now()).await {
        Ok(sessions) => Json::<Vec<SessionInfo>>(sessions).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn end_session(State(state): State<Handles>, Path(sid): Path<String>) -> Response {
    let now = state.clock.now();
    match crate::domain::sessions::end_and_notify(state.ctx().outbox(), &sid, now).await {
        Ok(Some(deliveries)) => {
            deliveries.detach();
            tracing::info!("session ended through the admin API");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({ "error": "no such session" }))).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn account_links(State(state): State<Handles>, Path(sub): Path<String>) -> Response {
    match state.store.accounts.get(&sub, state.clock.now()).await {
        Ok(Some(account)) => Json(crate::domain::accounts::links_of(&account)).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({ "error": "no such account" }))).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn unlink(State(state): State<Handles>, Path((sub, upstream)): Path<(String, String)>) -> Response {
    use crate::domain::accounts::UnlinkRefused;
    match crate::domain::accounts::unlink(&state.store, &sub, &upstream, state.clock.now()).await {
        Ok(removed) => {
            tracing::info!(target: "gatehouse::security", event = "account_unlinked", upstream = %removed.upstream, "an identity was unlinked through the admin API");
            Json(removed).into_response()
        }
        Err(UnlinkRefused::Store(e)) => failed(e),
        Err(refused @ UnlinkRefused::Last) => {
            (StatusCode::CONFLICT, Json(json!({ "error": refused.to_string() }))).into_response()
        }
        Err(refused) => (StatusCode::NOT_FOUND, Json(json!({ "error": refused.to_string() }))).into_response(),
    }
}

/// `GET /admin/backchannel`: the logout tokens still owed to clients, and those given up.
async fn deliveries(State(state): State<Handles>) -> Response {
    match crate::domain::logout_outbox::queued(&state.store, state.clock.now()).await {
        Ok(queued) => Json(queued).into_response(),
        Err(e) => store_failed(e),
    }
}

/// `DELETE /admin/accounts/{sub}/consents/{client}`: the person's consent to the client
/// is forgotten and the client's refresh families for them are revoked.
async fn withdraw_consent(State(state): State<Handles>, Path((sub, client)): Path<(String, String)>) -> Response {
    let now = state.clock.now();
    match crate::domain::accounts::withdraw_consent(&state.store, &state.config, &sub, &client, now).await {
        Ok(Some(withdrawn)) => {
            tracing::info!(target: "gatehouse::security", event = "consent_withdrawn", client = %client, revoked_families = withdrawn.revoked_families, "a consent was withdrawn through the admin API");
            Json(withdrawn).into_response()
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "the account has no consent to this client and no refresh tokens from it" })),
        )
            .into_response(),
        Err(e) => store_failed(e),
    }
}

/// `POST /admin/reload`: what SIGHUP does, answering what happened.
async fn reload(State(app): State<Admin>) -> Response {
    let report = app.0.reload().await;
    let status = if report.applied {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(report)).into_response()
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(State(state): State<Handles>) -> Response {
    let now = state.clock.now();
    let active = match crate::keys::list(&state.store, state.keys.policy(), now).await {
        Ok(keys) => keys.into_iter().find(|k| k.kid == state.keys.active_kid()),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot list the signing keys");
            None
        }
    };
    match state
        .telemetry
        .encode(&state.store, active.map(|k| k.created_at), now)
        .await
    {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

async fn list_clients(State(state): State<Handles>) -> Response {
    match crate::domain::clients::registered(&state.store, state.clock.now()).await {
        Ok(clients) => Json(clients).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn show_client(State(state): State<Handles>, Path(id): Path<String>) -> Response {
    match crate::domain::clients::registered_one(&state.store, &id, state.clock.now()).await {
        Ok(Some(client)) => Json(client).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => store_failed(e),
    }
}

/// Ends a registered client, with its refresh tokens and the consents given to it.
async fn delete_client(State(state): State<Handles>, Path(id): Path<String>) -> Response {
    match crate::domain::clients::delete(&state.store, &state.config, &id, state.clock.now()).await {
        Ok(true) => {
            tracing::info!(client = %id, "an operator deleted a registered client");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => store_failed(e),
    }
}
