//! `/token` (RFC 6749 §3.2): authenticate the client, then the grant.

use super::error::OAuthError;
use crate::AppState;
use crate::config::{AuthMethod, Client, ClientSecret};
use crate::tokens::Issuer;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
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
    let Form(params) =
        form.map_err(|e| OAuthError::InvalidRequest(format!("the request body is not a valid form: {e}")))?;
    let client = authenticate(state, headers, &params).await?;
    let issuer = Issuer {
        config: &state.config,
        store: &state.store,
        keys: &state.keys,
        now: state.clock.now(),
    };
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

/// Authenticates the client the way it is registered to (RFC 6749 §2.3).
async fn authenticate<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    params: &TokenParams,
) -> Result<&'s Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let (client_id, secret, method) = match (&basic, &params.client_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method".into(),
            ));
        }
        (Some((id, secret)), None) => (id.clone(), Some(secret.clone()), AuthMethod::ClientSecretBasic),
        (None, Some(secret)) => (
            params.client_id.clone().unwrap_or_default(),
            Some(secret.clone()),
            AuthMethod::ClientSecretPost,
        ),
        (None, None) => (params.client_id.clone().unwrap_or_default(), None, AuthMethod::None),
    };
    if basic.is_some() && params.client_id.as_ref().is_some_and(|id| *id != client_id) {
        return Err(OAuthError::InvalidRequest(
            "client_id does not match the authenticated client".into(),
        ));
    }
    let unknown = || OAuthError::InvalidClient("client authentication failed".into());
    let client = state.config.client(&client_id).ok_or_else(unknown)?;
    if client.token_endpoint_auth_method != method {
        return Err(unknown());
    }
    let verified = match (&client.secret, secret) {
        (None, None) => true,
        (Some(ClientSecret::Plain(expected)), Some(given)) => crate::secrets::equal(expected, &given),
        (Some(ClientSecret::Argon2Hash(hash)), Some(given)) => {
            let hash = hash.clone();
            tokio::task::spawn_blocking(move || {
                use argon2::{PasswordHash, PasswordVerifier};
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        argon2::Argon2::default()
                            .verify_password(given.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await
            .map_err(|e| OAuthError::Server(e.to_string()))?
        }
        _ => false,
    };
    if verified { Ok(client) } else { Err(unknown()) }
}

/// The client id and secret of an `Authorization: Basic` header, form-urldecoded as
/// RFC 6749 §2.3.1 says.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::InvalidClient("malformed Basic authorization header".into());
    let value = value.to_str().map_err(|_| malformed())?;
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return Err(malformed());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
