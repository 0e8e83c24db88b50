//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3), as an extractor: the form body is read, the client authenticated the
//! way it is registered to (and no other), and the handler gets both.

use crate::AppState;
use crate::config::{AuthMethod, Client, ClientSecret};
use crate::tokens::{Params, TokenError};
use axum::extract::{Form, FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine;
use std::sync::Arc;

/// A form request from an authenticated client.
pub struct ClientRequest {
    pub client: Arc<Client>,
    pub params: Params,
}

impl FromRequest<AppState> for ClientRequest {
    type Rejection = TokenError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Read before the body consumes the request; refused only after the form is read.
        let basic = basic_credentials(request.headers());
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|e| TokenError::InvalidRequest(format!("the request body is not a valid form: {e}")))?;
        let params = Params::new(pairs);
        let client = authenticate(state, basic?, &params).await?;
        Ok(ClientRequest {
            client: Arc::clone(client),
            params,
        })
    }
}

/// Authenticates the client the way it is registered to (RFC 6749 §2.3).
async fn authenticate<'s>(
    state: &'s AppState,
    basic: Option<(String, String)>,
    params: &Params,
) -> Result<&'s Arc<Client>, TokenError> {
    let sent_id = params.get("client_id")?;
    let sent_secret = params.get("client_secret")?;
    let (client_id, secret, method) = match (&basic, sent_secret) {
        (Some(_), Some(_)) => {
            return Err(TokenError::InvalidRequest(
                "use one client authentication method".into(),
            ));
        }
        (Some((id, secret)), None) => (id.as_str(), Some(secret.as_str()), AuthMethod::ClientSecretBasic),
        (None, Some(secret)) => (sent_id.unwrap_or_default(), Some(secret), AuthMethod::ClientSecretPost),
        (None, None) => (sent_id.unwrap_or_default(), None, AuthMethod::None),
    };
    if basic.is_some() && sent_id.is_some_and(|id| id != client_id) {
        return Err(TokenError::InvalidRequest(
            "client_id does not match the authenticated client".into(),
        ));
    }
    let unknown = || TokenError::InvalidClient("client authentication failed".into());
    let Some(client) = state.config.shared_client(client_id) else {
        state.telemetry.client_auth_failed(None, "unknown_client");
        return Err(unknown());
    };
    if client.token_endpoint_auth_method != method {
        state.telemetry.client_auth_failed(Some(client_id), "wrong_method");
        return Err(unknown());
    }
    let verified = match (&client.secret, secret) {
        (None, None) => true,
        (Some(ClientSecret::Plain(expected)), Some(given)) => crate::secrets::equal(&expected.0, given),
        (Some(ClientSecret::Argon2Hash(hash)), Some(given)) => state
            .verified_secrets
            .verify(
                &state.guards.password_checks,
                client_id,
                &hash.0,
                given,
                state.clock.now(),
            )
            .await
            .inspect_err(|e| {
                if matches!(e, crate::limits::CheckError::Busy) {
                    state.telemetry.refused("password_checks_busy");
                }
            })
            .map_err(TokenError::from)?,
        _ => false,
    };
    if !verified {
        state.telemetry.client_auth_failed(Some(client_id), "wrong_secret");
        return Err(unknown());
    }
    crate::telemetry::note_client(client_id);
    Ok(client)
}

/// The client id and secret of an `Authorization: Basic` header, form-urldecoded as
/// RFC 6749 §2.3.1 says.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || TokenError::InvalidClient("malformed Basic authorization header".into());
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
