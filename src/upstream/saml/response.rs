//! The identity provider's `samlp:Response` (SAML 2.0 Core §3.3.3, Profiles §4.1.4),
//! checked in this order: size and well-formedness (no DTD); `Destination`;
//! `InResponseTo` (the request this login sent; none when the IdP started the login);
//! status; exactly one
//! Assertion, in the Response; every signature, by the metadata's keys, covering its own
//! element; then, read only from the covered Assertion: `Issuer`, a bearer
//! `SubjectConfirmation` for this ACS and request, still valid; `Conditions` in time and
//! for this SP's audience; the authentication statement; the attributes.

use super::encrypted;
use super::metadata::IdpMetadata;
use super::signature;
use super::sp_key::SpKey;
use super::time;
use super::xml::{self, ASSERTION, PROTOCOL};
use base64::Engine;
use uppsala::{Document, NodeId};

/// A base64 `SAMLResponse` longer than this is refused unread.
pub const LARGEST_RESPONSE: usize = 256 * 1024;
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// What the answer must match.
pub struct Expected<'a> {
    pub acs_url: &'a str,
    pub sp_entity_id: &'a str,
    pub idp: &'a IdpMetadata,
    /// The ID of the AuthnRequest this login sent; `None` for a login the IdP started
    /// (unsolicited), which must answer no request.
    pub request_id: Option<&'a str>,
    pub want_assertions_signed: bool,
    /// What an EncryptedAssertion is decrypted with.
    pub sp_key: Option<&'a SpKey>,
    pub clock_skew: i64,
    pub now: i64,
}

/// What a valid Assertion says.
#[derive(Debug, Clone, PartialEq)]
pub struct Asserted {
    pub assertion_id: String,
    /// Until when the Assertion could be presented (its ID is kept that long).
    pub valid_until: i64,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    pub authn_instant: Option<i64>,
    pub authn_context: Option<String>,
    /// Each attribute: its `Name`, its `FriendlyName`, its values.
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// Why an answer gave no person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The IdP said no (a status other than Success).
    Status(String),
    /// The answer is not to be trusted.
    Invalid(String),
}

pub fn validate(encoded: &str, expected: &Expected<'_>) -> Result<Asserted, Refused> {
    let invalid = Refused::Invalid;
    if encoded.len() > LARGEST_RESPONSE {
        return Err(invalid(format!("the SAMLResponse is larger than {} KiB", LARGEST_RESPONSE / 1024)));
    }
    let compact: Vec<u8> = encoded.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| invalid("the SAMLResponse is not base64".into()))?;
    let text = String::from_utf8(decoded).map_err(|_| invalid("the SAMLResponse is not UTF-8".into()))?;
    let doc = xml::parse(&text).map_err(invalid)?;
    let response = doc.document_element().ok_or(invalid("the SAMLResponse is empty".into()))?;
    envelope(&doc, response, expected).map_err(invalid)?;
    status(&doc, response)?;
    match only_assertion(&doc, response).map_err(invalid)? {
        Found::Plain(assertion) => {
            let covered = signatures(&doc, &text, &[response, assertion], expected).map_err(invalid)?;
            enough(covered.contains(&assertion), covered.contains(&response), expected).map_err(invalid)?;
            read_assertion(&doc, assertion, expected).map_err(invalid)
        }
        Found::Encrypted(encrypted) => {
            // The Response's signature covers what was sent: the Assertion encrypted.
            let outer = signatures(&doc, &text, &[response], expected).map_err(invalid)?;
            let key = expected
                .sp_key
                .ok_or(invalid("the Assertion is encrypted, and this upstream has no SP key".into()))?;
            let decrypted = encrypted::decrypt(&doc, encrypted, key).map_err(invalid)?;
            let inner = xml::parse(&decrypted).map_err(invalid)?;
            let assertion = decrypted_assertion(&inner).map_err(invalid)?;
            let covered = signatures(&inner, &decrypted, &[assertion], expected).map_err(invalid)?;
            enough(covered.contains(&assertion), outer.contains(&response), expected).map_err(invalid)?;
            read_assertion(&inner, assertion, expected).map_err(invalid)
        }
    }
}

