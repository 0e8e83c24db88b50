//! Signing keys: generated on first start, persisted, rotated, published as a JWKS.
//!
//! One key is active and signs everything. `rotate` makes a new active key and retires
//! the old one, which stays in the JWKS for as long as a token it signed can live and
//! then expires from the store.

mod jwk;
mod jws;
mod signer;

use jwk::Jwk;
pub use jwk::JwkSet;
use jws::{PrivateKey, PublicKey};

use crate::config::{SigningAlg, TokenSettings};
use crate::store::{SigningKeyRecord, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {detail}")]
    Crypto { kid: String, detail: String },
    #[error("cannot start the signing threads: {0}")]
    Threads(String),
}

/// What `keys list` shows of a key.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// When a retired key leaves the JWKS.
    pub published_until: Option<i64>,
}

impl KeyInfo {
    pub fn state(&self) -> &'static str {
        if self.retired_at.is_some() { "retired" } else { "active" }
    }
}

/// What a JWT Gatehouse signs is, as its header's `typ` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// An RFC 9068 access token.
    Access,
    /// An ID token (OpenID Connect Core §2).
    Id,
    /// A back-channel logout token (OpenID Connect Back-Channel Logout §2.4).
    Logout,
}

impl TokenType {
    const ALL: [TokenType; 3] = [TokenType::Access, TokenType::Id, TokenType::Logout];

    pub fn typ(self) -> &'static str {
        match self {
            TokenType::Access => "at+jwt",
            TokenType::Id => "JWT",
            TokenType::Logout => "logout+jwt",
        }
    }
}

/// The key ring in use by a running server.
pub struct Keys {
    store: Store,
    alg: SigningAlg,
    rotation_secs: i64,
    /// How long a retired key stays published.
    retire_secs: i64,
    ring: RwLock<Ring>,
    /// Held while deciding on and making a rotation, so two callers never both rotate.
    rotating: tokio::sync::Mutex<()>,
    /// Makes the slow (RSA) signatures, off the async workers.
    signer: signer::Signer,
}

struct Ring {
    active_kid: String,
    active_alg: SigningAlg,
    /// Parsed once when the ring is loaded: parsing per signature costs as much as
    /// signing itself (an Ed25519 key derives its public half, an RSA key checks itself).
    active_key: Option<Arc<PrivateKey>>,
    /// The active key's encoded JWS header for each token type, made once: the header
    /// of every token it signs is the same.
    active_headers: Vec<(TokenType, String)>,
    /// Every published public key, parsed for verification, with the time it leaves the
    /// JWKS (`None`: active).
    published: Vec<Published>,
}

struct Published {
    jwk: Jwk,
    key: PublicKey,
    until: Option<i64>,
}

impl Published {
    fn is_published(&self, now: i64) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

impl Keys {
    /// Loads the persisted keys, first generating (and persisting) an active key when
    /// there is none, when it uses another algorithm than `signing_alg`, or when it is
    /// older than `key_rotation`. Keys are generated on the blocking pool.
    pub async fn open(store: Store, tokens: &TokenSettings, now: i64) -> Result<Keys, KeyError> {
        let ring = load_ring(&store, now).await?;
        let keys = Keys {
            alg: tokens.signing_alg,
            rotation_secs: tokens.key_rotation.as_secs_i64(),
            retire_secs: tokens.longest_signed_token_ttl().as_secs_i64(),
            ring: RwLock::new(ring.unwrap_or_else(|| Ring {
                active_kid: String::new(),
                active_alg: tokens.signing_alg,
                active_key: None,
                active_headers: Vec::new(),
                published: Vec::new(),
            })),
            rotating: tokio::sync::Mutex::new(()),
            signer: signer::Signer::start().map_err(|e| KeyError::Threads(e.to_string()))?,
            store,
        };
        keys.rotate_if_due(now).await?;
        Ok(keys)
    }

    /// Makes a new active key and retires the current one; returns the new `kid`.
    pub async fn rotate(&self, now: i64) -> Result<String, KeyError> {
        let _rotating = self.rotating.lock().await;
        self.rotate_locked(now).await
    }

    async fn rotate_locked(&self, now: i64) -> Result<String, KeyError> {
        let kid = rotate_in_store(&self.store, self.alg, self.retire_secs, now).await?;
        self.reload(now).await?;
        Ok(kid)
    }

