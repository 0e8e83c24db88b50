//! JWS compact serialization (RFC 7515) with the keys parsed once: signing with the
//! active private key, and verifying Gatehouse's own tokens with published public keys.

use crate::config::SigningAlg;
use crate::keys::KeyError;
use crate::keys::jwk::KeyMaterial;
use crate::signed_jwt::SignedJwt;
use crate::store::SigningKeyRecord;

/// A private signing key, parsed, in aws-lc-rs: its RSA-2048 signatures are about 2.3 times
/// ring's and six times the `rsa` crate's on AVX-512 hardware.
pub(super) enum PrivateKey {
    Rs256(aws_lc_rs::signature::RsaKeyPair),
    Es256(aws_lc_rs::signature::EcdsaKeyPair),
    EdDsa(aws_lc_rs::signature::Ed25519KeyPair),
}

/// The PEM label of a PKCS#8 private key (RFC 7468 §10).
const PKCS8_LABEL: &str = "PRIVATE KEY";

impl PrivateKey {
    pub(super) fn parse(record: &SigningKeyRecord) -> Result<PrivateKey, KeyError> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
        let crypto = |detail: String| KeyError::Crypto {
            kid: record.kid.clone(),
            detail,
        };
        let der = match pem_rfc7468::decode_vec(record.private_key_pem.0.as_bytes()) {
            Ok((PKCS8_LABEL, der)) => der,
            Ok((label, _)) => return Err(crypto(format!("a PEM {label}, not a PKCS#8 private key"))),
            Err(e) => return Err(crypto(format!("not a PKCS#8 PEM key: {e}"))),
        };
        Ok(match record.alg {
            SigningAlg::RS256 => PrivateKey::Rs256(RsaKeyPair::from_pkcs8(&der).map_err(|e| crypto(e.to_string()))?),
            SigningAlg::ES256 => {
                let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der);
                PrivateKey::Es256(key.map_err(|e| crypto(e.to_string()))?)
            }
            // Gatehouse writes Ed25519 keys as PKCS#8 v1, which carries no public key to
            // check against: aws-lc-rs derives it, and only this constructor accepts v1.
            SigningAlg::EdDSA => {
                let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der);
                PrivateKey::EdDsa(key.map_err(|e| crypto(e.to_string()))?)
            }
        })
    }

    /// A new key as PKCS#8 PEM: RSA-2048, P-256, or Ed25519 in PKCS#8 v1 (the form keys
    /// have always been stored in, so that a key written now loads in older releases).
    pub(super) fn generate(alg: SigningAlg) -> Result<String, String> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let failed = |e: aws_lc_rs::error::Unspecified| e.to_string();
        let der = match alg {
            SigningAlg::RS256 => {
                let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
                let der: Pkcs8V1Der = key.as_der().map_err(failed)?;
                der.as_ref().to_vec()
            }
            SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
        };
        pem_rfc7468::encode_string(PKCS8_LABEL, pem_rfc7468::LineEnding::LF, &der).map_err(|e| e.to_string())
    }

    /// Whether a signature takes long enough to be kept off the async workers: RSA-2048
    /// signs in 0.25 to 1 ms, ECDSA P-256 and Ed25519 in 10 to 30 µs, less than the move
    /// to another thread would cost.
    pub(super) fn is_slow(&self) -> bool {
        matches!(self, PrivateKey::Rs256(_))
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

    /// The public half, parsed for verifying what this key signed, and as a JWK.
    pub(super) fn public_key(&self) -> Result<(PublicKey, KeyMaterial), String> {
        use aws_lc_rs::signature::{self, KeyPair};
        let (alg, algorithm, bytes, material): (_, &'static dyn signature::VerificationAlgorithm, _, _) = match self {
            PrivateKey::Rs256(key) => {
                let public = key.public_key();
                let material = KeyMaterial::rsa(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                );
                let algorithm = &signature::RSA_PKCS1_2048_8192_SHA256;
                (SigningAlg::RS256, algorithm, public.as_ref(), material)
            }
            PrivateKey::Es256(key) => {
                let point = key.public_key().as_ref();
                let material = KeyMaterial::p256(point).ok_or("not an uncompressed P-256 point")?;
                (SigningAlg::ES256, &signature::ECDSA_P256_SHA256_FIXED, point, material)
            }
            PrivateKey::EdDsa(key) => {
                let bytes = key.public_key().as_ref();
                (
                    SigningAlg::EdDSA,
                    &signature::ED25519,
                    bytes,
                    KeyMaterial::ed25519(bytes),
                )
            }
        };
        let parsed = signature::ParsedPublicKey::new(algorithm, bytes).map_err(|e| e.to_string())?;
        Ok((PublicKey { alg, parsed }, material))
    }
}

/// A published key's public half, parsed once, ready to check signatures.
pub(super) struct PublicKey {
    /// The JWS `alg` this key signs with.
    alg: SigningAlg,
    parsed: aws_lc_rs::signature::ParsedPublicKey,
}

impl PublicKey {
    /// Checks `token`'s signature, and that its header names this key's algorithm.
    pub(super) fn verify(&self, token: &SignedJwt<'_>) -> Result<(), String> {
        if !token.alg_is(self.alg.as_str()) {
            return Err(format!("the token's alg does not fit the key ({})", self.alg.as_str()));
        }
        self.parsed
            .verify_sig(token.signing_input().as_bytes(), token.signature())
            .map_err(|_| "bad signature".to_string())
    }
}
