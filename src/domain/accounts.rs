//! Accounts: the local identity upstream identities are linked to (with the latest mapped
//! claims), the links themselves (the first login's, and those a person added), and the
//! consent a person gave each client. Plain functions over the store. An identity is
//! linked to an existing account only by logging in at both: never by an email.

use crate::config::{Client, Config};
use crate::mapping::Mapped;
use crate::scope::Scopes;
use crate::secrets;
use crate::store::{
    Account, AuthorizationRequest, Commit, Consent, LinkedIdentity, Store, StoreError, UpstreamLink, WithdrawnGrant,
};
use crate::upstream::Upstreams;

/// Finds or creates the account of an upstream identity and records its latest claims;
/// returns the account's `sub`.
async fn link(store: &Store, upstream: &str, mapped: &Mapped, now: i64) -> Result<String, StoreError> {
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
            let created_at = account.as_ref().map_or(now, |a| a.created_at);
            let first = || LinkedIdentity {
                upstream: upstream.to_string(),
                subject: mapped.subject.clone(),
                linked_at: now,
            };
            let links = account.as_ref().map_or_else(|| vec![first()], links_of);
            Some((
                Account {
                    sub: sub.clone(),
                    upstream: upstream.to_string(),
                    upstream_subject: mapped.subject.clone(),
                    claims: mapped.claims.clone(),
                    created_at,
                    updated_at: now,
                    links,
                },
                None,
            ))
        })
        .await?;
    Ok(sub)
}

/// The upstream identities of `account`.
pub fn links_of(account: &Account) -> Vec<LinkedIdentity> {
    if account.links.is_empty() {
        // Written before links were kept: the identity of its logins is the only one.
        return vec![LinkedIdentity {
            upstream: account.upstream.clone(),
            subject: account.upstream_subject.clone(),
            linked_at: account.created_at,
        }];
    }
    account.links.clone()
}

/// What linking an upstream identity to an account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    Added,
    /// It was linked to this account already.
    Already,
    /// It logs in to another account: nothing changed.
    Elsewhere,
}

/// Links the identity `subject` at `upstream` to the account `sub`, unless it logs in to
/// an account already.
pub async fn add_link(store: &Store, sub: &str, upstream: &str, subject: &str, now: i64) -> Result<Linked, StoreError> {
    let key = UpstreamLink::key(upstream, subject);
    let link = UpstreamLink {
        sub: sub.to_string(),
        linked_at: now,
    };
    if !store.upstream_links.insert_new(&key, &link, None, now).await? {
        let owner = store.upstream_links.get(&key, now).await?.map(|l| l.sub);
        return Ok(if owner.as_deref() == Some(sub) {
            Linked::Already
        } else {
            Linked::Elsewhere
        });
    }
    store
        .accounts
        .update(sub, now, |account| {
            account.map(|mut account| {
                let mut links = links_of(&account);
                links.push(LinkedIdentity {
                    upstream: upstream.to_string(),
                    subject: subject.to_string(),
                    linked_at: now,
                });
                account.links = links;
                (account, None)
            })
        })
        .await?;
    Ok(Linked::Added)
}

