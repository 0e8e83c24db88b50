//! The shared backend: one PostgreSQL database that several replicas use at once.
//!
//! Every table of the Store API is one row set in `gatehouse_records` (see [`schema`]).
//! A [`Write`] is one transaction: it first takes a transaction-scoped advisory lock on
//! every key it checks or changes (in one order, so two writes never deadlock), then
//! reads the checked rows, compares their versions, and applies its changes (one
//! statement for its puts, one for its deletes). Two writes
//! that touch a key are therefore serialized, across replicas as on sled's one writer,
//! and a missing row is locked as surely as a present one (a row lock could not). A
//! write returns once PostgreSQL has committed it: durable, as the Store API promises.
//!
//! Sweeping takes a further advisory lock without waiting: one replica sweeps at a
//! time, the others skip their turn.

mod connect;
pub(crate) mod schema;

use super::write::{Change, Commit, Expect, Stored, Version, Write};
use super::{StoreError, StoreMetrics};
use crate::config::PostgresSettings;
use futures_util::future;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

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
    pub(crate) metrics: StoreMetrics,
}

impl PostgresBackend {
    /// Connects, and creates or upgrades the schema.
    pub(crate) async fn open(settings: &PostgresSettings) -> Result<PostgresBackend, StoreError> {
        let pool = connect::pool(settings)?;
        let mut client = pool.get().await.map_err(connect::pool_error)?;
        schema::migrate(&mut client).await?;
        Ok(PostgresBackend {
            pool,
            metrics: StoreMetrics::default(),
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
        let statement = client
            .prepare_cached(
                "SELECT value, expires_at, version FROM gatehouse_records \
                 WHERE tbl = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .await
            .map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&table, &key.as_bytes(), &now])
            .await
            .map_err(db_error)?;
        Ok(row.map(|row| stored(row.get(0), row.get(1), row.get(2))))
    }

    /// The live records under each (table, key) of `asked`, in its order: one query,
    /// joining the pairs asked for to the primary key.
    pub(crate) async fn get_many(
        &self,
        asked: &[(&'static str, String)],
        now: i64,
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT asked.i, r.value, r.expires_at, r.version \
                 FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS asked(tbl, key, i) \
                 JOIN gatehouse_records r ON r.tbl = asked.tbl AND r.key = asked.key \
                 WHERE r.expires_at IS NULL OR r.expires_at > $3",
            )
            .await
            .map_err(db_error)?;
        let tables: Vec<&str> = asked.iter().map(|(table, _)| *table).collect();
        let keys: Vec<&[u8]> = asked.iter().map(|(_, key)| key.as_bytes()).collect();
        let rows = client
            .query(&statement, &[&tables, &keys, &now])
            .await
            .map_err(db_error)?;
        let mut found: Vec<Option<Stored>> = vec![None; asked.len()];
        for row in rows {
            // WITH ORDINALITY counts from 1.
            let position = usize::try_from(row.get::<_, i64>(0) - 1)
                .ok()
                .and_then(|i| found.get_mut(i))
                .ok_or_else(|| StoreError::Backend("a batch read answered a position not asked for".into()))?;
            *position = Some(stored(row.get(1), row.get(2), row.get(3)));
        }
        Ok(found)
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

    pub(crate) async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        let started = std::time::Instant::now();
        let committed = self.commit_now(write).await;
        if let Ok(Commit::Done) = committed {
            self.metrics.batch_done(1, started);
        }
        committed
    }

    async fn commit_now(&self, write: Write) -> Result<Commit, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let lock = tx.prepare_cached(LOCK_RECORDS).await.map_err(db_error)?;
        let read = tx.prepare_cached(READ_CHECKED).await.map_err(db_error)?;
        let locks = record_locks(&write);
        let tables: Vec<&str> = write.checks.iter().map(|c| c.table).collect();
        let keys: Vec<&[u8]> = write.checks.iter().map(|c| c.key.as_bytes()).collect();
        // Pipelined: the read is sent right behind the locks, without waiting for them
        // (futures-util polls in argument order, so the locks go first), and PostgreSQL
        // runs it after them with a snapshot of its own: it sees every write that held
        // these locks before.
        let (_, found) = future::try_join(tx.execute(&lock, &[&locks]), async {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            tx.query(&read, &[&tables, &keys]).await
        })
        .await
        .map_err(db_error)?;
        if !checks_hold(&write, &found) {
            tx.rollback().await.map_err(db_error)?;
            return Ok(Commit::Conflict);
        }
        let changes = FinalChanges::of(&write);
        let put = tx.prepare_cached(PUT_ALL).await.map_err(db_error)?;
        let delete = tx.prepare_cached(DELETE_ALL).await.map_err(db_error)?;
        future::try_join(
            async {
                if changes.put_keys.is_empty() {
                    return Ok(0);
                }
                let params: [&(dyn ToSql + Sync); 4] = [
                    &changes.put_tables,
                    &changes.put_keys,
                    &changes.put_values,
                    &changes.put_expiries,
                ];
                tx.execute(&put, &params).await
            },
            async {
                if changes.delete_keys.is_empty() {
                    return Ok(0);
                }
                tx.execute(&delete, &[&changes.delete_tables, &changes.delete_keys])
                    .await
            },
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Commit::Done)
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

/// Takes the lock of every record a write checks or changes, in ascending order (so
/// two writes never wait for each other in a cycle); `unnest` keeps the array's order.
const LOCK_RECORDS: &str = "SELECT pg_advisory_xact_lock(l) FROM unnest($1::int8[]) AS l";

/// The version and expiry of each checked record that exists, by its position.
const READ_CHECKED: &str = "SELECT c.i, r.version, r.expires_at \
     FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS c(tbl, key, i) \
     JOIN gatehouse_records r ON r.tbl = c.tbl AND r.key = c.key";

/// Every put of a write in one statement, each with a new version.
const PUT_ALL: &str = "INSERT INTO gatehouse_records (tbl, key, value, expires_at, version) \
     SELECT tbl, key, value, expires_at, nextval('gatehouse_record_versions') \
     FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::int8[]) AS p(tbl, key, value, expires_at) \
     ON CONFLICT (tbl, key) DO UPDATE \
     SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, version = EXCLUDED.version";

/// Every delete of a write in one statement.
const DELETE_ALL: &str = "DELETE FROM gatehouse_records r USING unnest($1::text[], $2::bytea[]) AS d(tbl, key) \
     WHERE r.tbl = d.tbl AND r.key = d.key";

fn record_locks(write: &Write) -> Vec<i64> {
    let mut locks: Vec<i64> = write
        .checks
        .iter()
        .map(|check| LockId::record(check.table, &check.key))
        .chain(write.changes.iter().map(|change| match change {
            Change::Put { table, key, .. } | Change::Delete { table, key } => LockId::record(table, key),
        }))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    locks
}

/// Whether every check of `write` holds, given the rows read under the write's locks.
fn checks_hold(write: &Write, found: &[tokio_postgres::Row]) -> bool {
    let found: HashMap<i64, (i64, Option<i64>)> =
        found.iter().map(|row| (row.get(0), (row.get(1), row.get(2)))).collect();
    write.checks.iter().zip(1i64..).all(|(check, i)| {
        let live = found
            .get(&i)
            .filter(|(_, expires_at)| expires_at.is_none_or(|at| at > write.now));
        match (&check.expect, live) {
            (Expect::Absent, None) => true,
            (Expect::Version(expected), Some((version, _))) => *expected == version_of(*version),
            _ => false,
        }
    })
}

/// What a write leaves behind, as columns for one put and one delete statement: the
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
    fn of(write: &'a Write) -> FinalChanges<'a> {
        let mut last: HashMap<(&str, &str), &Change> = HashMap::new();
        for change in &write.changes {
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
