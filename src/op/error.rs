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
            TokenError::Server(fault) => {
                tracing::error!(error = %fault, "token endpoint failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not complete the request".to_string(),
                )
            }
            TokenError::TemporarilyUnavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, d.clone()),
            TokenError::UseDpopNonce(_) => (
                StatusCode::BAD_REQUEST,
                "the DPoP proof must carry the nonce in the DPoP-Nonce header".to_string(),
            ),
            TokenError::InvalidRequest(d)
            | TokenError::InvalidDpopProof(d)
            | TokenError::InvalidGrant(d)
            | TokenError::UnauthorizedClient(d)
            | TokenError::UnsupportedGrantType(d)
            | TokenError::InvalidScope(d)
            | TokenError::AuthorizationPending(d)
            | TokenError::SlowDown(d)
            | TokenError::AccessDenied(d)
            | TokenError::ExpiredToken(d)
            | TokenError::InvalidTarget(d) => (StatusCode::BAD_REQUEST, d.clone()),
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
        if let TokenError::UseDpopNonce(nonce) = &self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            response.headers_mut().insert(crate::dpop::NONCE_HEADER, value);
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

/// The answer of RFC 6750 §3: the `Bearer` challenge, with the error when a token was
/// sent; for DPoP, the `DPoP` challenge of RFC 9449 §7.1.
impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, error, description) = match self {
            BearerError::Missing => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                let challenges = response.headers_mut();
                challenges.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"gatehouse\""),
                );
                if let Ok(dpop) = HeaderValue::from_str(&format!("DPoP algs=\"{}\"", dpop_algs())) {
                    challenges.append(header::WWW_AUTHENTICATE, dpop);
                }
                return response;
            }
            BearerError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d),
            BearerError::InvalidToken(d) => (StatusCode::UNAUTHORIZED, "invalid_token", d),
            BearerError::InsufficientScope(d) => (StatusCode::FORBIDDEN, "insufficient_scope", d),
            BearerError::Dpop {
                error,
                description,
                nonce,
            } => return dpop_refusal(error, &description, nonce),
            BearerError::Unavailable(detail) => {
                tracing::debug!(%detail, "the store is unavailable: answering 503");
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "error": "temporarily_unavailable", "error_description": "try again in a moment" })),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            BearerError::Server(detail) => {
                tracing::error!(%detail, "protected resource failed");
                return (StatusCode::INTERNAL_SERVER_ERROR, "server error").into_response();
            }
        };
        let challenge = format!("Bearer realm=\"gatehouse\", {}", challenge_error(error, &description));
        refusal(status, error, &description, &challenge)
    }
}

fn dpop_refusal(error: &str, description: &str, nonce: Option<String>) -> Response {
    let challenge = format!("DPoP algs=\"{}\", {}", dpop_algs(), challenge_error(error, description));
    let mut response = refusal(StatusCode::UNAUTHORIZED, error, description, &challenge);
    if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(crate::dpop::NONCE_HEADER, value);
    }
    response
}

fn refusal(status: StatusCode, error: &str, description: &str, challenge: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn challenge_error(error: &str, description: &str) -> String {
    format!(
        "error=\"{error}\", error_description=\"{}\"",
        description.replace(['"', '\\'], "'")
    )
}

/// The algorithms a DPoP proof may be signed with, for the challenge.
fn dpop_algs() -> String {
    crate::signed_jwt::alg_names(&crate::signed_jwt::ASYMMETRIC_ALGS)
        .collect::<Vec<_>>()
        .join(" ")
}
