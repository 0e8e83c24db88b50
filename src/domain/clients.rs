//! Every client, wherever it was registered: a `[[clients]]` table of the config, or a
//! client that registered itself (RFC 7591) and lives in the store, so that every
//! replica knows it at once. Config clients come first; a registered client can never
//! take a config client's id, nor the other way round, as registered ids are made here
//! and start with [`REGISTERED_ID_PREFIX`], which no config client's may.

use super::client_documents::ClientDocuments;
use super::client_metadata::{self, MetadataError};
use crate::config::{Client, Config};
use crate::store::{ClientMetadata, Consent, RegisteredClient, Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::config::REGISTERED_ID_PREFIX;

/// The client `id`: the config's, else a live registered one, else the one a metadata
/// document at `id` describes (`None` when it cannot be used; the log says why).
pub async fn find(
    config: &Config,
    store: &Store,
    documents: &ClientDocuments,
    id: &str,
    now: i64,
) -> Result<Option<Arc<Client>>, StoreError> {
    if let Some(client) = config.shared_client(id) {
        return Ok(Some(Arc::clone(client)));
    }
    if config.client_id_metadata_documents.names_document(id) {
        return Ok(documents.client(config, id, now).await.ok());
    }
    if !id.starts_with(REGISTERED_ID_PREFIX) {
        return Ok(None);
    }
    let Some(registered) = store.registered_clients.get(id, now).await? else {
        return Ok(None);
    };
    client_metadata::client(id, &registered)
        .map(|client| Some(Arc::new(client)))
        .map_err(|detail| StoreError::Corrupt {
            table: "registered-clients",
            detail: format!("client {id}: {detail}"),
        })
}

/// A registration as answered once: the secrets in clear, which are kept only hashed.
pub struct Registration {
    pub client_id: String,
    pub record: RegisteredClient,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{}", .0.description())]
    Metadata(MetadataError),
    /// As many clients are registered as `limits.registered_clients` allows.
    #[error("no more clients can be registered now")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registers a client with `metadata` (RFC 7591 §3), until `client_lifetime` from now.
/// Callers serialise registrations (`limits::Guards::registering`), so the count and the
/// insert cannot race within a replica.
pub async fn register(
    config: &Config,
    store: &Store,
    metadata: ClientMetadata,
    now: i64,
) -> Result<Registration, RegisterError> {
    let metadata = client_metadata::check(metadata, &client_metadata::Policy::registration(config), config)
        .map_err(RegisterError::Metadata)?;
    if store.registered_clients.stored_len().await? >= config.limits.registered_clients {
        return Err(RegisterError::Full);
    }
    let client_secret = holds_secret(&metadata).then(crate::secrets::random_token);
    let registration_access_token = crate::secrets::random_token();
    let expires_at = now.saturating_add(config.registration.client_lifetime.as_secs_i64());
    let record = RegisteredClient {
        metadata,
        secret_hash: client_secret.as_deref().map(client_metadata::secret_hash),
        registration_token_hash: client_metadata::secret_hash(&registration_access_token),
        issued_at: now,
        expires_at,
    };
    // 128 random bits: an id nobody can guess or has taken.
    let client_id = format!("{REGISTERED_ID_PREFIX}{}", &crate::secrets::random_token()[..22]);
    if !store
        .registered_clients
        .insert_new(&client_id, &record, Some(expires_at), now)
        .await?
    {
        return Err(StoreError::Contended {
            table: "registered-clients",
            key_len: client_id.len(),
        }
        .into());
    }
    Ok(Registration {
        client_id,
        record,
        client_secret,
        registration_access_token,
    })
}

/// Whether a client registered with `metadata` gets a client secret.
fn holds_secret(metadata: &ClientMetadata) -> bool {
    matches!(
        metadata.token_endpoint_auth_method.as_deref(),
        Some("client_secret_basic" | "client_secret_post")
    )
}

/// The registered client `id`, if `token` is its registration access token (RFC 7592 §2).
pub async fn with_token(
    store: &Store,
    id: &str,
    token: &str,
    now: i64,
) -> Result<Option<RegisteredClient>, StoreError> {
    let Some(record) = store.registered_clients.get(id, now).await? else {
        return Ok(None);
    };
    let presented = crate::secrets::hash(token);
    Ok(crate::secrets::equal(&presented, &record.registration_token_hash.0).then_some(record))
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{}", .0.description())]
    Metadata(MetadataError),
    /// The registration ended, or another update came first (its token rotated).
    #[error("the registration access token is not valid")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replaces the metadata of the client `id` (RFC 7592 §2.2), which `token` must still be
/// the registration access token of; the token rotates, and a client that becomes
/// confidential gets a secret (one it had stays). Its lifetime does not start again.
pub async fn update(
    config: &Config,
    store: &Store,
    id: &str,
    token: &str,
    metadata: ClientMetadata,
    now: i64,
) -> Result<Registration, UpdateError> {
    if with_token(store, id, token, now).await?.is_none() {
        return Err(UpdateError::Gone);
    }
    let metadata = client_metadata::check(metadata, &client_metadata::Policy::registration(config), config)
        .map_err(UpdateError::Metadata)?;
    let presented = crate::secrets::hash(token);
    let registration_access_token = crate::secrets::random_token();
    let new_secret = crate::secrets::random_token();
    // What the last run of the change saw (it runs again when the record changed).
    let refused = AtomicBool::new(false);
    let gave_secret = AtomicBool::new(false);
    let written = store
        .registered_clients
        .update(id, now, |current| {
            let current = current?;
            let expires_at = current.expires_at;
            let wrong_token = !crate::secrets::equal(&presented, &current.registration_token_hash.0);
            refused.store(wrong_token, Ordering::Relaxed);
            if wrong_token {
                // Left as it is: returning nothing would delete it.
                return Some((current, Some(expires_at)));
            }
            gave_secret.store(
                holds_secret(&metadata) && current.secret_hash.is_none(),
                Ordering::Relaxed,
            );
            let secret_hash = match (holds_secret(&metadata), current.secret_hash) {
                (false, _) => None,
                (true, Some(kept)) => Some(kept),
                (true, None) => Some(client_metadata::secret_hash(&new_secret)),
            };
            let record = RegisteredClient {
                metadata: metadata.clone(),
                secret_hash,
                registration_token_hash: client_metadata::secret_hash(&registration_access_token),
                issued_at: current.issued_at,
                expires_at,
            };
            Some((record, Some(expires_at)))
        })
        .await?;
    let record = written
        .filter(|_| !refused.load(Ordering::Relaxed))
        .ok_or(UpdateError::Gone)?;
    Ok(Registration {
        client_id: id.to_string(),
        record,
        client_secret: gave_secret.load(Ordering::Relaxed).then_some(new_secret),
        registration_access_token,
    })
}

/// Ends the registered client `id`: its record goes, its refresh families are revoked
/// and the consents people gave it end. Returns whether there was such a client.
pub async fn delete(store: &Store, config: &Config, id: &str, now: i64) -> Result<bool, StoreError> {
    if store.registered_clients.take(id, now).await?.is_none() {
        return Ok(false);
    }
    for (family, record) in store.refresh_families.entries(now).await? {
        if record.client_id == id && !record.revoked {
            super::refresh_families::revoke(store, config, &family, now).await?;
        }
    }
    for (key, _) in store.consents.entries(now).await? {
        if consent_of(&key) == Some(id) {
            store.consents.take(&key, now).await?;
        }
    }
    Ok(true)
}

/// The client a consent's key (`Consent::key`) is for.
fn consent_of(key: &str) -> Option<&str> {
    let (length, rest) = key.split_once(':')?;
    let length: usize = length.parse().ok()?;
    let client = rest.get(length..)?.strip_prefix(':')?;
    debug_assert_eq!(Consent::key(&rest[..length], client), key);
    Some(client)
}

/// A registered client as the operator sees it: no hashes of its secrets.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientInfo {
    pub client_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub metadata: ClientMetadata,
}

impl ClientInfo {
    fn of(client_id: String, record: RegisteredClient) -> ClientInfo {
        ClientInfo {
            client_id,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            metadata: record.metadata,
        }
    }
}

/// Every live registered client, by id.
pub async fn registered(store: &Store, now: i64) -> Result<Vec<ClientInfo>, StoreError> {
    let entries = store.registered_clients.entries(now).await?;
    Ok(entries
        .into_iter()
        .map(|(id, record)| ClientInfo::of(id, record))
        .collect())
}

/// The live registered client `id`.
pub async fn registered_one(store: &Store, id: &str, now: i64) -> Result<Option<ClientInfo>, StoreError> {
    let record = store.registered_clients.get(id, now).await?;
    Ok(record.map(|record| ClientInfo::of(id.to_string(), record)))
}
