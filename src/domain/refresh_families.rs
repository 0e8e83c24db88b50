//! Refresh families: the tokens of one login's refresh chain, which end together.

use crate::config::Config;
use crate::store::{RefreshFamily, Store, StoreError};

/// Revokes the refresh family `family`: none of its tokens works again. The record is
/// kept as long as a token of the family could still be presented, so that presenting
/// one is recognised.
pub async fn revoke(store: &Store, config: &Config, family: &str, now: i64) -> Result<(), StoreError> {
    let keep = now + config.tokens.refresh_token_ttl.as_secs_i64();
    store
        .refresh_families
        .update(family, now, |current| {
            current.map(|mut f: RefreshFamily| {
                f.revoked = true;
                (f, Some(keep))
            })
        })
        .await
        .map(|_| ())
}
