//! `logout_upstream`: a logout at Gatehouse goes on to the IdP with a signed
//! LogoutRequest for the IdP session, and the IdP's signed LogoutResponse brings the
//! person back to the app.

use super::{AFTER_LOGOUT, NOW, redirect_signature_verifies, server, start_login};
use crate::support::TestServer;
use crate::support::browser::Browser;
use crate::support::config::REDIRECT;
use crate::support::saml_idp::{self, ENTITY_ID, SLO_URL, TestIdp, message_of, sp_key_files, sp_key_lines};

/// Logs ada in through the IdP in `browser`: her ID token.
pub(super) async fn logged_in(server: &TestServer, idp: &TestIdp) -> (Browser, String) {
    let login = start_login(server, "openid").await;
    let page = login.post(server, &login.answer().signed_by(idp)).await;
    let code = page.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
    (login.browser, tokens["id_token"].as_str().unwrap().to_string())
}

/// The IdP's LogoutResponse to the request `in_response_to`, to Gatehouse's SLO service.
pub(super) fn logout_response(server: &TestServer, in_response_to: &str, status: &str) -> String {
    format!(
        concat!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
            r#" ID="_lr-1" Version="2.0" IssueInstant="{}" Destination="{}/saml/uni/slo" InResponseTo="{}">"#,
            r#"<saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{}"/></samlp:Status>"#,
            "</samlp:LogoutResponse>"
        ),
        gatehouse::clock::iso8601(NOW),
        server.base,
        in_response_to,
        ENTITY_ID,
        status
    )
}

pub(super) async fn signed_in(server: &TestServer, browser: &Browser) -> bool {
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}&prompt=none",
        server.base
    );
    browser.get(&url).await.redirect_params().contains_key("code")
}

#[tokio::test]
async fn a_logout_at_gatehouse_goes_on_to_the_idp_and_comes_back_to_the_app() {
    let idp = TestIdp::new();
    let keys = sp_key_files();
    let lines = format!("logout_upstream = true\n{}", sp_key_lines(keys.path()));
    let (_dir, server) = server(&idp, &lines).await;
    let (browser, id_token) = logged_in(&server, &idp).await;
    assert!(signed_in(&server, &browser).await);

    let url = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={AFTER_LOGOUT}&state=bye",
        server.base
    );
    let to_idp = browser.get(&url).await.location.expect("on to the IdP");
    assert!(to_idp.starts_with(&format!("{SLO_URL}?SAMLRequest=")), "{to_idp}");
    // Signed with the SP key, as the IdP must be able to tell it is Gatehouse asking.
    let query = to_idp.split_once('?').unwrap().1;
    assert!(redirect_signature_verifies(
        query,
        &keys.path().join("sp.crt"),
        keys.path()
    ));
    let (request, relay_state) = message_of(&to_idp);
    assert!(request.contains(&format!("Destination=\"{SLO_URL}\"")), "{request}");
    assert!(
        request.contains(&format!("<saml:Issuer>{}/saml/uni</saml:Issuer>", server.base)),
        "{request}"
    );
    assert!(request.contains(">ada-persistent-id</saml:NameID>"), "{request}");
    assert!(
        request.contains("<samlp:SessionIndex>_session-1</samlp:SessionIndex>"),
        "{request}"
    );
    assert!(
        !signed_in(&server, &browser).await,
        "the Gatehouse session ended before the IdP was asked"
    );
    let request_id = saml_idp::request_of(&to_idp).0;

    // An answer signed by another key, or to another request, finishes nothing.
    let slo = format!("{}/saml/uni/slo", server.base);
    let impostor = TestIdp::new();
    let forged = impostor.signed_redirect(
        "SAMLResponse",
        &logout_response(&server, &request_id, "Success"),
        &relay_state,
    );
    assert_eq!(browser.get(&format!("{slo}?{forged}")).await.status, 400);
    let other = idp.signed_redirect(
        "SAMLResponse",
        &logout_response(&server, "_other", "Success"),
        &relay_state,
    );
    assert_eq!(browser.get(&format!("{slo}?{other}")).await.status, 400);

    // The IdP's answer (even a partial logout there) sends the person on to the app.
    let answer = idp.signed_redirect(
        "SAMLResponse",
        &logout_response(&server, &request_id, "Responder"),
        &relay_state,
    );
    let back = browser.get(&format!("{slo}?{answer}")).await;
    assert_eq!(
        back.location.as_deref(),
        Some(format!("{AFTER_LOGOUT}?state=bye").as_str())
    );
    // Once.
    let again = browser.get(&format!("{slo}?{answer}")).await;
    assert_eq!(again.location, None);
    server.stop().await;
}

#[tokio::test]
async fn without_logout_upstream_the_logout_ends_at_gatehouse() {
    let idp = TestIdp::new();
    let keys = sp_key_files();
    let (_dir, server) = server(&idp, &sp_key_lines(keys.path())).await;
    let (browser, id_token) = logged_in(&server, &idp).await;
    let url = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={AFTER_LOGOUT}&state=bye",
        server.base
    );
    let page = browser.get(&url).await;
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{AFTER_LOGOUT}?state=bye").as_str())
    );
    server.stop().await;
}
