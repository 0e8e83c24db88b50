//! `/userinfo` (OpenID Connect Core §5.3): the released claims of the token's person.

use super::error::BearerError;
use crate::AppState;
use crate::mapping::release;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json_;

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
        Ok(token) => claims(state, &token).await,
        Err(e) => Err(e),
    };
    match claims {
        Ok(claims) => ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn claims(state: &AppState, token: &str) -> Result<Json_, BearerError> {
    let now = state.clock.now();
    let claims = crate::tokens::active_access_token(&state.config, &state.keys, &state.store, token, now)
        .await
        .map_err(|why| BearerError::InvalidToken(why.to_string()))?;
    let scope = claims.get("scope").and_then(Json_::as_str).unwrap_or_default();
    if !scope.split_whitespace().any(|s| s == "openid") {
        return Err(BearerError::InsufficientScope("userinfo needs the openid scope".into()));
    }
    let sub = claims
        .get("sub")
        .and_then(Json_::as_str)
        .ok_or_else(|| BearerError::InvalidToken("the access token has no sub".into()))?;
    let account = state
        .store
        .accounts
        .get(sub, now)
        .await
        .map_err(|e| BearerError::Server(e.to_string()))?
        .ok_or_else(|| BearerError::InvalidToken("the account no longer exists".into()))?;
    let mut released = release(&account.claims, scope, &state.config.scopes);
    released.insert("sub".into(), Json_::String(sub.to_string()));
    Ok(Json_::Object(released))
}
