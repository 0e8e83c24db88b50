//! A logout token from the upstream, validated as Back-Channel Logout 1.0 §2.6 says: a
//! JWS signed with one of the upstream's keys (the asymmetric algorithms its ID tokens may
//! use, checked by openidconnect's JWK code), from its issuer, for Gatehouse's client
//! there, issued just now and not yet expired (`exp` is required, §2.4), with the
//! back-channel logout event, a subject or a session, and no nonce (so that an ID token
//! cannot pass for one).

use super::IAT_WINDOW_SECS;
use crate::signed_jwt::{ASYMMETRIC_ALGS, Refused, SignedJwt};
use crate::upstream::{LoggedOut, LogoutNotice};
use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long after its `exp` a token is still taken, for clocks that are a little apart.
const EXP_LEEWAY_SECS: i64 = 60;

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: crate::signed_jwt::Audience,
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
    let jwt = SignedJwt::parse(token, "the logout token").map_err(Refused::Invalid)?;
    if let Some(typ) = &jwt.header.typ
        && !["jwt", "logout+jwt", "application/logout+jwt"].contains(&typ.as_str())
    {
        return Err(Refused::Invalid("the logout token's typ is not logout+jwt".into()));
    }
    jwt.verify_with(jwks, &ASYMMETRIC_ALGS)?;
    check(jwt.claims().map_err(Refused::Invalid)?, issuer, client_id, now)
}

fn check(claims: Claims, issuer: &str, client_id: &str, now: i64) -> Result<LogoutNotice, Refused> {
    let invalid = |why: &str| Err(Refused::Invalid(why.to_string()));
    if claims.iss != issuer {
        return invalid("the logout token is from another issuer");
    }
    if !claims.aud.contains(|aud| aud == client_id) {
        return invalid("the logout token is for another audience");
    }
    if (claims.iat - now).abs() > IAT_WINDOW_SECS {
        return invalid("the logout token was not issued just now (iat)");
    }
    match claims.exp {
        None => return invalid("the logout token has no exp"),
        Some(exp) if exp + EXP_LEEWAY_SECS < now => return invalid("the logout token has expired"),
        Some(_) => {}
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
