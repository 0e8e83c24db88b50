//! A typed view of one sled tree. Values are JSON; a value may carry an expiry, and
//! then it is also listed in the shared expiry index so that the sweeper finds it
//! without scanning.

use super::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::marker::PhantomData;

#[derive(Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// Unix seconds after which the record no longer exists.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    expires_at: Option<i64>,
    value: T,
}

/// One kind of record, keyed by string.
pub struct Table<T> {
    name: &'static str,
    tree: sled::Tree,
    expiry: sled::Tree,
    _record: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Table {
            name: self.name,
            tree: self.tree.clone(),
            expiry: self.expiry.clone(),
            _record: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Table<T> {
    pub(super) fn new(name: &'static str, tree: sled::Tree, expiry: sled::Tree) -> Self {
        Table {
            name,
            tree,
            expiry,
            _record: PhantomData,
        }
    }

    /// The record under `key`, unless it is missing or expired at `now`.
    pub fn get(&self, key: &str, now: i64) -> Result<Option<T>, StoreError> {
        Ok(self.get_with_expiry(key, now)?.map(|(value, _)| value))
    }

    /// Like [`Table::get`], with the record's expiry.
    pub fn get_with_expiry(&self, key: &str, now: i64) -> Result<Option<(T, Option<i64>)>, StoreError> {
        let Some(bytes) = self.tree.get(key)? else {
            return Ok(None);
        };
        let envelope = self.decode(&bytes)?;
        let expires_at = envelope.expires_at;
        Ok(live(envelope, now).map(|value| (value, expires_at)))
    }

    /// Stores `value` under `key`, replacing what was there; `expires_at` in unix seconds.
    pub fn put(&self, key: &str, value: &T, expires_at: Option<i64>) -> Result<(), StoreError> {
        let bytes = self.encode(value, expires_at)?;
        self.transaction(|tree, expiry| {
            let old = tree.insert(key.as_bytes(), bytes.as_slice())?;
            self.reindex(expiry, key, old.as_deref(), expires_at)?;
            Ok(())
        })
    }

    /// Stores `value` only when nothing live is stored under `key`; returns whether it did.
    pub fn insert_new(&self, key: &str, value: &T, expires_at: Option<i64>, now: i64) -> Result<bool, StoreError> {
        let bytes = self.encode(value, expires_at)?;
        self.transaction(|tree, expiry| {
            let old = tree.get(key.as_bytes())?;
            if let Some(old) = &old
                && live(self.decode_in_tx(old)?, now).is_some()
            {
                return Ok(false);
            }
            tree.insert(key.as_bytes(), bytes.as_slice())?;
            self.reindex(expiry, key, old.as_deref(), expires_at)?;
            Ok(true)
        })
    }

    /// Removes the record and returns it if it was live: the one atomic step that makes
    /// a record single-use (a second `take` of the same key finds nothing).
    pub fn take(&self, key: &str, now: i64) -> Result<Option<T>, StoreError> {
        self.transaction(|tree, expiry| {
            let Some(old) = tree.remove(key.as_bytes())? else {
                return Ok(None);
            };
            self.reindex(expiry, key, Some(&old), None)?;
            Ok(live(self.decode_in_tx(&old)?, now))
        })
    }

    /// Reads, changes and writes back one record atomically. `change` sees the live record
    /// (or `None`) and returns the new one with its expiry, or `None` to delete it. It may
    /// run more than once when writers conflict, so it must not have side effects.
    pub fn update<F>(&self, key: &str, now: i64, change: F) -> Result<Option<T>, StoreError>
    where
        F: Fn(Option<T>) -> Option<(T, Option<i64>)>,
    {
        self.transaction(|tree, expiry| {
            let old = tree.get(key.as_bytes())?;
            let current = match &old {
                Some(bytes) => live(self.decode_in_tx(bytes)?, now),
                None => None,
            };
            match change(current) {
                Some((value, expires_at)) => {
                    let bytes = self
                        .encode(&value, expires_at)
                        .map_err(ConflictableTransactionError::Abort)?;
                    tree.insert(key.as_bytes(), bytes)?;
                    self.reindex(expiry, key, old.as_deref(), expires_at)?;
                    Ok(Some(value))
                }
                None => {
                    if old.is_some() {
                        tree.remove(key.as_bytes())?;
                        self.reindex(expiry, key, old.as_deref(), None)?;
                    }
                    Ok(None)
                }
            }
        })
    }

    /// Every live record with its key, in key order.
    pub fn entries(&self, now: i64) -> Result<Vec<(String, T)>, StoreError> {
        self.entries_with_prefix("", now)
    }

    /// Live records whose key starts with `prefix`, in key order.
    pub fn entries_with_prefix(&self, prefix: &str, now: i64) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (key, bytes) = item?;
            if let Some(value) = live(self.decode(&bytes)?, now) {
                out.push((String::from_utf8_lossy(&key).into_owned(), value));
            }
        }
        Ok(out)
    }

    /// How many records the tree physically holds, expired or not (for tests and metrics).
    pub fn stored_len(&self) -> usize {
        self.tree.len()
    }

    fn transaction<R>(
        &self,
        body: impl Fn(&TransactionalTree, &TransactionalTree) -> Result<R, ConflictableTransactionError<StoreError>>,
    ) -> Result<R, StoreError> {
        (&self.tree, &self.expiry)
            .transaction(|(tree, expiry)| body(tree, expiry))
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }

    /// Moves this record's entry in the expiry index from its old expiry to the new one.
    fn reindex(
        &self,
        expiry: &TransactionalTree,
        key: &str,
        old: Option<&[u8]>,
        expires_at: Option<i64>,
    ) -> Result<(), ConflictableTransactionError<StoreError>> {
        if let Some(old_expiry) = old.and_then(|bytes| self.decode_expiry(bytes)) {
            expiry.remove(index_key(old_expiry, self.name, key))?;
        }
        if let Some(at) = expires_at {
            expiry.insert(index_key(at, self.name, key), &[])?;
        }
        Ok(())
    }

    fn encode(&self, value: &T, expires_at: Option<i64>) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(&Envelope { expires_at, value }).map_err(|e| StoreError::Corrupt {
            table: self.name,
            detail: e.to_string(),
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<Envelope<T>, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            table: self.name,
            detail: e.to_string(),
        })
    }

    fn decode_in_tx(&self, bytes: &[u8]) -> Result<Envelope<T>, ConflictableTransactionError<StoreError>> {
        self.decode(bytes).map_err(ConflictableTransactionError::Abort)
    }

    fn decode_expiry(&self, bytes: &[u8]) -> Option<i64> {
        #[derive(serde::Deserialize)]
        struct ExpiryOnly {
            expires_at: Option<i64>,
        }
        serde_json::from_slice::<ExpiryOnly>(bytes).ok()?.expires_at
    }
}

fn live<T>(envelope: Envelope<T>, now: i64) -> Option<T> {
    match envelope.expires_at {
        Some(at) if at <= now => None,
        _ => Some(envelope.value),
    }
}

/// `expires_at` big-endian (so the index is ordered by time), then `table \0 key`.
pub(super) fn index_key(expires_at: i64, table: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + table.len() + 1 + key.len());
    out.extend_from_slice(&sortable(expires_at));
    out.extend_from_slice(table.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

/// Maps i64 onto u64 preserving order, so negative times sort before positive ones.
pub(super) fn sortable(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}
