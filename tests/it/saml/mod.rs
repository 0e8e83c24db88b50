//! Logging in through a SAML identity provider (`kind = "saml"`): the AuthnRequest by
//! redirect, the Response posted to the ACS and handed on to the callback from
//! Gatehouse's own page, and every check a Response must pass, each shown failing with a
//! Response the test IdP (`support::saml_idp`, signing with xmlsec1) forged.

use crate::support::browser::{Browser, Page};
use crate::support::config::{REDIRECT, TestClient, TestConfig};
use crate::support::saml_idp::{self, Answer, TestIdp, encode, extract, request_of};
use crate::support::{TestServer, jwt_claims};
use gatehouse::Clock;

const NOW: i64 = 1_800_000_000;
/// Where the app asks to be sent after a logout.
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/after-logout";

mod encrypted;
mod idp_initiated;
mod kept_key;
mod logout_upstream;
mod metadata_url;
mod post_binding;
mod properties;

fn config(idp: &TestIdp, lines: &str) -> String {
    let source = format!("idp_metadata_file = \"{}\"", idp.metadata_path().display());
    config_from(&source, lines)
}

/// The config of the `uni` upstream whose metadata is where `source` (its
/// `idp_metadata_file` or `idp_metadata_url` line) says.
fn config_from(source: &str, lines: &str) -> String {
    config_beside(TestConfig::new(), source, lines)
}

/// [`config_from`], with what `others` has already (more clients).
fn config_beside(others: TestConfig, source: &str, lines: &str) -> String {
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings/saml-generic.toml");
    others
        .client(
            TestClient::confidential("app", "app-secret")
                .no_consent()
                .with("post_logout_redirect_uris", &format!("[\"{AFTER_LOGOUT}\"]")),
        )
        .tables(&format!(
            r#"
[scopes.affiliation]
claims = ["affiliation"]

[[upstreams]]
id = "uni"
name = "University"
kind = "saml"
mapping = "{mapping}"
{source}
{lines}
"#
        ))
        .build()
}

/// A login started at the app and sent on to the IdP.
struct Started {
    browser: Browser,
    request_id: String,
    relay_state: String,
    acs: String,
    sp_entity_id: String,
}

async fn start_login(server: &TestServer, scope: &str) -> Started {
    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope={}&redirect_uri={REDIRECT}",
        server.base,
        scope.replace(' ', "%20")
    );
    let page = browser.get(&url).await;
    let page = browser.follow(&server.base, page).await;
    let location = page.location.clone().expect("a redirect to the IdP");
    assert!(location.starts_with(saml_idp::SSO_URL), "{location}");
    let (request_id, relay_state) = request_of(&location);
    Started {
        browser,
        request_id,
        relay_state,
        acs: format!("{}/saml/uni/acs", server.base),
        sp_entity_id: format!("{}/saml/uni", server.base),
    }
}

impl Started {
    fn answer(&self) -> Answer {
        Answer::to(&self.request_id, &self.sp_entity_id, &self.acs, NOW)
    }

    /// Posts `xml` to the ACS as the IdP's page would, then follows Gatehouse's page on
    /// to the callback in the same browser: the page that answered.
    async fn post(&self, server: &TestServer, xml: &str) -> Page {
        let page = self.post_encoded(server, &encode(xml)).await;
        assert_eq!(page.status, 200, "the ACS answers with its page: {}", page.body);
        self.continue_from(server, page).await
    }

    async fn post_encoded(&self, _server: &TestServer, encoded: &str) -> Page {
        // The IdP's POST is cross-site: it carries no cookie of Gatehouse's.
        Browser::default()
            .post(
                &self.acs,
                &[("SAMLResponse", encoded), ("RelayState", &self.relay_state)],
            )
            .await
    }

    async fn continue_from(&self, server: &TestServer, page: Page) -> Page {
        let fields = page.hidden_fields();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let action = format!("{}{}", server.base, page.form_action());
        let answer = self.browser.post(&action, &fields).await;
        self.browser.follow(&server.base, answer).await
    }
}

