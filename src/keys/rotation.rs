//! Making, retiring, listing and re-sealing the stored keys: what the server does on
//! schedule and the operator's commands do on request, against the same store.
//!
//! A rotation is one conditional write that replaces the [`KeyRotation`] mark: of
//! several replicas that find a rotation due at once, one rotates and the others load
//! its key. On a shared database a new key is published `publish_secs` before it signs
//! (twice the interval at which replicas re-read the keys), so that no replica signs
//! with a key another has not yet published; the key it replaces signs until then.

use super::jws::PrivateKey;
use super::ring::public_jwk;
use super::sealing::Sealing;
use super::{KeyError, KeyInfo};
use crate::config::{Config, SigningAlg};
use crate::store::{Commit, KeyRotation, SigningKeyRecord, Store, Versioned};
use std::sync::Arc;

/// The one key of the rotation mark.
const MARK: &str = "latest";

/// How keys are made and retired, from the config.
#[derive(Clone)]
pub struct KeyPolicy {
    pub alg: SigningAlg,
    pub rotation_secs: i64,
    /// How long a key stays published after it stopped signing.
    pub retire_secs: i64,
    /// How long a new key is published before it signs (0 on the embedded database:
    /// one process, which switches as it writes).
    pub publish_secs: i64,
    pub sealing: Arc<Sealing>,
}

impl KeyPolicy {
    pub fn new(config: &Config, shared: bool) -> Result<KeyPolicy, KeyError> {
        let tokens = &config.tokens;
        let publish_secs = if shared {
            config.store.poll_interval.as_secs_i64().saturating_mul(2)
        } else {
            0
        };
        Ok(KeyPolicy {
            alg: tokens.signing_alg,
            rotation_secs: tokens.key_rotation.as_secs_i64(),
            // A replica that missed a poll may sign with the old key a little longer.
            retire_secs: tokens
                .longest_signed_token_ttl()
                .as_secs_i64()
                .saturating_add(publish_secs),
            publish_secs,
            sealing: Arc::new(Sealing::from_settings(&config.store)?),
        })
    }
}

/// Rotates when no key signs now or later, when the newest uses another algorithm than
/// the config's, or when it is older than `key_rotation`. Returns the new kid, or
/// `None` when no rotation was due or another process rotated first.
pub async fn rotate_if_due(store: &Store, policy: &KeyPolicy, now: i64) -> Result<Option<String>, KeyError> {
    let ring = StoredRing::read(store, now).await?;
    let newest = ring
        .keys
        .iter()
        .map(|(_, record)| record)
        .filter(|record| record.retired_at.is_none())
        .max_by_key(|record| (record.activation(), record.created_at));
    let due = newest
        .is_none_or(|record| record.alg != policy.alg || record.created_at.saturating_add(policy.rotation_secs) <= now);
    if !due {
        return Ok(None);
    }
    rotate(store, policy, ring, now).await
}

/// The rotation mark and the keys, read in that order: a rotation that lands between
/// the two reads changes the mark, so the write built on them conflicts.
struct StoredRing {
    mark: Option<Versioned<KeyRotation>>,
    keys: Vec<(String, SigningKeyRecord)>,
}

impl StoredRing {
    async fn read(store: &Store, now: i64) -> Result<StoredRing, KeyError> {
        let mark = store.key_rotations.read(MARK, now).await?;
        let keys = store.keys.entries(now).await?;
        Ok(StoredRing { mark, keys })
    }
}

/// Makes a new key and retires the others in `ring`; returns its kid, or `None` when
/// another process rotated since `ring` was read.
async fn rotate(store: &Store, policy: &KeyPolicy, ring: StoredRing, now: i64) -> Result<Option<String>, KeyError> {
    let StoredRing { mark, keys: others } = ring;
    let signing = others.iter().any(|(_, r)| r.retired_at.is_none_or(|at| at > now));
    // The first key signs at once: no other key could sign meanwhile.
    let activates_at = if signing {
        now.saturating_add(policy.publish_secs)
    } else {
        now
    };
    // Generating an RSA key is long CPU work: keep it off the async workers.
    let alg = policy.alg;
    let mut record = tokio::task::spawn_blocking(move || generate(alg, now))
        .await
        .map_err(|e| KeyError::Crypto {
            kid: "(new)".into(),
            detail: format!("key generation stopped: {e}"),
        })??;
    record.activates_at = (activates_at != now).then_some(activates_at);
    policy.sealing.seal(&mut record)?;
    let kid = record.kid.clone();
    let mut write = store.write(now);
    store.key_rotations.expect(&mut write, MARK, mark.as_ref());
    store.key_rotations.stage_put(
        &mut write,
        MARK,
        &KeyRotation {
            kid: kid.clone(),
            rotated_at: now,
        },
        None,
    )?;
    store.keys.stage_put(&mut write, &kid, &record, None)?;
    for (other, mut retired) in others {
        if retired.retired_at.is_none() {
            retired.retired_at = Some(activates_at);
            let until = activates_at.saturating_add(policy.retire_secs);
            store.keys.stage_put(&mut write, &other, &retired, Some(until))?;
        }
    }
    match store.commit(write).await? {
        Commit::Done => Ok(Some(kid)),
        Commit::Conflict => Ok(None),
    }
}

