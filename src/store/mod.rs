//! Persistence in an embedded sled database. Only this module talks to sled: the rest
//! of Gatehouse sees typed tables and [`StoreError`], so another backend can follow.

mod records;
mod table;

pub use records::*;
pub use table::Table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The name of the tree that orders every expiring record by its expiry.
const EXPIRY_INDEX: &str = "expiry-index";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database in {0} is in use by another process (is `gatehouse serve` running? \
         stop it first)"
    )]
    Locked(PathBuf),
    #[error("cannot open the database in {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("a record in table {table} cannot be read: {detail}")]
    Corrupt { table: &'static str, detail: String },
}

/// The database and a typed table for every kind of state Gatehouse keeps.
/// Cloning is cheap: clones share the same database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    expiry: sled::Tree,
    /// Every expiring table by name, so the sweeper can reach records the index names.
    trees: HashMap<&'static str, sled::Tree>,
    pub keys: Table<SigningKeyRecord>,
    pub accounts: Table<Account>,
    pub upstream_links: Table<UpstreamLink>,
    pub sessions: Table<Session>,
    pub pending_authorizations: Table<PendingAuthorization>,
    pub codes: Table<AuthorizationCode>,
    pub refresh_tokens: Table<RefreshToken>,
    pub refresh_families: Table<RefreshFamily>,
    pub consents: Table<Consent>,
    pub revoked_tokens: Table<RevokedToken>,
    pub pending_logouts: Table<PendingLogout>,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let db = sled::Config::new().path(dir).open().map_err(|e| open_error(dir, e))?;
        let expiry = db.open_tree(EXPIRY_INDEX)?;
        let mut opener = TableOpener {
            db: &db,
            expiry: &expiry,
            trees: HashMap::new(),
        };
        Ok(Store {
            keys: opener.table("keys")?,
            accounts: opener.table("accounts")?,
            upstream_links: opener.table("upstream-links")?,
            sessions: opener.table("sessions")?,
            pending_authorizations: opener.table("pending-authorizations")?,
            codes: opener.table("codes")?,
            refresh_tokens: opener.table("refresh-tokens")?,
            refresh_families: opener.table("refresh-families")?,
            consents: opener.table("consents")?,
            revoked_tokens: opener.table("revoked-tokens")?,
            pending_logouts: opener.table("pending-logouts")?,
            trees: opener.trees,
            db: db.clone(),
            expiry: expiry.clone(),
        })
    }

    /// Waits until every write so far is on disk. Call it before answering a request
    /// whose security depends on a write (a code used, a token rotated or revoked).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// The blocking twin of [`Store::flush`], for the command line.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Deletes every record that expired at or before `now`, walking the expiry index
    /// from its oldest entry; returns how many records were removed.
    pub fn sweep(&self, now: i64) -> Result<usize, StoreError> {
        let end = table::sortable(now.saturating_add(1));
        let mut removed = 0;
        for entry in self.expiry.range(..end.as_slice()) {
            let (index_key, _) = entry?;
            let Some((table, key)) = split_index_key(&index_key) else {
                self.expiry.remove(&index_key)?;
                continue;
            };
            let Some(tree) = self.trees.get(table) else {
                self.expiry.remove(&index_key)?;
                continue;
            };
            use sled::Transactional;
            // The record is removed only if the index entry is still there: a concurrent
            // `put` that moved the expiry has removed it, and the record stays.
            let swept = (tree, &self.expiry)
                .transaction(|(tree, expiry)| {
                    if expiry.remove(index_key.as_ref())?.is_some() {
                        tree.remove(key)?;
                        return Ok(true);
                    }
                    Ok(false)
                })
                .map_err(|e: sled::transaction::TransactionError<()>| match e {
                    sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
                    sled::transaction::TransactionError::Abort(()) => StoreError::Corrupt {
                        table: "expiry-index",
                        detail: "sweep aborted".into(),
                    },
                })?;
            removed += usize::from(swept);
        }
        Ok(removed)
    }

    /// How many entries the expiry index holds (for tests and metrics).
    pub fn expiry_index_len(&self) -> usize {
        self.expiry.len()
    }
}

/// Opens typed tables and remembers their trees by name for the sweeper.
struct TableOpener<'a> {
    db: &'a sled::Db,
    expiry: &'a sled::Tree,
    trees: HashMap<&'static str, sled::Tree>,
}

impl TableOpener<'_> {
    fn table<T: serde::Serialize + serde::de::DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> Result<Table<T>, StoreError> {
        let tree = self.db.open_tree(name)?;
        self.trees.insert(name, tree.clone());
        Ok(Table::new(name, tree, self.expiry.clone()))
    }
}

fn split_index_key(index_key: &[u8]) -> Option<(&str, &[u8])> {
    let rest = index_key.get(8..)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let table = std::str::from_utf8(&rest[..nul]).ok()?;
    Some((table, &rest[nul + 1..]))
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
            StoreError::Locked(dir.to_path_buf())
        }
        _ => StoreError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        },
    }
}
