//! The AuthnRequest (SAML 2.0 Core §3.4.1), sent by the HTTP-Redirect binding (Bindings
//! §3.4): DEFLATE, base64, and the URL's `SAMLRequest`, with `RelayState` naming the
//! pending login.

use super::sp_key::SpKey;
use super::xml::escape;
use base64::Engine;
use std::io::Write;

/// What one AuthnRequest asks.
pub struct AuthnRequest<'a> {
    /// Its ID, which the answer's `InResponseTo` must name.
    pub id: &'a str,
    pub issue_instant: &'a str,
    /// The IdP's single sign-on service (`Destination`).
    pub destination: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub name_id_format: &'a str,
    /// `ForceAuthn`: the person must authenticate at the IdP again.
    pub force_authn: bool,
    /// `RequestedAuthnContext` class references, exact, in order of preference.
    pub authn_contexts: &'a [String],
}

const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

impl AuthnRequest<'_> {
    pub fn xml(&self) -> String {
        let force = if self.force_authn { " ForceAuthn=\"true\"" } else { "" };
        let contexts = if self.authn_contexts.is_empty() {
            String::new()
        } else {
            let refs: String = self
                .authn_contexts
                .iter()
                .map(|c| format!("<saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef>", escape(c)))
                .collect();
            format!("<samlp:RequestedAuthnContext Comparison=\"exact\">{refs}</samlp:RequestedAuthnContext>")
        };
        format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
                r#" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}""#,
                r#" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{binding}"{force}>"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy Format="{format}" AllowCreate="true"/>"#,
                "{contexts}</samlp:AuthnRequest>"
            ),
            id = escape(self.id),
            instant = escape(self.issue_instant),
            destination = escape(self.destination),
            acs = escape(self.acs_url),
            binding = POST_BINDING,
            force = force,
            issuer = escape(self.sp_entity_id),
            format = escape(self.name_id_format),
            contexts = contexts,
        )
    }

    /// The URL that sends the person to the IdP with this request and `relay_state`,
    /// signed in the query with `key` when one is given.
    pub fn redirect_url(&self, relay_state: &str, key: Option<&SpKey>) -> Result<String, String> {
        let encoded = deflated_base64(&self.xml())?;
        super::sp_key::redirect(self.destination, "SAMLRequest", &encoded, Some(relay_state), key)
    }
}

/// `xml` as the HTTP-Redirect binding carries it: DEFLATE, then base64.
pub fn deflated_base64(xml: &str) -> Result<String, String> {
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater
        .write_all(xml.as_bytes())
        .map_err(|e| format!("cannot compress the message: {e}"))?;
    let deflated = deflater
        .finish()
        .map_err(|e| format!("cannot compress the message: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(deflated))
}

/// A new request ID: an `xs:ID` (it starts with a letter or `_`) of 256 random bits.
pub fn new_id() -> String {
    format!("_{}", crate::secrets::random_token().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn request(force_authn: bool, authn_contexts: &[String]) -> AuthnRequest<'_> {
        AuthnRequest {
            id: "_abc",
            issue_instant: "2026-12-07T10:00:00Z",
            destination: "https://idp.example/sso?tenant=1",
            sp_entity_id: "https://gatehouse.example/saml/corp",
            acs_url: "https://gatehouse.example/saml/corp/acs",
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            force_authn,
            authn_contexts,
        }
    }

    #[test]
    fn the_redirect_carries_the_deflated_request_and_the_relay_state() {
        let contexts = vec!["urn:oasis:names:tc:SAML:2.0:ac:classes:X509".to_string()];
        let request = request(true, &contexts);
        let url = url::Url::parse(&request.redirect_url("pending-1", None).unwrap()).unwrap();
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["tenant"], "1", "the IdP's own query stays");
        assert_eq!(pairs["RelayState"], "pending-1");
        let deflated = base64::engine::general_purpose::STANDARD.decode(&pairs["SAMLRequest"]).unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(&deflated[..]).read_to_string(&mut xml).unwrap();
        assert_eq!(xml, request.xml());
        let doc = super::super::xml::parse(&xml).unwrap();
        let root = doc.document_element().unwrap();
        assert_eq!(doc.get_attribute(root, "ForceAuthn"), Some("true"));
        assert!(xml.contains("<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509</saml:AuthnContextClassRef>"));
    }

    #[test]
    fn without_force_or_contexts_it_asks_neither() {
        let xml = request(false, &[]).xml();
        assert!(!xml.contains("ForceAuthn") && !xml.contains("RequestedAuthnContext"), "{xml}");
    }

    #[test]
    fn ids_are_xml_ids() {
        let id = new_id();
        assert!(id.starts_with('_') && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{id}");
    }
}
