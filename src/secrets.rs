//! Random secrets and the hashes they are stored under. Codes, refresh tokens, session
//! cookies and CSRF tokens are handed out once and kept only as SHA-256 hashes, so a copy
//! of the database does not let anyone use them.

use crate::config::SigningAlg;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// 256 random bits, base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of `secret`, base64url: the key a secret is stored under.
pub fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    hash(verifier)
}

/// The left half of a token's hash, base64url: `at_hash` and `c_hash` (OpenID Connect
/// Core §3.1.3.6, §3.3.2.11). The hash is the one of the signing algorithm: SHA-256 for
/// RS256 and ES256, SHA-512 for EdDSA over Ed25519 (as the OpenID errata and RP
/// libraries read it).
pub fn half_hash(alg: SigningAlg, token: &str) -> String {
    let digest = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Sha256::digest(token.as_bytes()).to_vec(),
        SigningAlg::EdDSA => Sha512::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Whether `password` matches the argon2 PHC string `hash`. Deliberately slow (~19 MiB,
/// tens of milliseconds): call it on the blocking pool, never on an async worker.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn half_hashes_match_the_openid_connect_core_examples() {
        // OpenID Connect Core 1.0, Appendix A.4 and A.6 (RS256, so SHA-256).
        assert_eq!(
            half_hash(SigningAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            half_hash(
                SigningAlg::RS256,
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        // EdDSA: the left half of SHA-512, 32 bytes.
        assert_eq!(half_hash(SigningAlg::EdDSA, "x").len(), 43);
    }

    #[test]
    fn random_tokens_differ_and_carry_256_bits() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn equal_compares_whole_strings() {
        assert!(equal("abc", "abc"));
        assert!(!equal("abc", "abd"));
        assert!(!equal("abc", "abcd"));
    }
}
