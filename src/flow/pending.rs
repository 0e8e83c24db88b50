//! Parked requests: an authorization request waits in the store while the person logs in
//! upstream or decides on consent. Each belongs to the browser that started it and
//! finishes at most once.

use super::Ctx;
use super::{ErrorCode, Flow, Outcome, ReplyTo};
use crate::limits::Full;
use crate::secrets;
use crate::store::{AuthorizationRequest, CompletedLogin, PendingAuthorization, Store, StoreError};
use std::net::IpAddr;

/// How long a person has to log in upstream and decide on consent.
pub const PENDING_TTL: i64 = 15 * 60;

/// Parks a request of someone who has logged in (for consent); returns its id.
pub async fn park(
    store: &Store,
    request: AuthorizationRequest,
    browser: &str,
    login: CompletedLogin,
    now: i64,
) -> Result<(String, PendingAuthorization), StoreError> {
    let id = secrets::random_token();
    let pending = record(request, browser, Some(login), now);
    keep(store, &id, &pending, now).await?;
    Ok((id, pending))
}

/// Parks the request of someone about to log in at an upstream, if the live pending
/// logins leave room (anyone may start one: only so many may wait in the store at
/// once); returns its id (also the upstream `state`).
pub async fn park_anonymous(
    app: &Ctx<'_>,
    request: AuthorizationRequest,
    browser: &str,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Flow<(String, PendingAuthorization)> {
    let id = secrets::random_token();
    if let Err(full) = app.guards.pending_logins.admit(&id, client_ip, now, now + PENDING_TTL) {
        let (description, limit) = match full {
            Full::Total => ("too many sign-ins are in progress; try again later", "pending_logins"),
            Full::ThisAddress => (
                "too many sign-ins are in progress from this address; try again later",
                "pending_logins_per_ip",
            ),
        };
        app.telemetry.refused(limit);
        return Err(Outcome::refuse(
            &ReplyTo::of(&request),
            ErrorCode::TemporarilyUnavailable,
            description,
        ));
    }
    let pending = record(request, browser, None, now);
    if let Err(e) = keep(app.store, &id, &pending, now).await {
        app.guards.pending_logins.release(&id);
        return Err(e.into());
    }
    Ok((id, pending))
}

fn record(
    request: AuthorizationRequest,
    browser: &str,
    login: Option<CompletedLogin>,
    now: i64,
) -> PendingAuthorization {
    PendingAuthorization {
        request,
        browser: secrets::hash(browser),
        csrf: secrets::random_token(),
        upstream: None,
        upstream_nonce: None,
        pkce_verifier: None,
        login,
        parked_at: Some(now),
        password_failures: 0,
    }
}

/// Stores `pending` under `id` (again), for the rest of the time a login may take.
pub async fn keep(store: &Store, id: &str, pending: &PendingAuthorization, now: i64) -> Result<(), StoreError> {
    store
        .pending_authorizations
        .put(id, pending, Some(expiry(pending, now)))
        .await
}

/// When `pending` expires: a fixed time after it was parked, so that no number of
/// steps keeps a login (and its place among the live ones) alive longer.
fn expiry(pending: &PendingAuthorization, now: i64) -> i64 {
    pending.parked_at.unwrap_or(now) + PENDING_TTL
}

/// Counts a wrong password against the parked login `id`; at the `most`-th it is void
/// (taken out of the store). Returns the login while it may still be tried.
pub async fn count_wrong_password(
    app: &Ctx<'_>,
    id: &str,
    most: u32,
    now: i64,
) -> Result<Option<PendingAuthorization>, StoreError> {
    let counted = app
        .store
        .pending_authorizations
        .update(id, now, |pending| {
            let mut pending = pending?;
            pending.password_failures = pending.password_failures.saturating_add(1);
            let expires = expiry(&pending, now);
            (pending.password_failures < most).then_some((pending, Some(expires)))
        })
        .await?;
    if counted.is_none() {
        app.guards.pending_logins.release(id);
    }
    Ok(counted)
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
pub async fn use_up(app: &Ctx<'_>, id: &str, now: i64) -> Flow<()> {
    app.guards.pending_logins.release(id);
    match app.store.pending_authorizations.take(id, now).await? {
        Some(_) => Ok(()),
        None => Err(Outcome::Expired),
    }
}
