//! A JWS in compact serialization (RFC 7515 §7.1) signed by someone else: an upstream's
//! logout token, a client's assertion. Parsed once; its signature is checked against a
//! JWK set (asymmetric algorithms only, so that a public key is never taken as an HMAC
//! secret) or against a shared secret, by openidconnect's JWK code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// The asymmetric algorithms taken from upstreams and clients: `none` and HMAC (which a
/// confused verifier would check with a public key) are not among them.
pub const ASYMMETRIC_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The algorithms a FAPI 2.0 client may sign with (FAPI 2.0 Security Profile §5.4):
/// its assertions, request objects and DPoP proofs.
pub const FAPI_ALGS: [CoreJwsSigningAlgorithm; 3] = [
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The HMAC algorithms of a secret shared with a client (`client_secret_jwt`).
pub const HMAC_ALGS: [CoreJwsSigningAlgorithm; 3] = [
    CoreJwsSigningAlgorithm::HmacSha256,
    CoreJwsSigningAlgorithm::HmacSha384,
    CoreJwsSigningAlgorithm::HmacSha512,
];

/// The names of `algs` as JWS writes them (`RS256`, ...), for discovery.
pub fn alg_names(algs: &[CoreJwsSigningAlgorithm]) -> impl Iterator<Item = String> + '_ {
    algs.iter().filter_map(|alg| match serde_json::to_value(alg) {
        Ok(Json::String(name)) => Some(name),
        _ => None,
    })
}

/// Why a signature was not taken.
#[derive(Debug)]
pub enum Refused {
    /// No key of the set fits the token's `kid` and `alg`: the signer may have a new one.
    NoMatchingKey,
    Invalid(String),
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Json>,
    jwk: Option<Json>,
}

/// The protected header, as far as Gatehouse reads it.
pub struct Header {
    pub alg: CoreJwsSigningAlgorithm,
    pub kid: Option<String>,
    /// Lowercase.
    pub typ: Option<String>,
    /// The signer's public key, when it sends it along (a DPoP proof, RFC 9449 §4.2).
    pub jwk: Option<Json>,
}

/// A parsed, not yet verified, JWS.
pub struct SignedJwt<'t> {
    pub header: Header,
    /// `header.payload`, what the signature covers.
    signed: &'t str,
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// What the token is called in errors ("the logout token").
    what: &'static str,
}

