//! Property tests of the ACS: arbitrary XML made of SAML's own elements and attributes
//! (so that it gets past the parser and into the checks), and real signed Responses cut
//! and spliced at random places, posted as an IdP would and followed on to the callback.
//! Every answer is a page or a redirect, never a 5xx, and nothing panics (a panicking
//! handler resets the connection, which fails the case).

use super::{NOW, Started, config, start_login};
use crate::support::TestServer;
use crate::support::saml_idp::{TestIdp, encode};
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestCaseError, TestRunner};

const CASES: u32 = 48;

const ELEMENTS: &[&str] = &[
    "samlp:Response",
    "samlp:Status",
    "samlp:StatusCode",
    "samlp:StatusMessage",
    "saml:Assertion",
    "saml:EncryptedAssertion",
    "saml:Issuer",
    "saml:Subject",
    "saml:NameID",
    "saml:EncryptedID",
    "saml:SubjectConfirmation",
    "saml:SubjectConfirmationData",
    "saml:Conditions",
    "saml:AudienceRestriction",
    "saml:Audience",
    "saml:AuthnStatement",
    "saml:AuthnContext",
    "saml:AuthnContextClassRef",
    "saml:AttributeStatement",
    "saml:Attribute",
    "saml:AttributeValue",
    "ds:Signature",
    "ds:SignedInfo",
    "ds:CanonicalizationMethod",
    "ds:SignatureMethod",
    "ds:Reference",
    "ds:Transforms",
    "ds:Transform",
    "ds:DigestMethod",
    "ds:DigestValue",
    "ds:SignatureValue",
    "ds:KeyInfo",
    "ds:X509Data",
    "ds:X509Certificate",
    "ds:Object",
    "ds:RetrievalMethod",
    "xenc:EncryptedData",
    "xenc:EncryptionMethod",
    "xenc:EncryptedKey",
    "xenc:CipherData",
    "xenc:CipherValue",
    "xenc:CipherReference",
    "other:Thing",
];

const ATTRIBUTES: &[&str] = &[
    "ID",
    "Version",
    "InResponseTo",
    "Destination",
    "Recipient",
    "NotBefore",
    "NotOnOrAfter",
    "Value",
    "Name",
    "FriendlyName",
    "Format",
    "Method",
    "URI",
    "Algorithm",
    "Type",
    "AuthnInstant",
    "SessionIndex",
    "SessionNotOnOrAfter",
    "IssueInstant",
];

/// Attribute values that mean something somewhere, and some that mean nothing.
fn value() -> impl Strategy<Value = String> {
    let meaningful = proptest::sample::select(vec![
        "2.0",
        "{REQUEST}",
        "{ACS}",
        "{SP}",
        "#_a",
        "#_r",
        "_a",
        "_r",
        "",
        "urn:oasis:names:tc:SAML:2.0:status:Success",
        "urn:oasis:names:tc:SAML:2.0:cm:bearer",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        "http://www.w3.org/2001/04/xmlenc#Element",
        "2027-01-15T08:00:00Z",
        "2100-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "not a time",
    ])
    .prop_map(str::to_string);
    prop_oneof![4 => meaningful, 1 => "[ -~]{0,12}".prop_map(|v| v.replace(['"', '<', '&'], ""))]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9+/=_ -]{0,24}",
        Just("<!-- a comment -->".to_string()),
        Just("<![CDATA[x<y]]>".to_string()),
        Just("&amp;&lt;&#65;".to_string()),
        Just("https://idp.test.example/saml".to_string()),
    ]
}

fn element() -> impl Strategy<Value = String> {
    text().prop_recursive(5, 48, 5, |inner| {
        (
            proptest::sample::select(ELEMENTS),
            proptest::collection::btree_map(proptest::sample::select(ATTRIBUTES), value(), 0..4),
            proptest::collection::vec(inner, 0..5),
        )
            .prop_map(|(name, attributes, children)| {
                let attributes: String = attributes.iter().map(|(k, v)| format!(" {k}=\"{v}\"")).collect();
                format!("<{name}{attributes}>{}</{name}>", children.concat())
            })
    })
}

