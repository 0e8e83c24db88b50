//! Signing keys: persistence, rotation by command and by schedule, retirement.

use crate::support;

use gatehouse::Clock;
use support::*;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn the_kid_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let before = jwks_kids(&server).await;
    assert_eq!(before.len(), 1);
    server.stop().await;

    let server = TestServer::start(dir.path(), "", Clock::System).await;
    assert_eq!(jwks_kids(&server).await, before, "the same key after a restart");
    assert_eq!(kid_of(&sign_test_token(&server).await), before[0]);
    server.stop().await;
}

#[tokio::test]
async fn keys_rotate_publishes_both_keys_and_new_tokens_use_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let old_kid = jwks_kids(&server).await.remove(0);
    let old_token = sign_test_token(&server).await;
    let config = server.config_path.to_str().unwrap().to_string();
    server.stop().await;

    let (code, stdout, stderr) = gatehouse(&["keys", "rotate", "--config", &config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("new active key"), "{stdout}");

    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let kids = jwks_kids(&server).await;
    assert_eq!(kids.len(), 2, "both keys are published: {kids:?}");
    assert!(kids.contains(&old_kid));
    let new_token = sign_test_token(&server).await;
    let new_kid = kid_of(&new_token);
    assert_ne!(new_kid, old_kid, "new tokens are signed with the new key");
    assert!(kids.contains(&new_kid));
    verify_with_jwks(&server, &old_token)
        .await
        .expect("a token signed before rotation still verifies");
    verify_with_jwks(&server, &new_token)
        .await
        .expect("a token signed after rotation verifies");
    let config = server.config_path.to_str().unwrap().to_string();
    server.stop().await;

    let (code, stdout, stderr) = gatehouse(&["keys", "list", "--config", &config]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two keys: {stdout}");
    assert!(lines[1].starts_with(&new_kid) && lines[1].contains("RS256") && lines[1].ends_with("active"));
    assert!(lines[2].starts_with(&old_kid) && lines[2].contains("retired, published until"));
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_800_000_000);
    let config = "[tokens]\nid_token_ttl = \"1h\"\naccess_token_ttl = \"10m\"\n";
    let server = TestServer::start(dir.path(), config, clock.clone()).await;
    let old_kid = server.app.state().keys.active_kid();
    let new_kid = server.app.state().keys.rotate(clock.now()).await.unwrap();
    assert_eq!(jwks_kids(&server).await.len(), 2);

    // The longest-lived token the old key signed (an ID token, 1h) is still valid.
    clock.advance(3600 - 1);
    assert!(jwks_kids(&server).await.contains(&old_kid));

    clock.advance(1);
    assert_eq!(
        jwks_kids(&server).await,
        std::slice::from_ref(&new_kid),
        "the old key is gone once its tokens expired"
    );
    server.app.maintain().await.unwrap();
    assert_eq!(
        server.app.state().store.keys.stored_len().await.unwrap(),
        1,
        "and the sweeper removed it from the store"
    );
    assert_eq!(jwks_kids(&server).await, [new_kid]);
    server.stop().await;
}

#[tokio::test]
async fn keys_rotate_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_800_000_000);
    let server = TestServer::start(dir.path(), "[tokens]\nkey_rotation = \"2h\"\n", clock.clone()).await;
    let first = server.app.state().keys.active_kid();
    clock.advance(2 * 3600 - 1);
    server.app.maintain().await.unwrap();
    assert_eq!(
        server.app.state().keys.active_kid(),
        first,
        "not rotated before it is due"
    );

    clock.advance(1);
    server.app.maintain().await.unwrap();
    let second = server.app.state().keys.active_kid();
    assert_ne!(second, first, "rotated when due");
    assert_eq!(kid_of(&sign_test_token(&server).await), second);
    assert_eq!(jwks_kids(&server).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn changing_signing_alg_makes_a_new_key_and_keeps_the_old_one_published() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let rsa_kid = jwks_kids(&server).await.remove(0);
    server.stop().await;

    let server = TestServer::start(dir.path(), "[tokens]\nsigning_alg = \"ES256\"\n", Clock::System).await;
    let jwks = server.get_json("/jwks").await;
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 2);
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"), "{algs:?}");
    let token = sign_test_token(&server).await;
    assert_ne!(kid_of(&token), rsa_kid);
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    server.stop().await;
}