impl<'t> SignedJwt<'t> {
    /// Splits and decodes `token`; refuses critical header parameters (none is
    /// understood here, RFC 7515 §4.1.11) and an algorithm openidconnect does not know.
    pub fn parse(token: &'t str, what: &'static str) -> Result<SignedJwt<'t>, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{what} is not a signed JWT"));
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| format!("{what} is not base64url"))
        };
        let raw: RawHeader =
            serde_json::from_slice(&decode(header)?).map_err(|_| format!("{what}'s header is malformed"))?;
        if raw.crit.is_some() {
            return Err(format!("{what} has critical header parameters"));
        }
        let alg = serde_json::from_value(Json::String(raw.alg))
            .map_err(|_| format!("{what} is signed with an unknown algorithm"))?;
        Ok(SignedJwt {
            header: Header {
                alg,
                kid: raw.kid,
                typ: raw.typ.map(|t| t.to_ascii_lowercase()),
                jwk: raw.jwk,
            },
            signed: &token[..header.len() + 1 + payload.len()],
            payload: decode(payload)?,
            signature: decode(signature)?,
            what,
        })
    }

    /// What the signature covers: `header.payload` as sent.
    pub fn signing_input(&self) -> &str {
        self.signed
    }

    /// The signature's bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Whether the header's `alg` is the one called `name` (`RS256`, `EdDSA`, ...).
    pub fn alg_is(&self, name: &str) -> bool {
        serde_json::to_value(&self.header.alg).is_ok_and(|alg| alg.as_str() == Some(name))
    }

    /// The claims, read only once the signature has been checked.
    /// What the token is called in errors ("the client assertion").
    pub fn what(&self) -> &'static str {
        self.what
    }

    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.payload).map_err(|e| format!("{}'s claims: {e}", self.what))
    }

    /// The claims before the signature is checked: only to find whose keys check it.
    pub fn unverified_claims<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.payload).ok()
    }

    /// Checks the signature with a key of `jwks` that fits the header's `kid` and `alg`;
    /// the algorithm must be one of `allowed`.
    pub fn verify_with(&self, jwks: &CoreJsonWebKeySet, allowed: &[CoreJwsSigningAlgorithm]) -> Result<(), Refused> {
        self.accepted_alg(allowed).map_err(Refused::Invalid)?;
        let mut candidates = jwks.keys().iter().filter(|key| {
            self.header
                .kid
                .as_deref()
                .is_none_or(|kid| key.key_id().is_some_and(|k| k.as_str() == kid))
        });
        let mut any = false;
        let verified = candidates.any(|key| match self.check_with(key) {
            Fit::Verified => true,
            Fit::Failed => {
                any = true;
                false
            }
            Fit::Unfit => false,
        });
        match (any || verified, verified) {
            (false, _) => Err(Refused::NoMatchingKey),
            (true, false) => Err(Refused::Invalid(format!("{}'s signature does not verify", self.what))),
            (true, true) => Ok(()),
        }
    }

    /// Checks the signature with `key`, whatever the header's `kid`; the algorithm must be
    /// one of `allowed` and fit the key.
    pub fn verify_with_key(&self, key: &CoreJsonWebKey, allowed: &[CoreJwsSigningAlgorithm]) -> Result<(), String> {
        self.accepted_alg(allowed)?;
        match self.check_with(key) {
            Fit::Verified => Ok(()),
            Fit::Failed => Err(format!("{}'s signature does not verify", self.what)),
            Fit::Unfit => Err(format!("{}'s key does not fit its alg", self.what)),
        }
    }

    fn accepted_alg(&self, allowed: &[CoreJwsSigningAlgorithm]) -> Result<(), String> {
        if allowed.contains(&self.header.alg) {
            Ok(())
        } else {
            Err(format!("{} is not signed with an accepted algorithm", self.what))
        }
    }

    fn check_with(&self, key: &CoreJsonWebKey) -> Fit {
        let alg = &self.header.alg;
        let use_fits = key.key_use().is_none_or(|u| u.allows_signature());
        let alg_fits = match key.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Unsupported => false,
        };
        if !(use_fits && alg_fits) {
            return Fit::Unfit;
        }
        match key.verify_signature(alg, self.signed.as_bytes(), &self.signature) {
            Ok(()) => Fit::Verified,
            Err(_) => Fit::Failed,
        }
    }

    /// Checks an HMAC signature (one of [`HMAC_ALGS`]) made with `secret`.
    pub fn verify_hmac(&self, secret: &[u8]) -> Result<(), String> {
        let alg = &self.header.alg;
        if !HMAC_ALGS.contains(alg) {
            return Err(format!("{} is not signed with an HMAC algorithm", self.what));
        }
        CoreJsonWebKey::new_symmetric(secret.to_vec())
            .verify_signature(alg, self.signed.as_bytes(), &self.signature)
            .map_err(|_| format!("{}'s signature does not verify", self.what))
    }
}

/// How a key fits a token.
enum Fit {
    Verified,
    /// The key fits the token's header, the signature does not verify with it.
    Failed,
    /// The key's use or algorithm is not the token's.
    Unfit,
}

/// An `aud` claim: one audience or several.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: impl Fn(&str) -> bool) -> bool {
        match self {
            Audience::One(aud) => wanted(aud),
            Audience::Many(auds) => auds.iter().any(|aud| wanted(aud)),
        }
    }
}

/// The `aud` of a JWT's claims, one or many.
pub fn audiences(claims: &serde_json::Map<String, Json>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Json::String(one)) => vec![one.as_str()],
        Some(Json::Array(many)) => many.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}