/// The error the app was sent back with, if it was.
fn app_error(page: &Page) -> Option<String> {
    page.location.as_ref().filter(|l| l.starts_with(REDIRECT))?;
    page.redirect_params().get("error").cloned()
}

async fn server(idp: &TestIdp, lines: &str) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(idp, lines), Clock::manual(NOW)).await;
    (dir, server)
}

#[tokio::test]
async fn a_person_logs_in_through_the_idp_and_the_app_gets_mapped_claims() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let login = start_login(&server, "openid profile email affiliation").await;
    let page = login.post(&server, &login.answer().signed_by(&idp)).await;
    let code = page
        .redirect_params()
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("{}", page.body));
    let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["given_name"], "Ada");
    assert_eq!(claims["email"], "ada@example.org");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(
        claims["affiliation"],
        serde_json::json!(["staff@example.org", "member@example.org"])
    );
    // AuthnInstant is the auth_time.
    assert_eq!(claims["auth_time"], NOW);
    server.stop().await;
}

#[tokio::test]
async fn the_authn_request_asks_for_a_fresh_login_when_the_app_does() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}&prompt=login",
        server.base
    );
    let page = browser.follow(&server.base, browser.get(&url).await).await;
    let location = page.location.unwrap();
    let url = url::Url::parse(&location).unwrap();
    let request = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .unwrap()
        .1
        .to_string();
    let deflated = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, request).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut xml).unwrap();
    assert!(xml.contains("ForceAuthn=\"true\""), "{xml}");
    assert!(xml.contains(&format!("AssertionConsumerServiceURL=\"{}/saml/uni/acs\"", server.base)));
    assert!(xml.contains(&format!("<saml:Issuer>{}/saml/uni</saml:Issuer>", server.base)));
    server.stop().await;
}

/// The `form-action` of the page the ACS answered with.
fn form_action(page: &Page) -> String {
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap_or_else(|| panic!("{policy}"))
        .to_string()
}

#[tokio::test]
async fn the_acs_page_may_lead_on_to_the_app_the_login_is_for_and_nowhere_else() {
    // Browsers hold a form's redirects to its page's form-action: the callback's redirect
    // to the app (a code without a consent page) must be allowed, and only that.
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let login = start_login(&server, "openid").await;
    let page = login.post_encoded(&server, &encode("<x/>")).await;
    assert_eq!(form_action(&page), "form-action 'self' http://127.0.0.1:9");
    let stranger = Browser::default()
        .post(
            &login.acs,
            &[("SAMLResponse", encode("<x/>").as_str()), ("RelayState", "app")],
        )
        .await;
    assert_eq!(form_action(&stranger), "form-action 'self'");
    server.stop().await;
}

#[tokio::test]
async fn the_sp_metadata_names_the_entity_and_the_acs() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let response = server.get("/saml/uni/metadata").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/samlmetadata+xml");
    let xml = response.text().await.unwrap();
    assert!(xml.contains(&format!("entityID=\"{}/saml/uni\"", server.base)), "{xml}");
    assert!(
        xml.contains(&format!("Location=\"{}/saml/uni/acs\"", server.base)),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("Location=\"{}/saml/uni/slo\"", server.base)),
        "{xml}"
    );
    assert_eq!(server.get("/saml/nobody/metadata").await.status(), 404);
    server.stop().await;
}

/// Logs in with the Response `forge` makes of a right one; the app must get
/// `access_denied` and no code.
async fn refused(idp: &TestIdp, server: &TestServer, forge: impl FnOnce(&Started, Answer) -> String) {
    let login = start_login(server, "openid email").await;
    let xml = forge(&login, login.answer());
    let page = login.post(server, &xml).await;
    assert_eq!(
        app_error(&page).as_deref(),
        Some("access_denied"),
        "{:?} {}",
        page.location,
        page.body
    );
    let _ = idp;
}

