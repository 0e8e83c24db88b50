//! Gatehouse as a Shared Signals transmitter (SSF 1.0): its configuration at
//! `/.well-known/ssf-configuration`, and for apps with `shared_signals = true`, each with
//! an access token of the `ssf` scope, the stream management API (§8.1) and the poll
//! endpoint of their poll streams (RFC 8936).

use crate::domain::signals::events::{self, EventType};
use crate::domain::signals::polling::{self, PollRequest};
use crate::domain::signals::streams::{self, Change, StreamError, StreamRequest};
use crate::domain::token_liveness::{Inactive, active_access_token};
use crate::flow::Handles;
use crate::routes;
use crate::tokens::BearerError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// The transmitter's configuration (SSF 1.0 §7.1).
pub fn configuration(config: &crate::Config) -> Value {
    let at = |path: &str| format!("{}{path}", config.issuer);
    json!({
        "spec_version": "1_0",
        "issuer": config.issuer,
        "jwks_uri": at(routes::JWKS),
        "delivery_methods_supported": [events::PUSH, events::POLL],
        "configuration_endpoint": at(routes::SIGNALS_STREAMS),
        "status_endpoint": at(routes::SIGNALS_STATUS),
        "add_subject_endpoint": at(routes::SIGNALS_SUBJECTS_ADD),
        "remove_subject_endpoint": at(routes::SIGNALS_SUBJECTS_REMOVE),
        "verification_endpoint": at(routes::SIGNALS_VERIFY),
        "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6749" }],
        "default_subjects": "ALL",
        "events_supported": EventType::TRANSMITTED.iter().map(|e| e.uri()).collect::<Vec<_>>(),
    })
}

pub async fn configuration_handler(State(flow): State<Handles>) -> Response {
    Json(configuration(&flow.config)).into_response()
}

/// The client an `ssf` access token in the Authorization header was issued to.
async fn authorized(flow: &Handles, headers: &HeaderMap) -> Result<String, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .ok_or_else(|| BearerError::Missing.into_response())?;
    let claims = active_access_token(&flow.config, &flow.keys, &flow.store, &token, flow.now())
        .await
        .map_err(|inactive| match inactive {
            Inactive::Ended(why) => BearerError::InvalidToken(why.to_string()).into_response(),
            Inactive::Unknown(e) if e.is_unavailable() => BearerError::Unavailable(e.to_string()).into_response(),
            Inactive::Unknown(e) => BearerError::Server(e.to_string()).into_response(),
        })?;
    if claims.contains_key("cnf") {
        return Err(BearerError::InvalidToken("a sender-constrained token is not taken here".into()).into_response());
    }
    let scope = crate::scope::Scopes::parse(claims.get("scope").and_then(Value::as_str).unwrap_or_default());
    let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default();
    let may = flow.config.client(client_id).is_some_and(|c| c.shared_signals);
    if !scope.contains(crate::scope::SSF_SCOPE) || !may {
        return Err(BearerError::InsufficientScope("stream management needs the ssf scope".into()).into_response());
    }
    Ok(client_id.to_string())
}

/// A stream API error as SSF 1.0 §8.1 shapes it.
fn refused(error: StreamError) -> Response {
    let (status, code) = match &error {
        StreamError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        StreamError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        StreamError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        StreamError::TooSoon => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        StreamError::Store(e) if e.is_unavailable() => {
            return BearerError::Unavailable(e.to_string()).into_response();
        }
        StreamError::Store(e) => return BearerError::Server(e.to_string()).into_response(),
    };
    let body = json!({ "error": code, "error_description": error.to_string() });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A JSON body, or why not.
fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StreamError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StreamError::Invalid(format!("the body is not the JSON object expected: {e}")))
}

#[derive(Deserialize)]
pub struct StreamQuery {
    stream_id: Option<String>,
}

