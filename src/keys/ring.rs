//! The key ring as loaded from the store: the keys that sign (the current one, and on a
//! shared database the next one, published ahead of its time) and every public key
//! that is published.

use super::jwk::Jwk;
use super::jws::{PrivateKey, PublicKey};
use super::sealing::Sealing;
use super::{KeyError, TokenType};
use crate::store::{SigningKeyRecord, Store};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

pub(super) struct Ring {
    /// Keys that sign at some time from now on, the latest activation first: the first
    /// one whose activation has come signs.
    pub signers: Vec<SigningKey>,
    /// Every published public key, parsed for verification, with the time it leaves the
    /// JWKS (`None`: while it is in the store).
    pub published: Vec<Published>,
}

pub(super) struct SigningKey {
    pub kid: String,
    pub activates_at: i64,
    /// Parsed once when the ring is loaded: parsing per signature costs as much as
    /// signing itself (an Ed25519 key derives its public half, an RSA key checks itself).
    pub key: Arc<PrivateKey>,
    /// The encoded JWS header for each token type, made once: the header of every
    /// token the key signs is the same.
    pub headers: Vec<(TokenType, String)>,
}

pub(super) struct Published {
    pub jwk: Jwk,
    pub key: PublicKey,
    pub until: Option<i64>,
}

impl Published {
    pub fn is_published(&self, now: i64) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

impl Ring {
    pub fn empty() -> Ring {
        Ring {
            signers: Vec::new(),
            published: Vec::new(),
        }
    }

    /// The key that signs at `now`.
    pub fn signer_at(&self, now: i64) -> Option<&SigningKey> {
        self.signers
            .iter()
            .find(|s| s.activates_at <= now)
            // Clocks a little apart: the oldest key rather than none.
            .or(self.signers.last())
    }
}

/// Reads the ring from the store; `None` when no key signs at `now` or later.
pub(super) async fn load(store: &Store, sealing: &Sealing, now: i64) -> Result<Option<Ring>, KeyError> {
    let mut records: Vec<(SigningKeyRecord, Option<i64>)> = Vec::new();
    for (kid, record) in store.keys.entries(now).await? {
        let expires_at = match record.retired_at {
            Some(_) => store.keys.get_with_expiry(&kid, now).await?.and_then(|(_, at)| at),
            None => None,
        };
        records.push((record, expires_at));
    }
    records.sort_by(|(a, _), (b, _)| b.activation().cmp(&a.activation()).then(a.kid.cmp(&b.kid)));
    let current = records
        .iter()
        .map(|(r, _)| r)
        .find(|r| signs_after(r, now) && r.activation() <= now)
        .or_else(|| records.iter().map(|(r, _)| r).rfind(|r| signs_after(r, now)))
        .map(|r| r.kid.clone());
    let Some(current) = current else {
        return Ok(None);
    };
    let mut ring = Ring::empty();
    for (record, expires_at) in &records {
        let mut opened = record.clone();
        opened.private_key_pem = sealing.open(record)?;
        let private = PrivateKey::parse(&opened)?;
        let (key, jwk) = public_jwk(record, &private)?;
        let is_current = record.kid == current;
        let upcoming = record.activation() > now && record.retired_at.is_none();
        let until = match record.retired_at {
            Some(_) => *expires_at,
            None if is_current || upcoming => None,
            // Another unretired key that lost to a newer one (a crash mid-rotation in an
            // earlier release): never signs, and no longer published.
            None => Some(now),
        };
        ring.published.push(Published { jwk, key, until });
        if signs_after(record, now) && (is_current || upcoming) {
            ring.signers.push(SigningKey {
                kid: record.kid.clone(),
                activates_at: record.activation(),
                key: Arc::new(private),
                headers: TokenType::ALL
                    .into_iter()
                    .map(|typ| (typ, encoded_header(record, typ)))
                    .collect(),
            });
        }
    }
    Ok(Some(ring))
}

/// Whether the key signs at some time after `now` (it has not been retired by then).
fn signs_after(record: &SigningKeyRecord, now: i64) -> bool {
    record.retired_at.is_none_or(|at| at > now)
}

/// The base64url JWS header (RFC 7515 §4) of every token of type `typ` that `key` signs.
fn encoded_header(key: &SigningKeyRecord, typ: TokenType) -> String {
    let header = serde_json::json!({ "typ": typ.typ(), "alg": key.alg.as_str(), "kid": key.kid });
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// A stored key's public half, parsed, and its JWK.
pub(super) fn public_jwk(record: &SigningKeyRecord, private: &PrivateKey) -> Result<(PublicKey, Jwk), KeyError> {
    let (key, material) = private.public_key().map_err(|detail| KeyError::Crypto {
        kid: record.kid.clone(),
        detail,
    })?;
    let jwk = Jwk {
        kty: material.kty(),
        use_: "sig",
        alg: record.alg.as_str(),
        kid: record.kid.clone(),
        material,
    };
    Ok((key, jwk))
}
