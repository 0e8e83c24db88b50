//! Group commit: the writes of concurrent requests share one transaction.
//!
//! A write costs PostgreSQL a transaction (BEGIN, the locks, the reads, the changes, a
//! COMMIT and its WAL flush) whatever its size, so one per request is what limits how
//! many rotations a second it takes. Here callers queue their write and wait; a few
//! committers each take every write waiting (up to [`MAX_BATCH`]) and apply the batch as
//! one transaction, with the same statements a single write uses: the locks of every
//! record the batch touches (in one order, so batches never deadlock, here or on another
//! replica), the checked rows, then the writes in order, each only if its checks hold
//! against the rows read and the writes before it in the batch (one that does not is
//! answered `Conflict` and the rest go on, as on sled's writer), one statement for the
//! puts, one for the deletes, one COMMIT. While one committer commits, the next batch
//! forms behind it.

use super::{
    DELETE_ALL, FinalChanges, LOCK_RECORDS, PUT_ALL, READ_CHECKED, connect, db_error, record_locks, version_of,
};
use crate::store::write::{Change, Commit, Expect, Write};
use crate::store::{StoreError, StoreMetrics};
use futures_util::future;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::types::ToSql;

/// How many writes may wait before callers wait for room.
const QUEUE_BOUND: usize = 4096;
/// The most writes in one transaction.
const MAX_BATCH: usize = 256;

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Commit, StoreError>>,
}

pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts `committers` tasks that commit batches on connections of `pool`. They end
    /// when the committer is dropped, once the writes queued are done.
    pub(super) fn start(pool: deadpool_postgres::Pool, metrics: StoreMetrics, committers: usize) -> Committer {
        let (jobs, queue) = mpsc::channel(QUEUE_BOUND);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..committers.max(1) {
            tokio::spawn(commit_batches(queue.clone(), pool.clone(), metrics.clone()));
        }
        Committer { jobs }
    }

    /// Applies `write` (in some batch) if its checks hold; returns once committed.
    pub(super) async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { write, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// One committer: takes what is waiting, commits it, answers, again.
async fn commit_batches(queue: Arc<Mutex<mpsc::Receiver<Job>>>, pool: deadpool_postgres::Pool, metrics: StoreMetrics) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            while jobs.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let started = std::time::Instant::now();
        let writes: Vec<&Write> = jobs.iter().map(|job| &job.write).collect();
        let outcomes = match commit_batch(&pool, &writes).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // A write PostgreSQL refused (not a lost connection) must not fail the writes
            // it was batched with: each is tried again alone.
            Err(e) if writes.len() > 1 && !e.is_unavailable() => {
                let mut alone = Vec::with_capacity(writes.len());
                for write in &writes {
                    alone.push(commit_batch(&pool, &[*write]).await.map(|mut o| o.remove(0)));
                }
                alone
            }
            Err(e) => writes.iter().map(|_| Err(same_error(&e))).collect::<Vec<_>>(),
        };
        metrics.batch_done(jobs.len(), started);
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            // A caller that stopped waiting is no error: its write stands.
            let _ = job.reply.send(outcome);
        }
    }
}