    /// Rotates when the active key is missing, of the wrong algorithm, or due;
    /// otherwise re-reads the keys from the store.
    pub async fn rotate_if_due(&self, now: i64) -> Result<Option<String>, KeyError> {
        let _rotating = self.rotating.lock().await;
        let active = {
            let ring = self.read();
            let has_active = ring
                .published
                .iter()
                .any(|p| p.until.is_none() && p.jwk.kid == ring.active_kid);
            (has_active && ring.active_alg == self.alg).then(|| ring.active_kid.clone())
        };
        let due = match active {
            None => true,
            Some(kid) => self
                .store
                .keys
                .get(&kid, now)
                .await?
                .is_none_or(|record| record.created_at.saturating_add(self.rotation_secs) <= now),
        };
        if due {
            self.rotate_locked(now).await.map(Some)
        } else {
            // Picks up what changed in the store meanwhile, such as retired keys that expired.
            self.reload(now).await?;
            Ok(None)
        }
    }

    /// Re-reads the keys from the store; callers hold `rotating`.
    async fn reload(&self, now: i64) -> Result<(), KeyError> {
        if let Some(ring) = load_ring(&self.store, now).await? {
            *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
        }
        Ok(())
    }

    /// The public keys a relying party may see signatures from at `now`.
    pub fn jwks(&self, now: i64) -> JwkSet {
        let ring = self.read();
        let keys = ring
            .published
            .iter()
            .filter(|p| p.is_published(now))
            .map(|p| p.jwk.clone())
            .collect();
        JwkSet { keys }
    }

    /// The `kid` of the key that signs now.
    pub fn active_kid(&self) -> String {
        self.read().active_kid.clone()
    }

    /// The algorithm new tokens are signed with.
    pub fn signing_alg(&self) -> SigningAlg {
        self.alg
    }

