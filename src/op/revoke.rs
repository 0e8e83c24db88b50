//! `/revoke` (RFC 7009).

use super::client_auth::authenticate;
use super::error::OAuthError;
use super::issuer;
use crate::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct RevokeParams {
    /// `token_type_hint` is not read: both kinds of token are recognised by looking.
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<RevokeParams>, FormRejection>,
) -> Response {
    match revoke(&state, &headers, form).await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn revoke(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<RevokeParams>, FormRejection>,
) -> Result<(), OAuthError> {
    let params = OAuthError::form(form)?;
    let client = authenticate(
        state,
        headers,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
    )
    .await?;
    let token = params
        .token
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    issuer(state).revoke(client, &token).await
}
