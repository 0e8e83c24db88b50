//! One opening of the sled database, and what keeps its readers on durable state.
//!
//! The writer applies a batch in memory before it flushes it, so for the length of a
//! flush a reader could see writes that are not on disk yet. That is harmless when the
//! flush succeeds; when it fails, those writes never become durable, and a reader that
//! saw them would have answered from state that a restart loses (a refresh token
//! rotated in memory only, say). So while a batch is in flight the writer names the
//! records it touches ([`InFlight`]), and a read that met one of them waits for the
//! batch's flush and is refused if it failed. A failed flush also marks the opening
//! failed for good: sled keeps its first I/O error, so the store stops serving from
//! this opening and the writer opens the database afresh from disk (see `writer`).

use super::backend;
use crate::store::{StoreError, TABLES};
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// The name of the tree that orders every expiring record by its expiry.
const EXPIRY_INDEX: &str = "expiry-index";
/// The tree the writer writes to when it checks that a fresh opening can write.
const PROBE: &str = "write-probe";

// The tables a batch touches are kept as bits of a u64.
const _: () = assert!(TABLES.len() < 64);

pub(super) struct Opening {
    pub(super) db: ::sled::Db,
    /// Every table's tree in the order of [`TABLES`], then the expiry index: the trees
    /// of every transaction.
    pub(super) trees: Vec<::sled::Tree>,
    in_flight: Mutex<InFlight>,
    /// The number of the last batch whose flush has ended (well or not).
    settled: watch::Sender<u64>,
    failed: AtomicBool,
}

/// What the batch being flushed touches.
#[derive(Default)]
struct InFlight {
    batch: u64,
    /// Hashes of (table, key) of every record the batch changes.
    records: HashSet<u64>,
    /// A bit for every table the batch changes.
    tables: u64,
}

impl Opening {
    pub(super) fn open(dir: &Path, cache_bytes: u64) -> Result<Opening, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let db = ::sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| open_error(dir, e))?;
        let mut trees = Vec::with_capacity(TABLES.len() + 1);
        for name in TABLES.into_iter().chain([EXPIRY_INDEX]) {
            trees.push(db.open_tree(name).map_err(backend)?);
        }
        Ok(Opening {
            db,
            trees,
            in_flight: Mutex::new(InFlight::default()),
            settled: watch::Sender::new(0),
            failed: AtomicBool::new(false),
        })
    }

    pub(super) fn tree(&self, table: &str) -> Result<&::sled::Tree, StoreError> {
        position(table)
            .map(|at| &self.trees[at])
            .ok_or_else(|| unknown_table(table))
    }

    pub(super) fn expiry(&self) -> &::sled::Tree {
        &self.trees[TABLES.len()]
    }

    pub(super) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Writes and flushes one small record: whether this opening can write to disk.
    pub(super) fn probe(&self, now: i64) -> Result<(), StoreError> {
        let probe = self.db.open_tree(PROBE).map_err(backend)?;
        probe.insert("last", now.to_be_bytes().as_slice()).map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    /// Called by the writer before it applies batch `batch`, with every (table, key) it changes.
    pub(super) fn begin<'a>(&self, batch: u64, changed: impl Iterator<Item = (&'a str, &'a str)>) {
        let mut in_flight = lock(&self.in_flight);
        in_flight.batch = batch;
        in_flight.records.clear();
        in_flight.tables = 0;
        for (table, key) in changed {
            in_flight.records.insert(record_hash(table, key));
            in_flight.tables |= position(table).map_or(0, |at| 1 << at);
        }
    }

    /// Called by the writer once batch `batch`'s flush has ended: `durable` or not.
    pub(super) fn settle(&self, batch: u64, durable: bool) {
        if !durable {
            // Before the batch leaves the in-flight set: a reader that no longer finds
            // its record there must find the failure.
            self.failed.store(true, Ordering::SeqCst);
        }
        let mut in_flight = lock(&self.in_flight);
        in_flight.records.clear();
        in_flight.tables = 0;
        drop(in_flight);
        self.settled.send_replace(batch);
    }

    /// After reading `key` of `table`: returns once what was read is known durable, or
    /// refuses it.
    pub(super) async fn confirm_record(&self, table: &str, key: &str) -> Result<(), StoreError> {
        let hash = record_hash(table, key);
        self.confirm(|in_flight| in_flight.records.contains(&hash)).await
    }

    /// After reading records of `table`: as [`Opening::confirm_record`], for all of them.
    pub(super) async fn confirm_table(&self, table: &str) -> Result<(), StoreError> {
        let bit = position(table).map_or(0, |at| 1u64 << at);
        self.confirm(|in_flight| in_flight.tables & bit != 0).await
    }

    async fn confirm(&self, touched: impl FnOnce(&InFlight) -> bool) -> Result<(), StoreError> {
        let waiting_for = {
            let in_flight = lock(&self.in_flight);
            touched(&in_flight).then(|| (in_flight.batch, self.settled.subscribe()))
        };
        if let Some((batch, mut settled)) = waiting_for {
            // The sender lives as long as `self`: an error cannot happen while we hold it.
            let _ = settled.wait_for(|done| *done >= batch).await;
        }
        if self.has_failed() {
            return Err(StoreError::Unavailable(
                "the disk refused a write: the database is being reopened".into(),
            ));
        }
        Ok(())
    }
}

/// Where a table's tree is in [`Opening::trees`].
pub(super) fn position(table: &str) -> Option<usize> {
    TABLES.iter().position(|t| *t == table)
}

pub(super) fn unknown_table(table: &str) -> StoreError {
    StoreError::Backend(format!("no table named {table}"))
}

fn record_hash(table: &str, key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (table, key).hash(&mut hasher);
    hasher.finish()
}

/// The lock, even if a thread panicked holding it (what it guards stays consistent:
/// every change under it is a plain assignment).
fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_error(dir: &Path, e: ::sled::Error) -> StoreError {
    match &e {
        ::sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
            StoreError::Locked(dir.to_path_buf())
        }
        _ => StoreError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        },
    }
}
