//! `[store]`: where Gatehouse keeps its state. Without a `url` it is the embedded sled
//! database in `data_dir`; with one, a PostgreSQL database that several replicas share.

use super::{Duration, Problem, Secret, raw::decode};
use base64::Engine;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// How often a replica re-reads the signing keys from a shared database. A new key is
/// published this long (twice over) before any replica signs with it.
const DEFAULT_POLL_INTERVAL: Duration = Duration::seconds(10);
/// Connections to PostgreSQL per process.
const DEFAULT_POOL_SIZE: usize = 16;
/// sled's page cache, in MiB: its own default (1 GiB) would let the cache grow with the
/// number of live records until it held the whole database.
pub const DEFAULT_CACHE_MB: u64 = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    /// A shared PostgreSQL database; `None`: sled in `data_dir`.
    pub postgres: Option<PostgresSettings>,
    /// Encrypts the private signing keys at rest (required with PostgreSQL).
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// Earlier key-encryption keys, still accepted for reading while they are rotated out.
    pub previous_key_encryption_keys: Vec<KeyEncryptionKey>,
    pub poll_interval: Duration,
    /// The embedded database's page cache, in MiB.
    pub cache_mb: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSettings {
    /// The connection URL as written (it may hold a password: never shown).
    pub url: Secret,
    pub pool_size: usize,
    /// CA certificates (PEM) that sign the database's certificate, beside the public roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            postgres: None,
            key_encryption_key: None,
            previous_key_encryption_keys: Vec::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            cache_mb: DEFAULT_CACHE_MB,
        }
    }
}

impl StoreSettings {
    /// A warning when the database is reached over the network without TLS.
    pub fn warning(&self) -> Option<Problem> {
        let config: tokio_postgres::Config = self.postgres.as_ref()?.url.0.parse().ok()?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return None;
        }
        let remote = config.get_hosts().iter().find_map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) if !is_loopback(name) => Some(name.clone()),
            _ => None,
        })?;
        Some(Problem::new(
            "store.url",
            format!("the connection to {remote} is not encrypted: add ?sslmode=require (and ca_file for a private CA)"),
        ))
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// 32 bytes of AES-256 key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEncryptionKey(pub [u8; 32]);

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Deserialize)]
struct RawStore {
    url: Option<String>,
    key_encryption_key: Option<String>,
    #[serde(default)]
    previous_key_encryption_keys: Vec<String>,
    pool_size: Option<usize>,
    ca_file: Option<String>,
    poll_interval: Option<Duration>,
    cache_mb: Option<u64>,
}

pub fn validate_store(store: Option<toml::Value>, base: &Path, problems: &mut Vec<Problem>) -> StoreSettings {
    let defaults = StoreSettings::default();
    let Some(store) = store else {
        return defaults;
    };
    let Some(raw) = decode::<RawStore>(store, "store", problems) else {
        return defaults;
    };
    let before = problems.len();
    let postgres = raw.url.and_then(|url| {
        validate_url(&url, problems).map(|()| PostgresSettings {
            url: Secret(url),
            pool_size: raw.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
            ca_file: raw.ca_file.as_deref().map(|file| base.join(file)),
        })
    });
    if raw.pool_size == Some(0) {
        problems.push(Problem::new("store.pool_size", "must be at least 1"));
    }
    if let Some(file) = postgres.as_ref().and_then(|p| p.ca_file.as_ref())
        && !file.is_file()
    {
        problems.push(Problem::new(
            "store.ca_file",
            format!("{} is not a file", file.display()),
        ));
    }
    let key_encryption_key = raw
        .key_encryption_key
        .and_then(|text| parse_key(&text, "store.key_encryption_key", problems));
    let previous = raw
        .previous_key_encryption_keys
        .iter()
        .enumerate()
        .filter_map(|(i, text)| parse_key(text, &format!("store.previous_key_encryption_keys[{i}]"), problems))
        .collect();
    if postgres.is_some() && key_encryption_key.is_none() && problems.len() == before {
        problems.push(Problem::new(
            "store.key_encryption_key",
            "is required with a PostgreSQL url: 32 random bytes in base64 (e.g. from `openssl rand -base64 32`), \
             best as \"${GATEHOUSE_KEK}\"",
        ));
    }
    let poll_interval = raw.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL);
    if poll_interval.as_secs() == 0 {
        problems.push(Problem::new("store.poll_interval", "must be at least 1s"));
    }
    let cache_mb = raw.cache_mb.unwrap_or(DEFAULT_CACHE_MB);
    if cache_mb == 0 {
        problems.push(Problem::new("store.cache_mb", "must be at least 1"));
    } else if postgres.is_some() && raw.cache_mb.is_some() {
        problems.push(Problem::new(
            "store.cache_mb",
            "is the embedded database's cache: it does not apply with a PostgreSQL url",
        ));
    }
    StoreSettings {
        postgres,
        key_encryption_key,
        previous_key_encryption_keys: previous,
        poll_interval,
        cache_mb,
    }
}

/// Checks the URL's form without echoing it: it may hold a password.
fn validate_url(url: &str, problems: &mut Vec<Problem>) -> Option<()> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        problems.push(Problem::new(
            "store.url",
            "must be a PostgreSQL URL (postgres://user@host:port/database); leave it out for the embedded database",
        ));
        return None;
    }
    match url.parse::<tokio_postgres::Config>() {
        Ok(_) => Some(()),
        Err(e) => {
            problems.push(Problem::new("store.url", format!("is not a valid PostgreSQL URL: {e}")));
            None
        }
    }
}

fn parse_key(text: &str, key: &str, problems: &mut Vec<Problem>) -> Option<KeyEncryptionKey> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim());
    match bytes.ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) {
        Some(bytes) => Some(KeyEncryptionKey(bytes)),
        None => {
            problems.push(Problem::new(
                key,
                "must be 32 bytes in base64 (e.g. from `openssl rand -base64 32`)",
            ));
            None
        }
    }
}
