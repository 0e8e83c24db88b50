//! The schema, created and upgraded by Gatehouse at start-up.
//!
//! Migrations are numbered and applied in order, each once, recorded in
//! `gatehouse_schema`. They run in one transaction under an advisory lock, so that two
//! replicas starting at once apply them once: the second waits, then finds them done.
//! A database whose schema is newer than this binary knows is refused, never changed.
//! `gatehouse check` rehearses the same transaction and rolls it back.

use super::{LockId, db_error, described};
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
    run(client, Ending::Commit).await
}

/// For `gatehouse check`: everything `serve` does to the schema at start-up, and the
/// write of one record, in a transaction that is rolled back. It proves that the role
/// may do what `serve` will, and changes nothing (but one number of the version
/// sequence, which is never reused anyway).
pub async fn rehearse(client: &mut deadpool_postgres::Client) -> Result<(), StoreError> {
    run(client, Ending::RollBack).await
}

/// How the schema's transaction ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Commit,
    RollBack,
}

async fn run(client: &mut deadpool_postgres::Client, ending: Ending) -> Result<(), StoreError> {
    let who = client
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .await
        .map_err(db_error)?;
    let (role, database): (String, String) = (who.get(0), who.get(1));
    let denied = |e: tokio_postgres::Error| privilege_error(e, &role, &database);
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
    .map_err(denied)?;
    let current = current_version(&tx).await?;
    refuse_newer(current)?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(migration).await.map_err(denied)?;
        tx.execute("INSERT INTO gatehouse_schema (version) VALUES ($1)", &[&version])
            .await
            .map_err(denied)?;
        if ending == Ending::Commit {
            tracing::info!(version, "database schema upgraded");
        }
    }
    match ending {
        Ending::Commit => tx.commit().await.map_err(db_error),
        Ending::RollBack => {
            tx.execute(
                "INSERT INTO gatehouse_records (tbl, key, value, expires_at, version) \
                 VALUES ('gatehouse-check', '\\x00', '\\x00', NULL, nextval('gatehouse_record_versions'))",
                &[],
            )
            .await
            .map_err(denied)?;
            tx.rollback().await.map_err(db_error)
        }
    }
}

/// A database error, with the statements that fix it when the role lacks a privilege
/// (SQLSTATE 42501): on PostgreSQL 15 and later a role that does not own the database may
/// not create tables in its `public` schema.
fn privilege_error(e: tokio_postgres::Error, role: &str, database: &str) -> StoreError {
    if e.code() != Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
        return db_error(e);
    }
    StoreError::Backend(format!(
        "{}: the role \"{role}\" may not create or use Gatehouse's tables in database \"{database}\". \
         As a superuser, give the database to the role: ALTER DATABASE \"{database}\" OWNER TO \"{role}\"; \
         or, in a database shared with others: GRANT USAGE, CREATE ON SCHEMA public TO \"{role}\"; \
         (and, when the tables exist already: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public \
         TO \"{role}\"; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \"{role}\";)",
        described(&e)
    ))
}

fn refuse_newer(version: i32) -> Result<(), StoreError> {
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
