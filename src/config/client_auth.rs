//! How a client proves who it is at the token, introspection and revocation endpoints:
//! its secret (in clear or hashed), its public keys for `private_key_jwt` (inline or by
//! URL), and the method, checked against what it was given.

use super::checks::{check_argon2_hash, web_url};
use super::{AuthMethod, ClientJwks, ClientSecret, Problem, Secret, toml_to_json};
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKeySet, CoreJsonWebKeyType};
use std::sync::Arc;

/// The shortest secret `client_secret_jwt` takes: an HMAC key as long as the SHA-256
/// output at least (RFC 7518 §3.2).
const HMAC_SECRET_MIN_BYTES: usize = 32;

/// How the client authenticates, with what.
pub(super) struct Credentials {
    pub secret: Option<ClientSecret>,
    pub jwks: Option<ClientJwks>,
    pub method: AuthMethod,
}

/// What the client's table says about authentication.
pub(super) struct Given {
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    pub jwks: Option<toml::Value>,
    pub jwks_uri: Option<String>,
    pub method: Option<AuthMethod>,
}

pub(super) fn credentials(given: Given, at: &str, problems: &mut Vec<Problem>) -> Credentials {
    let key = |name: &str| format!("{at}.{name}");
    let has_hash = given.secret_hash.is_some();
    let secret = client_secret(given.secret, given.secret_hash, at, problems);
    let jwks = match (given.jwks, given.jwks_uri) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(key("jwks_uri"), "set either jwks or jwks_uri, not both"));
            None
        }
        (Some(value), None) => {
            inline_jwks(&key("jwks"), &value, problems).map(|keys| ClientJwks::Inline(Arc::new(keys)))
        }
        (None, Some(uri)) => web_url(&key("jwks_uri"), &uri, problems).map(|url| ClientJwks::Uri(url.to_string())),
        (None, None) => None,
    };
    let method = given.method.unwrap_or(match (&secret, &jwks) {
        (Some(_), _) => AuthMethod::ClientSecretBasic,
        (None, Some(_)) => AuthMethod::PrivateKeyJwt,
        (None, None) => AuthMethod::None,
    });
    let method_key = key("token_endpoint_auth_method");
    let mut problem = |message: &str| problems.push(Problem::new(method_key.clone(), message));
    match method {
        AuthMethod::None if secret.is_some() || jwks.is_some() => {
            problem("\"none\" is for public clients: remove the secret or keys, or name the method they are for")
        }
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost if secret.is_none() => {
            problem("needs secret or secret_hash; a public client uses \"none\"")
        }
        AuthMethod::ClientSecretJwt if has_hash => {
            problem("client_secret_jwt signs with the secret itself (an HMAC key): set secret, not secret_hash")
        }
        AuthMethod::ClientSecretJwt => match &secret {
            Some(ClientSecret::Plain(plain)) if plain.0.len() < HMAC_SECRET_MIN_BYTES => problem(&format!(
                "client_secret_jwt needs a secret of {HMAC_SECRET_MIN_BYTES} bytes or more (RFC 7518 §3.2)"
            )),
            Some(_) => {}
            None => problem("client_secret_jwt needs secret"),
        },
        AuthMethod::PrivateKeyJwt if jwks.is_none() => problem("private_key_jwt needs jwks or jwks_uri"),
        AuthMethod::PrivateKeyJwt if secret.is_some() => {
            problem("a private_key_jwt client proves itself with its keys: remove secret / secret_hash")
        }
        _ => {}
    }
    // Keys beside a secret sign the client's request objects (RFC 9101).
    Credentials { secret, jwks, method }
}

/// The client's secret: in clear or as an argon2 hash, never both; none for a public client.
fn client_secret(
    secret: Option<String>,
    secret_hash: Option<String>,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<ClientSecret> {
    match (secret, secret_hash) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                format!("{at}.secret_hash"),
                "set either secret or secret_hash, not both",
            ));
            None
        }
        (Some(secret), None) if secret.is_empty() => {
            problems.push(Problem::new(
                format!("{at}.secret"),
                "must not be empty (omit it for a public client)",
            ));
            None
        }
        (Some(secret), None) => Some(ClientSecret::Plain(Secret(secret))),
        (None, Some(hash)) => {
            check_argon2_hash(&format!("{at}.secret_hash"), &hash, problems);
            Some(ClientSecret::Argon2Hash(Secret(hash)))
        }
        (None, None) => None,
    }
}

/// A JWK set written as a TOML table (`jwks = { keys = [...] }`) or as its JSON text:
/// public keys only, at least one.
fn inline_jwks(key: &str, value: &toml::Value, problems: &mut Vec<Problem>) -> Option<CoreJsonWebKeySet> {
    let json = match value {
        toml::Value::String(text) => match serde_json::from_str(text) {
            Ok(json) => json,
            Err(e) => {
                problems.push(Problem::new(key, format!("is not JSON: {e}")));
                return None;
            }
        },
        other => toml_to_json(other),
    };
    public_jwks(json)
        .map_err(|why| problems.push(Problem::new(key, why)))
        .ok()
}

/// A client's JWK set, as JSON: public keys only, at least one Gatehouse can verify with.
pub fn public_jwks(json: serde_json::Value) -> Result<CoreJsonWebKeySet, String> {
    let holds_private = json["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some() || k.get("k").is_some()));
    if holds_private {
        return Err("holds a private or symmetric key: give the client's public keys only".into());
    }
    let jwks: CoreJsonWebKeySet =
        serde_json::from_value(json).map_err(|e| format!("is not a JWK set ({{\"keys\": [...]}}): {e}"))?;
    let usable = jwks.keys().iter().any(|k| {
        matches!(
            k.key_type(),
            CoreJsonWebKeyType::RSA | CoreJsonWebKeyType::EllipticCurve | CoreJsonWebKeyType::OctetKeyPair
        )
    });
    if !usable {
        return Err("has no RSA, EC or OKP public key".into());
    }
    Ok(jwks)
}
