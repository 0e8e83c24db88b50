//! `POST /ssf/{upstream}`: where an upstream's Shared Signals transmitter pushes its
//! events (RFC 8935): `application/secevent+jwt` with the Authorization header Gatehouse
//! chose when it made the stream; 202 once taken, 400 with `err` and `description`
//! (§2.3) when refused, 401 without the right header.

use crate::domain::signals::receive::{self, Refused};
use crate::domain::signals::receiver;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn handler(
    State(flow): State<crate::flow::Handles>,
    Path(upstream): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = flow.now();
    let ctx = flow.ctx();
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match receiver::push_allowed(ctx.store, &upstream, authorization, now).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(%upstream, "a pushed event without the stream's Authorization header refused");
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_failed",
                "the Authorization header is not the stream's",
            );
        }
        Err(refused) => return refusal(&upstream, refused),
    }
    let is_set = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/secevent+jwt"));
    let Ok(token) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "the body is not a token");
    };
    if !is_set {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/secevent+jwt",
        );
    }
    match receive::take(ctx.outbox(), ctx.upstreams, ctx.http, &upstream, token.trim(), now).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(refused) => refusal(&upstream, refused),
    }
}

fn refusal(upstream: &str, refused: Refused) -> Response {
    tracing::warn!(%upstream, error = %refused, "pushed event refused");
    match refused {
        Refused::Unavailable(_) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
        other => error(StatusCode::BAD_REQUEST, other.code(), &other.to_string()),
    }
}

fn error(status: StatusCode, err: &str, description: &str) -> Response {
    let body = json!({ "err": err, "description": description });
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}
