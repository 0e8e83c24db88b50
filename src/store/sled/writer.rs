//! The one thread that writes to sled: group commit.
//!
//! Callers queue a job and wait. The thread takes every job that is waiting (up to
//! [`MAX_BATCH`]), applies each as its own transaction (a failed or conflicting one
//! fails alone), flushes once with sled's synchronous `flush`, and only then answers
//! the callers of the batch. The queue is bounded: when it is full, callers wait for
//! room. The thread ends when the last handle is dropped, after a final flush.

use super::{encode, index_key, is_live, split_index_key, stored_expiry, unknown_table};
use crate::store::StoreError;
use crate::store::write::{Change, Commit, Expect, Write};
use ::sled::Transactional;
use ::sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// How many jobs may wait for the writer before callers wait for room.
const QUEUE_BOUND: usize = 4096;
/// The most jobs applied between two flushes.
const MAX_BATCH: usize = 1024;

enum Job {
    Commit(Write, oneshot::Sender<Result<Commit, StoreError>>),
    Sweep {
        now: i64,
        limit: usize,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// A job applied, waiting for its batch to be flushed before it is answered.
enum Applied {
    Commit(oneshot::Sender<Result<Commit, StoreError>>, Result<Commit, StoreError>),
    Sweep(oneshot::Sender<Result<usize, StoreError>>, Result<usize, StoreError>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
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
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE_BOUND);
        let thread = WriterThread { db, trees, expiry };
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
        let (reply, answer) = oneshot::channel();
        self.send(Job::Commit(write, reply)).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Sweep { now, limit, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Flush(reply)).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job).await.map_err(|_| StoreError::Closed)
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
    trees: HashMap<&'static str, ::sled::Tree>,
    expiry: ::sled::Tree,
}

impl WriterThread {
    fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = queue.blocking_recv() {
            batch.push(self.apply(first));
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(self.apply(job)),
                    Err(_) => break,
                }
            }
            let flushed = self.db.flush().map(|_| ()).map_err(|e| e.to_string());
            if let Err(e) = &flushed {
                tracing::error!(error = %e, "the database cannot be flushed: the writes of this batch are not durable");
            }
            for applied in batch.drain(..) {
                answer(applied, &flushed);
            }
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "the database cannot be flushed on close");
        }
    }

    fn apply(&self, job: Job) -> Applied {
        match job {
            Job::Commit(write, reply) => Applied::Commit(reply, self.commit(&write)),
            Job::Sweep { now, limit, reply } => Applied::Sweep(reply, self.sweep(now, limit)),
            Job::Flush(reply) => Applied::Flush(reply),
        }
    }

    /// One transaction over the trees the write touches and the expiry index.
    fn commit(&self, write: &Write) -> Result<Commit, StoreError> {
        let tables = write.tables();
        let mut trees = Vec::with_capacity(tables.len() + 1);
        for table in &tables {
            trees.push(self.trees.get(table).ok_or_else(|| unknown_table(table))?.clone());
        }
        trees.push(self.expiry.clone());
        let position = |table: &str| tables.iter().position(|t| *t == table).unwrap_or_default();
        let outcome = trees.as_slice().transaction(|view| {
            let expiry = &view[tables.len()];
            for check in &write.checks {
                let current = view[position(check.table)].get(check.key.as_bytes())?;
                let holds = match (&check.expect, current) {
                    (Expect::Absent, None) => true,
                    (Expect::Absent, Some(bytes)) => !is_live(stored_expiry(&bytes), write.now),
                    (Expect::Version(version), Some(bytes)) => version.0 == bytes.as_ref(),
                    (Expect::Version(_), None) => false,
                };
                if !holds {
                    return Err(ConflictableTransactionError::Abort(()));
                }
            }
            for change in &write.changes {
                let tree = &view[position(change.table())];
                match change {
                    Change::Put {
                        table,
                        key,
                        value,
                        expires_at,
                    } => {
                        let old = tree.insert(key.as_bytes(), encode(value, *expires_at))?;
                        reindex(expiry, table, key.as_bytes(), old.as_deref(), *expires_at)?;
                    }
                    Change::Delete { table, key } => {
                        let old = tree.remove(key.as_bytes())?;
                        reindex(expiry, table, key.as_bytes(), old.as_deref(), None)?;
                    }
                }
            }
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(Commit::Done),
            Err(TransactionError::Abort(())) => Ok(Commit::Conflict),
            Err(TransactionError::Storage(e)) => Err(StoreError::Backend(e.to_string())),
        }
    }

    /// Removes up to `limit` expired records, oldest expiry first, in one transaction.
    fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let end = super::sortable(now.saturating_add(1));
        let mut due = Vec::new();
        for entry in self.expiry.range(..end.as_slice()).take(limit) {
            let (index_key, _) = entry.map_err(super::backend)?;
            due.push(index_key);
        }
        let mut trees: Vec<::sled::Tree> = vec![self.expiry.clone()];
        let mut tables: Vec<&str> = Vec::new();
        let mut removals = Vec::with_capacity(due.len());
        for index_key in &due {
            // An entry that names no table (written by a future version, or damaged) is
            // dropped with nothing else.
            let target = split_index_key(index_key).and_then(|(table, key)| {
                let tree = self.trees.get(table)?;
                let at = match tables.iter().position(|t| *t == table) {
                    Some(at) => at + 1,
                    None => {
                        tables.push(table);
                        trees.push(tree.clone());
                        tables.len()
                    }
                };
                Some((at, key))
            });
            removals.push((index_key, target));
        }
        trees
            .as_slice()
            .transaction(|view| {
                for (index_key, target) in &removals {
                    view[0].remove(index_key.as_ref())?;
                    if let Some((at, key)) = target {
                        view[*at].remove(*key)?;
                    }
                }
                Ok(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => StoreError::Backend(e.to_string()),
                TransactionError::Abort(()) => StoreError::Backend("the sweep was aborted".into()),
            })?;
        Ok(removals.len())
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
    let not_durable = |e: &String| StoreError::Backend(format!("the write is not durable: {e}"));
    // A caller that stopped waiting is no error: its write stands.
    match applied {
        Applied::Commit(reply, result) => {
            let _ = reply.send(flushed.as_ref().map_err(not_durable).and(result));
        }
        Applied::Sweep(reply, result) => {
            let _ = reply.send(flushed.as_ref().map_err(not_durable).and(result));
        }
        Applied::Flush(reply) => {
            let _ = reply.send(flushed.as_ref().map(|_| ()).map_err(not_durable));
        }
    }
}
