//! The shared backend: one PostgreSQL database that several replicas use at once.
//!
//! Every table of the Store API is one row set in `gatehouse_records` (see [`schema`]).
//! Writes are committed in groups ([`group`]): a transaction first takes a
//! transaction-scoped advisory lock on every key its writes check or change (in one
//! order, so two transactions never deadlock), then reads the checked rows, compares
//! their versions, and applies the changes of the writes whose checks hold (one
//! statement for the puts, one for the deletes). Two writes that touch a key are
//! therefore serialized, across replicas as on sled's one writer, and a missing row is
//! locked as surely as a present one (a row lock could not). A write returns once
//! PostgreSQL has committed it: durable, as the Store API promises.
//!
//! Sweeping takes a further advisory lock without waiting: one replica sweeps at a
//! time, the others skip their turn.

mod connect;
mod group;
pub(crate) mod schema;

use super::write::{Change, Commit, Stored, Version, Write};
use super::{StoreError, StoreMetrics};
use crate::config::PostgresSettings;
use futures_util::future;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// An advisory lock of Gatehouse's (PostgreSQL's lock ids are one 64-bit space per
/// database, shared with anything else that uses the database).
pub(crate) struct LockId(pub i64);

impl LockId {
    /// "gatehous" in ASCII, then a small number per purpose.
    pub(crate) const MIGRATIONS: LockId = LockId(0x6761_7465_686f_7573);
    pub(crate) const SWEEP: LockId = LockId(0x6761_7465_686f_7574);

    /// The lock of one record: the first 8 bytes of SHA-256 over table and key. Two keys
    /// that share a lock only wait for each other.
    fn record(table: &str, key: &str) -> i64 {
        let digest = Sha256::new()
            .chain_update(table.as_bytes())
            .chain_update([0])
            .chain_update(key.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }
}

pub(crate) struct PostgresBackend {
    pool: deadpool_postgres::Pool,
    committer: group::Committer,
    pub(crate) metrics: StoreMetrics,
}

impl PostgresBackend {
    /// Connects, and creates or upgrades the schema.
    pub(crate) async fn open(settings: &PostgresSettings) -> Result<PostgresBackend, StoreError> {
        let pool = connect::pool(settings)?;
        let mut client = pool.get().await.map_err(connect::pool_error)?;
        schema::migrate(&mut client).await?;
        let metrics = StoreMetrics::default();
        // A quarter of the pool commits (at most 4 at once: batches grow instead), the
        // rest reads.
        let committers = (settings.pool_size / 4).clamp(1, 4);
        let committer = group::Committer::start(pool.clone(), metrics.clone(), committers);
        Ok(PostgresBackend {
            pool,
            committer,
            metrics,
        })
    }

    /// For `gatehouse check`: what [`PostgresBackend::open`] does to the schema, and a
    /// record's write, rolled back (see [`schema::rehearse`]).
    pub(crate) async fn rehearse(settings: &PostgresSettings) -> Result<(), StoreError> {
        let pool = connect::pool(settings)?;
        let mut client = pool.get().await.map_err(connect::pool_error)?;
        schema::rehearse(&mut client).await
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(connect::pool_error)
    }

    pub(crate) async fn get(&self, table: &'static str, key: &str, now: i64) -> Result<Option<Stored>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(GET_LIVE).await.map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&table, &key.as_bytes(), &now])
            .await
            .map_err(db_error)?;
        Ok(row.map(|row| stored(row.get(0), row.get(1), row.get(2))))
    }

    /// The live records under each (table, key) of `asked`, in its order: one lookup per
    /// record, all sent at once on one connection (one round trip). Not one join over
    /// arrays: its plan is cached from when the table was small (a hash join over a
    /// sequential scan) and grows with the table; a primary-key lookup does not.
    pub(crate) async fn get_many(
        &self,
        asked: &[(&'static str, String)],
        now: i64,
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let statement = client.prepare_cached(GET_LIVE).await.map_err(db_error)?;
        let lookups = asked
            .iter()
            .map(|(table, key)| async { client.query_opt(&statement, &[table, &key.as_bytes(), &now]).await });
        let rows = future::try_join_all(lookups).await.map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| row.map(|row| stored(row.get(0), row.get(1), row.get(2))))
            .collect())
    }

    pub(crate) async fn scan_prefix(
        &self,
        table: &'static str,
        prefix: &str,
        now: i64,
    ) -> Result<Vec<(String, Stored)>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT key, value, expires_at, version FROM gatehouse_records \
                 WHERE tbl = $1 AND key >= $2 AND ($3::bytea IS NULL OR key < $3) \
                 AND (expires_at IS NULL OR expires_at > $4) ORDER BY key",
            )
            .await
            .map_err(db_error)?;
        let end = prefix_end(prefix.as_bytes());
        let rows = client
            .query(&statement, &[&table, &prefix.as_bytes(), &end, &now])
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let key: Vec<u8> = row.get(0);
                let key = String::from_utf8_lossy(&key).into_owned();
                (key, stored(row.get(1), row.get(2), row.get(3)))
            })
            .collect())
    }

    /// Applies `write` if its checks hold, in a transaction it may share with the
    /// writes of concurrent requests ([`group`]); returns once committed.
    pub(crate) async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        self.committer.commit(write).await
    }

    /// Every commit is durable when it returns: nothing is waiting.
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub(crate) async fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let ours: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&LockId::SWEEP.0])
            .await
            .map_err(db_error)?
            .get(0);
        if !ours {
            // Another replica is sweeping.
            tx.rollback().await.map_err(db_error)?;
            return Ok(0);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The outer condition again: a row given a later expiry meanwhile stays.
        let removed = tx
            .execute(
                "DELETE FROM gatehouse_records WHERE ctid = ANY(ARRAY(\
                    SELECT ctid FROM gatehouse_records WHERE expires_at <= $1 LIMIT $2)) \
                 AND expires_at <= $1",
                &[&now, &limit],
            )
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    pub(crate) async fn stored_len(&self, table: &'static str) -> Result<usize, StoreError> {
        self.count("SELECT count(*) FROM gatehouse_records WHERE tbl = $1", &[&table])
            .await
    }

    pub(crate) async fn expiring_len(&self) -> Result<usize, StoreError> {
        self.count(
            "SELECT count(*) FROM gatehouse_records WHERE expires_at IS NOT NULL",
            &[],
        )
        .await
    }

    async fn count(
        &self,
        query: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let count: i64 = client.query_one(query, params).await.map_err(db_error)?.get(0);
        Ok(usize::try_from(count).unwrap_or(0))
    }
}

