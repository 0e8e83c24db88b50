//! The embedded backend: one sled database in `data_dir`.
//!
//! Reads go straight to sled from the caller's thread (they are memory reads, or a page
//! read from disk at worst). Every write goes through the one writer thread
//! ([`writer`]), which applies a batch of writes in one transaction and makes it
//! durable with one synchronous flush. sled's asynchronous flush is never used: in sled
//! 0.34 it runs on sled's own I/O pool, where flushes waiting for buffer writes queued on
//! the same pool can take every thread, and the transactions and reads queued behind
//! them lock the whole database up (spacejam/sled#1308, #1412). Here a flush runs on the
//! writer thread, and no transaction can start while it runs.
//!
//! A write the disk refused is never served: readers that met a record of a batch being
//! flushed wait for the flush and are refused if it failed (`open`), and the writer then
//! opens the database again from disk, so only durable state comes back (`writer`).
//!
//! A record is stored as the JSON envelope `{"expires_at": N, "value": ...}`; every
//! expiring record also has an entry in the `expiry-index` tree, keyed by expiry first,
//! so that the sweeper walks only what has expired.

mod batch;
mod envelope;
mod jobs;
mod open;
mod writer;

use super::write::{Commit, Stored, Write};
use super::{StoreError, StoreMetrics};
use envelope::decode_live;
use open::Opening;
use std::path::Path;
use std::sync::{Arc, RwLock};

pub(crate) struct SledBackend {
    current: Arc<Current>,
    writer: writer::Writer,
    pub(crate) metrics: StoreMetrics,
}

/// The opening of the database that serves, if one does: none while the writer opens
/// it again after the disk refused a write.
pub(super) struct Current(RwLock<Option<Arc<Opening>>>);

impl Current {
    fn get(&self) -> Result<Arc<Opening>, StoreError> {
        let current = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        current
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the disk refused a write: the database is being reopened".into()))
    }

    fn set(&self, open: Option<Arc<Opening>>) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = open;
    }
}

impl SledBackend {
    pub(crate) fn open(dir: &Path, cache_bytes: u64) -> Result<SledBackend, StoreError> {
        let open = Arc::new(Opening::open(dir, cache_bytes)?);
        let current = Arc::new(Current(RwLock::new(Some(open.clone()))));
        let metrics = StoreMetrics::default();
        let location = writer::Location {
            dir: dir.to_path_buf(),
            cache_bytes,
        };
        let writer = writer::Writer::start(open, current.clone(), location, metrics.clone())?;
        Ok(SledBackend {
            current,
            writer,
            metrics,
        })
    }

    /// The record under `key`, once what was read is known to be durable.
    pub(crate) async fn get(&self, table: &'static str, key: &str, now: i64) -> Result<Option<Stored>, StoreError> {
        let open = self.current.get()?;
        let bytes = open.tree(table)?.get(key).map_err(backend)?;
        open.confirm_record(table, key).await?;
        match bytes {
            Some(bytes) => decode_live(table, &bytes, now),
            None => Ok(None),
        }
    }

    pub(crate) async fn scan_prefix(
        &self,
        table: &'static str,
        prefix: &str,
        now: i64,
    ) -> Result<Vec<(String, Stored)>, StoreError> {
        let open = self.current.get()?;
        let mut out = Vec::new();
        for item in open.tree(table)?.scan_prefix(prefix) {
            let (key, bytes) = item.map_err(backend)?;
            if let Some(stored) = decode_live(table, &bytes, now)? {
                out.push((String::from_utf8_lossy(&key).into_owned(), stored));
            }
        }
        open.confirm_table(table).await?;
        Ok(out)
    }

    pub(crate) async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        // Refused at once while no opening serves, rather than queued behind the reopening.
        self.current.get()?;
        self.writer.commit(write).await
    }

    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush().await
    }

    pub(crate) async fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        self.current.get()?;
        self.writer.sweep(now, limit).await
    }

    pub(crate) fn stored_len(&self, table: &'static str) -> Result<usize, StoreError> {
        Ok(self.current.get()?.tree(table)?.len())
    }

    pub(crate) fn expiring_len(&self) -> Result<usize, StoreError> {
        Ok(self.current.get()?.expiry().len())
    }
}

/// A failure of sled: an I/O error (a full or failing disk) is `Unavailable`.
pub(super) fn backend(e: ::sled::Error) -> StoreError {
    match e {
        ::sled::Error::Io(io) => StoreError::Unavailable(format!("the disk: {io}")),
        other => StoreError::Backend(other.to_string()),
    }
}
