//! Upstream refresh (`refresh = "on_refresh"` on an `oidc` upstream). At login the
//! upstream's refresh token is kept for the session, sealed under the key-encryption key.
//! When an app refreshes its tokens and what the upstream said is older than
//! `refresh_interval`, Gatehouse refreshes at the upstream, maps what it says now over the
//! account (so the new tokens carry it), or, when the upstream refuses, ends the app's
//! refresh. One request at a time holds the record's lease while it asks the upstream, so
//! concurrent refreshes call it once; the others go on with what is known.

use super::accounts::{self, Admission, NotAdmitted};
use super::signals::emit::Signal;
use super::signals::events::EventType;
use crate::config::{Config, Secret};
use crate::keys::Sealing;
use crate::mapping::release;
use crate::store::{Commit, RefreshFamily, Store, StoreError, UpstreamGrant};
use crate::upstream::{UpstreamError, UpstreamHttp, Upstreams};

/// How long one request may hold the lease while it asks the upstream.
const LEASE_SECS: i64 = 30;

/// What refreshing at the upstreams needs, besides the store and config.
pub struct Renewal<'a> {
    pub upstreams: &'a Upstreams,
    pub http: &'a UpstreamHttp,
    pub sealing: &'a Sealing,
}

/// Why a refresh at the upstream did not renew the person's claims.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// The upstream refused the grant, or no longer vouches for the person.
    #[error("the identity provider no longer vouches for the person: {0}")]
    Gone(String),
    #[error("the identity provider cannot be asked now: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The additional data a session's sealed upstream refresh token is bound to.
fn aad(sid: &str) -> String {
    format!("upstream-grant:{sid}")
}

/// Keeps the upstream's grant for the session `sid` of account `sub`, whom the upstream
/// knows as `subject` (with its `refresh_token`, sealed, for kinds that give one), as
/// long as the session's refresh families can last.
pub async fn keep(
    store: &Store,
    config: &Config,
    sealing: &Sealing,
    sid: &str,
    grant: (&str, &str, &str),
    refresh_token: Option<&Secret>,
    now: i64,
) -> Result<(), Failed> {
    let (upstream, subject, sub) = grant;
    let sealed = refresh_token
        .map(|token| sealing.seal_secret(&aad(sid), token))
        .transpose()
        .map_err(|e| Failed::Unavailable(e.to_string()))?;
    let record = UpstreamGrant {
        upstream: upstream.to_string(),
        subject: subject.to_string(),
        sub: sub.to_string(),
        refresh_token: sealed,
        refreshed_at: now,
        refreshing_until: None,
    };
    let expires = now + config.tokens.refresh_token_absolute_ttl.as_secs_i64();
    store.upstream_grants.put(sid, &record, Some(expires)).await?;
    Ok(())
}

/// Renews the claims of `family`'s person at the upstream of its session, when that
/// upstream refreshes and what it said is no longer fresh.
pub async fn renew(
    renewal: &Renewal<'_>,
    store: &Store,
    config: &Config,
    family: &RefreshFamily,
    now: i64,
) -> Result<(), Failed> {
    let Some(current) = store.upstream_grants.read(&family.sid, now).await? else {
        return Ok(());
    };
    let grant = &current.value;
    let renews = config
        .upstream(&grant.upstream)
        .and_then(|u| u.settings.renew_on_app_refresh());
    // The upstream was removed or stopped refreshing: the claims stay as they are.
    let Some(interval) = renews.map(|interval| interval.as_secs_i64()) else {
        return Ok(());
    };
    let leased = grant.refreshing_until.is_some_and(|until| until > now);
    if now - grant.refreshed_at < interval || leased {
        return Ok(());
    }
    let Some(upstream) = renewal.upstreams.get(&grant.upstream) else {
        return Ok(());
    };
    let mut lease = grant.clone();
    lease.refreshing_until = Some(now + LEASE_SECS);
    let expires = store
        .upstream_grants
        .get_with_expiry(&family.sid, now)
        .await?
        .and_then(|(_, e)| e);
    let mut write = store.write(now);
    store.upstream_grants.expect(&mut write, &family.sid, Some(&current));
    store
        .upstream_grants
        .stage_put(&mut write, &family.sid, &lease, expires)?;
    if store.commit(write).await? == Commit::Conflict {
        // Another request holds it now.
        return Ok(());
    }
    let token = grant
        .refresh_token
        .as_ref()
        .map(|sealed| renewal.sealing.open_secret(&aad(&family.sid), sealed))
        .transpose()
        .map_err(|e| Failed::Unavailable(e.to_string()))?;
    let refreshed = match upstream
        .refresh(renewal.http, token.as_ref(), &grant.subject, now)
        .await
    {
        Ok(refreshed) => refreshed,
        Err(UpstreamError::Unavailable(why)) => {
            // Let the next request try again.
            store.upstream_grants.put(&family.sid, grant, expires).await?;
            return Err(Failed::Unavailable(why));
        }
        Err(UpstreamError::Denied(why) | UpstreamError::Invalid(why)) => {
            return Err(forget(store, &family.sid, why, now).await);
        }
    };
    let before = store.accounts.get(&grant.sub, now).await?;
    let admitted = accounts::admit(
        store,
        config,
        renewal.upstreams,
        &grant.upstream,
        &refreshed.document,
        Admission::Renew { sub: &grant.sub },
        now,
    )
    .await;
    match admitted {
        Ok(_) => {}
        Err(NotAdmitted::Store(e)) => return Err(e.into()),
        Err(not) => return Err(forget(store, &family.sid, not.to_string(), now).await),
    }
    tell_changed_claims(store, config, family, before.map(|a| a.claims), now).await?;
    let mut renewed = grant.clone();
    renewed.refreshed_at = now;
    renewed.refreshing_until = None;
    if let Some(rotated) = &refreshed.refresh_token {
        renewed.refresh_token = Some(
            renewal
                .sealing
                .seal_secret(&aad(&family.sid), rotated)
                .map_err(|e| Failed::Unavailable(e.to_string()))?,
        );
    }
    store.upstream_grants.put(&family.sid, &renewed, expires).await?;
    Ok(())
}

/// Drops the session's upstream grant, which the upstream no longer takes.
async fn forget(store: &Store, sid: &str, why: String, now: i64) -> Failed {
    match store.upstream_grants.take(sid, now).await {
        Ok(_) => Failed::Gone(why),
        Err(e) => Failed::Store(e),
    }
}

/// Tells the family's app, when it takes Shared Signals, which of the claims released to
/// it changed (CAEP `token-claims-change`), now that the upstream said them anew.
async fn tell_changed_claims(
    store: &Store,
    config: &Config,
    family: &RefreshFamily,
    before: Option<serde_json::Map<String, serde_json::Value>>,
    now: i64,
) -> Result<(), StoreError> {
    let Some(after) = store.accounts.get(&family.sub, now).await? else {
        return Ok(());
    };
    let released_before = release(&before.unwrap_or_default(), &family.scope, &config.scopes);
    let released_after = release(&after.claims, &family.scope, &config.scopes);
    let changed: serde_json::Map<String, serde_json::Value> = released_after
        .into_iter()
        .filter(|(name, value)| released_before.get(name) != Some(value))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let signal = Signal {
        event: EventType::TokenClaimsChange,
        sub: family.sub.clone(),
        sid: Some(family.sid.clone()),
        payload: serde_json::json!({ "claims": changed }),
    };
    // The outbox's next pass pushes it.
    super::signals::emit::record(store, config, std::slice::from_ref(&family.client_id), &signal, now).await?;
    Ok(())
}
