//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3, RFC 7523 §2.2), as an extractor: the form body is read, the client authenticated the
//! way it is registered to (and no other), and the handler gets both.

use super::client_assertion::{self, Failure};
use crate::config::{AuthMethod, Client, ClientSecret, Config};
use crate::store::Store;
use crate::telemetry::Telemetry;
use crate::tokens::{Params, TokenError};
use crate::{Clock, client_keys, limits, upstream, verified_secrets};
use axum::extract::{Form, FromRef, FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine;
use std::sync::Arc;

/// A form request from an authenticated client.
pub struct ClientRequest {
    pub client: Arc<Client>,
    pub params: Params,
}

/// What authenticating a client reads: the clients and the issuer, the secrets checked
/// lately and the bound on checking more, what checking an assertion reads, telemetry.
#[derive(Clone)]
pub struct ClientChecks {
    pub config: Arc<Config>,
    pub store: Store,
    pub client_keys: Arc<client_keys::ClientKeys>,
    pub documents: Arc<crate::domain::client_documents::ClientDocuments>,
    pub http: upstream::UpstreamHttp,
    pub clock: Clock,
    pub guards: Arc<limits::Guards>,
    pub telemetry: Telemetry,
    pub verified_secrets: Arc<verified_secrets::VerifiedSecrets>,
}

impl ClientChecks {
    fn verifier(&self) -> client_assertion::Verifier<'_> {
        client_assertion::Verifier {
            config: &self.config,
            store: &self.store,
            client_keys: &self.client_keys,
            http: &self.http,
            clock: &self.clock,
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for ClientRequest
where
    ClientChecks: FromRef<S>,
{
    type Rejection = TokenError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let checks = ClientChecks::from_ref(state);
        // Read before the body consumes the request; refused only after the form is read.
        let basic = basic_credentials(request.headers());
        // The URL an assertion may name as its audience besides the issuer.
        let endpoint = format!("{}{}", checks.config.issuer, request.uri().path());
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|e| TokenError::InvalidRequest(format!("the request body is not a valid form: {e}")))?;
        let params = Params::new(pairs);
        let client = authenticate(&checks, basic?, &params, &endpoint).await?;
        Ok(ClientRequest { client, params })
    }
}

/// What the client presented to prove who it is.
enum Presented<'p> {
    Secret(&'p str, AuthMethod),
    Assertion(&'p str),
    Nothing,
}

/// Authenticates the client the way it is registered to (RFC 6749 §2.3, RFC 7523 §2.2).
async fn authenticate(
    state: &ClientChecks,
    basic: Option<(String, String)>,
    params: &Params,
    endpoint: &str,
) -> Result<Arc<Client>, TokenError> {
    let sent_id = params.get("client_id")?;
    let sent_secret = params.get("client_secret")?;
    let assertion = client_assertion(params)?;
    let (client_id, presented) = match (&basic, sent_secret, assertion) {
        (Some((id, secret)), None, None) => (id.clone(), Presented::Secret(secret, AuthMethod::ClientSecretBasic)),
        (None, Some(secret), None) => (
            sent_id.unwrap_or_default().to_string(),
            Presented::Secret(secret, AuthMethod::ClientSecretPost),
        ),
        (None, None, Some(assertion)) => (
            sent_id
                .map(String::from)
                .or_else(|| client_assertion::claimed_client(assertion))
                .unwrap_or_default(),
            Presented::Assertion(assertion),
        ),
        (None, None, None) => (sent_id.unwrap_or_default().to_string(), Presented::Nothing),
        _ => {
            return Err(TokenError::InvalidRequest(
                "use one client authentication method".into(),
            ));
        }
    };
    if sent_id.is_some_and(|id| id != client_id) {
        return Err(TokenError::InvalidRequest(
            "client_id does not match the authenticated client".into(),
        ));
    }
    let unknown = || TokenError::InvalidClient("client authentication failed".into());
    let found = crate::domain::clients::find(
        &state.config,
        &state.store,
        &state.documents,
        &client_id,
        state.clock.now(),
    )
    .await?;
    let Some(client) = found else {
        state.telemetry.client_auth_failed(None, "unknown_client");
        return Err(unknown());
    };
    let client_id = client.id.as_str();
    let (secret, method) = match presented {
        Presented::Assertion(assertion) => {
            return match client_assertion::verify(state.verifier(), &client, assertion, endpoint).await {
                Ok(()) => {
                    crate::telemetry::note_client(client_id);
                    Ok(client)
                }
                Err(Failure::Refused(reason, why)) => {
                    state.telemetry.client_auth_failed(Some(client_id), reason);
                    Err(TokenError::InvalidClient(why))
                }
                Err(Failure::Unavailable(e)) => Err(e),
            };
        }
        Presented::Secret(secret, method) => (Some(secret), method),
        Presented::Nothing => (None, AuthMethod::None),
    };
    if client.token_endpoint_auth_method != method {
        state.telemetry.client_auth_failed(Some(client_id), "wrong_method");
        return Err(unknown());
    }
    let verified = match (&client.secret, secret) {
        (None, None) => true,
        (Some(ClientSecret::Plain(expected)), Some(given)) => crate::secrets::equal(&expected.0, given),
        (Some(ClientSecret::Sha256(hash)), Some(given)) => crate::secrets::equal(&hash.0, &crate::secrets::hash(given)),
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

/// The `client_assertion`, when one is sent with its type.
fn client_assertion(params: &Params) -> Result<Option<&str>, TokenError> {
    match (params.get("client_assertion_type")?, params.get("client_assertion")?) {
        (None, None) => Ok(None),
        (Some(client_assertion::ASSERTION_TYPE), Some(assertion)) => Ok(Some(assertion)),
        (Some(_), Some(_)) => Err(TokenError::InvalidRequest(format!(
            "client_assertion_type must be {}",
            client_assertion::ASSERTION_TYPE
        ))),
        _ => Err(TokenError::InvalidRequest(
            "client_assertion and client_assertion_type go together".into(),
        )),
    }
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
