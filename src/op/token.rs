//! `/token` (RFC 6749 §3.2): authenticate the client, then the grant.

use super::client_auth::authenticate;
use super::error::OAuthError;
use crate::AppState;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct TokenParams {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenParams>, FormRejection>,
) -> Response {
    match token(&state, &headers, form).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn token(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<TokenParams>, FormRejection>,
) -> Result<Response, OAuthError> {
    let params = OAuthError::form(form)?;
    let client = authenticate(
        state,
        headers,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
    )
    .await?;
    let issuer = super::issuer(state);
    let response = match params.grant_type.as_deref() {
        Some("authorization_code") => {
            let code = params
                .code
                .as_deref()
                .ok_or_else(|| OAuthError::InvalidRequest("code is missing".into()))?;
            issuer
                .exchange_code(
                    client,
                    code,
                    params.redirect_uri.as_deref(),
                    params.code_verifier.as_deref(),
                )
                .await?
        }
        Some("refresh_token") => {
            let token = params
                .refresh_token
                .as_deref()
                .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
            issuer.refresh(client, token, params.scope.as_deref()).await?
        }
        Some("client_credentials") => issuer.client_credentials(client, params.scope.as_deref())?,
        Some(other) => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type {other} is not supported"
            )));
        }
        None => return Err(OAuthError::InvalidRequest("grant_type is missing".into())),
    };
    Ok((
        [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
        Json(response),
    )
        .into_response())
}
