//! The first step: checking an authorization request in the order the specs require
//! (the client and redirect URI first, whose failures are shown and never redirected;
//! then everything else, whose failures go back to the relying party).

use super::{ErrorCode, ReplyTo};
use crate::config::{Client, Config, Upstream};
use crate::response_type::{ResponseMode, ResponseType};
use crate::store::{AuthorizationRequest, Prompt};
use serde::{Deserialize, Serialize};

/// The parameters of `/authorize`, as sent (query or form), or pushed (`/par`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    pub ui_locales: Option<String>,
    pub claims: Option<String>,
    /// The thumbprint of the DPoP key the code will be bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// Gatehouse's own: preselects an upstream the client may use.
    pub upstream: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// The APIs the access token is for (RFC 8707), each sent as its own `resource`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
}

impl AuthorizeParams {
    /// The parameters among form `pairs` (others are ignored, as at `/authorize`); a
    /// parameter sent twice is refused (RFC 6749 §3.1), but for `resource`, which may
    /// be sent once per resource (RFC 8707 §2).
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<AuthorizeParams, String> {
        let mut map = serde_json::Map::new();
        let mut resources = Vec::new();
        for (name, value) in pairs {
            if name == "resource" {
                resources.push(serde_json::Value::String(value.clone()));
                continue;
            }
            if map
                .insert(name.clone(), serde_json::Value::String(value.clone()))
                .is_some()
            {
                return Err(format!("{name} is sent more than once"));
            }
        }
        map.insert("resource".into(), serde_json::Value::Array(resources));
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
    }

    /// The name of the first parameter longer than `limit` bytes, if any.
    fn longer_than(&self, limit: usize) -> Option<&'static str> {
        let parameters = [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("response_mode", &self.response_mode),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("login_hint", &self.login_hint),
            ("acr_values", &self.acr_values),
            ("ui_locales", &self.ui_locales),
            ("claims", &self.claims),
            ("dpop_jkt", &self.dpop_jkt),
            ("upstream", &self.upstream),
            ("request", &self.request),
            ("request_uri", &self.request_uri),
        ];
        parameters
            .into_iter()
            .find(|(_, value)| value.as_ref().is_some_and(|v| v.len() > limit))
            .map(|(name, _)| name)
            .or_else(|| self.resource.iter().any(|r| r.len() > limit).then_some("resource"))
    }
}

/// Why a request is refused before anything is stored.
pub enum Invalid {
    /// The client or redirect URI cannot be trusted.
    Untrusted { title: &'static str, message: String },
    /// An error for the relying party at `to`.
    Reply {
        to: ReplyTo,
        error: ErrorCode,
        description: String,
    },
}

/// A validated request and the upstream it asks for, if any.
pub struct Validated<'c> {
    pub client: &'c Client,
    pub request: AuthorizationRequest,
    pub upstream: Option<String>,
}

/// How an authorization request arrived: pushed by `/par` (RFC 9126), and as a signed
/// request object (RFC 9101).
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival {
    pub pushed: bool,
    pub signed: bool,
}