pub async fn create(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let request: StreamRequest = body(&bytes).map_err(refused)?;
        let stream = streams::create(&flow.store, &flow.config, &client_id, request, flow.now())
            .await
            .map_err(refused)?;
        Ok::<_, Response>(answer(StatusCode::CREATED, streams::describe(&flow.config, &stream)))
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

pub async fn read(State(flow): State<Handles>, headers: HeaderMap, Query(query): Query<StreamQuery>) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let found = streams::read(&flow.store, &client_id, query.stream_id.as_deref(), flow.now())
            .await
            .map_err(refused)?;
        let described: Vec<Value> = found.iter().map(|s| streams::describe(&flow.config, s)).collect();
        Ok::<_, Response>(match (query.stream_id, described.as_slice()) {
            (Some(_), [one]) => answer(StatusCode::OK, one.clone()),
            _ => answer(StatusCode::OK, Value::Array(described)),
        })
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

async fn change(flow: Handles, headers: HeaderMap, bytes: axum::body::Bytes, how: Change) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let request: StreamRequest = body(&bytes).map_err(refused)?;
        let stream = streams::change(&flow.store, &flow.config, &client_id, request, how, flow.now())
            .await
            .map_err(refused)?;
        Ok::<_, Response>(answer(StatusCode::OK, streams::describe(&flow.config, &stream)))
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

pub async fn update(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    change(flow, headers, bytes, Change::Update).await
}

pub async fn replace(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    change(flow, headers, bytes, Change::Replace).await
}

pub async fn delete(State(flow): State<Handles>, headers: HeaderMap, Query(query): Query<StreamQuery>) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let stream_id = query
            .stream_id
            .ok_or_else(|| refused(StreamError::Invalid("stream_id is required".into())))?;
        streams::delete(&flow.store, &client_id, &stream_id, flow.now())
            .await
            .map_err(refused)?;
        Ok::<_, Response>(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

fn status_of(stream: &crate::store::SignalStream) -> Value {
    let mut status = json!({ "stream_id": stream.stream_id, "status": stream.status });
    if let (Some(reason), Value::Object(fields)) = (&stream.reason, &mut status) {
        fields.insert("reason".into(), json!(reason));
    }
    status
}

pub async fn status(State(flow): State<Handles>, headers: HeaderMap, Query(query): Query<StreamQuery>) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let stream_id = query
            .stream_id
            .ok_or_else(|| refused(StreamError::Invalid("stream_id is required".into())))?;
        let found = streams::read(&flow.store, &client_id, Some(&stream_id), flow.now())
            .await
            .map_err(refused)?;
        let stream = found.first().ok_or_else(|| refused(StreamError::NotFound))?;
        Ok::<_, Response>(answer(StatusCode::OK, status_of(stream)))
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

#[derive(Deserialize)]
struct StatusRequest {
    stream_id: String,
    status: String,
    reason: Option<String>,
}

pub async fn set_status(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let request: StatusRequest = body(&bytes).map_err(refused)?;
        let stream = streams::set_status(
            &flow.store,
            &client_id,
            &request.stream_id,
            &request.status,
            request.reason,
            flow.now(),
        )
        .await
        .map_err(refused)?;
        Ok::<_, Response>(answer(StatusCode::OK, status_of(&stream)))
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

#[derive(Deserialize)]
struct SubjectRequest {
    stream_id: String,
    subject: Value,
}

async fn subjects(flow: Handles, headers: HeaderMap, bytes: axum::body::Bytes, hear: bool) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let request: SubjectRequest = body(&bytes).map_err(refused)?;
        streams::hear_of(
            &flow.store,
            &flow.config,
            &client_id,
            &request.stream_id,
            &request.subject,
            hear,
            flow.now(),
        )
        .await
        .map_err(refused)?;
        // SSF 1.0 §8.1.3.2: 200 for an added subject; §8.1.3.3: 204 for a removed one.
        Ok::<_, Response>(match hear {
            true => StatusCode::OK.into_response(),
            false => StatusCode::NO_CONTENT.into_response(),
        })
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

pub async fn add_subject(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    subjects(flow, headers, bytes, true).await
}

pub async fn remove_subject(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    subjects(flow, headers, bytes, false).await
}

#[derive(Deserialize)]
struct VerifyRequest {
    stream_id: String,
    state: Option<String>,
}

pub async fn verify(State(flow): State<Handles>, headers: HeaderMap, bytes: axum::body::Bytes) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let request: VerifyRequest = body(&bytes).map_err(refused)?;
        let now = flow.now();
        let push = streams::verify(
            &flow.store,
            &flow.config,
            &client_id,
            &request.stream_id,
            request.state,
            now,
        )
        .await
        .map_err(refused)?;
        if let Some(key) = push {
            match crate::domain::logout_outbox::start(flow.ctx().outbox(), &[key], now).await {
                Ok(deliveries) => deliveries.detach(),
                // Queued: the next pass of the outbox sends it.
                Err(e) => tracing::debug!(error = %e, "the verification event waits for the outbox"),
            }
        }
        Ok::<_, Response>(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(|refusal| refusal)
}

pub async fn poll(
    State(flow): State<Handles>,
    Path(stream_id): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let run = async {
        let client_id = authorized(&flow, &headers).await?;
        let request: PollRequest = if bytes.is_empty() {
            PollRequest::default()
        } else {
            body(&bytes).map_err(refused)?
        };
        let answered = polling::poll(&flow.store, &flow.keys, &client_id, &stream_id, request, flow.now())
            .await
            .map_err(refused)?;
        Ok::<_, Response>(answer(StatusCode::OK, answered))
    };
    run.await.unwrap_or_else(|refusal| refusal)
}
