//! The one thread that writes to sled: group commit.
//!
//! Callers queue a job and wait. The thread takes every job that is waiting (up to
//! [`MAX_BATCH`]) and applies the batch's writes in order, each only if its checks still
//! hold (one that does not is answered `Conflict` and the rest go on), all in one sled
//! transaction: each write is atomic, and the batch costs sled's transaction markers
//! once. It then flushes once with sled's synchronous `flush`, and only then answers
//! the callers of the batch. The queue is bounded: when it is full, callers wait for
//! room. The thread ends when the last handle is dropped, after a final flush.

use super::{encode, index_key, is_live, split_index_key, stored_expiry, unknown_table};
use crate::store::write::{Change, Commit, Expect, Write};
use crate::store::{StoreError, StoreMetrics, TABLES};
use ::sled::Transactional;
use ::sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// How many jobs may wait for the writer before callers wait for room.
const QUEUE_BOUND: usize = 4096;
/// The most jobs applied between two flushes.
const MAX_BATCH: usize = 1024;
/// How long a batch smaller than the one before waits for more writes.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(150);

/// Where a caller waits for its answer.
type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Commit(Write, Reply<Commit>),
    Sweep {
        now: i64,
        limit: usize,
        reply: Reply<usize>,
    },
    Flush(Reply<()>),
}

/// A job applied, waiting for its batch to be flushed before it is answered.
enum Applied {
    Commit(Reply<Commit>, Result<Commit, StoreError>),
    Sweep(Reply<usize>, Result<usize, StoreError>),
    Flush(Reply<()>),
}

/// The handle callers use. Dropping it lets the thread finish the queue, flush and
/// end, and waits for that, so the database is closed when the store is dropped.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(
        db: ::sled::Db,
        trees: HashMap<&'static str, ::sled::Tree>,
        expiry: ::sled::Tree,
        metrics: StoreMetrics,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE_BOUND);
        let mut ordered = Vec::with_capacity(TABLES.len() + 1);
        for table in TABLES {
            ordered.push(trees.get(table).ok_or_else(|| unknown_table(table))?.clone());
        }
        ordered.push(expiry);
        let thread = WriterThread {
            db,
            trees: ordered,
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || thread.run(queue))
            .map_err(|e| StoreError::Backend(format!("cannot start the store writer: {e}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    pub(super) async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        self.ask(|reply| Job::Commit(write, reply)).await
    }

    pub(super) async fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        self.ask(|reply| Job::Sweep { now, limit, reply }).await
    }

    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        self.ask(Job::Flush).await
    }

    /// Queues the job `make` builds around a reply channel and waits for its answer.
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}

struct WriterThread {
    db: ::sled::Db,
    /// Every table's tree in the order of [`TABLES`], then the expiry index: the trees
    /// of every transaction.
    trees: Vec<::sled::Tree>,
    metrics: StoreMetrics,
}

/// Moves the jobs waiting in the queue into `jobs`, up to a full batch.
fn take_waiting(queue: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>) {
    while jobs.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => return,
        }
    }
}

/// Where the expiry index is in [`WriterThread::trees`].
const EXPIRY: usize = TABLES.len();

/// Where a table's tree is in [`WriterThread::trees`].
fn position(table: &str) -> Option<usize> {
    TABLES.iter().position(|t| *t == table)
}

impl WriterThread {
    fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut last_batch = 0;
        while let Some(first) = queue.blocking_recv() {
            jobs.push(first);
            take_waiting(&mut queue, &mut jobs);
            // Writes come in crowds: give the rest of the crowd a moment to arrive, so that
            // one flush covers them too (PostgreSQL's commit_delay).
            if last_batch > 1 && jobs.len() < last_batch {
                std::thread::sleep(COMMIT_DELAY);
                take_waiting(&mut queue, &mut jobs);
            }
            last_batch = jobs.len();
            let started = std::time::Instant::now();
            let applied = self.apply(std::mem::take(&mut jobs));
            let flushed = self.db.flush().map(|_| ()).map_err(|e| e.to_string());
            self.metrics.batch_done(last_batch, started);
            if let Err(e) = &flushed {
                tracing::error!(error = %e, "the database cannot be flushed: the writes of this batch are not durable");
            }
            for applied in applied {
                answer(applied, &flushed);
            }
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "the database cannot be flushed on close");
        }
    }

    /// Applies a batch: every conditional write in one sled transaction (sled writes
    /// each transaction's start and end to disk, so one per batch costs a fraction of
    /// one per write), then the sweeps.
    fn apply(&self, jobs: Vec<Job>) -> Vec<Applied> {
        let writes: Vec<&Write> = jobs
            .iter()
            .filter_map(|job| match job {
                Job::Commit(write, _) => Some(write),
                _ => None,
            })
            .collect();
        let mut outcomes = match self.commit_all(&writes) {
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
                Job::Sweep { now, limit, reply } => Applied::Sweep(reply, self.sweep(now, limit)),
                Job::Flush(reply) => Applied::Flush(reply),
            })
            .collect()
    }

    /// Applies `writes` in order, each only if its checks hold against everything
    /// before it (earlier writes of the batch included): one that does not hold is
    /// left out and answered `Conflict`, and the others go on.
    fn commit_all(&self, writes: &[&Write]) -> Result<Vec<Result<Commit, StoreError>>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let outcome = self.trees.as_slice().transaction(|view| {
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
            TransactionError::Storage(e) => super::backend(e),
            TransactionError::Abort(()) => StoreError::Backend("the batch was aborted".into()),
        })
    }

    /// Removes up to `limit` expired records, oldest expiry first, in one transaction.
    fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let end = super::sortable(now.saturating_add(1));
        let mut due = Vec::new();
        for entry in self.trees[EXPIRY].range(..end.as_slice()).take(limit) {
            let (index_key, _) = entry.map_err(super::backend)?;
            due.push(index_key);
        }
        self.trees
            .as_slice()
            .transaction(|view| {
                for index_key in &due {
                    view[EXPIRY].remove(index_key.as_ref())?;
                    // An entry that names no table (from a future version, or damaged)
                    // is dropped with nothing else.
                    if let Some((at, key)) = split_index_key(index_key).and_then(|(t, k)| Some((position(t)?, k))) {
                        view[at].remove(key)?;
                    }
                }
                Ok(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => super::backend(e),
                TransactionError::Abort(()) => StoreError::Backend("the sweep was aborted".into()),
            })?;
        Ok(due.len())
    }
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
    let expiry = &view[EXPIRY];
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

fn answer(applied: Applied, flushed: &Result<(), String>) {
    match applied {
        Applied::Commit(reply, result) => settle(reply, flushed, result),
        Applied::Sweep(reply, result) => settle(reply, flushed, result),
        Applied::Flush(reply) => settle(reply, flushed, Ok(())),
    }
}

/// Answers one caller: its own result, unless the batch's flush failed.
fn settle<T>(reply: Reply<T>, flushed: &Result<(), String>, result: Result<T, StoreError>) {
    let answer = match flushed {
        Ok(()) => result,
        Err(e) => Err(StoreError::Unavailable(format!("the write is not durable: {e}"))),
    };
    // A caller that stopped waiting is no error: its write stands.
    let _ = reply.send(answer);
}
