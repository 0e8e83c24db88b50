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
/// tens of milliseconds): call it on the password threads (`limits::PasswordChecks`),
/// never on an async worker.
///
/// The memory argon2 fills is the calling thread's own, kept for its next check: a new
/// ~19 MiB allocation per check is what the allocator keeps around per arena, and that
/// grew the process by hundreds of megabytes under a burst of checks.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let argon2 = (|| {
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed.version.map_or(Ok(Version::default()), Version::try_from).ok()?;
        Some(Argon2::new(algorithm, version, Params::try_from(&parsed).ok()?))
    })();
    let Some(argon2) = argon2 else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let hashed = MEMORY.with_borrow_mut(|memory| {
        let blocks = argon2.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut memory[..blocks])
    });
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_password_agrees_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        use argon2::{Algorithm, Argon2, Params, Version};
        let variants = [
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(19_456, 2, 1, None).unwrap(),
            ),
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(4096, 3, 2, Some(16)).unwrap(),
            ),
            (
                Algorithm::Argon2d,
                Version::V0x13,
                Params::new(1024, 1, 1, Some(64)).unwrap(),
            ),
        ];
        for (algorithm, version, params) in variants {
            let salt = SaltString::generate(&mut OsRng);
            let hash = Argon2::new(algorithm, version, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            assert!(verify_password(&hash, "correct horse"), "{hash}");
            assert!(!verify_password(&hash, "correct horsf"), "{hash}");
        }
        assert!(
            !verify_password("$argon2id$v=19$m=19456,t=2,p=1$bm90aGluZw", "x"),
            "no hash part"
        );
        assert!(!verify_password("not a hash", ""));
    }

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
