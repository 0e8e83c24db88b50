//! Persistence behind a backend-neutral Store API.
//!
//! The rest of Gatehouse sees typed tables ([`Table`]), their records ([`records`]),
//! conditional writes ([`Write`]) and [`StoreError`]; never a backend's types. A backend
//! offers a small contract (see [`Backend`]): read a record, list by key prefix, apply a
//! [`Write`] atomically, make every accepted write durable, and sweep expired records.
//! `sled/` is the embedded default; a second backend goes in a folder beside it and
//! passes the conformance suite in `tests/store_conformance.rs` before it is wired in.
//!
//! Durability: an operation that writes returns only once its change is on disk, so a
//! request may be answered as soon as its writes return.

mod metrics;
mod postgres;
mod reads;
mod records;
mod sled;
mod table;
mod write;

pub use reads::{Found, Reads, Slot};
pub use records::*;
pub use table::{Table, Versioned};
pub use write::{Commit, Write};

use crate::config::{PostgresSettings, StoreSettings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use write::Stored;

pub use metrics::{OperationLabels, StoreMetrics};

/// How often a step that reads records and writes them back on condition is tried
/// again when a concurrent request changed them between the read and the write (each
/// retry sees what that request did); past it, the step fails as contended.
pub const MAX_RACES: usize = 8;

/// How many expired records one sweep step removes; sweeping runs step after step so
/// that writes waiting behind it are never held up for long.
const SWEEP_BATCH: usize = 1000;

/// How many records one transaction of a copy writes.
const COPY_BATCH: usize = 500;

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
    Backend(String),
    #[error("a record in table {table} cannot be read: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("a record in table {table} (key of {key_len} bytes) changed too often to be updated")]
    Contended { table: &'static str, key_len: usize },
    #[error("the store is shut down")]
    Closed,
    /// The database cannot be reached or cannot write now (a lost connection, no free
    /// connection in time, an I/O error): worth trying again, unlike the rest.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the store is out of reach for now (answered 503), rather than broken.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Closed)
    }
}

/// The backends. An enum rather than a trait object: each operation is a plain async
/// method, dispatched here and nowhere else.
#[derive(Clone)]
pub(crate) enum Backend {
    Sled(Arc<sled::SledBackend>),
    Postgres(Arc<postgres::PostgresBackend>),
}

impl Backend {
    /// The live record under `key` in `table` at `now`.
    async fn get(&self, table: &'static str, key: &str, now: i64) -> Result<Option<Stored>, StoreError> {
        let got = match self {
            Backend::Sled(b) => b.get(table, key, now).await,
            Backend::Postgres(b) => b.get(table, key, now).await,
        };
        self.metrics().count("get", &got);
        got
    }

    fn metrics(&self) -> &StoreMetrics {
        match self {
            Backend::Sled(b) => &b.metrics,
            Backend::Postgres(b) => &b.metrics,
        }
    }

