//! Applying one batch of the writer's jobs to an opening of the database: every
//! conditional write in one sled transaction, then the sweeps. Flushing is the writer's.

use super::backend;
use super::envelope::{encode, index_key, is_live, sortable, split_index_key, stored_expiry};
use super::jobs::{Applied, Job};
use super::open::{Opening, position, unknown_table};
use crate::store::write::{Change, Commit, Expect, Write};
use crate::store::{StoreError, TABLES};
use ::sled::Transactional;
use ::sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// Applies a batch: every conditional write in one sled transaction (sled writes
/// each transaction's start and end to disk, so one per batch costs a fraction of
/// one per write), then the sweeps.
pub(super) fn apply(open: &Opening, jobs: Vec<Job>) -> Vec<Applied> {
    let writes: Vec<&Write> = jobs
        .iter()
        .filter_map(|job| match job {
            Job::Commit(write, _) => Some(write),
            _ => None,
        })
        .collect();
    let mut outcomes = match commit_all(open, &writes) {
        Ok(outcomes) => outcomes.into_iter(),
        Err(e) => {
            let unavailable = e.is_unavailable();
            let detail = e.to_string();
            let failed = (0..writes.len()).map(|_| {
                Err(if unavailable {
                    StoreError::Unavailable(detail.clone())
                } else {
                    StoreError::Backend(detail.clone())
                })
            });
            failed.collect::<Vec<_>>().into_iter()
        }
    };
    jobs.into_iter()
        .map(|job| match job {
            Job::Commit(_, reply) => {
                let outcome = outcomes.next().unwrap_or(Err(StoreError::Closed));
                Applied::Commit(reply, outcome)
            }
            Job::Sweep { now, limit, reply } => Applied::Sweep(reply, sweep(open, now, limit)),
            Job::Flush(reply) => Applied::Flush(reply),
        })
        .collect()
}

/// Applies `writes` in order, each only if its checks hold against everything
/// before it (earlier writes of the batch included): one that does not hold is
/// left out and answered `Conflict`, and the others go on.
fn commit_all(open: &Opening, writes: &[&Write]) -> Result<Vec<Result<Commit, StoreError>>, StoreError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let outcome = open.trees.as_slice().transaction(|view| {
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            let mut tables = write
                .checks
                .iter()
                .map(|c| c.table)
                .chain(write.changes.iter().map(Change::table));
            if let Some(table) = tables.find(|t| position(t).is_none()) {
                outcomes.push(Err(unknown_table(table)));
            } else if checks_hold(view, write)? {
                for change in &write.changes {
                    apply_change(view, change)?;
                }
                outcomes.push(Ok(Commit::Done));
            } else {
                outcomes.push(Ok(Commit::Conflict));
            }
        }
        Ok(outcomes)
    });
    outcome.map_err(|e: TransactionError<()>| match e {
        TransactionError::Storage(e) => backend(e),
        TransactionError::Abort(()) => StoreError::Backend("the batch was aborted".into()),
    })
}

/// Removes up to `limit` expired records, oldest expiry first, in one transaction.
fn sweep(open: &Opening, now: i64, limit: usize) -> Result<usize, StoreError> {
    let end = sortable(now.saturating_add(1));
    let mut due = Vec::new();
    for entry in open.expiry().range(..end.as_slice()).take(limit) {
        let (index_key, _) = entry.map_err(backend)?;
        due.push(index_key);
    }
    open.trees
        .as_slice()
        .transaction(|view| {
            for index_key in &due {
                view[TABLES.len()].remove(index_key.as_ref())?;
                // An entry that names no table (from a future version, or damaged)
                // is dropped with nothing else.
                if let Some((at, key)) = split_index_key(index_key).and_then(|(t, k)| Some((position(t)?, k))) {
                    view[at].remove(key)?;
                }
            }
            Ok(())
        })
        .map_err(|e: TransactionError<()>| match e {
            TransactionError::Storage(e) => backend(e),
            TransactionError::Abort(()) => StoreError::Backend("the sweep was aborted".into()),
        })?;
    Ok(due.len())
}

/// Whether every check of `write` holds in the transaction's view.
fn checks_hold(view: &[TransactionalTree], write: &Write) -> Result<bool, ConflictableTransactionError<()>> {
    for check in &write.checks {
        let Some(at) = position(check.table) else {
            return Ok(false);
        };
        let holds = match (&check.expect, view[at].get(check.key.as_bytes())?) {
            (Expect::Absent, None) => true,
            (Expect::Absent, Some(bytes)) => !is_live(stored_expiry(&bytes), write.now),
            (Expect::Version(version), Some(bytes)) => version.0 == bytes.as_ref(),
            (Expect::Version(_), None) => false,
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Stages one change and moves its record's expiry index entry along.
fn apply_change(view: &[TransactionalTree], change: &Change) -> Result<(), ConflictableTransactionError<()>> {
    let Some(at) = position(change.table()) else {
        return Ok(());
    };
    let expiry = &view[TABLES.len()];
    match change {
        Change::Put {
            table,
            key,
            value,
            expires_at,
        } => {
            let old = view[at].insert(key.as_bytes(), encode(value, *expires_at))?;
            reindex(expiry, table, key.as_bytes(), old.as_deref(), *expires_at)
        }
        Change::Delete { table, key } => {
            let old = view[at].remove(key.as_bytes())?;
            reindex(expiry, table, key.as_bytes(), old.as_deref(), None)
        }
    }
}

/// Moves a record's entry in the expiry index from its old expiry to the new one.
fn reindex(
    expiry: &TransactionalTree,
    table: &str,
    key: &[u8],
    old: Option<&[u8]>,
    expires_at: Option<i64>,
) -> Result<(), ConflictableTransactionError<()>> {
    if let Some(old_expiry) = old.and_then(stored_expiry) {
        expiry.remove(index_key(old_expiry, table, key))?;
    }
    if let Some(at) = expires_at {
        expiry.insert(index_key(at, table, key), &[])?;
    }
    Ok(())
}
