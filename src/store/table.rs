//! A typed table: records of one kind, keyed by string, stored as JSON, each with an
//! optional expiry. Reads treat an expired record as absent. Every operation here is
//! built from the backend's reads and its one conditional [`Write`].

use super::write::{Change, Check, Commit, Expect, Stored, Version, Write};
use super::{Backend, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// How often a read-modify-write is tried again when the record changed under it.
/// Only a record written this often in the time of one round trip runs out of tries.
const MAX_ATTEMPTS: usize = 64;

/// A record as read, with what a conditional write needs to check it is unchanged.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub expires_at: Option<i64>,
    version: Version,
}

/// One kind of record, keyed by string.
pub struct Table<T> {
    name: &'static str,
    backend: Backend,
    _record: PhantomData<fn() -> T>,
}

impl<T> Table<T> {
    /// The name the table is stored under.
    pub(super) fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Table {
            name: self.name,
            backend: self.backend.clone(),
            _record: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Table<T> {
    pub(super) fn new(name: &'static str, backend: Backend) -> Self {
        Table {
            name,
            backend,
            _record: PhantomData,
        }
    }

    /// The record under `key` with its version, unless it is missing or expired at `now`.
    pub async fn read(&self, key: &str, now: i64) -> Result<Option<Versioned<T>>, StoreError> {
        match self.backend.get(self.name, key, now).await? {
            Some(stored) => Ok(Some(self.decode(stored)?)),
            None => Ok(None),
        }
    }

    /// The record under `key`, unless it is missing or expired at `now`.
    pub async fn get(&self, key: &str, now: i64) -> Result<Option<T>, StoreError> {
        Ok(self.read(key, now).await?.map(|r| r.value))
    }

    /// Like [`Table::get`], with the record's expiry.
    pub async fn get_with_expiry(&self, key: &str, now: i64) -> Result<Option<(T, Option<i64>)>, StoreError> {
        Ok(self.read(key, now).await?.map(|r| (r.value, r.expires_at)))
    }

    /// Stores `value` under `key`, replacing what was there; `expires_at` in unix seconds.
    pub async fn put(&self, key: &str, value: &T, expires_at: Option<i64>) -> Result<(), StoreError> {
        // No checks: a put cannot conflict.
        let mut write = Write::new(0);
        self.stage_put(&mut write, key, value, expires_at)?;
        match self.backend.commit(write).await? {
            Commit::Done => Ok(()),
            Commit::Conflict => Err(self.contended(key)),
        }
    }

    /// Stores `value` only when nothing live is stored under `key`; returns whether it did.
    pub async fn insert_new(
        &self,
        key: &str,
        value: &T,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut write = Write::new(now);
        self.expect(&mut write, key, None);
        self.stage_put(&mut write, key, value, expires_at)?;
        Ok(self.backend.commit(write).await? == Commit::Done)
    }

    /// Removes the record and returns it if it was live: the one atomic step that makes
    /// a record single-use (of two concurrent `take`s of a key, one gets the record).
    pub async fn take(&self, key: &str, now: i64) -> Result<Option<T>, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(current) = self.read(key, now).await? else {
                return Ok(None);
            };
            let mut write = Write::new(now);
            self.expect(&mut write, key, Some(&current));
            self.stage_delete(&mut write, key);
            if self.backend.commit(write).await? == Commit::Done {
                return Ok(Some(current.value));
            }
        }
        Err(self.contended(key))
    }

    /// Reads, changes and writes back one record atomically. `change` sees the live record
    /// (or `None`) and returns the new one with its expiry, or `None` to delete it. It
    /// runs again when another writer changed the record meanwhile, so it must not have
    /// side effects. Returns what was written.
    pub async fn update<F>(&self, key: &str, now: i64, change: F) -> Result<Option<T>, StoreError>
    where
        F: Fn(Option<T>) -> Option<(T, Option<i64>)>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let current = self.read(key, now).await?;
            let mut write = Write::new(now);
            self.expect(&mut write, key, current.as_ref());
            let existed = current.is_some();
            let next = change(current.map(|c| c.value));
            match &next {
                Some((value, expires_at)) => self.stage_put(&mut write, key, value, *expires_at)?,
                None if existed => self.stage_delete(&mut write, key),
                None => return Ok(None),
            }
            if self.backend.commit(write).await? == Commit::Done {
                return Ok(next.map(|(value, _)| value));
            }
        }
        Err(self.contended(key))
    }

    /// Every live record with its key, in key order.
    pub async fn entries(&self, now: i64) -> Result<Vec<(String, T)>, StoreError> {
        self.entries_with_prefix("", now).await
    }

    /// Live records whose key starts with `prefix`, in key order.
    pub async fn entries_with_prefix(&self, prefix: &str, now: i64) -> Result<Vec<(String, T)>, StoreError> {
        self.backend
            .scan_prefix(self.name, prefix, now)
            .await?
            .into_iter()
            .map(|(key, stored)| Ok((key, self.decode(stored)?.value)))
            .collect()
    }

    /// How many records the table physically holds, expired or not (for tests and metrics).
    pub async fn stored_len(&self) -> Result<usize, StoreError> {
        self.backend.stored_len(self.name).await
    }

    /// Makes `write` apply only if the record under `key` is still `current` (`None`:
    /// still absent or expired).
    pub fn expect(&self, write: &mut Write, key: &str, current: Option<&Versioned<T>>) {
        write.checks.push(Check {
            table: self.name,
            key: key.to_string(),
            expect: match current {
                Some(record) => Expect::Version(record.version.clone()),
                None => Expect::Absent,
            },
        });
    }

    /// Adds storing `value` under `key` to `write`.
    pub fn stage_put(
        &self,
        write: &mut Write,
        key: &str,
        value: &T,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            table: self.name,
            detail: e.to_string(),
        })?;
        write.changes.push(Change::Put {
            table: self.name,
            key: key.to_string(),
            value,
            expires_at,
        });
        Ok(())
    }

    /// Adds removing the record under `key` to `write`.
    pub fn stage_delete(&self, write: &mut Write, key: &str) {
        write.changes.push(Change::Delete {
            table: self.name,
            key: key.to_string(),
        });
    }

    fn decode(&self, stored: Stored) -> Result<Versioned<T>, StoreError> {
        decode(self.name, stored)
    }

    fn contended(&self, key: &str) -> StoreError {
        StoreError::Contended {
            table: self.name,
            key_len: key.len(),
        }
    }
}

/// The record `stored` of `table`, as a `T`.
pub(super) fn decode<T: DeserializeOwned>(table: &'static str, stored: Stored) -> Result<Versioned<T>, StoreError> {
    let value = serde_json::from_slice(&stored.value).map_err(|e| StoreError::Corrupt {
        table,
        detail: e.to_string(),
    })?;
    Ok(Versioned {
        value,
        expires_at: stored.expires_at,
        version: stored.version,
    })
}
