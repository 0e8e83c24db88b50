//! Pushed Authorization Requests (RFC 9126): a client sends its authorization request
//! straight to Gatehouse, authenticated, and gets a `request_uri` for it; the browser
//! then carries only `client_id` and that `request_uri` to `/authorize`, which takes the
//! pushed parameters, once, and nothing else from the query (§4).

use super::Ctx;
use super::request::{Arrival, Invalid, validate};
use super::request_object::Unpacked;
use super::{AuthorizeParams, ErrorCode, Outcome};
use crate::config::Client;
use crate::limits::Full;
use crate::secrets;
use crate::store::{PushedRequest, StoreError};
use std::net::IpAddr;

/// What every `request_uri` Gatehouse hands out starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for the browser: long enough for a redirect, short
/// enough that a leaked `request_uri` is soon worthless.
pub const PUSHED_TTL_SECS: i64 = 60;

/// Why a push was refused.
pub enum PushError {
    /// The request is not one `/authorize` would take: the error it would give.
    Refused(ErrorCode, String),
    /// Too many sign-ins are waiting.
    Busy(&'static str),
    Store(StoreError),
}

/// What a client pushed.
pub struct Pushed<'p> {
    pub pairs: &'p [(String, String)],
    /// The thumbprint of the key of the DPoP proof the push came with: the code will be
    /// bound to it (RFC 9449 §10.1).
    pub dpop_jkt: Option<String>,
    pub client_ip: Option<IpAddr>,
}

/// Checks the pushed parameters as `/authorize` will and keeps them; returns the
/// `request_uri` that names them.
pub async fn push(app: &Ctx<'_>, client: &Client, pushed: Pushed<'_>, now: i64) -> Result<String, PushError> {
    let invalid = |why: String| PushError::Refused(ErrorCode::InvalidRequest, why);
    let mut params = AuthorizeParams::from_pairs(pushed.pairs).map_err(invalid)?;
    if params.client_id.as_ref().is_some_and(|id| *id != client.id) {
        return Err(invalid("client_id is not the authenticated client".into()));
    }
    let signed = params.request.is_some();
    if let Some(jwt) = params.request.take() {
        params = match super::request_object::unpack(app, client, &jwt, now).await {
            Ok(unpacked) => unpacked,
            Err(Unpacked::Invalid(why)) => return Err(PushError::Refused(ErrorCode::InvalidRequestObject, why)),
            Err(Unpacked::Unavailable(why)) => {
                tracing::warn!(client = %client.id, "a request object's keys cannot be fetched: {why}");
                return Err(PushError::Busy("the client's keys cannot be fetched now"));
            }
        };
    }
    if client.is_fapi2() && pushed.dpop_jkt.is_none() && params.dpop_jkt.is_none() {
        // FAPI 2.0 §5.3.2.2: the code is bound to the client's DPoP key from the start.
        return Err(invalid("a FAPI 2.0 client pushes with a DPoP proof or dpop_jkt".into()));
    }
    if let Some(proven) = pushed.dpop_jkt {
        match &params.dpop_jkt {
            Some(sent) if *sent != proven => {
                return Err(invalid("dpop_jkt is not the thumbprint of the DPoP proof's key".into()));
            }
            _ => params.dpop_jkt = Some(proven),
        }
    }
    if params.request_uri.is_some() {
        return Err(invalid("request_uri cannot be pushed (RFC 9126 §2.1)".into()));
    }
    match &params.client_id {
        Some(id) if *id != client.id => return Err(invalid("client_id is not the authenticated client".into())),
        Some(_) => {}
        None => params.client_id = Some(client.id.clone()),
    }
    let arrival = Arrival { pushed: true, signed };
    validate(app.config, Some(client), params.clone(), arrival).map_err(|refused| match refused {
        Invalid::Untrusted { message, .. } => invalid(message),
        Invalid::Reply { error, description, .. } => PushError::Refused(error, description),
    })?;
    let handle = secrets::random_token();
    let quota_id = format!("par:{handle}");
    // A confidential client's server pushes for many people from one address: only the
    // total bounds it; a public client's pushes count against their address too.
    let address = pushed.client_ip.filter(|_| !client.is_confidential());
    if let Err(full) = app
        .guards
        .pending_logins
        .admit(&quota_id, address, now, now + PUSHED_TTL_SECS)
    {
        let limit = match full {
            Full::Total => "pending_logins",
            Full::ThisAddress => "pending_logins_per_ip",
        };
        app.telemetry.refused(limit);
        return Err(PushError::Busy("too many sign-ins are in progress; try again later"));
    }
    let record = PushedRequest {
        client_id: client.id.clone(),
        params: serde_json::to_value(&params).map_err(|e| PushError::Store(StoreError::Backend(e.to_string())))?,
        signed,
    };
    let stored = app
        .store
        .pushed_requests
        .insert_new(&handle, &record, Some(now + PUSHED_TTL_SECS), now)
        .await;
    match stored {
        Ok(true) => Ok(format!("{REQUEST_URI_PREFIX}{handle}")),
        Ok(false) => {
            app.guards.pending_logins.release(&quota_id);
            Err(PushError::Store(StoreError::Backend(
                "a request_uri was made twice".into(),
            )))
        }
        Err(e) => {
            app.guards.pending_logins.release(&quota_id);
            Err(PushError::Store(e))
        }
    }
}

/// The parameters `/authorize` goes on with, and whether they were pushed: those of the
/// pushed request that `request_uri` names (taken: a second use finds nothing), or the
/// ones sent when there is no Gatehouse `request_uri`.
pub async fn resolve(app: &Ctx<'_>, params: AuthorizeParams, now: i64) -> Result<(AuthorizeParams, Arrival), Outcome> {
    let Some(handle) = params
        .request_uri
        .as_deref()
        .and_then(|uri| uri.strip_prefix(REQUEST_URI_PREFIX))
    else {
        return Ok((params, Arrival::default()));
    };
    let expired = || Outcome::Untrusted {
        title: "Sign-in request expired".into(),
        message: "This sign-in request has expired or was used already. Go back to the application and sign in again."
            .into(),
    };
    let pushed = app
        .store
        .pushed_requests
        .take(handle, now)
        .await
        .map_err(Outcome::from)?;
    let Some(pushed) = pushed else {
        return Err(expired());
    };
    app.guards.pending_logins.release(&format!("par:{handle}"));
    // The request_uri is the client's: another client_id (or none) cannot use it.
    if params.client_id.as_deref() != Some(pushed.client_id.as_str()) {
        return Err(expired());
    }
    let params = serde_json::from_value(pushed.params).map_err(|_| expired())?;
    let arrival = Arrival {
        pushed: true,
        signed: pushed.signed,
    };
    Ok((params, arrival))
}
