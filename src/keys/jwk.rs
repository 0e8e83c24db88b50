//! JSON Web Keys (RFC 7517) of Gatehouse's public keys, as the JWKS publishes them, and
//! their RFC 7638 thumbprints, which name the keys (`kid`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A public key as a JWK: the members RFC 7518 §6 and RFC 8037 §2 give its key type.
#[derive(Debug, Clone, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    #[serde(flatten)]
    pub material: KeyMaterial,
}

/// The public key itself, base64url-encoded as RFC 7518 §6.2–6.3 and RFC 8037 §2 say.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum KeyMaterial {
    Rsa { n: String, e: String },
    Ec { crv: &'static str, x: String, y: String },
    Okp { crv: &'static str, x: String },
}

/// The JWKS document (RFC 7517 §5).
#[derive(Debug, Serialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl KeyMaterial {
    /// An RSA key from its modulus and exponent (big-endian, no leading zeros).
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> KeyMaterial {
        KeyMaterial::Rsa {
            n: URL_SAFE_NO_PAD.encode(modulus),
            e: URL_SAFE_NO_PAD.encode(exponent),
        }
    }

    /// A P-256 key from its uncompressed SEC 1 point (`04 || x || y`).
    pub fn p256(point: &[u8]) -> Option<KeyMaterial> {
        match point {
            [4, coordinates @ ..] if coordinates.len() == 64 => {
                let (x, y) = coordinates.split_at(32);
                Some(KeyMaterial::Ec {
                    crv: "P-256",
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                })
            }
            _ => None,
        }
    }

    /// An Ed25519 key from its 32 bytes.
    pub fn ed25519(public_key: &[u8]) -> KeyMaterial {
        KeyMaterial::Okp {
            crv: "Ed25519",
            x: URL_SAFE_NO_PAD.encode(public_key),
        }
    }

    pub fn kty(&self) -> &'static str {
        match self {
            KeyMaterial::Rsa { .. } => "RSA",
            KeyMaterial::Ec { .. } => "EC",
            KeyMaterial::Okp { .. } => "OKP",
        }
    }

    /// The RFC 7638 thumbprint (SHA-256): the hash of the required members only, in
    /// lexicographic order, with no whitespace (RFC 7638 §3.2, RFC 8037 §2).
    pub fn thumbprint(&self) -> String {
        // The values are base64url and the names fixed: nothing needs JSON escaping.
        let canonical = match self {
            KeyMaterial::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            KeyMaterial::Ec { crv, x, y } => format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#),
            KeyMaterial::Okp { crv, x } => format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = KeyMaterial::Rsa {
            n: n.into(),
            e: "AQAB".into(),
        };
        assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn ed25519_thumbprint_matches_rfc_8037_example() {
        // RFC 8037 Appendix A.3.
        let key = KeyMaterial::Okp {
            crv: "Ed25519",
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        };
        assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn p256_point_splits_into_coordinates() {
        let mut point = vec![4];
        point.extend([1; 32]);
        point.extend([2; 32]);
        let Some(KeyMaterial::Ec { x, y, .. }) = KeyMaterial::p256(&point) else {
            panic!("an uncompressed point is a P-256 key");
        };
        assert_eq!(URL_SAFE_NO_PAD.decode(x).ok(), Some(vec![1; 32]));
        assert_eq!(URL_SAFE_NO_PAD.decode(y).ok(), Some(vec![2; 32]));
        assert!(KeyMaterial::p256(&point[1..]).is_none());
    }
}
