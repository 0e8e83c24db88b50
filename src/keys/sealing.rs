//! Private signing keys (and upstreams' refresh tokens) encrypted at rest (AES-256-GCM,
//! aws-lc-rs) under the key-encryption key of `[store]`, so that a copy of a shared
//! database (a backup, a replica, a dump) does not hold a usable signing key.
//!
//! A sealed key names its key-encryption key by a hash, so that keys sealed under an
//! earlier one (listed in `previous_key_encryption_keys`) still open while
//! `gatehouse keys rewrap` moves them to the current one. The key's `kid` is the
//! additional data: a sealed key cannot be moved onto another record.

use super::KeyError;
use crate::config::{KeyEncryptionKey, Secret, StoreSettings};
use crate::store::{SealedKey, SigningKeyRecord};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The key-encryption keys of a config: the current one seals, every one opens.
pub struct Sealing {
    current: Option<Kek>,
    previous: Vec<Kek>,
}

struct Kek {
    id: String,
    key: LessSafeKey,
}

impl Kek {
    fn new(kek: &KeyEncryptionKey) -> Result<Kek, KeyError> {
        let key = UnboundKey::new(&AES_256_GCM, &kek.0).map_err(|e| failed("(key-encryption key)", e))?;
        let digest = Sha256::new()
            .chain_update(b"gatehouse key-encryption key\0")
            .chain_update(kek.0)
            .finalize();
        Ok(Kek {
            id: URL_SAFE_NO_PAD.encode(&digest[..9]),
            key: LessSafeKey::new(key),
        })
    }
}

impl Sealing {
    pub fn from_settings(settings: &StoreSettings) -> Result<Sealing, KeyError> {
        Ok(Sealing {
            current: settings.key_encryption_key.as_ref().map(Kek::new).transpose()?,
            previous: settings
                .previous_key_encryption_keys
                .iter()
                .map(Kek::new)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Seals the record's private key under the current key-encryption key (when there
    /// is one) and clears the plain copy. A sealed record is sealed anew.
    pub fn seal(&self, record: &mut SigningKeyRecord) -> Result<(), KeyError> {
        if self.current.is_none() {
            return Ok(());
        }
        let pem = self.open(record)?;
        record.sealed_private_key = Some(self.seal_secret(&record.kid, &pem)?);
        record.private_key_pem = Secret::default();
        Ok(())
    }

    /// `secret` sealed under the current key-encryption key, bound to `aad` (what it
    /// belongs to, which opening it must name again).
    pub fn seal_secret(&self, aad: &str, secret: &Secret) -> Result<SealedKey, KeyError> {
        let kek = self
            .current
            .as_ref()
            .ok_or_else(|| failed(aad, "there is no store.key_encryption_key to seal with"))?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|e| failed(aad, e))?;
        let mut data = secret.0.clone().into_bytes();
        kek.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|e| failed(aad, e))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(SealedKey {
            kek_id: kek.id.clone(),
            sealed: URL_SAFE_NO_PAD.encode(sealed),
        })
    }

    /// Whether there is a key-encryption key to seal with.
    pub fn can_seal(&self) -> bool {
        self.current.is_some()
    }

    /// Whether the record is sealed under the current key-encryption key already (or
    /// there is none to seal it with).
    pub fn is_current(&self, record: &SigningKeyRecord) -> bool {
        match (&self.current, &record.sealed_private_key) {
            (None, _) => true,
            (Some(kek), Some(sealed)) => sealed.kek_id == kek.id,
            (Some(_), None) => false,
        }
    }

    /// The record's private key as PKCS#8 PEM, opened when it is sealed.
    pub fn open(&self, record: &SigningKeyRecord) -> Result<Secret, KeyError> {
        match &record.sealed_private_key {
            Some(sealed) => self.open_secret(&record.kid, sealed),
            None => Ok(record.private_key_pem.clone()),
        }
    }

    /// What [`Sealing::seal_secret`] sealed for `aad`.
    pub fn open_secret(&self, aad: &str, sealed: &SealedKey) -> Result<Secret, KeyError> {
        let kek = self
            .current
            .iter()
            .chain(&self.previous)
            .find(|kek| kek.id == sealed.kek_id)
            .ok_or_else(|| KeyError::Crypto {
                kid: aad.to_string(),
                detail: format!(
                    "sealed under a key-encryption key this config does not have (id {}): set \
                     store.key_encryption_key, or list the earlier one in store.previous_key_encryption_keys",
                    sealed.kek_id
                ),
            })?;
        let bytes = URL_SAFE_NO_PAD.decode(&sealed.sealed).map_err(|e| failed(aad, e))?;
        if bytes.len() < NONCE_LEN {
            return Err(failed(aad, "the sealed key is cut short"));
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|e| failed(aad, e))?;
        let mut data = data.to_vec();
        let plain = kek
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| failed(aad, "the sealed key does not open (altered, or another record's)"))?;
        let text = String::from_utf8(plain.to_vec()).map_err(|e| failed(aad, e))?;
        Ok(Secret(text))
    }
}

fn failed(kid: &str, e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto {
        kid: kid.to_string(),
        detail: format!("sealing: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigningAlg;

    fn record(kid: &str) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: SigningAlg::EdDSA,
            private_key_pem: Secret("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n".into()),
            sealed_private_key: None,
            created_at: 0,
            activates_at: None,
            retired_at: None,
        }
    }

    fn sealing(current: Option<u8>, previous: &[u8]) -> Sealing {
        let settings = StoreSettings {
            key_encryption_key: current.map(|b| KeyEncryptionKey([b; 32])),
            previous_key_encryption_keys: previous.iter().map(|b| KeyEncryptionKey([*b; 32])).collect(),
            ..StoreSettings::default()
        };
        Sealing::from_settings(&settings).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn a_sealed_key_holds_no_plain_copy_and_opens_only_under_its_kek_and_kid() {
        let plain = record("k1");
        let mut sealed = plain.clone();
        sealing(Some(1), &[])
            .seal(&mut sealed)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(sealed.private_key_pem.0.is_empty());
        let stored = serde_json::to_string(&sealed).unwrap_or_default();
        assert!(!stored.contains("BEGIN PRIVATE KEY"), "{stored}");
        assert_eq!(
            sealing(Some(1), &[]).open(&sealed).ok(),
            Some(plain.private_key_pem.clone())
        );
        // After a rotation of the key-encryption key, the old one still opens it.
        assert_eq!(sealing(Some(2), &[1]).open(&sealed).ok(), Some(plain.private_key_pem));
        assert!(!sealing(Some(2), &[1]).is_current(&sealed));
        assert!(
            sealing(Some(2), &[]).open(&sealed).is_err(),
            "another key cannot open it"
        );
        let mut moved = sealed.clone();
        moved.kid = "k2".into();
        assert!(sealing(Some(1), &[]).open(&moved).is_err(), "bound to its kid");
    }
}
