//! Whether an access token is active at Gatehouse's own endpoints (userinfo,
//! introspection, token exchange): signed by this issuer and not expired, and not ended
//! since — revoked by its `jti`, its session ended, its person's grant to its client
//! withdrawn, its client no longer configured, or (for an exchanged token) any of the
//! tokens it was exchanged from no longer active. Resource servers that verify the JWT
//! offline see none of these: they see `exp`.

use crate::config::Config;
use crate::keys::{Keys, TokenType};
use crate::store::{
    Account, Consent, ExchangedSubject, Found, Reads, RegisteredClient, RevokedToken, Slot, Store, StoreError,
    WithdrawnGrant,
};
use serde_json::{Map, Value as Json};

/// Why an access token is not taken.
#[derive(Debug)]
pub enum Inactive {
    /// It is not active, for this reason.
    Ended(&'static str),
    /// Whether it was ended cannot be read now: neither active nor inactive (503).
    Unknown(StoreError),
}

/// An active access token: its claims, and the account of its `sub` when asked for.
pub struct ActiveToken {
    pub claims: Map<String, Json>,
    pub account: Option<Account>,
}

/// The claims of `token` if it is an active access token of this issuer; else why not.
pub async fn active_access_token(
    config: &Config,
    keys: &Keys,
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Map<String, Json>, Inactive> {
    Ok(active_token(config, keys, store, token, false, now).await?.claims)
}

/// [`active_access_token`], with the account of its `sub` read in the same round trip
/// as what could have ended it (userinfo answers from it).
pub async fn active_access_token_and_account(
    config: &Config,
    keys: &Keys,
    store: &Store,
    token: &str,
    now: i64,
) -> Result<ActiveToken, Inactive> {
    active_token(config, keys, store, token, true, now).await
}

async fn active_token(
    config: &Config,
    keys: &Keys,
    store: &Store,
    token: &str,
    with_account: bool,
    now: i64,
) -> Result<ActiveToken, Inactive> {
    let claims = keys
        .verify(token, TokenType::Access, now)
        .map_err(|_| Inactive::Ended("the access token is not valid"))?;
    let Json::Object(claims) = claims else {
        return Err(Inactive::Ended("the access token is not valid"));
    };
    if claims.get("iss").and_then(Json::as_str) != Some(config.issuer.as_str()) {
        return Err(Inactive::Ended("the access token is not from this issuer"));
    }
    if claims.get("exp").and_then(Json::as_i64).is_none_or(|exp| exp <= now) {
        return Err(Inactive::Ended("the access token has expired"));
    }
    match ended(config, store, &claims, with_account, now).await {
        Ok(Ok(account)) => Ok(ActiveToken { claims, account }),
        Ok(Err(why)) => Err(Inactive::Ended(why)),
        Err(e) => Err(Inactive::Unknown(e)),
    }
}

/// Why the verified, unexpired access token `claims` was ended, if it was; else the
/// account of its `sub` when `with_account`. What ends it is read together (one round
/// trip on PostgreSQL), and for an exchanged token what ends the tokens it came from in
/// a second.
async fn ended(
    config: &Config,
    store: &Store,
    claims: &Map<String, Json>,
    with_account: bool,
    now: i64,
) -> Result<Result<Option<Account>, &'static str>, StoreError> {
    let text = |name: &str| claims.get(name).and_then(Json::as_str);
    let (Some(jti), Some(client_id), Some(sub)) = (text("jti"), text("client_id"), text("sub")) else {
        return Ok(Err("the access token lacks jti, client_id or sub"));
    };
    let this = ExchangedSubject {
        jti: jti.to_string(),
        client_id: client_id.to_string(),
        iat: claims.get("iat").and_then(Json::as_i64).unwrap_or(i64::MAX),
    };
    let mut reads = store.reads();
    let own = IssuedToken::ask(&mut reads, store, sub, &this);
    let session = text("sid").map(|sid| reads.add(&store.ended_sessions, sid));
    let exchanged_from = reads.add(&store.exchanged_tokens, jti);
    let account = with_account.then(|| reads.add(&store.accounts, sub));
    let mut found = reads.run(now).await?;
    if let Some(why) = own.ended(config, &mut found)? {
        return Ok(Err(why));
    }
    if let Some(session) = session
        && found.take(session)?.is_some()
    {
        return Ok(Err("the session the access token was issued in has ended"));
    }
    let account = match account {
        Some(slot) => found.take(slot)?,
        None => None,
    };
    let Some(exchanged_from) = found.take(exchanged_from)? else {
        return Ok(Ok(account));
    };
    let mut reads = store.reads();
    let subjects: Vec<IssuedToken> = exchanged_from
        .subjects
        .iter()
        .map(|subject| IssuedToken::ask(&mut reads, store, sub, subject))
        .collect();
    let mut found = reads.run(now).await?;
    for subject in subjects {
        if subject.ended(config, &mut found)?.is_some() {
            return Ok(Err("a token the access token was exchanged from is no longer active"));
        }
    }
    Ok(Ok(account))
}

/// What ends an issued token by its own `jti` and client: its revocation, and a
/// withdrawal of the person's grant to the client since it was issued.
struct IssuedToken<'t> {
    token: &'t ExchangedSubject,
    revoked: Slot<RevokedToken>,
    withdrawn: Slot<WithdrawnGrant>,
    /// The client's registration, when it is not a config client but may be registered.
    registration: Option<Slot<RegisteredClient>>,
}

impl<'t> IssuedToken<'t> {
    /// Asks `reads` for what may have ended `token` of `sub`.
    fn ask(reads: &mut Reads, store: &Store, sub: &str, token: &'t ExchangedSubject) -> IssuedToken<'t> {
        IssuedToken {
            token,
            revoked: reads.add(&store.revoked_tokens, &token.jti),
            withdrawn: reads.add(&store.withdrawn_grants, &Consent::key(sub, &token.client_id)),
            registration: token
                .client_id
                .starts_with(super::clients::REGISTERED_ID_PREFIX)
                .then(|| reads.add(&store.registered_clients, &token.client_id)),
        }
    }

    /// Why the token was ended, if it was: revoked, its client gone, or the grant
    /// withdrawn since it was issued.
    fn ended(self, config: &Config, found: &mut Found) -> Result<Option<&'static str>, StoreError> {
        let registered = match self.registration {
            Some(slot) => found.take(slot)?.is_some(),
            None => false,
        };
        let by_document = config
            .client_id_metadata_documents
            .names_document(&self.token.client_id);
        if config.client(&self.token.client_id).is_none() && !registered && !by_document {
            return Ok(Some(
                "the client the access token was issued to is no longer configured",
            ));
        }
        if found.take(self.revoked)?.is_some() {
            return Ok(Some("the access token was revoked"));
        }
        // A token issued in the second of the withdrawal is ended too: the safe side.
        if found
            .take(self.withdrawn)?
            .is_some_and(|w| self.token.iat <= w.withdrawn_at)
        {
            return Ok(Some("the person withdrew the grant to the client"));
        }
        Ok(None)
    }
}