#[tokio::test]
async fn an_unsigned_response_or_one_signed_by_another_key_is_refused() {
    let idp = TestIdp::new();
    let other = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    refused(&idp, &server, |_, answer| {
        Answer {
            sign_assertion: false,
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    refused(&idp, &server, |_, answer| answer.signed_by(&other)).await;
    // The Response signed, the Assertion not: not enough while want_assertions_signed.
    refused(&idp, &server, |_, answer| {
        Answer {
            sign_assertion: false,
            sign_response: true,
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    // A signed Assertion changed after signing.
    refused(&idp, &server, |_, answer| {
        answer.signed_by(&idp).replace("ada@example.org", "eve@example.org")
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_response_signature_covering_the_assertion_is_enough_when_assertions_need_not_be_signed() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "want_assertions_signed = false").await;
    let login = start_login(&server, "openid email").await;
    let answer = Answer {
        sign_assertion: false,
        sign_response: true,
        ..login.answer()
    };
    let page = login.post(&server, &answer.signed_by(&idp)).await;
    assert!(
        page.redirect_params().contains_key("code"),
        "{:?} {}",
        page.location,
        page.body
    );
    server.stop().await;
}

/// XML signature wrapping (Somorovsky et al., 2012): the signed Assertion kept where a
/// verifier may find it, a forged one where a reader may.
#[tokio::test]
async fn signature_wrapping_is_refused() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "want_assertions_signed = false").await;
    let forged_assertion = |login: &Started| {
        let mut forged = Answer {
            sign_assertion: false,
            assertion_id: "_evil".into(),
            name_id: "eve".into(),
            ..login.answer()
        };
        forged.attributes[0].2 = vec!["eve@example.org".into()];
        forged.assertion()
    };
    // XSW1/2-like: the signed Response's content moved into an Extensions element of a
    // new Response around a forged Assertion.
    refused(&idp, &server, |login, answer| {
        let signed = Answer {
            sign_response: true,
            ..answer.clone()
        }
        .signed_by(&idp);
        let original = extract(&signed, "<samlp:Response", "</samlp:Response>");
        let mut outer = Answer {
            sign_response: false,
            response_id: "_outer".into(),
            ..answer
        }
        .response_around(&forged_assertion(login));
        outer = outer.replacen(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{original}</samlp:Extensions><samlp:Status>"),
            1,
        );
        outer
    })
    .await;
    // XSW3-like: a forged Assertion put before the signed one.
    refused(&idp, &server, |login, answer| {
        let signed = answer.signed_by(&idp);
        signed.replacen(
            "<saml:Assertion",
            &format!("{}<saml:Assertion", forged_assertion(login)),
            1,
        )
    })
    .await;
    // XSW4-like: the signed Assertion wrapped inside the forged one.
    refused(&idp, &server, |login, answer| {
        let signed = answer.signed_by(&idp);
        let original = extract(&signed, "<saml:Assertion", "</saml:Assertion>");
        let forged = forged_assertion(login).replacen("</saml:Subject>", &format!("</saml:Subject>{original}"), 1);
        signed.replace(&original, &forged)
    })
    .await;
    // XSW5-like: the signed Assertion's signature moved into a forged Assertion that
    // takes the signed one's ID, the signed one kept in an Advice.
    refused(&idp, &server, |login, answer| {
        let signed = answer.signed_by(&idp);
        let original = extract(&signed, "<saml:Assertion", "</saml:Assertion>");
        let signature = extract(&original, "<ds:Signature", "</ds:Signature>");
        let forged = forged_assertion(login)
            .replace("ID=\"_evil\"", "ID=\"_assertion-1\"")
            .replacen("</saml:Issuer>", &format!("</saml:Issuer>{signature}"), 1)
            .replacen(
                "</saml:Subject>",
                &format!(
                    "</saml:Subject><saml:Advice>{}</saml:Advice>",
                    original.replace(&signature, "")
                ),
                1,
            );
        signed.replace(&original, &forged)
    })
    .await;
    // A signature inside the Assertion that covers the Response around it (its ancestor).
    refused(&idp, &server, |_, answer| {
        let assertion = Answer {
            sign_assertion: false,
            ..answer.clone()
        }
        .assertion();
        let with_template = assertion.replacen(
            "</saml:Issuer>",
            &format!("</saml:Issuer>{}", saml_idp::signature_template(&answer.response_id)),
            1,
        );
        idp.sign(&answer.response_around(&with_template))
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_comment_inside_the_name_id_does_not_cut_it_short() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let login = start_login(&server, "openid").await;
    let answer = Answer {
        name_id: "admin@evil.example<!-- a comment -->.trusted.example".into(),
        ..login.answer()
    };
    let page = login.post(&server, &answer.signed_by(&idp)).await;
    let code = page.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
    let sub = jwt_claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let account = server.app.state().store.accounts.get(&sub, NOW).await.unwrap().unwrap();
    let links = gatehouse::domain::accounts::links_of(&account);
    assert_eq!(links[0].subject, "admin@evil.example.trusted.example");
    server.stop().await;
}

#[tokio::test]
async fn a_response_taken_once_is_refused_the_second_time() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let login = start_login(&server, "openid").await;
    let xml = login.answer().signed_by(&idp);
    let first = login.post(&server, &xml).await;
    assert!(first.redirect_params().contains_key("code"));
    let again = login.post(&server, &xml).await;
    // The login it answered is used up: the sign-in has expired, no code.
    assert_eq!(again.status, 400, "{:?} {}", again.location, again.body);
    assert!(again.body.contains("This sign-in has expired"));
    server.stop().await;
}

#[tokio::test]
async fn each_check_of_the_assertion_refuses_what_it_is_for() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    // Expired: issued long ago.
    refused(&idp, &server, |_, answer| {
        Answer {
            now: NOW - 3600,
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    // Not yet valid: issued (by a clock far ahead) in the future.
    refused(&idp, &server, |_, answer| {
        Answer {
            now: NOW + 3600,
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    refused(&idp, &server, |_, answer| {
        Answer {
            audience: "https://another-sp.example".into(),
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    refused(&idp, &server, |_, answer| {
        Answer {
            destination: "https://another-sp.example/acs".into(),
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    refused(&idp, &server, |_, answer| {
        Answer {
            recipient: "https://another-sp.example/acs".into(),
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    refused(&idp, &server, |_, answer| {
        Answer {
            issuer: "https://another-idp.example".into(),
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    // Unsolicited: no InResponseTo.
    refused(&idp, &server, |_, answer| {
        Answer {
            in_response_to: None,
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    // An answer to another request.
    refused(&idp, &server, |_, answer| {
        Answer {
            in_response_to: Some("_another-request".into()),
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    // A DTD (here harmless, but never taken).
    refused(&idp, &server, |_, answer| {
        format!(
            "<!DOCTYPE samlp:Response [<!ENTITY x \"x\">]>{}",
            answer.signed_by(&idp)
        )
    })
    .await;
    // The IdP says no.
    refused(&idp, &server, |_, answer| {
        Answer {
            status: "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
            ..answer
        }
        .signed_by(&idp)
    })
    .await;
    // Encrypted assertions are not taken yet.
    refused(&idp, &server, |_, answer| {
        let signed = answer.signed_by(&idp);
        let assertion = extract(&signed, "<saml:Assertion", "</saml:Assertion>");
        signed.replace(
            &assertion,
            "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>",
        )
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn whatever_is_posted_to_the_acs_and_the_callback_gets_no_server_error() {
    let idp = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let mut bodies: Vec<String> = vec![
        String::new(),
        "not base64 !!!".into(),
        encode("<"),
        encode("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"),
        encode(&"<a>".repeat(10_000)),
        encode("\u{0}\u{1}binary"),
        "A".repeat(300 * 1024),
    ];
    for seed in 0..40u32 {
        let fragment: String = (0..(seed * 7 % 200))
            .map(|i| {
                ["<", ">", "a", "=", "\"", "saml:", "/", " ", "&", ";", "ds:Signature"][((i * 31 + seed) % 11) as usize]
            })
            .collect();
        bodies.push(encode(&fragment));
    }
    for body in &bodies {
        // A login of its own for each, so that each reaches the checks.
        let login = start_login(&server, "openid").await;
        let page = login.post_encoded(&server, body).await;
        assert!(page.status < 500, "{} for {:.40}", page.status, body);
        if page.status == 200 {
            let answer = login.continue_from(&server, page).await;
            assert!(answer.status < 500, "{} for {:.40}", answer.status, body);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_readme_example_logs_people_in() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("\n## SAML identity providers\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README's SAML section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|block| block.split("```").next())
        .expect("the example");
    let idp = TestIdp::new();
    let metadata = saml_idp::MetadataServer::start(Some(idp.metadata())).await;
    let root = env!("CARGO_MANIFEST_DIR");
    // The example as printed, with the test IdP's metadata and the repository's mapping.
    let example = example
        .replace(
            "\"https://idp.example.edu/idp/shibboleth\"",
            &format!("\"{}\"", metadata.url),
        )
        .replace(
            "\"claim-mappings/saml-generic.toml\"",
            &format!("\"{root}/claim-mappings/saml-generic.toml\""),
        );
    let config = TestConfig::new()
        .client(
            TestClient::confidential("app", "app-secret")
                .no_consent()
                .with("post_logout_redirect_uris", &format!("[\"{AFTER_LOGOUT}\"]")),
        )
        .tables(&example)
        .build();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config, Clock::manual(NOW)).await;
    server.until_ready().await;
    // What the README says to register at the IdP is what the SP metadata says.
    let sp_metadata = server.get("/saml/uni/metadata").await.text().await.unwrap();
    for (what, url) in [
        ("entityID", "/saml/uni"),
        ("Location", "/saml/uni/acs"),
        ("Location", "/saml/uni/slo"),
    ] {
        let printed = format!("`https://login.example.com{url}`");
        assert!(section.contains(&printed), "{printed}");
        assert!(
            sp_metadata.contains(&format!("{what}=\"{}{url}\"", server.base)),
            "{sp_metadata}"
        );
    }
    assert!(sp_metadata.contains("<ds:X509Certificate>"), "{sp_metadata}");
    let login = start_login(&server, "openid email").await;
    let page = login.post(&server, &login.answer().signed_by(&idp)).await;
    let code = page.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["email"],
        "ada@example.org"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_idps_signed_logout_request_ends_the_session_and_is_answered() {
    let idp = TestIdp::new();
    let other = TestIdp::new();
    let (_dir, server) = server(&idp, "").await;
    let login = start_login(&server, "openid offline_access").await;
    let page = login.post(&server, &login.answer().signed_by(&idp)).await;
    let code = page.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let slo = format!("{}/saml/uni/slo", server.base);
    let request = saml_idp::logout_request("_logout-1", &slo, "ada-persistent-id", "_session-1", NOW);

    // Unsigned, or signed by another key: refused, and the session lives on.
    let unsigned = idp.signed_redirect_query(&request, "back");
    let unsigned = unsigned.split("&SigAlg=").next().unwrap();
    let forged = other.signed_redirect_query(&request, "back");
    for query in [unsigned, forged.as_str()] {
        let answer = login.browser.get(&format!("{slo}?{query}")).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
    }
    let still = crate::support::refresh_at(&server.base, ("app", "app-secret"), &refresh_token).await;
    assert_eq!(still.status(), 200);
    let refresh_token = still.json::<serde_json::Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Signed by the IdP: the session ends, and the browser goes back with a LogoutResponse.
    let query = idp.signed_redirect_query(&request, "back");
    let answer = login.browser.get(&format!("{slo}?{query}")).await;
    let location = answer
        .location
        .clone()
        .unwrap_or_else(|| panic!("{} {}", answer.status, answer.body));
    assert!(location.starts_with(saml_idp::SLO_URL), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["RelayState"], "back");
    let deflated = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &pairs["SAMLResponse"]).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut xml).unwrap();
    assert!(xml.contains("InResponseTo=\"_logout-1\""), "{xml}");
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"), "{xml}");
    let after = crate::support::refresh_at(&server.base, ("app", "app-secret"), &refresh_token).await;
    assert_eq!(after.status(), 400, "the family ended with the session");
    let silent = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}&prompt=none",
        server.base
    );
    let answer = login
        .browser
        .follow(&server.base, login.browser.get(&silent).await)
        .await;
    assert_eq!(app_error(&answer).as_deref(), Some("login_required"));

    // The same request again is a replay.
    let again = login.browser.get(&format!("{slo}?{query}")).await;
    assert_eq!(again.status, 400, "{}", again.body);
    server.stop().await;
}

/// Whether the signature in the redirect query `query` (HTTP-Redirect binding) verifies
/// with the certificate `cert`, checked by openssl.
fn redirect_signature_verifies(query: &str, cert: &std::path::Path, dir: &std::path::Path) -> bool {
    let (signed, signature) = query.split_once("&Signature=").expect("a signed query");
    let signature = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
        .next()
        .unwrap()
        .1
        .to_string();
    let signature = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature).unwrap();
    std::fs::write(dir.join("signed"), signed).unwrap();
    std::fs::write(dir.join("signature"), signature).unwrap();
    let public = std::process::Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    std::fs::write(dir.join("public.pem"), public.stdout).unwrap();
    std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("public.pem"))
        .arg("-signature")
        .arg(dir.join("signature"))
        .arg(dir.join("signed"))
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn with_an_sp_key_authn_requests_and_logout_responses_are_signed_and_the_metadata_carries_it() {
    let idp = TestIdp::new();
    let keys = saml_idp::sp_key_files();
    let lines = format!("sign_requests = true\n{}", saml_idp::sp_key_lines(keys.path()));
    let (_dir, server) = server(&idp, &lines).await;
    let metadata = server.get("/saml/uni/metadata").await.text().await.unwrap();
    let certificate: String = std::fs::read_to_string(keys.path().join("sp.crt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(metadata.contains("AuthnRequestsSigned=\"true\""), "{metadata}");
    assert!(metadata.contains(&certificate), "{metadata}");

    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={REDIRECT}",
        server.base
    );
    let page = browser.follow(&server.base, browser.get(&url).await).await;
    let location = page.location.unwrap();
    let query = location.split_once('?').unwrap().1;
    assert!(query.contains("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="));
    assert!(redirect_signature_verifies(
        query,
        &keys.path().join("sp.crt"),
        keys.path()
    ));
    let tampered = query.replacen("RelayState=", "RelayState=x", 1);
    assert!(!redirect_signature_verifies(
        &tampered,
        &keys.path().join("sp.crt"),
        keys.path()
    ));

    // The login goes on as ever; then the IdP's logout is answered signed.
    let (request_id, relay_state) = request_of(&location);
    let login = Started {
        browser,
        request_id,
        relay_state,
        acs: format!("{}/saml/uni/acs", server.base),
        sp_entity_id: format!("{}/saml/uni", server.base),
    };
    let page = login.post(&server, &login.answer().signed_by(&idp)).await;
    assert!(page.redirect_params().contains_key("code"));
    let slo = format!("{}/saml/uni/slo", server.base);
    let request = saml_idp::logout_request("_logout-2", &slo, "ada-persistent-id", "_session-1", NOW);
    let answer = login
        .browser
        .get(&format!("{slo}?{}", idp.signed_redirect_query(&request, "back")))
        .await;
    let location = answer.location.unwrap();
    let query = location.split_once('?').unwrap().1;
    assert!(query.starts_with("SAMLResponse=") && query.contains("&RelayState=back&SigAlg="));
    assert!(redirect_signature_verifies(
        query,
        &keys.path().join("sp.crt"),
        keys.path()
    ));
    server.stop().await;
}
