//! Single logout started at Gatehouse (SAML 2.0 Profiles §4.4, `logout_upstream`): once
//! the Gatehouse session has ended, the person goes to the IdP's logout service with a
//! LogoutRequest naming the IdP session the login came from (its NameID and
//! SessionIndex), signed in the query with the SP key (the IdP must know it is Gatehouse
//! asking, §4.4.4.1). The IdP answers with a LogoutResponse to Gatehouse's logout
//! service (by HTTP-Redirect or HTTP-POST), signed by it, answering that request.
//!
//! The request's ID is made from the pending logout's id (its `RelayState`), so the
//! answer is matched to it without keeping anything more.

use super::binding;
use super::request::deflated_base64;
use super::sp_key::SpKey;
use super::xml::{self, ASSERTION, PROTOCOL, escape};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// How long the IdP may take to act on the request.
const REQUEST_LIFETIME: i64 = 300;

/// What the LogoutRequest says.
pub struct Request<'a> {
    /// The IdP's logout service (HTTP-Redirect).
    pub destination: &'a str,
    pub sp_entity_id: &'a str,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: Option<&'a str>,
    /// The pending logout's id: the `RelayState`, and the request's ID made from it.
    pub state: &'a str,
    pub now: i64,
}

/// The LogoutRequest's ID for the pending logout `state` (an `xs:ID` starts with a
/// letter or `_`; the state is URL-safe base64).
fn request_id(state: &str) -> String {
    format!("_logout-{state}")
}

/// The redirect to the IdP's logout service with the LogoutRequest, signed with `key`.
pub fn request_url(request: &Request<'_>, key: &SpKey) -> Result<String, String> {
    let session_index = request
        .session_index
        .map(|index| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(index)))
        .unwrap_or_default();
    let xml = format!(
        concat!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
            r#" ID="{id}" Version="2.0" IssueInstant="{instant}" NotOnOrAfter="{until}" Destination="{destination}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="{format}">{name_id}</saml:NameID>{session_index}"#,
            "</samlp:LogoutRequest>"
        ),
        id = escape(&request_id(request.state)),
        instant = crate::clock::iso8601(request.now),
        until = crate::clock::iso8601(request.now + REQUEST_LIFETIME),
        destination = escape(request.destination),
        issuer = escape(request.sp_entity_id),
        format = escape(request.name_id_format),
        name_id = escape(request.name_id),
        session_index = session_index,
    );
    super::sp_key::redirect(
        request.destination,
        "SAMLRequest",
        &deflated_base64(&xml)?,
        Some(request.state),
        Some(key),
    )
}

/// What the IdP's LogoutResponse must match.
pub struct Expected<'a> {
    pub slo_url: &'a str,
    pub idp_entity_id: &'a str,
    /// The IdP's signing keys.
    pub keys: binding::IdpKeys<'a>,
}

/// The pending logout the LogoutResponse in the redirect query or posted form
/// `raw_query` answers,
/// its signature checked; a status other than Success is logged, the logout at
/// Gatehouse having happened whatever the IdP did.
pub fn answered(raw_query: &str, expected: &Expected<'_>) -> Result<String, String> {
    let text = binding::message(raw_query, "SAMLResponse", &expected.keys)?;
    let state = binding::relay_state(raw_query).ok_or("the LogoutResponse has no RelayState")?;
    let doc = xml::parse(&text)?;
    let root = doc.document_element().ok_or("the LogoutResponse is empty")?;
    if !xml::is(&doc, root, PROTOCOL, "LogoutResponse") || xml::attribute(&doc, root, "Version") != Some("2.0") {
        return Err("the SAMLResponse is not a SAML 2.0 LogoutResponse".into());
    }
    if xml::attribute(&doc, root, "InResponseTo") != Some(request_id(&state).as_str()) {
        return Err("the LogoutResponse answers another request".into());
    }
    if xml::attribute(&doc, root, "Destination").is_some_and(|d| d != expected.slo_url) {
        return Err("the LogoutResponse is not for this logout service (Destination)".into());
    }
    if xml::child_text(&doc, root, ASSERTION, "Issuer")?.as_deref() != Some(expected.idp_entity_id) {
        return Err("the LogoutResponse was not issued by the identity provider".into());
    }
    let status = xml::only_child(&doc, root, PROTOCOL, "Status")?
        .and_then(|status| xml::only_child(&doc, status, PROTOCOL, "StatusCode").ok().flatten())
        .and_then(|code| xml::attribute(&doc, code, "Value"))
        .unwrap_or_default();
    if status != SUCCESS {
        tracing::warn!(status, "the identity provider did not log the person out everywhere");
    }
    Ok(state)
}