/// The Response itself: what it is, where it was sent, what it answers, who sent it.
fn envelope(doc: &Document<'_>, response: NodeId, expected: &Expected<'_>) -> Result<(), String> {
    if !xml::is(doc, response, PROTOCOL, "Response") {
        return Err("the SAMLResponse is not a samlp:Response".into());
    }
    if xml::attribute(doc, response, "Version") != Some("2.0") {
        return Err("the Response is not SAML 2.0".into());
    }
    match xml::attribute(doc, response, "Destination") {
        Some(destination) if destination == expected.acs_url => {}
        Some(destination) => return Err(format!("the Response was sent to {destination}, not to this ACS")),
        None => return Err("the Response names no Destination".into()),
    }
    match (xml::attribute(doc, response, "InResponseTo"), expected.request_id) {
        (Some(id), Some(ours)) if id == ours => {}
        (None, None) => {}
        (Some(_), Some(_)) => return Err("the Response answers another request (InResponseTo)".into()),
        (None, Some(_)) => return Err("the Response answers no request of Gatehouse's (unsolicited)".into()),
        (Some(_), None) => return Err("the Response answers a request no login is waiting for".into()),
    }
    if let Some(issuer) = xml::child_text(doc, response, ASSERTION, "Issuer")?
        && issuer != expected.idp.entity_id
    {
        return Err(format!("the Response was issued by {issuer}, not by the identity provider"));
    }
    Ok(())
}

/// The status: anything but Success is the IdP saying no, with its codes and message.
fn status(doc: &Document<'_>, response: NodeId) -> Result<(), Refused> {
    let invalid = |why: &str| Refused::Invalid(why.to_string());
    let status = xml::only_child(doc, response, PROTOCOL, "Status")
        .map_err(Refused::Invalid)?
        .ok_or(invalid("the Response has no Status"))?;
    let code = xml::only_child(doc, status, PROTOCOL, "StatusCode")
        .map_err(Refused::Invalid)?
        .ok_or(invalid("the Response has no StatusCode"))?;
    let value = xml::attribute(doc, code, "Value").unwrap_or_default();
    if value == SUCCESS {
        return Ok(());
    }
    let second = xml::only_child(doc, code, PROTOCOL, "StatusCode")
        .ok()
        .flatten()
        .and_then(|sub| xml::attribute(doc, sub, "Value"));
    let message = xml::child_text(doc, status, PROTOCOL, "StatusMessage").ok().flatten();
    let mut said = value.to_string();
    if let Some(second) = second {
        said.push_str(&format!(" ({second})"));
    }
    if let Some(message) = message {
        said.push_str(&format!(": {message}"));
    }
    Err(Refused::Status(said))
}

/// The Response's one Assertion, in the clear or encrypted.
enum Found {
    Plain(NodeId),
    Encrypted(NodeId),
}

/// The one Assertion of the document, a child of the Response: a second one anywhere,
/// or one elsewhere, is refused (where wrapping attacks hide the forged one).
fn only_assertion(doc: &Document<'_>, response: NodeId) -> Result<Found, String> {
    let plain = xml::descendants(doc, response, ASSERTION, "Assertion");
    let encrypted = xml::descendants(doc, response, ASSERTION, "EncryptedAssertion");
    match (plain.as_slice(), encrypted.as_slice()) {
        ([one], []) if doc.parent(*one) == Some(response) => Ok(Found::Plain(*one)),
        ([], [one]) if doc.parent(*one) == Some(response) => Ok(Found::Encrypted(*one)),
        ([_], []) | ([], [_]) => Err("the Assertion is not a child of the Response".into()),
        ([], []) => Err("the Response holds no Assertion".into()),
        _ => Err("the Response holds more than one Assertion".into()),
    }
}

/// The Assertion decrypted in the document of its own `encrypted::decrypt` made: the
/// one Assertion there, in the EncryptedAssertion.
fn decrypted_assertion(doc: &Document<'_>) -> Result<NodeId, String> {
    let holder = doc.document_element().ok_or("the decrypted Assertion is empty")?;
    let encrypted = match xml::children(doc, holder, ASSERTION, "EncryptedAssertion").as_slice() {
        [one] => *one,
        _ => return Err("the decrypted EncryptedAssertion is not where it was".into()),
    };
    match xml::descendants(doc, holder, ASSERTION, "Assertion").as_slice() {
        [one] if doc.parent(*one) == Some(encrypted) => Ok(*one),
        _ => Err("the EncryptedAssertion does not hold exactly one Assertion".into()),
    }
}