/// A live record.
const GET_LIVE: &str = "SELECT value, expires_at, version FROM gatehouse_records \
     WHERE tbl = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)";

/// Takes the lock of every record a write checks or changes, in ascending order (so
/// two writes never wait for each other in a cycle); `unnest` keeps the array's order.
const LOCK_RECORDS: &str = "SELECT pg_advisory_xact_lock(l) FROM unnest($1::int8[]) AS l";

/// The version and expiry of a checked record, if it exists.
const READ_CHECKED: &str = "SELECT version, expires_at FROM gatehouse_records WHERE tbl = $1 AND key = $2";

/// Every put of a write in one statement, each with a new version.
const PUT_ALL: &str = "INSERT INTO gatehouse_records (tbl, key, value, expires_at, version) \
     SELECT tbl, key, value, expires_at, nextval('gatehouse_record_versions') \
     FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::int8[]) AS p(tbl, key, value, expires_at) \
     ON CONFLICT (tbl, key) DO UPDATE \
     SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, version = EXCLUDED.version";

/// Every delete of a write in one statement.
const DELETE_ALL: &str = "DELETE FROM gatehouse_records r USING unnest($1::text[], $2::bytea[]) AS d(tbl, key) \
     WHERE r.tbl = d.tbl AND r.key = d.key";

/// The lock of every record the writes check or change, ascending, each once.
fn record_locks<'a>(writes: impl Iterator<Item = &'a Write>) -> Vec<i64> {
    let mut locks: Vec<i64> = writes
        .flat_map(|write| {
            let checked = write.checks.iter().map(|check| LockId::record(check.table, &check.key));
            let changed = write.changes.iter().map(|change| match change {
                Change::Put { table, key, .. } | Change::Delete { table, key } => LockId::record(table, key),
            });
            checked.chain(changed)
        })
        .collect();
    locks.sort_unstable();
    locks.dedup();
    locks
}

/// What changes leave behind, as columns for one put and one delete statement: the
/// last change to a key is the one that counts (one statement may touch a row once).
#[derive(Default)]
struct FinalChanges<'a> {
    put_tables: Vec<&'a str>,
    put_keys: Vec<&'a [u8]>,
    put_values: Vec<&'a [u8]>,
    put_expiries: Vec<Option<i64>>,
    delete_tables: Vec<&'a str>,
    delete_keys: Vec<&'a [u8]>,
}

impl<'a> FinalChanges<'a> {
    fn of(changes: Vec<&'a Change>) -> FinalChanges<'a> {
        let mut last: HashMap<(&str, &str), &Change> = HashMap::new();
        for change in changes {
            let (Change::Put { table, key, .. } | Change::Delete { table, key }) = change;
            last.insert((table, key.as_str()), change);
        }
        let mut out = FinalChanges::default();
        for change in last.into_values() {
            match change {
                Change::Put {
                    table,
                    key,
                    value,
                    expires_at,
                } => {
                    out.put_tables.push(table);
                    out.put_keys.push(key.as_bytes());
                    out.put_values.push(value);
                    out.put_expiries.push(*expires_at);
                }
                Change::Delete { table, key } => {
                    out.delete_tables.push(table);
                    out.delete_keys.push(key.as_bytes());
                }
            }
        }
        out
    }
}

fn stored(value: Vec<u8>, expires_at: Option<i64>, version: i64) -> Stored {
    Stored {
        value,
        expires_at,
        version: version_of(version),
    }
}

fn version_of(version: i64) -> Version {
    Version(version.to_be_bytes().to_vec())
}

/// The smallest key after every key that starts with `prefix`; `None`: no bound.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A failure of PostgreSQL: `Unavailable` when the connection is gone or the server
/// cannot take it now (SQLSTATE class 08, shutting down, too many connections), a
/// `Backend` error otherwise.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let unavailable = match e.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
    };
    if unavailable {
        StoreError::Unavailable(described(&e))
    } else {
        StoreError::Backend(described(&e))
    }
}

/// What went wrong, with the SQLSTATE when the server said it.
pub(crate) fn described(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
        None => {
            let cause = std::error::Error::source(e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("PostgreSQL: {e}{cause}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_possible_key() {
        assert_eq!(prefix_end(b"sid-1:"), Some(b"sid-1;".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(b"\xff"), None);
    }

    #[test]
    fn record_locks_are_stable_and_distinct() {
        assert_eq!(LockId::record("codes", "a"), LockId::record("codes", "a"));
        assert_ne!(LockId::record("codes", "a"), LockId::record("codes", "b"));
        assert_ne!(LockId::record("codesa", ""), LockId::record("codes", "a"));
    }
}
