//! Several records, of any tables, read together: one round trip on PostgreSQL, where a
//! request that checks many small things (is this token revoked, its session ended, its
//! grant withdrawn) would otherwise wait for each in turn.
//!
//! ```ignore
//! let mut reads = store.reads();
//! let revoked = reads.add(&store.revoked_tokens, jti);
//! let mut found = reads.run(now).await?;
//! let revoked: Option<RevokedToken> = found.take(revoked)?;
//! ```

use super::table::{Table, decode};
use super::write::Stored;
use super::{Backend, StoreError};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The records to read, each by table and key.
pub struct Reads {
    backend: Backend,
    asked: Vec<(&'static str, String)>,
}

/// Where one record of type `T` is in what [`Reads::run`] found.
pub struct Slot<T> {
    index: usize,
    table: &'static str,
    _record: PhantomData<fn() -> T>,
}

/// The live records found, in the order they were asked for.
pub struct Found {
    stored: Vec<Option<Stored>>,
}

impl Reads {
    pub(super) fn new(backend: Backend) -> Reads {
        Reads {
            backend,
            asked: Vec::new(),
        }
    }

    /// Asks for the record under `key` in `table`.
    pub fn add<T>(&mut self, table: &Table<T>, key: &str) -> Slot<T> {
        self.asked.push((table.name(), key.to_string()));
        Slot {
            index: self.asked.len() - 1,
            table: table.name(),
            _record: PhantomData,
        }
    }

    /// Reads every record asked for, treating an expired one (at `now`) as absent.
    pub async fn run(self, now: i64) -> Result<Found, StoreError> {
        let stored = self.backend.get_many(&self.asked, now).await?;
        Ok(Found { stored })
    }
}

impl Found {
    /// The record `slot` names, if it was found.
    pub fn take<T: DeserializeOwned>(&mut self, slot: Slot<T>) -> Result<Option<T>, StoreError> {
        match self.stored.get_mut(slot.index).and_then(Option::take) {
            Some(stored) => Ok(Some(decode::<T>(slot.table, stored)?.value)),
            None => Ok(None),
        }
    }
}
