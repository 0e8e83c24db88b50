//! Without `sp_key_file`, Gatehouse makes its SP key and certificate and keeps them in
//! the store: the SP metadata carries the certificate, a restart shows the same one,
//! requests are signed and encrypted assertions decrypted with the key.

use super::{NOW, config, redirect_signature_verifies, start_login};
use crate::support::TestServer;
use crate::support::browser::Browser;
use crate::support::config::REDIRECT;
use crate::support::saml_idp::{SSO_URL, TestIdp};
use gatehouse::Clock;

/// The certificate of the SP metadata, base64 DER.
async fn metadata_certificate(server: &TestServer) -> String {
    let metadata = server.get("/saml/uni/metadata").await.text().await.unwrap();
    assert!(
        metadata.contains(r#"<md:KeyDescriptor use="encryption">"#),
        "{metadata}"
    );
    metadata
        .split("<ds:X509Certificate>")
        .nth(1)
        .and_then(|rest| rest.split("</ds:X509Certificate>").next())
        .unwrap_or_else(|| panic!("no certificate: {metadata}"))
        .to_string()
}

#[tokio::test]
async fn gatehouse_makes_its_sp_key_once_and_signs_and_decrypts_with_it() {
    let idp = TestIdp::new();
    let dir = tempfile::tempdir().unwrap();
    let text = config(&idp, "sign_requests = true");
    let server = TestServer::start(dir.path(), &text, Clock::manual(NOW)).await;
    let certificate = metadata_certificate(&server).await;
    let pem = format!("-----BEGIN CERTIFICATE-----\n{certificate}\n-----END CERTIFICATE-----\n");
    let scratch = tempfile::tempdir().unwrap();
    let cert_file = scratch.path().join("sp.crt");
    std::fs::write(&cert_file, pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&cert_file)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Gatehouse SAML SP (uni)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The AuthnRequest is signed with the key of that certificate.
    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}",
        server.base
    );
    let location = browser
        .follow(&server.base, browser.get(&url).await)
        .await
        .location
        .unwrap();
    assert!(location.starts_with(SSO_URL));
    let query = location.split_once('?').unwrap().1;
    assert!(redirect_signature_verifies(query, &cert_file, scratch.path()));

    // An assertion encrypted for it is decrypted.
    let login = start_login(&server, "openid email").await;
    let xml = login.answer().encrypted_for(
        &idp,
        &cert_file,
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    );
    let page = login.post(&server, &xml).await;
    assert!(page.redirect_params().contains_key("code"), "{:?}", page.location);
    server.stop().await;

    // After a restart, the same key.
    let server = TestServer::start(dir.path(), &text, Clock::manual(NOW)).await;
    assert_eq!(metadata_certificate(&server).await, certificate);
    server.stop().await;
}

#[tokio::test]
async fn a_sealed_kept_key_is_not_in_the_store_in_the_clear() {
    let idp = TestIdp::new();
    let dir = tempfile::tempdir().unwrap();
    let text = config(&idp, "").replace(
        "[[upstreams]]",
        "[store]\nkey_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\n[[upstreams]]",
    );
    let server = TestServer::start(dir.path(), &text, Clock::manual(NOW)).await;
    let certificate = metadata_certificate(&server).await;
    let record = server
        .app
        .state()
        .store
        .saml_sp_keys
        .get("uni", NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(record.private_key_pem.0.is_empty());
    assert!(record.sealed_private_key.is_some());
    let config_path = server.config_path.clone();
    server.stop().await;
    let server = TestServer::start(dir.path(), &text, Clock::manual(NOW)).await;
    assert_eq!(metadata_certificate(&server).await, certificate);
    server.stop().await;

    // `gatehouse keys rewrap` seals it under a new key-encryption key, so the old one can
    // go from the config.
    const FIRST: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const SECOND: &str = "HxwdHhobGBkWFxQVEhMQEQ4PDA0KCwgJBgcEBQIDAAE=";
    let written = std::fs::read_to_string(&config_path).unwrap();
    let rotated = written.replace(
        &format!("key_encryption_key = \"{FIRST}\""),
        &format!("key_encryption_key = \"{SECOND}\"\nprevious_key_encryption_keys = [\"{FIRST}\"]"),
    );
    assert_ne!(rotated, written);
    std::fs::write(&config_path, rotated).unwrap();
    let (code, out, err) =
        crate::support::gatehouse_async(&["keys", "rewrap", "--config", config_path.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sealed anew"), "{out}");
    let only_second = text.replace(FIRST, SECOND);
    let server = TestServer::start(dir.path(), &only_second, Clock::manual(NOW)).await;
    assert_eq!(metadata_certificate(&server).await, certificate);
    server.stop().await;
}
