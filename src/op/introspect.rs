//! `/introspect` (RFC 7662).

use super::client_auth::authenticate;
use super::error::OAuthError;
use super::issuer;
use crate::AppState;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct IntrospectParams {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<IntrospectParams>, FormRejection>,
) -> Response {
    let answer = async {
        let params = OAuthError::form(form)?;
        let client = authenticate(
            &state,
            &headers,
            params.client_id.as_deref(),
            params.client_secret.as_deref(),
        )
        .await?;
        let token = params
            .token
            .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
        issuer(&state).introspect(client, &token).await
    };
    match answer.await {
        Ok(answer) => ([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response(),
        Err(error) => error.into_response(),
    }
}