/// The same failure again, for every write of a batch.
fn same_error(e: &StoreError) -> StoreError {
    if e.is_unavailable() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

/// What the batch knows of a record as it goes: as read, or as an earlier write left it.
enum Known {
    Stored { version: i64, expires_at: Option<i64> },
    Put { expires_at: Option<i64> },
    Deleted,
}

/// Commits `writes` in one transaction; each one's outcome, in order.
async fn commit_batch(pool: &deadpool_postgres::Pool, writes: &[&Write]) -> Result<Vec<Commit>, StoreError> {
    let client = pool.get().await.map_err(connect::pool_error)?;
    match in_one_transaction(&client, writes).await {
        Ok(outcomes) => Ok(outcomes),
        Err(e) => {
            // The transaction may still be open: end it before the connection goes back
            // to the pool (on a lost connection this fails at once, and the pool drops it).
            let _ = client.batch_execute("ROLLBACK").await;
            Err(db_error(e))
        }
    }
}

/// The batch's transaction in two round trips: BEGIN, the locks and the reads of the
/// checked records; then the changes of the writes whose checks hold, and COMMIT.
/// Pipelined (futures-util polls in argument order, so each statement is sent in turn
/// without waiting for the one before): PostgreSQL runs them in order, each read after
/// the locks with a snapshot of its own, so it sees every write that held these locks
/// before. A statement that fails aborts the transaction, and the COMMIT behind it then
/// rolls back; the failure is what is answered.
async fn in_one_transaction(
    client: &deadpool_postgres::Client,
    writes: &[&Write],
) -> Result<Vec<Commit>, tokio_postgres::Error> {
    let lock = client.prepare_cached(LOCK_RECORDS).await?;
    let read = client.prepare_cached(READ_CHECKED).await?;
    let locks = record_locks(writes.iter().copied());
    let mut checked: Vec<(&str, &str)> = writes
        .iter()
        .flat_map(|write| write.checks.iter().map(|c| (c.table, c.key.as_str())))
        .collect();
    checked.sort_unstable();
    checked.dedup();
    // One single-record read per key, not one join over an array: the plan of a join is
    // cached from when the table was small (a hash join over a sequential scan), while a
    // primary-key lookup stays one whatever the table's size.
    let read = &read;
    let reads = checked
        .iter()
        .map(|(table, key)| async move { client.query_opt(read, &[table, &key.as_bytes()]).await });
    let (_, _, found) = future::try_join3(
        client.batch_execute("BEGIN"),
        client.execute(&lock, &[&locks]),
        future::try_join_all(reads),
    )
    .await?;
    let mut known: HashMap<(&str, &str), Known> = HashMap::with_capacity(checked.len());
    for (record, row) in checked.iter().zip(found) {
        if let Some(row) = row {
            let (version, expires_at) = (row.get(0), row.get(1));
            known.insert(*record, Known::Stored { version, expires_at });
        }
    }
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut accepted: Vec<&Change> = Vec::new();
    for write in writes {
        if checks_hold(write, &known) {
            for change in &write.changes {
                let (record, state) = match change {
                    Change::Put {
                        table, key, expires_at, ..
                    } => (
                        (*table, key.as_str()),
                        Known::Put {
                            expires_at: *expires_at,
                        },
                    ),
                    Change::Delete { table, key } => ((*table, key.as_str()), Known::Deleted),
                };
                known.insert(record, state);
                accepted.push(change);
            }
            outcomes.push(Commit::Done);
        } else {
            outcomes.push(Commit::Conflict);
        }
    }
    if accepted.is_empty() {
        client.batch_execute("ROLLBACK").await?;
        return Ok(outcomes);
    }
    let changes = FinalChanges::of(accepted);
    let put = client.prepare_cached(PUT_ALL).await?;
    let delete = client.prepare_cached(DELETE_ALL).await?;
    future::try_join3(
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
            client.execute(&put, &params).await
        },
        async {
            if changes.delete_keys.is_empty() {
                return Ok(0);
            }
            client
                .execute(&delete, &[&changes.delete_tables, &changes.delete_keys])
                .await
        },
        client.batch_execute("COMMIT"),
    )
    .await?;
    Ok(outcomes)
}

/// Whether every check of `write` holds against what the batch knows (a record no one
/// read nor wrote does not exist: every checked record was read).
fn checks_hold(write: &Write, known: &HashMap<(&str, &str), Known>) -> bool {
    let live = |expires_at: &Option<i64>| expires_at.is_none_or(|at| at > write.now);
    write.checks.iter().all(|check| {
        let state = known.get(&(check.table, check.key.as_str()));
        match (&check.expect, state) {
            (Expect::Absent, None | Some(Known::Deleted)) => true,
            (Expect::Absent, Some(Known::Stored { expires_at, .. } | Known::Put { expires_at })) => !live(expires_at),
            (Expect::Version(expected), Some(Known::Stored { version, expires_at })) => {
                live(expires_at) && *expected == version_of(*version)
            }
            // Changed earlier in the batch: not the version this write read.
            (Expect::Version(_), _) => false,
        }
    })
}
