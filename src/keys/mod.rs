//! Signing keys: generated on first start, persisted, rotated, published as a JWKS.
//!
//! One key is active and signs everything. A rotation makes a new active key and
//! retires the old one, which stays in the JWKS for as long as a token it signed can
//! live and then expires from the store. On a shared database every replica re-reads
//! the keys every `poll_interval`, and a new key is published before it signs (see
//! [`rotation`]).

mod jwk;
mod jws;
mod ring;
mod rotation;
mod sealing;

pub use sealing::Sealing;
mod signer;

pub use jwk::JwkSet;
pub use rotation::{KeyPolicy, list, rewrap, rotate_in_store};

use crate::clock::Clock;
use crate::config::SigningAlg;
use crate::store::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::Ring;
use serde::Serialize;
use std::sync::RwLock;

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
    /// When a published key that does not sign yet starts to.
    #[serde(default)]
    pub activates_at: Option<i64>,
    /// Whether the private key is stored encrypted.
    #[serde(default)]
    pub sealed: bool,
}

impl KeyInfo {
    pub fn state(&self) -> &'static str {
        match (self.activates_at, self.retired_at) {
            (Some(_), _) => "next",
            (None, None) => "active",
            (None, Some(_)) => "retired",
        }
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
    /// An authorization response in a JWT (JARM).
    AuthorizationResponse,
    /// A signed introspection response (RFC 9701).
    Introspection,
    /// A Security Event Token (RFC 8417, SSF 1.0 §4.1).
    SecurityEvent,
}

impl TokenType {
    pub(crate) const ALL: [TokenType; 6] = [
        TokenType::Access,
        TokenType::Id,
        TokenType::Logout,
        TokenType::AuthorizationResponse,
        TokenType::Introspection,
        TokenType::SecurityEvent,
    ];

    pub fn typ(self) -> &'static str {
        match self {
            TokenType::Access => "at+jwt",
            TokenType::Id => "JWT",
            TokenType::Logout => "logout+jwt",
            TokenType::AuthorizationResponse => "oauth-authz-resp+jwt",
            TokenType::Introspection => "token-introspection+jwt",
            TokenType::SecurityEvent => "secevent+jwt",
        }
    }
}

/// The key ring in use by a running server.
pub struct Keys {
    store: Store,
    policy: KeyPolicy,
    /// Picks the signing key at each signature: on a shared database the next key
    /// takes over at its activation time, on every replica alike.
    clock: Clock,
    ring: RwLock<Ring>,
    /// Held while deciding on and making a rotation, so two callers never both rotate.
    rotating: tokio::sync::Mutex<()>,
    /// Makes the slow (RSA) signatures, off the async workers.
    signer: signer::Signer,
}

impl Keys {
    /// Loads the persisted keys, first generating (and persisting) a key when none signs,
    /// when the newest uses another algorithm than `signing_alg`, or when it is older
    /// than `key_rotation`. Keys are generated on the blocking pool.
    pub async fn open(store: Store, policy: KeyPolicy, clock: Clock) -> Result<Keys, KeyError> {
        let keys = Keys {
            ring: RwLock::new(Ring::empty()),
            rotating: tokio::sync::Mutex::new(()),
            signer: signer::Signer::start().map_err(|e| KeyError::Threads(e.to_string()))?,
            store,
            policy,
            clock,
        };
        keys.rotate_if_due(keys.clock.now()).await?;
        Ok(keys)
    }

    /// Makes a new active key and retires the current one; returns the new `kid`.
    pub async fn rotate(&self, now: i64) -> Result<String, KeyError> {
        let _rotating = self.rotating.lock().await;
        self.rotate_locked(now).await
    }

    async fn rotate_locked(&self, now: i64) -> Result<String, KeyError> {
        let kid = rotation::rotate_in_store(&self.store, &self.policy, now).await?;
        self.reload(now).await?;
        Ok(kid)
    }

    /// Rotates when due (see [`rotation::rotate_if_due`]); in any case re-reads the keys
    /// from the store, picking up what other processes changed and retired keys that
    /// expired.
    pub async fn rotate_if_due(&self, now: i64) -> Result<Option<String>, KeyError> {
        let _rotating = self.rotating.lock().await;
        let rotated = rotation::rotate_if_due(&self.store, &self.policy, now).await?;
        self.reload(now).await?;
        Ok(rotated)
    }

    /// Re-reads the keys from the store (a replica's poll).
    pub async fn refresh(&self, now: i64) -> Result<(), KeyError> {
        let _rotating = self.rotating.lock().await;
        self.reload(now).await
    }

    /// Re-reads the keys from the store; callers hold `rotating`.
    async fn reload(&self, now: i64) -> Result<(), KeyError> {
        if let Some(ring) = ring::load(&self.store, &self.policy.sealing, now).await? {
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
        let ring = self.read();
        ring.signer_at(self.clock.now())
            .map(|s| s.kid.clone())
            .unwrap_or_default()
    }

    /// How keys are made and retired.
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// The algorithm new tokens are signed with.
    pub fn signing_alg(&self) -> SigningAlg {
        self.policy.alg
    }

    /// Signs `claims` as a JWT (JWS compact serialization) with the active key.
    pub async fn sign<T: Serialize>(&self, claims: &T, typ: TokenType) -> Result<String, KeyError> {
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError::Crypto {
            kid: "(active)".into(),
            detail: e.to_string(),
        })?;
        let (key, kid, mut token) = {
            let ring = self.read();
            let no_key = || KeyError::Crypto {
                kid: "(active)".into(),
                detail: "no active signing key".into(),
            };
            let signer = ring.signer_at(self.clock.now()).ok_or_else(no_key)?;
            let header = signer
                .headers
                .iter()
                .find_map(|(t, header)| (*t == typ).then_some(header))
                .ok_or_else(no_key)?;
            // header.payload.signature, each part base64url: the exact size is known.
            let encoded_len = |bytes: usize| bytes.div_ceil(3) * 4;
            // RSA-2048 signatures (256 bytes) are the longest Gatehouse makes.
            let signature_len = encoded_len(256);
            let mut token = String::with_capacity(header.len() + encoded_len(claims.len()) + signature_len + 2);
            token.push_str(header);
            (signer.key.clone(), signer.kid.clone(), token)
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
        let token = crate::signed_jwt::SignedJwt::parse(token, "the token")?;
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
        token
            .claims::<serde_json::Map<String, serde_json::Value>>()
            .map(serde_json::Value::Object)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }
}
