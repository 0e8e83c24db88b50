//! Dynamic Client Registration: `POST /register` (RFC 7591) and the client configuration
//! endpoint `GET|PUT|DELETE /register/{client_id}` (RFC 7592).
//!
//! Registration is anonymous when `[registration] open`, so everything it can make grow
//! is bounded: the body (`limits.registration_body_bytes`), registrations per address
//! per hour, and the registered clients in all (`limits.registered_clients`).

use super::client_ip::ClientIp;
use crate::domain::client_metadata::MetadataError;
use crate::domain::clients::{self, RegisterError, Registration, UpdateError};
use crate::flow::Handles;
use crate::store::{ClientMetadata, RegisteredClient};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as JsonValue, json};

/// `POST /register`.
pub async fn register(State(flow): State<Handles>, ClientIp(ip): ClientIp, headers: HeaderMap, body: Body) -> Response {
    let config = &flow.config;
    let now = flow.now();
    if !config.registration.enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !config.registration.open {
        let presented = bearer(&headers);
        let known = config
            .registration
            .initial_access_tokens
            .iter()
            .any(|token| presented.is_some_and(|p| crate::secrets::equal(&token.0, p)));
        if !known {
            return invalid_token("registration needs an initial access token as Bearer");
        }
    }
    let address = ip.map(|ip| format!("register {ip}"));
    let per_hour = &flow.guards.registrations_per_hour;
    if let Some(wait) = address.as_deref().and_then(|key| per_hour.wait(key, now)) {
        flow.telemetry.refused("registrations_per_ip_per_hour");
        return too_many(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "too many registrations from this address",
        );
    }
    let metadata = match metadata(&headers, body, config.limits.registration_body_bytes).await {
        Ok((metadata, _)) => metadata,
        Err(refusal) => return refusal,
    };
    let registered = {
        let _one_at_a_time = flow.guards.registering.lock().await;
        clients::register(config, &flow.store, metadata, now).await
    };
    match registered {
        Ok(registration) => {
            if let Some(key) = &address {
                per_hour.failed(key, now);
            }
            tracing::info!(client = %registration.client_id, "a client registered itself");
            answer(StatusCode::CREATED, &config.issuer, &registration)
        }
        Err(RegisterError::Metadata(error)) => refused(&error),
        Err(RegisterError::Full) => {
            flow.telemetry.refused("registered_clients");
            too_many(
                StatusCode::SERVICE_UNAVAILABLE,
                60,
                "no more clients can be registered now",
            )
        }
        Err(RegisterError::Store(e)) => crate::tokens::TokenError::from(e).into_response(),
    }
}

/// `GET /register/{client_id}`: the client's registration, as registered.
pub async fn read(State(flow): State<Handles>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return invalid_token("the registration access token is missing");
    };
    match clients::with_token(&flow.store, &id, token, flow.now()).await {
        Ok(Some(record)) => {
            let registration = Registration {
                client_id: id,
                record,
                client_secret: None,
                registration_access_token: token.to_string(),
            };
            answer(StatusCode::OK, &flow.config.issuer, &registration)
        }
        Ok(None) => invalid_token("the registration access token is not valid"),
        Err(e) => crate::tokens::TokenError::from(e).into_response(),
    }
}

