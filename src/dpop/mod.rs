//! DPoP (RFC 9449): a client proves, request by request, that it holds the private key
//! its tokens are bound to. A proof is a JWT signed by that key, with the public key in
//! its header, naming the request's method and URL and, at a resource, the hash of the
//! access token; its `jti` is taken once. Tokens are bound to the key's thumbprint
//! (`cnf.jkt`, RFC 7638).

mod nonce;

pub use nonce::Nonces;

use crate::config::Config;
use crate::secrets;
use crate::signed_jwt::{ASYMMETRIC_ALGS, SignedJwt};
use crate::store::Store;
use crate::store::{StoreError, UsedDpopProof};
use axum::http::{HeaderMap, Method};
use openidconnect::core::CoreJsonWebKey;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The request header that carries a proof, and the one that carries the server's nonce.
pub const PROOF_HEADER: &str = "dpop";
pub const NONCE_HEADER: &str = "dpop-nonce";
/// How far a proof's `iat` may be from now, either way: proofs are made for one request.
const MAX_AGE_SECS: i64 = 60;
/// The longest `jti` taken.
const MAX_JTI_LEN: usize = 256;
/// Members of a JWK that only a private key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// Why a proof was not taken.
#[derive(Debug)]
pub enum DpopError {
    /// `invalid_dpop_proof`, with why.
    Invalid(String),
    /// `use_dpop_nonce`: the proof must carry this nonce of the server's.
    UseNonce(String),
    Store(StoreError),
}

impl From<StoreError> for DpopError {
    fn from(e: StoreError) -> Self {
        DpopError::Store(e)
    }
}

/// The request a proof is checked against.
pub struct Request<'r> {
    pub method: &'r Method,
    /// The path of the endpoint under the issuer.
    pub path: &'static str,
    /// The access token presented with the proof, at a resource (`ath`).
    pub access_token: Option<&'r str>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

/// The request's one `DPoP` header, if it has one (RFC 9449 §4.3: never two).
pub fn proof_of(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut values = headers.get_all(PROOF_HEADER).iter();
    let (first, second) = (values.next(), values.next());
    match (first, second) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(DpopError::Invalid("send one DPoP header, not several".into())),
        (Some(value), None) => value
            .to_str()
            .map(Some)
            .map_err(|_| DpopError::Invalid("the DPoP header is not text".into())),
    }
}

/// What checking proofs reads: the issuer and nonce settings, the store (proofs already
/// taken, the nonces), and this process's copy of the nonces.
#[derive(Clone)]
pub struct Checker {
    pub config: Arc<Config>,
    pub store: Store,
    pub dpop_nonces: Arc<Nonces>,
}

/// Checks `proof` for `request` (RFC 9449 §4.3) and takes its `jti`; returns the
/// thumbprint of the key that signed it.
pub async fn check(app: &Checker, proof: &str, request: &Request<'_>, now: i64) -> Result<String, DpopError> {
    let invalid = DpopError::Invalid;
    let jwt = SignedJwt::parse(proof, "the DPoP proof").map_err(invalid)?;
    if jwt.header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt".into()));
    }
    let jwk = match &jwt.header.jwk {
        Some(Json::Object(jwk)) => jwk,
        _ => return Err(invalid("the DPoP proof's header has no jwk".into())),
    };
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(invalid(format!(
            "the DPoP proof's jwk has a private member ({private}): send the public key only"
        )));
    }
    let jkt = thumbprint(jwk).map_err(invalid)?;
    let key: CoreJsonWebKey = serde_json::from_value(Json::Object(jwk.clone()))
        .map_err(|_| invalid("the DPoP proof's jwk is not a key".into()))?;
    jwt.verify_with_key(&key, &ASYMMETRIC_ALGS).map_err(invalid)?;
    let claims: Claims = jwt.claims().map_err(invalid)?;
    check_claims(&claims, request, &app.config.issuer, now).map_err(invalid)?;
    if app.config.dpop.require_nonce {
        let fresh = match &claims.nonce {
            Some(nonce) => app.dpop_nonces.accepts(&app.store, nonce, now).await?,
            None => false,
        };
        if !fresh {
            return Err(DpopError::UseNonce(app.dpop_nonces.current(&app.store, now).await?));
        }
    }
    let used = UsedDpopProof { used_at: now };
    let key = format!("{jkt}:{}", claims.jti);
    let expires = claims.iat + MAX_AGE_SECS + 1;
    if !app
        .store
        .used_dpop_proofs
        .insert_new(&key, &used, Some(expires), now)
        .await?
    {
        return Err(invalid("the DPoP proof was used before (jti)".into()));
    }
    Ok(jkt)
}

