//! A SAML identity provider for the tests: an RSA key and certificate of its own (made
//! by `openssl`), its metadata file, and Responses it signs with Debian's `xmlsec1`, the
//! reference XML-DSig implementation (an implementation other than the one Gatehouse
//! verifies with). Tests change a Response before or after it is signed to forge it.

use base64::Engine;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const ENTITY_ID: &str = "https://idp.test.example/saml";
pub const SSO_URL: &str = "https://idp.test.example/sso";
pub const SLO_URL: &str = "https://idp.test.example/slo";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

pub struct TestIdp {
    dir: tempfile::TempDir,
}

impl TestIdp {
    /// An IdP with a new key, and its metadata.
    pub fn new() -> TestIdp {
        assert!(
            Path::new("/usr/bin/xmlsec1").is_file(),
            "the SAML tests sign with Debian's xmlsec1: apt-get install xmlsec1 (.ci/run installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
            .args([
                "-subj",
                "/CN=Gatehouse test IdP",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ])
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let idp = TestIdp { dir };
        std::fs::write(idp.metadata_path(), idp.metadata()).unwrap();
        idp
    }

    pub fn metadata_path(&self) -> PathBuf {
        self.dir.path().join("idp-metadata.xml")
    }

    /// The certificate's base64 DER, as metadata and KeyInfo carry it.
    pub fn certificate(&self) -> String {
        let pem = std::fs::read_to_string(self.dir.path().join("cert.pem")).unwrap();
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    pub fn metadata(&self) -> String {
        self.metadata_with("")
    }

    /// The metadata with `attributes` (`cacheDuration="PT1H"`, `validUntil=...`) on its
    /// EntityDescriptor.
    pub fn metadata_with(&self, attributes: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{ENTITY_ID}" {attributes}>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SLO_URL}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SSO_URL}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"#,
            self.certificate()
        )
    }

    /// `xml` with its first empty `ds:Signature` template signed by this IdP's key.
    pub fn sign(&self, xml: &str) -> String {
        let input = self.dir.path().join("unsigned.xml");
        let output = self.dir.path().join("signed.xml");
        std::fs::write(&input, xml).unwrap();
        let out = Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!(
                "{},{}",
                self.dir.path().join("key.pem").display(),
                self.dir.path().join("cert.pem").display()
            ))
            .args(["--id-attr:ID", &format!("{ASSERTION_NS}:Assertion")])
            .args(["--id-attr:ID", &format!("{PROTOCOL_NS}:Response")])
            .args(["--id-attr:ID", &format!("{PROTOCOL_NS}:LogoutRequest")])
            .args(["--id-attr:ID", &format!("{PROTOCOL_NS}:LogoutResponse")])
            .arg("--output")
            .arg(&output)
            .arg(&input)
            .output()
            .expect("xmlsec1 runs");
        assert!(
            out.status.success(),
            "xmlsec1: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(output).unwrap()
    }
}

impl TestIdp {
    /// `xml` (a LogoutRequest or LogoutResponse with the ID `id`) as the HTTP-POST binding
    /// sends it: signed in the XML by this IdP (its signature after the Issuer, as the
    /// schema has it), base64.
    pub fn signed_for_post(&self, xml: &str, id: &str) -> String {
        let with_template = xml.replacen(
            "</saml:Issuer>",
            &format!("</saml:Issuer>{}", signature_template(id)),
            1,
        );
        base64::engine::general_purpose::STANDARD.encode(self.sign(&with_template))
    }

    /// The query of a redirect that sends `xml` (a LogoutRequest) with `relay_state`,
    /// signed in the query as the HTTP-Redirect binding says, by this IdP's key.
    pub fn signed_redirect_query(&self, xml: &str, relay_state: &str) -> String {
        self.signed_redirect("SAMLRequest", xml, relay_state)
    }