/// `PUT /register/{client_id}`: replaces the client's metadata (RFC 7592 §2.2).
pub async fn update(State(flow): State<Handles>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let now = flow.now();
    let Some(token) = bearer(&headers) else {
        return invalid_token("the registration access token is missing");
    };
    let current = match clients::with_token(&flow.store, &id, token, now).await {
        Ok(Some(current)) => current,
        Ok(None) => return invalid_token("the registration access token is not valid"),
        Err(e) => return crate::tokens::TokenError::from(e).into_response(),
    };
    let (metadata, fields) = match metadata(&headers, body, flow.config.limits.registration_body_bytes).await {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    if fields.get("client_id").and_then(JsonValue::as_str) != Some(id.as_str()) {
        return refused(&MetadataError::Metadata("client_id must be the client's own".into()));
    }
    if let Some(sent) = fields.get("client_secret") {
        let matches = match (sent.as_str(), &current.secret_hash) {
            (Some(sent), Some(kept)) => crate::secrets::equal(&crate::secrets::hash(sent), &kept.0),
            _ => false,
        };
        if !matches {
            return refused(&MetadataError::Metadata("client_secret is not the client's".into()));
        }
    }
    match clients::update(&flow.config, &flow.store, &id, token, metadata, now).await {
        Ok(registration) => answer(StatusCode::OK, &flow.config.issuer, &registration),
        Err(UpdateError::Metadata(error)) => refused(&error),
        Err(UpdateError::Gone) => invalid_token("the registration access token is not valid"),
        Err(UpdateError::Store(e)) => crate::tokens::TokenError::from(e).into_response(),
    }
}

/// `DELETE /register/{client_id}`: the client ends, with its refresh tokens and the
/// consents given to it.
pub async fn delete(State(flow): State<Handles>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let now = flow.now();
    let Some(token) = bearer(&headers) else {
        return invalid_token("the registration access token is missing");
    };
    let deleted = async {
        if clients::with_token(&flow.store, &id, token, now).await?.is_none() {
            return Ok(false);
        }
        clients::delete(&flow.store, &flow.config, &id, now).await
    };
    match deleted.await {
        Ok(true) => {
            tracing::info!(client = %id, "a registered client deleted itself");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => invalid_token("the registration access token is not valid"),
        Err(e) => crate::tokens::TokenError::from(e).into_response(),
    }
}

/// The body's metadata, and the body as JSON (for the fields that are not metadata).
async fn metadata(headers: &HeaderMap, body: Body, limit: usize) -> Result<(ClientMetadata, JsonValue), Response> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(refused(&MetadataError::Metadata(
            "send the metadata as application/json".into(),
        )));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({
                "error": "invalid_client_metadata",
                "error_description": format!("the metadata is larger than {limit} bytes"),
            })),
        )
            .into_response()
    })?;
    let fields: JsonValue = serde_json::from_slice(&bytes)
        .map_err(|e| refused(&MetadataError::Metadata(format!("the body is not JSON: {e}"))))?;
    if !fields.is_object() {
        return Err(refused(&MetadataError::Metadata(
            "the metadata must be a JSON object".into(),
        )));
    }
    let metadata = serde_json::from_value(fields.clone()).map_err(|e| {
        refused(&MetadataError::Metadata(format!(
            "the metadata does not fit RFC 7591: {e}"
        )))
    })?;
    Ok((metadata, fields))
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3).
fn answer(status: StatusCode, issuer: &str, registration: &Registration) -> Response {
    let record: &RegisteredClient = &registration.record;
    let mut body = serde_json::to_value(&record.metadata).unwrap_or_else(|_| json!({}));
    let fields = [
        ("client_id", json!(registration.client_id)),
        ("client_id_issued_at", json!(record.issued_at)),
        ("client_secret_expires_at", json!(record.expires_at)),
        (
            "registration_access_token",
            json!(registration.registration_access_token),
        ),
        (
            "registration_client_uri",
            json!(format!(
                "{issuer}{}",
                crate::routes::register_client(&registration.client_id)
            )),
        ),
    ];
    if let JsonValue::Object(map) = &mut body {
        for (name, value) in fields {
            map.insert(name.into(), value);
        }
        if let Some(secret) = &registration.client_secret {
            map.insert("client_secret".into(), json!(secret));
        }
    }
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn refused(error: &MetadataError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error.code(), "error_description": error.description() })),
    )
        .into_response()
}

fn too_many(status: StatusCode, retry_after: i64, why: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": "temporarily_unavailable", "error_description": why })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// RFC 6750 §3: a missing or wrong token is `invalid_token` with a Bearer challenge.
fn invalid_token(why: &str) -> Response {
    crate::tokens::BearerError::InvalidToken(why.to_string()).into_response()
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
