//! Refresh families: the tokens of one login's refresh chain, which end together.

use crate::config::Config;
use crate::secrets;
use crate::store::{RefreshFamily, Store, StoreError};

/// A new family id for a login in the session `sid`: the session's id and a random
/// part, so that the families of a session are found by [`prefix_of_session`].
pub fn new_id(sid: &str) -> String {
    format!("{}{}", prefix_of_session(sid), secrets::random_token())
}

/// What the id of every refresh family of the session `sid` starts with.
pub fn prefix_of_session(sid: &str) -> String {
    format!("{sid}:")
}

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
