//! An Ed25519 key of a client: the private half signs its JWTs (client assertions, DPoP
//! proofs), the public half is its JWK.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub struct ClientKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    pub jwk: Value,
}

impl ClientKey {
    pub fn new(kid: &str) -> ClientKey {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        use base64::Engine;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref().to_vec();
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        ClientKey {
            kid: kid.into(),
            pkcs8,
            jwk: json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA" }),
        }
    }

    /// `claims`, signed, with the key's `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        self.sign_with(header, claims)
    }

    /// `claims`, signed, with `header`.
    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8)).unwrap()
    }

    /// A DPoP proof (RFC 9449) by this key for `htm` `htu`, made at `iat`; `extra` claims
    /// (ath, nonce) are added and may replace the others.
    pub fn dpop_proof(&self, htm: &str, htu: &str, iat: i64, extra: Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).unwrap());
        let mut claims = json!({ "jti": gatehouse::secrets::random_token(), "htm": htm, "htu": htu, "iat": iat });
        if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
            claims.extend(extra);
        }
        self.sign_with(header, &claims)
    }

    /// The JWK thumbprint of the public key (RFC 7638).
    pub fn thumbprint(&self) -> String {
        use base64::Engine;
        use sha2::Digest;
        let canonical = format!(
            "{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{}\"}}",
            self.jwk["x"].as_str().unwrap()
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }
}
