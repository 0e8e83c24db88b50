//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3): the way each client is registered to authenticate, and no other.

use super::error::OAuthError;
use crate::AppState;
use crate::config::{AuthMethod, Client, ClientSecret};
use axum::http::{HeaderMap, header};
use base64::Engine;

/// Authenticates the client the way it is registered to (RFC 6749 §2.3).
pub async fn authenticate<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<&'s Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let sent_id = client_id;
    let (client_id, secret, method) = match (&basic, &client_secret.map(String::from)) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method".into(),
            ));
        }
        (Some((id, secret)), None) => (id.clone(), Some(secret.clone()), AuthMethod::ClientSecretBasic),
        (None, Some(secret)) => (
            client_id.map(String::from).unwrap_or_default(),
            Some(secret.clone()),
            AuthMethod::ClientSecretPost,
        ),
        (None, None) => (client_id.map(String::from).unwrap_or_default(), None, AuthMethod::None),
    };
    if basic.is_some() && sent_id.is_some_and(|id| id != client_id) {
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
