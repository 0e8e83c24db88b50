//! The one thread that writes to sled: group commit, and healing after a failed write.
//!
//! Callers queue a job and wait. The thread takes every job that is waiting (up to
//! [`MAX_BATCH`]) and applies the batch's writes in order, each only if its checks still
//! hold (one that does not is answered `Conflict` and the rest go on), all in one sled
//! transaction: each write is atomic, and the batch costs sled's transaction markers
//! once. It then flushes once with sled's synchronous `flush`, and only then answers
//! the callers of the batch. The queue is bounded: when it is full, callers wait for
//! room. The thread ends when the last handle is dropped, after a final flush.
//!
//! When a batch cannot be made durable (a full or failing disk), sled keeps that error
//! and fails every later write of the same opening, and its memory holds writes the disk
//! does not. So the thread stops serving that opening at once (readers are refused, see
//! `open`), lets it go, and opens the database again from disk, which brings back only
//! what was durable: retrying with a growing pause until an opening can write again,
//! and serving from it. Nothing needs a restart once the disk has room.

use super::Current;
use super::batch::apply;
use super::jobs::{Applied, Job, Reply};
use super::open::Opening;
use crate::store::write::{Change, Commit, Write};
use crate::store::{StoreError, StoreMetrics};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// How many jobs may wait for the writer before callers wait for room.
const QUEUE_BOUND: usize = 4096;
/// The most jobs applied between two flushes.
const MAX_BATCH: usize = 1024;
/// How long a batch smaller than the one before waits for more writes.
const COMMIT_DELAY: Duration = Duration::from_micros(150);
/// The first and the longest pause between two attempts to open the database again.
const FIRST_RETRY: Duration = Duration::from_millis(20);
const LONGEST_RETRY: Duration = Duration::from_secs(1);

/// The handle callers use. Dropping it lets the thread finish the queue, flush and
/// end, and waits for that, so the database is closed when the store is dropped.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where the database lives and how it is opened again.
pub(super) struct Location {
    pub(super) dir: PathBuf,
    pub(super) cache_bytes: u64,
}

impl Writer {
    pub(super) fn start(
        open: Arc<Opening>,
        current: Arc<Current>,
        location: Location,
        metrics: StoreMetrics,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE_BOUND);
        let thread = WriterThread {
            open: Some(open),
            current,
            location,
            metrics,
            batch: 0,
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
    /// The opening writes go to; none while the database is being opened again.
    open: Option<Arc<Opening>>,
    /// The opening readers use, the same one (or none).
    current: Arc<Current>,
    location: Location,
    metrics: StoreMetrics,
    /// The number of the batch last applied.
    batch: u64,
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

impl WriterThread {
    fn run(mut self, mut queue: mpsc::Receiver<Job>) {
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
            let Some(open) = self.open.clone() else {
                jobs.drain(..).for_each(refuse);
                continue;
            };
            if !self.write_batch(&open, std::mem::take(&mut jobs)) {
                drop(open);
                if !self.heal(&mut queue) {
                    return;
                }
            }
        }
        if let Some(open) = &self.open
            && let Err(e) = open.db.flush()
        {
            tracing::error!(error = %e, "the database cannot be flushed on close");
        }
    }

    /// Applies, flushes and answers one batch; false if it could not be made durable.
    fn write_batch(&mut self, open: &Opening, jobs: Vec<Job>) -> bool {
        self.batch += 1;
        let started = std::time::Instant::now();
        open.begin(self.batch, changed_records(&jobs));
        let applied = apply(open, jobs);
        let broken = applied.iter().find_map(Applied::unavailable);
        let flushed = match broken {
            Some(detail) => Err(detail),
            None => open.db.flush().map(|_| ()).map_err(|e| e.to_string()),
        };
        open.settle(self.batch, flushed.is_ok());
        self.metrics.batch_done(applied.len(), started);
        if let Err(e) = &flushed {
            tracing::error!(
                error = %e,
                "the disk refused a write: the store stops serving (answering 503) and opens the database \
                 again from disk, keeping only what was durable"
            );
        }
        for applied in applied {
            answer(applied, &flushed);
        }
        flushed.is_ok()
    }

    /// Opens the database again until an opening can write, answering every job that
    /// arrives meanwhile as unavailable. False if the queue closed first (shutdown).
    fn heal(&mut self, queue: &mut mpsc::Receiver<Job>) -> bool {
        self.current.set(None);
        self.open = None;
        let mut pause = FIRST_RETRY;
        let mut last_failure = String::new();
        loop {
            loop {
                match queue.try_recv() {
                    Ok(job) => refuse(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return false,
                }
            }
            match self.reopen() {
                Ok(open) => {
                    self.current.set(Some(open.clone()));
                    self.open = Some(open);
                    tracing::info!("the database is open again and writes reach the disk: the store serves again");
                    return true;
                }
                Err(e) => {
                    let failure = e.to_string();
                    if failure != last_failure {
                        tracing::warn!(error = %failure, "the database cannot be opened again yet; retrying");
                        last_failure = failure;
                    }
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(LONGEST_RETRY);
        }
    }

    /// A fresh opening that has shown it can write, or why not.
    fn reopen(&self) -> Result<Arc<Opening>, StoreError> {
        let open = Opening::open(&self.location.dir, self.location.cache_bytes)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        open.probe(now)?;
        Ok(Arc::new(open))
    }
}

/// Every (table, key) the commits among `jobs` change.
fn changed_records(jobs: &[Job]) -> impl Iterator<Item = (&str, &str)> {
    jobs.iter()
        .filter_map(|job| match job {
            Job::Commit(write, _) => Some(write.changes.iter()),
            _ => None,
        })
        .flatten()
        .map(|change| match change {
            Change::Put { table, key, .. } | Change::Delete { table, key } => (*table, key.as_str()),
        })
}

/// Answers a job that arrived while no opening can write.
fn refuse(job: Job) {
    let why = || StoreError::Unavailable("the disk refused a write: the database is being reopened".into());
    match job {
        Job::Commit(_, reply) => drop(reply.send(Err(why()))),
        Job::Sweep { reply, .. } => drop(reply.send(Err(why()))),
        // Every write accepted before is durable: writes since have been refused.
        Job::Flush(reply) => drop(reply.send(Ok(()))),
    }
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