    /// Signs `claims` as a JWT (JWS compact serialization) with the active key.
    pub async fn sign<T: Serialize>(&self, claims: &T, typ: TokenType) -> Result<String, KeyError> {
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError::Crypto {
            kid: "(active)".into(),
            detail: e.to_string(),
        })?;
        let (key, kid, mut token) = {
            let ring = self.read();
            let crypto = |detail: &str| KeyError::Crypto {
                kid: ring.active_kid.clone(),
                detail: detail.to_string(),
            };
            let key = ring.active_key.clone().ok_or_else(|| crypto("no active signing key"))?;
            let header = ring
                .active_headers
                .iter()
                .find_map(|(t, header)| (*t == typ).then_some(header))
                .ok_or_else(|| crypto("no header for this token type"))?;
            // header.payload.signature, each part base64url: the exact size is known.
            let encoded_len = |bytes: usize| bytes.div_ceil(3) * 4;
            // RSA-2048 signatures (256 bytes) are the longest Gatehouse makes.
            let signature_len = encoded_len(256);
            let mut token = String::with_capacity(header.len() + encoded_len(claims.len()) + signature_len + 2);
            token.push_str(header);
            (key, ring.active_kid.clone(), token)
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let crypto = |detail: String| KeyError::Crypto {
            kid: kid.clone(),
            detail,
        };
        let signature = if key.is_slow() {
            let (signed, signature) = self.signer.sign(key, token).await.map_err(|e| crypto(e.to_string()))?;
            token = signed;
            signature
        } else {
            key.sign(token.as_bytes())
        }
        .map_err(|e| crypto(e.to_string()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Verifies a JWT this server signed: a published key, the header `typ` and `alg`,
    /// and the signature, with the public keys parsed when the ring was loaded. Returns
    /// the claims; the caller checks `iss`, `exp` and the rest.
    pub fn verify(&self, token: &str, typ: TokenType, now: i64) -> Result<serde_json::Value, String> {
        let token = jws::Compact::parse(token)?;
        if !token
            .header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(typ.typ()))
        {
            return Err(format!("not a token of type {}", typ.typ()));
        }
        let kid = token.header.kid.as_deref().ok_or("no kid")?;
        let ring = self.read();
        let published = ring
            .published
            .iter()
            .find(|p| p.is_published(now) && p.jwk.kid == kid)
            .ok_or("signed with a key that is not published")?;
        published.key.verify(&token)?;
        token.claims()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every key still in the store, newest first, for `keys list`.
pub async fn list(store: &Store, tokens: &TokenSettings, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
    let retire_secs = tokens.longest_signed_token_ttl().as_secs_i64();
    let mut keys: Vec<KeyInfo> = store
        .keys
        .entries(now)
        .await?
        .into_iter()
        .map(|(_, record)| KeyInfo {
            published_until: record.retired_at.map(|at| at.saturating_add(retire_secs)),
            kid: record.kid,
            alg: record.alg,
            created_at: record.created_at,
            retired_at: record.retired_at,
        })
        .collect();
    // The active key first, then the newest.
    keys.sort_by_key(|k| {
        (
            k.retired_at.is_some(),
            std::cmp::Reverse(k.retired_at),
            std::cmp::Reverse(k.created_at),
        )
    });
    Ok(keys)
}

/// Generates and stores a new active key, retires every other active key, and waits
/// (durably); returns the new `kid`. Used by the server and by `keys rotate`.
pub async fn rotate_in_store(store: &Store, alg: SigningAlg, retire_secs: i64, now: i64) -> Result<String, KeyError> {
    // Generating an RSA key is long CPU work: keep it off the async workers.
    let record = tokio::task::spawn_blocking(move || generate(alg, now))
        .await
        .map_err(|e| KeyError::Crypto {
            kid: "(new)".into(),
            detail: format!("key generation stopped: {e}"),
        })??;
    let kid = record.kid.clone();
    // One atomic write: the new key and every other active key retired.
    let mut write = store.write(now);
    store.keys.stage_put(&mut write, &kid, &record, None)?;
    for (other, mut retired) in store.keys.entries(now).await? {
        if other != kid && retired.retired_at.is_none() {
            retired.retired_at = Some(now);
            store
                .keys
                .stage_put(&mut write, &other, &retired, Some(now.saturating_add(retire_secs)))?;
        }
    }
    // Only this process writes keys (the database is locked to it), so nothing can
    // change them between the read and the write.
    match store.commit(write).await? {
        crate::store::Commit::Done => Ok(kid),
        crate::store::Commit::Conflict => Err(KeyError::Crypto {
            kid,
            detail: "the key ring changed during rotation".into(),
        }),
    }
}

async fn load_ring(store: &Store, now: i64) -> Result<Option<Ring>, KeyError> {
    let mut records: Vec<_> = store.keys.entries(now).await?.into_iter().map(|(_, r)| r).collect();
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.kid.cmp(&b.kid)));
    let Some(active) = records.iter().find(|r| r.retired_at.is_none()).cloned() else {
        return Ok(None);
    };
    let mut published = Vec::new();
    let mut active_key = None;
    for record in &records {
        let private = PrivateKey::parse(record)?;
        let (key, jwk) = public_jwk(record, &private)?;
        let until = match record.retired_at {
            None if record.kid == active.kid => None,
            // Another active key that lost to a newer one (a crash mid-rotation).
            None => Some(now),
            Some(_) => store_expiry(store, &record.kid, now).await?,
        };
        published.push(Published { jwk, key, until });
        if record.kid == active.kid {
            active_key = Some(Arc::new(private));
        }
    }
    let active_headers = TokenType::ALL
        .into_iter()
        .map(|typ| (typ, encoded_header(&active, typ)))
        .collect();
    Ok(Some(Ring {
        active_kid: active.kid,
        active_alg: active.alg,
        active_key,
        active_headers,
        published,
    }))
}

/// A retired key's end of publication is its record's expiry in the store.
async fn store_expiry(store: &Store, kid: &str, now: i64) -> Result<Option<i64>, KeyError> {
    Ok(store
        .keys
        .get_with_expiry(kid, now)
        .await?
        .and_then(|(_, expires_at)| expires_at))
}

/// The base64url JWS header (RFC 7515 §4) of every token of type `typ` that `key` signs.
fn encoded_header(key: &SigningKeyRecord, typ: TokenType) -> String {
    let header = serde_json::json!({ "typ": typ.typ(), "alg": key.alg.as_str(), "kid": key.kid });
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// A stored key's public half, parsed, and its JWK.
fn public_jwk(record: &SigningKeyRecord, private: &PrivateKey) -> Result<(PublicKey, Jwk), KeyError> {
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
        created_at: now,
        retired_at: None,
    };
    let private = PrivateKey::parse(&record)?;
    let (_, jwk) = public_jwk(&record, &private)?;
    // RFC 7638 thumbprint: a kid that names the key itself.
    record.kid = jwk.material.thumbprint();
    Ok(record)
}
