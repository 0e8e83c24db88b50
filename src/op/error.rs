//! The errors relying parties see at the token and resource endpoints, shaped as the specs
//! say. Internal causes are logged here and never returned.

use crate::tokens::{BearerError, TokenError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The JSON error answer of RFC 6749 §5.2, with a `Basic` challenge for `invalid_client`.
impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, description) = match &self {
            TokenError::InvalidClient(d) => (StatusCode::UNAUTHORIZED, d.clone()),
            TokenError::Server(detail) => {
                tracing::error!(%detail, "token endpoint failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not complete the request".to_string(),
                )
            }
            TokenError::TemporarilyUnavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, d.clone()),
            TokenError::InvalidRequest(d)
            | TokenError::InvalidGrant(d)
            | TokenError::UnauthorizedClient(d)
            | TokenError::UnsupportedGrantType(d)
            | TokenError::InvalidScope(d) => (StatusCode::BAD_REQUEST, d.clone()),
        };
        let mut response = (
            status,
            [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
            Json(json!({ "error": self.code(), "error_description": description })),
        )
            .into_response();
        if matches!(self, TokenError::TemporarilyUnavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, TokenError::InvalidClient(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            );
        }
        response
    }
}

/// The answer of RFC 6750 §3: the `Bearer` challenge, with the error when a token was sent.
impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, error, description) = match self {
            BearerError::Missing => (StatusCode::UNAUTHORIZED, None, String::new()),
            BearerError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, Some("invalid_request"), d),
            BearerError::InvalidToken(d) => (StatusCode::UNAUTHORIZED, Some("invalid_token"), d),
            BearerError::InsufficientScope(d) => (StatusCode::FORBIDDEN, Some("insufficient_scope"), d),
            BearerError::Server(detail) => {
                tracing::error!(%detail, "protected resource failed");
                return (StatusCode::INTERNAL_SERVER_ERROR, "server error").into_response();
            }
        };
        let challenge = match error {
            None => "Bearer realm=\"gatehouse\"".to_string(),
            Some(error) => format!(
                "Bearer realm=\"gatehouse\", error=\"{error}\", error_description=\"{}\"",
                description.replace(['"', '\\'], "'")
            ),
        };
        let mut response = match error {
            None => status.into_response(),
            Some(error) => (
                status,
                Json(json!({ "error": error, "error_description": description })),
            )
                .into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