    /// The same for the message `parameter` (`SAMLRequest` or `SAMLResponse`).
    pub fn signed_redirect(&self, parameter: &str, xml: &str, relay_state: &str) -> String {
        let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut deflater, xml.as_bytes()).unwrap();
        let request = base64::engine::general_purpose::STANDARD.encode(deflater.finish().unwrap());
        let signed = format!(
            "{parameter}={}&RelayState={}&SigAlg={}",
            encode(&request),
            encode(relay_state),
            encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
        );
        let input = self.dir.path().join("to-sign");
        std::fs::write(&input, &signed).unwrap();
        let out = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(self.dir.path().join("key.pem"))
            .arg(&input)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let signature = base64::engine::general_purpose::STANDARD.encode(out.stdout);
        format!("{signed}&Signature={}", encode(&signature))
    }
}

/// A LogoutRequest of the test IdP for `name_id`'s session `session_index`, to the SP
/// logout service `slo`, valid from `now` for five minutes.
pub fn logout_request(id: &str, slo: &str, name_id: &str, session_index: &str, now: i64) -> String {
    format!(
        concat!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
            r#" ID="{id}" Version="2.0" IssueInstant="{now}" NotOnOrAfter="{until}" Destination="{slo}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>"#,
            r#"<samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#
        ),
        id = id,
        now = gatehouse::clock::iso8601(now),
        until = gatehouse::clock::iso8601(now + 300),
        slo = slo,
        issuer = ENTITY_ID,
        name_id = name_id,
        session_index = session_index,
    )
}

/// A signature template for the element whose ID is `id`.
pub fn signature_template(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
    )
}

/// The signature template for `id` when `signed`, else nothing.
fn template_if(signed: bool, id: &str) -> String {
    if signed { signature_template(id) } else { String::new() }
}

/// What a Response says; every field starts right for the request it answers.
#[derive(Clone)]
pub struct Answer {
    pub response_id: String,
    pub assertion_id: String,
    pub in_response_to: Option<String>,
    pub destination: String,
    pub recipient: String,
    pub audience: String,
    pub issuer: String,
    /// The NameID's content, as XML (so a test can put a comment in it).
    pub name_id: String,
    pub status: String,
    pub now: i64,
    /// How long the Assertion stays valid.
    pub lifetime: i64,
    pub session_index: String,
    pub authn_context: String,
    pub attributes: Vec<(String, Option<String>, Vec<String>)>,
    pub sign_assertion: bool,
    pub sign_response: bool,
}

impl Answer {
    /// The answer to the AuthnRequest `request_id` of the SP `sp_entity_id` with the ACS
    /// `acs`, issued at `now`: ada, with mail, names and groups.
    pub fn to(request_id: &str, sp_entity_id: &str, acs: &str, now: i64) -> Answer {
        let attribute = |name: &str, friendly: &str, values: &[&str]| {
            (
                name.to_string(),
                Some(friendly.to_string()),
                values.iter().map(|v| v.to_string()).collect(),
            )
        };
        Answer {
            response_id: "_response-1".into(),
            assertion_id: "_assertion-1".into(),
            in_response_to: Some(request_id.into()),
            destination: acs.into(),
            recipient: acs.into(),
            audience: sp_entity_id.into(),
            issuer: ENTITY_ID.into(),
            name_id: "ada-persistent-id".into(),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            now,
            lifetime: 300,
            session_index: "_session-1".into(),
            authn_context: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
            attributes: vec![
                attribute("urn:oid:0.9.2342.19200300.100.1.3", "mail", &["ada@example.org"]),
                attribute("urn:oid:2.5.4.42", "givenName", &["Ada"]),
                attribute("urn:oid:2.5.4.4", "sn", &["Lovelace"]),
                attribute("urn:oid:2.16.840.1.113730.3.1.241", "displayName", &["Ada Lovelace"]),
                attribute(
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
                    "eduPersonScopedAffiliation",
                    &["staff@example.org", "member@example.org"],
                ),
            ],
            sign_assertion: true,
            sign_response: false,
        }
    }