/// A Response to the login, its content `inner`.
fn response(login: &Started, inner: &str) -> String {
    let filled = |text: &str| {
        text.replace("{REQUEST}", &login.request_id)
            .replace("{ACS}", &login.acs)
            .replace("{SP}", &login.sp_entity_id)
    };
    format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
            r#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:other="urn:x""#,
            r#" ID="_r" Version="2.0" Destination="{}" InResponseTo="{}">{}</samlp:Response>"#
        ),
        login.acs,
        login.request_id,
        filled(inner)
    )
}

struct Target {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    idp: TestIdp,
    _dir: tempfile::TempDir,
}

impl Target {
    fn start() -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let idp = TestIdp::new();
        let dir = tempfile::tempdir().unwrap();
        let server = runtime.block_on(TestServer::start(
            dir.path(),
            &config(&idp, ""),
            gatehouse::Clock::manual(NOW),
        ));
        Target {
            runtime,
            server,
            idp,
            _dir: dir,
        }
    }

    /// Starts a login, posts what `make` makes of it to the ACS and follows on: each
    /// answer a page or a redirect.
    fn post(&self, make: impl FnOnce(&Started) -> String) -> Result<(), TestCaseError> {
        self.runtime.block_on(async {
            let login = start_login(&self.server, "openid").await;
            let xml = make(&login);
            let page = login.post_encoded(&self.server, &encode(&xml)).await;
            prop_assert!(page.status < 500, "the ACS answered {} to {xml}", page.status);
            if page.status == 200 {
                let answer = login.continue_from(&self.server, page).await;
                prop_assert!(answer.status < 500, "the callback answered {} to {xml}", answer.status);
                prop_assert!(answer.status == 200 || answer.location.is_some());
            }
            Ok(())
        })
    }

    fn check<S: Strategy>(&self, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
    where
        S::Value: std::fmt::Debug,
    {
        let cases = Cases {
            cases: CASES,
            failure_persistence: None,
            ..Cases::default()
        };
        if let Err(e) = TestRunner::new(cases).run(&strategy, property) {
            panic!("{e}");
        }
        let health = self.runtime.block_on(self.server.get("/healthz"));
        assert_eq!(health.status(), 200, "the server still answers");
    }
}

#[test]
fn arbitrary_saml_shaped_xml_at_the_acs_gets_no_server_error() {
    let target = Target::start();
    target.check(proptest::collection::vec(element(), 0..4), |children| {
        target.post(|login| response(login, &children.concat()))
    });
}

#[test]
fn a_signed_response_cut_or_spliced_anywhere_gets_no_server_error() {
    let target = Target::start();
    let splice = (
        any::<proptest::sample::Index>(),
        0..64usize,
        prop_oneof![element(), text()],
    );
    target.check(splice, |(at, cut, insert)| {
        target.post(|login| {
            let signed = login.answer().signed_by(&target.idp);
            let mut at = at.index(signed.len());
            while !signed.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(signed.len());
            while !signed.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{insert}{}", &signed[..at], &signed[end..])
        })
    });
}

#[test]
fn arbitrary_logout_messages_by_either_binding_get_no_server_error() {
    let target = Target::start();
    let message = (
        proptest::sample::select(vec!["SAMLRequest", "SAMLResponse"]),
        element(),
        any::<bool>(),
        proptest::option::of("[ -~]{0,16}"),
    );
    target.check(message, |(parameter, xml, by_post, relay_state)| {
        target.runtime.block_on(async {
            let slo = format!("{}/saml/uni/slo", target.server.base);
            let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml.as_bytes());
            let mut fields = vec![(parameter, encoded.as_str())];
            if let Some(relay_state) = &relay_state {
                fields.push(("RelayState", relay_state.as_str()));
            }
            let browser = crate::support::browser::Browser::default();
            let page = if by_post {
                browser.post(&slo, &fields).await
            } else {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&fields)
                    .finish();
                browser.get(&format!("{slo}?{query}")).await
            };
            prop_assert!(page.status < 500, "{} for {xml}", page.status);
            Ok(())
        })
    });
}
