//! Logins the IdP starts (`allow_idp_initiated`): refused unless allowed; when allowed,
//! the person's session starts and they go to the app the `RelayState` names, at its
//! `initiate_login_uri`, whose own authorization request then finds the session.

use super::{NOW, config_beside};
use crate::support::browser::{Browser, Page};
use crate::support::config::{REDIRECT, TestClient, TestConfig};
use crate::support::saml_idp::{Answer, TestIdp, encode};
use crate::support::{TestServer, jwt_claims};
use gatehouse::Clock;

const PORTAL: &str = "https://portal.example/start-login";

async fn start(idp: &TestIdp, lines: &str) -> (tempfile::TempDir, TestServer) {
    let clients = TestConfig::new()
        .client(
            TestClient::confidential("portal", "portal-secret")
                .no_consent()
                .with("initiate_login_uri", &format!("\"{PORTAL}\"")),
        )
        .client(TestClient::confidential("elsewhere", "elsewhere-secret").no_consent());
    let source = format!("idp_metadata_file = \"{}\"", idp.metadata_path().display());
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config_beside(clients, &source, lines), Clock::manual(NOW)).await;
    (dir, server)
}

/// An Assertion nobody asked for, signed by `idp`.
fn unsolicited(server: &TestServer, idp: &TestIdp, id: &str) -> String {
    let acs = format!("{}/saml/uni/acs", server.base);
    let mut answer = Answer::to("", &format!("{}/saml/uni", server.base), &acs, NOW);
    answer.in_response_to = None;
    answer.assertion_id = id.into();
    answer.signed_by(idp)
}

/// Posts `xml` to the ACS from the IdP's page with `relay_state`, and follows
/// Gatehouse's page on to the callback in `browser`.
async fn post(server: &TestServer, browser: &Browser, xml: &str, relay_state: &str) -> Page {
    let acs = format!("{}/saml/uni/acs", server.base);
    let page = Browser::default()
        .post(&acs, &[("SAMLResponse", &encode(xml)), ("RelayState", relay_state)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let fields = page.hidden_fields();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser
        .post(&format!("{}{}", server.base, page.form_action()), &fields)
        .await
}

/// The app's own authorization request, without a prompt: a code if the browser has a
/// session.
async fn app_login(server: &TestServer, browser: &Browser) -> Option<String> {
    let url = format!(
        "{}/authorize?client_id=portal&response_type=code&scope=openid%20email&redirect_uri={REDIRECT}&prompt=none",
        server.base
    );
    let page = browser.get(&url).await;
    page.redirect_params().get("code").cloned()
}

#[tokio::test]
async fn a_login_the_idp_started_is_refused_unless_the_upstream_allows_it() {
    let idp = TestIdp::new();
    let (_dir, server) = start(&idp, "").await;
    let browser = Browser::default();
    let page = post(&server, &browser, &unsolicited(&server, &idp, "_a-1"), "portal").await;
    assert!(
        page.status >= 400 && page.location.is_none(),
        "{} {:?}",
        page.status,
        page.location
    );
    assert_eq!(app_login(&server, &browser).await, None, "no session");
    server.stop().await;
}

#[tokio::test]
async fn when_allowed_the_person_is_signed_in_and_sent_to_the_app_to_start_its_own_login() {
    let idp = TestIdp::new();
    let (_dir, server) = start(&idp, "allow_idp_initiated = true").await;
    let browser = Browser::default();
    let xml = unsolicited(&server, &idp, "_a-1");
    let page = post(&server, &browser, &xml, "portal").await;
    let location = page
        .location
        .clone()
        .unwrap_or_else(|| panic!("{} {}", page.status, page.body));
    assert_eq!(
        location,
        format!(
            "{PORTAL}?iss={}",
            url::form_urlencoded::byte_serialize(server.base.as_bytes()).collect::<String>()
        )
    );
    let code = app_login(&server, &browser)
        .await
        .expect("the session answers the app's request");
    let tokens = server.redeem(("portal", "portal-secret"), &code, REDIRECT, None).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "ada@example.org");
    assert_eq!(claims["auth_time"], NOW);

    // The ACS page may lead on to the app's initiate_login_uri.
    let acs = format!("{}/saml/uni/acs", server.base);
    let page = Browser::default()
        .post(
            &acs,
            &[("SAMLResponse", encode("<x/>").as_str()), ("RelayState", "portal")],
        )
        .await;
    assert_eq!(super::form_action(&page), "form-action 'self' https://portal.example");

    // The same Assertion again, in another browser: taken once.
    let other = Browser::default();
    let page = post(&server, &other, &xml, "portal").await;
    assert!(page.status >= 400 && page.location.is_none());
    assert_eq!(app_login(&server, &other).await, None);
    server.stop().await;
}

#[tokio::test]
async fn when_allowed_what_is_still_refused() {
    let idp = TestIdp::new();
    let (_dir, server) = start(&idp, "allow_idp_initiated = true").await;
    let cases: [(&str, String, &str); 4] = [
        (
            "an app without initiate_login_uri",
            unsolicited(&server, &idp, "_b-1"),
            "elsewhere",
        ),
        ("no app named", unsolicited(&server, &idp, "_b-2"), ""),
        (
            "an app that does not exist",
            unsolicited(&server, &idp, "_b-3"),
            "nobody",
        ),
        (
            "an answer to a request",
            {
                let acs = format!("{}/saml/uni/acs", server.base);
                let mut answer = Answer::to("_some-request", &format!("{}/saml/uni", server.base), &acs, NOW);
                answer.assertion_id = "_b-4".into();
                answer.signed_by(&idp)
            },
            "portal",
        ),
    ];
    for (case, xml, relay_state) in cases {
        let browser = Browser::default();
        let page = post(&server, &browser, &xml, relay_state).await;
        assert!(
            page.status >= 400 && page.location.is_none(),
            "{case}: {} {:?}",
            page.status,
            page.location
        );
        assert_eq!(app_login(&server, &browser).await, None, "{case}: no session");
    }
    // Unsigned: refused however it is started.
    let browser = Browser::default();
    let acs = format!("{}/saml/uni/acs", server.base);
    let mut answer = Answer::to("", &format!("{}/saml/uni", server.base), &acs, NOW);
    answer.in_response_to = None;
    answer.sign_assertion = false;
    let page = post(&server, &browser, &answer.signed_by(&idp), "portal").await;
    assert!(page.status >= 400 && page.location.is_none());
    assert_eq!(app_login(&server, &browser).await, None);
    server.stop().await;
}
