//! Logout messages by the HTTP-POST binding: signed in their XML (one enveloped signature
//! of the message), or refused.

use super::logout_upstream::{logged_in, logout_response, signed_in};
use super::{AFTER_LOGOUT, NOW, server};
use crate::support::saml_idp::{self, SLO_URL, TestIdp, message_of};

#[tokio::test]
async fn the_idps_logout_request_by_post_must_be_signed_in_its_xml() {
    let idp = TestIdp::new();
    let other = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let (browser, _) = logged_in(&server, &idp).await;
    let slo = format!("{}/saml/uni/slo", server.base);
    let request = saml_idp::logout_request("_logout-p1", &slo, "ada-persistent-id", "_session-1", NOW);
    let b64 = |xml: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml);

    // Unsigned, signed by another key, or signed and then changed: refused.
    let tampered = {
        let signed = idp.signed_for_post(&request, "_logout-p1");
        let xml =
            String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signed).unwrap())
                .unwrap();
        b64(&xml.replace("ada-persistent-id", "someone-else"))
    };
    for (case, form) in [
        ("unsigned", b64(&request)),
        ("another key", other.signed_for_post(&request, "_logout-p1")),
        ("changed after signing", tampered),
    ] {
        let answer = browser
            .post(&slo, &[("SAMLRequest", form.as_str()), ("RelayState", "back")])
            .await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
    }
    assert!(signed_in(&server, &browser).await, "the session lives on");

    let form = idp.signed_for_post(&request, "_logout-p1");
    let answer = browser
        .post(&slo, &[("SAMLRequest", form.as_str()), ("RelayState", "back")])
        .await;
    let location = answer
        .location
        .unwrap_or_else(|| panic!("{} {}", answer.status, answer.body));
    assert!(location.starts_with(&format!("{SLO_URL}?SAMLResponse=")), "{location}");
    assert!(!signed_in(&server, &browser).await, "the session ended");
    server.stop().await;
}

#[tokio::test]
async fn a_logout_response_by_post_finishes_the_logout_that_went_to_the_idp() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "logout_upstream = true").await;
    let (browser, id_token) = logged_in(&server, &idp).await;
    let url = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={AFTER_LOGOUT}&state=bye",
        server.base
    );
    let to_idp = browser.get(&url).await.location.expect("on to the IdP");
    let (_, relay_state) = message_of(&to_idp);
    let request_id = saml_idp::request_of(&to_idp).0;
    let slo = format!("{}/saml/uni/slo", server.base);
    let response = logout_response(&server, &request_id, "Success");
    let unsigned = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &response);
    let refused = browser
        .post(
            &slo,
            &[
                ("SAMLResponse", unsigned.as_str()),
                ("RelayState", relay_state.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    let signed = idp.signed_for_post(&response, "_lr-1");
    let back = browser
        .post(
            &slo,
            &[("SAMLResponse", signed.as_str()), ("RelayState", relay_state.as_str())],
        )
        .await;
    assert_eq!(
        back.location.as_deref(),
        Some(format!("{AFTER_LOGOUT}?state=bye").as_str())
    );
    server.stop().await;
}
