//! Logout messages, as they come by either binding, signed either way; an unsigned one is
//! refused: a forged logout message would end anyone's session or finish anyone's logout.
//!
//! - HTTP-Redirect (SAML 2.0 Bindings §3.4): DEFLATEd, base64, in the query, signed in the
//!   query (§3.4.4.1: the signature covers the message, `RelayState` and `SigAlg`
//!   exactly as they were encoded, in that order).
//! - HTTP-POST (§3.5): base64 in a form field, signed in the XML: one enveloped signature
//!   of the message's root element, checked as an Assertion's is (`signature.rs`).

use super::signature;
use super::xml::{self, DSIG};
use base64::Engine;
use std::io::Read;

/// The IdP's keys, as each binding checks with them.
pub struct IdpKeys<'a> {
    /// The public keys (SPKI DER) of its signing certificates, for query signatures.
    pub spki: &'a [Vec<u8>],
    /// The certificates (DER), for XML signatures.
    pub certificates: &'a [Vec<u8>],
}

/// The XML of the `parameter` (`SAMLRequest` or `SAMLResponse`) of `raw` (a redirect's
/// query, or a posted form), once its signature verifies: in the query when it has one
/// (`SigAlg`), otherwise in the XML.
pub fn message(raw: &str, parameter: &str, keys: &IdpKeys<'_>) -> Result<String, String> {
    let signed_in_query = raw
        .split('&')
        .any(|pair| pair.starts_with("SigAlg=") || pair.starts_with("Signature="));
    if signed_in_query {
        verified(raw, parameter, keys.spki)
    } else {
        posted(raw, parameter, keys.certificates)
    }
}

/// The XML of the posted `parameter` of the form `raw`, once its one signature, of its
/// root element, verifies with one of `certificates`.
fn posted(raw: &str, parameter: &str, certificates: &[Vec<u8>]) -> Result<String, String> {
    let mut values = url::form_urlencoded::parse(raw.as_bytes()).filter(|(name, _)| name == parameter);
    let encoded = values.next().ok_or_else(|| format!("the form has no {parameter}"))?.1;
    if values.next().is_some() {
        return Err(format!("the form has {parameter} twice"));
    }
    if encoded.len() as u64 > LARGEST_MESSAGE {
        return Err(format!("the {parameter} is too large"));
    }
    let compact: Vec<u8> = encoded.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| format!("the {parameter} is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| format!("the {parameter} is not UTF-8"))?;
    let doc = xml::parse(&text)?;
    let root = doc.document_element().ok_or_else(|| format!("the {parameter} is empty"))?;
    let signature = match xml::descendants(&doc, root, DSIG, "Signature").as_slice() {
        [one] if doc.parent(*one) == Some(root) => *one,
        [] => return Err(format!("the {parameter} is not signed")),
        _ => return Err(format!("the {parameter} must carry exactly one signature, of itself")),
    };
    signature::check_shape(&doc, signature)?;
    let covered = signature::covered(&doc, &text, signature::keys(certificates)?)?;
    if covered != [root] {
        return Err(format!("the {parameter}'s signature does not cover it"));
    }
    Ok(text)
}

/// A message inflated larger than this is not one.
const LARGEST_MESSAGE: u64 = 64 * 1024;
const SIGNATURE_ALGORITHMS: &[(&str, &aws_lc_rs::signature::RsaParameters)] = &[
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
    ),
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA384,
    ),
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512,
    ),
];

/// The XML of the `parameter` (`SAMLRequest` or `SAMLResponse`) of the redirect query
/// `raw_query`, once its signature verifies with one of `keys` (SPKI DER).
fn verified(raw_query: &str, parameter: &str, keys: &[Vec<u8>]) -> Result<String, String> {
    let mut message = None;
    let mut relay_state = None;
    let mut algorithm = None;
    let mut signature = None;
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "RelayState" => &mut relay_state,
            "SigAlg" => &mut algorithm,
            "Signature" => &mut signature,
            name if name == parameter => &mut message,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(format!("the query has {name} twice"));
        }
    }
    let message = message.ok_or_else(|| format!("the query has no {parameter}"))?;
    let (Some(algorithm), Some(signature)) = (algorithm, signature) else {
        return Err(format!("the {parameter} is not signed"));
    };
    let mut signed = format!("{parameter}={message}");
    if let Some(relay_state) = relay_state {
        signed.push_str(&format!("&RelayState={relay_state}"));
    }
    signed.push_str(&format!("&SigAlg={algorithm}"));
    let algorithm = decode_component(algorithm)?;
    let parameters = SIGNATURE_ALGORITHMS
        .iter()
        .find(|(uri, _)| *uri == algorithm)
        .map(|(_, parameters)| *parameters)
        .ok_or_else(|| format!("the signature algorithm {algorithm} is not taken (RSA with SHA-256 or longer)"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(decode_component(signature)?)
        .map_err(|_| "the Signature is not base64")?;
    let verified = keys.iter().any(|key| {
        aws_lc_rs::signature::UnparsedPublicKey::new(parameters, key)
            .verify(signed.as_bytes(), &signature)
            .is_ok()
    });
    if !verified {
        return Err(format!("the {parameter}'s signature does not verify with the metadata's keys"));
    }
    inflate(&decode_component(message)?, parameter)
}

/// The RelayState of the redirect query or posted form `raw_query`, decoded.
pub fn relay_state(raw_query: &str) -> Option<String> {
    raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "RelayState")
        .and_then(|(_, value)| decode_component(value).ok())
}

/// A query component, percent-decoded (`+` is a space).
fn decode_component(raw: &str) -> Result<String, String> {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| "a query value cannot be decoded".into())
}

fn inflate(encoded: &str, parameter: &str) -> Result<String, String> {
    let compact: Vec<u8> = encoded.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| format!("the {parameter} is not base64"))?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .take(LARGEST_MESSAGE)
        .read_to_string(&mut xml)
        .map_err(|_| format!("the {parameter} is not DEFLATE-compressed UTF-8"))?;
    Ok(xml)
}
