//! The indexes that find a person's sessions (`account-sessions`) and a person's refresh
//! families of one client (`account-families`) without walking every record. They are
//! written with the records they point to; a database from before they existed has them
//! filled in once, at start-up.

use crate::config::Config;
use crate::store::{AccountFamily, AccountSession, Migration, Store, StoreError};

/// The name the filling-in is remembered under, so that it runs once per database.
const FILLED: &str = "account-indexes-1";

/// Fills the indexes in for sessions and refresh families written before they existed;
/// does nothing once done. Safe to run on several replicas at once (the same entries).
pub async fn fill_in(store: &Store, config: &Config, now: i64) -> Result<(), StoreError> {
    if store.migrations.get(FILLED, now).await?.is_some() {
        return Ok(());
    }
    let mut filled = 0usize;
    for (sid, session) in store.sessions.entries(now).await? {
        let Some((_, expires)) = store.sessions.get_with_expiry(&sid, now).await? else {
            continue;
        };
        let entry = AccountSession { sid: sid.clone() };
        store
            .account_sessions
            .put(&AccountSession::key(&session.sub, &sid), &entry, expires)
            .await?;
        filled += 1;
    }
    let absolute = config.tokens.refresh_token_absolute_ttl.as_secs_i64();
    for (family, record) in store.refresh_families.entries(now).await? {
        let entry = AccountFamily { family: family.clone() };
        let key = AccountFamily::key(&record.sub, &record.client_id, &family);
        let longest = record.auth.started_at().saturating_add(absolute);
        store.account_families.put(&key, &entry, Some(longest)).await?;
        filled += 1;
    }
    store.migrations.put(FILLED, &Migration { done_at: now }, None).await?;
    if filled > 0 {
        tracing::info!(entries = filled, "the account indexes were filled in for older records");
    }
    Ok(())
}