#[tokio::test]
async fn a_database_in_use_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let config = server.config_path.to_str().unwrap().to_string();
    for command in ["list", "rotate"] {
        let (code, stdout, stderr) = gatehouse(&["keys", command, "--config", &config]);
        assert_ne!(code, 0, "keys {command} opened a database in use: {stdout}");
        assert!(
            stderr.contains("is in use by another process"),
            "keys {command}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    server.stop().await;
}

/// A key as Gatehouse wrote it before it generated keys with aws-lc-rs: PKCS#8 PEM from the `rsa` and `p256` crates,
/// and for Ed25519 the PKCS#8 v1 form ed25519-dalek wrote (no public key inside).
fn key_as_earlier_releases_wrote_it(alg: &str) -> String {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let mut rng = rand::rngs::OsRng;
    match alg {
        "RS256" => rsa::RsaPrivateKey::new(&mut rng, 2048)
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string(),
        "ES256" => p256::SecretKey::random(&mut rng)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string(),
        _ => {
            // RFC 8410 §7: version 0, the Ed25519 OID, the 32-byte seed as an OCTET STRING.
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
            ];
            der.extend(rand::random::<[u8; 32]>());
            pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &der).unwrap()
        }
    }
}

/// The JWK and RFC 7638 kid that jsonwebtoken, which made them before, gives `pem`.
fn jwk_by_jsonwebtoken(alg: &str, pem: &str) -> (serde_json::Value, String) {
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    use jsonwebtoken::{Algorithm, EncodingKey};
    let (key, alg) = match alg {
        "RS256" => (EncodingKey::from_rsa_pem(pem.as_bytes()), Algorithm::RS256),
        "ES256" => (EncodingKey::from_ec_pem(pem.as_bytes()), Algorithm::ES256),
        _ => (EncodingKey::from_ed_pem(pem.as_bytes()), Algorithm::EdDSA),
    };
    let jwk = Jwk::from_encoding_key(&key.unwrap(), alg).unwrap();
    let kid = jwk.thumbprint(ThumbprintHash::SHA256).unwrap();
    (serde_json::to_value(&jwk).unwrap(), kid)
}

/// The key material members of a JWK, for comparing two JWKs of one key.
fn key_members(jwk: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    ["kty", "n", "e", "crv", "x", "y"]
        .into_iter()
        .filter_map(|m| jwk.get(m).map(|v| (m.to_string(), v.clone())))
        .collect()
}

#[tokio::test]
async fn keys_written_by_earlier_releases_load_keep_their_kid_and_sign() {
    for alg in ["RS256", "ES256", "EdDSA"] {
        let dir = tempfile::tempdir().unwrap();
        let pem = key_as_earlier_releases_wrote_it(alg);
        let (old_jwk, kid) = jwk_by_jsonwebtoken(alg, &pem);
        // The record as earlier releases stored it: no sealing, no activation time.
        let record: gatehouse::store::SigningKeyRecord = serde_json::from_value(serde_json::json!({
            "kid": kid,
            "alg": alg,
            "private_key_pem": pem,
            "created_at": Clock::System.now(),
            "retired_at": null,
        }))
        .unwrap();
        let store = open_when_released(&dir.path().join("data"));
        store.keys.put(&kid, &record, None).await.unwrap();
        drop(store);

        let config = format!("[tokens]\nsigning_alg = \"{alg}\"\n");
        let server = TestServer::start(dir.path(), &config, Clock::System).await;
        let jwks = server.get_json("/jwks").await;
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{alg}: the stored key is used, not replaced: {jwks}");
        assert_eq!(keys[0]["kid"], kid.as_str(), "{alg}");
        assert_eq!(keys[0]["alg"], alg);
        assert_eq!(
            key_members(&keys[0]),
            key_members(&old_jwk),
            "{alg}: the same public key"
        );
        let token = sign_test_token(&server).await;
        assert_eq!(kid_of(&token), kid);
        verify_with_jwks(&server, &token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        server.stop().await;
    }
}

#[tokio::test]
async fn new_keys_are_named_by_their_rfc_7638_thumbprint() {
    for alg in ["RS256", "ES256", "EdDSA"] {
        let dir = tempfile::tempdir().unwrap();
        let config = format!("[tokens]\nsigning_alg = \"{alg}\"\n");
        let server = TestServer::start(dir.path(), &config, Clock::System).await;
        let jwks: jsonwebtoken::jwk::JwkSet = server.get("/jwks").await.json().await.unwrap();
        let jwk = &jwks.keys[0];
        assert_eq!(
            jwk.common.key_id.as_deref(),
            Some(
                jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                    .unwrap()
                    .as_str()
            ),
            "{alg}"
        );
        assert_eq!(
            jwk.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Signature)
        );
        verify_with_jwks(&server, &sign_test_token(&server).await)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        server.stop().await;
    }
}