/// The nonce to hand out with an answer to a DPoP request, when nonces are required.
pub async fn nonce_to_send(app: &Checker, now: i64) -> Option<String> {
    if !app.config.dpop.require_nonce {
        return None;
    }
    match app.dpop_nonces.current(&app.store, now).await {
        Ok(nonce) => Some(nonce),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the DPoP nonce");
            None
        }
    }
}

fn check_claims(claims: &Claims, request: &Request<'_>, issuer: &str, now: i64) -> Result<(), String> {
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(format!("the DPoP proof needs a jti of 1 to {MAX_JTI_LEN} characters"));
    }
    if claims.htm != request.method.as_str() {
        return Err(format!("the DPoP proof is for {}, not {}", claims.htm, request.method));
    }
    let url = format!("{issuer}{}", request.path);
    if !same_url(&claims.htu, &url) {
        return Err(format!("the DPoP proof's htu must be {url}"));
    }
    if (claims.iat - now).abs() > MAX_AGE_SECS {
        return Err(format!(
            "the DPoP proof's iat is more than {MAX_AGE_SECS} s from the server's time"
        ));
    }
    match (request.access_token, &claims.ath) {
        (Some(token), Some(ath)) if secrets::equal(&secrets::s256(token), ath) => Ok(()),
        (Some(_), Some(_)) => Err("the DPoP proof's ath is not the hash of this access token".into()),
        (Some(_), None) => Err("the DPoP proof needs ath, the hash of the access token".into()),
        (None, _) => Ok(()),
    }
}

/// Whether `htu` names `url`, query and fragment aside (RFC 9449 §4.3), comparing them
/// as URLs (the scheme's and host's case, a default port).
fn same_url(htu: &str, url: &str) -> bool {
    let strip = |text: &str| {
        url::Url::parse(text).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    matches!((strip(htu), strip(url)), (Some(a), Some(b)) if a == b)
}

/// The JWK thumbprint (RFC 7638): SHA-256 of the key's required members, in order, as
/// compact JSON; base64url.
pub fn thumbprint(jwk: &Map<String, Json>) -> Result<String, String> {
    let required: &[&str] = match jwk.get("kty").and_then(Json::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err("the DPoP proof's jwk must be an EC, RSA or OKP public key".into()),
    };
    let mut members = BTreeMap::new();
    for name in required {
        let value = jwk
            .get(*name)
            .and_then(Json::as_str)
            .ok_or_else(|| format!("the DPoP proof's jwk has no {name}"))?;
        members.insert(*name, value);
    }
    let canonical = serde_json::to_string(&members).map_err(|e| e.to_string())?;
    Ok(secrets::hash(&canonical))
}

/// Whether `value` could be a thumbprint: 43 base64url characters (a SHA-256).
pub fn is_thumbprint(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_of_rfc_7638s_example_key() {
        let jwk = serde_json::json!({
            "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        });
        let Json::Object(jwk) = jwk else { unreachable!() };
        let jkt = thumbprint(&jwk);
        assert_eq!(jkt.as_deref(), Ok("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
        assert!(is_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
        assert!(!is_thumbprint("NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs"));
    }

    #[test]
    fn htu_is_compared_as_a_url_without_query_and_fragment() {
        let url = "https://id.example/token";
        assert!(same_url("https://ID.example:443/token?x=1#f", url));
        assert!(!same_url("https://id.example/token/", url));
        assert!(!same_url("http://id.example/token", url));
        assert!(!same_url("https://id.example/userinfo", url));
    }
}
