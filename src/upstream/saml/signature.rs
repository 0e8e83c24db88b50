//! Which XML signatures are taken, before and after the signature library checks them.
//!
//! Before: each `ds:Signature` is looked at for what it would make the verifier do, and
//! anything beyond the one shape SAML needs is refused: exclusive canonicalisation, the
//! enveloped-signature transform, RSA or ECDSA with SHA-256 or longer, exactly one
//! `Reference` to an element by its ID, no `ds:Object` (no manifests, nothing else to
//! run). After: each signature must be valid, by a key from the metadata only, and must
//! cover exactly the element it sits in (its parent). The caller then reads only the
//! elements so covered: a signed element moved elsewhere and a forged one put where the
//! signed one was (XML signature wrapping) both fail one of these checks.

use super::xml::{self, DSIG};
use bergshamra_dsig::{DsigContext, VerifyResult};
use bergshamra_keys::KeysManager;
use uppsala::{Document, NodeId};

const EXCLUSIVE_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SIGNATURE_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const DIGEST_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// The IdP's signing keys, from the certificates of its metadata.
pub fn keys(certificates: &[Vec<u8>]) -> Result<KeysManager, String> {
    let mut keys = KeysManager::new();
    for der in certificates {
        let key = bergshamra_keys::loader::load_x509_cert_der(der)
            .map_err(|e| format!("a signing certificate of the metadata cannot be used: {e}"))?;
        keys.add_key(key);
    }
    Ok(keys)
}

/// Checks the shape of `signature` (see the module's comment).
pub fn check_shape(doc: &Document<'_>, signature: NodeId) -> Result<(), String> {
    let algorithm = |node: Option<NodeId>, what: &str| -> Result<String, String> {
        let node = node.ok_or(format!("the signature has no {what}"))?;
        Ok(xml::attribute(doc, node, "Algorithm").unwrap_or_default().to_string())
    };
    if !xml::children(doc, signature, DSIG, "Object").is_empty() {
        return Err("the signature carries a ds:Object".into());
    }
    let signed_info = xml::only_child(doc, signature, DSIG, "SignedInfo")?.ok_or("the signature has no SignedInfo")?;
    let c14n = algorithm(xml::only_child(doc, signed_info, DSIG, "CanonicalizationMethod")?, "CanonicalizationMethod")?;
    if c14n != EXCLUSIVE_C14N {
        return Err(format!("the signature is canonicalised with {c14n}, not exclusive c14n"));
    }
    let method = algorithm(xml::only_child(doc, signed_info, DSIG, "SignatureMethod")?, "SignatureMethod")?;
    if !SIGNATURE_METHODS.contains(&method.as_str()) {
        return Err(format!("the signature method {method} is not taken (RSA or ECDSA with SHA-256 or longer)"));
    }
    let reference = match xml::children(doc, signed_info, DSIG, "Reference").as_slice() {
        [one] => *one,
        _ => return Err("the signature must have exactly one Reference".into()),
    };
    let uri = xml::attribute(doc, reference, "URI").unwrap_or_default();
    if uri.len() < 2 || !uri.starts_with('#') {
        return Err("the signature's Reference must name an element by its ID".into());
    }
    if let Some(transforms) = xml::only_child(doc, reference, DSIG, "Transforms")? {
        for transform in xml::children(doc, transforms, DSIG, "Transform") {
            let algorithm = xml::attribute(doc, transform, "Algorithm").unwrap_or_default();
            if algorithm != ENVELOPED && algorithm != EXCLUSIVE_C14N {
                return Err(format!("the signature's transform {algorithm} is not taken"));
            }
        }
    }
    let digest = algorithm(xml::only_child(doc, reference, DSIG, "DigestMethod")?, "DigestMethod")?;
    if !DIGEST_METHODS.contains(&digest.as_str()) {
        return Err(format!("the digest method {digest} is not taken (SHA-256 or longer)"));
    }
    Ok(())
}

/// Verifies every signature of `doc` (parsed from `source`) with `keys` only; returns
/// the elements they cover, each the parent of its signature. Any signature that does
/// not verify, or covers anything but its parent, refuses the whole document.
pub fn covered(doc: &Document<'_>, source: &str, keys: KeysManager) -> Result<Vec<NodeId>, String> {
    // Only keys from the metadata, never one the document carries; references only to
    // the signature's own ancestors or siblings; every reference digested here.
    let context = DsigContext::new(keys);
    let results = bergshamra_dsig::verify::verify_all_document_with_source(&context, doc, Some(source))
        .map_err(|e| format!("the signatures cannot be checked: {e}"))?;
    let mut covered = Vec::new();
    for result in results {
        match result {
            VerifyResult::Valid {
                signature_node,
                references,
                ..
            } => {
                let parent = doc.parent(signature_node).ok_or("a signature has no parent")?;
                match references.as_slice() {
                    [reference] if reference.digest_verified && reference.resolved_node == Some(parent) => {
                        covered.push(parent);
                    }
                    _ => return Err("a signature does not cover the element it is in".into()),
                }
            }
            VerifyResult::Invalid { reason } => return Err(format!("a signature does not verify: {reason}")),
        }
    }
    Ok(covered)
}