    /// The live records under each (table, key) of `asked`, in its order.
    async fn get_many(&self, asked: &[(&'static str, String)], now: i64) -> Result<Vec<Option<Stored>>, StoreError> {
        let got = match self {
            Backend::Sled(b) => {
                let mut found = Vec::with_capacity(asked.len());
                for (table, key) in asked {
                    found.push(b.get(table, key, now).await?);
                }
                Ok(found)
            }
            Backend::Postgres(b) => b.get_many(asked, now).await,
        };
        self.metrics().count("get_many", &got);
        got
    }

    /// The live records of `table` whose key starts with `prefix`, in key order.
    async fn scan_prefix(
        &self,
        table: &'static str,
        prefix: &str,
        now: i64,
    ) -> Result<Vec<(String, Stored)>, StoreError> {
        let found = match self {
            Backend::Sled(b) => b.scan_prefix(table, prefix, now).await,
            Backend::Postgres(b) => b.scan_prefix(table, prefix, now).await,
        };
        self.metrics().count("scan", &found);
        found
    }

    /// Applies `write` atomically if its checks hold, and returns once it is durable.
    async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        let committed = match self {
            Backend::Sled(b) => b.commit(write).await,
            Backend::Postgres(b) => b.commit(write).await,
        };
        match &committed {
            Ok(Commit::Conflict) => self.metrics().count_outcome("commit", "conflict"),
            other => self.metrics().count("commit", other),
        }
        committed
    }

    /// Returns once every write accepted before the call is durable.
    async fn flush(&self) -> Result<(), StoreError> {
        match self {
            Backend::Sled(b) => b.flush().await,
            Backend::Postgres(b) => b.flush().await,
        }
    }

    /// Removes at most `limit` records expired at `now` (durably); returns how many.
    async fn sweep(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let swept = match self {
            Backend::Sled(b) => b.sweep(now, limit).await,
            Backend::Postgres(b) => b.sweep(now, limit).await,
        };
        self.metrics().count("sweep", &swept);
        swept
    }

    /// How many records `table` physically holds, expired ones included.
    async fn stored_len(&self, table: &'static str) -> Result<usize, StoreError> {
        match self {
            Backend::Sled(b) => b.stored_len(table),
            Backend::Postgres(b) => b.stored_len(table).await,
        }
    }

    /// How many records carry an expiry (expired ones included).
    async fn expiring_len(&self) -> Result<usize, StoreError> {
        match self {
            Backend::Sled(b) => b.expiring_len(),
            Backend::Postgres(b) => b.expiring_len().await,
        }
    }
}

/// Declares every table once: the `Store` field, its record type, and the name it is
/// stored under (`TABLES`, in this order).
macro_rules! store_tables {
    ($($field:ident: $record:ty = $name:literal),+ $(,)?) => {
        /// Every table, by the name it is stored under.
        pub(crate) const TABLES: [&str; [$($name),+].len()] = [$($name),+];

        /// The database and a typed table for every kind of state Gatehouse keeps.
        /// Cloning is cheap: clones share the same database.
        #[derive(Clone)]
        pub struct Store {
            backend: Backend,
            $(pub $field: Table<$record>,)+
        }

        impl Store {
            fn with_backend(backend: Backend) -> Store {
                Store {
                    $($field: Table::new($name, backend.clone()),)+
                    backend,
                }
            }
        }
    };
}

store_tables! {
    keys: SigningKeyRecord = "keys",
    accounts: Account = "accounts",
    upstream_links: UpstreamLink = "upstream-links",
    sessions: Session = "sessions",
    pending_authorizations: PendingAuthorization = "pending-authorizations",
    codes: AuthorizationCode = "codes",
    refresh_tokens: RefreshToken = "refresh-tokens",
    refresh_families: RefreshFamily = "refresh-families",
    consents: Consent = "consents",
    revoked_tokens: RevokedToken = "revoked-tokens",
    pending_logouts: PendingLogout = "pending-logouts",
    key_rotations: KeyRotation = "key-rotations",
    upstream_sessions: UpstreamSessionEntry = "upstream-sessions",
    seen_logout_tokens: SeenLogoutToken = "seen-logout-tokens",
    upstream_grants: UpstreamGrant = "upstream-grants",
    pending_links: PendingLink = "pending-links",
    used_client_assertions: UsedClientAssertion = "used-client-assertions",
    pushed_requests: PushedRequest = "pushed-requests",
    used_dpop_proofs: UsedDpopProof = "used-dpop-proofs",
    used_assertions: UsedAssertion = "used-assertions",
    saml_sp_keys: SamlSpKeyRecord = "saml-sp-keys",
    dpop_nonces: DpopNonce = "dpop-nonces",
    device_grants: DeviceGrant = "device-grants",
    device_user_codes: DeviceUserCode = "device-user-codes",
    account_sessions: AccountSession = "account-sessions",
    account_families: AccountFamily = "account-families",
    migrations: Migration = "migrations",
    logout_outbox: LogoutMessage = "logout-outbox",
    ended_sessions: EndedSession = "ended-sessions",
    withdrawn_grants: WithdrawnGrant = "withdrawn-grants",
    exchanged_tokens: ExchangedFrom = "exchanged-tokens",
    registered_clients: RegisteredClient = "registered-clients",
    signal_streams: SignalStream = "signal-streams",
    queued_signals: QueuedSignal = "queued-signals",
    signal_receivers: SignalReceiverState = "signal-receivers",
    seen_signals: SeenLogoutToken = "seen-signals",
    disabled_subjects: DisabledSubject = "disabled-subjects",
}

impl Store {
    /// Opens (or creates) the embedded database in `dir` and starts its writer.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let cache_bytes = crate::config::DEFAULT_CACHE_MB * 1024 * 1024;
        let backend = Backend::Sled(Arc::new(sled::SledBackend::open(dir, cache_bytes)?));
        Ok(Store::with_backend(backend))
    }

