//! The one kind of write every backend offers: a set of changes that take effect
//! together, and only if every check on the records read before still holds.
//!
//! This is compare-and-swap over several records. It is all a backend has to provide for
//! Gatehouse's atomic steps (single use, first writer wins, rotation): sled applies it as
//! one transaction on its writer thread; an SQL backend as one transaction that locks
//! the checked rows.

/// What a backend hands back for a stored record.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record's JSON.
    pub value: Vec<u8>,
    /// Unix seconds after which the record no longer exists.
    pub expires_at: Option<i64>,
    /// What a later check compares against.
    pub version: Version,
}

/// An opaque mark of one state of a record: any change to the record changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub(super) Vec<u8>);

/// What a check expects to find under a key when the write is applied.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Nothing live: no record, or one that has expired at the write's `now`.
    Absent,
    /// The record exactly as it was read.
    Version(Version),
}

#[derive(Debug, Clone)]
pub struct Check {
    pub table: &'static str,
    pub key: String,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub enum Change {
    Put {
        table: &'static str,
        key: String,
        value: Vec<u8>,
        expires_at: Option<i64>,
    },
    Delete {
        table: &'static str,
        key: String,
    },
}

/// Changes to apply atomically, guarded by checks. Build one with [`crate::store::Store::write`]
/// and the tables' `expect`/`stage_*` methods; apply it with [`crate::store::Store::commit`].
#[derive(Debug, Clone)]
pub struct Write {
    pub(super) now: i64,
    pub(super) checks: Vec<Check>,
    pub(super) changes: Vec<Change>,
}

impl Write {
    pub(super) fn new(now: i64) -> Write {
        Write {
            now,
            checks: Vec::new(),
            changes: Vec::new(),
        }
    }
}

impl Change {
    pub fn table(&self) -> &'static str {
        match self {
            Change::Put { table, .. } | Change::Delete { table, .. } => table,
        }
    }
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Commit {
    /// Applied and durable.
    Done,
    /// A check failed: a record changed since it was read. Nothing was applied.
    Conflict,
}
