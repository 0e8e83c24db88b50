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
//! A record is stored as the JSON envelope `{"expires_at": N, "value": ...}`; every
//! expiring record also has an entry in the `expiry-index` tree, keyed by expiry first,
//! so that the sweeper walks only what has expired.

mod writer;

use super::write::{Commit, Stored, Version, Write};
use super::{StoreError, StoreMetrics, TABLES};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::path::Path;

/// The name of the tree that orders every expiring record by its expiry.
const EXPIRY_INDEX: &str = "expiry-index";

pub(crate) struct SledBackend {
    trees: HashMap<&'static str, ::sled::Tree>,
    expiry: ::sled::Tree,
    writer: writer::Writer,
    pub(crate) metrics: StoreMetrics,
}

impl SledBackend {
    pub(crate) fn open(dir: &Path, cache_bytes: u64) -> Result<SledBackend, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let db = ::sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| open_error(dir, e))?;
        let mut trees = HashMap::new();
        for name in TABLES {
            trees.insert(name, db.open_tree(name).map_err(backend)?);
        }
        let expiry = db.open_tree(EXPIRY_INDEX).map_err(backend)?;
        let metrics = StoreMetrics::default();
        let writer = writer::Writer::start(db, trees.clone(), expiry.clone(), metrics.clone())?;
        Ok(SledBackend {
            trees,
            expiry,
            writer,
            metrics,
        })
    }

    pub(crate) fn get(&self, table: &'static str, key: &str, now: i64) -> Result<Option<Stored>, StoreError> {
        match self.tree(table)?.get(key).map_err(backend)? {
            Some(bytes) => decode_live(table, &bytes, now),
            None => Ok(None),
        }
    }

    pub(crate) fn scan_prefix(
        &self,
        table: &'static str,
        prefix: &str,
        now: i64,
    ) -> Result<Vec<(String, Stored)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(table)?.scan_prefix(prefix) {
            let (key, bytes) = item.map_err(backend)?;
            if let Some(stored) = decode_live(table, &bytes, now)? {
                out.push((String::from_utf8_lossy(&key).into_owned(), stored));
            }
        }
        Ok(out)
    }

    pub(crate) async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        self.writer.commit(write).await
    }

    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush().await
    }

    pub(crate) async fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        self.writer.sweep(now, limit).await
    }

    pub(crate) fn stored_len(&self, table: &'static str) -> Result<usize, StoreError> {
        Ok(self.tree(table)?.len())
    }

    pub(crate) fn expiring_len(&self) -> usize {
        self.expiry.len()
    }

    fn tree(&self, table: &'static str) -> Result<&::sled::Tree, StoreError> {
        self.trees.get(table).ok_or_else(|| unknown_table(table))
    }
}

/// The envelope as read: the value stays raw JSON for the typed layer to decode.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(borrow)]
    value: &'a RawValue,
}

fn decode(table: &'static str, bytes: &[u8]) -> Result<Stored, StoreError> {
    let envelope: RawEnvelope = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table,
        detail: e.to_string(),
    })?;
    Ok(Stored {
        value: envelope.value.get().as_bytes().to_vec(),
        expires_at: envelope.expires_at,
        version: Version(bytes.to_vec()),
    })
}

fn decode_live(table: &'static str, bytes: &[u8], now: i64) -> Result<Option<Stored>, StoreError> {
    let stored = decode(table, bytes)?;
    Ok(is_live(stored.expires_at, now).then_some(stored))
}

fn is_live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

/// The envelope's bytes. The value is JSON already, so it is spliced in, not re-encoded.
fn encode(value: &[u8], expires_at: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 40);
    out.push(b'{');
    if let Some(at) = expires_at {
        out.extend_from_slice(format!("\"expires_at\":{at},").as_bytes());
    }
    out.extend_from_slice(b"\"value\":");
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

/// The expiry of a stored envelope, without decoding its value.
fn stored_expiry(bytes: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct ExpiryOnly {
        #[serde(default)]
        expires_at: Option<i64>,
    }
    serde_json::from_slice::<ExpiryOnly>(bytes).ok()?.expires_at
}

/// `expires_at` big-endian (so the index is ordered by time), then `table \0 key`.
fn index_key(expires_at: i64, table: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + table.len() + 1 + key.len());
    out.extend_from_slice(&sortable(expires_at));
    out.extend_from_slice(table.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The table and key an index entry names.
fn split_index_key(index_key: &[u8]) -> Option<(&str, &[u8])> {
    let rest = index_key.get(8..)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let table = std::str::from_utf8(&rest[..nul]).ok()?;
    Some((table, &rest[nul + 1..]))
}

/// Maps i64 onto u64 preserving order, so negative times sort before positive ones.
fn sortable(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

/// A failure of sled: an I/O error (a full or failing disk) is `Unavailable`.
pub(super) fn backend(e: ::sled::Error) -> StoreError {
    match e {
        ::sled::Error::Io(io) => StoreError::Unavailable(format!("the disk: {io}")),
        other => StoreError::Backend(other.to_string()),
    }
}

fn unknown_table(table: &str) -> StoreError {
    StoreError::Backend(format!("no table named {table}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_keep_the_format_of_earlier_versions() {
        let bytes = encode(br#"{"a":1}"#, Some(42));
        assert_eq!(bytes, br#"{"expires_at":42,"value":{"a":1}}"#);
        let stored = decode("keys", &bytes).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(stored.value, br#"{"a":1}"#);
        assert_eq!(stored.expires_at, Some(42));
        assert_eq!(stored_expiry(&bytes), Some(42));
        assert_eq!(encode(b"1", None), br#"{"value":1}"#);
    }

    #[test]
    fn index_keys_sort_by_time_and_name_their_record() {
        assert!(index_key(-5, "a", b"k") < index_key(3, "a", b"k"));
        assert!(index_key(3, "z", b"k") < index_key(4, "a", b"k"));
        let key = index_key(7, "codes", b"x:y");
        assert_eq!(split_index_key(&key), Some(("codes", &b"x:y"[..])));
    }
}