/// Checks `params` against the client's registration and the specs; `client` is the one
/// `params` names, looked up ([`super::Ctx::client`]); `arrival` says how they came, which
/// a client with `require_par` or `require_signed_request_object` is held to.
pub fn validate<'c>(
    config: &Config,
    client: Option<&'c Client>,
    params: AuthorizeParams,
    arrival: Arrival,
) -> Result<Validated<'c>, Invalid> {
    let too_long = params.longer_than(config.limits.parameter_length);
    if let Some(name) = too_long
        && (name == "client_id" || name == "redirect_uri")
    {
        return Err(Invalid::Untrusted {
            title: "Invalid sign-in request",
            message: format!("The sign-in request's {name} is too long."),
        });
    }
    let (client, redirect_uri) = trusted_client(client, &params)?;
    let response_type = params.response_type.as_deref().and_then(ResponseType::parse);
    let mut to = reply_to(&params, redirect_uri, response_type);
    if let Some(name) = too_long {
        // A state that is too long is not echoed: it would only make the answer as long.
        if name == "state" {
            to.state = None;
        }
        let limit = config.limits.parameter_length;
        return Err(Invalid::Reply {
            to,
            error: ErrorCode::InvalidRequest,
            description: format!("{name} is longer than {limit} bytes"),
        });
    }
    let fail = |error, description: String| Invalid::Reply {
        to: to.clone(),
        error,
        description,
    };
    if (client.require_par || client.is_fapi2()) && !arrival.pushed {
        let description = "this client must push its authorization requests to the PAR endpoint first".into();
        return Err(fail(ErrorCode::InvalidRequest, description));
    }
    if client.require_signed_request_object && !arrival.signed {
        let description = "this client must send its authorization requests as signed request objects".into();
        return Err(fail(ErrorCode::InvalidRequest, description));
    }
    let response_type = checked_response_type(client, &params, response_type).map_err(|(e, d)| fail(e, d))?;
    let scope = crate::domain::scopes::granted_scopes(config, client, params.scope.as_deref(), response_type)
        .map_err(|refused| fail(ErrorCode::InvalidScope, refused.to_string()))?;
    // PKCE binds a code to its redemption: without a code there is nothing to bind.
    let code_challenge = if response_type.code {
        code_challenge(client, params.code_challenge, params.code_challenge_method.as_deref())
            .map_err(|d| fail(ErrorCode::InvalidRequest, d.into()))?
    } else {
        None
    };
    let prompt = Prompt::parse(params.prompt.as_deref()).map_err(|d| fail(ErrorCode::InvalidRequest, d))?;
    let max_age = max_age(params.max_age.as_deref()).map_err(|d| fail(ErrorCode::InvalidRequest, d.into()))?;
    let (acr_values, acr_essential) =
        super::requirements::requested_acr(params.acr_values.as_deref(), params.claims.as_deref())
            .map_err(|d| fail(ErrorCode::InvalidRequest, d))?;
    if params
        .dpop_jkt
        .as_deref()
        .is_some_and(|jkt| !crate::dpop::is_thumbprint(jkt))
    {
        let description = "dpop_jkt must be a SHA-256 JWK thumbprint, base64url".into();
        return Err(fail(ErrorCode::InvalidRequest, description));
    }
    let resources = crate::domain::resources::checked(config, &params.resource)
        .map_err(|why| fail(ErrorCode::InvalidTarget, why))?;
    if let Some(upstream) = &params.upstream
        && !may_use(config, client, upstream)
    {
        let description = format!("upstream \"{upstream}\" is not available to this client");
        return Err(fail(ErrorCode::InvalidRequest, description));
    }
    Ok(Validated {
        client,
        request: AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri: to.redirect_uri.clone(),
            scope,
            state: params.state,
            nonce: params.nonce,
            code_challenge,
            response_type,
            response_mode: to.mode,
            prompt,
            max_age,
            login_hint: params.login_hint,
            acr_values,
            acr_essential,
            ui_locales: params.ui_locales,
            dpop_jkt: params.dpop_jkt,
            device_grant: None,
            resources,
        },
        upstream: params.upstream,
    })
}

/// How much of a refused redirect URI is logged.
const MAX_LOGGED_URI_CHARS: usize = 256;

/// The registered client and the registered redirect URI the request names.
fn trusted_client<'c>(client: Option<&'c Client>, params: &AuthorizeParams) -> Result<(&'c Client, String), Invalid> {
    let client_id = params.client_id.as_deref().unwrap_or_default();
    let Some(client) = client.filter(|c| c.id == client_id) else {
        let message = if client_id.is_empty() {
            "The sign-in request does not say which application it comes from.".into()
        } else {
            format!("No application with the id \"{client_id}\" is registered here.")
        };
        return Err(Invalid::Untrusted {
            title: "Unknown application",
            message,
        });
    };
    crate::telemetry::note_client(&client.id);
    let redirect_uri = params.redirect_uri.clone().unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        // The developer needs to see which address was refused; the log escapes control
        // characters, and the length is capped.
        let shown: String = redirect_uri.chars().take(MAX_LOGGED_URI_CHARS).collect();
        tracing::warn!(
            client = %client.id,
            redirect_uri = %shown,
            truncated = redirect_uri.chars().count() > MAX_LOGGED_URI_CHARS,
            "an authorization request names a redirect_uri the client has not registered"
        );
        return Err(Invalid::Untrusted {
            title: "Invalid return address",
            message: format!(
                "{} asked to return you to an address it has not registered, so the sign-in was stopped.",
                client.name
            ),
        });
    }
    Ok((client, redirect_uri))
}

