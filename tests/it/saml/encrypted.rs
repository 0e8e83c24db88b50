//! Encrypted assertions: decrypted with the SP key, then checked as any Assertion;
//! encryption Gatehouse does not take, or for another key, refuses the login.

use super::{app_error, server, start_login};
use crate::support::config::REDIRECT;
use crate::support::jwt_claims;
use crate::support::saml_idp::{TestIdp, sp_key_files, sp_key_lines};

const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
const TRIPLE_DES: &str = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc";
const RSA_OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

#[tokio::test]
async fn an_assertion_encrypted_for_the_sp_key_is_decrypted_and_checked() {
    let idp = TestIdp::new();
    let keys = sp_key_files();
    let (_dir, server) = server(&idp, &sp_key_lines(keys.path())).await;
    let certificate = keys.path().join("sp.crt");
    let metadata = server.get("/saml/uni/metadata").await.text().await.unwrap();
    assert!(
        metadata.contains(r#"<md:KeyDescriptor use="encryption">"#),
        "{metadata}"
    );

    for (n, data) in [AES128_GCM, AES256_CBC].into_iter().enumerate() {
        let login = start_login(&server, "openid email").await;
        let mut answer = login.answer();
        answer.assertion_id = format!("_encrypted-{n}");
        let page = login
            .post(&server, &answer.encrypted_for(&idp, &certificate, data, RSA_OAEP))
            .await;
        let code = page
            .redirect_params()
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("{data}: {:?} {}", page.location, page.body));
        let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
        assert_eq!(
            jwt_claims(tokens["id_token"].as_str().unwrap())["email"],
            "ada@example.org"
        );
    }

    // Taken once, encrypted or not.
    let login = start_login(&server, "openid").await;
    let mut answer = login.answer();
    answer.assertion_id = "_encrypted-0".into();
    let page = login
        .post(&server, &answer.encrypted_for(&idp, &certificate, AES128_GCM, RSA_OAEP))
        .await;
    assert_eq!(app_error(&page).as_deref(), Some("access_denied"));
    server.stop().await;
}

#[tokio::test]
async fn encryption_gatehouse_does_not_take_or_cannot_undo_is_refused() {
    let idp = TestIdp::new();
    let keys = sp_key_files();
    let (_dir, server) = server(&idp, &sp_key_lines(keys.path())).await;
    let ours = keys.path().join("sp.crt");
    let others = sp_key_files();
    let theirs = others.path().join("sp.crt");
    let cases = [
        ("RSA PKCS#1 v1.5 key transport", &ours, AES128_GCM, RSA_1_5),
        ("triple DES", &ours, TRIPLE_DES, RSA_OAEP),
        ("encrypted for another SP key", &theirs, AES128_GCM, RSA_OAEP),
    ];
    for (n, (case, certificate, data, key)) in cases.into_iter().enumerate() {
        let login = start_login(&server, "openid").await;
        let mut answer = login.answer();
        answer.assertion_id = format!("_refused-{n}");
        let page = login
            .post(&server, &answer.encrypted_for(&idp, certificate, data, key))
            .await;
        assert_eq!(
            app_error(&page).as_deref(),
            Some("access_denied"),
            "{case}: {:?}",
            page.location
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_encrypted_assertion_must_be_signed_inside_unless_the_response_signature_is_enough() {
    let idp = TestIdp::new();
    let keys = sp_key_files();
    let certificate = keys.path().join("sp.crt");
    let response_signed_only = |answer: &mut crate::support::saml_idp::Answer| {
        answer.sign_assertion = false;
        answer.sign_response = true;
    };

    let (_dir, server) = server(&idp, &sp_key_lines(keys.path())).await;
    let login = start_login(&server, "openid").await;
    let mut answer = login.answer();
    response_signed_only(&mut answer);
    let page = login
        .post(&server, &answer.encrypted_for(&idp, &certificate, AES128_GCM, RSA_OAEP))
        .await;
    assert_eq!(
        app_error(&page).as_deref(),
        Some("access_denied"),
        "want_assertions_signed"
    );
    // Signed by nobody at all.
    let login = start_login(&server, "openid").await;
    let mut answer = login.answer();
    answer.sign_assertion = false;
    let page = login
        .post(&server, &answer.encrypted_for(&idp, &certificate, AES128_GCM, RSA_OAEP))
        .await;
    assert_eq!(app_error(&page).as_deref(), Some("access_denied"), "unsigned");
    server.stop().await;

    let lines = format!("want_assertions_signed = false\n{}", sp_key_lines(keys.path()));
    let (_dir, server) = super::server(&idp, &lines).await;
    let login = start_login(&server, "openid").await;
    let mut answer = login.answer();
    response_signed_only(&mut answer);
    let page = login
        .post(&server, &answer.encrypted_for(&idp, &certificate, AES128_GCM, RSA_OAEP))
        .await;
    assert!(page.redirect_params().contains_key("code"), "{:?}", page.location);
    server.stop().await;
}
