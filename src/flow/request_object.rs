//! Signed request objects (JAR, RFC 9101): the authorization request's parameters as the
//! claims of a JWT the client signed, sent as `request` to `/authorize` or `/par`. Only
//! the request object's parameters count (§6.3): what else the query or form says is not
//! read, but for `client_id`, which must name the signer.
//!
//! The JWT is signed with a key of the client's (`jwks`/`jwks_uri`), or, for a client
//! that does not authenticate with keys, an HMAC of its secret as configured in clear;
//! `alg: none` never. Its `iss` is the client, its `aud` the issuer, its `exp` at most an
//! hour ahead, its `nbf` (when sent) at most an hour old, and its `jti` is taken once.

use super::{AuthorizeParams, Ctx};
use crate::client_keys::KeyFailure;
use crate::config::{AuthMethod, Client, ClientSecret};
use crate::signed_jwt::{ASYMMETRIC_ALGS, Audience, FAPI_ALGS, HMAC_ALGS, SignedJwt};
use crate::store::UsedClientAssertion;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::{Map, Value as Json};

/// How far apart the client's clock and ours may be.
const LEEWAY_SECS: i64 = 30;
/// The longest a request object may live, and the oldest its `nbf` may be.
const MAX_AGE_SECS: i64 = 3600;
const MAX_JTI_LEN: usize = 256;

/// Why a request object was refused (`invalid_request_object`), or that the client's keys
/// could not be had.
pub enum Unpacked {
    Invalid(String),
    Unavailable(String),
}

/// The parameters of the request object `jwt` that `client` sent.
pub async fn unpack(app: &Ctx<'_>, client: &Client, jwt: &str, now: i64) -> Result<AuthorizeParams, Unpacked> {
    let invalid = |why: String| Unpacked::Invalid(why);
    let parsed = SignedJwt::parse(jwt, "the request object").map_err(invalid)?;
    if let Some(typ) = &parsed.header.typ
        && !matches!(typ.as_str(), "oauth-authz-req+jwt" | "jwt")
    {
        return Err(invalid(format!(
            "a request object's typ is oauth-authz-req+jwt, not {typ}"
        )));
    }
    verify_signature(app, client, &parsed, now).await?;
    let claims: Map<String, Json> = parsed.claims().map_err(invalid)?;
    check_claims(&claims, client, &app.config.issuer, now).map_err(invalid)?;
    if let Some(Json::String(jti)) = claims.get("jti") {
        let key = format!("request:{}:{}:{jti}", client.id.len(), client.id);
        let exp = claims.get("exp").and_then(Json::as_i64).unwrap_or(now);
        let first = app
            .store
            .used_client_assertions
            .insert_new(
                &key,
                &UsedClientAssertion { used_at: now },
                Some(exp + LEEWAY_SECS),
                now,
            )
            .await
            .map_err(|e| Unpacked::Unavailable(e.to_string()))?;
        if !first {
            return Err(invalid("the request object was used before (jti)".into()));
        }
    }
    parameters(claims, client).map_err(invalid)
}

async fn verify_signature(app: &Ctx<'_>, client: &Client, jwt: &SignedJwt<'_>, now: i64) -> Result<(), Unpacked> {
    let allowed: &[CoreJwsSigningAlgorithm] = if client.is_fapi2() {
        &FAPI_ALGS
    } else {
        &ASYMMETRIC_ALGS
    };
    let hmac = HMAC_ALGS.contains(&jwt.header.alg);
    let keyed = client.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt || client.is_fapi2();
    match (hmac, &client.jwks, &client.secret) {
        (true, _, Some(ClientSecret::Plain(secret))) if !keyed => {
            jwt.verify_hmac(secret.0.as_bytes()).map_err(Unpacked::Invalid)
        }
        (true, _, _) => Err(Unpacked::Invalid(
            "an HMAC request object needs a client that shares its secret in clear (not private_key_jwt)".into(),
        )),
        (false, Some(jwks), _) => match app.client_keys.verify(app.http, jwt, jwks, allowed, now).await {
            Ok(()) => Ok(()),
            Err(KeyFailure::Refused(why)) => Err(Unpacked::Invalid(why)),
            Err(KeyFailure::Unavailable(why)) => Err(Unpacked::Unavailable(why)),
        },
        (false, None, _) => Err(Unpacked::Invalid(
            "the client has no keys (jwks or jwks_uri) to check a request object with".into(),
        )),
    }
}

fn check_claims(claims: &Map<String, Json>, client: &Client, issuer: &str, now: i64) -> Result<(), String> {
    let text = |name: &str| claims.get(name).and_then(Json::as_str);
    if text("iss") != Some(client.id.as_str()) {
        return Err("the request object's iss must be the client id".into());
    }
    if claims
        .get("client_id")
        .is_some_and(|id| id.as_str() != Some(client.id.as_str()))
    {
        return Err("the request object's client_id is not the client's".into());
    }
    let audience: Option<Audience> = claims
        .get("aud")
        .and_then(|aud| serde_json::from_value(aud.clone()).ok());
    if !audience.is_some_and(|aud| aud.contains(|a| a == issuer)) {
        return Err(format!("the request object's aud must be the issuer ({issuer})"));
    }
    let exp = claims
        .get("exp")
        .and_then(Json::as_i64)
        .ok_or("the request object needs exp")?;
    if exp + LEEWAY_SECS < now {
        return Err("the request object has expired".into());
    }
    if exp > now + MAX_AGE_SECS + LEEWAY_SECS {
        return Err("the request object's exp is more than an hour ahead".into());
    }
    if let Some(nbf) = claims.get("nbf").and_then(Json::as_i64)
        && (nbf > now + LEEWAY_SECS || nbf < now - MAX_AGE_SECS)
    {
        return Err("the request object's nbf is in the future or more than an hour old".into());
    }
    if client.is_fapi2() && !claims.contains_key("nbf") {
        return Err("the request object needs nbf (FAPI 2.0)".into());
    }
    match text("jti") {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => Ok(()),
        _ => Err(format!(
            "the request object needs a jti of 1 to {MAX_JTI_LEN} characters"
        )),
    }
}

/// The authorization parameters among the claims: strings as they are, numbers as text,
/// the `claims` parameter as its JSON, `resource` one or many; a request object inside a
/// request object is refused.
fn parameters(claims: Map<String, Json>, client: &Client) -> Result<AuthorizeParams, String> {
    const NOT_PARAMETERS: [&str; 7] = ["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];
    let mut params = Map::new();
    for (name, value) in claims {
        if NOT_PARAMETERS.contains(&name.as_str()) {
            continue;
        }
        if name == "request" || name == "request_uri" {
            return Err(format!("a request object cannot carry {name}"));
        }
        let value = match (name.as_str(), value) {
            ("resource", Json::String(one)) => Json::Array(vec![Json::String(one)]),
            ("resource", Json::Array(many)) => Json::Array(many),
            ("claims", object @ Json::Object(_)) => Json::String(object.to_string()),
            (_, Json::String(text)) => Json::String(text),
            (_, Json::Number(number)) => Json::String(number.to_string()),
            (name, _) => return Err(format!("the request object's {name} is not a string")),
        };
        params.insert(name, value);
    }
    params.insert("client_id".into(), Json::String(client.id.clone()));
    serde_json::from_value(Json::Object(params)).map_err(|e| format!("the request object's parameters: {e}"))
}
