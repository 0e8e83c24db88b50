//! The schema, created and upgraded by Gatehouse at start-up.
//!
//! Migrations are numbered and applied in order, each once, recorded in
//! `gatehouse_schema`. They run in one transaction under an advisory lock, so that two
//! replicas starting at once apply them once: the second waits, then finds them done.
//! A database whose schema is newer than this binary knows is refused, never changed.

use super::{LockId, db_error};
use crate::store::StoreError;

/// Every migration, in order; its number is its position plus one. Never edit one that
/// has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: every table of the Store API in one, keyed by table name and key. Keys are
    // bytes so that their order (prefix listings) is the same as sled's; values are the
    // record's JSON; `version` changes with every write (a sequence, so a record deleted
    // and written again never repeats a version a stale check could match).
    "CREATE TABLE gatehouse_records (
        tbl text NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        expires_at bigint,
        version bigint NOT NULL,
        PRIMARY KEY (tbl, key)
    );
    CREATE INDEX gatehouse_records_expiry ON gatehouse_records (expires_at) WHERE expires_at IS NOT NULL;
    CREATE SEQUENCE gatehouse_record_versions;",
];

/// The schema version this binary writes and reads.
pub const LATEST: i32 = MIGRATIONS.len() as i32;

/// Brings the schema up to [`LATEST`]; refuses a newer one.
pub async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LockId::MIGRATIONS.0])
        .await
        .map_err(db_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS gatehouse_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(db_error)?;
    let current = current_version(&tx).await?;
    refuse_newer(current)?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(migration).await.map_err(db_error)?;
        tx.execute("INSERT INTO gatehouse_schema (version) VALUES ($1)", &[&version])
            .await
            .map_err(db_error)?;
        tracing::info!(version, "database schema upgraded");
    }
    tx.commit().await.map_err(db_error)
}

/// The schema version in the database (0: none yet), for `gatehouse check`; changes nothing.
pub async fn version(client: &deadpool_postgres::Client) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('gatehouse_schema') IS NOT NULL", &[])
        .await
        .map_err(db_error)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    current_version(client).await
}

pub fn refuse_newer(version: i32) -> Result<(), StoreError> {
    if version > LATEST {
        return Err(StoreError::Backend(format!(
            "the database schema is version {version}, newer than this Gatehouse knows ({LATEST}): \
             run the newer release, or restore a backup taken before the upgrade"
        )));
    }
    Ok(())
}

async fn current_version(client: &impl deadpool_postgres::GenericClient) -> Result<i32, StoreError> {
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM gatehouse_schema", &[])
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}
