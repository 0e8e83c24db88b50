//! The errors relying parties see, shaped as the specs say. Internal causes are logged
//! here and never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error of the token endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub enum OAuthError {
    InvalidRequest(String),
    InvalidClient(String),
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType(String),
    InvalidScope(String),
    /// Something broke on our side; the detail is logged, not sent.
    Server(String),
}

impl OAuthError {
    /// The parameters of a form request, or `invalid_request` in OAuth's shape.
    pub fn form<T>(form: Result<axum::Form<T>, axum::extract::rejection::FormRejection>) -> Result<T, OAuthError> {
        form.map(|axum::Form(params)| params)
            .map_err(|e| OAuthError::InvalidRequest(format!("the request body is not a valid form: {e}")))
    }

    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::Server(_) => "server_error",
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::Server(e.to_string())
    }
}

impl From<crate::keys::KeyError> for OAuthError {
    fn from(e: crate::keys::KeyError) -> Self {
        OAuthError::Server(e.to_string())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, description) = match &self {
            OAuthError::InvalidClient(d) => (StatusCode::UNAUTHORIZED, d.clone()),
            OAuthError::Server(detail) => {
                tracing::error!(%detail, "token endpoint failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not complete the request".to_string(),
                )
            }
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::InvalidScope(d) => (StatusCode::BAD_REQUEST, d.clone()),
        };
        let mut response = (
            status,
            [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
            Json(json!({ "error": self.code(), "error_description": description })),
        )
            .into_response();
        if matches!(self, OAuthError::InvalidClient(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            );
        }
        response
    }
}

/// An error of a bearer-token protected resource (RFC 6750 §3).
#[derive(Debug)]
pub enum BearerError {
    /// No token at all: only the challenge, no error code (RFC 6750 §3.1).
    Missing,
    InvalidRequest(String),
    InvalidToken(String),
    InsufficientScope(String),
    Server(String),
}

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