    /// Opens the store `settings` name: the shared PostgreSQL database (its schema
    /// created or upgraded), or else the embedded database in `data_dir`.
    pub async fn connect(settings: &StoreSettings, data_dir: &Path) -> Result<Store, StoreError> {
        let backend = match &settings.postgres {
            Some(postgres) => Backend::Postgres(Arc::new(postgres::PostgresBackend::open(postgres).await?)),
            None => {
                // Opening replays the database's log from disk: keep it off the async workers.
                let dir = data_dir.to_path_buf();
                let cache_bytes = settings.cache_mb.saturating_mul(1024 * 1024);
                let sled = tokio::task::spawn_blocking(move || sled::SledBackend::open(&dir, cache_bytes))
                    .await
                    .map_err(|e| StoreError::Backend(format!("opening the database stopped: {e}")))??;
                Backend::Sled(Arc::new(sled))
            }
        };
        Ok(Store::with_backend(backend))
    }

    /// The store's counters and histograms, for `/metrics`.
    pub fn metrics(&self) -> &StoreMetrics {
        self.backend.metrics()
    }

    /// How many records `table` holds, expired ones not yet swept included (for
    /// `/metrics`; on sled it walks the table, so it is not for the request path).
    pub async fn table_len(&self, table: &'static str) -> Result<usize, StoreError> {
        match &self.backend {
            // sled counts by walking the tree: not on an async worker.
            Backend::Sled(b) => {
                let b = b.clone();
                tokio::task::spawn_blocking(move || b.stored_len(table))
                    .await
                    .map_err(|e| StoreError::Backend(format!("counting {table} failed: {e}")))?
            }
            Backend::Postgres(_) => self.backend.stored_len(table).await,
        }
    }

    /// The name of every table.
    pub fn table_names() -> &'static [&'static str] {
        &TABLES
    }

    /// Whether the store is shared by several processes (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// For `gatehouse check`: reaches the PostgreSQL database of `settings` and does in a
    /// transaction that is rolled back what `serve` will do there at start-up (create or
    /// upgrade the schema, unless its version is newer than this binary's) and one write:
    /// a role that could not is found now, not when `serve` starts. Changes nothing.
    pub async fn check_usable(settings: &PostgresSettings) -> Result<(), StoreError> {
        postgres::PostgresBackend::rehearse(settings).await
    }

    /// A new, empty set of records to read together (see [`Reads`]).
    pub fn reads(&self) -> Reads {
        Reads::new(self.backend.clone())
    }

    /// A new, empty conditional write; `now` decides which records count as expired
    /// when its checks run.
    pub fn write(&self, now: i64) -> Write {
        Write::new(now)
    }

    /// Applies `write` atomically if every check still holds; returns once it is durable.
    pub async fn commit(&self, write: Write) -> Result<Commit, StoreError> {
        self.backend.commit(write).await
    }

    /// Returns once every write accepted so far is on disk (shutdown calls it last).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.backend.flush().await
    }

    /// Deletes every record that expired at or before `now`, in bounded steps; returns
    /// how many records were removed.
    pub async fn sweep(&self, now: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        loop {
            let step = self.backend.sweep(now, SWEEP_BATCH).await?;
            removed += step;
            if step < SWEEP_BATCH {
                return Ok(removed);
            }
        }
    }

    /// Copies every live record (with its expiry) into `target`, which must hold none;
    /// returns how many were copied. For moving from sled to PostgreSQL.
    pub async fn copy_into(&self, target: &Store, now: i64) -> Result<usize, StoreError> {
        for table in TABLES {
            if target.backend.stored_len(table).await? > 0 {
                return Err(StoreError::Backend(format!(
                    "the target database already holds records (table {table}): copy only into an empty one"
                )));
            }
        }
        let mut copied = 0;
        for table in TABLES {
            let records = self.backend.scan_prefix(table, "", now).await?;
            for chunk in records.chunks(COPY_BATCH) {
                let mut write = Write::new(now);
                for (key, stored) in chunk {
                    write.changes.push(write::Change::Put {
                        table,
                        key: key.clone(),
                        value: stored.value.clone(),
                        expires_at: stored.expires_at,
                    });
                }
                // No checks: the write cannot conflict.
                let _ = target.backend.commit(write).await?;
                copied += chunk.len();
            }
        }
        Ok(copied)
    }

    /// How many records carry an expiry, expired ones included (for tests and metrics).
    pub async fn expiring_len(&self) -> Result<usize, StoreError> {
        self.backend.expiring_len().await
    }
}
