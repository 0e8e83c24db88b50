//! Whether an access token is active at Gatehouse's own endpoints (userinfo,
//! introspection, token exchange): signed by this issuer and not expired, and not ended
//! since — revoked by its `jti`, its session ended, its person's grant to its client
//! withdrawn, its client no longer configured, or (for an exchanged token) any of the
//! tokens it was exchanged from no longer active. Resource servers that verify the JWT
//! offline see none of these: they see `exp`.

use crate::config::Config;
use crate::keys::{Keys, TokenType};
use crate::store::{Consent, ExchangedSubject, Store, StoreError};
use serde_json::{Map, Value as Json};

/// The claims of `token` if it is an active access token of this issuer; else why not.
pub async fn active_access_token(
    config: &Config,
    keys: &Keys,
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Map<String, Json>, &'static str> {
    let claims = keys
        .verify(token, TokenType::Access, now)
        .map_err(|_| "the access token is not valid")?;
    let Json::Object(claims) = claims else {
        return Err("the access token is not valid");
    };
    if claims.get("iss").and_then(Json::as_str) != Some(config.issuer.as_str()) {
        return Err("the access token is not from this issuer");
    }
    if claims.get("exp").and_then(Json::as_i64).is_none_or(|exp| exp <= now) {
        return Err("the access token has expired");
    }
    match ended(config, store, &claims, now).await {
        Ok(None) => Ok(claims),
        Ok(Some(why)) => Err(why),
        Err(e) => {
            tracing::error!(error = %e, "cannot check whether an access token was ended");
            Err("the access token cannot be checked now")
        }
    }
}

/// Why the verified, unexpired access token `claims` was ended, if it was.
async fn ended(
    config: &Config,
    store: &Store,
    claims: &Map<String, Json>,
    now: i64,
) -> Result<Option<&'static str>, StoreError> {
    let text = |name: &str| claims.get(name).and_then(Json::as_str);
    let (Some(jti), Some(client_id), Some(sub)) = (text("jti"), text("client_id"), text("sub")) else {
        return Ok(Some("the access token lacks jti, client_id or sub"));
    };
    let iat = claims.get("iat").and_then(Json::as_i64).unwrap_or(i64::MAX);
    let this = ExchangedSubject {
        jti: jti.to_string(),
        client_id: client_id.to_string(),
        iat,
    };
    let session = async {
        match text("sid") {
            Some(sid) => store.ended_sessions.get(sid, now).await.map(|e| e.is_some()),
            None => Ok(false),
        }
    };
    // The reads are independent: on PostgreSQL they go to the database side by side.
    let (own, session_ended, exchanged_from) = tokio::try_join!(
        issued_token_ended(config, store, sub, &this, now),
        session,
        store.exchanged_tokens.get(jti, now),
    )?;
    if own.is_some() {
        return Ok(own);
    }
    if session_ended {
        return Ok(Some("the session the access token was issued in has ended"));
    }
    for subject in exchanged_from.map(|e| e.subjects).unwrap_or_default() {
        if issued_token_ended(config, store, sub, &subject, now).await?.is_some() {
            return Ok(Some("a token the access token was exchanged from is no longer active"));
        }
    }
    Ok(None)
}

/// Why the token `token` of `sub` was ended by what names it or its client, if it was:
/// revoked, its client gone, or the person's grant to the client withdrawn since it was
/// issued.
async fn issued_token_ended(
    config: &Config,
    store: &Store,
    sub: &str,
    token: &ExchangedSubject,
    now: i64,
) -> Result<Option<&'static str>, StoreError> {
    if config.client(&token.client_id).is_none() {
        return Ok(Some(
            "the client the access token was issued to is no longer configured",
        ));
    }
    let grant = Consent::key(sub, &token.client_id);
    let (revoked, withdrawn) = tokio::try_join!(
        store.revoked_tokens.get(&token.jti, now),
        store.withdrawn_grants.get(&grant, now),
    )?;
    if revoked.is_some() {
        return Ok(Some("the access token was revoked"));
    }
    // A token issued in the second of the withdrawal is ended too: the safe side.
    if withdrawn.is_some_and(|w| token.iat <= w.withdrawn_at) {
        return Ok(Some("the person withdrew the grant to the client"));
    }
    Ok(None)
}
