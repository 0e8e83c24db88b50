//! Client authentication with a JWT (RFC 7523 §2.2 and §3, OpenID Connect Core §9):
//! `private_key_jwt`, signed with one of the client's keys, and `client_secret_jwt`,
//! an HMAC with its secret. The assertion is from the client about itself (`iss` =
//! `sub` = client id), for this provider (`aud`: the issuer, the token endpoint, or the
//! endpoint it is presented at), unexpired, and taken once (its `jti` is kept until `exp`).

use crate::client_keys::KeyFailure;
use crate::config::{AuthMethod, Client, ClientJwks, ClientSecret};
use crate::signed_jwt::{ASYMMETRIC_ALGS, Audience, FAPI_ALGS, SignedJwt};
use crate::store::UsedClientAssertion;
use crate::tokens::TokenError;
use serde::Deserialize;
use std::sync::Arc;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far apart the client's clock and ours may be.
const LEEWAY_SECS: i64 = 30;
/// The longest an assertion may live: its `jti` is kept that long, so a bound on the
/// lifetime is a bound on what replays cost to remember.
pub const MAX_LIFETIME_SECS: i64 = 600;
/// The longest `jti` taken.
const MAX_JTI_LEN: usize = 256;

/// Why an assertion was refused, for the telemetry's reason label and the answer.
pub enum Failure {
    /// Not valid: the reason label, and a description for the client.
    Refused(&'static str, String),
    /// The keys or the store cannot be reached now.
    Unavailable(TokenError),
}

#[derive(Deserialize)]
struct Names {
    iss: Option<String>,
    sub: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: String,
}

/// The client an assertion says it is from, read before its signature is checked: only
/// to find whose keys check it.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let jwt = SignedJwt::parse(assertion, "the client assertion").ok()?;
    let names: Names = jwt.unverified_claims()?;
    names.sub.or(names.iss)
}

/// What checking a client assertion reads: the issuer, the assertions already taken,
/// the clients' published keys and the client for fetching them, the clock.
#[derive(Clone, Copy)]
pub struct Verifier<'a> {
    pub config: &'a crate::config::Config,
    pub store: &'a crate::store::Store,
    pub client_keys: &'a crate::client_keys::ClientKeys,
    pub http: &'a crate::upstream::UpstreamHttp,
    pub clock: &'a crate::Clock,
}

/// Checks `assertion` from `client`, presented at `endpoint` (its full URL).
pub async fn verify(state: Verifier<'_>, client: &Arc<Client>, assertion: &str, endpoint: &str) -> Result<(), Failure> {
    let refused = |why: String| Failure::Refused("bad_assertion", why);
    let jwt = SignedJwt::parse(assertion, "the client assertion").map_err(refused)?;
    let now = state.clock.now();
    match (&client.token_endpoint_auth_method, &client.jwks, &client.secret) {
        (AuthMethod::PrivateKeyJwt, Some(jwks), _) => {
            let allowed: &[_] = if client.is_fapi2() {
                &FAPI_ALGS
            } else {
                &ASYMMETRIC_ALGS
            };
            verify_with_keys(state, &jwt, jwks, allowed, now).await?
        }
        (AuthMethod::ClientSecretJwt, _, Some(ClientSecret::Plain(secret))) => {
            jwt.verify_hmac(secret.0.as_bytes()).map_err(refused)?
        }
        _ => {
            return Err(Failure::Refused(
                "wrong_method",
                "the client does not authenticate with a JWT".into(),
            ));
        }
    }
    let claims: Claims = jwt.claims().map_err(refused)?;
    check(&claims, &client.id, &state.config.issuer, endpoint, now).map_err(refused)?;
    if client.is_fapi2() && !matches!(&claims.aud, Audience::One(aud) if *aud == state.config.issuer) {
        // FAPI 2.0 §5.3.2.1 (final): the issuer identifier as a string, and nothing else.
        return Err(refused(format!(
            "a FAPI 2.0 client assertion's aud is the issuer ({}) as a string, nothing else",
            state.config.issuer
        )));
    }
    let key = format!("{}:{}:{}", client.id.len(), client.id, claims.jti);
    let used = UsedClientAssertion { used_at: now };
    let first = state
        .store
        .used_client_assertions
        .insert_new(&key, &used, Some(claims.exp + LEEWAY_SECS), now)
        .await
        .map_err(|e| Failure::Unavailable(e.into()))?;
    if !first {
        return Err(Failure::Refused(
            "replayed_assertion",
            "the client assertion was used before (jti)".into(),
        ));
    }
    Ok(())
}

async fn verify_with_keys(
    state: Verifier<'_>,
    jwt: &SignedJwt<'_>,
    jwks: &ClientJwks,
    allowed: &[openidconnect::core::CoreJwsSigningAlgorithm],
    now: i64,
) -> Result<(), Failure> {
    match state.client_keys.verify(state.http, jwt, jwks, allowed, now).await {
        Ok(()) => Ok(()),
        Err(KeyFailure::Refused(why)) => Err(Failure::Refused("bad_assertion", why)),
        Err(KeyFailure::Unavailable(why)) => Err(Failure::Unavailable(TokenError::TemporarilyUnavailable(format!(
            "the client's keys: {why}"
        )))),
    }
}

fn check(claims: &Claims, client_id: &str, issuer: &str, endpoint: &str, now: i64) -> Result<(), String> {
    if claims.iss != client_id || claims.sub != client_id {
        return Err("the client assertion's iss and sub must both be the client id".into());
    }
    let token_endpoint = format!("{issuer}{}", crate::routes::TOKEN);
    if !claims
        .aud
        .contains(|aud| aud == issuer || aud == token_endpoint || aud == endpoint)
    {
        return Err(format!(
            "the client assertion's aud must be the issuer ({issuer}) or the token endpoint"
        ));
    }
    if claims.exp + LEEWAY_SECS < now {
        return Err("the client assertion has expired".into());
    }
    if claims.exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(format!(
            "the client assertion lives too long: exp at most {MAX_LIFETIME_SECS} s from now"
        ));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) || claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECS) {
        return Err("the client assertion is not valid yet (nbf or iat in the future)".into());
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(format!(
            "the client assertion needs a jti of 1 to {MAX_JTI_LEN} characters"
        ));
    }
    Ok(())
}
