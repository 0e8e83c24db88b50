//! The indexes that find a person's sessions (`account-sessions`) and a person's refresh
//! families of one client (`account-families`) without walking every record. They are
//! written with the records they point to; a database from before they existed has them
//! filled in once, at start-up.

use crate::config::Config;
use crate::store::{AccountFamily, AccountSession, FamilyId, Migration, Store, StoreError};

/// The name the filling-in is remembered under, so that it runs once per database.
const FILLED: &str = "account-indexes-1";

/// Fills the indexes in for sessions and refresh families written before they existed;
/// does nothing once done. Safe to run on several replicas at once (the same entries).
pub async fn fill_in(store: &Store, config: &Config, now: i64) -> Result<(), StoreError> {
    if store.migrations.get(FILLED, now).await?.is_some() {
        return Ok(());
    }
    let mut batch = Batch::new(store, now);
    for (sid, session) in store.sessions.entries(now).await? {
        let Some((_, expires)) = store.sessions.get_with_expiry(&sid, now).await? else {
            continue;
        };
        let entry = AccountSession { sid: sid.clone() };
        let key = AccountSession::key(&session.sub, &sid);
        store
            .account_sessions
            .stage_put(&mut batch.write, &key, &entry, expires)?;
        batch.added().await?;
    }
    let absolute = config.tokens.refresh_token_absolute_ttl.as_secs_i64();
    for (family, record) in store.refresh_families.entries(now).await? {
        let family = FamilyId::from_key(family);
        let entry = AccountFamily { family: family.clone() };
        let key = AccountFamily::key(&record.sub, &record.client_id, &family);
        let longest = record.auth.started_at().saturating_add(absolute);
        store
            .account_families
            .stage_put(&mut batch.write, &key, &entry, Some(longest))?;
        batch.added().await?;
    }
    let filled = batch.finish().await?;
    store.migrations.put(FILLED, &Migration { done_at: now }, None).await?;
    if filled > 0 {
        tracing::info!(entries = filled, "the account indexes were filled in for older records");
    }
    Ok(())
}

/// How many index entries one write of the filling-in carries.
const BATCH: usize = 500;

/// Index entries written a batch at a time: one durable write per entry would keep a
/// large database from starting for minutes.
struct Batch<'s> {
    store: &'s Store,
    now: i64,
    write: crate::store::Write,
    staged: usize,
    written: usize,
}

impl<'s> Batch<'s> {
    fn new(store: &'s Store, now: i64) -> Batch<'s> {
        Batch {
            store,
            now,
            write: store.write(now),
            staged: 0,
            written: 0,
        }
    }

    /// Counts an entry staged in `write`, and writes the batch once it is full.
    async fn added(&mut self) -> Result<(), StoreError> {
        self.staged += 1;
        if self.staged == BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        let full = std::mem::replace(&mut self.write, self.store.write(self.now));
        // The write checks nothing, so it cannot conflict.
        let _ = self.store.commit(full).await?;
        self.written += self.staged;
        self.staged = 0;
        Ok(())
    }

    /// Writes what is left; returns how many entries were written in all.
    async fn finish(mut self) -> Result<usize, StoreError> {
        if self.staged > 0 {
            self.flush().await?;
        }
        Ok(self.written)
    }
}