/// Checks every signature in `doc` (parsed from `text`): each a child of one of
/// `signable`, one each at most, of the taken shape, verifying; returns the elements
/// they cover.
fn signatures(doc: &Document<'_>, text: &str, signable: &[NodeId], expected: &Expected<'_>) -> Result<Vec<NodeId>, String> {
    let root = doc.document_element().ok_or("the document is empty")?;
    let signatures = xml::descendants(doc, root, xml::DSIG, "Signature");
    if signatures.is_empty() {
        return Ok(Vec::new());
    }
    for signature in &signatures {
        if !doc.parent(*signature).is_some_and(|parent| signable.contains(&parent)) {
            return Err("a signature is neither the Response's nor the Assertion's".into());
        }
        signature::check_shape(doc, *signature)?;
    }
    let parents: Vec<_> = signatures.iter().filter_map(|s| doc.parent(*s)).collect();
    if (1..parents.len()).any(|i| parents[..i].contains(&parents[i])) {
        return Err("an element carries more than one signature".into());
    }
    let keys = signature::keys(&expected.idp.signing_certificates)?;
    signature::covered(doc, text, keys)
}

/// Whether the signatures found cover the Assertion: its own, or (when assertions need
/// not be signed themselves) the Response's around it.
fn enough(assertion_signed: bool, response_signed: bool, expected: &Expected<'_>) -> Result<(), String> {
    if !assertion_signed && !response_signed {
        return Err("neither the Response nor the Assertion is signed".into());
    }
    if expected.want_assertions_signed && !assertion_signed {
        return Err("the Assertion is not signed itself (want_assertions_signed)".into());
    }
    Ok(())
}

/// Reads the covered Assertion, checking it is for this SP, this login, and now.
fn read_assertion(doc: &Document<'_>, assertion: NodeId, expected: &Expected<'_>) -> Result<Asserted, String> {
    let now = expected.now;
    let skew = expected.clock_skew;
    if xml::attribute(doc, assertion, "Version") != Some("2.0") {
        return Err("the Assertion is not SAML 2.0".into());
    }
    let assertion_id = xml::attribute(doc, assertion, "ID")
        .filter(|id| !id.is_empty())
        .ok_or("the Assertion has no ID")?
        .to_string();
    match xml::child_text(doc, assertion, ASSERTION, "Issuer")? {
        Some(issuer) if issuer == expected.idp.entity_id => {}
        Some(issuer) => return Err(format!("the Assertion was issued by {issuer}, not by the identity provider")),
        None => return Err("the Assertion names no Issuer".into()),
    }
    let subject = xml::only_child(doc, assertion, ASSERTION, "Subject")?.ok_or("the Assertion has no Subject")?;
    if xml::only_child(doc, subject, ASSERTION, "EncryptedID")?.is_some() {
        return Err("the Subject's NameID is encrypted, which is not supported yet".into());
    }
    let name_id_node = xml::only_child(doc, subject, ASSERTION, "NameID")?.ok_or("the Subject has no NameID")?;
    let name_id = xml::text(doc, name_id_node)?.trim().to_string();
    if name_id.is_empty() {
        return Err("the NameID is empty".into());
    }
    let name_id_format = xml::attribute(doc, name_id_node, "Format").map(str::to_string);
    let confirmed_until = bearer_confirmation(doc, subject, expected)?;
    let conditions_until = conditions(doc, assertion, expected)?;
    let statement = xml::children(doc, assertion, ASSERTION, "AuthnStatement")
        .into_iter()
        .next()
        .ok_or("the Assertion has no AuthnStatement")?;
    let authn_instant = xml::attribute(doc, statement, "AuthnInstant")
        .map(|at| time::parse(at).ok_or("the AuthnInstant is not a time"))
        .transpose()?;
    if let Some(until) = xml::attribute(doc, statement, "SessionNotOnOrAfter") {
        let until = time::parse(until).ok_or("SessionNotOnOrAfter is not a time")?;
        if now >= until + skew {
            return Err("the identity provider's session has ended (SessionNotOnOrAfter)".into());
        }
    }
    let session_index = xml::attribute(doc, statement, "SessionIndex").map(str::to_string);
    let authn_context = match xml::only_child(doc, statement, ASSERTION, "AuthnContext")? {
        Some(context) => xml::child_text(doc, context, ASSERTION, "AuthnContextClassRef")?,
        None => None,
    };
    let mut attributes = Vec::new();
    for statement in xml::children(doc, assertion, ASSERTION, "AttributeStatement") {
        for attribute in xml::children(doc, statement, ASSERTION, "Attribute") {
            let name = xml::attribute(doc, attribute, "Name")
                .filter(|n| !n.is_empty())
                .ok_or("an Attribute has no Name")?
                .to_string();
            let friendly_name = xml::attribute(doc, attribute, "FriendlyName").map(str::to_string);
            let mut values = Vec::new();
            for value in xml::children(doc, attribute, ASSERTION, "AttributeValue") {
                values.push(xml::text(doc, value)?.trim().to_string());
            }
            attributes.push(Attribute {
                name,
                friendly_name,
                values,
            });
        }
    }
    Ok(Asserted {
        assertion_id,
        valid_until: confirmed_until.max(conditions_until) + skew,
        name_id,
        name_id_format,
        session_index,
        authn_instant,
        authn_context,
        attributes,
    })
}

