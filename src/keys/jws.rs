//! JWS compact serialization (RFC 7515) with the keys parsed once: signing with the
//! active private key, and verifying Gatehouse's own tokens with published public keys.

use crate::config::SigningAlg;
use crate::keys::KeyError;
use crate::store::SigningKeyRecord;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A private signing key, parsed, in aws-lc-rs: its RSA-2048 signatures are about 2.3 times
/// ring's and six times the `rsa` crate's on this hardware.
pub(super) enum PrivateKey {
    Rs256(aws_lc_rs::signature::RsaKeyPair),
    Es256(aws_lc_rs::signature::EcdsaKeyPair),
    EdDsa(aws_lc_rs::signature::Ed25519KeyPair),
}

impl PrivateKey {
    pub(super) fn parse(record: &SigningKeyRecord) -> Result<PrivateKey, KeyError> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
        let crypto = |detail: String| KeyError::Crypto {
            kid: record.kid.clone(),
            detail,
        };
        let (_, der) = rsa::pkcs8::SecretDocument::from_pem(&record.private_key_pem.0)
            .map_err(|e| crypto(format!("not a PKCS#8 PEM key: {e}")))?;
        let der = der.as_bytes();
        Ok(match record.alg {
            SigningAlg::RS256 => PrivateKey::Rs256(RsaKeyPair::from_pkcs8(der).map_err(|e| crypto(e.to_string()))?),
            SigningAlg::ES256 => {
                let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der);
                PrivateKey::Es256(key.map_err(|e| crypto(e.to_string()))?)
            }
            // Gatehouse writes Ed25519 keys as PKCS#8 v1, which carries no public key to
            // check against: aws-lc-rs derives it, and only this constructor accepts v1.
            SigningAlg::EdDSA => {
                let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der);
                PrivateKey::EdDsa(key.map_err(|e| crypto(e.to_string()))?)
            }
        })
    }

    /// The JWS signature of `message` (RFC 7518 §3.3, §3.4 and RFC 8037: PKCS#1 v1.5
    /// with SHA-256, ECDSA P-256 as r || s, Ed25519).
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ok(match self {
            PrivateKey::Rs256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)?;
                signature
            }
            PrivateKey::Es256(key) => key.sign(&rng, message)?.as_ref().to_vec(),
            PrivateKey::EdDsa(key) => key.sign(message).as_ref().to_vec(),
        })
    }

    /// The public half, for verifying what this key signed.
    pub(super) fn public_key(&self) -> PublicKey {
        use aws_lc_rs::signature::KeyPair;
        match self {
            PrivateKey::Rs256(key) => PublicKey {
                alg: "RS256",
                algorithm: &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                bytes: key.public_key().as_ref().to_vec(),
            },
            PrivateKey::Es256(key) => PublicKey {
                alg: "ES256",
                algorithm: &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                bytes: key.public_key().as_ref().to_vec(),
            },
            PrivateKey::EdDsa(key) => PublicKey {
                alg: "EdDSA",
                algorithm: &aws_lc_rs::signature::ED25519,
                bytes: key.public_key().as_ref().to_vec(),
            },
        }
    }
}

/// A published key's public half, ready to check signatures.
pub(super) struct PublicKey {
    /// The JWS `alg` this key signs with.
    alg: &'static str,
    algorithm: &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
    bytes: Vec<u8>,
}

impl PublicKey {
    /// Checks `token`'s signature, and that its header names this key's algorithm.
    pub(super) fn verify(&self, token: &Compact<'_>) -> Result<(), String> {
        if token.header.alg != self.alg {
            return Err(format!("alg {} does not fit the key", token.header.alg));
        }
        aws_lc_rs::signature::UnparsedPublicKey::new(self.algorithm, &self.bytes)
            .verify(token.signing_input.as_bytes(), &token.signature)
            .map_err(|_| "bad signature".to_string())
    }
}

/// The parts of a JWS header Gatehouse reads.
#[derive(serde::Deserialize)]
pub(super) struct JoseHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A JWS in compact serialization, split and decoded, not yet verified.
pub(super) struct Compact<'t> {
    pub header: JoseHeader,
    /// `header.payload`, as signed.
    signing_input: &'t str,
    payload: &'t str,
    signature: Vec<u8>,
}

impl<'t> Compact<'t> {
    pub(super) fn parse(token: &'t str) -> Result<Compact<'t>, String> {
        let not_jwt = || "not a JWT".to_string();
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(not_jwt)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(not_jwt)?;
        let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| not_jwt())?;
        let header: JoseHeader = serde_json::from_slice(&header).map_err(|e| format!("not a JWT: {e}"))?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| not_jwt())?;
        Ok(Compact {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// The claims: call only once the signature is verified.
    pub(super) fn claims(&self) -> Result<serde_json::Value, String> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| "the payload is not base64url")?;
        let claims: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| format!("the claims are not JSON: {e}"))?;
        if claims.is_object() {
            Ok(claims)
        } else {
            Err("the claims are not a JSON object".into())
        }
    }
}
