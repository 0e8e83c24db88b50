//! `/userinfo` (OpenID Connect Core §5.3): the access token from the header or the form
//! body; the claims come from the token layer.

use crate::AppState;
use crate::tokens::{BearerError, TokenService};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state, header_token(&headers)).await
}

/// POST takes the token from the header or, as a form body, from `access_token`
/// (RFC 6750 §2.2) — not both.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body_token = is_form
        .then(|| {
            url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned())
        })
        .flatten();
    let token = match (header_token(&headers), body_token) {
        (Ok(Some(_)), Some(_)) => Err(BearerError::InvalidRequest("send the token once".into())),
        (Ok(None), Some(token)) => Ok(Some(token)),
        (header, _) => header,
    };
    respond(&state, token).await
}

fn header_token(headers: &HeaderMap) -> Result<Option<String>, BearerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| BearerError::InvalidRequest("malformed Authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(BearerError::InvalidRequest("use Authorization: Bearer <token>".into())),
    }
}

async fn respond(state: &AppState, token: Result<Option<String>, BearerError>) -> Response {
    let claims = match token.and_then(|t| t.ok_or(BearerError::Missing)) {
        Ok(token) => TokenService::new(state, state.clock.now()).userinfo(&token).await,
        Err(e) => Err(e),
    };
    match claims {
        Ok(claims) => ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response(),
        Err(e) => e.into_response(),
    }
}