/// A bearer `SubjectConfirmation` whose data is for this ACS and this request and not
/// yet expired (Profiles §4.1.4.2); its `NotOnOrAfter`.
fn bearer_confirmation(doc: &Document<'_>, subject: NodeId, expected: &Expected<'_>) -> Result<i64, String> {
    let mut why = "the Subject has no bearer SubjectConfirmation".to_string();
    for confirmation in xml::children(doc, subject, ASSERTION, "SubjectConfirmation") {
        if xml::attribute(doc, confirmation, "Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = xml::only_child(doc, confirmation, ASSERTION, "SubjectConfirmationData")? else {
            why = "the bearer SubjectConfirmation has no SubjectConfirmationData".into();
            continue;
        };
        let attribute = |name| xml::attribute(doc, data, name);
        if attribute("Recipient") != Some(expected.acs_url) {
            why = "the bearer SubjectConfirmation is for another Recipient".into();
            continue;
        }
        if attribute("InResponseTo") != expected.request_id {
            why = "the bearer SubjectConfirmation answers another request".into();
            continue;
        }
        if attribute("NotBefore").is_some() {
            why = "a bearer SubjectConfirmation may not have NotBefore".into();
            continue;
        }
        let Some(until) = attribute("NotOnOrAfter").and_then(time::parse) else {
            why = "the bearer SubjectConfirmation has no NotOnOrAfter".into();
            continue;
        };
        if expected.now >= until + expected.clock_skew {
            why = "the bearer SubjectConfirmation has expired".into();
            continue;
        }
        return Ok(until);
    }
    Err(why)
}

/// The Assertion's `Conditions`: in time, and every `AudienceRestriction` names this
/// SP (Core §2.5.1.4); its `NotOnOrAfter`.
fn conditions(doc: &Document<'_>, assertion: NodeId, expected: &Expected<'_>) -> Result<i64, String> {
    let conditions = xml::only_child(doc, assertion, ASSERTION, "Conditions")?.ok_or("the Assertion has no Conditions")?;
    let (now, skew) = (expected.now, expected.clock_skew);
    if let Some(not_before) = xml::attribute(doc, conditions, "NotBefore") {
        let not_before = time::parse(not_before).ok_or("Conditions NotBefore is not a time")?;
        if now + skew < not_before {
            return Err("the Assertion is not valid yet (NotBefore)".into());
        }
    }
    let until = xml::attribute(doc, conditions, "NotOnOrAfter")
        .ok_or("the Conditions have no NotOnOrAfter")?;
    let until = time::parse(until).ok_or("Conditions NotOnOrAfter is not a time")?;
    if now >= until + skew {
        return Err("the Assertion has expired (NotOnOrAfter)".into());
    }
    let restrictions = xml::children(doc, conditions, ASSERTION, "AudienceRestriction");
    if restrictions.is_empty() {
        return Err("the Assertion names no audience".into());
    }
    for restriction in restrictions {
        let mut audiences = xml::children(doc, restriction, ASSERTION, "Audience").into_iter();
        let ours = audiences.try_fold(false, |found, audience| {
            Ok::<_, String>(found || xml::text(doc, audience)?.trim() == expected.sp_entity_id)
        })?;
        if !ours {
            return Err("the Assertion is for another audience".into());
        }
    }
    Ok(until)
}