    /// The Assertion, with a signature template when it is to be signed.
    pub fn assertion(&self) -> String {
        let t = |at: i64| gatehouse::clock::iso8601(at);
        let attributes: String = self
            .attributes
            .iter()
            .map(|(name, friendly, values)| {
                let friendly = friendly
                    .as_ref()
                    .map(|f| format!(" FriendlyName=\"{f}\""))
                    .unwrap_or_default();
                let values: String = values
                    .iter()
                    .map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>"))
                    .collect();
                format!("<saml:Attribute Name=\"{name}\"{friendly}>{values}</saml:Attribute>")
            })
            .collect();
        let signature = template_if(self.sign_assertion, &self.assertion_id);
        let in_response_to = self.in_response_to_attribute();
        format!(
            concat!(
                r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}">"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>{signature}"#,
                r#"<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID>"#,
                r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
                r#"<saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{recipient}"{in_response_to}/>"#,
                r#"</saml:SubjectConfirmation></saml:Subject>"#,
                r#"<saml:Conditions NotBefore="{before}" NotOnOrAfter="{until}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
                r#"<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{session}"><saml:AuthnContext><saml:AuthnContextClassRef>{context}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
                r#"<saml:AttributeStatement>{attributes}</saml:AttributeStatement>"#,
                "</saml:Assertion>"
            ),
            id = self.assertion_id,
            now = t(self.now),
            issuer = self.issuer,
            signature = signature,
            name_id = self.name_id,
            until = t(self.now + self.lifetime),
            before = t(self.now - 5),
            recipient = self.recipient,
            in_response_to = in_response_to,
            audience = self.audience,
            session = self.session_index,
            context = self.authn_context,
            attributes = attributes,
        )
    }

    /// The Response around `assertion` (XML), with a signature template when the
    /// Response is to be signed.
    pub fn response_around(&self, assertion: &str) -> String {
        let signature = template_if(self.sign_response, &self.response_id);
        let in_response_to = self.in_response_to_attribute();
        format!(
            concat!(
                r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{destination}"{in_response_to}>"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>{signature}"#,
                r#"<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#
            ),
            id = self.response_id,
            now = gatehouse::clock::iso8601(self.now),
            destination = self.destination,
            in_response_to = in_response_to,
            issuer = self.issuer,
            signature = signature,
            status = self.status,
            assertion = assertion,
        )
    }

    /// The whole Response, signed as this answer says by `idp`: the Assertion first,
    /// then the Response around it.
    pub fn signed_by(&self, idp: &TestIdp) -> String {
        let assertion = self.assertion_signed_by(idp);
        let response = self.response_around(&assertion);
        if self.sign_response {
            idp.sign(&response)
        } else {
            response
        }
    }

    /// The whole Response with the Assertion (signed as this answer says) encrypted for
    /// the SP certificate `sp_cert` by xmlsec1: the content with `data_method`, its key
    /// sent with `key_method`; then the Response signed, if it is to be.
    pub fn encrypted_for(&self, idp: &TestIdp, sp_cert: &Path, data_method: &str, key_method: &str) -> String {
        let assertion = self.assertion_signed_by(idp);
        let plain = self.response_around(&format!(
            "<saml:EncryptedAssertion>{assertion}</saml:EncryptedAssertion>"
        ));
        let template = format!(
            concat!(
                r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">"#,
                r#"<xenc:EncryptionMethod Algorithm="{data}"/>"#,
                r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>"#,
                r#"<xenc:EncryptionMethod Algorithm="{key}"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData>"#,
                r#"</xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#
            ),
            data = data_method,
            key = key_method
        );
        let dir = &idp.dir;
        std::fs::write(dir.path().join("plain.xml"), plain).unwrap();
        std::fs::write(dir.path().join("template.xml"), template).unwrap();
        let size = match data_method {
            m if m.contains("tripledes") => "des-192",
            m if m.contains("128") => "aes-128",
            _ => "aes-256",
        };
        let out = Command::new("xmlsec1")
            .arg("--encrypt")
            .arg("--pubkey-cert-pem")
            .arg(sp_cert)
            .args(["--session-key", size])
            .args(["--id-attr:ID", &format!("{ASSERTION_NS}:Assertion")])
            .args(["--xml-data", "plain.xml", "--node-id", &self.assertion_id])
            .args(["--output", "encrypted.xml", "template.xml"])
            .current_dir(dir.path())
            .output()
            .expect("xmlsec1 runs");
        assert!(
            out.status.success(),
            "xmlsec1: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let encrypted = std::fs::read_to_string(dir.path().join("encrypted.xml")).unwrap();
        if self.sign_response {
            idp.sign(&encrypted)
        } else {
            encrypted
        }
    }

    /// The Assertion, signed by `idp` when this answer signs it.
    fn assertion_signed_by(&self, idp: &TestIdp) -> String {
        let assertion = self.assertion();
        if !self.sign_assertion {
            return assertion;
        }
        let signed = idp.sign(&self.response_around_unsigned(&assertion));
        extract(&signed, "<saml:Assertion", "</saml:Assertion>")
    }

    fn in_response_to_attribute(&self) -> String {
        self.in_response_to
            .as_ref()
            .map(|id| format!(" InResponseTo=\"{id}\""))
            .unwrap_or_default()
    }

    fn response_around_unsigned(&self, assertion: &str) -> String {
        Answer {
            sign_response: false,
            ..self.clone()
        }
        .response_around(assertion)
    }
}

