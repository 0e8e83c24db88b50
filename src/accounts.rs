//! Accounts: the local identity an upstream identity is linked to (with its latest mapped
//! claims), and the consent a person gave each client. Plain functions over the store.

use crate::config::Client;
use crate::mapping::Mapped;
use crate::secrets;
use crate::store::{Account, AuthorizationRequest, Consent, Store, StoreError, UpstreamLink};

/// Finds or creates the account of an upstream identity and records its latest claims;
/// returns the account's `sub`.
pub async fn link(store: &Store, upstream: &str, mapped: &Mapped, now: i64) -> Result<String, StoreError> {
    let key = UpstreamLink::key(upstream, &mapped.subject);
    let link = UpstreamLink {
        sub: secrets::random_token(),
        linked_at: now,
    };
    // Two first logins at once must end in one account: the first link written wins.
    if !store.upstream_links.insert_new(&key, &link, None, now).await? {
        tracing::debug!("known upstream identity");
    }
    let sub = store
        .upstream_links
        .get(&key, now)
        .await?
        .map(|l| l.sub)
        .unwrap_or(link.sub);
    store
        .accounts
        .update(&sub, now, |account| {
            let created_at = account.map_or(now, |a| a.created_at);
            Some((
                Account {
                    sub: sub.clone(),
                    upstream: upstream.to_string(),
                    upstream_subject: mapped.subject.clone(),
                    claims: mapped.claims.clone(),
                    created_at,
                    updated_at: now,
                },
                None,
            ))
        })
        .await?;
    Ok(sub)
}

/// `claims` as far as `upstream` is believed: an `email_verified` of an upstream whose
/// `trust_email_verified` is off is false, whatever it said.
pub fn believed(upstream: Option<&crate::config::Upstream>, claims: &mut serde_json::Map<String, serde_json::Value>) {
    if upstream.is_none_or(|u| !u.trust_email_verified)
        && let Some(verified) = claims.get_mut("email_verified")
    {
        *verified = serde_json::Value::Bool(false);
    }
}

/// Replaces the account's claims with what its upstream says now (a refresh there).
pub async fn renew_claims(
    store: &Store,
    sub: &str,
    claims: serde_json::Map<String, serde_json::Value>,
    now: i64,
) -> Result<(), StoreError> {
    store
        .accounts
        .update(sub, now, |account| {
            account.map(|mut account| {
                account.claims = claims.clone();
                account.updated_at = now;
                (account, None)
            })
        })
        .await?;
    Ok(())
}

/// Whether the person must be asked before `request`'s claims go to `client`.
pub async fn needs_consent(
    store: &Store,
    client: &Client,
    sub: &str,
    request: &AuthorizationRequest,
    now: i64,
) -> Result<bool, StoreError> {
    if !client.consent {
        return Ok(false);
    }
    if request.prompt.iter().any(|p| p == "consent") {
        return Ok(true);
    }
    let granted = store.consents.get(&Consent::key(sub, &client.id), now).await?;
    Ok(!granted.is_some_and(|g| {
        request
            .scope
            .split_whitespace()
            .all(|s| g.scopes.iter().any(|x| x == s))
    }))
}

/// Remembers that `sub` allowed `client_id` the request's scopes (adding to earlier ones).
pub async fn remember_consent(
    store: &Store,
    sub: &str,
    client_id: &str,
    scope: &str,
    now: i64,
) -> Result<(), StoreError> {
    store
        .consents
        .update(&Consent::key(sub, client_id), now, |current| {
            let mut scopes = current.map(|c| c.scopes).unwrap_or_default();
            for s in scope.split_whitespace() {
                if !scopes.iter().any(|x| x == s) {
                    scopes.push(s.to_string());
                }
            }
            Some((
                Consent {
                    scopes,
                    granted_at: now,
                },
                None,
            ))
        })
        .await?;
    Ok(())
}