/// Why an identity was not unlinked.
#[derive(Debug, thiserror::Error)]
pub enum UnlinkRefused {
    #[error("no account {0}")]
    NoAccount(String),
    #[error("the account has no identity at upstream {0}")]
    NotLinked(String),
    #[error("it is the account's only identity: without it nobody could sign in to the account")]
    Last,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Removes the account's identity at `upstream`: logging in there makes a new account.
pub async fn unlink(store: &Store, sub: &str, upstream: &str, now: i64) -> Result<LinkedIdentity, UnlinkRefused> {
    let current = store
        .accounts
        .read(sub, now)
        .await?
        .ok_or_else(|| UnlinkRefused::NoAccount(sub.to_string()))?;
    let mut links = links_of(&current.value);
    let at = links
        .iter()
        .position(|l| l.upstream == upstream)
        .ok_or_else(|| UnlinkRefused::NotLinked(upstream.to_string()))?;
    if links.len() == 1 {
        return Err(UnlinkRefused::Last);
    }
    let removed = links.remove(at);
    let mut account = current.value.clone();
    account.links = links;
    let mut write = store.write(now);
    store.accounts.expect(&mut write, sub, Some(&current));
    store.accounts.stage_put(&mut write, sub, &account, None)?;
    store
        .upstream_links
        .stage_delete(&mut write, &UpstreamLink::key(&removed.upstream, &removed.subject));
    match store.commit(write).await? {
        Commit::Done => Ok(removed),
        Commit::Conflict => Err(StoreError::Contended {
            table: "accounts",
            key_len: sub.len(),
        }
        .into()),
    }
}

/// What becomes of the person an upstream vouched for ([`admit`]).
#[derive(Debug, Clone, Copy)]
pub enum Admission<'a> {
    /// A login or an exchanged token: their account, made on first sight.
    SignIn,
    /// A refresh at the upstream: new claims for the account `sub`, which the upstream's
    /// subject must be linked to.
    Renew { sub: &'a str },
    /// Account linking: the upstream's subject joins the account `sub`.
    LinkTo { sub: &'a str },
}

/// What [`admit`] did.
#[derive(Debug)]
pub enum Admitted {
    /// The account they signed in to.
    SignedIn(String),
    Renewed,
    Linked(Linked),
}

/// Why a person an upstream vouched for was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum NotAdmitted {
    #[error("upstream {0} has no mapping")]
    NoMapping(String),
    #[error("the upstream's answer does not fit its mapping: {0}")]
    Unmapped(crate::mapping::EvalError),
    #[error("the upstream's answer names another person than the account's")]
    AnotherPerson,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one way an upstream's person becomes a Gatehouse account (login, token exchange,
/// refresh at the upstream, account linking): what the upstream says (`document`) is
/// read through its claim mapping, believed as far as the upstream is trusted, and
/// then admitted as `admission` says.
pub async fn admit(
    store: &Store,
    config: &Config,
    upstreams: &Upstreams,
    upstream_id: &str,
    document: &serde_json::Value,
    admission: Admission<'_>,
    now: i64,
) -> Result<Admitted, NotAdmitted> {
    let mapping = &upstreams
        .get(upstream_id)
        .ok_or_else(|| NotAdmitted::NoMapping(upstream_id.to_string()))?
        .mapping;
    let mut mapped = mapping.evaluate(document).map_err(NotAdmitted::Unmapped)?;
    believed(config.upstream(upstream_id), &mut mapped.claims);
    Ok(match admission {
        Admission::SignIn => Admitted::SignedIn(link(store, upstream_id, &mapped, now).await?),
        Admission::Renew { sub } => {
            let linked = store.accounts.get(sub, now).await?.is_some_and(|account| {
                links_of(&account)
                    .iter()
                    .any(|link| link.upstream == upstream_id && link.subject == mapped.subject)
            });
            if !linked {
                return Err(NotAdmitted::AnotherPerson);
            }
            renew_claims(store, sub, mapped.claims, now).await?;
            Admitted::Renewed
        }
        Admission::LinkTo { sub } => Admitted::Linked(add_link(store, sub, upstream_id, &mapped.subject, now).await?),
    })
}

/// `claims` as far as `upstream` is believed: an `email_verified` of an upstream whose
/// `trust_email_verified` is off is false, whatever it said.
fn believed(upstream: Option<&crate::config::Upstream>, claims: &mut serde_json::Map<String, serde_json::Value>) {
    if upstream.is_none_or(|u| !u.trust_email_verified)
        && let Some(verified) = claims.get_mut("email_verified")
    {
        *verified = serde_json::Value::Bool(false);
    }
}

/// Replaces the account's claims with what its upstream says now (a refresh there).
async fn renew_claims(
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
    // A client known only by a document anyone can write is asked about every time.
    if request.prompt.consent() || matches!(client.origin, crate::config::ClientOrigin::Document { .. }) {
        return Ok(true);
    }
    let granted = store.consents.get(&Consent::key(sub, &client.id), now).await?;
    Ok(!granted.is_some_and(|g| {
        let consented: Scopes = g.scopes.iter().map(String::as_str).collect();
        request.scope.first_not_in(&consented).is_none()
    }))
}

/// Remembers that `sub` allowed `client_id` the request's scopes (adding to earlier ones).
pub async fn remember_consent(
    store: &Store,
    sub: &str,
    client: &Client,
    scope: &Scopes,
    ttl: crate::config::Duration,
    now: i64,
) -> Result<(), StoreError> {
    // Each consent given starts its lifetime again, for every scope it adds to.
    let expires = now.saturating_add(ttl.as_secs_i64());
    store
        .consents
        .update(&Consent::key(sub, &client.id), now, |current| {
            let mut scopes = current.map(|c| c.scopes).unwrap_or_default();
            for s in scope.iter() {
                if !scopes.iter().any(|x| x == s) {
                    scopes.push(s.to_string());
                }
            }
            Some((
                Consent {
                    scopes,
                    granted_at: now,
                },
                Some(expires),
            ))
        })
        .await?;
    Ok(())
}

/// What withdrawing a consent took away.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Withdrawn {
    /// The scopes the consent had allowed (none when only refresh families were left).
    pub scopes: Vec<String>,
    /// How many of the client's refresh families for the person were revoked.
    pub revoked_families: usize,
}

/// Withdraws `sub`'s consent to `client_id`: the next sign-in there asks again, the
/// client's access tokens for the person issued until now are active no more, and its
/// refresh families for the person stop working. `None` when there was neither a consent
/// nor a live family (the access tokens are ended all the same: none is listed anywhere).
pub async fn withdraw_consent(
    store: &Store,
    config: &crate::config::Config,
    sub: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<Withdrawn>, StoreError> {
    let key = Consent::key(sub, client_id);
    // Kept as long as an access token issued until now could live.
    let ended_until = now.saturating_add(config.tokens.access_token_ttl.as_secs_i64());
    let grant_ended = WithdrawnGrant { withdrawn_at: now };
    store
        .withdrawn_grants
        .put(&key, &grant_ended, Some(ended_until))
        .await?;
    let consent = store.consents.take(&key, now).await?;
    let mut withdrawn = Withdrawn {
        scopes: consent.map(|c| c.scopes).unwrap_or_default(),
        revoked_families: 0,
    };
    let prefix = crate::store::AccountFamily::prefix(sub, client_id);
    for (key, entry) in store.account_families.entries_with_prefix(&prefix, now).await? {
        let live = store
            .refresh_families
            .get(&entry.family, now)
            .await?
            .is_some_and(|f| !f.revoked);
        if live {
            crate::domain::refresh_families::revoke(store, config, &entry.family, now).await?;
            withdrawn.revoked_families += 1;
        }
        store.account_families.take(&key, now).await?;
    }
    let found = !withdrawn.scopes.is_empty() || withdrawn.revoked_families > 0;
    Ok(found.then_some(withdrawn))
}