/// Makes a new key now (`keys rotate`, the admin API); fails when another process
/// rotated at the same moment.
pub async fn rotate_in_store(store: &Store, policy: &KeyPolicy, now: i64) -> Result<String, KeyError> {
    let ring = StoredRing::read(store, now).await?;
    rotate(store, policy, ring, now).await?.ok_or_else(|| KeyError::Crypto {
        kid: "(new)".into(),
        detail: "another process rotated the keys at the same time: see `gatehouse keys list`".into(),
    })
}

/// Every key still in the store, newest first, for `keys list`.
pub async fn list(store: &Store, policy: &KeyPolicy, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
    let mut keys: Vec<KeyInfo> = store
        .keys
        .entries(now)
        .await?
        .into_iter()
        .map(|(_, record)| KeyInfo {
            published_until: record.retired_at.map(|at| at.saturating_add(policy.retire_secs)),
            activates_at: record.activates_at.filter(|at| *at > now),
            sealed: record.sealed_private_key.is_some(),
            kid: record.kid,
            alg: record.alg,
            created_at: record.created_at,
            retired_at: record.retired_at,
        })
        .collect();
    // The key that signs, the next one, then the retired, newest first.
    keys.sort_by_key(|k| {
        (
            k.retired_at.is_some_and(|at| at <= now),
            std::cmp::Reverse(k.retired_at.is_none()),
            std::cmp::Reverse(k.retired_at),
            std::cmp::Reverse(k.created_at),
        )
    });
    Ok(keys)
}

/// Seals every stored key under the current key-encryption key (after it was rotated,
/// or to seal keys stored before there was one); returns how many were rewritten.
pub async fn rewrap(store: &Store, policy: &KeyPolicy, now: i64) -> Result<usize, KeyError> {
    if !policy.sealing.can_seal() {
        return Err(KeyError::Crypto {
            kid: "(every key)".into(),
            detail: "store.key_encryption_key is not set: there is nothing to seal the keys with".into(),
        });
    }
    let mut rewrapped = 0;
    for (kid, _) in store.keys.entries(now).await? {
        let Some(current) = store.keys.read(&kid, now).await? else {
            continue;
        };
        if policy.sealing.is_current(&current.value) {
            continue;
        }
        let mut record = current.value.clone();
        policy.sealing.seal(&mut record)?;
        let mut write = store.write(now);
        store.keys.expect(&mut write, &kid, Some(&current));
        store.keys.stage_put(&mut write, &kid, &record, current.expires_at)?;
        match store.commit(write).await? {
            Commit::Done => rewrapped += 1,
            Commit::Conflict => {
                return Err(KeyError::Crypto {
                    kid,
                    detail: "the key changed while it was re-sealed: run the command again".into(),
                });
            }
        }
    }
    Ok(rewrapped)
}

fn generate(alg: SigningAlg, now: i64) -> Result<SigningKeyRecord, KeyError> {
    let crypto = |detail: String| KeyError::Crypto {
        kid: "(new)".into(),
        detail,
    };
    let pem = PrivateKey::generate(alg).map_err(crypto)?;
    let mut record = SigningKeyRecord {
        kid: String::new(),
        alg,
        private_key_pem: crate::config::Secret(pem),
        sealed_private_key: None,
        created_at: now,
        activates_at: None,
        retired_at: None,
    };
    let private = PrivateKey::parse(&record)?;
    let (_, jwk) = public_jwk(&record, &private)?;
    // RFC 7638 thumbprint: a kid that names the key itself.
    record.kid = jwk.material.thumbprint();
    Ok(record)
}