/// Where errors go: the response type decides the default mode (a code in the query,
/// tokens in the fragment), so it is read before any error is sent back.
fn reply_to(params: &AuthorizeParams, redirect_uri: String, response_type: Option<ResponseType>) -> ReplyTo {
    let returns_tokens = response_type.is_some_and(ResponseType::returns_tokens);
    let mode = match params
        .response_mode
        .as_deref()
        .map(|m| ResponseMode::parse(m, returns_tokens))
    {
        Some(Some(mode)) if !(mode.carrier() == ResponseMode::Query && returns_tokens) => mode,
        _ => response_type.unwrap_or_default().default_mode(),
    };
    ReplyTo {
        redirect_uri,
        mode,
        state: params.state.clone(),
        client_id: params.client_id.clone().unwrap_or_default(),
        sealed: false,
    }
}

type Refusal = (ErrorCode, String);

/// The request's response type, if it is one this client may use with this mode.
fn checked_response_type(
    client: &Client,
    params: &AuthorizeParams,
    parsed: Option<ResponseType>,
) -> Result<ResponseType, Refusal> {
    let invalid = |d: &str| (ErrorCode::InvalidRequest, d.to_string());
    if params.request.is_some() {
        // Unpacked before validation; one left here is one that could not be.
        return Err((
            ErrorCode::InvalidRequestObject,
            "the request object cannot be read".into(),
        ));
    }
    if params.request_uri.is_some() {
        let description =
            "only request_uri values from the PAR endpoint are taken (request objects by reference are not)";
        return Err((ErrorCode::RequestUriNotSupported, description.into()));
    }
    let returns_tokens = parsed.is_some_and(ResponseType::returns_tokens);
    match params
        .response_mode
        .as_deref()
        .map(|m| ResponseMode::parse(m, returns_tokens))
    {
        Some(None) => {
            return Err(invalid(
                "response_mode must be query, fragment, form_post, or one of them .jwt, or jwt",
            ));
        }
        Some(Some(mode)) if mode.carrier() == ResponseMode::Query && returns_tokens => {
            return Err(invalid(
                "response_mode=query cannot carry tokens: use fragment or form_post",
            ));
        }
        _ => {}
    }
    let response_type = match (params.response_type.as_deref(), parsed) {
        (None, _) => return Err(invalid("response_type is missing")),
        (Some(text), None) => {
            let description = format!("\"{text}\" is not a response type this provider supports");
            return Err((ErrorCode::UnsupportedResponseType, description));
        }
        (Some(_), Some(response_type)) => response_type,
    };
    if !client.response_types.contains(&response_type) {
        let description = format!("this client may not use response_type={response_type}");
        return Err((ErrorCode::UnsupportedResponseType, description));
    }
    if response_type.id_token && params.nonce.is_none() {
        return Err(invalid(
            "nonce is required when the authorization endpoint returns an ID token",
        ));
    }
    Ok(response_type)
}

/// The request's PKCE challenge (RFC 7636), checked: S256 only, required of public clients.
fn code_challenge(
    client: &Client,
    challenge: Option<String>,
    method: Option<&str>,
) -> Result<Option<String>, &'static str> {
    match (challenge, method) {
        (Some(challenge), Some("S256")) => {
            let valid = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                Ok(Some(challenge))
            } else {
                Err("code_challenge must be a base64url SHA-256 (43 characters)")
            }
        }
        (Some(_), None | Some("plain")) => Err("code_challenge_method must be S256 (plain is not accepted)"),
        (Some(_), Some(_)) => Err("code_challenge_method must be S256"),
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (None, None) if !client.is_confidential() => {
            Err("PKCE (code_challenge with S256) is required for public clients")
        }
        (None, None) if client.is_fapi2() => Err("PKCE (code_challenge with S256) is required (FAPI 2.0)"),
        (None, None) => Ok(None),
    }
}

fn max_age(max_age: Option<&str>) -> Result<Option<i64>, &'static str> {
    match max_age {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Ok(Some(seconds)),
            _ => Err("max_age must be a non-negative whole number of seconds"),
        },
    }
}

/// Whether `client` may log people in through the upstream `id`.
pub fn may_use(config: &Config, client: &Client, id: &str) -> bool {
    config.upstream(id).is_some()
        && client
            .upstreams
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|a| a == id))
}

/// The upstreams `client` may use, in config order.
pub fn usable_upstreams<'c>(config: &'c Config, client: &Client) -> Vec<&'c Upstream> {
    config
        .upstreams
        .iter()
        .filter(|u| may_use(config, client, &u.id))
        .collect()
}
