//! Single logout started at the identity provider (SAML 2.0 Profiles §4.4): its
//! LogoutRequest arrives by the HTTP-Redirect or HTTP-POST binding, signed
//! (`binding.rs`); an unsigned one is refused, as a forged one would end anyone's
//! session. Gatehouse answers with a LogoutResponse by the HTTP-Redirect binding, signed
//! with its SP key.

use super::binding;
use super::request::deflated_base64;
use super::xml::{self, ASSERTION, PROTOCOL, escape};

/// What the IdP's LogoutRequest must match.
pub struct Expected<'a> {
    pub slo_url: &'a str,
    pub idp_entity_id: &'a str,
    /// The IdP's signing keys.
    pub keys: binding::IdpKeys<'a>,
    pub clock_skew: i64,
    pub now: i64,
}

/// A verified LogoutRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    /// Until when it could be presented.
    pub valid_until: i64,
}

/// The LogoutRequest in the redirect query or posted form `raw_query`, its signature
/// checked.
pub fn verify(raw_query: &str, expected: &Expected<'_>) -> Result<LogoutRequest, String> {
    let xml = binding::message(raw_query, "SAMLRequest", &expected.keys)?;
    read(&xml, expected)
}

fn read(text: &str, expected: &Expected<'_>) -> Result<LogoutRequest, String> {
    let doc = xml::parse(text)?;
    let root = doc.document_element().ok_or("the LogoutRequest is empty")?;
    if !xml::is(&doc, root, PROTOCOL, "LogoutRequest") || xml::attribute(&doc, root, "Version") != Some("2.0") {
        return Err("the SAMLRequest is not a SAML 2.0 LogoutRequest".into());
    }
    let id = xml::attribute(&doc, root, "ID")
        .filter(|id| !id.is_empty())
        .ok_or("the LogoutRequest has no ID")?
        .to_string();
    if xml::attribute(&doc, root, "Destination") != Some(expected.slo_url) {
        return Err("the LogoutRequest is not for this logout service (Destination)".into());
    }
    if xml::child_text(&doc, root, ASSERTION, "Issuer")?.as_deref() != Some(expected.idp_entity_id) {
        return Err("the LogoutRequest was not issued by the identity provider".into());
    }
    let valid_until = match xml::attribute(&doc, root, "NotOnOrAfter") {
        Some(until) => {
            let until = super::time::parse(until).ok_or("NotOnOrAfter is not a time")?;
            if expected.now >= until + expected.clock_skew {
                return Err("the LogoutRequest has expired".into());
            }
            until
        }
        // Kept long enough that a replay within any sane delivery is seen.
        None => expected.now + 600,
    } + expected.clock_skew;
    if xml::only_child(&doc, root, ASSERTION, "EncryptedID")?.is_some() {
        return Err("the LogoutRequest's NameID is encrypted, which is not supported yet".into());
    }
    let name_id = xml::child_text(&doc, root, ASSERTION, "NameID")?
        .filter(|n| !n.is_empty())
        .ok_or("the LogoutRequest names nobody (NameID)")?;
    let mut session_indexes = Vec::new();
    for index in xml::children(&doc, root, PROTOCOL, "SessionIndex") {
        session_indexes.push(xml::text(&doc, index)?.trim().to_string());
    }
    Ok(LogoutRequest {
        id,
        name_id,
        session_indexes,
        valid_until,
    })
}

/// The redirect that answers the LogoutRequest `in_response_to` with Success.
pub fn response_url(
    slo_url: &str,
    sp_entity_id: &str,
    in_response_to: &str,
    relay_state: Option<&str>,
    issue_instant: &str,
    key: Option<&super::sp_key::SpKey>,
) -> Result<String, String> {
    let xml = format!(
        concat!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
            r#" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" InResponseTo="{in_response_to}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            "</samlp:LogoutResponse>"
        ),
        id = super::request::new_id(),
        instant = escape(issue_instant),
        destination = escape(slo_url),
        in_response_to = escape(in_response_to),
        issuer = escape(sp_entity_id),
    );
    super::sp_key::redirect(slo_url, "SAMLResponse", &deflated_base64(&xml)?, relay_state, key)
}