/// A new SP key and certificate, as `sp.key` and `sp.crt` in the folder, made by
/// openssl as the README says.
pub fn sp_key_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=Gatehouse SP", "-keyout", "sp.key", "-out", "sp.crt"])
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    dir
}

/// The config lines of an SP key made by [`sp_key_files`].
pub fn sp_key_lines(keys: &Path) -> String {
    format!(
        "sp_key_file = \"{}\"\nsp_cert_file = \"{}\"",
        keys.join("sp.key").display(),
        keys.join("sp.crt").display()
    )
}

/// The part of `xml` from `start` to the end of the matching `end` (the first of each).
pub fn extract(xml: &str, start: &str, end: &str) -> String {
    let from = xml.find(start).expect("start");
    let to = xml[from..].find(end).expect("end") + from + end.len();
    xml[from..to].to_string()
}

/// `xml` as the IdP posts it: base64.
pub fn encode(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// The ID of the AuthnRequest in a redirect to the IdP, and the RelayState.
pub fn request_of(redirect: &str) -> (String, String) {
    let (xml, relay_state) = message_of(redirect);
    let id = xml
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (id, relay_state)
}

/// The `SAMLRequest` of a redirect to the IdP, inflated, and its `RelayState`.
pub fn message_of(redirect: &str) -> (String, String) {
    let url = url::Url::parse(redirect).unwrap();
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(&pairs["SAMLRequest"])
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    (xml, pairs["RelayState"].clone())
}

/// An IdP's web server as `idp_metadata_url` fetches metadata from: it answers what was
/// last [`MetadataServer::serve`]d, or 503 when nothing is, and counts the fetches.
pub struct MetadataServer {
    pub url: String,
    body: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MetadataServer {
    pub async fn start(body: Option<String>) -> MetadataServer {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/idp/metadata",
            listener.local_addr().unwrap().port()
        );
        let body = std::sync::Arc::new(std::sync::Mutex::new(body));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (served, counted) = (body.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/idp/metadata",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    match served.lock().unwrap().clone() {
                        Some(xml) => (
                            axum::http::StatusCode::OK,
                            [("content-type", "application/samlmetadata+xml")],
                            xml,
                        ),
                        None => (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            [("content-type", "text/plain")],
                            String::new(),
                        ),
                    }
                }
            }),
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MetadataServer {
            url,
            body,
            fetches,
            task,
        }
    }

    pub fn serve(&self, body: Option<String>) {
        *self.body.lock().unwrap() = body;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
