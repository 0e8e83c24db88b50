//! A logout token from the upstream, validated as Back-Channel Logout 1.0 §2.6 says: a
//! JWS signed with one of the upstream's keys (the asymmetric algorithms its ID tokens may
//! use, checked by openidconnect's JWK code), from its issuer, for Gatehouse's client
//! there, issued just now, with the back-channel logout event, a subject or a session,
//! and no nonce (so that an ID token cannot pass for one).

use super::{ALLOWED_ALGS, IAT_WINDOW_SECS};
use crate::upstream::{LoggedOut, LogoutNotice};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long after its `exp` a token is still taken, for clocks that are a little apart.
const EXP_LEEWAY_SECS: i64 = 60;

/// Why a logout token was not taken.
#[derive(Debug)]
pub(super) enum Refused {
    /// No key of the JWKS fits the token's `kid` and `alg`: the upstream may have a new one.
    NoMatchingKey,
    Invalid(String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Json>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    iat: i64,
    exp: Option<i64>,
    jti: String,
    sub: Option<String>,
    sid: Option<String>,
    events: Map<String, Json>,
    nonce: Option<Json>,
}

/// What the logout token `token` names, if it is one from `issuer` for `client_id`.
pub(super) fn verify(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<LogoutNotice, Refused> {
    let invalid = |why: &str| Refused::Invalid(why.to_string());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the logout token is not a signed JWT"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid("the logout token is not base64url"));
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| invalid("the logout token's header is malformed"))?;
    if header.crit.is_some() {
        return Err(invalid("the logout token has critical header parameters"));
    }
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_lowercase();
        if !["jwt", "logout+jwt", "application/logout+jwt"].contains(&typ.as_str()) {
            return Err(invalid("the logout token's typ is not logout+jwt"));
        }
    }
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(Json::String(header.alg))
        .ok()
        .filter(|alg| ALLOWED_ALGS.contains(alg))
        .ok_or_else(|| invalid("the logout token is not signed with an accepted algorithm"))?;
    let signature = decode(signature)?;
    let signed = &token[..header_and_payload_len(token)];
    let mut candidates = jwks.keys().iter().filter(|key| {
        let kid_fits = header
            .kid
            .as_deref()
            .is_none_or(|kid| key.key_id().is_some_and(|k| k.as_str() == kid));
        let use_fits = key.key_use().is_none_or(|u| u.allows_signature());
        let alg_fits = match key.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(key_alg) => *key_alg == alg,
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Unsupported => false,
        };
        kid_fits && use_fits && alg_fits
    });
    let mut any = false;
    let verified = candidates.any(|key| {
        any = true;
        key.verify_signature(&alg, signed.as_bytes(), &signature).is_ok()
    });
    match (any, verified) {
        (false, _) => return Err(Refused::NoMatchingKey),
        (true, false) => return Err(invalid("the logout token's signature does not verify")),
        (true, true) => {}
    }
    let claims: Claims =
        serde_json::from_slice(&decode(payload)?).map_err(|e| Refused::Invalid(format!("the logout token's claims: {e}")))?;
    check(claims, issuer, client_id, now)
}

/// The length of `header.payload`, the part the signature covers.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn check(claims: Claims, issuer: &str, client_id: &str, now: i64) -> Result<LogoutNotice, Refused> {
    let invalid = |why: &str| Err(Refused::Invalid(why.to_string()));
    if claims.iss != issuer {
        return invalid("the logout token is from another issuer");
    }
    let for_us = match &claims.aud {
        Audience::One(aud) => aud == client_id,
        Audience::Many(auds) => auds.iter().any(|aud| aud == client_id),
    };
    if !for_us {
        return invalid("the logout token is for another audience");
    }
    if (claims.iat - now).abs() > IAT_WINDOW_SECS {
        return invalid("the logout token was not issued just now (iat)");
    }
    if claims.exp.is_some_and(|exp| exp + EXP_LEEWAY_SECS < now) {
        return invalid("the logout token has expired");
    }
    if !claims.events.get(BACKCHANNEL_LOGOUT_EVENT).is_some_and(Json::is_object) {
        return invalid("the logout token has no back-channel logout event");
    }
    if claims.nonce.is_some() {
        return invalid("the logout token has a nonce (an ID token?)");
    }
    if claims.jti.is_empty() {
        return invalid("the logout token has no jti");
    }
    let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
    let session = match (non_empty(claims.sub), non_empty(claims.sid)) {
        (subject, Some(sid)) => LoggedOut::Session { sid, subject },
        (Some(subject), None) => LoggedOut::Subject(subject),
        (None, None) => return invalid("the logout token names neither a subject nor a session"),
    };
    Ok(LogoutNotice {
        session,
        jti: claims.jti,
        // A replay after this has an iat too old to be taken anyway.
        remember_until: claims.iat + IAT_WINDOW_SECS + EXP_LEEWAY_SECS,
    })
}
