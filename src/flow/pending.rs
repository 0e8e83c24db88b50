//! Parked requests: an authorization request waits in the store while the person logs in
//! upstream or decides on consent. Each belongs to the browser that started it and
//! finishes at most once.

use super::{Flow, Outcome};
use crate::secrets;
use crate::store::{AuthorizationRequest, CompletedLogin, PendingAuthorization, Store, StoreError};

/// How long a person has to log in upstream and decide on consent.
pub const PENDING_TTL: i64 = 15 * 60;

/// Parks a request while the person logs in; returns its id (also the upstream `state`).
pub async fn park(
    store: &Store,
    request: AuthorizationRequest,
    browser: &str,
    login: Option<CompletedLogin>,
    force_login: bool,
    now: i64,
) -> Result<(String, PendingAuthorization), StoreError> {
    let id = secrets::random_token();
    let pending = PendingAuthorization {
        request,
        browser: secrets::hash(browser),
        csrf: secrets::random_token(),
        upstream: None,
        upstream_nonce: None,
        pkce_verifier: None,
        force_login,
        login,
    };
    keep(store, &id, &pending, now).await?;
    Ok((id, pending))
}

/// Stores `pending` under `id` (again), for the rest of the time a login may take.
pub async fn keep(store: &Store, id: &str, pending: &PendingAuthorization, now: i64) -> Result<(), StoreError> {
    store
        .pending_authorizations
        .put(id, pending, Some(now + PENDING_TTL))
        .await
}

/// The parked request `id`, if it belongs to this browser and `accept` agrees (a CSRF
/// token, the upstream it went to); otherwise the login has expired.
pub async fn resume(
    store: &Store,
    id: &str,
    browser: Option<&str>,
    now: i64,
    accept: impl Fn(&PendingAuthorization) -> bool,
) -> Flow<PendingAuthorization> {
    let pending = store
        .pending_authorizations
        .get(id, now)
        .await?
        .ok_or(Outcome::Expired)?;
    let ours = browser.is_some_and(|b| secrets::equal(&secrets::hash(b), &pending.browser));
    if ours && accept(&pending) {
        Ok(pending)
    } else {
        Err(Outcome::Expired)
    }
}

/// Takes the parked request `id` out of the store: each one finishes at most once.
pub async fn use_up(store: &Store, id: &str, now: i64) -> Flow<()> {
    match store.pending_authorizations.take(id, now).await? {
        Some(_) => Ok(()),
        None => Err(Outcome::Expired),
    }
}
